/**
 * Deployments in Redis: each record with a version, an index per service+env, every state
 * change as an event (a Redis stream, which the events endpoint replays and follows), the
 * control requests (pause, cancel, rollback) beside the record so a person never races the
 * worker's writes, and the release queue: one deployment per service+env (core's leased, fenced
 * lock), at most N running at once (leased slots, the `running` sorted set scored by lease end),
 * the rest waiting in order.
 *
 * Every change of a record is one Lua script (BullMQ's moveToFinished way): it checks the
 * version the writer read, and writes the record, its event, its lease and any lock or slot
 * change together. A stale writer is refused (StaleWrite) and must read again.
 */
import { fenceKeyOf, lockKeyOf, TAKE_LOCK_LUA, type LeasedLockInfo, createRedisLeasedLocks } from '@slipway/core';
import type { Redis } from 'ioredis';
import type { Deployment, DeploymentState } from './deployment.js';

export interface DeploymentEvent {
  type: string;
  deployment: string;
  at: string;
  [key: string]: unknown;
}

export interface Release {
  deployment: string;
  image: string;
  commit: string;
  group: string;
  at: string;
}

/** A lock an admin broke, kept with who and why. */
export interface LockBreak extends Omit<LeasedLockInfo, 'name'> {
  brokenBy: string;
  reason: string;
  at: string;
}

export type Admission =
  | { outcome: 'run' }
  | { outcome: 'queued' }
  | { outcome: 'waiting'; holder: string }
  | { outcome: 'conflict'; holder: string };

export interface Control {
  pause?: string;
  cancel?: string;
  rollback?: string;
}

/** Another writer changed the record since it was read. */
export class StaleWrite extends Error {
  constructor(id: string) {
    super(`deployment ${id} was changed by another writer`);
    this.name = 'StaleWrite';
  }
}

export interface Transition {
  control: Control;
  /** The deployment holding the service+env lock now. */
  lockOwner?: string;
  /** Deployments that may start now that this one released its lock and slot. */
  admitted: string[];
}

export interface DeploymentStore {
  get(id: string): Promise<Deployment | undefined>;
  list(filter: { service?: string; env?: string; state?: DeploymentState; limit: number; before?: number }): Promise<{
    items: Deployment[];
    next?: number;
  }>;
  event(event: DeploymentEvent): Promise<string>;
  events(id: string, after?: string): Promise<{ id: string; event: DeploymentEvent }[]>;
  /** Blocks up to `ms` for events after `after` (a stream id), on a connection of its own. */
  follow(
    connection: Pick<Redis, 'xread'>,
    id: string,
    after: string,
    ms: number,
  ): Promise<{ id: string; event: DeploymentEvent }[]>;
  /** Takes the service+env lock and a release slot, or says why not, and saves the new record with them. */
  admit(deployment: Deployment, limit: number): Promise<Admission>;
  /**
   * Saves a change of the record read at `deployment.version` (raising it), with its event; renews
   * the lease (taking the lock back if it ran out and is free); with `release`, frees the lock and
   * the slot and admits whoever may run now. Throws StaleWrite.
   */
  transition(
    deployment: Deployment,
    options?: { event?: Omit<DeploymentEvent, 'deployment' | 'at' | 'state'>; release?: number },
  ): Promise<Transition>;
  /** Frees the lock and the slot whatever the record says (the sweep's reclaim); answers who may start. */
  release(deployment: Pick<Deployment, 'id' | 'service' | 'env'>, limit: number): Promise<string[]>;
  /** Extends the lease of the lock and the slot of a live deployment; answers the lock's owner. */
  renew(deployment: Deployment): Promise<string | undefined>;
  /** Deployments holding a slot, and those holding a lock waiting for one. */
  running(): Promise<string[]>;
  admissionQueue(): Promise<string[]>;
  holder(service: string, env: string): Promise<string | undefined>;
  lock(service: string, env: string): Promise<LeasedLockInfo | undefined>;
  /** Every lock held, by service and env. */
  locks(): Promise<LeasedLockInfo[]>;
  /** Removes the lock whoever holds it; answers what it was. */
  breakLock(service: string, env: string): Promise<LeasedLockInfo | undefined>;
  setControl(id: string, control: Control): Promise<void>;
  control(id: string): Promise<Control>;
  clearControl(id: string, field: keyof Control): Promise<void>;
  /** Records the release once per deployment, however often it is asked. */
  recordRelease(service: string, env: string, release: Release): Promise<void>;
  releases(service: string, env: string, limit: number): Promise<Release[]>;
  /** Broken locks, newest first. */
  recordLockBreak(service: string, env: string, entry: LockBreak): Promise<void>;
  lockBreaks(service: string, env: string): Promise<LockBreak[]>;
  clusters(): Promise<{ service: string; env: string }[]>;
}

// KEYS: 1 record, 2 version, 3 index, 4 cluster index, 5 clusters, 6 events, 7 all events,
// 8 control, 9 lock, 10 fence, 11 waiting, 12 running, 13 admission.
const WRITE_RECORD = `
local function write_record(version, json, score, member, event)
  redis.call('SET', KEYS[2], version)
  redis.call('SET', KEYS[1], json)
  redis.call('ZADD', KEYS[3], score, ARGV[1])
  redis.call('ZADD', KEYS[4], score, ARGV[1])
  redis.call('SADD', KEYS[5], member)
  if event ~= '' then
    redis.call('XADD', KEYS[6], '*', 'event', event)
    redis.call('XADD', KEYS[7], 'MAXLEN', '~', '10000', '*', 'event', event)
  end
end
local function holder_of(prefix, id)
  local raw = redis.call('GET', prefix .. 'deployment:' .. id)
  if not raw then return '' end
  return cjson.decode(raw).by or ''
end
-- Frees the lock (passing it to the next of the same service+env) and the slot; admits in order.
local function release(id, limit, since, leaseMs, nowMs, prefix)
  redis.call('ZREM', KEYS[12], id)
  redis.call('LREM', KEYS[13], 0, id)
  redis.call('LREM', KEYS[11], 0, id)
  if redis.call('HGET', KEYS[9], 'owner') == id then
    local nextSame = redis.call('LPOP', KEYS[11])
    if nextSame then
      take_lock(KEYS[9], KEYS[10], nextSame, holder_of(prefix, nextSame), since, leaseMs)
      redis.call('RPUSH', KEYS[13], nextSame)
    else
      redis.call('DEL', KEYS[9])
    end
  end
  local admitted = {}
  while redis.call('ZCARD', KEYS[12]) < tonumber(limit) do
    local nextId = redis.call('LPOP', KEYS[13])
    if not nextId then break end
    redis.call('ZADD', KEYS[12], nowMs + leaseMs, nextId)
    table.insert(admitted, nextId)
  end
  return admitted
end`;

// ARGV: 1 id, 2 queue, 3 limit, 4 json, 5 score, 6 member, 7 since, 8 lease, 9 by, 10 now ms, 11 event base
const ADMIT = `${TAKE_LOCK_LUA}${WRITE_RECORD}
local holder = redis.call('HGET', KEYS[9], 'owner')
local outcome
if holder and holder ~= ARGV[1] then
  if ARGV[2] ~= '1' then return {'conflict', holder} end
  redis.call('RPUSH', KEYS[11], ARGV[1])
  outcome = 'waiting'
else
  holder = ''
  take_lock(KEYS[9], KEYS[10], ARGV[1], ARGV[9], ARGV[7], ARGV[8])
  if redis.call('ZCARD', KEYS[12]) < tonumber(ARGV[3]) and redis.call('LLEN', KEYS[13]) == 0 then
    redis.call('ZADD', KEYS[12], tonumber(ARGV[10]) + tonumber(ARGV[8]), ARGV[1])
    outcome = 'run'
  else
    redis.call('RPUSH', KEYS[13], ARGV[1])
    outcome = 'queued'
  end
end
local event = cjson.decode(ARGV[11])
event.admission = outcome
if outcome == 'waiting' then event.behind = holder end
write_record('1', ARGV[4], ARGV[5], ARGV[6], cjson.encode(event))
return {outcome, holder}`;

// ARGV: 1 id, 2 expected version, 3 json, 4 score, 5 member, 6 event, 7 release limit ('' for none),
// 8 since, 9 lease, 10 now ms, 11 prefix, 12 finished ('1' once the record is finished)
const TRANSITION = `${TAKE_LOCK_LUA}${WRITE_RECORD}
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[2] then return {0} end
write_record(tostring(tonumber(ARGV[2]) + 1), ARGV[3], ARGV[4], ARGV[5], ARGV[6])
local admitted = {}
if ARGV[7] ~= '' then
  admitted = release(ARGV[1], ARGV[7], ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10]), ARGV[11])
elseif ARGV[12] ~= '1' then
  local owner = redis.call('HGET', KEYS[9], 'owner')
  if owner == ARGV[1] then
    redis.call('PEXPIRE', KEYS[9], ARGV[9])
  elseif not owner and redis.call('ZSCORE', KEYS[12], ARGV[1]) then
    take_lock(KEYS[9], KEYS[10], ARGV[1], cjson.decode(ARGV[3]).by, ARGV[8], ARGV[9])
  end
  redis.call('ZADD', KEYS[12], 'XX', tonumber(ARGV[10]) + tonumber(ARGV[9]), ARGV[1])
end
return {1, redis.call('HGET', KEYS[9], 'owner') or '', redis.call('HGETALL', KEYS[8]), admitted}`;

const RELEASE = `${TAKE_LOCK_LUA}${WRITE_RECORD}
return release(ARGV[1], ARGV[7], ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10]), ARGV[11])`;

const RENEW = `
local owner = redis.call('HGET', KEYS[9], 'owner')
if owner == ARGV[1] then redis.call('PEXPIRE', KEYS[9], ARGV[9]) end
redis.call('ZADD', KEYS[12], 'XX', tonumber(ARGV[10]) + tonumber(ARGV[9]), ARGV[1])
return owner or ''`;

const RECORD_RELEASE = `
local head = redis.call('LINDEX', KEYS[1], 0)
if head and cjson.decode(head).deployment == ARGV[1] then return 0 end
redis.call('LPUSH', KEYS[1], ARGV[2])
redis.call('LTRIM', KEYS[1], 0, 99)
return 1`;

export function createRedisDeploymentStore({
  redis,
  prefix,
  leaseMs = 30_000,
}: {
  redis: Redis;
  prefix: string;
  /** How long a lock and a slot outlive their last renewal. */
  leaseMs?: number;
}): DeploymentStore {
  const key = (...parts: string[]) => `${prefix}${parts.join(':')}`;
  const clusterOf = (d: Pick<Deployment, 'service' | 'env'>) => `${d.service}:${d.env}`;
  const locks = createRedisLeasedLocks({ redis, prefix, leaseMs });
  const keysOf = (d: Pick<Deployment, 'id' | 'service' | 'env'>) => [
    key('deployment', d.id),
    key('version', d.id),
    key('deployments'),
    key('deployments', d.service, d.env),
    key('clusters'),
    key('events', d.id),
    key('events'),
    key('control', d.id),
    lockKeyOf(prefix, clusterOf(d)),
    fenceKeyOf(prefix, clusterOf(d)),
    key('waiting', d.service, d.env),
    key('running'),
    key('admission'),
  ];
  const parse = (entries: [string, string[]][]) =>
    entries.map(([id, fields]) => ({ id, event: JSON.parse(fields[1]!) as DeploymentEvent }));
  const pairs = (flat: string[]) => {
    const out: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
    return out;
  };

  return {
    async get(id) {
      const [raw, version] = await redis.mget(key('deployment', id), key('version', id));
      if (!raw) return undefined;
      const deployment = JSON.parse(raw) as Deployment;
      deployment.version = Number(version ?? 0);
      return deployment;
    },
    async list({ service, env, state, limit, before }) {
      const index = service && env ? key('deployments', service, env) : key('deployments');
      const items: Deployment[] = [];
      let max = before === undefined ? '+inf' : `(${before}`;
      // Newest first, a page at a time, filtered as they come.
      for (;;) {
        const ids = await redis.zrevrangebyscore(index, max, '-inf', 'WITHSCORES', 'LIMIT', 0, 200);
        if (ids.length === 0) return { items };
        for (let i = 0; i < ids.length; i += 2) {
          const deployment = await this.get(ids[i]!);
          max = `(${ids[i + 1]}`;
          if (!deployment) continue;
          if (service && deployment.service !== service) continue;
          if (env && deployment.env !== env) continue;
          if (state && deployment.state !== state) continue;
          items.push(deployment);
          if (items.length === limit) return { items, next: Number(ids[i + 1]) };
        }
      }
    },
    async event(event) {
      const body = JSON.stringify(event);
      const [id] = await Promise.all([
        redis.xadd(key('events', event.deployment), '*', 'event', body) as Promise<string>,
        redis.xadd(key('events'), 'MAXLEN', '~', '10000', '*', 'event', body),
      ]);
      return id;
    },
    async events(id, after) {
      return parse((await redis.xrange(key('events', id), after ? `(${after}` : '-', '+')) as [string, string[]][]);
    },
    async follow(connection, id, after, ms) {
      const answer = (await connection.xread('BLOCK', ms, 'STREAMS', key('events', id), after)) as
        [string, [string, string[]][]][] | null;
      return answer ? parse(answer[0]![1]) : [];
    },
    async admit(d, limit) {
      d.version = 1;
      const event = { type: 'queued', deployment: d.id, at: new Date().toISOString(), state: d.state };
      const [outcome, holder] = (await redis.eval(
        ADMIT,
        13,
        ...keysOf(d),
        d.id,
        d.queue ? '1' : '0',
        limit,
        JSON.stringify(d),
        Date.parse(d.createdAt),
        clusterOf(d),
        new Date().toISOString(),
        leaseMs,
        d.by,
        Date.now(),
        JSON.stringify(event),
      )) as [Admission['outcome'], string];
      return outcome === 'waiting' || outcome === 'conflict' ? { outcome, holder } : { outcome };
    },
    async transition(d, options = {}) {
      const version = d.version ?? 0;
      const next = { ...d, version: version + 1 };
      const event = options.event
        ? JSON.stringify({ ...options.event, deployment: d.id, at: new Date().toISOString(), state: d.state })
        : '';
      const answer = (await redis.eval(
        TRANSITION,
        13,
        ...keysOf(d),
        d.id,
        String(version),
        JSON.stringify(next),
        Date.parse(d.createdAt),
        clusterOf(d),
        event,
        options.release === undefined ? '' : String(options.release),
        new Date().toISOString(),
        leaseMs,
        Date.now(),
        prefix,
        ['succeeded', 'failed', 'rolled-back', 'cancelled'].includes(d.state) ? '1' : '0',
      )) as [number, string?, string[]?, string[]?];
      if (answer[0] !== 1) throw new StaleWrite(d.id);
      d.version = version + 1;
      return {
        lockOwner: answer[1] || undefined,
        control: pairs(answer[2] ?? []) as Control,
        admitted: answer[3] ?? [],
      };
    },
    async release(d, limit) {
      const args = [d.id, '', '', '', '', '', String(limit), new Date().toISOString(), leaseMs, Date.now(), prefix];
      return (await redis.eval(RELEASE, 13, ...keysOf(d), ...args)) as string[];
    },
    async renew(d) {
      const args = [d.id, '', '', '', '', '', '', '', leaseMs, Date.now()];
      return ((await redis.eval(RENEW, 13, ...keysOf(d), ...args)) as string) || undefined;
    },
    async running() {
      return redis.zrange(key('running'), 0, -1);
    },
    async admissionQueue() {
      return redis.lrange(key('admission'), 0, -1);
    },
    async holder(service, env) {
      return (await redis.hget(lockKeyOf(prefix, `${service}:${env}`), 'owner')) ?? undefined;
    },
    lock: (service, env) => locks.get(`${service}:${env}`),
    async locks() {
      const found: LeasedLockInfo[] = [];
      const pattern = lockKeyOf(prefix, '*');
      let cursor = '0';
      do {
        const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 200);
        cursor = nextCursor;
        for (const k of keys) {
          const info = await locks.get(k.slice(lockKeyOf(prefix, '').length));
          if (info) found.push(info);
        }
      } while (cursor !== '0');
      return found;
    },
    async breakLock(service, env) {
      const lock = await locks.break(`${service}:${env}`);
      // Its slot too: a holder that still runs is fenced out rather than taking the lock back.
      if (lock) await redis.multi().zrem(key('running'), lock.owner).lrem(key('admission'), 0, lock.owner).exec();
      return lock;
    },
    async setControl(id, control) {
      await redis.hset(key('control', id), control as Record<string, string>);
    },
    async control(id) {
      return (await redis.hgetall(key('control', id))) as Control;
    },
    async clearControl(id, field) {
      await redis.hdel(key('control', id), field);
    },
    async recordRelease(service, env, release) {
      await redis.eval(RECORD_RELEASE, 1, key('releases', service, env), release.deployment, JSON.stringify(release));
    },
    async releases(service, env, limit) {
      return (await redis.lrange(key('releases', service, env), 0, limit - 1)).map((r) => JSON.parse(r) as Release);
    },
    async recordLockBreak(service, env, entry) {
      await redis
        .multi()
        .lpush(key('lock-breaks', service, env), JSON.stringify(entry))
        .ltrim(key('lock-breaks', service, env), 0, 99)
        .exec();
    },
    async lockBreaks(service, env) {
      return (await redis.lrange(key('lock-breaks', service, env), 0, -1)).map((r) => JSON.parse(r) as LockBreak);
    },
    async clusters() {
      return (await redis.smembers(key('clusters')))
        .sort()
        .map((pair) => ({ service: pair.split(':')[0]!, env: pair.split(':')[1]! }));
    },
  };
}
