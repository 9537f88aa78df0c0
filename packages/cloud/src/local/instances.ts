/**
 * Instances of the local cloud are real processes. Launching one does what cloud-init does
 * with user data — writes the files, runs each launch command with `sh -c` in the instance
 * directory (with a timeout, output to its log) — then runs the image's `start` with PORT set.
 * They run detached, in a process group of their own, so that a daemon that dies leaves them
 * running for the next daemon to adopt.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { UserData } from '../provider.js';

export const INSTANCE_MARKER = 'SLIPWAY_INSTANCE_ID';
const LAUNCH_COMMAND_TIMEOUT_MS = 60_000;

export interface LaunchOptions {
  id: string;
  dir: string;
  imageDir: string;
  userData: UserData;
  port: number;
  /** Told how the process ended ('exit code 1', 'signal SIGKILL'), while this daemon is its parent. */
  onExit?: (how: string) => void;
}

/** Applies the user data and starts the image's `start`; resolves with the pid. */
export async function launchProcess({ id, dir, imageDir, userData, port, onExit }: LaunchOptions): Promise<number> {
  await mkdir(dir, { recursive: true });
  const logFile = join(dir, 'instance.log');
  for (const [path, content] of Object.entries(userData.files)) {
    const target = resolve(dir, path);
    if (!target.startsWith(dir + sep)) throw new Error(`user data file ${path} is outside the instance directory`);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content);
  }
  for (const command of userData.commands) await runLaunchCommand(command, dir, logFile);
  const log = openSync(logFile, 'a');
  try {
    const child = spawn(join(imageDir, 'start'), [], {
      cwd: dir,
      detached: true,
      stdio: ['ignore', log, log],
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        PORT: String(port),
        IMAGE_DIR: imageDir,
        [INSTANCE_MARKER]: id,
      },
    });
    const pid = await new Promise<number>((ok, fail) => {
      child.once('spawn', () => ok(child.pid!));
      child.once('error', fail);
    });
    child.once('exit', (code, signal) => onExit?.(signal ? `signal ${signal}` : `exit code ${code}`));
    child.unref();
    return pid;
  } finally {
    closeSync(log);
  }
}

function runLaunchCommand(command: string, cwd: string, logFile: string): Promise<void> {
  const log = openSync(logFile, 'a');
  return new Promise<void>((ok, fail) => {
    const child = spawn('sh', ['-c', command], {
      cwd,
      stdio: ['ignore', log, log],
      env: { PATH: process.env.PATH, HOME: cwd },
      timeout: LAUNCH_COMMAND_TIMEOUT_MS,
    });
    child.once('error', fail);
    child.once('exit', (code, signal) => {
      if (code === 0) ok();
      else fail(new Error(`launch command failed (${signal ?? `exit ${code}`}): ${command.slice(0, 200)}`));
    });
  }).finally(() => closeSync(log));
}

/** True when the process is alive and is the instance's own (not a reused pid). */
export function isInstanceAlive(pid: number, id: string): boolean {
  return hasMarker(pid, `${INSTANCE_MARKER}=${id}`);
}

/** True when the process is alive and its environment holds `marker` (`NAME=value`). */
export function hasMarker(pid: number, marker: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // A zombie or another program's process has no such marker in its environment.
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(marker);
  } catch {
    return false;
  }
}

/** Stops the instance's whole process group: SIGTERM, then SIGKILL after the grace period. */
export async function terminateProcess(pid: number, id: string, graceMs = 5000): Promise<void> {
  if (!isInstanceAlive(pid, id)) return;
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isInstanceAlive(pid, id)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  signalGroup(pid, 'SIGKILL');
}

export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** The last lines of a log, at most `chars` characters (an instance's, for a crash's reason). */
export async function logTail(file: string, lines = 20, chars = 2000): Promise<string> {
  let text: string;
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, chars * 4);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      text = buffer.toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
  const tail = text.trimEnd().split('\n').slice(-lines).join('\n');
  return tail.length > chars ? `…${tail.slice(-(chars - 1))}` : tail;
}
