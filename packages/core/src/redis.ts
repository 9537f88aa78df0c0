import { Redis, type RedisOptions } from 'ioredis';

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
