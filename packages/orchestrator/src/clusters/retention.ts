/**
 * Retained groups cost as much as the serving one while they keep their instances. A cluster whose
 * deployment-params names `strategy.scaleDownAfterSeconds` has each retained group scaled to zero
 * that long after it left service (Spinnaker's scaleDown); an undo or a rollback to it scales it
 * back up (create-server-group) and its record says how long that took.
 *
 * When a group left service is read from the deployment records: the one that replaced it (its
 * `previous`, taken out of service) or the one that made it and turned back. A sweep (any number of
 * orchestrators may run it) scales a group down holding its cluster's lock, the one a deployment
 * is admitted with (no slot, a lease of its own): never while a deployment holds the cluster, and
 * a deployment asked for meanwhile waits for it (queue) or is told to try again in a few seconds.
 * While no vetted group serves, the newest vetted one is kept warm: it is what a deployment would
 * go back to.
 */
import type { CloudProvider, ServerGroup } from '@slipway/cloud';
import { clusterName, type Logger } from '@slipway/core';
import type { Deployment } from '../deployments/deployment.js';
import { cloudOf, type RegionalDeps } from '../actions/regions.js';
import type { DeploymentStore } from '../deployments/store.js';

export interface RetentionDeps extends RegionalDeps {
  store: DeploymentStore;
  logger: Logger;
  /** The slots (for the deployments its hold gives the cluster on to). */
  limit?: number;
  /** Starts deployments admitted as it gives a cluster on (else the runner's sweep does). */
  start?: (ids: string[]) => Promise<void>;
}

/** When a disabled group left service, and after how long it is to be scaled down, from the deployment that retired it. */
export function retirement(group: string, deployments: Deployment[]): { at: number; after?: number } | undefined {
  const retiredBy = deployments.find(
    (d) =>
      d.finishedAt &&
      ((d.context.previous === group && d.context.previousDisabled && d.state === 'succeeded') ||
        (d.context.group === group && d.state !== 'succeeded')),
  );
  if (!retiredBy) return undefined;
  const after = retiredBy.context.params?.strategy.scaleDownAfterSeconds;
  return { at: Date.parse(retiredBy.finishedAt!), ...(after !== undefined ? { after } : {}) };
}

/**
 * One pass over every cluster: each retained group past its time scaled to zero. Answers the groups
 * scaled down. Each is scaled down holding its cluster's lock (as a deployment would), its state and
 * its deployments read again once held: an undo re-enabling it either came first (and it is left
 * serving) or waits (queued) or is refused until it is done.
 */
export async function scaleDownRetained(deps: RetentionDeps, now = Date.now()): Promise<string[]> {
  const scaled: string[] = [];
  for (const { service, env } of await deps.store.clusters()) {
    if (await deps.store.holder(service, env)) continue;
    const recent = (await deps.store.list({ service, env, limit: 30 })).items;
    const cloud = cloudOf(deps, recent[0]?.context.params?.region);
    for (const candidate of (await cloud.listServerGroups(clusterName(service, env))).filter(due(recent, now))) {
      const hold = await deps.store.holdCluster(service, env, candidate.name, deps.limit ?? 1, async () => {
        const groups = await cloud.listServerGroups(clusterName(service, env));
        const g = groups.find((x) => x.name === candidate.name);
        const fresh = (await deps.store.list({ service, env, limit: 30 })).items;
        if (!g || !due(fresh, now)(g) || (await lastToGoBackTo(deps.store, service, env, groups)) === g.name)
          return false;
        await cloud.resizeServerGroup(g.name, { min: 0, desired: 0, max: g.max });
        deps.logger.info({ group: g.name, was: g.desired }, 'retained group scaled to zero');
        return true;
      });
      if (hold.held && hold.value) scaled.push(candidate.name);
      await deps.start?.(hold.admitted);
    }
  }
  return scaled;
}

/** The newest vetted group when no vetted group serves: what a deployment or rollback would go back to. */
async function lastToGoBackTo(store: DeploymentStore, service: string, env: string, groups: ServerGroup[]) {
  const vetted = new Set(await store.vetted(service, env));
  const candidates = groups.filter((g) => vetted.has(g.name));
  return candidates.some((g) => !g.disabled && g.desired > 0) ? undefined : candidates.at(-1)?.name;
}

/** A group out of service with instances, retired longer ago than its deployment-params say to keep them. */
const due = (deployments: Deployment[], now: number) => (g: ServerGroup) => {
  if (!g.disabled || g.desired === 0) return false;
  const retired = retirement(g.name, deployments);
  return retired?.after !== undefined && now >= retired.at + retired.after * 1000;
};

/**
 * The target groups of traffic splits whose record was lost (AWS: a crash between making one and
 * saving so, a deployment whose end never ran), in every region a cluster names, deleted once
 * unused for `graceMs` (CloudProvider.sweepTrafficSplits). Answers the names deleted.
 */
export async function sweepLeftoverSplits(deps: RetentionDeps, graceMs: number): Promise<string[]> {
  const providers = new Map<CloudProvider, string | undefined>([[deps.cloud, undefined]]);
  for (const { service, env } of await deps.store.clusters()) {
    const region = (await deps.store.list({ service, env, limit: 1 })).items[0]?.context.params?.region;
    try {
      const cloud = cloudOf(deps, region);
      if (!providers.has(cloud)) providers.set(cloud, region);
    } catch {
      // A region no longer served (its network unset): nothing Slipway can reach there.
    }
  }
  const removed: string[] = [];
  for (const [cloud, region] of providers) {
    // One region refused (denied there, unreachable) is said and tried next sweep; never the others'.
    try {
      const gone = (await cloud.sweepTrafficSplits?.({ graceMs })) ?? [];
      if (gone.length)
        deps.logger.info({ region, targetGroups: gone }, "leftover traffic splits' target groups deleted");
      removed.push(...gone);
    } catch (error) {
      deps.logger.warn(
        { err: error, region: region ?? 'default' },
        `leftover traffic splits' sweep failed in ${region ?? 'the default region'}; tried again next sweep`,
      );
    }
  }
  return removed;
}

export function startRetentionSweep(
  deps: RetentionDeps & {
    everyMs: number;
    /** The leftover splits' sweep, on the same clock, at most this often, after this grace. */
    splits?: { everyMs: number; graceMs: number };
  },
) {
  let running = false;
  let splitsSwept = 0;
  const sweep = async () => {
    if (running) return;
    running = true;
    try {
      await scaleDownRetained(deps);
    } catch (error) {
      deps.logger.warn({ err: error }, 'retention sweep failed; tried again');
    }
    try {
      if (deps.splits && Date.now() - splitsSwept >= deps.splits.everyMs) {
        splitsSwept = Date.now();
        await sweepLeftoverSplits(deps, deps.splits.graceMs);
      }
    } catch (error) {
      deps.logger.warn({ err: error }, "leftover traffic splits' sweep failed; tried again");
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void sweep(), deps.everyMs);
  timer.unref();
  return {
    sweep,
    close() {
      clearInterval(timer);
    },
  };
}
