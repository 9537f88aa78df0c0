import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCloud } from '@slipway/cloud';
import { createLogger } from '@slipway/core';
import { type Redis, createRedis } from '@slipway/core/redis';
import {
  eventually,
  FAST_TIME_SCALE,
  fastLoadBalancer,
  freePort,
  startRedis,
  writeTestImage,
  type TestRedis,
} from '@slipway/test-utils';
import type { Deployment } from '../deployments/deployment.js';
import { submitDeployment } from '../deployments/commands.js';
import type { Peers } from '../peers.js';
import { startRunner, type Runner } from '../deployments/runner.js';
import { createRedisDeploymentStore, type DeploymentStore } from '../deployments/store.js';

// Deployments judged by their real traffic: the runner against a real Redis and the local cloud
// (real processes behind a real load balancer), with requests flowing through it all along.
const logger = createLogger({ name: 'orchestrator', level: 'silent' });
let home: string;
let redisServer: TestRedis;
let redis: Redis;
let cloud: LocalCloud;
let store: DeploymentStore;
let runner: Runner;
let port: number;

const IMAGES = {
  'img-v1': { version: '1.0.0' },
  'img-v2': { version: '2.0.0' },
  'img-failing': { version: '3.0.0', errorRate: 1 },
  'img-flaky': { version: '4.0.0', errorRate: 0.3 },
  'img-slow': { version: '5.0.0', delayMs: 250 },
} as const;

const peers: Peers = {
  service: async (name) => ({ name, properties: {} }),
  image: async (id) => ({ id, kind: 'service', service: 'search', version: '1.0.0' }),
  config: async () => ({
    commit: 'c'.repeat(40),
    valid: true,
    errors: [],
    deploymentParams: {
      capacity: { desired: 1 },
      healthCheck: { path: '/healthcheck', intervalSeconds: 5, healthyThreshold: 2 },
      loadBalancer: { name: 'search' },
      strategy: { burnInSeconds: 0, drainSeconds: 0 },
    },
    launchData: [],
    properties: '',
  }),
};

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'slipway-traffic-'));
  for (const [id, options] of Object.entries(IMAGES)) await writeTestImage(join(home, 'images'), id, options);
  redisServer = await startRedis();
  redis = createRedis({ url: redisServer.url });
  cloud = new LocalCloud({ home, logger, reconcileMs: 200, timeScale: FAST_TIME_SCALE });
  await cloud.start();
  port = await freePort();
  await cloud.createLoadBalancer(fastLoadBalancer(port));
  const prefix = redisServer.prefix();
  store = createRedisDeploymentStore({ redis, prefix, leaseMs: 5000 });
  runner = startRunner({
    redisUrl: redisServer.url,
    queuePrefix: `${prefix}queue`,
    store,
    cloud,
    peers,
    logger,
    slots: 2,
    pollMs: 50,
    jobLockMs: 5000,
    sweepMs: 1000,
    notifier: { notify: async () => undefined },
  });
}, 60_000);

afterAll(async () => {
  await runner?.close();
  await cloud?.stop();
  await redis?.quit();
  await redisServer?.stop();
  await rm(home, { recursive: true, force: true });
});

async function deploy(image: keyof typeof IMAGES, params: Record<string, unknown> = {}): Promise<Deployment> {
  const d = await submitDeployment(
    { store, runner, peers, cloud, slots: 2 },
    { service: 'search', env: 'prod', image, message: `deploy ${image}`, params },
    'dave',
  );
  return (await eventually(
    () => store.get(d.id),
    (x) => ['succeeded', 'failed', 'rolled-back', 'cancelled'].includes(x?.state ?? ''),
    `deployment ${d.id}`,
    60_000,
  ))!;
}

/** Requests through the load balancer, eight at a time, until stopped; each answer's status and version. */
function traffic() {
  let running = true;
  const answers: { status: number; version?: string }[] = [];
  const loops = Array.from({ length: 8 }, async () => {
    while (running) {
      try {
        const answer = await fetch(`http://127.0.0.1:${port}/`);
        const body = (await answer.json()) as { version?: string };
        answers.push({ status: answer.status, ...(body.version ? { version: body.version } : {}) });
      } catch {
        answers.push({ status: 0 });
      }
    }
  });
  return {
    answers,
    async stop() {
      running = false;
      await Promise.all(loops);
      return answers;
    },
  };
}

const burnIn = (seconds: number, analysis: Record<string, unknown> = {}) => ({
  strategy: { burnInSeconds: seconds, drainSeconds: 0 },
  analysis,
});

describe('a burn-in judged by its real traffic, through the local cloud', () => {
  it('rolls a version answering 500 to everything back on its first failing requests, not at the end', async () => {
    expect((await deploy('img-v1')).state).toBe('succeeded');
    const load = traffic();
    const done = await deploy('img-failing', burnIn(30));
    const answers = await load.stop();
    expect(done.state).toBe('rolled-back');
    expect(done.reason).toMatch(
      // Heard from the first target taking traffic: in the wait for its health or in the burn-in.
      /^(wait-for-load-balancer-health|burn-in): traffic: the load balancer saw i-\d+ of search-prod-v002 fail \d+ requests in a row \(the last 500\): a hard failure/,
    );
    // Kept under the wait that heard it (`targets` when the first healthy target failed at once).
    const heardIn = done.reason!.startsWith('burn-in') ? 'burn-in' : 'targets';
    expect(done.context.traffic![heardIn]!.hardFailure).toMatch(/hard failure/);
    // Taken out long before its 30 s were up: by the load balancer's event, not a look at the end.
    const burn = done.actions.find((a) => a.name === 'burn-in' && a.finishedAt);
    if (burn) expect(Date.parse(burn.finishedAt!)).toBeLessThan(done.context.waits!['burn-in']!);
    expect(answers.some((a) => a.status === 500)).toBe(true);
    expect(answers.slice(-4).every((a) => a.version === '1.0.0')).toBe(true);
  }, 60_000);

  it('rolls back a version failing 30 % of its requests, by the comparison with the old group', async () => {
    const load = traffic();
    // No hard failure here: the comparison alone finds it.
    const done = await deploy('img-flaky', burnIn(30, { hardFailureRequests: 1000, minimumRequests: 50 }));
    await load.stop();
    expect(done.state).toBe('rolled-back');
    expect(done.reason).toMatch(
      /^burn-in: traffic: new \d+\/\d+ errors \(\d+\.\d\d %\), old 0\/\d+ \(0\.00 %\)(; p99 .*)?: the new group fails more often \(p = .+ < .+\)/,
    );
    const record = done.context.traffic!['burn-in']!;
    expect(record.judgement).toMatchObject({ verdict: 'fail', new: { group: 'search-prod-v003' } });
    expect(record.judgement!.new.errors).toBeGreaterThan(0);
    expect(record.samples.length).toBeGreaterThan(0);
  }, 60_000);

  it('rolls back a version whose p99 is many times the old one', async () => {
    const load = traffic();
    const done = await deploy('img-slow', burnIn(30, { hardFailureRequests: 1000, minimumRequests: 20 }));
    await load.stop();
    expect(done.state).toBe('rolled-back');
    expect(done.reason).toMatch(/; p99 new [\d.,]+ ms, old [\d.,]+ ms: the new group is slower/);
  }, 60_000);

  it('keeps a healthy version, saying what it judged; with no traffic it says the probes judged alone', async () => {
    const quiet = await deploy('img-v2', burnIn(1));
    expect(quiet.state).toBe('succeeded');
    expect(burnInOutput(quiet)).toMatch(
      /not enough traffic to judge \(200 requests each needed\); judged by the health checks alone$/,
    );
    const load = traffic();
    const done = await deploy('img-v1', burnIn(3, { minimumRequests: 20 }));
    await load.stop();
    expect(done.state).toBe('succeeded');
    expect(burnInOutput(done)).toMatch(
      /^burn-in: 3 s watched, healthy; traffic: new 0\/[\d,]+ errors \(0\.00 %\), old 0\/[\d,]+ \(0\.00 %\); p99 new .* ms, old .* ms: no evidence of a regression$/,
    );
    expect(done.context.traffic!['burn-in']!.judgement).toMatchObject({ verdict: 'pass', final: true });
  }, 60_000);
});

const burnInOutput = (d: Deployment) => d.actions.find((a) => a.name === 'burn-in')!.output;
