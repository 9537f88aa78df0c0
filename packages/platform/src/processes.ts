/**
 * Child processes of the platform: started with their output in a log file that rolls over
 * (pino-roll), restarted with backoff when they die, stopped in order.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import roll from 'pino-roll';

export interface SupervisedProcess {
  name: string;
  /** The log it writes now (a link to the newest of its rolled files). */
  logFile: string;
  /** The child that runs now; a new one after each restart. */
  readonly child: ChildProcess;
  /** How many times it was started again after dying. */
  readonly restarts: number;
  /** True while its child runs (not dead, not waiting for its restart). */
  readonly running: boolean;
  /** Stops restarting it (it keeps running until it dies): for drills and maintenance. */
  hold(): void;
  /** Restarts it again when it dies, and at once if it is down now. */
  resume(): void;
  stop(): Promise<void>;
}

export interface SuperviseOptions {
  env: NodeJS.ProcessEnv;
  /** Its log files go in here: <name>.1.log, <name>.2.log, … and current.log, the newest. */
  logDir: string;
  /** A log file rolls over at this size (pino-roll's notation: '10m'); the newest 5 are kept. */
  logSize?: string;
  cwd?: string;
  /** Resolves true once a (re)started child serves. */
  ready: () => Promise<boolean>;
  /** Where the supervisor says what it does: a death, a restart, a return. */
  say: (line: string) => void;
  /** First restart delay, doubled on each death in a row up to maxDelayMs. */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/** A child that has run this long before dying starts the backoff over. */
const STABLE_MS = 30_000;

/**
 * Runs the command and starts it again whenever it dies, after 0.25 s, 0.5 s, 1 s, … (at most
 * 15 s). Children run in a process group of their own, so a Ctrl-C reaches only `npm start`,
 * which then stops them in order.
 */
export async function superviseProcess(
  name: string,
  command: string,
  args: string[],
  options: SuperviseOptions,
): Promise<SupervisedProcess> {
  const logFile = join(options.logDir, 'current.log');
  // Made here: pino-roll makes it only as it opens the file, after it links current.log.
  await mkdir(options.logDir, { recursive: true });
  const log = await roll({
    file: join(options.logDir, name),
    extension: '.log',
    size: options.logSize ?? '10m',
    limit: { count: 5 },
    symlink: true,
  });
  const initialDelay = options.initialDelayMs ?? 250;
  const maxDelay = options.maxDelayMs ?? 15_000;
  let stopping = false;
  let held = false;
  let restarts = 0;
  let deathsInRow = 0;
  let timer: NodeJS.Timeout | undefined;
  let child: ChildProcess;
  let running = false;
  let logClosed = false;

  const launch = () => {
    const started = Date.now();
    child = spawn(command, args, {
      env: options.env,
      cwd: options.cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running = true;
    const write = (chunk: Buffer) => {
      if (!logClosed) log.write(chunk.toString());
    };
    child.stdout?.on('data', write);
    child.stderr?.on('data', write);
    child.once('error', () => undefined); // an exit follows; a spawn error is said there
    child.once('exit', (code, signal) => {
      running = false;
      if (stopping || held) return;
      deathsInRow = Date.now() - started > STABLE_MS ? 1 : deathsInRow + 1;
      const delay = Math.min(maxDelay, initialDelay * 2 ** (deathsInRow - 1));
      options.say(`${name} exited (${signal ?? `code ${code}`}); restarting it in ${delay / 1000} s (log: ${logFile})`);
      timer = setTimeout(restart, delay);
    });
  };
  const restart = () => {
    if (stopping || held) return;
    restarts++;
    const down = Date.now();
    launch();
    const current = child;
    void waitFor(name, options.ready, 120_000, () => current.exitCode !== null || current.signalCode !== null)
      .then(() => options.say(`${name} is back (pid ${current.pid}, ${Date.now() - down} ms after its restart)`))
      .catch(() => undefined); // its exit says the rest
  };
  launch();
  return {
    name,
    logFile,
    get child() {
      return child;
    },
    get restarts() {
      return restarts;
    },
    get running() {
      return running;
    },
    hold: () => {
      held = true;
      if (timer) clearTimeout(timer);
    },
    resume: () => {
      held = false;
      if (!running && !stopping) restart();
    },
    stop: async () => {
      stopping = true;
      if (timer) clearTimeout(timer);
      await stopChild(child);
      // Let the last lines of the dead child's pipes land before the log closes.
      await new Promise((resolve) => setImmediate(resolve));
      if (logClosed) return;
      logClosed = true;
      log.end();
    },
  };
}

export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export async function tail(file: string, lines = 20): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, isDead?: () => boolean) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (isDead?.()) throw new Error(`${what} exited while starting`);
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not come up within ${timeoutMs / 1000} s`);
}
