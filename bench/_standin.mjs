// The stand-in world of the queue and release benches: a cloud whose instances are one HTTP
// server answering at once, and peers that answer at once (image, service, config); and where
// the time of their deployments goes.
import { createServer } from 'node:http';
import { figure } from './_lib.mjs';

/** The cloud and the peers; `groups` is what the cloud holds, `close()` stops the instances' server. */
export async function standInWorld() {
  const instance = createServer((_req, res) => res.end('ok')).listen(0, '127.0.0.1');
  await new Promise((resolve) => instance.once('listening', resolve));
  const address = `127.0.0.1:${instance.address().port}`;
  const groups = new Map();
  const cloud = {
    kind: 'local',
    healthSource: 'http',
    async getLoadBalancer(name) {
      return { name };
    },
    async createLaunchTemplate(spec) {
      return { ...spec, id: spec.name, createdAt: '' };
    },
    async deleteLaunchTemplate() {},
    async listServerGroups(cluster) {
      return [...groups.values()].filter((g) => g.cluster === cluster);
    },
    async getServerGroup(name) {
      return groups.get(name);
    },
    async createServerGroup(spec) {
      const cluster = spec.name.replace(/-v\d+$/, '');
      const instances = Array.from({ length: spec.desired }, (_, i) => ({
        id: `i-${spec.name}-${i}`,
        lifecycle: 'running',
        address,
        launchedAt: '',
      }));
      groups.set(spec.name, { ...spec, cluster, disabled: true, instances, createdAt: '' });
      return groups.get(spec.name);
    },
    async enableServerGroup(name) {
      groups.get(name).disabled = false;
    },
    async disableServerGroup(name) {
      groups.get(name).disabled = true;
    },
    async destroyServerGroup(name) {
      groups.delete(name);
    },
    async resizeServerGroup() {},
    async describeTargetHealth() {
      return [...groups.values()]
        .filter((g) => !g.disabled)
        .flatMap((g) => g.instances.map((i) => ({ instanceId: i.id, state: 'healthy' })));
    },
  };
  const peers = {
    async service(name) {
      return { name, properties: {} };
    },
    async image(id) {
      return { id, kind: 'service', service: id.slice(4), version: '1.0.0' };
    },
    async config() {
      return {
        commit: 'c'.repeat(40),
        valid: true,
        errors: [],
        deploymentParams: {
          capacity: { desired: 1 },
          // AWS's shortest: two passes, a second apart (the orchestrator probes at most every second).
          healthCheck: { path: '/', intervalSeconds: 5, timeoutSeconds: 2, healthyThreshold: 2 },
          loadBalancer: { name: 'lb' },
          strategy: { burnInSeconds: 0, drainSeconds: 0 },
        },
        launchData: [],
        properties: '',
      };
    },
  };
  return { cloud, peers, groups, close: () => instance.close() };
}

/** Where a deployment's time goes: inside each action, between actions, and from one's finish to the next's start. */
export function breakdown(all) {
  const mean = (list) => (list.length ? list.reduce((a, b) => a + b, 0) / list.length : 0);
  const inside = new Map();
  const between = [];
  for (const d of all) {
    d.actions.forEach((a, i) => {
      inside.set(a.name, [...(inside.get(a.name) ?? []), a.durationMs]);
      if (i > 0) between.push(Date.parse(a.startedAt) - Date.parse(d.actions[i - 1].finishedAt));
    });
  }
  const ends = all.map((d) => ({ start: Date.parse(d.startedAt), end: Date.parse(d.finishedAt) }));
  const spans = ends.map((e) => e.end - e.start);
  const created = all.map((d) => Date.parse(d.actions[0].startedAt) - Date.parse(d.startedAt));
  // The slot a finish gives back: from it to the next deployment's first action (queue and admission).
  const byEnd = [...ends].sort((a, b) => a.end - b.end);
  const byStart = [...ends].sort((a, b) => a.start - b.start);
  const handoffs = byStart.slice(2).map((s, i) => s.start - byEnd[i].end);
  figure('  where a deployment goes, mean: start to finish', mean(spans).toFixed(1), 'ms');
  figure('    start to its first action', mean(created).toFixed(1), 'ms');
  figure('    between two actions (the saves)', mean(between).toFixed(2), 'ms');
  for (const [name, list] of inside) figure(`    inside ${name}`, mean(list).toFixed(1), 'ms');
  figure('    a slot given back → the next deployment started (hand-off)', mean(handoffs).toFixed(1), 'ms');
}
