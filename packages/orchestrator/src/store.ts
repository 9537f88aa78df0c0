/**
 * Deployments in Redis: each record, an index per service+env, every state change as an event
 * (a Redis stream, which the events endpoint replays and follows), the control requests
 * (pause, cancel, rollback) beside the record so a person never races the worker's writes, and
 * the release queue: one deployment per service+env (a lock), at most N running at once (the
 * `running` set), the rest waiting in order — each move one Lua script.
 */
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

export interface DeploymentStore {
  save(deployment: Deployment): Promise<void>;
  get(id: string): Promise<Deployment | undefined>;
  list(filter: { service?: string; env?: string; state?: DeploymentState; limit: number; before?: number }): Promise<{
    items: Deployment[];
    next?: number;
  }>;
  event(event: DeploymentEvent): Promise<string>;
  events(id: string, after?: string): Promise<{ id: string; event: DeploymentEvent }[]>;
  /** Blocks up to `ms` for events after `after` (a stream id), on a connection of its own. */
  follow(connection: Redis, id: string, after: string, ms: number): Promise<{ id: string; event: DeploymentEvent }[]>;
  /** Takes the service+env lock and a release slot, or says why not. */
  admit(deployment: Deployment, limit: number): Promise<Admission>;
  /** Frees the lock and the slot; answers the deployments that may start now, in order. */
  finish(deployment: Deployment, limit: number): Promise<string[]>;
  running(): Promise<string[]>;
  holder(service: string, env: string): Promise<string | undefined>;
  setControl(id: string, control: Control): Promise<void>;
  control(id: string): Promise<Control>;
  clearControl(id: string, field: keyof Control): Promise<void>;
  recordRelease(service: string, env: string, release: Release): Promise<void>;
  releases(service: string, env: string, limit: number): Promise<Release[]>;
  clusters(): Promise<{ service: string; env: string }[]>;
}

const ADMIT = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  if ARGV[2] == '1' then
    redis.call('RPUSH', KEYS[2], ARGV[1])
    return {'waiting', holder}
  end
  return {'conflict', holder}
end
redis.call('SET', KEYS[1], ARGV[1])
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return {'run', ''} end
if redis.call('SCARD', KEYS[3]) < tonumber(ARGV[3]) and redis.call('LLEN', KEYS[4]) == 0 then
  redis.call('SADD', KEYS[3], ARGV[1])
  return {'run', ''}
end
redis.call('RPUSH', KEYS[4], ARGV[1])
return {'queued', ''}`;

const FINISH = `
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('LREM', KEYS[4], 0, ARGV[1])
redis.call('LREM', KEYS[2], 0, ARGV[1])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  local nextSame = redis.call('LPOP', KEYS[2])
  if nextSame then
    redis.call('SET', KEYS[1], nextSame)
    redis.call('RPUSH', KEYS[4], nextSame)
  else
    redis.call('DEL', KEYS[1])
  end
end
local admitted = {}
while redis.call('SCARD', KEYS[3]) < tonumber(ARGV[2]) do
  local nextId = redis.call('LPOP', KEYS[4])
  if not nextId then break end
  redis.call('SADD', KEYS[3], nextId)
  table.insert(admitted, nextId)
end
return admitted`;

export function createRedisDeploymentStore({ redis, prefix }: { redis: Redis; prefix: string }): DeploymentStore {
  const key = (...parts: string[]) => `${prefix}${parts.join(':')}`;
  const queueKeys = (d: Deployment) => [
    key('lock', d.service, d.env),
    key('waiting', d.service, d.env),
    key('running'),
    key('admission'),
  ];
  const parse = (entries: [string, string[]][]) =>
    entries.map(([id, fields]) => ({ id, event: JSON.parse(fields[1]!) as DeploymentEvent }));

  return {
    async save(deployment) {
      const score = Date.parse(deployment.createdAt);
      await redis
        .multi()
        .set(key('deployment', deployment.id), JSON.stringify(deployment))
        .zadd(key('deployments'), score, deployment.id)
        .zadd(key('deployments', deployment.service, deployment.env), score, deployment.id)
        .sadd(key('clusters'), `${deployment.service}:${deployment.env}`)
        .exec();
    },
    async get(id) {
      const raw = await redis.get(key('deployment', id));
      return raw ? (JSON.parse(raw) as Deployment) : undefined;
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
    async admit(deployment, limit) {
      const [outcome, holder] = (await redis.eval(
        ADMIT,
        4,
        ...queueKeys(deployment),
        deployment.id,
        deployment.queue ? '1' : '0',
        limit,
      )) as [Admission['outcome'], string];
      return outcome === 'waiting' || outcome === 'conflict' ? { outcome, holder } : { outcome };
    },
    async finish(deployment, limit) {
      return (await redis.eval(FINISH, 4, ...queueKeys(deployment), deployment.id, limit)) as string[];
    },
    async running() {
      return redis.smembers(key('running'));
    },
    async holder(service, env) {
      return (await redis.get(key('lock', service, env))) ?? undefined;
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
      await redis
        .multi()
        .lpush(key('releases', service, env), JSON.stringify(release))
        .ltrim(key('releases', service, env), 0, 99)
        .exec();
    },
    async releases(service, env, limit) {
      return (await redis.lrange(key('releases', service, env), 0, limit - 1)).map((r) => JSON.parse(r) as Release);
    },
    async clusters() {
      return (await redis.smembers(key('clusters')))
        .sort()
        .map((pair) => ({ service: pair.split(':')[0]!, env: pair.split(':')[1]! }));
    },
  };
}
