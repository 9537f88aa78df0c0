/**
 * One platform per home: `npm start` holds `$SLIPWAY_HOME/platform.pid` while it runs, so a second
 * one on the same home stops at once (it would rewrite the tokens and fight the first over every
 * process) and says who holds it. Before anything starts, each port the platform listens on is
 * tried, so a taken one is said in one line with the variable that moves them all.
 */
import { PORT_OFFSETS, type ComponentName } from '@slipway/core';
import { readFileSync } from 'node:fs';
import { open, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A refusal to start, said in one line: no stack trace, no log tail. */
export class PlatformStartError extends Error {
  override name = 'PlatformStartError';
}

export interface HomeLock {
  unlock(): Promise<void>;
}

const LOCK_FILE = 'platform.pid';

/** The pid in a home's lock when that process still runs a platform, else undefined. */
function holder(text: string): number | undefined {
  const pid = Number((JSON.parse(text || '{}') as { pid?: unknown }).pid);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  if (pid === process.pid) return pid;
  try {
    process.kill(pid, 0);
  } catch {
    return undefined; // gone: a platform that was killed leaves its file behind
  }
  // A pid reused by another program does not hold the home.
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('node') ? pid : undefined;
  } catch {
    return pid;
  }
}

/** Takes the home for this process, or throws naming the platform that has it. */
export async function lockHome(home: string, portBase: number): Promise<HomeLock> {
  const file = join(home, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600);
      await handle.writeFile(
        `${JSON.stringify({ pid: process.pid, portBase, startedAt: new Date().toISOString() })}\n`,
      );
      await handle.close();
      return {
        unlock: async () => {
          const text = await readFile(file, 'utf8').catch(() => '');
          if (text && Number((JSON.parse(text) as { pid?: unknown }).pid) === process.pid)
            await rm(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const text = await readFile(file, 'utf8').catch(() => '');
    let pid: number | undefined;
    let base: unknown;
    try {
      pid = holder(text);
      base = (JSON.parse(text || '{}') as { portBase?: unknown }).portBase;
    } catch {
      pid = undefined; // not ours to read: taken over
    }
    if (pid !== undefined)
      throw new PlatformStartError(
        `Slipway is already running on ${home}, pid ${pid}${base ? ` (ports from ${String(base)})` : ''}: stop it first, or set SLIPWAY_HOME to another directory`,
      );
    await rm(file, { force: true });
  }
  throw new PlatformStartError(`another Slipway is starting on ${home} at this moment`);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Throws, naming the first port taken and what moves them, when any port of the platform is in use. */
export async function checkPortsFree(portBase: number, components: readonly ComponentName[], redisOffset?: number) {
  const wanted: [string, number][] = components.map((name) => [`the ${name}'s`, PORT_OFFSETS[name]]);
  if (redisOffset !== undefined) wanted.unshift(["its Redis's", redisOffset]);
  for (const [what, offset] of wanted) {
    const port = portBase + offset;
    if (!(await portFree(port)))
      throw new PlatformStartError(
        `port ${port} (${what}, SLIPWAY_PORT_BASE ${portBase} + ${offset}) is in use: set SLIPWAY_PORT_BASE to another base (every port is base + an offset)`,
      );
  }
}
