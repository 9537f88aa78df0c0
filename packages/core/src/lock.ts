/**
 * A leased, fenced lock in Redis (moved here from infra, which locks stacks with it; the
 * orchestrator locks a service+env with it): an owner, a lease that runs out when its holder
 * stops renewing it (a killed worker leaves no lock behind for longer than the lease), and a
 * fencing token, rising with every acquisition, that every write checks: a holder that lost
 * its lock (paused past its lease, then woken) can no longer write. Terraform's stale-lock
 * complaint (#25776) is what the lease answers.
 */
import type { Redis } from 'ioredis';
import { defineLuaScripts, luaDirectory, readLua } from './lua.js';

export interface LeasedLockInfo {
  /** What is locked (a stack, a service+env). */
  name: string;
  /** The work holding it (an apply, a deployment). */
  owner: string;
  /** Who asked for that work. */
  holder: string;
  token: number;
  since: string;
  expiresAt: string;
}

export interface LeasedLocks {
  /** How long a lock outlives its last renewal: renew well inside it. */
  readonly leaseMs: number;
  /** The fencing token, or the lock as someone else holds it. */
  acquire(name: string, owner: string, holder: string): Promise<{ token: number } | { heldBy: LeasedLockInfo }>;
  /** Extends the lease; false when the token no longer holds the lock. */
  renew(name: string, token: number): Promise<boolean>;
  holds(name: string, token: number): Promise<boolean>;
  /** Gives the lock back if `token` still holds it. */
  unlock(name: string, token: number): Promise<void>;
  /** Removes whatever lock there is; answers what it was. */
  break(name: string): Promise<LeasedLockInfo | undefined>;
  get(name: string): Promise<LeasedLockInfo | undefined>;
}

const scripts = luaDirectory(import.meta.url);

/**
 * Lua that takes a free lock, for scripts that take one together with other writes:
 * `take_lock(lockKey, fenceKey, owner, holder, since, leaseMs)` answers the token. Scripts in
 * `.lua` files include it as `--- @include "take-lock"`.
 */
export const TAKE_LOCK_LUA = readLua(scripts, 'take-lock');

/** The Lua guard a fenced write starts with: KEYS[1] the lock, ARGV[1] the token. */
export const FENCE_GUARD = `if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return redis.error_reply('FENCED') end`;

export function lockKeyOf(prefix: string, name: string): string {
  return `${prefix}lock:${name}`;
}

export function fenceKeyOf(prefix: string, name: string): string {
  return `${prefix}fence:${name}`;
}

export function createRedisLeasedLocks({
  redis,
  prefix,
  leaseMs,
}: {
  redis: Redis;
  prefix: string;
  leaseMs: number;
}): LeasedLocks {
  const lockKey = (name: string) => lockKeyOf(prefix, name);
  const lua = defineLuaScripts(redis, scripts, 'slipwayLock', {
    'acquire-lock': 2,
    'renew-lock': 1,
    unlock: 1,
  });

  async function get(name: string): Promise<LeasedLockInfo | undefined> {
    const [fields, ttl] = await Promise.all([redis.hgetall(lockKey(name)), redis.pttl(lockKey(name))]);
    if (!fields.token) return undefined;
    return {
      name,
      owner: fields.owner ?? '',
      holder: fields.holder ?? '',
      token: Number(fields.token),
      since: fields.since ?? '',
      expiresAt: new Date(Date.now() + Math.max(ttl, 0)).toISOString(),
    };
  }

  return {
    leaseMs,
    async acquire(name, owner, holder) {
      const token = (await lua['acquire-lock'](
        [lockKey(name), fenceKeyOf(prefix, name)],
        [owner, holder, new Date().toISOString(), leaseMs],
      )) as number;
      if (token > 0) return { token };
      const heldBy = await get(name);
      // Released between the two calls: try once more rather than report a lock that is gone.
      return heldBy ? { heldBy } : this.acquire(name, owner, holder);
    },
    async renew(name, token) {
      return (await lua['renew-lock']([lockKey(name)], [String(token), leaseMs])) === 1;
    },
    async holds(name, token) {
      return (await redis.hget(lockKey(name), 'token')) === String(token);
    },
    async unlock(name, token) {
      await lua.unlock([lockKey(name)], [String(token)]);
    },
    async break(name) {
      const info = await get(name);
      if (info) await lua.unlock([lockKey(name)], [String(info.token)]);
      return info;
    },
    get,
  };
}
