// bench/orchestrator: with the whole platform started here (npm start's way, on free ports),
//  1. a 10-instance red-black deploy of the example service under steady traffic: its total
//     time, the orchestration overhead (total minus instance start, health waits, burn-in and
//     drain) per action, and the failed requests during the switch (target 0);
//  2. a 10-instance version whose health check fails in service: the time from the failure
//     being detected to the old group serving all traffic (target ≤ 1 s), from the
//     orchestrator's own measure and from the traffic (the last answer of the broken version);
//  3. 100 services' deployments submitted at once with a release concurrency of 2, through the
//     real runner, Redis and BullMQ but a stand-in cloud whose instances are one HTTP server:
//     all finish, in order, never more than 2 at once, no action lost or run twice.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPlatform } from '../packages/platform/dist/index.js';
import { createLogger } from '../packages/core/dist/index.js';
import { createRedis } from '../packages/core/dist/with-redis.js';
import {
  createRedisDeploymentStore,
  startRunner,
  submitDeployment,
  STRATEGIES,
} from '../packages/orchestrator/dist/index.js';
import { eventually, freePortBase, packExampleService, startRedis } from '../packages/test-utils/dist/index.js';
import { figure } from './_lib.mjs';
import { breakdown, phases, standInWorld, timedStore } from './_standin.mjs';

const WAITS = new Set([
  'wait-for-instances-running',
  'wait-for-instance-health',
  'wait-for-load-balancer-health',
  'burn-in',
  'wait-for-drain',
]);

async function withPlatform() {
  const home = await mkdtemp(join(tmpdir(), 'slipway-bench-orchestrator-'));
  const portBase = await freePortBase(87);
  // The example stack's 5 s health checks run every second, as this bench always measured them.
  const platform = await startPlatform({ home, portBase, env: { LOG_LEVEL: 'warn', SLIPWAY_CLOUD_TIME_SCALE: '0.2' } });
  const api = async (service, path, body, method = body === undefined ? 'GET' : 'POST') => {
    const res = await fetch(`${platform.urls[service]}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${platform.adminToken}`,
        ...(Buffer.isBuffer(body) ? { 'Content-Type': 'application/gzip' } : { 'Content-Type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: Buffer.isBuffer(body) ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    try {
      return { status: res.status, body: JSON.parse(text) };
    } catch {
      return { status: res.status, body: text };
    }
  };
  await api('metadata', '/services/search', { owner: 'bench' }, 'PUT');
  const images = {};
  const bake = async (path, body) => {
    const { body: started } = await api('baking', path, body ?? {});
    const done = await eventually(
      async () => (await api('baking', `/bakes/${started.id}`)).body,
      (b) => b.state === 'succeeded' || b.state === 'failed',
      'a bake',
      120_000,
    );
    return done.image;
  };
  await bake('/bakes/base');
  for (const [key, version, broken] of [
    ['v1', '1.0.0', 0],
    ['v2', '2.0.0', 0],
    ['v3', '3.0.0', 5],
  ]) {
    const file = await packExampleService(home, { version, unhealthyAfterSeconds: broken });
    await api('baking', `/artifacts/search/${version}`, await readFile(file), 'PUT');
    images[key] = await bake('/bakes', { service: 'search', version });
  }
  const plan = (await api('infra', '/stacks/search/plans', {})).body;
  const apply = (await api('infra', `/plans/${plan.id}/apply`, {})).body;
  await eventually(
    async () => (await api('infra', `/applies/${apply.id}`)).body,
    (a) => a.state === 'succeeded',
    'infra',
  );
  return { platform, home, api, images, lb: `http://127.0.0.1:${portBase + 80}` };
}

function traffic(url) {
  let running = true;
  const seen = { ok: 0, failed: 0, answers: [] };
  const loop = (async () => {
    while (running) {
      try {
        const res = await fetch(url);
        const body = await res.json();
        if (res.status === 200) seen.ok++;
        else seen.failed++;
        seen.answers.push({ at: Date.now(), version: body.version, status: res.status });
      } catch {
        seen.failed++;
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return seen;
    },
  };
}

async function deploy({ api }, image, params) {
  const { body } = await api('orchestrator', '/deployments', {
    service: 'search',
    env: 'prod',
    image,
    message: 'bench',
    params,
  });
  if (!body.id) throw new Error(JSON.stringify(body));
  return eventually(
    async () => (await api('orchestrator', `/deployments/${body.id}`)).body,
    (d) => ['succeeded', 'failed', 'rolled-back', 'cancelled'].includes(d.state),
    'the deployment',
    300_000,
  );
}

async function platformFigures() {
  const setup = await withPlatform();
  try {
    const ten = { capacity: { min: 1, desired: 10, max: 10 }, strategy: { burnInSeconds: 2, drainSeconds: 1 } };
    await deploy(setup, setup.images.v1, ten);
    const load = traffic(setup.lb);
    const d = await deploy(setup, setup.images.v2, ten);
    const seen = await load.stop();
    const total = Date.parse(d.finishedAt) - Date.parse(d.startedAt);
    const waits = d.actions.filter((a) => WAITS.has(a.name)).reduce((sum, a) => sum + a.durationMs, 0);
    const others = d.actions.filter((a) => !WAITS.has(a.name));
    const inActions = d.actions.reduce((sum, a) => sum + a.durationMs, 0);
    figure('10-instance red-black deploy, total', (total / 1000).toFixed(2), 's');
    figure('  of which instance start, health waits, burn-in (2 s) and drain (1 s)', (waits / 1000).toFixed(2), 's');
    figure('  orchestration overhead', total - waits, 'ms');
    figure('  orchestration overhead per action', ((total - waits) / d.actions.length).toFixed(1), 'ms');
    figure(
      '  of which between actions (the fenced saves of each), per action',
      ((total - inActions) / d.actions.length).toFixed(1),
      'ms',
    );
    // Each action is stamped as started, then saved so (the fenced advance step), then run: the
    // save is what its span holds beyond its own duration (ms stamps: summed, the rounding evens out).
    const saves = d.actions.reduce(
      (sum, a) => sum + Math.max(Date.parse(a.finishedAt) - Date.parse(a.startedAt) - a.durationMs, 0),
      0,
    );
    const inOthers = others.reduce((sum, a) => sum + a.durationMs, 0);
    const perAction = (ms) => (ms / d.actions.length).toFixed(1);
    figure('  its parts, per action: the fenced save that starts it', perAction(saves), 'ms');
    figure("  its parts, per action: inside the non-wait actions (the cloud's own calls)", perAction(inOthers), 'ms');
    figure(
      '  its parts, per action: the rest (the loop between actions, the job taken, the finish)',
      perAction(total - waits - saves - inOthers),
      'ms',
    );
    figure("  orchestration overhead per action beyond the cloud's calls", perAction(total - waits - inOthers), 'ms');
    const gaps = d.actions.slice(1).map((a, i) => ({
      ms: Date.parse(a.startedAt) - Date.parse(d.actions[i].finishedAt),
      at: `${d.actions[i].name} → ${a.name}`,
    }));
    const widest = gaps.reduce((w, g) => (g.ms > w.ms ? g : w), gaps[0]);
    figure('  widest gap between two actions', `${widest.ms}`, `ms (${widest.at})`);
    figure(
      '  inside the other actions, per action',
      (others.reduce((s, a) => s + a.durationMs, 0) / others.length).toFixed(1),
      'ms',
    );
    for (const a of others) figure(`  ${a.name}`, a.durationMs, 'ms');
    figure('requests during the switch', seen.ok + seen.failed, 'requests');
    figure('failed requests during the switch (target 0)', seen.failed, 'requests');

    const load2 = traffic(setup.lb);
    const broken = await deploy(setup, setup.images.v3, { ...ten, strategy: { burnInSeconds: 20, drainSeconds: 1 } });
    const seen2 = await load2.stop();
    const events = await (
      await fetch(`${setup.platform.urls.orchestrator}/deployments/${broken.id}/events`, {
        headers: { Authorization: `Bearer ${setup.platform.adminToken}` },
      })
    ).text();
    const rolled = events
      .split('\n')
      .filter((line) => line.startsWith('data: ') && line.includes('rollbackMs'))
      .map((line) => JSON.parse(line.slice(6)))[0];
    const restoredAt = Date.parse(rolled.at);
    const detectedAt = restoredAt - rolled.rollbackMs;
    const lastBroken = seen2.answers.filter((a) => a.version === '3.0.0').at(-1);
    figure('broken version rolled back', broken.state === 'rolled-back' ? 'yes' : `no (${broken.state})`, '');
    figure('failure detected → old group alone in service (target ≤ 1000)', rolled.rollbackMs, 'ms');
    figure(
      'failure detected → last answer from the broken version (traffic)',
      lastBroken ? Math.max(lastBroken.at - detectedAt, 0) : 0,
      'ms',
    );
    figure('failed requests during the rollback', seen2.failed, 'requests');
    // Where detection → old group alone goes: the turn back saved, each rollback action up to the
    // new group out (its cloud calls), and the fenced saves between them.
    const failedAt = broken.actions.findIndex((a) => a.state === 'failed');
    const turned = broken.actions.slice(failedAt + 1).filter((a) => a.startedAt); // the forward ones left were skipped
    const out = turned.findIndex((a) => a.name === 'take-new-group-out');
    if (failedAt >= 0 && out >= 0) {
      figure(
        '  of which the turn back saved (detection → the first rollback action started)',
        Date.parse(turned[0].startedAt) - detectedAt,
        'ms',
      );
      for (const a of turned.slice(0, out + 1)) figure(`  inside ${a.name}`, a.durationMs, 'ms');
      const inside = turned.slice(0, out + 1).reduce((sum, a) => sum + a.durationMs, 0);
      figure(
        '  the rest (the fenced saves between them)',
        rolled.rollbackMs - (Date.parse(turned[0].startedAt) - detectedAt) - inside,
        'ms',
      );
    }
  } finally {
    await setup.platform.stop();
    await rm(setup.home, { recursive: true, force: true });
  }
}

/** Redis' own counters: its CPU (s), the commands it ran, and its EVALSHA calls with their time (µs). */
async function redisCounters(redis) {
  const cpu = await redis.info('cpu');
  const stats = await redis.info('commandstats');
  const read = (text, name) => Number(new RegExp(`${name}:([0-9.]+)`).exec(text)?.[1] ?? 0);
  const evalsha = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(stats);
  const commands = [...stats.matchAll(/cmdstat_[a-z|]+:calls=(\d+)/g)].reduce((s, m) => s + Number(m[1]), 0);
  return {
    cpu: read(cpu, 'used_cpu_user') + read(cpu, 'used_cpu_sys'),
    commands,
    scripts: Number(evalsha?.[1] ?? 0),
    scriptUs: Number(evalsha?.[2] ?? 0),
  };
}

/**
 * The runner, Redis and BullMQ for real; the cloud and the peers stand-ins that answer at once.
 * The stand-in's health check is AWS's shortest, two passes (the schema's least): the
 * orchestrator probes them 100 ms apart here, a wait of the workload's own that the 2.70 s
 * measured before the checks kept AWS's bounds (one pass) did not have.
 */
async function releaseQueueFigures(pingMs) {
  const redisServer = await startRedis();
  const redis = createRedis({ url: redisServer.url });
  const { cloud, peers, close } = await standInWorld();
  let maxRunning = 0;
  const logger = createLogger({ name: 'bench', level: 'silent' });
  // The runner's store timed; the bench watches through its own, untimed.
  const raw = createRedisDeploymentStore({ redis, prefix: 'bench:' });
  const { store, calls } = timedStore(raw);
  const runner = startRunner({
    redisUrl: redisServer.url,
    queuePrefix: 'bench:queue',
    store,
    cloud,
    peers,
    logger,
    slots: 2,
    pollMs: 20,
    jobLockMs: 10_000,
    sweepMs: 2000,
    notifier: { async notify() {} },
  });
  const ids = [];
  const redisBefore = await redisCounters(redis);
  const cpuBefore = process.cpuUsage();
  const startedAt = Date.now();
  const started = performance.now();
  const watch = setInterval(async () => {
    maxRunning = Math.max(maxRunning, (await raw.running()).length);
  }, 10);
  for (let i = 0; i < 100; i++) {
    const service = `svc${String(i).padStart(3, '0')}`;
    const request = { service, env: 'prod', image: `img-${service}`, message: 'bench' };
    const deployment = await submitDeployment({ store, runner, peers, cloud, slots: 2 }, request, 'bench');
    ids.push(deployment.id);
  }
  const submittedMs = performance.now() - started;
  // Watched cheaply (two reads, no records) until no deployment holds a slot or waits for one:
  // reading 100 records every 100 ms would take the runner's event loop and Redis from it.
  await eventually(
    async () => (await raw.running()).length + (await raw.admissionQueue()).length,
    (left) => left === 0,
    '100 deployments',
    600_000,
  );
  const all = await Promise.all(ids.map((id) => raw.get(id)));
  if (!all.every((d) => ['succeeded', 'failed', 'rolled-back', 'cancelled'].includes(d.state)))
    throw new Error('a deployment gave its slot back unfinished');
  // From the submission to the last finish as recorded (not when a poll saw it).
  const totalMs = Math.max(...all.map((d) => Date.parse(d.finishedAt))) - startedAt;
  clearInterval(watch);
  const cpu = process.cpuUsage(cpuBefore);
  const redisAfter = await redisCounters(redis);
  const byStart = [...all].sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt)).map((d) => d.id);
  const ordered = byStart.every((id, i) => i < 2 || ids.indexOf(id) >= ids.indexOf(byStart[i - 2]));
  const actionsPerDeployment = STRATEGIES['red-black'].length;
  const lost = all.filter((d) => d.actions.some((a) => a.state !== 'done')).length;
  const twice = all.filter((d) => d.actions.some((a) => a.attempts !== 1)).length;
  figure('100 deployments submitted (validation, admission, queuing)', submittedMs.toFixed(0), 'ms');
  figure('100 deployments finished, concurrency 2', (totalMs / 1000).toFixed(2), 's');
  figure('  succeeded', all.filter((d) => d.state === 'succeeded').length, 'deployments');
  figure('  most running at once (limit 2)', maxRunning, 'deployments');
  figure('  started in the order submitted', ordered ? 'yes' : 'no', '');
  figure('  actions lost / run twice', `${lost} / ${twice}`, `of ${100 * actionsPerDeployment}`);
  figure('  per action, on average', ((totalMs / (100 * actionsPerDeployment)) * 2).toFixed(1), 'ms (2 at a time)');
  breakdown(all);
  const p = phases(all, calls, 2);
  figure('  where the wall time goes', '', '');
  figure(
    '    the health waits (each deployment waits its own, 2 at a time)',
    ((100 * p.health) / 2 / 1000).toFixed(2),
    's',
  );
  figure('    the wall time beyond the health waits', ((totalMs - (100 * p.health) / 2) / 1000).toFixed(2), 's');
  figure(
    "    this process's CPU (the runner, BullMQ, ioredis, the stand-ins)",
    ((cpu.user + cpu.system) / 1e6).toFixed(2),
    's',
  );
  figure("    Redis' own CPU", (redisAfter.cpu - redisBefore.cpu).toFixed(2), 's');
  const scripts = redisAfter.scripts - redisBefore.scripts;
  figure(
    '    Redis commands per deployment (those inside scripts counted, ours and BullMQ’s)',
    ((redisAfter.commands - redisBefore.commands) / 100).toFixed(1),
    `(of which ${(scripts / 100).toFixed(1)} scripts)`,
  );
  const storeCalls = calls.filter((c) => ids.includes(c.id)).length / 100;
  figure(
    "    the runner's store calls per deployment × a Redis round trip (PING): their floor, per slot",
    ((storeCalls * pingMs) / 1).toFixed(1),
    `ms (${storeCalls.toFixed(1)} × ${pingMs.toFixed(2)} ms)`,
  );
  figure(
    '    a script inside Redis, mean',
    scripts ? ((redisAfter.scriptUs - redisBefore.scriptUs) / scripts).toFixed(0) : 0,
    'µs',
  );
  await runner.close();
  close();
  await redis.quit();
  await redisServer.stop();
}

/**
 * Where the time between two actions goes: one fenced save (store.transition, the Lua script
 * that checks the version and the lock's token and writes the record, its events, its lease)
 * against a bare round trip to the same Redis (PING) and a plain SET of the same record.
 */
async function savesFigures() {
  const redisServer = await startRedis();
  const redis = createRedis({ url: redisServer.url });
  const store = createRedisDeploymentStore({ redis, prefix: 'bench:' });
  const names = STRATEGIES['red-black'].map((a) => a.name);
  const d = {
    id: 'dep-saves',
    service: 'search',
    env: 'prod',
    image: 'img-1',
    message: 'bench',
    strategy: 'red-black',
    params: {},
    by: 'bench',
    queue: false,
    state: 'queued',
    createdAt: new Date().toISOString(),
    // A record as it is near its end: every action done, with its output.
    actions: names.map((name) => ({
      name,
      state: 'done',
      attempts: 1,
      durationMs: 5,
      output: `${name}: done, as said`,
    })),
    current: 0,
    run: 1,
    context: { commit: 'c'.repeat(40), params: { capacity: { desired: 10 } }, userData: { files: {}, commands: [] } },
  };
  await store.admit(d, 2);
  d.state = 'running';
  const time = async (n, run) => {
    const runs = [];
    for (let i = 0; i < n; i++) {
      const started = process.hrtime.bigint();
      await run(i);
      runs.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    return runs.sort((a, b) => a - b)[Math.floor(n / 2)];
  };
  const record = JSON.stringify(d);
  const rounds = 400;
  // Interleaved: each kind of call in turn, so that the machine's drift hits all alike.
  const medians = { ping: [], set: [], save: [] };
  for (let r = 0; r < 4; r++) {
    medians.ping.push(await time(rounds / 4, () => redis.ping()));
    medians.set.push(await time(rounds / 4, () => redis.set('bench:plain', record)));
    medians.save.push(
      await time(rounds / 4, () => store.transition(d, { event: { type: 'action-finished', action: 'bench' } })),
    );
  }
  const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
  figure('a fenced save between two actions (store.transition), median', median(medians.save).toFixed(2), 'ms');
  figure('  a Redis round trip (PING), median', median(medians.ping).toFixed(2), 'ms');
  figure(`  a plain SET of the same record (${record.length} bytes), median`, median(medians.set).toFixed(2), 'ms');
  figure('  two saves per action (started, finished)', (2 * median(medians.save)).toFixed(2), 'ms');
  await redis.quit();
  await redisServer.stop();
  return median(medians.ping);
}

const pingMs = await savesFigures();
if (process.argv[2] === 'saves') process.exit(0);
await releaseQueueFigures(pingMs);
if (process.argv[2] === 'queue') process.exit(0);
await platformFigures();
process.exit(0);
