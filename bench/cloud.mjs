// bench/cloud: under a steady load through a local load balancer (600 req/s for 35 s), swap the
// registered group from A (4 instances) to B (4 instances): register B, wait until healthy,
// deregister A. Prints requests sent, failed and p99 during the run, how many answers A gave
// after `deregister` (the requests it had in flight), the time from `deregister` to its last
// one and to A's targets gone from the load balancer. Target (issue 4): 0 failed.
import autocannon from 'autocannon';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalProvider } from '../packages/cloud/dist/index.js';
import { freePort, writeTestImage } from '../packages/test-utils/dist/index.js';
import { figure, startNode, stop, waitHttp } from './_lib.mjs';

const RATE = Number(process.env.BENCH_RATE ?? 600);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 35);
const home = await mkdtemp(join(tmpdir(), 'slipway-bench-cloud-'));
const tokensFile = join(home, 'tokens.json');
await writeFile(tokensFile, JSON.stringify({ 'bench-token': { subject: 'bench', role: 'platform' } }));
await writeTestImage(join(home, 'images'), 'img-a', { version: 'A' });
await writeTestImage(join(home, 'images'), 'img-b', { version: 'B' });

const port = await freePort();
const daemon = startNode('packages/cloud/dist/main.js', {
  PORT: String(port),
  SLIPWAY_HOME: home,
  SLIPWAY_TOKENS_FILE: tokensFile,
  // AWS's shortest interval (5 s) checked every second, as this bench always has.
  SLIPWAY_CLOUD_TIME_SCALE: '0.2',
  LOG_LEVEL: 'warn',
});
const cloud = createLocalProvider({ baseUrl: `http://127.0.0.1:${port}`, token: 'bench-token' });
const until = async (what, check) => {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};
const healthyIds = async () =>
  new Set((await cloud.describeTargetHealth('search')).filter((t) => t.state === 'healthy').map((t) => t.instanceId));

try {
  await waitHttp(`http://127.0.0.1:${port}/healthz`);
  const lbPort = await freePort();
  await cloud.createLoadBalancer({
    name: 'search',
    port: lbPort,
    protocol: 'http',
    targetGroup: {
      name: 'search',
      healthCheck: {
        path: '/healthcheck',
        intervalSeconds: 5,
        timeoutSeconds: 2,
        healthyThreshold: 2,
        unhealthyThreshold: 2,
      },
      deregistrationDelaySeconds: 25, // 5 s at the time scale
    },
  });
  for (const [name, image, targetGroups] of [
    ['search-prod-v001', 'img-a', ['search']],
    ['search-prod-v002', 'img-b', []],
  ]) {
    await cloud.createLaunchTemplate({
      name,
      imageId: image,
      instanceType: 't3.small',
      userData: { files: {}, commands: [] },
    });
    await cloud.createServerGroup({ name, launchTemplate: name, min: 4, desired: 4, max: 4, targetGroups });
  }
  await until('A healthy', async () => (await healthyIds()).size === 4);
  const groupB = async () => (await cloud.getServerGroup('search-prod-v002')).instances;
  await until('B running', async () => (await groupB()).filter((i) => i.lifecycle === 'running').length === 4);
  const idsA = (await cloud.getServerGroup('search-prod-v001')).instances.map((i) => i.id);
  const idsB = (await groupB()).map((i) => i.id);

  // Every answer from A with the time it arrived, so that those after `deregister` can be told
  // apart: A's last answer may well come before it (all connections waiting on B's first, slow
  // answers), and then A answered nothing after it — 0 ms, not a negative figure.
  const answersFromA = [];
  const run = autocannon({
    url: `http://127.0.0.1:${lbPort}/`,
    connections: 20,
    overallRate: RATE,
    duration: SECONDS,
    requests: [
      {
        onResponse(status, body) {
          if (status === 200 && body.includes('"version":"A"')) answersFromA.push(Date.now());
        },
      },
    ],
  });
  await new Promise((r) => setTimeout(r, 8000));
  await cloud.registerTargets('search', idsB);
  await until('B healthy', async () => {
    const healthy = await healthyIds();
    return idsB.every((id) => healthy.has(id));
  });
  const deregisteredAt = Date.now();
  await cloud.deregisterTargets('search', idsA);
  const targetsOfA = async () =>
    (await cloud.describeTargetHealth('search')).filter((t) => idsA.includes(t.instanceId)).length;
  await until('A drained', async () => (await targetsOfA()) === 0);
  const drainedAt = Date.now();
  const result = await run;
  const afterDeregister = answersFromA.filter((at) => at >= deregisteredAt);
  figure('load', RATE, 'req/s offered');
  figure('duration', SECONDS, 's');
  // autocannon's requests.sent counts one second of rate slots too many with overallRate (seen
  // against a bare server with no error at all), so requests sent = answered + errors + timeouts.
  figure('requests sent', result.requests.total + result.errors + result.timeouts, 'requests');
  figure('requests answered 2xx', result['2xx'], 'requests');
  figure('failed (non-2xx or errors)', result.non2xx + result.errors + result.timeouts, 'requests');
  figure('p99 latency', result.latency.p99, 'ms');
  figure('answers from A after deregister', afterDeregister.length, 'requests');
  figure(
    'deregister to last answer from A',
    afterDeregister.length ? Math.max(...afterDeregister) - deregisteredAt : 0,
    'ms',
  );
  figure('deregister to A drained from the load balancer', drainedAt - deregisteredAt, 'ms');
} finally {
  await stop(daemon);
  await rm(home, { recursive: true, force: true });
}
