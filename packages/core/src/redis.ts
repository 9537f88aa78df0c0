import { Redis, type RedisOptions } from 'ioredis';
import { createConnection } from 'node:net';

export type { Redis };

export interface RedisConnectionOptions {
  url: string;
  /** Every key this connection touches starts with it, e.g. `slipway:metadata:`. */
  keyPrefix?: string;
  /** Extra ioredis options. */
  options?: RedisOptions;
  /** Redis Sentinel instead of `url`'s host (which then names only the password and database, if any). */
  sentinels?: SentinelTarget;
}

/**
 * A Redis connection of a service's own, its keys under its own prefix: to `url`, or to the
 * primary that Redis Sentinel names (`sentinels`, ioredis' own support: it asks the sentinels
 * for the primary, and again after a failover).
 */
export function createRedis({ url, keyPrefix, options, sentinels }: RedisConnectionOptions): Redis {
  const common: RedisOptions = {
    ...(keyPrefix ? { keyPrefix } : {}),
    enableAutoPipelining: true,
    // The hung-Redis watch's PING goes alone: a command never waits behind one that is not answered.
    autoPipeliningIgnoredCommands: ['ping'],
    // A command caught by an outage fails after one reconnect attempt (~50 ms), not after
    // seconds of retries: the caller answers 503 at once and the client retries.
    maxRetriesPerRequest: 1,
    ...options,
  };
  return sentinels ? new Redis({ ...sentinelOptions(sentinels, url), ...common }) : new Redis(url, common);
}

/** A second connection for blocking reads (XREAD BLOCK), with no command timeout of the first's. */
export function blockingConnection(redis: Redis): Redis {
  return redis.duplicate({ commandTimeout: undefined });
}

/** Redis Sentinel: the sentinels to ask (`host:port,…`) and the primary's name they know it by. */
export interface SentinelTarget {
  sentinels: { host: string; port: number }[];
  name: string;
}

/** `REDIS_SENTINELS=host:port,host:port` and `REDIS_SENTINEL_NAME` (default `slipway`), when set. */
export function sentinelsFromEnv(env: NodeJS.ProcessEnv): SentinelTarget | undefined {
  if (!env.REDIS_SENTINELS) return undefined;
  const sentinels = env.REDIS_SENTINELS.split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const at = entry.lastIndexOf(':');
      const port = Number(entry.slice(at + 1));
      if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535)
        throw new Error(`REDIS_SENTINELS: ${entry} is not host:port`);
      return { host: entry.slice(0, at), port };
    });
  return { sentinels, name: env.REDIS_SENTINEL_NAME ?? 'slipway' };
}

/**
 * Where a service's Redis is, from its environment: `REDIS_URL` (default redis://127.0.0.1:6379),
 * or the primary Redis Sentinel names when `REDIS_SENTINELS` is set. Every service reads it here,
 * so each follows a failover the same way.
 */
export function redisFromEnv(env: NodeJS.ProcessEnv): { url: string; sentinels?: SentinelTarget } {
  const sentinels = sentinelsFromEnv(env);
  return { url: env.REDIS_URL ?? 'redis://127.0.0.1:6379', ...(sentinels ? { sentinels } : {}) };
}

/**
 * ioredis' options for a primary found through Sentinel; `url` (redis://[user:]password@…/db), when
 * given, names the primary's password and database, its host being the sentinels' to say.
 */
export function sentinelOptions(target: SentinelTarget, url?: string): RedisOptions {
  const given = url ? new URL(url) : undefined;
  const db = Number(given?.pathname.slice(1) || 0);
  return {
    ...(given?.username ? { username: decodeURIComponent(given.username) } : {}),
    ...(given?.password ? { password: decodeURIComponent(given.password) } : {}),
    ...(db > 0 ? { db } : {}),
    sentinels: target.sentinels,
    name: target.name,
    // After a failover the old primary may answer as a replica: reconnect rather than write to it.
    reconnectOnError: (error) => error.message.startsWith('READONLY'),
    sentinelRetryStrategy: (times) => Math.min(times * 100, 1000),
  };
}

/** Resolves once the connection answers PING; for readiness checks. */
export async function pingRedis(redis: Redis): Promise<void> {
  const answer = await redis.ping();
  if (answer !== 'PONG') throw new Error(`redis answered ${answer}`);
}

/**
 * True when a Redis on 127.0.0.1:port answers PING (after AUTH with `password`, when it has one);
 * for waiting on a redis-server just started.
 */
export function redisAnswers(port: number, password?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let answer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('error', () => resolve(false));
    socket.once('connect', () =>
      socket.write(
        password === undefined
          ? 'PING\r\n'
          : `*2\r\n$4\r\nAUTH\r\n$${Buffer.byteLength(password)}\r\n${password}\r\n*1\r\n$4\r\nPING\r\n`,
      ),
    );
    socket.on('data', (data) => {
      answer += data.toString();
      if (answer.includes('+PONG')) done(true);
      else if (answer.startsWith('-') || answer.includes('\r\n-')) done(false);
    });
  });
}

/**
 * For a service's app (`unavailable`): why it cannot answer now, while any of its Redis
 * connections is down — refused, or hung (a PING unanswered for `hungAfterMs`: a stopped or
 * partitioned Redis keeps its connection open and answers nothing) — so that requests get a
 * prompt 503 instead of waiting on it, and those already waiting get theirs then (openapi.ts).
 * Each connection is pinged every 150 ms once it was ready.
 */
export function redisUnavailable(...connections: Redis[]): (() => string | undefined) & { stop(): void } {
  const everyMs = 150;
  const hungAfterMs = 400;
  // Until a connection has been ready once, requests wait for it as before (a service starting);
  // after that, any other state is an outage.
  const wasReady = new Set<Redis>();
  const pingSent = new Map<Redis, number>();
  // Hung until a PING is answered again (one that timed out does not make it well).
  const hung = new Set<Redis>();
  for (const connection of connections) {
    if (connection.status === 'ready') wasReady.add(connection);
    else connection.once('ready', () => wasReady.add(connection));
  }
  let due = Date.now() + everyMs;
  const timer = setInterval(() => {
    // This process starved (its own event loop late) cannot tell a slow answer from none.
    const late = Date.now() - due > everyMs;
    due = Date.now() + everyMs;
    for (const connection of connections) {
      const sent = pingSent.get(connection);
      if (sent !== undefined && !late && Date.now() - sent > hungAfterMs) hung.add(connection);
      if (connection.status !== 'ready' || sent !== undefined) continue;
      pingSent.set(connection, Date.now());
      connection.ping().then(
        () => {
          pingSent.delete(connection);
          hung.delete(connection);
        },
        () => pingSent.delete(connection),
      );
    }
  }, everyMs);
  timer.unref();
  const why = () =>
    connections.some((c) => wasReady.has(c) && (c.status !== 'ready' || hung.has(c)))
      ? 'Redis is unreachable; try again shortly'
      : undefined;
  return Object.assign(why, { stop: () => clearInterval(timer) });
}
