/**
 * What a cluster is now, read the same way by every decision about it — the preview, undo, a
 * promotion evaluated when it runs, retention and the views: its server groups (from the cloud,
 * the truth), the group serving (the newest in service), the releases recorded on it, and which
 * groups are vetted: put in service by a deployment that succeeded (the store's `vetted`, marked
 * by the same step that finishes the deployment). Only those are worth keeping warm, and only those
 * are ever gone back to — by a rollback, an undo or retention alike.
 */
import type { ServerGroup } from '@slipway/cloud';
import { clusterName } from '@slipway/core';
import type { DeploymentState } from './deployment.js';
import { cloudOf, clusterRegion, type RegionalDeps } from './regions.js';
import type { DeploymentStore, Release } from './store.js';

export interface ClusterDeps extends RegionalDeps {
  store: DeploymentStore;
}

export interface ClusterNow {
  region?: string;
  /** Oldest first, as the cloud lists them. */
  groups: ServerGroup[];
  active?: ServerGroup;
  /** Newest first. */
  releases: Release[];
  /** The groups a succeeded deployment put in service (the store's vetted). */
  vetted: Set<string>;
}

/** How many recorded releases are read: the store keeps the last 100 of a cluster. */
const RELEASES_READ = 100;

export async function clusterNow(deps: ClusterDeps, service: string, env: string): Promise<ClusterNow> {
  const region = await clusterRegion(deps.store, service, env);
  const [groups, releases, vetted] = await Promise.all([
    cloudOf(deps, region).listServerGroups(clusterName(service, env)),
    deps.store.releases(service, env, RELEASES_READ),
    deps.store.vetted(service, env),
  ]);
  return {
    ...(region ? { region } : {}),
    groups,
    active: [...groups].reverse().find((g) => !g.disabled),
    releases,
    vetted: new Set(vetted),
  };
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
  const release = now.releases.find((r) => r.group === g.name);
  const image = release?.image ?? g.tags?.image;
  const commit = release?.commit ?? g.tags?.commit;
  const deployment = release?.deployment ?? g.tags?.deployment;
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
export async function groupStanding(
  store: DeploymentStore,
  now: ClusterNow,
  g: ServerGroup,
): Promise<{ vetted: boolean; outcome?: DeploymentState; scaledDown?: boolean }> {
  const vetted = now.vetted.has(g.name);
  const maker = !vetted && g.tags?.deployment ? await store.get(g.tags.deployment) : undefined;
  return {
    vetted,
    ...(maker ? { outcome: maker.state } : {}),
    ...(g.disabled && g.desired === 0 ? { scaledDown: true } : {}),
  };
}
