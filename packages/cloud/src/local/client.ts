/**
 * The `local` provider: the CloudProvider interface over the local cloud daemon's REST API,
 * through the typed client generated from its OpenAPI document. Its answers are the contract's
 * types as they stand (provider.ts takes them from the same document); a server group's lacks
 * only what AWS alone fills in (instances' status checks, launchFailure), so nothing is cast.
 */
import { NotFoundError, createServiceClient, unwrap } from '@slipway/core';
import type { CloudPaths as paths } from '@slipway/cloud-api';
import type {
  Capacity,
  CloudProvider,
  ImageKind,
  LaunchTemplateSpec,
  LoadBalancerSpec,
  ServerGroupSpec,
  TrafficEvent,
  TrafficSubscription,
} from '../provider.js';

export interface LocalProviderOptions {
  baseUrl: string;
  token: string;
  requestId?: string;
}

export function createLocalProvider(options: LocalProviderOptions): CloudProvider {
  const client = createServiceClient<paths>(options);
  /** A get answers undefined for 404, like the interface says. */
  const orNothing = async <T>(call: Promise<{ data?: T; error?: unknown; response: Response }>) => {
    try {
      return unwrap(await call);
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  };
  const path = (name: string) => ({ params: { path: { name } } });
  return {
    kind: 'local',
    healthSource: 'http',
    async ping() {
      unwrap(await client.GET('/load-balancers'));
    },
    getImage: (id) => orNothing(client.GET('/images/{id}', { params: { path: { id } } })),
    async listImages(filter: { service?: string; kind?: ImageKind } = {}) {
      return unwrap(await client.GET('/images', { params: { query: filter } })).items;
    },
    async deregisterImage(id) {
      unwrap(await client.DELETE('/images/{id}', { params: { path: { id } } }));
    },
    async imagesInUse() {
      return unwrap(await client.GET('/images/in-use')).items;
    },
    async createLaunchTemplate(spec: LaunchTemplateSpec) {
      return unwrap(await client.PUT('/launch-templates/{name}', { ...path(spec.name), body: spec }));
    },
    getLaunchTemplate: (name) => orNothing(client.GET('/launch-templates/{name}', path(name))),
    async deleteLaunchTemplate(name) {
      unwrap(await client.DELETE('/launch-templates/{name}', path(name)));
    },
    async createServerGroup(spec: ServerGroupSpec) {
      return unwrap(await client.PUT('/server-groups/{name}', { ...path(spec.name), body: spec }));
    },
    getServerGroup: (name) => orNothing(client.GET('/server-groups/{name}', path(name))),
    async listServerGroups(cluster) {
      return unwrap(await client.GET('/server-groups', { params: { query: { cluster } } })).items;
    },
    async describeClusters() {
      return unwrap(await client.GET('/clusters'));
    },
    async resizeServerGroup(name, capacity: Capacity) {
      return unwrap(await client.POST('/server-groups/{name}/resize', { ...path(name), body: capacity }));
    },
    async disableServerGroup(name) {
      return unwrap(await client.POST('/server-groups/{name}/disable', path(name)));
    },
    async enableServerGroup(name) {
      return unwrap(await client.POST('/server-groups/{name}/enable', path(name)));
    },
    async destroyServerGroup(name) {
      unwrap(await client.DELETE('/server-groups/{name}', path(name)));
    },
    async createLoadBalancer(spec: LoadBalancerSpec) {
      return unwrap(await client.PUT('/load-balancers/{name}', { ...path(spec.name), body: spec }));
    },
    getLoadBalancer: (name) => orNothing(client.GET('/load-balancers/{name}', path(name))),
    async listLoadBalancers() {
      return unwrap(await client.GET('/load-balancers')).items;
    },
    async modifyLoadBalancer(spec: LoadBalancerSpec) {
      return unwrap(await client.PATCH('/load-balancers/{name}', { ...path(spec.name), body: spec }));
    },
    async deleteLoadBalancer(name) {
      unwrap(await client.DELETE('/load-balancers/{name}', path(name)));
    },
    async registerTargets(targetGroup, instanceIds) {
      unwrap(await client.POST('/target-groups/{name}/register', { ...path(targetGroup), body: { instanceIds } }));
    },
    async deregisterTargets(targetGroup, instanceIds) {
      unwrap(await client.POST('/target-groups/{name}/deregister', { ...path(targetGroup), body: { instanceIds } }));
    },
    async describeTargetHealth(targetGroup) {
      return unwrap(await client.GET('/target-groups/{name}/health', path(targetGroup))).items;
    },
    async trafficOf(targetGroup, groups, since) {
      const query = { groups, since: since.toISOString() };
      return unwrap(
        await client.GET('/target-groups/{name}/traffic', { params: { ...path(targetGroup).params, query } }),
      ).items;
    },
    watchTraffic(targetGroup, onEvent, ended) {
      return followTraffic(options, targetGroup, onEvent, ended);
    },
  };
}

/** The daemon's traffic events (server-sent), read as they come; `ended` hears a stream that broke. */
function followTraffic(
  options: LocalProviderOptions,
  targetGroup: string,
  onEvent: (event: TrafficEvent) => void,
  ended?: () => void,
): TrafficSubscription {
  const abort = new AbortController();
  void (async () => {
    try {
      const url = `${options.baseUrl.replace(/\/$/, '')}/target-groups/${encodeURIComponent(targetGroup)}/traffic/events`;
      const response = await fetch(url, {
        headers: {
          Authorization: `Bearer ${options.token}`,
          Accept: 'text/event-stream',
          ...(options.requestId ? { 'X-Request-Id': options.requestId } : {}),
        },
        signal: abort.signal,
      });
      if (!response.ok || !response.body) throw new Error(`the cloud answered ${response.status}`);
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block
            .split('\n')
            .filter((line) => line.startsWith('data:'))
            .map((line) => line.slice(5).trimStart())
            .join('\n');
          if (data) onEvent(JSON.parse(data) as TrafficEvent);
        }
      }
    } catch {
      // ended below, unless closed on purpose
    }
    if (!abort.signal.aborted) ended?.();
  })();
  return { close: () => abort.abort() };
}
