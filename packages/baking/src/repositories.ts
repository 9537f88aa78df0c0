/**
 * The source repository of each service, as a Git mirror under $SLIPWAY_HOME/baking/repos (core's
 * GitMirror): where the commits' messages and authors come from, and whether one commit is in
 * the history of another (is a bad commit in the artifact built from that one?). The URL is the
 * service's `repo` metadata property, else the one its last build reported.
 */
import {
  createServiceClient,
  NotFoundError,
  pinnedRepository,
  repositoryRefusal,
  unwrap,
  withoutCredentials,
} from '@slipway/core';
import { gitEnvironment, GitMirror, type LogEntry } from '@slipway/core/git';
import type { MetadataPaths } from '@slipway/metadata-api';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
// The orchestrator depends on this package, so its types come from its document, not its package.
import type { OrchestratorPaths } from '@slipway/orchestrator-api';

const run = promisify(execFile);

/**
 * Why the platform may not clone a build repository, or undefined: https or ssh to an allowed
 * Git host (SLIPWAY_GIT_HOSTS), never a path on this disk unless the operator allows private
 * addresses (core's outbound guard). A request names these URLs (a ci token's build report):
 * cloning one is an outbound request like any other.
 */
export function buildRepositoryRefusal(url: string): string | undefined {
  return repositoryRefusal(url);
}

export interface SourceRepositories {
  /** The newest commits of the default branch; [] when the service names no repository. */
  log(service: string, url: string | undefined, limit: number): Promise<LogEntry[]>;
  /** One commit's message and author, when the mirror has it. */
  commit(service: string, url: string | undefined, commit: string): Promise<LogEntry | undefined>;
  /** Fetches now in the background (a build was just reported: its commit is likely new). */
  refresh(service: string, url: string | undefined): Promise<void>;
  /** Whether `commit` is `tip` or in its history; undefined when that cannot be told. */
  contains(service: string, url: string | undefined, tip: string, commit: string): Promise<boolean | undefined>;
}

const REFRESH_MS = 30_000;

export function createSourceRepositories(options: { dir: string }): SourceRepositories {
  const mirrors = new Map<string, { mirror: GitMirror; url: string; fetchedAt: number }>();

  /** The service's mirror, cloned the first time and fetched in the background after that. */
  async function mirrorOf(service: string, given: string | undefined): Promise<GitMirror | undefined> {
    // Credentials never reach the mirror's config (nor a reader): the host's own credential set-up does.
    const url = given && withoutCredentials(given);
    if (!url || buildRepositoryRefusal(url)) return undefined;
    let known = mirrors.get(service);
    if (!known || known.url !== url) {
      known?.mirror.close();
      const dir = join(options.dir, `${service}-${Buffer.from(url).toString('base64url').slice(0, 40)}.git`);
      const mirror = new GitMirror(service, url, dir, 'source repository', () => pinnedRepository(url));
      known = { mirror, url, fetchedAt: Date.now() };
      mirrors.set(service, known);
    }
    try {
      await known.mirror.ensureCloned();
    } catch {
      return undefined;
    }
    if (Date.now() - known.fetchedAt > REFRESH_MS) {
      known.fetchedAt = Date.now();
      void known.mirror.fetch();
    }
    return known.mirror;
  }

  return {
    async refresh(service, url) {
      const mirror = await mirrorOf(service, url);
      const known = mirrors.get(service);
      if (!mirror || !known) return;
      known.fetchedAt = Date.now();
      await mirror.fetch();
    },
    async log(service, url, limit) {
      const mirror = await mirrorOf(service, url);
      if (!mirror) return [];
      return mirror.log(await mirror.defaultRef(), limit).catch(() => []);
    },
    async commit(service, url, commit) {
      const mirror = await mirrorOf(service, url);
      if (!mirror || !/^[0-9a-f]{7,40}$/.test(commit)) return undefined;
      return (await mirror.log(commit, 1).catch(() => []))[0];
    },
    async contains(service, url, tip, commit) {
      if (!/^[0-9a-f]{7,40}$/.test(tip) || !/^[0-9a-f]{7,40}$/.test(commit)) return undefined;
      // An artifact holds its own commit: no repository is needed to tell that.
      if (tip.startsWith(commit) || commit.startsWith(tip)) return true;
      const mirror = await mirrorOf(service, url);
      if (!mirror) return undefined;
      try {
        await run('git', ['merge-base', '--is-ancestor', commit, tip], { cwd: mirror.dir, env: gitEnvironment() });
        return true;
      } catch (error) {
        // Exit 1 is git's "no"; anything else (an unknown commit) is "cannot tell".
        return (error as { code?: number }).code === 1 ? false : undefined;
      }
    },
  };
}

/** A string metadata property of a service (`repo`, `slack`), or undefined. */
export function metadataLookup(
  baseUrl: string,
  token: string,
  key: string,
): (service: string) => Promise<string | undefined> {
  const client = createServiceClient<MetadataPaths>({ baseUrl, token });
  return async (service) => {
    try {
      const value = unwrap(
        await client.GET('/services/{name}/metadata/{key}', { params: { path: { name: service, key } } }),
      );
      return typeof value === 'string' ? value : undefined;
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  };
}

/** Which image each environment of a service runs now, from the orchestrator's clusters. */
export function orchestratorClusters(
  baseUrl: string,
  token: string,
): (service: string) => Promise<{ env: string; image: string; deployment?: string }[]> {
  const client = createServiceClient<OrchestratorPaths>({ baseUrl, token, timeoutMs: 5000 });
  return async (service) => {
    const { data } = await client.GET('/clusters', { params: { query: { service: [service] } } });
    return (data?.items ?? []).flatMap((c) =>
      c.service === service && c.active?.image
        ? [{ env: c.env, image: c.active.image, ...(c.active.deployment ? { deployment: c.active.deployment } : {}) }]
        : [],
    );
  };
}
