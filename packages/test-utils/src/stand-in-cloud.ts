/**
 * A stand-in cloud kept in memory, for the orchestrator's runner tests and its interleaving
 * explorer: server groups whose instances are one address (an HTTP server of the test's, or
 * none), a load balancer that finds a group's targets healthy while it is in service, and an
 * image whose id contains `bad` whose instances pass their checks until their group takes traffic
 * and fail them from then on, the load balancer seeing it from its second look (a version that
 * breaks under load: the automatic rollback's case). Every call can be held at its
 * start (`intercept`), which is how a test replays one exact moment of a race. It is typed by
 * shape rather than by @slipway/cloud's CloudProvider (which depends on this package for its
 * tests): `asCloud(standIn)` where a CloudProvider is wanted.
 */

export interface StandInInstance {
  id: string;
  lifecycle: 'running';
  address?: string;
  status: 'ok' | 'impaired';
  launchedAt: string;
}

export interface StandInGroup {
  name: string;
  disabled: boolean;
  min: number;
  desired: number;
  max: number;
  launchTemplate: string;
  targetGroups: string[];
  tags: Record<string, string>;
  imageId: string;
  instances: StandInInstance[];
  createdAt: string;
  /** It has taken traffic once (a bad image's instances fail from then on). */
  tookTraffic?: boolean;
  /** How often the load balancer was asked about it since (a bad image's targets fail from the second). */
  looks?: number;
}

type Method =
  | 'createLaunchTemplate'
  | 'deleteLaunchTemplate'
  | 'createServerGroup'
  | 'getServerGroup'
  | 'listServerGroups'
  | 'resizeServerGroup'
  | 'enableServerGroup'
  | 'disableServerGroup'
  | 'destroyServerGroup'
  | 'describeTargetHealth'
  | 'describeClusters';

export interface StandInCloudOptions {
  /** The address every instance answers on (`host:port`); none: health is the cloud's status checks. */
  address?: string;
}

export function standInCloud(options: StandInCloudOptions = {}) {
  const groups = new Map<string, StandInGroup>();
  const templates = new Map<string, { name: string; imageId: string }>();
  const interceptors = new Map<Method, Array<(args: unknown[]) => Promise<void> | void>>();
  const clusterOf = (name: string) => name.replace(/-v\d+$/, '');
  const bad = (g: StandInGroup) => g.imageId.includes('bad') && !!g.tookTraffic;

  function instancesOf(g: StandInGroup): StandInInstance[] {
    return Array.from({ length: g.desired }, (_, i) => ({
      id: `i-${g.name}-${i}`,
      lifecycle: 'running' as const,
      ...(options.address ? { address: options.address } : { address: '127.0.0.1:1' }),
      status: bad(g) ? ('impaired' as const) : ('ok' as const),
      launchedAt: g.createdAt,
    }));
  }
  const copy = (g: StandInGroup | undefined) =>
    g ? { ...g, instances: instancesOf(g), tags: { ...g.tags } } : undefined;
  function must(name: string): StandInGroup {
    const g = groups.get(name);
    if (!g) throw Object.assign(new Error(`no server group ${name}`), { name: 'NotFoundError', status: 404 });
    return g;
  }
  function healthOf(targetGroup: string) {
    return [...groups.values()]
      .filter((g) => !g.disabled && g.targetGroups.includes(targetGroup))
      .flatMap((g) => {
        g.looks = (g.looks ?? 0) + 1;
        const failing = bad(g) && g.looks > 1;
        return instancesOf(g).map((i) => ({
          instanceId: i.id,
          state: failing ? 'unhealthy' : 'healthy',
          ...(failing ? { reason: 'Target.ResponseCodeMismatch' } : {}),
        }));
      });
  }
  async function at(method: Method, args: unknown[]): Promise<void> {
    for (const hook of interceptors.get(method) ?? []) await hook(args);
  }

  const cloud = {
    kind: 'local' as const,
    healthSource: (options.address ? 'http' : 'status-checks') as 'http' | 'status-checks',
    ping: async () => undefined,
    getImage: async (id: string) => ({ id }),
    listImages: async () => [],
    deregisterImage: async () => undefined,
    imagesInUse: async () => [...groups.values()].map((g) => g.imageId),
    getLoadBalancer: async (name: string) => ({ name, targetGroup: name }),
    async createLaunchTemplate(spec: { name: string; imageId: string }) {
      await at('createLaunchTemplate', [spec]);
      templates.set(spec.name, { name: spec.name, imageId: spec.imageId });
      return { ...spec, id: spec.name, createdAt: '' };
    },
    getLaunchTemplate: async (name: string) => templates.get(name),
    async deleteLaunchTemplate(name: string) {
      await at('deleteLaunchTemplate', [name]);
      templates.delete(name);
    },
    async createServerGroup(spec: {
      name: string;
      launchTemplate: string;
      min: number;
      desired: number;
      max: number;
      targetGroups: string[];
      disabled?: boolean;
      tags?: Record<string, string>;
    }) {
      await at('createServerGroup', [spec]);
      if (!groups.has(spec.name)) {
        groups.set(spec.name, {
          name: spec.name,
          disabled: spec.disabled ?? false,
          min: spec.min,
          desired: spec.desired,
          max: spec.max,
          launchTemplate: spec.launchTemplate,
          targetGroups: spec.targetGroups,
          tags: spec.tags ?? {},
          imageId: templates.get(spec.launchTemplate)?.imageId ?? spec.tags?.image ?? '',
          instances: [],
          createdAt: new Date().toISOString(),
        });
      }
      return copy(groups.get(spec.name))!;
    },
    async getServerGroup(name: string) {
      await at('getServerGroup', [name]);
      return copy(groups.get(name));
    },
    /** Oldest first, as every provider answers. */
    async listServerGroups(cluster: string) {
      await at('listServerGroups', [cluster]);
      return [...groups.values()].filter((g) => clusterOf(g.name) === cluster).map((g) => copy(g)!);
    },
    async resizeServerGroup(name: string, capacity: { min: number; desired: number; max: number }) {
      await at('resizeServerGroup', [name, capacity]);
      Object.assign(must(name), capacity);
      return copy(groups.get(name))!;
    },
    async enableServerGroup(name: string) {
      await at('enableServerGroup', [name]);
      Object.assign(must(name), { disabled: false, tookTraffic: true, looks: 0 });
      return copy(groups.get(name))!;
    },
    async disableServerGroup(name: string) {
      await at('disableServerGroup', [name]);
      must(name).disabled = true;
      return copy(groups.get(name))!;
    },
    async destroyServerGroup(name: string) {
      await at('destroyServerGroup', [name]);
      groups.delete(name);
    },
    createLoadBalancer: async () => {
      throw new Error('the stand-in cloud has one load balancer per target group name, made on demand');
    },
    modifyLoadBalancer: async () => {
      throw new Error('not in the stand-in cloud');
    },
    listLoadBalancers: async () => [],
    deleteLoadBalancer: async () => undefined,
    registerTargets: async () => undefined,
    deregisterTargets: async () => undefined,
    /** A group's instances are registered while it is in service (a bad image's failing from the second look). */
    async describeTargetHealth(targetGroup: string) {
      await at('describeTargetHealth', [targetGroup]);
      return healthOf(targetGroup);
    },
    /** Every group (each with its cluster), oldest first, and each target group in service's health. */
    async describeClusters() {
      await at('describeClusters', []);
      const serving = new Set([...groups.values()].filter((g) => !g.disabled).flatMap((g) => g.targetGroups));
      return {
        groups: [...groups.values()].map((g) => ({ ...copy(g)!, cluster: clusterOf(g.name) })),
        targetHealth: Object.fromEntries([...serving].map((tg) => [tg, healthOf(tg)])),
      };
    },
  };

  return {
    cloud,
    groups,
    /**
     * Runs `hook` at the start of every call of `method`, before it acts (awaited: a hook that
     * waits holds the caller there). Answers a function that removes it.
     */
    intercept(method: Method, hook: (args: unknown[]) => Promise<void> | void): () => void {
      const list = interceptors.get(method) ?? [];
      list.push(hook);
      interceptors.set(method, list);
      return () => list.splice(list.indexOf(hook), 1);
    },
    /** The groups of a cluster in service (taking traffic), oldest first. */
    inService(cluster: string): string[] {
      return [...groups.values()].filter((g) => clusterOf(g.name) === cluster && !g.disabled).map((g) => g.name);
    },
    /** In service with instances: what answers the cluster's users (well or badly). */
    serving(cluster: string): string[] {
      return [...groups.values()]
        .filter((g) => clusterOf(g.name) === cluster && !g.disabled && g.desired > 0)
        .map((g) => g.name);
    },
    reset() {
      groups.clear();
      templates.clear();
      interceptors.clear();
    },
  };
}

export type StandInCloud = ReturnType<typeof standInCloud>;

/** A moment a test holds a caller at, and lets it go on when the test has done what it replays. */
export function gate() {
  let open!: () => void;
  let reached!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const arrived = new Promise<void>((resolve) => (reached = resolve));
  return {
    /** Resolves once the caller is held. */
    arrived,
    /** For the hook: says it arrived, and waits for `open`. */
    async hold() {
      reached();
      await opened;
    },
    open,
  };
}
