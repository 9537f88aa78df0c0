/**
 * What a cluster is now, read the same way by every decision about it — the preview, undo, a
 * promotion evaluated when it runs, retention and the views: its server groups (from the cloud,
 * the truth), the group serving (the newest in service), the releases recorded on it, and which
 * groups are vetted: put in service by a deployment that succeeded (the store's `vetted`, marked
 * by the same step that finishes the deployment). Only those are worth keeping warm, and only those
 * are ever gone back to — by a rollback, an undo or retention alike.
 */
import type { CloudListing, CloudProvider, ServerGroup, TargetHealth } from '@slipway/cloud';
import { clusterName } from '@slipway/core';
import type { DeploymentState } from '../deployments/deployment.js';
import { cloudOf, clusterRegion, type RegionalDeps } from '../actions/regions.js';
import type { DeploymentStore, Served } from '../deployments/store.js';

export interface ClusterDeps extends RegionalDeps {
  store: DeploymentStore;
}

export interface ClusterNow {
  region?: string;
  /** Oldest first, as the cloud lists them. */
  groups: ServerGroup[];
  active?: ServerGroup;
  /** What the cluster served, newest first (its history). */
  history: Served[];
  /** The groups a succeeded deployment put in service (the store's vetted). */
  vetted: Set<string>;
}

/** How much of a cluster's history is read: the store keeps the last 100 of a cluster. */
const HISTORY_KEPT = 100;

export async function clusterNow(deps: ClusterDeps, service: string, env: string): Promise<ClusterNow> {
  const region = await clusterRegion(deps.store, service, env);
  const [groups, history, vetted] = await Promise.all([
    cloudOf(deps, region).listServerGroups(clusterName(service, env)),
    deps.store.history(service, env, HISTORY_KEPT),
    deps.store.vetted(service, env),
  ]);
  return {
    ...(region ? { region } : {}),
    groups,
    active: [...groups].reverse().find((g) => !g.disabled),
    history,
    vetted: new Set(vetted),
  };
}

/** A cluster's server groups as the cloud lists them, before its history is read. */
export type ClusterGroups = Pick<ClusterNow, 'region' | 'groups' | 'active'>;

/** Many clusters' groups, and the health of the target groups in service, by target group. */
export interface ClustersNow {
  clusters: { service: string; env: string; now: ClusterGroups }[];
  targetHealth: (now: ClusterGroups, targetGroup: string) => TargetHealth[];
}

/**
 * Each cluster's groups as clusterNow reads them, from one listing of each cloud (region) they
 * are in instead of a cloud call a cluster: what a view of every cluster reads. Their histories
 * are read by withHistory for those described (a list's screenful needs not every cluster's).
 * Regions are read only where they choose a cloud (AWS); the local cloud is one cloud for every region.
 */
export async function clustersNow(
  deps: ClusterDeps,
  clusters: { service: string; env: string }[],
): Promise<ClustersNow> {
  const regional = deps.regions?.kind === 'aws';
  // Each cluster's region from what the store keeps of its newest deployment (one read for all),
  // the record itself read only where that was kept before it named the region.
  const lasts = regional ? await deps.store.lastDeployments(clusters) : [];
  const regions = await Promise.all(
    clusters.map(({ service, env }, i) => {
      if (!regional) return undefined;
      const last = lasts[i];
      if (!last) return undefined;
      return last.region !== undefined ? (last.region ?? undefined) : clusterRegion(deps.store, service, env);
    }),
  );
  const listings = new Map<CloudProvider, Promise<{ byCluster: Map<string, ServerGroup[]>; listing: CloudListing }>>();
  const listingOf = (region: string | undefined) => {
    const cloud = cloudOf(deps, region);
    if (!listings.has(cloud))
      listings.set(
        cloud,
        cloud.describeClusters().then((listing) => {
          const byCluster = new Map<string, ServerGroup[]>();
          for (const g of listing.groups) {
            const list = byCluster.get(g.cluster) ?? [];
            if (!list.length) byCluster.set(g.cluster, list);
            list.push(g);
          }
          return { byCluster, listing };
        }),
      );
    return listings.get(cloud)!;
  };
  // Each cloud listed once (all at once), then every cluster read from its listing without a promise each.
  const listed = await Promise.all(regions.map((region) => listingOf(region)));
  const health = new Map<ClusterGroups, Record<string, TargetHealth[]>>();
  const read = clusters.map(({ service, env }, i) => {
    const region = regions[i];
    const { byCluster, listing } = listed[i]!;
    const groups = byCluster.get(clusterName(service, env)) ?? [];
    const now: ClusterGroups = {
      ...(region ? { region } : {}),
      groups,
      active: groups.findLast((g) => !g.disabled),
    };
    health.set(now, listing.targetHealth);
    return { service, env, now };
  });
  return { clusters: read, targetHealth: (now, tg) => health.get(now)?.[tg] ?? [] };
}

/** A cluster listed by clustersNow, with its history and vetted groups read (all its store's reads sent at once). */
export async function withHistory(
  deps: ClusterDeps,
  service: string,
  env: string,
  now: ClusterGroups,
): Promise<ClusterNow> {
  if (!now.groups.length) return noHistory(now);
  const [history, vetted] = await Promise.all([
    deps.store.history(service, env, HISTORY_KEPT),
    deps.store.vetted(service, env),
  ]);
  return { ...now, history, vetted: new Set(vetted) };
}

/** A cluster with no group: nothing its history or vetted groups would describe (withHistory without reading). */
export function noHistory(now: ClusterGroups): ClusterNow {
  return { ...now, history: [], vetted: new Set() };
}

export interface Serving {
  group: string;
  image?: string;
  commit?: string;
  /** The deployment whose release serves: the newest recorded on the group, else the one that made it. */
  deployment?: string;
  instances: number;
}

/** What serves the cluster now, if anything. */
export function servingOf(now: ClusterNow): Serving | undefined {
  const g = now.active;
  if (!g) return undefined;
  const served = now.history.find((r) => r.group === g.name);
  const image = served?.image ?? g.tags?.image;
  const commit = served?.commit ?? g.tags?.commit;
  const deployment = served?.deployment ?? g.tags?.deployment;
  return {
    group: g.name,
    ...(image ? { image } : {}),
    ...(commit ? { commit } : {}),
    ...(deployment ? { deployment } : {}),
    instances: g.instances.length,
  };
}

/**
 * How a group is shown in every view: whether it served successfully, and if not how the deployment
 * that made it ended (read only then: the dashboard asks every half second), whether it was scaled
 * to zero.
 */
export async function groupStanding(store: DeploymentStore, now: ClusterNow, g: ServerGroup): Promise<GroupStanding> {
  const maker = needsMaker(now, g) ? await store.get(g.tags!.deployment!) : undefined;
  return standingOf(now, g, maker?.state);
}

export interface GroupStanding {
  vetted: boolean;
  outcome?: DeploymentState;
  scaledDown?: boolean;
}

/** Whether showing a group reads the deployment that made it: it never served successfully. */
export function needsMaker(now: ClusterNow, g: ServerGroup): boolean {
  return !now.vetted.has(g.name) && Boolean(g.tags?.deployment);
}

/** groupStanding of a group whose maker is read already, or need not be (needsMaker). */
export function standingOf(now: ClusterNow, g: ServerGroup, outcome?: DeploymentState): GroupStanding {
  return {
    vetted: now.vetted.has(g.name),
    ...(outcome ? { outcome } : {}),
    ...(g.disabled && g.desired === 0 ? { scaledDown: true } : {}),
  };
}
