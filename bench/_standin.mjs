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

/**
 * The store with each call timed (performance.now(), µs): what the phases below are read from.
 * `calls` holds { method, id, mode, type, start, end } in the order the calls ended.
 */
export function timedStore(store) {
  const calls = [];
  const idOf = (method, args) =>
    method === 'event' ? args[0]?.deployment : typeof args[0] === 'string' ? args[0] : args[0]?.id;
  const timed = new Proxy(store, {
    get(target, method) {
      const value = target[method];
      if (typeof value !== 'function') return value;
      return async (...args) => {
        const start = performance.now();
        try {
          return await value.apply(target, args);
        } finally {
          const options = method === 'transition' ? (args[1] ?? {}) : {};
          calls.push({
            method,
            id: idOf(method, args),
            mode: options.mode ?? (method === 'transition' ? 'step' : undefined),
            type: options.event?.type ?? (method === 'event' ? args[0].type : undefined),
            start,
            end: performance.now(),
          });
        }
      };
    },
  });
  return { store: timed, calls };
}

/**
 * Where the time of deployments run `concurrency` at a time goes, per deployment (mean) and as
 * a share of the wall time: admission (the admit script), the saves between actions (the fenced
 * advance steps), inside the actions (the health wait apart), and the slot hand-off (a finish's
 * save → the next deployment's first save: the finish, the admitted one's read and event, the
 * queue and a worker taking the job, the job's reads and first save).
 */
export function phases(all, calls, concurrency) {
  const mean = (list) => (list.length ? list.reduce((a, b) => a + b, 0) / list.length : 0);
  const sum = (list) => list.reduce((a, b) => a + b, 0);
  const byId = new Map(all.map((d) => [d.id, []]));
  for (const c of calls) byId.get(c.id)?.push(c);
  const n = all.length;
  const perDeployment = (pick) =>
    sum(
      all.map((d) =>
        sum(
          byId
            .get(d.id)
            .filter(pick)
            .map((c) => c.end - c.start),
        ),
      ),
    ) / n;
  const admit = perDeployment((c) => c.method === 'admit');
  const advance = perDeployment((c) => c.method === 'transition' && c.mode === 'advance');
  const finishes = perDeployment((c) => c.method === 'transition' && c.mode === 'finish');
  const health = mean(
    all.map((d) => sum(d.actions.filter((a) => a.name === 'wait-for-instance-health').map((a) => a.durationMs))),
  );
  const inside = mean(
    all.map((d) => sum(d.actions.filter((a) => a.name !== 'wait-for-instance-health').map((a) => a.durationMs))),
  );
  const advances = all.map(
    (d) => byId.get(d.id).filter((c) => c.method === 'transition' && c.mode === 'advance').length,
  );
  // Each hand-off: the finish that admitted it → its own first save, in four parts.
  const parts = { finish: [], admitted: [], queue: [], job: [] };
  for (const d of all) {
    const own = byId.get(d.id);
    const firstSave = own.find((c) => c.method === 'transition' && c.type === 'action-started');
    const admittedEvent = own.find((c) => c.method === 'event' && c.type === 'admitted');
    if (!firstSave || !admittedEvent) continue;
    const jobRead = own.find((c) => c.method === 'get' && c.start >= admittedEvent.end);
    const finish = calls
      .filter((c) => c.method === 'transition' && c.mode === 'finish' && c.end <= admittedEvent.start)
      .at(-1);
    if (!finish || !jobRead) continue;
    parts.finish.push(finish.end - finish.start);
    parts.admitted.push(admittedEvent.end - finish.end);
    parts.queue.push(jobRead.start - admittedEvent.end);
    parts.job.push(firstSave.end - jobRead.start);
  }
  const handoff = mean(parts.finish) + mean(parts.admitted) + mean(parts.queue) + mean(parts.job);
  figure('  phases per deployment (mean), of the wall time at concurrency ' + concurrency, '', '');
  figure('    admission (the admit script, at submission)', admit.toFixed(2), 'ms');
  figure('    inside the actions, the health wait apart', inside.toFixed(1), 'ms');
  figure('    the health wait (two passes, the check interval apart)', health.toFixed(1), 'ms');
  figure(`    saves between actions (${mean(advances).toFixed(0)} fenced advance steps)`, advance.toFixed(2), 'ms');
  figure('    the finish (fenced: frees the lock and slot, admits)', finishes.toFixed(2), 'ms');
  figure(
    `    slot hand-off, the finish's save → the next one's first save (${parts.job.length} seen)`,
    handoff.toFixed(2),
    'ms',
  );
  figure('      the finish save', mean(parts.finish).toFixed(2), 'ms');
  figure("      → the admitted one's read and 'admitted' event", mean(parts.admitted).toFixed(2), 'ms');
  figure('      → the queue: job added, a worker takes it', mean(parts.queue).toFixed(2), 'ms');
  figure("      → the job's reads and its first fenced save", mean(parts.job).toFixed(2), 'ms');
  const kinds = new Map();
  for (const c of calls) {
    if (!byId.has(c.id)) continue;
    const kind = c.method === 'transition' ? `transition ${c.mode}${c.type ? ` ${c.type}` : ''}` : c.method;
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  const counted = [...kinds].sort((a, b) => b[1] - a[1]);
  figure(
    '    store calls per deployment (each a Redis round trip or more)',
    (sum(counted.map(([, k]) => k)) / n).toFixed(1),
    `(${counted.map(([k, v]) => `${k} ${(v / n).toFixed(1)}`).join(', ')})`,
  );
  return { admit, inside, health, advance, handoff };
}
