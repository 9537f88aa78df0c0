// bench/aws-calls: how many AWS API calls a second the platform makes while deployments run,
// counted from moto's request log (every request moto serves, signed with the services' key).
// With the whole platform started here on SLIPWAY_CLOUD=aws against moto's server:
//  1. one red-black deployment (one cluster) with a 30 s burn-in: its calls a second;
//  2. a wave of five at once (five clusters, each its own load balancer): their calls a second.
// Each as calls a second over the whole wave, and over the seconds every deployment of it was in
// its burn-in (polling only). AWS's EC2 API bucket refills at about 20 calls a second for the
// whole account and region: what one deployment costs should not be multiplied by the deployments
// running.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegisterImageCommand, EC2Client } from '@aws-sdk/client-ec2';
import { startPlatform } from '../packages/platform/dist/index.js';
import {
  createMotoNetwork,
  eventually,
  freePortBase,
  gitRepo,
  SLIPWAY_ACCESS_KEY,
  startMoto,
} from '../packages/test-utils/dist/index.js';
import { figure } from './_lib.mjs';

const BURN_IN = 30;
const clusters = { one: ['a1'], wave: ['b1', 'b2', 'b3', 'b4', 'b5'] };

const params = (env) => ({
  capacity: { min: 1, desired: 2, max: 2 },
  instanceType: 't3.small',
  healthCheck: { path: '/healthcheck', timeoutSeconds: 2, intervalSeconds: 5, healthyThreshold: 2 },
  loadBalancer: { name: `search-${env}` },
  strategy: { name: 'red-black', burnInSeconds: BURN_IN, drainSeconds: 1 },
});

const stack = (envs) =>
  `resources:\n${envs
    .map(
      (env, i) => `  search-${env}:
    kind: loadBalancer
    port: ${8100 + i}
    targetGroup:
      name: search-${env}
      healthCheck: { path: /healthcheck, intervalSeconds: 5, timeoutSeconds: 2 }
      deregistrationDelaySeconds: 1
`,
    )
    .join('')}`;

const moto = await startMoto();
const home = await mkdtemp(join(tmpdir(), 'slipway-bench-aws-'));
let platform;
try {
  const network = await createMotoNetwork(moto);
  const all = [...clusters.one, ...clusters.wave];
  for (const env of all)
    await gitRepo(
      { 'deployment-params.json': params(env), 'application-properties.json': { env }, 'launch-data.json': [] },
      { dir: join(home, 'config-repos', `search-${env}.git`) },
    );
  platform = await startPlatform({
    home,
    portBase: await freePortBase(87),
    env: {
      ...moto.env,
      LOG_LEVEL: 'warn',
      SLIPWAY_CLOUD: 'aws',
      SLIPWAY_AWS_VPC_ID: network.vpcId,
      SLIPWAY_AWS_SUBNETS: network.subnets.join(','),
      SLIPWAY_RELEASE_CONCURRENCY: '5',
    },
  });
  const api = async (service, path, body, method = body === undefined ? 'GET' : 'POST') => {
    const res = await fetch(`${platform.urls[service]}${path}`, {
      method,
      headers: { Authorization: `Bearer ${platform.adminToken}`, 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: await res.json().catch(() => ({})) };
  };
  const infra = await gitRepo();
  await infra.git('pull', '--quiet', join(home, 'infra-repo.git'), 'main');
  await infra.commit({ 'stacks/bench.yaml': stack(all) });
  await infra.git('push', '--quiet', join(home, 'infra-repo.git'), 'HEAD:main');
  await infra.remove();
  const plan = (await api('infra', '/stacks/bench/plans', {})).body;
  if (!plan.id) throw new Error(`plan: ${JSON.stringify(plan)}`);
  const apply = (await api('infra', `/plans/${plan.id}/apply`, {})).body;
  const applied = await eventually(
    async () => (await api('infra', `/applies/${apply.id}`)).body,
    (a) => a.state === 'succeeded' || a.state === 'failed',
    'the apply',
    120_000,
  );
  if (applied.state !== 'succeeded') throw new Error(`apply: ${JSON.stringify(applied)}`);
  await api('metadata', '/services/search', { owner: 'bench' }, 'PUT');
  const registered = await api('baking', '/images', { service: 'search', version: '1.0.0', imageId: network.imageId });
  if (registered.status !== 201) throw new Error(`register: ${JSON.stringify(registered.body)}`);
  // Nothing else in this bench calls AWS with the services' key: every call counted is theirs.
  const ec2 = new EC2Client(moto.client);
  await ec2.send(new RegisterImageCommand({ Name: 'unused', RootDeviceName: '/dev/sda1' }));
  ec2.destroy();

  const wave = async (envs) => {
    await moto.resetRecording();
    await moto.startRecording();
    const started = Date.now();
    const ids = [];
    for (const env of envs) {
      const res = await api('orchestrator', '/deployments', {
        service: 'search',
        env,
        image: network.imageId,
        message: 'bench',
      });
      if (res.status !== 202) throw new Error(`deploy ${env}: ${res.status} ${JSON.stringify(res.body)}`);
      ids.push(res.body.id);
    }
    const ended = await Promise.all(
      ids.map((id) =>
        eventually(
          async () => (await api('orchestrator', `/deployments/${id}`)).body,
          (d) => ['succeeded', 'failed', 'rolled-back', 'cancelled'].includes(d.state),
          `deployment ${id}`,
          600_000,
        ),
      ),
    );
    const seconds = (Date.now() - started) / 1000;
    await moto.stopRecording();
    for (const d of ended) if (d.state !== 'succeeded') throw new Error(`${d.id} ${d.state}: ${d.reason}`);
    const calls = (await moto.calls()).filter((c) => c.accessKeyId === SLIPWAY_ACCESS_KEY);
    const perSecond = new Map();
    for (const c of calls) perSecond.set(c.at, (perSecond.get(c.at) ?? 0) + 1);
    const byAction = new Map();
    for (const c of calls) byAction.set(c.action, (byAction.get(c.action) ?? 0) + 1);
    const top = [...byAction].sort((a, b) => b[1] - a[1]).slice(0, 6);
    // The steady part: while every deployment of the wave is in its burn-in, polling and nothing else.
    const burnIns = ended.map((d) => d.actions.find((a) => a.name === 'burn-in'));
    const from = Math.ceil(Math.max(...burnIns.map((a) => Date.parse(a.startedAt))) / 1000) * 1000;
    const to = Math.floor(Math.min(...burnIns.map((a) => Date.parse(a.finishedAt))) / 1000) * 1000;
    const steady = calls.filter((c) => c.at >= from && c.at < to).length / Math.max((to - from) / 1000, 1);
    console.error(
      `${envs.length} deployment(s), ${seconds.toFixed(1)} s: ${top.map(([a, n]) => `${a} ${n}`).join(', ')}`,
    );
    return {
      rate: calls.length / seconds,
      steady,
      steadySeconds: (to - from) / 1000,
      peak: Math.max(0, ...perSecond.values()),
      seconds,
      count: calls.length,
    };
  };

  const one = await wave(clusters.one);
  figure('aws_calls_per_second_1_deployment', one.rate.toFixed(1), 'calls/s');
  figure('aws_calls_per_second_in_burn_in_1_deployment', one.steady.toFixed(1), 'calls/s');
  figure('aws_calls_peak_second_1_deployment', one.peak, 'calls');
  const five = await wave(clusters.wave);
  figure('aws_calls_per_second_5_deployments', five.rate.toFixed(1), 'calls/s');
  figure(
    'aws_calls_per_second_in_burn_in_5_deployments',
    five.steady.toFixed(1),
    `calls/s (over the ${five.steadySeconds} s all five were in burn-in)`,
  );
  figure('aws_calls_peak_second_5_deployments', five.peak, 'calls');
  figure('aws_calls_5_deployments', five.count, 'calls');
  figure('wave_seconds_5_deployments', five.seconds.toFixed(1), 's');
} finally {
  await platform?.stop();
  await moto.stop();
  await rm(home, { recursive: true, force: true });
}
