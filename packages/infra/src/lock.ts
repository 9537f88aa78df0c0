/**
 * One apply per stack: a lock in Redis with an owner (the apply), a lease that runs out when
 * its holder stops renewing it (a killed worker leaves no lock behind for longer than the
 * lease), and a fencing token, rising with every acquisition, that every write checks: a
 * holder that lost its lock (paused past its lease, then woken) can no longer write.
 * Terraform's stale-lock complaint (#25776) is what the lease answers.
 */
import type { Redis } from 'ioredis';

export interface StackLockInfo {
  stack: string;
  /** The apply holding it. */
  owner: string;
  /** Who asked for that apply. */
  holder: string;
  token: number;
  since: string;
  expiresAt: string;
}

export interface StackLocks {
  /** The fencing token, or the lock as someone else holds it. */
  acquire(stack: string, owner: string, holder: string): Promise<{ token: number } | { heldBy: StackLockInfo }>;
  /** Extends the lease; false when the token no longer holds the lock. */
  renew(stack: string, token: number): Promise<boolean>;
  holds(stack: string, token: number): Promise<boolean>;
  release(stack: string, token: number): Promise<void>;
  /** Removes whatever lock there is; answers what it was. */
  break(stack: string): Promise<StackLockInfo | undefined>;
  get(stack: string): Promise<StackLockInfo | undefined>;
}

const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'token', token, 'owner', ARGV[1], 'holder', ARGV[2], 'since', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return token`;

const RENEW = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

const RELEASE = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])`;

export function createRedisStackLocks({
  redis,
  prefix,
  leaseMs,
}: {
  redis: Redis;
  prefix: string;
  leaseMs: number;
}): StackLocks {
  const lockKey = (stack: string) => `${prefix}lock:${stack}`;
  const fenceKey = (stack: string) => `${prefix}fence:${stack}`;

  async function get(stack: string): Promise<StackLockInfo | undefined> {
    const [fields, ttl] = await Promise.all([redis.hgetall(lockKey(stack)), redis.pttl(lockKey(stack))]);
    if (!fields.token) return undefined;
    return {
      stack,
      owner: fields.owner ?? '',
      holder: fields.holder ?? '',
      token: Number(fields.token),
      since: fields.since ?? '',
      expiresAt: new Date(Date.now() + Math.max(ttl, 0)).toISOString(),
    };
  }

  return {
    async acquire(stack, owner, holder) {
      const token = (await redis.eval(
        ACQUIRE,
        2,
        lockKey(stack),
        fenceKey(stack),
        owner,
        holder,
        new Date().toISOString(),
        leaseMs,
      )) as number;
      if (token > 0) return { token };
      const heldBy = await get(stack);
      // Released between the two calls: try once more rather than report a lock that is gone.
      return heldBy ? { heldBy } : this.acquire(stack, owner, holder);
    },
    async renew(stack, token) {
      return (await redis.eval(RENEW, 1, lockKey(stack), String(token), leaseMs)) === 1;
    },
    async holds(stack, token) {
      return (await redis.hget(lockKey(stack), 'token')) === String(token);
    },
    async release(stack, token) {
      await redis.eval(RELEASE, 1, lockKey(stack), String(token));
    },
    async break(stack) {
      const info = await get(stack);
      if (info) await redis.eval(RELEASE, 1, lockKey(stack), String(info.token));
      return info;
    },
    get,
  };
}

/** The Lua guard a fenced write starts with: KEYS[1] the lock, ARGV[1] the token. */
export const FENCE_GUARD = `if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return redis.error_reply('FENCED') end`;

export function lockKeyOf(prefix: string, stack: string): string {
  return `${prefix}lock:${stack}`;
}
