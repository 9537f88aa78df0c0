/**
 * Bakes as Redis keeps them, under this service's prefix:
 *
 *   bake:<id>            JSON Bake
 *   bakes                ZSET of ids by creation time
 *   log:<id>             STREAM of log lines (so a follower can block for the next one)
 *   cancel:<id>          set when a person cancels a running bake
 *   key:<bakeKey>        the image baked for those inputs
 *   running:<bakeKey>    the bake making it now (so identical requests join it)
 */
import type { BakeState } from '@slipway/baking-api';
import type { Redis } from '@slipway/core/redis';

export type { BakeState };

export interface Bake {
  id: string;
  kind: 'base' | 'service';
  service?: string;
  version?: string;
  bakeKey?: string;
  baseImage?: string;
  artifactSha256?: string;
  /** The source commit (and repository) of the artifact, from its reported build. */
  sourceCommit?: string;
  sourceRepository?: string;
  state: BakeState;
  image?: string;
  reason?: string;
  requestedBy: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
}

export interface LogEntry {
  id: string;
  line: string;
}

const LOG_LENGTH = 10_000;

export interface BakeStore {
  create(bake: Bake): Promise<void>;
  get(id: string): Promise<Bake | undefined>;
  /** The newest bakes first. */
  recent(limit: number): Promise<Bake[]>;
  update(id: string, change: Partial<Bake>): Promise<Bake>;
  log(id: string, line: string): Promise<void>;
  /** Log entries after `after` (a stream id; '0' for all). */
  readLog(id: string, after: string, count?: number): Promise<LogEntry[]>;
  /** Waits up to `ms` for entries after `after`, on a connection of the caller's. */
  waitLog(connection: Pick<Redis, 'xread'>, id: string, after: string, ms: number): Promise<LogEntry[]>;
  requestCancel(id: string): Promise<void>;
  cancelRequested(id: string): Promise<boolean>;
  imageFor(bakeKey: string): Promise<string | undefined>;
  rememberImage(bakeKey: string, image: string): Promise<void>;
  forgetImage(bakeKey: string): Promise<void>;
  /** Claims the bake key for `id`; answers the bake already holding it, if one does. */
  claim(bakeKey: string, id: string, ttlSeconds: number): Promise<string | undefined>;
  /** Gives the bake key back if `id` still holds it: one step, never another bake's claim. */
  unclaim(bakeKey: string, id: string): Promise<void>;
}

/** Deletes a claim only while its holder is the one giving it back (compare and delete, atomic). */
const UNCLAIM = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end return 0`;

export function createRedisBakeStore({ redis, prefix }: { redis: Redis; prefix: string }): BakeStore {
  const k = (key: string) => `${prefix}${key}`;
  const entries = (raw: Array<[string, string[]]> | null | undefined): LogEntry[] =>
    (raw ?? []).map(([id, fields]) => ({ id, line: fields[1] ?? '' }));
  const store: BakeStore = {
    async create(bake) {
      await redis
        .multi()
        .set(k(`bake:${bake.id}`), JSON.stringify(bake))
        .zadd(k('bakes'), Date.now(), bake.id)
        .exec();
    },
    async get(id) {
      const raw = await redis.get(k(`bake:${id}`));
      return raw ? (JSON.parse(raw) as Bake) : undefined;
    },
    async recent(limit) {
      const ids = await redis.zrevrange(k('bakes'), 0, limit - 1);
      if (ids.length === 0) return [];
      const raw = await redis.mget(...ids.map((id) => k(`bake:${id}`)));
      return raw.flatMap((text) => (text ? [JSON.parse(text) as Bake] : []));
    },
    async update(id, change) {
      const bake = { ...(await store.get(id))!, ...change };
      await redis.set(k(`bake:${id}`), JSON.stringify(bake));
      return bake;
    },
    async log(id, line) {
      await redis.xadd(k(`log:${id}`), 'MAXLEN', '~', String(LOG_LENGTH), '*', 'line', line);
    },
    async readLog(id, after, count = 1000) {
      const start = after === '0' ? '-' : `(${after}`;
      return entries((await redis.xrange(k(`log:${id}`), start, '+', 'COUNT', count)) as Array<[string, string[]]>);
    },
    async waitLog(connection, id, after, ms) {
      const answer = (await connection.xread('BLOCK', ms, 'STREAMS', k(`log:${id}`), after)) as Array<
        [string, Array<[string, string[]]>]
      > | null;
      return entries(answer?.[0]?.[1]);
    },
    async requestCancel(id) {
      await redis.set(k(`cancel:${id}`), '1', 'EX', 86_400);
    },
    async cancelRequested(id) {
      return (await redis.exists(k(`cancel:${id}`))) === 1;
    },
    async imageFor(bakeKey) {
      return (await redis.get(k(`key:${bakeKey}`))) ?? undefined;
    },
    async rememberImage(bakeKey, image) {
      await redis.set(k(`key:${bakeKey}`), image);
    },
    async forgetImage(bakeKey) {
      await redis.del(k(`key:${bakeKey}`));
    },
    async claim(bakeKey, id, ttlSeconds) {
      const ok = await redis.set(k(`running:${bakeKey}`), id, 'EX', ttlSeconds, 'NX');
      return ok ? undefined : ((await redis.get(k(`running:${bakeKey}`))) ?? undefined);
    },
    async unclaim(bakeKey, id) {
      await redis.eval(UNCLAIM, 1, k(`running:${bakeKey}`), id);
    },
  };
  return store;
}
