/**
 * Sync sets (Mixpanel's answer to clusters drifting apart): the clusters a service's
 * `clusters` metadata groups must run the same image. The report says, for each set, what each
 * cluster runs and what differs; a watch notifies once when a set has been out of sync longer
 * than the alert time outside a running release, and once more when it is back in sync.
 */
import { IncomingWebhook } from '@slack/webhook';
import { outboundFetch, type Logger } from '@slipway/core';
import { syncSets } from '@slipway/metadata-api';
import type { Redis } from 'ioredis';
import { mapAtMost } from '../at-most.js';
import type { Peers } from '../peers.js';
import { isReleaseFinished } from './release.js';
import type { ReleaseStore } from './release-store.js';
import type { OrchestratorComponents as components } from '@slipway/orchestrator-api';
import type { DeploymentStore, Served } from '../deployments/store.js';

export type SyncSet = components['schemas']['SyncSet'];
export type SyncCluster = SyncSet['clusters'][number];

export interface SyncDeps {
  store: DeploymentStore;
  peers: Peers;
}

/** How many services the report reads at once when each asks metadata: their lookups overlap, without a request per service in flight at once. */
const READ_AT_ONCE = 16;
/** With the metadata listed: their reads are Redis's (pipelined), baking and config asked only for old records. */
const LISTED_AT_ONCE = 256;

/**
 * Each service's sync sets as they run now (only `service`'s when named); `withRegions` says
 * each cluster's region. What a cluster serves is read from its newest release and the
 * deployment that made it, which recorded the image's version and the region its configuration
 * named: the config and baking services are asked only for a cluster that serves nothing yet, or
 * for a deployment recorded before it kept them.
 */
export async function syncReport(
  deps: SyncDeps,
  options: { withRegions: boolean; service?: string },
): Promise<SyncSet[]> {
  const services = [...new Set((await deps.store.clusters()).map((c) => c.service))]
    .filter((s) => options.service === undefined || s === options.service)
    .sort();
  const versions = new Map<string, Promise<string | null>>();
  const versionOf = (image: string) => {
    if (!versions.has(image))
      versions.set(
        image,
        deps.peers.image(image).then((i) => i?.version ?? null),
      );
    return versions.get(image)!;
  };
  const newest = new Map<string, Served | undefined>();
  const cluster = async (service: string, env: string): Promise<SyncCluster> => {
    const serving = newest.get(`${service}:${env}`);
    // A release that kept its version and region answers alone (one recorded before asks its deployment).
    if (serving?.version !== undefined && serving.region !== undefined)
      return {
        env,
        ...(options.withRegions && serving.region ? { region: serving.region } : {}),
        image: serving.image,
        version: serving.version,
        commit: serving.commit,
        deployment: serving.deployment,
        odd: false,
      };
    const made = serving ? await deps.store.get(serving.deployment) : undefined;
    let region: string | undefined;
    if (options.withRegions) {
      const params =
        made?.context.params ??
        (await deps.peers
          .config(service, env, serving?.commit)
          .then((c) => c.deploymentParams)
          .catch(() => null));
      if (typeof params?.region === 'string') region = params.region;
    }
    const recorded = made?.image === serving?.image ? made?.context.imageVersion : undefined;
    return {
      env,
      ...(region ? { region } : {}),
      image: serving?.image ?? null,
      version: serving ? (recorded ?? (await versionOf(serving.image))) : null,
      commit: serving?.commit ?? null,
      deployment: serving?.deployment ?? null,
      odd: false,
    };
  };
  // The whole report reads every service's metadata in one list (pages of 1,000); one service's, by its name.
  const listed =
    options.service === undefined && deps.peers.services
      ? new Map((await deps.peers.services()).map((s) => [s.name, s]))
      : undefined;
  const records = await mapAtMost(services, listed ? LISTED_AT_ONCE : READ_AT_ONCE, async (service) => ({
    service,
    sets: [...syncSets((listed ? listed.get(service) : await deps.peers.service(service))?.properties ?? {})],
  }));
  // Every member's newest release in one round trip, not a read per cluster.
  const members = records.flatMap(({ service, sets }) =>
    sets.flatMap(([, envs]) => envs.map((env) => ({ service, env }))),
  );
  const releases = await deps.store.newestServed(members);
  members.forEach(({ service, env }, i) => newest.set(`${service}:${env}`, releases[i]));
  const perService = await mapAtMost(records, LISTED_AT_ONCE, async ({ service, sets }) => {
    const report: SyncSet[] = [];
    for (const [set, envs] of sets) {
      report.push(compare(service, set, await Promise.all(envs.map((env) => cluster(service, env)))));
    }
    return report;
  });
  return perService.flat();
}

/** The image most of the set runs; every cluster running another (or nothing) is the odd one out. */
export function compare(service: string, set: string, clusters: SyncCluster[]): SyncSet {
  const counts = new Map<string, number>();
  for (const c of clusters) if (c.image) counts.set(c.image, (counts.get(c.image) ?? 0) + 1);
  const majority = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
  const differs: string[] = [];
  for (const c of clusters) {
    c.odd = c.image !== majority;
    if (!c.odd) continue;
    const majorityVersion = clusters.find((o) => o.image === majority)?.version;
    differs.push(
      c.image
        ? `${c.env} runs ${c.image}${c.version ? ` (${c.version})` : ''}, the others ${majority}${majorityVersion ? ` (${majorityVersion})` : ''}`
        : `${c.env} runs nothing yet`,
    );
  }
  return { service, set, inSync: differs.length === 0, clusters, differs };
}

export interface SyncWatchOptions extends SyncDeps {
  releases: ReleaseStore;
  redis: Redis;
  prefix: string;
  logger: Logger;
  alertAfterSeconds: number;
  everyMs: number;
  slackUrl?: string;
  webhookUrl?: string;
}

/** Sends one sync notification to the service's slack/webhook properties or the global ones. */
async function tell(options: SyncWatchOptions, set: SyncSet, kind: 'out-of-sync' | 'in-sync'): Promise<void> {
  const properties = (await options.peers.service(set.service))?.properties ?? {};
  const slack = typeof properties.slack === 'string' ? properties.slack : options.slackUrl;
  const hook = typeof properties.webhook === 'string' ? properties.webhook : options.webhookUrl;
  const text =
    kind === 'out-of-sync'
      ? `:warning: ${set.service} ${set.set} is out of sync: ${set.differs.join('; ')}`
      : `:white_check_mark: ${set.service} ${set.set} is back in sync: every cluster runs ${set.clusters[0]?.image ?? 'nothing'}`;
  const sends: Promise<unknown>[] = [];
  if (slack) sends.push(new IncomingWebhook(slack, { timeout: 5000, fetch: outboundFetch }).send({ text }));
  if (hook) {
    sends.push(
      outboundFetch(hook, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ kind, text, sync: set }),
        signal: AbortSignal.timeout(5000),
      }).then((r) => {
        if (!r.ok) throw new Error(`webhook answered ${r.status}`);
      }),
    );
  }
  for (const result of await Promise.allSettled(sends)) {
    if (result.status === 'rejected') options.logger.warn({ err: result.reason, kind }, 'sync notification failed');
  }
}

/**
 * Each set's state in a hash: `outSince` (first seen out of sync outside a release) and
 * `alerted`. HSETNX and HDEL answer 1 to exactly one caller, so two orchestrators notify once.
 */
export function startSyncWatch(options: SyncWatchOptions) {
  const { redis } = options;
  const key = (s: SyncSet) => `${options.prefix}sync:${s.service}:${s.set}`;

  async function check(): Promise<void> {
    const active = await Promise.all((await options.releases.active()).map((id) => options.releases.get(id)));
    const releasing = new Set(
      active.filter((r) => r && !isReleaseFinished(r)).flatMap((r) => r!.items.map((i) => i.service)),
    );
    for (const set of await syncReport(options, { withRegions: false })) {
      if (set.inSync) {
        await redis.hdel(key(set), 'outSince');
        if ((await redis.hdel(key(set), 'alerted')) === 1) await tell(options, set, 'in-sync');
        continue;
      }
      if (releasing.has(set.service)) {
        // A release is bringing it in line: the clock starts again when it is over.
        await redis.hdel(key(set), 'outSince');
        continue;
      }
      await redis.hsetnx(key(set), 'outSince', String(Date.now()));
      const since = Number(await redis.hget(key(set), 'outSince'));
      if (Date.now() - since < options.alertAfterSeconds * 1000) continue;
      if ((await redis.hsetnx(key(set), 'alerted', new Date().toISOString())) === 1) {
        await tell(options, set, 'out-of-sync');
      }
    }
  }

  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void check()
      .catch((error) => options.logger.warn({ err: error }, 'sync check failed'))
      .finally(() => (running = false));
  }, options.everyMs);
  timer.unref();
  return {
    check,
    close() {
      clearInterval(timer);
    },
  };
}
