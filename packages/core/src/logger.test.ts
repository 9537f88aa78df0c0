import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// The default logger gathers lines before writing them (bench/config): none may be lost or held back.
const logger = fileURLToPath(new URL('../dist/logger.js', import.meta.url));

/** Runs `script` (with `createLogger` in scope) in a node of its own; its output lines. */
function run(script: string): Promise<{ lines: { msg: string }[] }> {
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', `import { createLogger } from ${JSON.stringify(logger)};\n${script}`],
    // npm test runs with LOG_LEVEL=silent: these lines are the test's subject, so at info.
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_LEVEL: 'info' } },
  );
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve) =>
    child.on('close', () =>
      resolve({
        lines: out
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { msg: string }),
      }),
    ),
  );
}

describe('createLogger (standard output)', () => {
  it('writes every line gathered when the process exits at once', async () => {
    const { lines } = await run(
      "const log = createLogger({ name: 't' }); for (let i = 0; i < 50; i++) log.info('line ' + i); process.exit(3);",
    );
    expect(lines.map((l) => l.msg)).toEqual(Array.from({ length: 50 }, (_, i) => `line ${i}`));
  });

  it('writes a quiet service’s line while it runs, not only when more come or it exits', async () => {
    // The child logs one line and would idle for a minute; it is killed (SIGKILL: nothing more is
    // written) as soon as its line comes. A line held until exit would come only after that minute.
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { createLogger } from ${JSON.stringify(logger)};\ncreateLogger({ name: 't' }).info('alone'); setTimeout(() => process.exit(0), 60_000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_LEVEL: 'info' } },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      child.kill('SIGKILL');
    });
    const signal = await new Promise((resolve) => child.on('close', (_code, signal) => resolve(signal)));
    expect({
      signal,
      lines: out
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { msg: string }).msg),
    }).toEqual({
      signal: 'SIGKILL',
      lines: ['alone'],
    });
  }, 70_000);
});
