/**
 * One apply per stack: core's leased, fenced lock, named by stack. See packages/core/src/lock.ts.
 */
import { createRedisLeasedLocks, type LeasedLockInfo } from '@slipway/core/redis';
import type { Redis } from 'ioredis';

export { FENCE_GUARD, lockKeyOf } from '@slipway/core/redis';

export type StackLockInfo = Omit<LeasedLockInfo, 'name'> & { stack: string };

export interface StackLocks {
  /** The fencing token, or the lock as someone else holds it. */
  acquire(stack: string, owner: string, holder: string): Promise<{ token: number } | { heldBy: StackLockInfo }>;
  /** Extends the lease; false when the token no longer holds the lock. */
  renew(stack: string, token: number): Promise<boolean>;
  holds(stack: string, token: number): Promise<boolean>;
  unlock(stack: string, token: number): Promise<void>;
  /** Removes whatever lock there is; answers what it was. */
  break(stack: string): Promise<StackLockInfo | undefined>;
  get(stack: string): Promise<StackLockInfo | undefined>;
}

const byStack = (info: LeasedLockInfo | undefined): StackLockInfo | undefined => {
  if (!info) return undefined;
  const { name, ...rest } = info;
  return { stack: name, ...rest };
};

export function createRedisStackLocks(options: { redis: Redis; prefix: string; leaseMs: number }): StackLocks {
  const locks = createRedisLeasedLocks(options);
  return {
    async acquire(stack, owner, holder) {
      const got = await locks.acquire(stack, owner, holder);
      return 'token' in got ? got : { heldBy: byStack(got.heldBy)! };
    },
    renew: (stack, token) => locks.renew(stack, token),
    holds: (stack, token) => locks.holds(stack, token),
    unlock: (stack, token) => locks.unlock(stack, token),
    break: async (stack) => byStack(await locks.break(stack)),
    get: async (stack) => byStack(await locks.get(stack)),
  };
}
