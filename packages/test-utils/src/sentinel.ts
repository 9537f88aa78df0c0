/**
 * A throwaway Redis under Sentinel, on loopback, for failover drills: a primary, a replica and
 * three sentinels (Debian's redis-sentinel; quorum 2, the primary down after 1 s). `killPrimary()`
 * SIGKILLs whichever server is primary now and waits until the sentinels promoted the other;
 * the killed one comes back as a replica of the new primary (as a managed Redis replaces a node).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { stopProcess } from './redis.js';

export interface SentinelRedis {
  /** The name the sentinels know the primary by. */
  name: string;
  sentinels: { host: string; port: number }[];
  /** The port of the primary now. */
  primaryPort(): Promise<number>;
  /** Kills the primary; resolves once a replica is primary and the killed one serves again as its replica. */
  killPrimary(): Promise<{ from: number; to: number; ms: number }>;
  stop(): Promise<void>;
}

function send(port: number, command: string, password?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let data = '';
    socket.once('error', reject);
    socket.once('connect', () => socket.write(`${password ? `AUTH ${password}\r\n` : ''}${command}\r\n`));
    socket.on('data', (chunk) => {
      data += chunk.toString();
      if (password && data.startsWith('+OK\r\n')) data = data.slice(5);
      // Enough of an answer for what is asked here (a status, an integer or a short array).
      if (/\r\n$/.test(data) && (!data.startsWith('*') || data.split('\r\n').length >= 6)) {
        socket.destroy();
        resolve(data);
      }
    });
    setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer on ${port} to ${command}`));
    }, 2000).unref();
  });
}

const until = async (what: string, check: () => Promise<boolean>, ms = 30_000) => {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

/** `password`: the servers require it (`requirepass`, `masterauth`), and the sentinels know it. */
export async function startSentinelRedis(options: { password?: string } = {}): Promise<SentinelRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-sentinel-'));
  const name = 'slipway';
  const { password } = options;
  const children = new Map<number, ChildProcess>();
  const server = (port: number, replicaOf?: number) => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
    if (replicaOf) args.push('--replicaof', '127.0.0.1', String(replicaOf));
    if (password) args.push('--requirepass', password, '--masterauth', password);
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    children.set(port, child);
    return child;
  };
  const [a, b] = [await freePort(), await freePort()];
  server(a);
  await until('the primary', async () => (await send(a, 'PING', password)).startsWith('+PONG'));
  server(b, a);
  await until('the replica in sync', async () =>
    (await send(b, 'INFO replication', password)).includes('master_link_status:up'),
  );
  const sentinels: { host: string; port: number }[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const conf = join(dir, `sentinel-${port}.conf`);
    await writeFile(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${a} 2`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 4000`,
        `sentinel parallel-syncs ${name} 1`,
        ...(password ? [`sentinel auth-pass ${name} ${password}`] : []),
        '',
      ].join('\n'),
    );
    const child = spawn('redis-sentinel', [conf], { stdio: 'ignore' });
    child.once('error', () => undefined);
    children.set(port, child);
    sentinels.push({ host: '127.0.0.1', port });
  }
  for (const s of sentinels)
    await until(`sentinel ${s.port}`, async () => (await send(s.port, 'PING')).startsWith('+PONG'));
  const primaryPort = async () => {
    const answer = await send(sentinels[0]!.port, `SENTINEL get-master-addr-by-name ${name}`);
    return Number(answer.split('\r\n')[4]);
  };
  // Every sentinel sees the replica before a failover is asked of them.
  await until('the sentinels to know the replica', async () =>
    (await send(sentinels[0]!.port, `SENTINEL replicas ${name}`)).includes(String(b)),
  );
  return {
    name,
    sentinels,
    primaryPort,
    async killPrimary() {
      const from = await primaryPort();
      const started = Date.now();
      children.get(from)!.kill('SIGKILL');
      await until('a new primary', async () => (await primaryPort()) !== from);
      const to = await primaryPort();
      const ms = Date.now() - started;
      // The killed node comes back empty, as a replica of the new primary.
      server(from, to);
      await until('the old primary back as a replica', async () =>
        (await send(from, 'INFO replication', password)).includes('master_link_status:up'),
      );
      return { from, to, ms };
    },
    async stop() {
      for (const child of children.values()) await stopProcess(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
