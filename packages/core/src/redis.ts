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
    maxRetriesPerRequest: 3,
    ...options,
  });
}

/** Resolves once the connection answers PING; for readiness checks. */
export async function pingRedis(redis: Redis): Promise<void> {
  const answer = await redis.ping();
  if (answer !== 'PONG') throw new Error(`redis answered ${answer}`);
}

/** True when a Redis on 127.0.0.1:port answers PING; for waiting on a redis-server just started. */
export function redisAnswers(port: number): Promise<boolean> {
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
