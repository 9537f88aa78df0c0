// bench/release: a release across 48 clusters (12 services × 4 clusters each, two waves of 24,
// bake time 0) through the real coordinator, runner, Redis and BullMQ, with the orchestrator's
// own settings (release concurrency 2, 200 ms polls, a release tick every 500 ms) and a stand-in
// cloud whose instances are one HTTP server healthy at once. Printed: the whole release, the
// instances' own start and health (the wait actions, counted once where deployments overlap),
// and the orchestration beyond them (target ≤ 2 s), with where it goes.
import { createLogger } from '../packages/core/dist/index.js';
import { createRedis, createRedisLeasedLocks } from '../packages/core/dist/with-redis.js';
import {
  createRedisDeploymentStore,
  createRedisReleaseStore,
  startReleaseCoordinator,
  startRunner,
} from '../packages/orchestrator/dist/index.js';
import { eventually, startRedis } from '../packages/test-utils/dist/index.js';
import { figure } from './_lib.mjs';
import { breakdown, phases, standInWorld, timedStore } from './_standin.mjs';

const SERVICES = 12;
const CLUSTERS = ['prod-a', 'prod-b', 'prod-c', 'prod-d'];
const CONCURRENCY = Number(process.env.BENCH_RELEASE_CONCURRENCY ?? 2);
// The instances' own start and health: what a faster orchestrator cannot shorten.
const WAITS = new Set([
  'wait-for-instances-running',
  'wait-for-instance-health',
  'wait-for-load-balancer-health',
  'burn-in',
  'wait-for-drain',
]);

/** The length of the union of [start, end] intervals. */
function covered(intervals) {
  let total = 0;
  let end = -Infinity;
  for (const [a, b] of [...intervals].sort((x, y) => x[0] - y[0])) {
    if (b <= end) continue;
    total += b - Math.max(a, end);
    end = b;
  }
  return total;
}

const redisServer = await startRedis();
const redis = createRedis({ url: redisServer.url });
const world = await standInWorld();
const logger = createLogger({ name: 'bench', level: 'silent' });
const prefix = 'bench:';
const { store, calls } = timedStore(createRedisDeploymentStore({ redis, prefix }));
const releases = createRedisReleaseStore({ redis, prefix });
const runner = startRunner({
  redisUrl: redisServer.url,
  queuePrefix: `${prefix}queue`,
  store,
  cloud: world.cloud,
  peers: world.peers,
  logger,
  slots: CONCURRENCY,
  pollMs: 200,
  jobLockMs: 10_000,
  sweepMs: 5000,
  renewMs: 10_000,
  notifier: { async notify() {} },
});
const coordinator = startReleaseCoordinator({
  releases,
  store,
  runner,
  peers: world.peers,
  cloud: world.cloud,
  slots: CONCURRENCY,
  locks: createRedisLeasedLocks({ redis, prefix: `${prefix}releases:`, leaseMs: 30_000 }),
  locksPrefix: `${prefix}releases:`,
  logger,
  tickMs: 500,
});

const services = Array.from({ length: SERVICES }, (_, i) => `svc${String(i).padStart(2, '0')}`);
const cluster = (service, env) => ({
  service,
  env,
  image: `img-${service}`,
  commit: 'c'.repeat(40),
  after: [],
  state: 'pending',
});
const release = {
  id: 'rel-bench48',
  message: 'bench: 48 clusters',
  by: 'bench',
  onFailure: 'stop',
  state: 'running',
  createdAt: new Date().toISOString(),
  items: services.map((service) => ({
    service,
    image: `img-${service}`,
    env: 'prod',
    clusters: CLUSTERS,
    leftOut: [],
  })),
  // Two waves: the first two clusters of every service, then the other two.
  waves: [CLUSTERS.slice(0, 2), CLUSTERS.slice(2)].map((envs, index) => ({
    index,
    bakeSeconds: 0,
    clusters: services.flatMap((service) => envs.map((env) => cluster(service, env))),
  })),
  revision: 0,
};
const started = Date.now();
await releases.create(release, { type: 'created', state: 'running' });
coordinator.poke(release.id);
const done = await eventually(
  () => releases.get(release.id),
  (r) => ['succeeded', 'failed', 'cancelled'].includes(r.state),
  'the release',
  900_000,
);
const totalMs = Date.now() - started;
const deployments = await Promise.all(done.waves.flatMap((w) => w.clusters.map((c) => store.get(c.deployment))));
const waits = deployments.flatMap((d) =>
  d.actions.filter((a) => WAITS.has(a.name)).map((a) => [Date.parse(a.startedAt), Date.parse(a.finishedAt)]),
);
const busy = deployments.map((d) => [Date.parse(d.startedAt), Date.parse(d.finishedAt)]);
const waitMs = covered(waits);
const inDeployments = covered(busy);
const gapsBetween = deployments.map((d) => {
  const order = d.actions;
  return order.slice(1).reduce((sum, a, i) => sum + Date.parse(a.startedAt) - Date.parse(order[i].finishedAt), 0);
});
const otherActions = deployments.map((d) =>
  d.actions.filter((a) => !WAITS.has(a.name)).reduce((sum, a) => sum + a.durationMs, 0),
);
const sum = (list) => list.reduce((a, b) => a + b, 0);
const waveGap =
  Date.parse(done.waves[1].startedAt ?? done.waves[1].clusters[0].startedAt) - Date.parse(done.waves[0].finishedAt);
figure('release across 48 clusters (12 services × 4, two waves, bake 0)', done.state, '');
figure(
  '  clusters succeeded',
  done.waves.flatMap((w) => w.clusters).filter((c) => c.state === 'succeeded').length,
  'of 48',
);
figure('  release concurrency', CONCURRENCY, 'deployments at once');
figure('  whole release', (totalMs / 1000).toFixed(2), 's');
figure("  of which the instances' own start and health (wait actions, overlaps once)", (waitMs / 1000).toFixed(2), 's');
figure('  orchestration beyond them (target ≤ 2 s)', ((totalMs - waitMs) / 1000).toFixed(2), 's');
figure(
  '    no deployment running (release ticks, submission, admission hand-offs)',
  ((totalMs - inDeployments) / 1000).toFixed(2),
  's',
);
figure('    between actions, summed over the 48 deployments', sum(gapsBetween), 'ms');
figure('    inside the other actions, summed over the 48 deployments', sum(otherActions), 'ms');
figure('    wave 1 finished → wave 2 started', waveGap, 'ms');
breakdown(deployments);
phases(deployments, calls, CONCURRENCY);
const firstStart = Math.min(...deployments.map((d) => Date.parse(d.startedAt)));
figure('    the release created → its first deployment started', firstStart - started, 'ms');
await coordinator.close();
await runner.close();
world.close();
await redis.quit();
await redisServer.stop();
process.exit(0);
