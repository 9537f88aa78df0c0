import { Redis, type RedisOptions } from 'ioredis';
import { createConnection } from 'node:net';

export type { Redis };

export interface RedisConnectionOptions {
  url: string;
  /** Every key this connection touches starts with it, e.g. `slipway:metadata:`. */
  keyPrefix?: string;
  /** Extra ioredis options. */
  options?: RedisOptions;
}

/** A Redis connection of a service's own, its keys under its own prefix. */
export function createRedis({ url, keyPrefix, options }: RedisConnectionOptions): Redis {
  return new Redis(url, {
    ...(keyPrefix ? { keyPrefix } : {}),
    enableAutoPipelining: true,
    // A command caught by an outage fails after one reconnect attempt (~50 ms), not after
    // seconds of retries: the caller answers 503 at once and the client retries.
    maxRetriesPerRequest: 1,
    ...options,
  });
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
 * connections is down, so that requests get a prompt 503 instead of waiting on a dead Redis.
 */
export function redisUnavailable(...connections: Redis[]): () => string | undefined {
  // Until a connection has been ready once, requests wait for it as before (a service starting);
  // after that, any other state is an outage.
  const wasReady = new Set<Redis>();
  for (const connection of connections) {
    if (connection.status === 'ready') wasReady.add(connection);
    else connection.once('ready', () => wasReady.add(connection));
  }
  return () =>
    connections.some((c) => c.status !== 'ready' && wasReady.has(c))
      ? 'Redis is unreachable; try again shortly'
      : undefined;
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

/** An error of a command that never reached Redis or never got its answer (an outage, not a bug). */
export function isRedisConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  return (
    error.name === 'MaxRetriesPerRequestError' ||
    (code !== undefined && CONNECTION_CODES.has(code)) ||
    error.message === 'Connection is closed.' ||
    error.message.startsWith("Stream isn't writeable")
  );
}
