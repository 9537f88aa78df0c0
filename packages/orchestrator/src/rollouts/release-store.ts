/**
 * Releases in Redis: each record, the index of all of them, the set of unfinished ones (what
 * the coordinator sweeps), and each release's events as a stream. A write is one Lua script:
 * it checks the revision it was based on (and, for the coordinator, the fencing token of its
 * lease), then moves the record, its indexes and its events together; a stale writer is refused
 * and simply reads again.
 */
import { defineLuaScripts, luaDirectory } from '@slipway/core/redis';
import type { Redis } from 'ioredis';
import { isReleaseFinished, type ReleaseRecord } from './release.js';

export interface ReleaseEvent {
  type: string;
  release: string;
  at: string;
  [key: string]: unknown;
}

export interface ReleaseStore {
  /**
   * Saves a new release with its first event; with `promotes`, claims each target for it in the same
   * step (the newest promotion to a target is the one that may run: see promotion()).
   */
  /** Stores a new release with its first events (one step: a release made finished is never seen unfinished). */
  create(
    release: ReleaseRecord,
    events: Omit<ReleaseEvent, 'release' | 'at'> | Omit<ReleaseEvent, 'release' | 'at'>[],
    promotes?: string[],
  ): Promise<void>;
  /** The release that made the newest promotion to a target (`<service>:<env>`). */
  promotion(target: string): Promise<string | undefined>;
  /**
   * Marks the promotion started on its target if it is still the newest there (start-promotion.lua),
   * just before it submits; answers the release that supersedes it, or undefined when it may submit.
   */
  startPromotion(target: string, id: string): Promise<string | undefined>;
  get(id: string): Promise<ReleaseRecord | undefined>;
  /**
   * Saves `release` if it is still at the revision it was read at (and `fence`, when given, is
   * still the holder's token); answers false otherwise. Events go out with it.
   */
  save(
    release: ReleaseRecord,
    events: Omit<ReleaseEvent, 'release' | 'at'>[],
    fence?: { key: string; token: number },
  ): Promise<boolean>;
  list(limit: number): Promise<ReleaseRecord[]>;
  active(): Promise<string[]>;
  events(id: string, after?: string): Promise<{ id: string; event: ReleaseEvent }[]>;
  follow(
    connection: Pick<Redis, 'xread'>,
    id: string,
    after: string,
    ms: number,
  ): Promise<{ id: string; event: ReleaseEvent }[]>;
  /** The key the coordinator's lease for a release lives under (see lock.ts). */
  leaseName(id: string): string;
  prefix: string;
}

// KEYS: record, index, active set, events stream, lease key (or '' unused), then promotion claims to take
// ARGV: expected revision, record JSON, id, score, finished ('1'/'0'), fence token ('' for none), events…
const SAVE = `
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '-1' then
  if current then return 0 end
else
  if not current then return 0 end
  if tostring(cjson.decode(current).revision) ~= ARGV[1] then return 0 end
end
if ARGV[6] ~= '' and redis.call('HGET', KEYS[5], 'token') ~= ARGV[6] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
if ARGV[5] == '1' then redis.call('SREM', KEYS[3], ARGV[3]) else redis.call('SADD', KEYS[3], ARGV[3]) end
for i = 7, #ARGV do
  redis.call('XADD', KEYS[4], '*', 'event', ARGV[i])
end
for i = 6, #KEYS do
  redis.call('SET', KEYS[i], ARGV[3])
end
return 1`;

export function createRedisReleaseStore({ redis, prefix }: { redis: Redis; prefix: string }): ReleaseStore {
  const key = (...parts: string[]) => `${prefix}${parts.join(':')}`;
  const lua = defineLuaScripts(redis, luaDirectory(new URL('..', import.meta.url).href), 'slipwayRelease', {
    'start-promotion': 2,
  });
  const parse = (entries: [string, string[]][]) =>
    entries.map(([id, fields]) => ({ id, event: JSON.parse(fields[1]!) as ReleaseEvent }));

  async function write(
    release: ReleaseRecord,
    expected: number,
    events: Omit<ReleaseEvent, 'release' | 'at'>[],
    fence?: { key: string; token: number },
    promotes: string[] = [],
  ): Promise<boolean> {
    const at = new Date().toISOString();
    const stored = { ...release, revision: expected + 1 };
    const done = await redis.eval(
      SAVE,
      5 + promotes.length,
      key('release', release.id),
      key('releases'),
      key('releases-active'),
      key('release-events', release.id),
      fence?.key ?? key('no-fence'),
      ...promotes.map((target) => key('promotion', target)),
      String(expected),
      JSON.stringify(stored),
      release.id,
      Date.parse(release.createdAt),
      isReleaseFinished(release) ? '1' : '0',
      fence ? String(fence.token) : '',
      ...events.map((e) => JSON.stringify({ ...e, release: release.id, at })),
    );
    if (done === 1) release.revision = stored.revision;
    return done === 1;
  }

  return {
    prefix,
    leaseName: (id) => `release-${id}`,
    async create(release, events, promotes) {
      if (!(await write(release, -1, [events].flat(), undefined, promotes)))
        throw new Error(`release ${release.id} exists already`);
    },
    async promotion(target) {
      return (await redis.get(key('promotion', target))) ?? undefined;
    },
    async startPromotion(target, id) {
      const [may, by] = (await lua['start-promotion'](
        [key('promotion', target), key('promotion-started', target)],
        [id],
      )) as [number, string?];
      return may === 1 ? undefined : by || 'another promotion';
    },
    async get(id) {
      const raw = await redis.get(key('release', id));
      return raw ? (JSON.parse(raw) as ReleaseRecord) : undefined;
    },
    save: (release, events, fence) => write(release, release.revision, events, fence),
    async list(limit) {
      const ids = await redis.zrevrange(key('releases'), 0, limit - 1);
      const found = await Promise.all(ids.map((id) => this.get(id)));
      return found.filter((r): r is ReleaseRecord => r !== undefined);
    },
    async active() {
      return redis.smembers(key('releases-active'));
    },
    async events(id, after) {
      return parse(
        (await redis.xrange(key('release-events', id), after ? `(${after}` : '-', '+')) as [string, string[]][],
      );
    },
    async follow(connection, id, after, ms) {
      const answer = (await connection.xread('BLOCK', ms, 'STREAMS', key('release-events', id), after)) as
        [string, [string, string[]][]][] | null;
      return answer ? parse(answer[0]![1]) : [];
    },
  };
}
