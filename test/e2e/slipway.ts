/**
 * The built `slipway` binary as a user runs it: without a terminal (a script), or inside one
 * (util-linux `script` gives it a pseudo-terminal) with keys typed in.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** What package.json's `bin` names: the CommonJS start-up bundle, each command's modules loaded as it runs. */
export const BIN = 'packages/cli/bin/slipway.cjs';

export function cli(env: NodeJS.ProcessEnv) {
  // The token comes from SLIPWAY_HOME's admin-token unless a test says otherwise.
  const { SLIPWAY_TOKEN: _ignored, ...inherited } = process.env;
  const environment: NodeJS.ProcessEnv = { ...inherited, NO_COLOR: '1', ...env };

  /** Runs slipway to the end; `started` sees the process (to signal it). */
  function slipway(
    args: string[],
    options: {
      env?: NodeJS.ProcessEnv;
      started?: (child: ChildProcess, run: Run) => void;
      /** Killed after this long, so a test that hangs fails with what it said so far (code null). */
      killAfterMs?: number;
    } = {},
  ): Promise<Run> {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...environment, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const run: Run = { code: null, stdout: '', stderr: '' };
    child.stdout.on('data', (chunk: Buffer) => (run.stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (run.stderr += chunk.toString()));
    options.started?.(child, run);
    const timer = options.killAfterMs ? setTimeout(() => child.kill('SIGKILL'), options.killAfterMs) : undefined;
    return new Promise((resolve) =>
      child.once('close', (code) => {
        clearTimeout(timer);
        run.code = code;
        resolve(run);
      }),
    );
  }

  const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;

  /**
   * Runs slipway on a terminal; `answer` is called with the screen so far until it answers
   * what to type (undefined: nothing yet). Answers everything the terminal showed.
   */
  function onTerminal(args: string[], answer: (screen: string) => string | undefined): Promise<Run> {
    const child = spawn('script', ['-qec', [process.execPath, BIN, ...args].map(quote).join(' '), '/dev/null'], {
      env: { ...environment, TERM: 'xterm' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const run: Run = { code: null, stdout: '', stderr: '' };
    const typed = new Set<string>();
    child.stdout.on('data', (chunk: Buffer) => {
      run.stdout += chunk.toString();
      const keys = answer(run.stdout);
      if (keys !== undefined && !typed.has(keys)) {
        typed.add(keys);
        child.stdin.write(keys);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (run.stderr += chunk.toString()));
    return new Promise((resolve) =>
      child.once('close', (code) => {
        run.code = code;
        resolve(run);
      }),
    );
  }

  /** A pipeline through sh, as typed in a shell. */
  function piped(args: string[], into: string): Promise<Run> {
    return new Promise((resolve) => {
      const child = spawn('sh', ['-c', `${[process.execPath, BIN, ...args].map(quote).join(' ')} | ${into}`], {
        env: environment,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const run: Run = { code: null, stdout: '', stderr: '' };
      child.stdout.on('data', (chunk: Buffer) => (run.stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (run.stderr += chunk.toString()));
      child.once('close', (code) => resolve({ ...run, code }));
    });
  }

  return { slipway, onTerminal, piped };
}

/** Terminal output without colours and cursor moves, to match text in. */
// eslint-disable-next-line no-control-regex
export const plain = (screen: string) => screen.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
