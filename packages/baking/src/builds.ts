/**
 * Build results by source commit, beside the artifacts built from those commits: what CI (or
 * `slipway build`) reported for each commit of a service — running, passed, failed — with its
 * link, and the artifact version built from it. One record per (service, commit), merged by one
 * Lua script so two reports never lose each other's fields; a version names one commit.
 */
import type { Redis } from 'ioredis';

export type BuildStatus = 'running' | 'passed' | 'failed';

export interface Build {
  service: string;
  /** The full 40-character commit id. */
  commit: string;
  status: BuildStatus;
  url?: string;
  /** The artifact version built from this commit, once there is one. */
  version?: string;
  /** Where the commit lives (the service's repository). */
  repo?: string;
  /** Who reported it last: a token's subject, or `github`. */
  reportedBy: string;
  reportedAt: string;
}

export interface BuildStore {
  record(build: Build): Promise<Build>;
  get(service: string, commit: string): Promise<Build | undefined>;
  /** Newest report first. */
  list(service: string, limit: number): Promise<Build[]>;
  /** Every service's, newest report first (the newest RECENT_KEPT reports are indexed across services). */
  recent(limit: number): Promise<Build[]>;
  byVersion(service: string, version: string): Promise<Build | undefined>;
  /** True the first time a webhook delivery id is seen (kept a week), false for a replay. */
  firstDelivery(id: string): Promise<boolean>;
}

/** How many of the newest reports the index across services keeps. */
export const RECENT_KEPT = 1000;

// KEYS: record hash, recent zset, versions hash, recent-across-services zset. ARGV: commit,
// report JSON, score, `service commit`, how many the index across services keeps.
// Fields the new report leaves out are kept from the old one; a version once given stays.
const RECORD = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
local new = cjson.decode(ARGV[2])
if old then
  local merged = cjson.decode(old)
  for k, v in pairs(new) do
    if not (k == 'version' and merged.version) then merged[k] = v end
  end
  new = merged
end
local body = cjson.encode(new)
redis.call('HSET', KEYS[1], ARGV[1], body)
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if new.version then redis.call('HSETNX', KEYS[3], new.version, ARGV[1]) end
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[4])
redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -tonumber(ARGV[5]) - 1)
return body`;

export function createRedisBuildStore({ redis, prefix }: { redis: Redis; prefix: string }): BuildStore {
  const key = (service: string, what: string) => `${prefix}builds:${service}:${what}`;
  const parse = (raw: string | null) => (raw ? (JSON.parse(raw) as Build) : undefined);
  const store: BuildStore = {
    async record(build) {
      const body = (await redis.eval(
        RECORD,
        4,
        key(build.service, 'records'),
        key(build.service, 'recent'),
        key(build.service, 'versions'),
        `${prefix}builds-recent`,
        build.commit,
        JSON.stringify(build),
        Date.parse(build.reportedAt),
        `${build.service} ${build.commit}`,
        RECENT_KEPT,
      )) as string;
      return JSON.parse(body) as Build;
    },
    async get(service, commit) {
      return parse(await redis.hget(key(service, 'records'), commit));
    },
    async firstDelivery(id) {
      return (await redis.set(`${prefix}deliveries:${id}`, '1', 'EX', 7 * 86_400, 'NX')) === 'OK';
    },
    async list(service, limit) {
      const commits = await redis.zrevrange(key(service, 'recent'), 0, limit - 1);
      if (commits.length === 0) return [];
      const raws = await redis.hmget(key(service, 'records'), ...commits);
      return raws.map(parse).filter((b): b is Build => !!b);
    },
    async recent(limit) {
      const pairs = (await redis.zrevrange(`${prefix}builds-recent`, 0, limit - 1)).map((m) => m.split(' '));
      const raws = await Promise.all(pairs.map(([service, commit]) => redis.hget(key(service!, 'records'), commit!)));
      return raws.map(parse).filter((b): b is Build => !!b);
    },
    async byVersion(service, version) {
      const commit = await redis.hget(key(service, 'versions'), version);
      return commit ? store.get(service, commit) : undefined;
    },
  };
  return store;
}

/**
 * A GitHub `workflow_run` or `check_suite` webhook as a build report, or undefined for an event
 * that says nothing about a build (a `requested` action, another event).
 */
export function buildFromGitHub(
  event: string,
  payload: Record<string, unknown>,
): Pick<Build, 'commit' | 'status' | 'url' | 'repo'> | undefined {
  const run = (
    event === 'workflow_run' ? payload.workflow_run : event === 'check_suite' ? payload.check_suite : undefined
  ) as { head_sha?: string; status?: string; conclusion?: string | null; html_url?: string; url?: string } | undefined;
  if (!run?.head_sha || !/^[0-9a-f]{40}$/.test(run.head_sha)) return undefined;
  const status: BuildStatus =
    run.status !== 'completed'
      ? 'running'
      : run.conclusion === 'success' || run.conclusion === 'neutral'
        ? 'passed'
        : 'failed';
  const repository = payload.repository as { html_url?: string } | undefined;
  const url =
    run.html_url ?? (repository?.html_url ? `${repository.html_url}/commit/${run.head_sha}/checks` : undefined);
  return {
    commit: run.head_sha,
    status,
    ...(url ? { url } : {}),
    ...(repository?.html_url ? { repo: repository.html_url } : {}),
  };
}
