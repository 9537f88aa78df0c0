/**
 * A release: one or several services deployed to many clusters at once, in waves (Mixpanel's
 * sync sets, AWS's one-box-then-waves), each service after the services it depends on. It is a
 * layer over deployments: each cluster of each wave is one ordinary deployment, whose record
 * names the release. This file is the model and the planning; releases.ts runs them.
 */
import { UnprocessableError } from '@slipway/core';

/** `skipped`: it changed nothing — every cluster ran what it would deploy, or newer — or a newer promotion superseded it. */
export type ReleaseState = 'waiting' | 'running' | 'paused' | 'succeeded' | 'failed' | 'cancelled' | 'skipped';
export const RELEASE_FINISHED: readonly ReleaseState[] = ['succeeded', 'failed', 'cancelled', 'skipped'];

export type ClusterState =
  | 'pending'
  | 'deploying'
  | 'succeeded'
  | 'failed'
  | 'rolled-back'
  | 'cancelled'
  | 'not-started'
  | 'rolling-back'
  | 'skipped';

/** A cluster a wave is done with: deployed, or left as it was because it runs that (or newer) already. */
export const clusterDone = (c: { state: ClusterState }) => c.state === 'succeeded' || c.state === 'skipped';

export interface ReleaseCluster {
  service: string;
  env: string;
  /** deployment-params.json's region; on the local cloud a label. */
  region?: string;
  image: string;
  version?: string;
  /** The config commit resolved when the release was validated: what every wave deploys. */
  commit: string;
  /**
   * A production cluster's change, confirmed when the release was made: what served it then.
   * Absent when it was not production or would have been skipped then (nothing confirmed).
   */
  confirmedFrom?: ConfirmedFrom;
  /** The services of this release this cluster waits for, in the same wave. */
  after: string[];
  state: ClusterState;
  deployment?: string;
  /** The undo deployment of `onFailure: "rollback-all"`. */
  rollback?: string;
  startedAt?: string;
  finishedAt?: string;
  reason?: string;
}

export interface Wave {
  index: number;
  bakeSeconds: number;
  clusters: ReleaseCluster[];
  startedAt?: string;
  finishedAt?: string;
  /** After this wave succeeded, the next one waits until then. */
  bakeUntil?: string;
}

export interface ReleaseItem {
  service: string;
  image: string;
  version?: string;
  /** The logical environment (a sync set) or the one cluster asked for. */
  env: string;
  clusters: string[];
  /** Clusters of the sync set the deployer left out, said in the record. */
  leftOut: string[];
  /** Promotion: the environment whose serving image this is. */
  promotedFrom?: { env: string; deployment: string; since: string };
}

export interface ReleaseRecord {
  id: string;
  message: string;
  by: string;
  onFailure: 'stop' | 'rollback-all';
  state: ReleaseState;
  reason?: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** A promotion with `after` starts only then, if the source still serves the image. */
  notBefore?: string;
  items: ReleaseItem[];
  waves: Wave[];
  /** deployment-params overrides applied to every cluster's deployment. */
  params?: Record<string, unknown>;
  /** Deploy clusters already running the image and config (else they are skipped). */
  force?: boolean;
  /** A promotion may take a cluster back to an older version (else it only moves forward). */
  allowDowngrade?: boolean;
  /** Set once a failure stopped it: no new cluster starts. */
  failure?: string;
  /** Who asked to cancel. */
  cancel?: string;
  /** Bumped by every write; a write based on an older one is refused (compare-and-set). */
  revision: number;
}

export function isReleaseFinished(release: ReleaseRecord): boolean {
  return RELEASE_FINISHED.includes(release.state);
}

/**
 * A service's clusters in waves: as the service declares (`waves` metadata, filtered to the
 * clusters released, any left over last), else the first cluster alone and then the rest.
 */
export function planServiceWaves(clusters: string[], declared?: unknown): string[][] {
  if (Array.isArray(declared) && declared.every((w) => Array.isArray(w))) {
    const waves = (declared as unknown[][])
      .map((wave) => clusters.filter((c) => wave.includes(c)))
      .filter((wave) => wave.length > 0);
    const placed = new Set(waves.flat());
    const rest = clusters.filter((c) => !placed.has(c));
    return rest.length > 0 ? [...waves, rest] : waves;
  }
  return clusters.length <= 1 ? [clusters] : [[clusters[0]!], clusters.slice(1)];
}

/** The first dependency cycle among the services, as a path (`a → b → a`), or undefined. */
export function findCycle(dependsOn: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (service: string): string[] | undefined => {
    if (state.get(service) === 'done') return undefined;
    if (state.get(service) === 'visiting') return [...path.slice(path.indexOf(service)), service];
    state.set(service, 'visiting');
    path.push(service);
    for (const next of dependsOn.get(service) ?? []) {
      if (!dependsOn.has(next)) continue;
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(service, 'done');
    return undefined;
  };
  for (const service of [...dependsOn.keys()].sort()) {
    const cycle = visit(service);
    if (cycle) return cycle;
  }
  return undefined;
}

/** The services of a release each depends on, restricted to the release; a cycle is a 422. */
export function releaseDependencies(services: { service: string; dependsOn: unknown }[]): Map<string, string[]> {
  const names = new Set(services.map((s) => s.service));
  const graph = new Map<string, string[]>();
  for (const { service, dependsOn } of services) {
    const list = Array.isArray(dependsOn) ? dependsOn.filter((d): d is string => typeof d === 'string') : [];
    graph.set(
      service,
      list.filter((d) => names.has(d) && d !== service),
    );
  }
  const cycle = findCycle(graph);
  if (cycle) {
    throw new UnprocessableError(`the services depend on each other in a cycle: ${cycle.join(' → ')}`, {
      errors: [{ path: '/items', message: `dependency cycle ${cycle.join(' → ')}` }],
    });
  }
  return graph;
}

/** What served a production cluster when a person confirmed changing it. */
export interface ConfirmedFrom {
  group: string | null;
  image: string | null;
  commit: string | null;
}

export interface PlannedCluster {
  service: string;
  env: string;
  image: string;
  version?: string;
  commit: string;
  region?: string;
  bakeSeconds: number;
  confirmedFrom?: ConfirmedFrom;
}

/** Every service's waves merged by position: wave i holds each service's wave i. */
export function planWaves(
  perService: { service: string; waves: PlannedCluster[][] }[],
  dependencies: Map<string, string[]>,
  bakeOverride?: number,
): Wave[] {
  const count = Math.max(0, ...perService.map((s) => s.waves.length));
  const waves: Wave[] = [];
  for (let index = 0; index < count; index++) {
    const planned = perService.flatMap((s) => s.waves[index] ?? []);
    waves.push({
      index,
      bakeSeconds: bakeOverride ?? Math.max(0, ...planned.map((c) => c.bakeSeconds)),
      clusters: planned.map((c) => ({
        service: c.service,
        env: c.env,
        ...(c.region ? { region: c.region } : {}),
        image: c.image,
        ...(c.version ? { version: c.version } : {}),
        commit: c.commit,
        ...(c.confirmedFrom ? { confirmedFrom: c.confirmedFrom } : {}),
        after: dependencies.get(c.service) ?? [],
        state: 'pending',
      })),
    });
  }
  return waves;
}

/** The clusters of a wave that may start now: pending, with what they depend on done. */
export function startable(wave: Wave): ReleaseCluster[] {
  return wave.clusters.filter(
    (cluster) =>
      cluster.state === 'pending' &&
      cluster.after.every((service) => wave.clusters.filter((c) => c.service === service).every(clusterDone)),
  );
}
