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
import { clusterName, isSlipwayError, type Logger } from '@slipway/core';
import { retiredBy, scaleDownAt, type Deployment } from '../deployments/deployment.js';
import { cloudOf, type RegionalDeps } from '../actions/regions.js';
import { scalingDown, type DeploymentStore, type RetiredGroup } from '../deployments/store.js';

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
  for (const d of deployments) {
    const retired = retiredBy(d);
    if (retired?.group === group) return retired;
  }
  return undefined;
}

/** Groups looked at by one sweep at most: the rest are due still, looked at by the next. */
const DUE_AT_ONCE = 200;

/**
 * One pass over the groups due (the store's due list, which each retiring deployment's finish
 * marks): each retained group past its time scaled to zero. Answers the groups scaled down. Only
 * those are asked of the cloud — a pass asking every cluster's groups made 4,000 clusters 4,000
 * cloud calls (on AWS, DescribeAutoScalingGroups calls) every 10 s. Every group due is read
 * before any is scaled: a scale-down makes AWS's region snapshot stale, and a read after each
 * would describe the whole region again for each group. Each is scaled down holding its
 * cluster's lock (as a deployment would), its state and its deployments read again once held: an
 * undo re-enabling it either came first (and it is left serving) or waits (queued) or is refused
 * until it is done. One group that cannot be read or scaled (its region refusing) is said and
 * looked at again next sweep; never the others'.
 */
export async function scaleDownRetained(deps: RetentionDeps, now = Date.now()): Promise<string[]> {
  const candidates: { due: RetiredGroup; cloud: CloudProvider }[] = [];
  for (const due of await deps.store.retiredDue(now, DUE_AT_ONCE)) {
    try {
      const cloud = await readDue(deps, due, now);
      if (cloud) candidates.push({ due, cloud });
    } catch (error) {
      deps.logger.warn(
        { err: error, group: due.group },
        `retained group ${due.group} could not be read; tried again next sweep`,
      );
      await behindTheOthers(deps, due, now);
    }
  }
  const scaled: string[] = [];
  for (const { due, cloud } of candidates) {
    const { service, env, group } = due;
    try {
      const hold = await deps.store.holdCluster(service, env, group, deps.limit ?? 1, async () => {
        const groups = await cloud.listServerGroups(clusterName(service, env));
        const g = groups.find((x) => x.name === group);
        const at = dueAt(g, (await deps.store.list({ service, env, limit: 30 })).items);
        if (!g || at === undefined || at > now) return { outcome: 'not-due' as const, at };
        // While no vetted group serves it is kept warm, and stays due: looked at again next sweep.
        if ((await lastToGoBackTo(deps.store, service, env, groups)) === g.name)
          return { outcome: 'kept-warm' as const };
        await cloud.resizeServerGroup(g.name, { min: 0, desired: 0, max: g.max });
        deps.logger.info({ group: g.name, was: g.desired }, 'retained group scaled to zero');
        return { outcome: 'scaled' as const };
      });
      if (hold.held && hold.value.outcome === 'not-due') await deps.store.unmarkRetired(due, hold.value.at);
      if (hold.held && hold.value.outcome === 'scaled') {
        await deps.store.unmarkRetired(due);
        scaled.push(group);
      }
      // Its cluster taken meanwhile, or the group kept warm: due still, behind the others.
      if (!hold.held || hold.value.outcome === 'kept-warm') await behindTheOthers(deps, due, now);
      await deps.start?.(hold.admitted);
    } catch (error) {
      deps.logger.warn({ err: error, group }, `retained group ${group} was not scaled down; tried again next sweep`);
      await behindTheOthers(deps, due, now);
    }
  }
  return scaled;
}

/**
 * A group looked at and left due (its cluster held, the group kept warm, its cloud refusing) goes
 * behind every group due before this sweep: moved to `now`, not left at its own older time. Else
 * the groups left due stayed first in line, and 200 of them (a deployer's paused deployments hold
 * their clusters as long as they like) kept every other group on the platform from its turn.
 */
async function behindTheOthers(deps: RetentionDeps, due: RetiredGroup, now: number): Promise<void> {
  if (due.dueAt >= now) return;
  try {
    await deps.store.unmarkRetired(due, now);
  } catch (error) {
    deps.logger.warn({ err: error, group: due.group }, `retained group ${due.group} could not be put back in line`);
  }
}

/**
 * A group due, read: its cloud when it is to be scaled down now. Else it is taken off the list
 * (gone, back in service, scaled down already, its region no longer served) or moved to when its
 * records say it is due (retired again since it was marked: a full pass's late write of an older
 * time), and nothing is answered; left due while a deployment holds its cluster (behind the others).
 */
async function readDue(deps: RetentionDeps, due: RetiredGroup, now: number): Promise<CloudProvider | undefined> {
  const { service, env, group } = due;
  const holder = await deps.store.holder(service, env);
  if (holder) {
    // Another sweep scaling this very group takes it off the list itself.
    if (scalingDown(holder) !== group) await behindTheOthers(deps, due, now);
    return undefined;
  }
  const recent = (await deps.store.list({ service, env, limit: 30 })).items;
  let cloud: CloudProvider;
  try {
    cloud = cloudOf(deps, recent[0]?.context.params?.region);
  } catch (error) {
    if (!isSlipwayError(error)) throw error;
    // A region no longer served (its network unset): nothing Slipway can reach there, which the full pass never marks.
    await deps.store.unmarkRetired(due);
    return undefined;
  }
  const at = dueAt(await cloud.getServerGroup(group), recent);
  if (at !== undefined && at <= now) return cloud;
  await deps.store.unmarkRetired(due, at);
  return undefined;
}

/**
 * The due list's backstop, run by each sweep now and then (and at its start): every cluster's
 * recent deployments read, and each group they retired that still has instances out of service
 * marked due at its time (a mark lost to a crash right after a deployment's finish, records from
 * before the list was kept). Asks each cloud (region) once, for its groups alone. Answers how many it marked.
 */
export async function markRetirements(deps: RetentionDeps): Promise<number> {
  const listings = new Map<CloudProvider, Promise<Map<string, ServerGroup>>>();
  const groupsOf = (cloud: CloudProvider) => {
    if (!listings.has(cloud))
      listings.set(
        cloud,
        cloud.describeClusters({ health: false }).then(({ groups }) => new Map(groups.map((g) => [g.name, g]))),
      );
    return listings.get(cloud)!;
  };
  const marks: RetiredGroup[] = [];
  const warned = new Set<string | undefined>();
  for (const { service, env } of await deps.store.clusters()) {
    const recent = (await deps.store.list({ service, env, limit: 30 })).items;
    // Each group retired, due when the newest deployment to retire it says.
    const retired = [...new Set(recent.flatMap((d) => retiredBy(d)?.group ?? []))].flatMap((group) => {
      const dueAt = scaleDownAt(retirement(group, recent));
      return dueAt === undefined ? [] : [{ service, env, group, dueAt }];
    });
    if (retired.length === 0) continue;
    const region = recent[0]?.context.params?.region;
    let groups: Map<string, ServerGroup>;
    try {
      groups = await groupsOf(cloudOf(deps, region));
    } catch (error) {
      // A region no longer served (its network unset), or one refusing (denied, throttled): the others are marked.
      if (!warned.has(region)) {
        warned.add(region);
        deps.logger.warn(
          { err: error, region: region ?? 'default' },
          `retention's full pass could not list ${region ?? 'the default region'}; tried again at the next`,
        );
      }
      continue;
    }
    marks.push(
      ...retired.filter((m) => {
        const g = groups.get(m.group);
        return g !== undefined && g.disabled && g.desired > 0;
      }),
    );
  }
  await deps.store.markRetired(marks);
  return marks.length;
}

/** The newest vetted group when no vetted group serves: what a deployment or rollback would go back to. */
async function lastToGoBackTo(store: DeploymentStore, service: string, env: string, groups: ServerGroup[]) {
  const vetted = new Set(await store.vetted(service, env));
  const candidates = groups.filter((g) => vetted.has(g.name));
  return candidates.some((g) => !g.disabled && g.desired > 0) ? undefined : candidates.at(-1)?.name;
}

/**
 * When a group out of service with instances is to be scaled down, from the deployment that
 * retired it (its deployment-params' scaleDownAfterSeconds); undefined when never (gone, serving,
 * at zero, no scaleDownAfterSeconds).
 */
function dueAt(g: ServerGroup | undefined, deployments: Deployment[]): number | undefined {
  if (!g || !g.disabled || g.desired === 0) return undefined;
  return scaleDownAt(retirement(g.name, deployments));
}

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
    /** The due list's backstop (markRetirements): at the first sweep, then at most this often (15 min). */
    markEveryMs?: number;
  },
) {
  let running = false;
  let splitsSwept = 0;
  let marked = 0;
  const sweep = async () => {
    if (running) return;
    running = true;
    try {
      if (Date.now() - marked >= (deps.markEveryMs ?? 900_000)) {
        marked = Date.now();
        await markRetirements(deps);
      }
    } catch (error) {
      deps.logger.warn({ err: error }, "retention's full pass failed; tried again at the next");
    }
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
