/**
 * The builds behind artifacts: CI reports a commit's build (POST /builds, or GitHub's
 * `workflow_run` / `check_suite` webhooks signed with X-Hub-Signature-256), and
 * GET /services/{s}/commits lists the service's recent commits with their build, the artifact
 * version built from each, and the environments running it now.
 */
import type { CloudProvider } from '@slipway/cloud';
import {
  ConflictError,
  InputError,
  NotAuthenticatedError,
  NotAllowedError,
  NotFoundError,
  principalOf,
  rawBodyOf,
  typedOperations,
  typedQuery,
  UnprocessableError,
  withoutCredentials,
  type OperationHandlers,
} from '@slipway/core';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { buildFromGitHub, type Build, type BuildStore } from './builds.js';
import type { ServiceRegistry } from './operations.js';
import { buildRepositoryRefusal, type SourceRepositories } from './repositories.js';
import type { BakingOperations as operations } from '@slipway/baking-api';

/** The operations this file answers; operations.ts answers the rest of the document. */
export type BuildOperationId =
  'reportBuild' | 'githubWebhook' | 'listCommits' | 'listRecentCommits' | 'getVersionBuild' | 'versionContains';

export interface BuildOperationsOptions {
  builds: BuildStore;
  repositories: SourceRepositories;
  services: ServiceRegistry;
  cloud: Pick<CloudProvider, 'getImage'>;
  /** The service's `repo` metadata property. */
  repoOf(service: string): Promise<string | undefined>;
  /** What each environment of a service runs now, and the deployment that put it there; [] when that cannot be known. */
  runningImages(service: string): Promise<{ env: string; image: string; deployment?: string }[]>;
  /** The secret GitHub signs a service's webhooks with (one per service); undefined turns them away. */
  githubSecret(service: string): string | undefined;
  /** Told of each build that turns failed (build-notify.ts: Slack, with Revert buttons). */
  onFailed?(build: Build, about: FailedBuildFacts): Promise<void>;
}

/** GitHub's X-Hub-Signature-256: `sha256=` HMAC-SHA256 of the exact body, compared in constant time. */
export function verifyGitHubSignature(secret: string, body: Buffer, header: string | undefined): boolean {
  if (!header?.startsWith('sha256=')) return false;
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** What is known of a failed build's commit, asked only when needed. */
export interface FailedBuildFacts {
  /** The environments whose running artifact contains the commit, each with the deployment serving it. */
  runningWith(): Promise<{ env: string; deployment?: string }[]>;
  describe(): Promise<{ message?: string; author?: string } | undefined>;
}

/** A handler for each build operation of src/schema/openapi.yaml, typed from it. */
export function createBuildOperations(options: BuildOperationsOptions): OperationHandlers {
  const { builds, repositories, services } = options;

  async function mustService(service: string): Promise<void> {
    if (!(await services.exists(service)))
      throw new NotFoundError(`no service named ${service} in the metadata registry`);
  }

  /** The service's repository, without any credentials its URL carried (what is shown and cloned). */
  async function repoUrl(service: string): Promise<string | undefined> {
    const fromMetadata = await options.repoOf(service).catch(() => undefined);
    const url = fromMetadata ?? (await builds.list(service, 20)).find((b) => b.repo)?.repo;
    return url && withoutCredentials(url);
  }

  /** Commit → the environments whose running artifact was built from it. */
  async function whereRunning(service: string): Promise<Map<string, string[]>> {
    const running = await options.runningImages(service).catch(() => []);
    const byCommit = new Map<string, string[]>();
    for (const { env, image } of running) {
      const version = (await options.cloud.getImage(image).catch(() => undefined))?.version;
      const build = version ? await builds.byVersion(service, version) : undefined;
      if (build) byCommit.set(build.commit, [...(byCommit.get(build.commit) ?? []), env]);
    }
    return byCommit;
  }

  /** Records a report; a build that turns failed is announced (without waiting for it). */
  async function record(build: Build): Promise<Build> {
    const before = await builds.get(build.service, build.commit);
    const recorded = await builds.record(build);
    // Its commit is likely newer than the mirror: fetch now rather than at the next refresh.
    void repoUrl(build.service)
      .then((url) => repositories.refresh(build.service, url))
      .catch(() => {});
    if (recorded.status === 'failed' && before?.status !== 'failed') {
      void options.onFailed?.(recorded, {
        runningWith: () => runningWith(recorded.service, recorded.commit),
        describe: async () => repositories.commit(recorded.service, await repoUrl(recorded.service), recorded.commit),
      });
    }
    return recorded;
  }

  /** The environments whose running artifact contains `commit`, each with the deployment serving it. */
  async function runningWith(service: string, commit: string): Promise<{ env: string; deployment?: string }[]> {
    const url = await repoUrl(service);
    const envs: { env: string; deployment?: string }[] = [];
    for (const { env, image, deployment } of await options.runningImages(service).catch(() => [])) {
      const version = (await options.cloud.getImage(image).catch(() => undefined))?.version;
      const build = version ? await builds.byVersion(service, version) : undefined;
      if (build && (await repositories.contains(service, url, build.commit, commit)))
        envs.push({ env, ...(deployment ? { deployment } : {}) });
    }
    return envs;
  }

  return typedOperations<Pick<operations, BuildOperationId>>({
    async reportBuild(req, res) {
      const body = req.body;
      await mustService(body.service);
      // Stored and shown without the credentials a CI's origin carries (https://token:secret@…).
      const repo = body.repo === undefined ? undefined : withoutCredentials(body.repo);
      const refusal = repo === undefined ? undefined : buildRepositoryRefusal(repo);
      if (refusal) throw new UnprocessableError(`repo ${repo} cannot be cloned by the platform: ${refusal}`);
      // Bound to the service's repository, as a GitHub delivery is: any CI's token could tie its
      // commits and versions (kept once given) to another repository otherwise.
      const registered = repo === undefined ? undefined : await repoUrl(body.service);
      if (repo !== undefined && registered && !sameRepository(repo, registered))
        throw new NotAllowedError(
          `repo ${repo} is not ${body.service}'s repository ${registered}: a build is reported from the service's own`,
        );
      const build = await record({
        ...body,
        ...(repo === undefined ? {} : { repo }),
        reportedBy: principalOf(req).subject,
        reportedAt: new Date().toISOString(),
      });
      res.status(201).json(build);
    },

    async githubWebhook(req, res) {
      // Each service has its own secret: a body signed for one service is not good for another.
      const service = typedQuery(req).service;
      const secret = options.githubSecret(service);
      const raw = rawBodyOf(req);
      const signature = req.headers['x-hub-signature-256'];
      if (!secret || !raw || !verifyGitHubSignature(secret, raw, typeof signature === 'string' ? signature : undefined))
        throw new NotAuthenticatedError(
          `X-Hub-Signature-256 does not match this body signed with ${service}'s webhook secret`,
        );
      await mustService(service);
      const event = String(req.headers['x-github-event'] ?? '');
      if (event === 'ping') {
        res.status(200).json({ ok: true });
        return;
      }
      // The service is bound to its repository: a signed delivery about another one is not its build.
      const registered = await repoUrl(service);
      const from = (req.body as { repository?: Record<string, unknown> } | undefined)?.repository ?? {};
      const named = ['html_url', 'clone_url', 'ssh_url', 'git_url']
        .map((k) => from[k])
        .filter((v) => typeof v === 'string');
      if (!registered)
        throw new UnprocessableError(
          `${service} names no repository (its repo property): set it to the repository this webhook comes from`,
        );
      if (!named.some((url) => sameRepository(url as string, registered)))
        throw new NotAllowedError(
          `this delivery is about ${String(from.full_name ?? from.html_url ?? 'no repository')}, not ${service}'s repository ${registered}`,
        );
      // A delivery is acted on once: the same one sent again (a replay) is refused.
      const delivery = req.headers['x-github-delivery'];
      if (typeof delivery !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(delivery))
        throw new InputError('X-GitHub-Delivery is required (the delivery id GitHub sends)');
      if (!(await builds.firstDelivery(delivery)))
        throw new ConflictError(`delivery ${delivery} was received already: a delivery is acted on once`);
      const report = buildFromGitHub(event, req.body);
      if (!report) {
        res.status(202).json({ ignored: `${event || 'this'} event says nothing about a build` });
        return;
      }
      const build = await record({
        service,
        ...report,
        reportedBy: 'github',
        reportedAt: new Date().toISOString(),
      });
      res.status(201).json(build);
    },

    async listCommits(req, res) {
      const service = req.params.service;
      await mustService(service);
      const limit = typedQuery(req).limit ?? 20;
      const url = await repoUrl(service);
      const [log, reported, running] = await Promise.all([
        repositories.log(service, url, limit),
        builds.list(service, limit * 2),
        whereRunning(service),
      ]);
      const byCommit = new Map(reported.map((b) => [b.commit, b]));
      const item = (commit: string, entry?: LogEntry) => summaryOf(commit, byCommit.get(commit), entry, running);
      const listed = new Set(log.map((e) => e.commit));
      const items = [
        ...log.map((e) => item(e.commit, e)),
        // Reported commits the mirror does not show (no repository known, or not on the default branch).
        ...(await Promise.all(
          reported
            .filter((b) => !listed.has(b.commit))
            .map(async (b) => item(b.commit, await repositories.commit(service, url, b.commit))),
        )),
      ].slice(0, limit);
      res.json({ service, ...(url ? { repo: url } : {}), items });
    },

    async listRecentCommits(req, res) {
      const limit = typedQuery(req).limit ?? 10;
      const recent = await builds.recent(limit);
      // Each service named once: its repository and where it runs, asked of at most `limit` services.
      const services = [...new Set(recent.map((b) => b.service))];
      const facts = new Map(
        await Promise.all(
          services.map(async (service) => {
            const [url, running] = await Promise.all([repoUrl(service), whereRunning(service)]);
            return [service, { url, running }] as const;
          }),
        ),
      );
      const items = await Promise.all(
        recent.map(async (build) => {
          const { url, running } = facts.get(build.service)!;
          const entry = await repositories.commit(build.service, url, build.commit).catch(() => undefined);
          return { service: build.service, ...summaryOf(build.commit, build, entry, running) };
        }),
      );
      res.json({ items });
    },

    async getVersionBuild(req, res) {
      const { service, version } = req.params;
      const build = await builds.byVersion(service, version);
      if (!build)
        throw new NotFoundError(`no build of ${service} ${version} is recorded: its source commit is unknown`);
      res.json(build);
    },

    async versionContains(req, res) {
      const { service, version, commit } = req.params;
      const build = await builds.byVersion(service, version);
      if (!build)
        throw new NotFoundError(`no build of ${service} ${version} is recorded: its source commit is unknown`);
      const contains = await repositories.contains(service, await repoUrl(service), build.commit, commit);
      res.json({ service, version, source: build.commit, commit, contains: contains ?? null });
    },
  });
}

type LogEntry = { message: string; author: string; date: string };

/** One commit as GET …/commits lists it: its log entry, its build, its version and where it runs. */
function summaryOf(
  commit: string,
  build: Build | undefined,
  entry: LogEntry | undefined,
  running: Map<string, string[]>,
) {
  return {
    commit,
    ...(entry ? { message: entry.message.split('\n')[0], author: entry.author, date: entry.date } : {}),
    ...(build
      ? { build: { status: build.status, ...(build.url ? { url: build.url } : {}), reportedAt: build.reportedAt } }
      : {}),
    ...(build?.version ? { version: build.version } : {}),
    runningIn: running.get(commit) ?? [],
  };
}

/** Two URLs of one repository, whatever the scheme: host and path, without `.git`, credentials or case. */
export function sameRepository(a: string, b: string): boolean {
  const key = (url: string) => {
    const scp = /^[\w.-]+@([\w.-]+):(?!\/\/)(.+)$/.exec(url);
    let host: string;
    let path: string;
    if (scp) [host, path] = [scp[1]!, scp[2]!];
    else {
      try {
        const parsed = new URL(url);
        [host, path] = [parsed.hostname, parsed.pathname];
      } catch {
        return url;
      }
    }
    return `${host}/${path.replace(/^\/+|\/+$/g, '').replace(/\.git$/, '')}`.toLowerCase();
  };
  return key(a) === key(b);
}
