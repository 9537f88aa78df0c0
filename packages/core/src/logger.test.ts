import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// The default logger gathers lines before writing them (bench/config): none may be lost or held back.
const logger = fileURLToPath(new URL('../dist/logger.js', import.meta.url));

/** Runs `script` (with `createLogger` in scope) in a node of its own; its output and when each chunk came. */
function run(script: string): Promise<{ lines: { msg: string }[]; firstAt: number; exitedAt: number }> {
  const started = Date.now();
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', `import { createLogger } from ${JSON.stringify(logger)};\n${script}`],
    // npm test runs with LOG_LEVEL=silent: these lines are the test's subject, so at info.
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_LEVEL: 'info' } },
  );
  let out = '';
  let firstAt = NaN;
  child.stdout.on('data', (chunk: Buffer) => {
    if (Number.isNaN(firstAt)) firstAt = Date.now() - started;
    out += chunk.toString();
  });
  return new Promise((resolve) =>
    child.on('close', () =>
      resolve({
        lines: out
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { msg: string }),
        firstAt,
        exitedAt: Date.now() - started,
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

  it('writes a quiet service’s line soon, not when more come', async () => {
    const { lines, firstAt, exitedAt } = await run(
      "createLogger({ name: 't' }).info('alone'); setTimeout(() => process.exit(0), 1500);",
    );
    expect(lines.map((l) => l.msg)).toEqual(['alone']);
    expect(firstAt).toBeLessThan(exitedAt - 500); // came while the process still ran
  });
});
