/**
 * A throwaway redis-server for one test file: its own port, no persistence, stopped and gone
 * afterwards. Tests never touch a Redis they did not start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

export interface TestRedis {
  url: string;
  port: number;
  /** A fresh key prefix for one test: `test:<random>:`. */
  prefix(): string;
  /** Sends the server a signal: SIGSTOP hangs it (a partition, a failover under way), SIGCONT lets it go on. */
  signal(signal: NodeJS.Signals): void;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-redis-'));
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: 'ignore' },
    );
    try {
      await waitForPing(port, child);
    } catch (error) {
      child.kill('SIGKILL');
      if (attempt < 3) continue; // the port was taken between choosing and binding
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      prefix: () => `test:${randomBytes(6).toString('hex')}:`,
      signal: (signal) => void child.kill(signal),
      async stop() {
        child.kill('SIGCONT');
        await stopProcess(child);
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
}

async function waitForPing(port: number, child: ChildProcess): Promise<void> {
  let exited = false;
  child.once('exit', () => (exited = true));
  child.once('error', () => (exited = true));
  for (let i = 0; i < 200; i++) {
    if (exited) throw new Error('redis-server exited at start (is it installed? run scripts/setup.sh)');
    if (await ping(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`redis-server on port ${port} did not answer`);
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('error', () => resolve(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
  });
}

export function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
