/**
 * Configuration as the routes see it: repositories by service and environment, refs resolved to
 * commits, the three files read and validated, and everything read at a commit cached for ever
 * (bounded by bytes). Unknown repositories are remembered briefly so a typo does not clone on
 * every request.
 */
import { NotFoundError, ServiceUnavailableError, type Logger } from '@slipway/core';
import {
  GitMirror,
  RepositoryNotFoundError,
  isFullCommitId,
  type CommitInfo,
  type Freshness,
  type LogEntry,
} from '@slipway/core/git';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LRUCache } from 'lru-cache';
import {
  FILES,
  diffJson,
  diffLines,
  readConfigFiles,
  toJavaProperties,
  type ConfigError,
  type ConfigFiles,
  type FileKey,
  type KeyDiff,
} from './files.js';

export interface ConfigSnapshot {
  service: string;
  env: string;
  ref: string;
  commit: string;
  committedAt: string;
  author: string;
  message: string;
  files: ConfigFiles;
  valid: boolean;
  errors: ConfigError[];
}

/** An answer and how fresh the clone it came from is. */
export interface Fresh<T> {
  value: T;
  commit: string;
  freshness: Freshness;
}

export interface ConfigDiff {
  service: string;
  env: string;
  from: { ref: string; commit: string };
  to: { ref: string; commit: string };
  files: {
    applicationProperties: KeyDiff | { error: string };
    deploymentParams: KeyDiff | { error: string };
    launchData: { added: string[]; removed: string[] } | { error: string };
  };
}

export interface RefreshResult {
  repository: string;
  fetchedAt?: string;
  staleReason?: string;
}

export interface ReadOptions {
  /**
   * A branch or tag is resolved after a fetch that started after this instant (a deploy's read,
   * asked with Cache-Control: no-cache): a push made before it is always seen.
   */
  fetchedSince?: number;
}

export interface ConfigSource {
  /** The snapshot as JSON text (what GET /config/{service}/{env} answers), cached per commit. */
  snapshot(service: string, env: string, ref?: string, options?: ReadOptions): Promise<Fresh<string>>;
  properties(service: string, env: string, ref?: string): Promise<Fresh<string>>;
  commits(
    service: string,
    env: string,
    options: { limit: number; path?: string; ref?: string },
  ): Promise<Fresh<LogEntry[]>>;
  diff(service: string, env: string, from: string, to: string): Promise<Fresh<ConfigDiff>>;
  file(service: string, env: string, path: string, ref?: string): Promise<Fresh<Buffer>>;
  environments(service: string): Promise<string[]>;
  refresh(target: { service?: string; env?: string }): Promise<RefreshResult[]>;
  close(): void;
}

export interface ConfigSourceOptions {
  /**
   * Where repositories come from. `per-env` (the default): a URL with {service} and {env}, e.g.
   * file:///srv/config/{service}-{env}.git, one repository each. `monorepo`: one repository's URL,
   * holding each service's environments as folders, `<service>/<env>/deployment-params.json` ….
   */
  urlTemplate: string;
  layout?: 'per-env' | 'monorepo';
  /** Where this service keeps its clones ($SLIPWAY_HOME/config). */
  clonesDir: string;
  logger: Logger;
  /** Background fetch period; 0 turns it off. */
  refreshSeconds?: number;
  /** Bytes the cache of immutable reads may hold. */
  cacheBytes?: number;
  /**
   * A branch or tag is resolved after a fetch when the clone was last fetched longer ago than
   * this (default 5 s), so a deploy right after a push gets the pushed commit.
   */
  maxAgeSeconds?: number;
}

const UNKNOWN_REPOSITORY_TTL_MS = 5_000;
const FETCH_CONCURRENCY = 4;

type Cached = string | Buffer | { absent: true } | CommitInfo | LogEntry[] | ConfigDiff;

export function createGitConfigSource(options: ConfigSourceOptions): ConfigSource {
  const repositories = new Map<string, GitMirror>();
  const unknown = new Map<string, number>();
  const cache = new LRUCache<string, Cached>({
    maxSize: options.cacheBytes ?? 64 * 1024 * 1024,
    sizeCalculation: (value) =>
      typeof value === 'string' || Buffer.isBuffer(value) ? Math.max(1, value.length) : JSON.stringify(value).length,
  });

  const monorepo = options.layout === 'monorepo';
  const MONOREPO = 'config';

  /** One service+environment's configuration: its repository, and its folder in it ('' or `search/prod/`). */
  interface Place {
    repo: GitMirror;
    prefix: string;
    /** `search-prod`: in messages and cache keys. */
    name: string;
  }

  function repository(service: string, env: string): GitMirror {
    const name = monorepo ? MONOREPO : `${service}-${env}`;
    let repo = repositories.get(name);
    if (!repo) {
      const url = monorepo
        ? options.urlTemplate
        : options.urlTemplate.replaceAll('{service}', service).replaceAll('{env}', env);
      repo = new GitMirror(name, url, join(options.clonesDir, `${name}.git`), 'configuration repository');
      repositories.set(name, repo);
    }
    return repo;
  }

  async function open(service: string, env: string): Promise<Place> {
    const name = `${service}-${env}`;
    const until = unknown.get(name);
    if (until !== undefined && until > Date.now()) throw new NotFoundError(`no configuration repository ${name}`);
    const repo = repository(service, env);
    try {
      await repo.ensureCloned();
    } catch (error) {
      if (error instanceof RepositoryNotFoundError) {
        unknown.set(name, Date.now() + UNKNOWN_REPOSITORY_TTL_MS);
        repositories.delete(repo.name);
        throw new NotFoundError(error.message);
      }
      throw new ServiceUnavailableError((error as Error).message);
    }
    return { repo, prefix: monorepo ? `${service}/${env}/` : '', name };
  }

  /** In one repository for all, an environment is there at a commit when its folder is. */
  async function mustExist(place: Place, commit: string): Promise<void> {
    if (!place.prefix) return;
    const there = await cached(`exists:${place.name}:${commit}`, async () =>
      (await place.repo.listFiles(commit, place.prefix.slice(0, -1))).length > 0 ? 'yes' : 'no',
    );
    if (there === 'no')
      throw new NotFoundError(
        `no configuration for ${place.name} at ${commit.slice(0, 12)}: the repository has no folder ${place.prefix}`,
      );
  }

  const maxAgeMs = (options.maxAgeSeconds ?? 5) * 1000;

  async function resolve(
    repo: GitMirror,
    ref: string | undefined,
    read: ReadOptions = {},
  ): Promise<{ ref: string; info: CommitInfo }> {
    // A name moves with pushes (the default branch too, master → main); a full commit id never does.
    if (ref === undefined || !isFullCommitId(ref)) {
      if (read.fetchedSince !== undefined) await repo.fetchSince(read.fetchedSince);
      else await repo.fetchIfOlder(maxAgeMs);
    }
    const name = ref ?? (await repo.defaultBranch());
    const cacheKey = `commit:${repo.name}:${name}`;
    if (isFullCommitId(name)) {
      const known = cache.get(cacheKey) as CommitInfo | undefined;
      if (known) return { ref: name, info: known };
    }
    const info = await repo.resolve(ref ?? (await repo.defaultRef()));
    if (!info) throw new NotFoundError(`no ref '${name}' in configuration repository ${repo.name}`);
    if (isFullCommitId(name)) cache.set(cacheKey, info);
    return { ref: name, info };
  }

  async function readAt(place: Place, commit: string, path: string): Promise<Buffer | undefined> {
    const key = `file:${place.name}:${commit}:${path}`;
    const cached = cache.get(key);
    if (cached !== undefined) return Buffer.isBuffer(cached) ? cached : undefined;
    const content = await place.repo.readFile(commit, `${place.prefix}${path}`);
    cache.set(key, content ?? { absent: true });
    return content;
  }

  async function filesAt(place: Place, commit: string) {
    const keys = Object.keys(FILES) as FileKey[];
    const contents = await Promise.all(keys.map((key) => readAt(place, commit, FILES[key])));
    return readConfigFiles(
      Object.fromEntries(keys.map((key, i) => [key, contents[i]])) as Record<FileKey, Buffer | undefined>,
    );
  }

  async function cached<T extends Cached>(key: string, make: () => Promise<T>): Promise<T> {
    const hit = cache.get(key) as T | undefined;
    if (hit !== undefined) return hit;
    const value = await make();
    cache.set(key, value);
    return value;
  }

  const fresh = <T>(place: Place, commit: string, value: T): Fresh<T> => ({
    value,
    commit,
    freshness: { ...place.repo.freshness },
  });

  /** The place opened and the ref resolved, the environment there at that commit. */
  async function at(service: string, env: string, ref: string | undefined, read?: ReadOptions) {
    const place = await open(service, env);
    const resolved = await resolve(place.repo, ref, read);
    await mustExist(place, resolved.info.commit);
    return { place, ...resolved };
  }

  async function refreshAll(repos: GitMirror[]): Promise<void> {
    const queue = [...repos];
    await Promise.all(
      Array.from({ length: FETCH_CONCURRENCY }, async () => {
        for (let repo = queue.shift(); repo; repo = queue.shift()) await repo.fetch();
      }),
    );
  }

  // Clones made before a restart are served (and fetched) from the start.
  void readdir(options.clonesDir)
    .then((entries) => {
      for (const entry of entries) {
        if (monorepo && entry === `${MONOREPO}.git`) repository('', '');
        const match = /^([a-z0-9]{1,32})-([a-z0-9]{1,32})\.git$/.exec(entry);
        if (match && !monorepo) repository(match[1]!, match[2]!);
      }
    })
    .catch(() => {});

  const timer =
    (options.refreshSeconds ?? 30) > 0
      ? setInterval(
          () => {
            refreshAll([...repositories.values()].filter((repo) => repo.cloned)).catch((error: unknown) =>
              options.logger.error({ err: error }, 'background fetch failed'),
            );
          },
          (options.refreshSeconds ?? 30) * 1000,
        )
      : undefined;
  timer?.unref();

  return {
    async snapshot(service, env, ref, read) {
      const { place, ...resolved } = await at(service, env, ref, read);
      const commit = resolved.info.commit;
      const body = await cached(`snapshot:${place.name}:${resolved.ref}:${commit}`, async () => {
        const { files, errors } = await filesAt(place, commit);
        const snapshot: ConfigSnapshot = {
          service,
          env,
          ref: resolved.ref,
          commit,
          committedAt: resolved.info.committedAt,
          author: resolved.info.author,
          message: resolved.info.message,
          files,
          valid: errors.length === 0,
          errors,
        };
        return JSON.stringify(snapshot);
      });
      return fresh(place, commit, body);
    },

    async properties(service, env, ref) {
      const { place, info } = await at(service, env, ref);
      const text = await cached(`properties:${place.name}:${info.commit}`, async () => {
        const content = await readAt(place, info.commit, FILES.applicationProperties);
        const { files, errors } = readConfigFiles({
          applicationProperties: content,
          deploymentParams: Buffer.from('{}'),
          launchData: undefined,
        });
        const propertyErrors = errors.filter((e) => e.file === FILES.applicationProperties);
        if (propertyErrors.length > 0 || !files.applicationProperties) {
          return `# ${FILES.applicationProperties} at ${info.commit} is not valid: ${propertyErrors.map((e) => e.message).join('; ')}\n`;
        }
        return toJavaProperties(files.applicationProperties);
      });
      return fresh(place, info.commit, text);
    },

    async commits(service, env, { limit, path, ref }) {
      const { place, info } = await at(service, env, ref);
      // History reachable from a commit never changes. In one repository for all, an environment's
      // history is its folder's, its files named as in a repository of its own.
      const entries = await cached(`log:${place.name}:${info.commit}:${limit}:${path ?? ''}`, async () =>
        (await place.repo.log(info.commit, limit, `${place.prefix}${path ?? ''}` || undefined)).map((entry) => ({
          ...entry,
          files: entry.files.filter((f) => f.startsWith(place.prefix)).map((f) => f.slice(place.prefix.length)),
        })),
      );
      return fresh(place, info.commit, entries);
    },

    async diff(service, env, from, to) {
      const place = await open(service, env);
      const [a, b] = await Promise.all([resolve(place.repo, from), resolve(place.repo, to)]);
      const value = await cached(`diff:${place.name}:${a.info.commit}:${b.info.commit}`, async () => {
        const [before, after] = await Promise.all([filesAt(place, a.info.commit), filesAt(place, b.info.commit)]);
        const broken = (key: FileKey) => {
          const errors = [...before.errors, ...after.errors].filter(
            (e) => e.file === FILES[key] && e.path === '' && !e.message.endsWith('is missing'),
          );
          return errors.length > 0 ? { error: errors.map((e) => `${e.file}: ${e.message}`).join('; ') } : undefined;
        };
        const diff: ConfigDiff = {
          service,
          env,
          from: { ref: from, commit: a.info.commit },
          to: { ref: to, commit: b.info.commit },
          files: {
            applicationProperties:
              broken('applicationProperties') ??
              diffJson(before.files.applicationProperties ?? {}, after.files.applicationProperties ?? {}),
            deploymentParams:
              broken('deploymentParams') ??
              diffJson(before.files.deploymentParams ?? {}, after.files.deploymentParams ?? {}),
            launchData: broken('launchData') ?? diffLines(before.files.launchData ?? [], after.files.launchData ?? []),
          },
        };
        return diff;
      });
      return fresh(place, b.info.commit, value);
    },

    async file(service, env, path, ref) {
      const { place, info } = await at(service, env, ref);
      const content = await readAt(place, info.commit, path);
      if (!content) throw new NotFoundError(`no file ${path} at ${info.commit.slice(0, 12)} in ${place.name}`);
      return fresh(place, info.commit, content);
    },

    async environments(service) {
      if (monorepo) {
        // The folders under the service's, at the default branch.
        const { repo } = await open(service, '');
        const { info } = await resolve(repo, undefined);
        const folders = await cached(`envs:${service}:${info.commit}`, async () =>
          (await repo.listFiles(info.commit, service, { folders: true }))
            .map((path) => path.slice(service.length + 1))
            .join('\n'),
        );
        return folders
          .split('\n')
          .filter((env) => /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/.test(env))
          .sort();
      }
      const envs = new Set<string>();
      const template = options.urlTemplate;
      if (template.startsWith('file://')) {
        const path = fileURLToPath(template.replaceAll('{service}', service));
        const pattern = new RegExp(
          `^${escapeRegex(basename(path)).replace(escapeRegex('{env}'), '([a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?)')}$`,
        );
        if (existsSync(dirname(path)) && !dirname(path).includes('{env}')) {
          for (const entry of await readdir(dirname(path))) {
            const env = pattern.exec(entry)?.[1];
            if (env) envs.add(env);
          }
        }
      }
      for (const entry of await readdir(options.clonesDir).catch(() => [] as string[])) {
        const match = /^([a-z0-9]{1,32})-([a-z0-9]{1,32})\.git$/.exec(entry);
        if (match && match[1] === service) envs.add(match[2]!);
      }
      return [...envs].sort();
    },

    async refresh({ service, env }) {
      let targets: GitMirror[];
      if (monorepo) targets = [repository('', '')];
      else if (service && env) {
        const repo = repository(service, env);
        unknown.delete(repo.name);
        targets = [repo];
      } else {
        targets = [...repositories.values()].filter((repo) => !service || repo.name.startsWith(`${service}-`));
      }
      await refreshAll(targets);
      return targets.map((repo) => ({ repository: repo.name, ...repo.freshness }));
    },

    close() {
      if (timer) clearInterval(timer);
      for (const repo of repositories.values()) repo.close();
    },
  };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
