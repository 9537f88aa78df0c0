/**
 * Deployments in Redis: each record with a version, an index per service+env, every state
 * change as an event (a Redis stream, which the events endpoint replays and follows), the
 * control requests (pause, cancel, rollback) beside the record so a person never races the
 * worker's writes, admission — one deployment per service+env (a leased lock with a
 * fencing token, core's lock.ts), at most N running at once (leased slots: the `running` sorted
 * set scored by lease end), the rest waiting in order — each cluster's vetted groups (those a
 * succeeded deployment put in service: the only rollback targets), and the outbox of outcomes.
 *
 * Every change that two processes could race is one Lua script (BullMQ's moveToFinished way),
 * each in its own file under `lua/` (EVALSHA through ioredis' defineCommand): it checks the
 * version the writer read and the lock token the deployment was given, and writes the record,
 * its events, its lock and slot, its outcome's notification and count together. A stale writer
 * is refused (StaleWrite) and must read again; one that lost its cluster is told (Fenced).
 * With `waitReplicas`, each such step also waits until that many replicas have it (WAIT), so a
 * failover of a Redis primary cannot lose a step the orchestrator acted on.
 */
import {
  defineLuaScripts,
  fenceKeyOf,
  lockKeyOf,
  luaDirectory,
  type LeasedLockInfo,
  createRedisLeasedLocks,
} from '@slipway/core/redis';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { FINISHED, retiredBy, scaleDownAt, type Deployment, type DeploymentState } from './deployment.js';
import type { NotificationKind } from '../notify.js';

export interface DeploymentEvent {
  type: string;
  deployment: string;
  at: string;
  [key: string]: unknown;
}

/** One entry of a cluster's history: what a succeeded deployment put in service. */
export interface Served {
  deployment: string;
  image: string;
  commit: string;
  group: string;
  at: string;
  /** The image's version and the cluster's region (null: the default) as deployed, kept so a reader needs not the deployment's record. */
  version?: string;
  region?: string | null;
}

/** A lock an admin broke, kept with who and why. */
/** What a list of clusters shows of each one's newest deployment. */
export type LastDeployment = Pick<Deployment, 'id' | 'state' | 'by' | 'createdAt' | 'finishedAt' | 'undoOf'> & {
  /**
   * The region its deployment-params named, where the cluster's groups are (null: none, the
   * default); absent from a summary kept before it was (read the record for it).
   */
  region?: string | null;
};

export interface LockBreak extends Omit<LeasedLockInfo, 'name'> {
  brokenBy: string;
  reason: string;
  at: string;
}

export type Admission =
  | { outcome: 'run' }
  | { outcome: 'queued' }
  | { outcome: 'exists' }
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

/** The deployment no longer holds its cluster's lock: broken by an admin, or its lease ran out and another took it. */
export class Fenced extends Error {
  constructor(readonly owner: string | undefined) {
    super(`its service+env lock is ${owner ? `held by ${owner}` : 'gone (broken)'}: stopped where it stood`);
    this.name = 'Fenced';
  }
}

/** Redis did not get the step to a replica in time: not acted on, tried again. */
export class NotReplicated extends Error {}

export type TransitionMode = 'step' | 'step-unless-control' | 'advance' | 'pause' | 'resume' | 'finish';

export interface TransitionOptions {
  /** Events saved with it (the first is the change's own). */
  events?: Omit<DeploymentEvent, 'deployment' | 'at' | 'state'>[];
  event?: Omit<DeploymentEvent, 'deployment' | 'at' | 'state'>;
  mode?: TransitionMode;
  /** The slot limit, for the modes that free or take one. */
  limit?: number;
  /** A notification to put in the outbox with it (the start; a finish always puts its outcome). */
  notify?: NotificationKind;
  /** For `resume`: the record to save when no slot is free and it queues for one. */
  queued?: Deployment;
  /** For `finish`: the person's request it ends by (applied, not said as left undone). */
  applied?: keyof Control;
}

export interface Transition {
  /** False when a cancel or rollback waits and the mode was `step-unless-control`/`pause` (any request, `advance`): nothing saved. */
  saved: boolean;
  control: Control;
  /** The deployment holding the service+env lock now. */
  lockOwner?: string;
  /** Deployments that may start now that this one gave back its lock or slot. */
  admitted: string[];
  /** For `resume`: whether it took a slot or queued for one. */
  resumed?: 'run' | 'queued';
}

/** A person's request as saved, or why not. */
export type ControlAnswer =
  | { outcome: 'set'; state: DeploymentState; started: boolean }
  | { outcome: 'refused'; reason: string }
  | { outcome: 'finished'; state: DeploymentState }
  | { outcome: 'missing' };

export interface OutboxEntry {
  id: string;
  deployment: string;
  kind: NotificationKind;
}

export interface DeploymentStore {
  get(id: string): Promise<Deployment | undefined>;
  list(filter: { service?: string; env?: string; state?: DeploymentState; limit: number; before?: number }): Promise<{
    items: Deployment[];
    next?: number;
  }>;
  /**
   * Appends an event while the deployment has not finished (and, with `version`, only for a
   * writer that read the record at that version); answers false when refused. An event without
   * a state is given the record's, as saved (a writer that has not read the record).
   */
  event(event: DeploymentEvent, version?: number): Promise<boolean>;
  events(id: string, after?: string): Promise<{ id: string; event: DeploymentEvent }[]>;
  /** Blocks up to `ms` for events after `after` (a stream id), on a connection of its own. */
  follow(
    connection: Pick<Redis, 'xread'>,
    id: string,
    after: string,
    ms: number,
  ): Promise<{ id: string; event: DeploymentEvent }[]>;
  /** Takes the service+env lock and a slot, or says why not, and saves the new record with them. */
  admit(deployment: Deployment, limit: number): Promise<Admission>;
  /**
   * Saves a change of the record read at `deployment.version` (raising it) with its events and
   * what the mode does to its lock and slot. Throws StaleWrite, or Fenced for a live deployment
   * that lost its cluster.
   */
  transition(deployment: Deployment, options?: TransitionOptions): Promise<Transition>;
  /** Frees the lock and the slot of a finished or missing deployment (the sweep's reclaim); answers who may start. */
  reclaim(deployment: Pick<Deployment, 'id' | 'service' | 'env'>, limit: number): Promise<string[]>;
  /** Extends the leases of a live deployment's lock and slot; throws Fenced when it lost its cluster. */
  renew(deployment: Deployment): Promise<void>;
  /** Deployments holding a slot, and those holding a lock waiting for one. */
  running(): Promise<string[]>;
  admissionQueue(): Promise<string[]>;
  holder(service: string, env: string): Promise<string | undefined>;
  /** Each cluster's holder, all read in one round trip. */
  holders(clusters: { service: string; env: string }[]): Promise<(string | undefined)[]>;
  /** Each cluster's newest deployment, all read in two round trips (a view of every cluster). */
  lastDeployments(clusters: { service: string; env: string }[]): Promise<(LastDeployment | undefined)[]>;
  lock(service: string, env: string): Promise<LeasedLockInfo | undefined>;
  /** Every lock held, by service and env. */
  locks(): Promise<LeasedLockInfo[]>;
  /**
   * Removes the lock, its holder's slot and its place in the queue in one step, which also records
   * the break, says so in the holder's events ('lock-broken') and leaves the holder to be ended
   * (`brokenHolders`), so that a breaker dying right after still has it ended by a sweep, and its
   * timeline says why; answers what it was and who may start.
   */
  breakLock(
    service: string,
    env: string,
    limit: number,
    broken: { brokenBy: string; reason: string; at: string },
  ): Promise<{ lock: LeasedLockInfo; entry: LockBreak; admitted: string[] } | undefined>;
  /** Holders of broken locks not yet ended, each with the reason it ends with. */
  brokenHolders(): Promise<[id: string, why: string][]>;
  /** The holder of a broken lock is ended: no sweep need look at it again. */
  settleBreak(id: string): Promise<void>;
  /** A person's request, decided against the record as it is (set-control.lua). */
  setControl(id: string, kind: keyof Control, by: string, event: Omit<DeploymentEvent, 'at'>): Promise<ControlAnswer>;
  /**
   * A resume of a deployment not paused yet: the pause asked and not taken yet withdrawn, decided
   * against the record as it is (set-control.lua); 'paused' when the pause was taken (resume it).
   */
  withdrawPause(
    id: string,
    event: Omit<DeploymentEvent, 'at'>,
  ): Promise<'withdrawn' | 'none' | 'paused' | 'finished' | 'missing'>;
  control(id: string): Promise<Control>;
  /** Records what a succeeded deployment put in service, once per deployment however often it is asked. */
  recordServed(service: string, env: string, served: Served): Promise<void>;
  /** The cluster's history: what it served, newest first (the last 100; the Redis key is still `releases`). */
  history(service: string, env: string, limit: number): Promise<Served[]>;
  /** Each cluster's newest entry of its history (undefined: none yet), all read in one round trip. */
  newestServed(clusters: { service: string; env: string }[]): Promise<(Served | undefined)[]>;
  /** The cluster's groups that a succeeded deployment put in service (before this was kept: its recorded releases). */
  vetted(service: string, env: string): Promise<string[]>;
  /** A group destroyed is no longer vetted (its name may come again after 999). */
  forgetVetted(service: string, env: string, group: string): Promise<void>;
  /**
   * Runs `work` holding the cluster's lock for the retention sweep as it scales `group` down (no
   * slot; the lease renewed while it works), then gives the lock on to whoever waits for it. Not
   * run while anyone holds the cluster. Answers whether it ran, what it answered, and who may start.
   */
  holdCluster<T>(
    service: string,
    env: string,
    group: string,
    limit: number,
    work: () => Promise<T>,
  ): Promise<{ held: true; value: T; admitted: string[] } | { held: false; admitted: string[] }>;
  /**
   * Retained groups to be scaled down, each at its due time (`retention:due`): marked by the finish
   * of the deployment that retired one (in transition's step), and here by the retention sweep's
   * full pass (the backstop: records from before the list was kept). A mark is only ever moved
   * sooner here (ZADD LT): a full pass that read the records before a finish retired the group
   * again must not put off the time that finish wrote; a time too soon the sweep moves on.
   */
  markRetired(groups: RetiredGroup[]): Promise<void>;
  /** Those due by `now`, soonest first, at most `limit`. */
  retiredDue(now: number, limit: number): Promise<RetiredGroup[]>;
  /**
   * One taken off the due list, or moved to `dueAt` (its records say it is due later), unless
   * marked again since it was read (another due time).
   */
  unmarkRetired(group: RetiredGroup, dueAt?: number): Promise<void>;
  /** Broken locks, newest first. */
  lockBreaks(service: string, env: string): Promise<LockBreak[]>;
  clusters(): Promise<{ service: string; env: string }[]>;
  /** The outbox of notifications, delivered at least once by each replica's sender. */
  outbox: {
    /** Entries for this consumer: new ones, and those another left unacknowledged for `idleMs`. */
    take(consumer: string, idleMs: number): Promise<OutboxEntry[]>;
    ack(id: string): Promise<void>;
  };
}

const SCRIPTS = {
  admit: 18,
  transition: 18,
  renew: 18,
  reclaim: 18,
  'break-lock': 20,
  'set-control': 4,
  'append-event': 4,
  'record-release': 1,
  'hold-cluster': 18,
  'unmark-retired': 1,
  holders: 'any',
} as const;

/** Arguments a command is given at most: spread into one call, some 120,000 overflow Node's stack. */
const ARGUMENTS_AT_ONCE = 10_000;

/** `read` of each chunk of `items` in turn, the answers joined in order. */
async function inChunks<T, A>(items: T[], read: (chunk: T[]) => Promise<A[]>): Promise<A[]> {
  const answers: A[] = [];
  for (let i = 0; i < items.length; i += ARGUMENTS_AT_ONCE)
    answers.push(...(await read(items.slice(i, i + ARGUMENTS_AT_ONCE))));
  return answers;
}

/** What write_last keeps of a record, and what a list of clusters reads of its newest. */
function lastOf({ id, state, by, createdAt, finishedAt, undoOf, context }: Deployment): LastDeployment {
  return { id, state, by, createdAt, finishedAt, undoOf, region: context.params?.region ?? null };
}

/** A retained group on the retention sweep's due list. */
export interface RetiredGroup {
  service: string;
  env: string;
  group: string;
  /** When it is to be scaled to zero (ms since the epoch). */
  dueAt: number;
}

const retiredMember = (g: RetiredGroup) => `${g.service}:${g.env}:${g.group}`;

/** What a finished deployment puts on the retention sweep's due list: the group it retired, if its params scale one down. */
function retiredGroups(d: Deployment): RetiredGroup[] {
  const retired = retiredBy(d);
  const dueAt = scaleDownAt(retired);
  return retired && dueAt !== undefined ? [{ service: d.service, env: d.env, group: retired.group, dueAt }] : [];
}

const SCALING_DOWN = 'scaling-down:';

/** The group a lock's owner is scaling down, when the owner is the retention sweep's hold, not a deployment. */
export function scalingDown(owner: string): string | undefined {
  return owner.startsWith(SCALING_DOWN) ? owner.slice(SCALING_DOWN.length, owner.lastIndexOf(':')) : undefined;
}

export function createRedisDeploymentStore({
  redis,
  prefix,
  leaseMs = 30_000,
  waitReplicas = 0,
}: {
  redis: Redis;
  prefix: string;
  /** How long a lock and a slot outlive their last renewal. */
  leaseMs?: number;
  /** Replicas each fenced step waits for (WAIT) before it is acted on; 0 with no replicas. */
  waitReplicas?: number;
}): DeploymentStore {
  const key = (...parts: string[]) => `${prefix}${parts.join(':')}`;
  const clusterOf = (d: Pick<Deployment, 'service' | 'env'>) => `${d.service}:${d.env}`;
  const locks = createRedisLeasedLocks({ redis, prefix, leaseMs });
  const lua = defineLuaScripts(redis, luaDirectory(new URL('..', import.meta.url).href), 'slipwayDeployment', SCRIPTS);
  const markRetired = async (groups: RetiredGroup[]) => {
    if (groups.length === 0) return;
    await redis.zadd(key('retention:due'), 'LT', ...groups.flatMap((g) => [g.dueAt, retiredMember(g)]));
  };
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
    key('holds', d.id),
    key('vetted', d.service, d.env),
    key('outbox'),
    key('metrics', 'counted'),
    key('metrics', 'deployments'),
  ];
  /** Each cluster's newest deployment, read whole: two round trips for any number of clusters. */
  async function newestRecords(clusters: { service: string; env: string }[]): Promise<(Deployment | undefined)[]> {
    if (clusters.length === 0) return [];
    const pipeline = redis.pipeline();
    for (const { service, env } of clusters) pipeline.zrevrange(key('deployments', service, env), 0, 0);
    const ids = ((await pipeline.exec()) ?? []).map(([error, newest]) => {
      if (error) throw error;
      return (newest as string[])[0];
    });
    const known = ids.filter((id) => id !== undefined);
    const raw = known.length ? await redis.mget(...known.map((id) => key('deployment', id))) : [];
    const byId = new Map(known.map((id, i) => [id, raw[i]]));
    return ids.map((id) => {
      const record = id === undefined ? undefined : byId.get(id);
      return record ? (JSON.parse(record) as Deployment) : undefined;
    });
  }
  const parse = (entries: [string, string[]][]) =>
    entries.map(([id, fields]) => ({ id, event: JSON.parse(fields[1]!) as DeploymentEvent }));
  const pairs = (flat: string[]) => {
    const out: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
    return out;
  };
  /** A step acted on only once a replica has it (when there are replicas to wait for). */
  async function replicated(): Promise<void> {
    if (waitReplicas <= 0) return;
    const acknowledged = (await redis.wait(waitReplicas, 1000)) as number;
    if (acknowledged < waitReplicas)
      throw new NotReplicated(`${acknowledged} of ${waitReplicas} replica(s) acknowledged the step in 1 s`);
  }
  /** What write_last keeps of a record (the writer has it at hand; the script never decodes the record). */
  const summaryOf = (d: Deployment): string => JSON.stringify(lastOf(d));
  const outboxKey = key('outbox');
  let outboxGroup: Promise<unknown> | undefined;

  return {
    async get(id) {
      const [raw, version] = await redis.mget(key('deployment', id), key('version', id));
      if (!raw) return undefined;
      const deployment = JSON.parse(raw) as Deployment;
      deployment.version = Number(version ?? 0);
      return deployment;
    },
    async list({ service, env, state, limit, before }) {
      // A cluster's own index; a service's clusters' indexes merged; else every deployment's.
      const indexes =
        service && env
          ? [key('deployments', service, env)]
          : service
            ? (await this.clusters())
                .filter((c) => c.service === service)
                .map((c) => key('deployments', c.service, c.env))
            : [key('deployments')];
      // Read as many as still wanted when the index answers exactly; more when some are filtered out.
      const exact = !!service && !state;
      const items: Deployment[] = [];
      let max = before === undefined ? '+inf' : `(${before}`;
      // Newest first, a page at a time, each page's records in one read, filtered as they come.
      for (;;) {
        const want = exact ? Math.min(200, limit - items.length) : 200;
        const pages = await Promise.all(
          indexes.map((index) => redis.zrevrangebyscore(index, max, '-inf', 'WITHSCORES', 'LIMIT', 0, want)),
        );
        const page = pages
          .flatMap((flat) => flat.flatMap((id, i) => (i % 2 === 0 ? [{ id, score: Number(flat[i + 1]) }] : [])))
          .sort((a, b) => b.score - a.score)
          .slice(0, want);
        if (page.length === 0) return { items };
        const raw = await redis.mget(...page.flatMap(({ id }) => [key('deployment', id), key('version', id)]));
        for (let i = 0; i < page.length; i++) {
          const { score } = page[i]!;
          max = `(${score}`;
          const record = raw[2 * i];
          if (!record) continue;
          const deployment = JSON.parse(record) as Deployment;
          deployment.version = Number(raw[2 * i + 1] ?? 0);
          if (service && deployment.service !== service) continue;
          if (env && deployment.env !== env) continue;
          if (state && deployment.state !== state) continue;
          items.push(deployment);
          if (items.length === limit) return { items, next: score };
        }
      }
    },
    async event(event, version) {
      const id = event.deployment;
      const keys = [key('deployment', id), key('version', id), key('events', id), key('events')];
      return (
        (await lua['append-event'](keys, [
          version === undefined ? '' : String(version),
          JSON.stringify(event),
          event.state === undefined ? '1' : '',
        ])) !== 0
      );
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
      const [outcome, holder] = (await lua.admit(keysOf(d), [
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
        summaryOf(d),
      ])) as [Admission['outcome'], string];
      if (outcome !== 'exists' && outcome !== 'conflict') await replicated();
      return outcome === 'waiting' || outcome === 'conflict' ? { outcome, holder } : { outcome };
    },
    async transition(d, options = {}) {
      const version = d.version ?? 0;
      const mode = options.mode ?? (FINISHED.includes(d.state) ? 'finish' : 'step');
      const at = new Date().toISOString();
      const events = [...(options.events ?? []), ...(options.event ? [options.event] : [])].map((e) =>
        JSON.stringify({ ...e, deployment: d.id, at, state: d.state }),
      );
      const notify =
        mode === 'finish'
          ? d.state === 'succeeded'
            ? 'success'
            : d.state === 'rolled-back'
              ? 'rollback'
              : 'failure'
          : (options.notify ?? '');
      const queued = options.queued ? JSON.stringify({ ...options.queued, version: version + 1 }) : '';
      const [retired] = mode === 'finish' ? retiredGroups(d) : [];
      const answer = (await lua.transition(keysOf(d), [
        d.id,
        String(version),
        JSON.stringify({ ...d, version: version + 1 }),
        Date.parse(d.createdAt),
        clusterOf(d),
        mode,
        options.limit ?? 0,
        at,
        leaseMs,
        Date.now(),
        prefix,
        d.by,
        notify,
        mode === 'finish' ? d.state : '',
        mode === 'finish' && d.state === 'succeeded' ? (d.context.group ?? '') : '',
        mode === 'finish' ? (options.applied ?? '') : queued,
        `${d.service}|${d.env}|${d.state}`,
        summaryOf(d),
        options.queued ? summaryOf(options.queued) : '',
        retired ? retiredMember(retired) : '',
        retired?.dueAt ?? '',
        ...events,
      ])) as [number, string?, string[]?, string[]?, string?];
      if (answer[0] === 0) throw new StaleWrite(d.id);
      if (answer[0] === -1) throw new Fenced(answer[1] || undefined);
      const control = pairs(answer[2] ?? []) as Control;
      if (answer[0] === 2) return { saved: false, control, admitted: [] };
      await replicated();
      d.version = version + 1;
      const resumed = answer[4] === 'run' || answer[4] === 'queued' ? answer[4] : undefined;
      if (resumed === 'queued') Object.assign(d, options.queued, { version: version + 1 });
      return {
        saved: true,
        lockOwner: answer[1] || undefined,
        control,
        admitted: answer[3] ?? [],
        ...(resumed ? { resumed } : {}),
      };
    },
    async reclaim(d, limit) {
      return (await lua.reclaim(keysOf(d), [
        d.id,
        limit,
        new Date().toISOString(),
        leaseMs,
        Date.now(),
        prefix,
      ])) as string[];
    },
    async renew(d) {
      const [held, owner] = (await lua.renew(keysOf(d), [
        d.id,
        leaseMs,
        Date.now(),
        new Date().toISOString(),
        d.by,
      ])) as [number, string];
      if (held !== 1) throw new Fenced(owner || undefined);
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
    async holders(clusters) {
      if (clusters.length === 0) return [];
      // One script for every lock (a pipeline of an HGET each made 4,000 clusters' commands the cost).
      const keys = clusters.map(({ service, env }) => lockKeyOf(prefix, `${service}:${env}`));
      const owners = await inChunks(keys, (chunk) => lua.holders(chunk, []) as Promise<(string | null)[]>);
      return clusters.map((_c, i) => owners[i] ?? undefined);
    },
    async lastDeployments(all) {
      if (all.length === 0) return [];
      // What the records' own writes keep of each cluster's newest (write_last); records written
      // before it was kept are read whole.
      const kept = await inChunks(all.map(clusterOf), (fields) => redis.hmget(key('deployments:last'), ...fields));
      const answer: (LastDeployment | undefined)[] = kept.map((k) =>
        k ? (JSON.parse(k) as LastDeployment) : undefined,
      );
      const missing = all.flatMap((c, i) => (kept[i] ? [] : [i]));
      const read = await newestRecords(missing.map((i) => all[i]!));
      missing.forEach((i, n) => (answer[i] = read[n] && lastOf(read[n])));
      return answer;
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
    async breakLock(service, env, limit, broken) {
      // Read, then broken only if still the same holder (its token): tried again if it changed.
      for (let tries = 0; tries < 10; tries++) {
        const lock = await locks.get(`${service}:${env}`);
        if (!lock) return undefined;
        const { name: _name, ...held } = lock;
        const entry: LockBreak = { ...held, ...broken };
        const why = `its lock was broken by ${broken.brokenBy} (${broken.reason}): stopped where it stood`;
        const keys = [
          ...keysOf({ id: lock.owner, service, env }),
          key('lock-breaks', service, env),
          key('broken-holders'),
        ];
        const [done, , admitted] = (await lua['break-lock'](keys, [
          lock.owner,
          String(lock.token),
          limit,
          new Date().toISOString(),
          leaseMs,
          Date.now(),
          prefix,
          JSON.stringify(entry),
          why,
          JSON.stringify({ type: 'lock-broken', deployment: lock.owner, ...entry }),
        ])) as [number, string[]?, string[]?];
        if (done === 1) {
          await replicated();
          return { lock, entry, admitted: admitted ?? [] };
        }
      }
      throw new Error(`the lock of ${service} ${env} changed hands ten times while breaking it`);
    },
    async setControl(id, kind, by, event) {
      const keys = [key('deployment', id), key('control', id), key('events', id), key('events')];
      const answer = (await lua['set-control'](keys, [
        kind,
        by,
        JSON.stringify({ ...event, at: new Date().toISOString() }),
      ])) as string[];
      switch (answer[0]) {
        case 'set':
          await replicated();
          return { outcome: 'set', state: answer[1] as DeploymentState, started: answer[2] === '1' };
        case 'refused':
          return { outcome: 'refused', reason: answer[1]! };
        case 'finished':
          return { outcome: 'finished', state: answer[1] as DeploymentState };
        default:
          return { outcome: 'missing' };
      }
    },
    async withdrawPause(id, event) {
      const keys = [key('deployment', id), key('control', id), key('events', id), key('events')];
      const [outcome] = (await lua['set-control'](keys, [
        'unpause',
        '',
        JSON.stringify({ ...event, at: new Date().toISOString() }),
      ])) as string[];
      if (outcome === 'withdrawn') await replicated();
      return outcome as 'withdrawn' | 'none' | 'paused' | 'finished' | 'missing';
    },
    async control(id) {
      return (await redis.hgetall(key('control', id))) as Control;
    },
    async recordServed(service, env, release) {
      await lua['record-release']([key('releases', service, env)], [release.deployment, JSON.stringify(release)]);
    },
    async history(service, env, limit) {
      return (await redis.lrange(key('releases', service, env), 0, limit - 1)).map((r) => JSON.parse(r) as Served);
    },
    async newestServed(clusters) {
      if (clusters.length === 0) return [];
      const pipeline = redis.pipeline();
      for (const { service, env } of clusters) pipeline.lindex(key('releases', service, env), 0);
      return ((await pipeline.exec()) ?? []).map(([error, found]) => {
        if (error) throw error;
        return typeof found === 'string' ? (JSON.parse(found) as Served) : undefined;
      });
    },
    async vetted(service, env) {
      const [members, recorded] = await Promise.all([
        redis.smembers(key('vetted', service, env)),
        redis.exists(key('vetted', service, env)),
      ]);
      if (recorded) return members.sort();
      // A cluster last deployed before vetted groups were kept: every recorded release succeeded.
      return [...new Set((await this.history(service, env, 100)).map((r) => r.group))].sort();
    },
    async forgetVetted(service, env, group) {
      await redis.srem(key('vetted', service, env), group);
    },
    async holdCluster(service, env, group, limit, work) {
      const id = `${SCALING_DOWN}${group}:${randomUUID().slice(0, 8)}`;
      const [outcome, answer] = (await lua['hold-cluster'](keysOf({ id, service, env }), [
        id,
        group,
        new Date().toISOString(),
        leaseMs,
        limit,
        Date.now(),
        prefix,
      ])) as [string, number | string | string[]];
      if (outcome !== 'held') return { held: false, admitted: outcome === 'passed' ? (answer as string[]) : [] };
      await replicated();
      const name = clusterOf({ service, env });
      const renewing = setInterval(() => void locks.renew(name, answer as number).catch(() => undefined), leaseMs / 3);
      // Given on even when the work fails (whoever it admits then is started by the runner's sweep).
      let value: Awaited<ReturnType<typeof work>>;
      let admitted: string[];
      try {
        value = await work();
      } finally {
        clearInterval(renewing);
        admitted = await this.reclaim({ id, service, env }, limit);
      }
      return { held: true, value, admitted };
    },
    async brokenHolders() {
      return Object.entries(await redis.hgetall(key('broken-holders')));
    },
    async settleBreak(id) {
      await redis.hdel(key('broken-holders'), id);
    },
    async lockBreaks(service, env) {
      return (await redis.lrange(key('lock-breaks', service, env), 0, -1)).map((r) => JSON.parse(r) as LockBreak);
    },
    markRetired,
    async retiredDue(now, limit) {
      const flat = await redis.zrangebyscore(key('retention:due'), '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit);
      return flat.flatMap((member, i) => {
        if (i % 2 === 1) return [];
        const [service, env, group] = member.split(':');
        return service && env && group ? [{ service, env, group, dueAt: Number(flat[i + 1]) }] : [];
      });
    },
    async unmarkRetired(group, dueAt) {
      await lua['unmark-retired']([key('retention:due')], [retiredMember(group), group.dueAt, dueAt ?? '']);
    },
    async clusters() {
      return (await redis.smembers(key('clusters'))).sort().map((pair) => {
        const [service, env] = pair.split(':');
        return { service: service!, env: env! };
      });
    },
    outbox: {
      async take(consumer, idleMs) {
        outboxGroup ??= redis.xgroup('CREATE', outboxKey, 'senders', '0', 'MKSTREAM').catch((error: Error) => {
          if (!/BUSYGROUP/.test(error.message)) {
            outboxGroup = undefined;
            throw error;
          }
        });
        await outboxGroup;
        const entries = (fields: [string, string[]][]) =>
          fields
            .filter(([, f]) => f)
            .map(([id, f]) => ({ id, ...(pairs(f) as { deployment: string; kind: NotificationKind }) }));
        const [, claimed] = (await redis.xautoclaim(outboxKey, 'senders', consumer, idleMs, '0-0', 'COUNT', 20)) as [
          string,
          [string, string[]][],
        ];
        const fresh = (await redis.xreadgroup('GROUP', 'senders', consumer, 'COUNT', 20, 'STREAMS', outboxKey, '>')) as
          [string, [string, string[]][]][] | null;
        return [...entries(claimed), ...entries(fresh?.[0]?.[1] ?? [])];
      },
      async ack(id) {
        await redis.multi().xack(outboxKey, 'senders', id).xdel(outboxKey, id).exec();
      },
    },
  };
}
