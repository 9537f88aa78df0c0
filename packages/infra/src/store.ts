/**
 * What the infra service remembers, in Redis: each stack's state (the resources it applied,
 * the commit, a serial that rises with every apply), plans, applies step by step, history and
 * drift reports. Writes to a stack's state are fenced: they check the stack lock's token in
 * the same Lua script, so a worker that lost its lock cannot write.
 */
import type { Redis } from 'ioredis';
import { FENCE_GUARD, lockKeyOf, type StackLockInfo } from './lock.js';
import type { Action, FieldChange, Plan } from './plan.js';
import type { Resource, ResourceKind } from './stack.js';

export interface LastApply {
  id: string;
  commit: string;
  by: string;
  finishedAt: string;
  result: 'succeeded' | 'failed';
}

export interface StackState {
  stack: string;
  /** 0 before the first apply. */
  serial: number;
  commit?: string;
  resources: Record<string, Resource>;
  lastApply?: LastApply;
}

export interface ApplyStep {
  resource: string;
  kind: ResourceKind;
  action: Exclude<Action, 'no-op'>;
  state: 'pending' | 'running' | 'done' | 'failed';
  attempts: number;
  startedAt?: string;
  finishedAt?: string;
  detail?: string;
}

export interface Apply {
  id: string;
  planId: string;
  stack: string;
  ref: string;
  commit: string;
  region?: string;
  by: string;
  state: 'queued' | 'running' | 'succeeded' | 'failed';
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  steps: ApplyStep[];
  error?: string;
  lockToken: number;
  serialBefore: number;
  serialAfter?: number;
}

export type HistoryEntry =
  | {
      type: 'apply';
      applyId: string;
      planId: string;
      commit: string;
      by: string;
      at: string;
      result: 'succeeded' | 'failed';
      changed: { resource: string; action: string }[];
      error?: string;
    }
  | { type: 'lock-broken'; by: string; at: string; lock: StackLockInfo };

export interface DriftedResource {
  resource: string;
  kind: ResourceKind;
  status: 'in-sync' | 'changed' | 'missing';
  changes: FieldChange[];
}

export interface DriftReport {
  stack: string;
  checkedAt: string;
  serial: number;
  commit?: string;
  drifted: boolean;
  resources: DriftedResource[];
}

export interface InfraStore {
  getState(stack: string): Promise<StackState>;
  stacksWithState(): Promise<string[]>;
  /** Which stack manages each of these resources, if any. */
  owners(resources: string[]): Promise<Record<string, string>>;
  savePlan(plan: Plan): Promise<void>;
  getPlan(id: string): Promise<Plan | undefined>;
  /** Moves a plan from one state to the next; false when it was not in `from`. */
  transitionPlan(id: string, from: Plan['state'], to: Plan['state'], applyId?: string): Promise<boolean>;
  saveApply(apply: Apply): Promise<void>;
  getApply(id: string): Promise<Apply | undefined>;
  /** Records one resource as applied (undefined: deleted). Fenced by the lock token. */
  recordResource(stack: string, token: number, name: string, resource: Resource | undefined): Promise<void>;
  /** Ends an apply: the serial rises, the commit and history are written. Fenced. */
  finishApply(stack: string, token: number, commit: string | undefined, entry: HistoryEntry): Promise<number>;
  addHistory(stack: string, entry: HistoryEntry): Promise<void>;
  history(stack: string, limit: number): Promise<HistoryEntry[]>;
  saveDrift(report: DriftReport): Promise<void>;
  getDrift(stack: string): Promise<DriftReport | undefined>;
}

export class FencedError extends Error {}

const RECORD_RESOURCE = `${FENCE_GUARD}
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[2], 'r:' .. ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2])
else
  redis.call('HSET', KEYS[2], 'r:' .. ARGV[2], ARGV[3])
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[4])
end
redis.call('SADD', KEYS[4], ARGV[4])
return 1`;

const FINISH_APPLY = `${FENCE_GUARD}
local serial = redis.call('HINCRBY', KEYS[2], 'serial', 1)
if ARGV[2] ~= '' then redis.call('HSET', KEYS[2], 'commit', ARGV[2]) end
redis.call('HSET', KEYS[2], 'lastApply', ARGV[3])
redis.call('LPUSH', KEYS[3], ARGV[4])
redis.call('LTRIM', KEYS[3], 0, 999)
redis.call('SADD', KEYS[4], ARGV[5])
return serial`;

// A plan's record never changes; its state lives beside it, moved by compare-and-set.
const TRANSITION_PLAN = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'KEEPTTL') end
return 1`;

/** Plans are kept a week after they are made (they expire for applying much sooner). */
const PLAN_RECORD_SECONDS = 7 * 24 * 3600;

export function createRedisInfraStore({ redis, prefix }: { redis: Redis; prefix: string }): InfraStore {
  const stateKey = (stack: string) => `${prefix}state:${stack}`;
  const historyKey = (stack: string) => `${prefix}history:${stack}`;
  const ownersKey = `${prefix}owners`;
  const stacksKey = `${prefix}stacks`;
  const fenced = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      if (/FENCED/.test((error as Error).message)) throw new FencedError('the stack lock was lost: fenced out');
      throw error;
    }
  };

  return {
    async getState(stack) {
      const fields = await redis.hgetall(stateKey(stack));
      const resources: Record<string, Resource> = {};
      for (const [field, value] of Object.entries(fields)) {
        if (field.startsWith('r:')) resources[field.slice(2)] = JSON.parse(value) as Resource;
      }
      return {
        stack,
        serial: Number(fields.serial ?? 0),
        ...(fields.commit ? { commit: fields.commit } : {}),
        resources,
        ...(fields.lastApply ? { lastApply: JSON.parse(fields.lastApply) as LastApply } : {}),
      };
    },
    async stacksWithState() {
      return (await redis.smembers(stacksKey)).sort();
    },
    async owners(resources) {
      if (resources.length === 0) return {};
      const values = await redis.hmget(ownersKey, ...resources);
      return Object.fromEntries(resources.flatMap((name, i) => (values[i] ? [[name, values[i]!]] : [])));
    },
    async savePlan(plan) {
      const { state, applyId: _applyId, ...record } = plan;
      await redis
        .multi()
        .set(`${prefix}plan:${plan.id}`, JSON.stringify(record), 'EX', PLAN_RECORD_SECONDS)
        .set(`${prefix}plan:${plan.id}:state`, state, 'EX', PLAN_RECORD_SECONDS)
        .set(`${prefix}plan:${plan.id}:apply`, '', 'EX', PLAN_RECORD_SECONDS)
        .exec();
    },
    async getPlan(id) {
      const [raw, state, applyId] = await redis.mget(
        `${prefix}plan:${id}`,
        `${prefix}plan:${id}:state`,
        `${prefix}plan:${id}:apply`,
      );
      if (!raw) return undefined;
      return {
        ...(JSON.parse(raw) as Plan),
        state: (state ?? 'planned') as Plan['state'],
        ...(applyId ? { applyId } : {}),
      };
    },
    async transitionPlan(id, from, to, applyId) {
      const keys = [`${prefix}plan:${id}:state`, `${prefix}plan:${id}:apply`];
      return (await redis.eval(TRANSITION_PLAN, 2, ...keys, from, to, applyId ?? '')) === 1;
    },
    async saveApply(apply) {
      await redis.set(`${prefix}apply:${apply.id}`, JSON.stringify(apply));
    },
    async getApply(id) {
      const raw = await redis.get(`${prefix}apply:${id}`);
      return raw ? (JSON.parse(raw) as Apply) : undefined;
    },
    async recordResource(stack, token, name, resource) {
      await fenced(() =>
        redis.eval(
          RECORD_RESOURCE,
          4,
          lockKeyOf(prefix, stack),
          stateKey(stack),
          ownersKey,
          stacksKey,
          String(token),
          name,
          resource ? JSON.stringify(resource) : '',
          stack,
        ),
      );
    },
    async finishApply(stack, token, commit, entry) {
      const lastApply: LastApply | undefined =
        entry.type === 'apply'
          ? { id: entry.applyId, commit: entry.commit, by: entry.by, finishedAt: entry.at, result: entry.result }
          : undefined;
      return Number(
        await fenced(() =>
          redis.eval(
            FINISH_APPLY,
            4,
            lockKeyOf(prefix, stack),
            stateKey(stack),
            historyKey(stack),
            stacksKey,
            String(token),
            commit ?? '',
            JSON.stringify(lastApply ?? null),
            JSON.stringify(entry),
            stack,
          ),
        ),
      );
    },
    async addHistory(stack, entry) {
      await redis.multi().lpush(historyKey(stack), JSON.stringify(entry)).ltrim(historyKey(stack), 0, 999).exec();
    },
    async history(stack, limit) {
      return (await redis.lrange(historyKey(stack), 0, limit - 1)).map((raw) => JSON.parse(raw) as HistoryEntry);
    },
    async saveDrift(report) {
      await redis.set(`${prefix}drift:${report.stack}`, JSON.stringify(report));
    },
    async getDrift(stack) {
      const raw = await redis.get(`${prefix}drift:${stack}`);
      return raw ? (JSON.parse(raw) as DriftReport) : undefined;
    },
  };
}
