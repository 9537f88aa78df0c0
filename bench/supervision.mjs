// bench/supervision: the supervision drill. `npm start`'s platform with a service in its local
// cloud (2 instances behind a load balancer) under steady traffic; every process of the platform
// killed with SIGKILL in turn, BENCH_ROUNDS times (3). Prints requests, failures (target: 0) and
// how long each process took to serve again after its kill.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalProvider } from '../packages/cloud/dist/index.js';
import { startPlatform, supervisionDrill } from '../packages/platform/dist/index.js';
import { fastLoadBalancer, freePort, freePortBase, writeTestImage } from '../packages/test-utils/dist/index.js';
import { figure } from './_lib.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const home = await mkdtemp(join(tmpdir(), 'slipway-bench-supervision-'));
const platform = await startPlatform({ home, portBase: await freePortBase(87), warn: () => {} });
try {
  const cloud = createLocalProvider({ baseUrl: platform.urls.cloud, token: platform.serviceTokens.orchestrator });
  await writeTestImage(join(home, 'images'), 'img-drill1', { service: 'drill' });
  const lbPort = await freePort();
  await cloud.createLoadBalancer(fastLoadBalancer(lbPort, 'drill'));
  await cloud.createLaunchTemplate({
    name: 'drill-prod-v001',
    imageId: 'img-drill1',
    instanceType: 't3.small',
    userData: { files: {}, commands: [] },
  });
  await cloud.createServerGroup({
    name: 'drill-prod-v001',
    launchTemplate: 'drill-prod-v001',
    min: 2,
    desired: 2,
    max: 2,
    targetGroups: ['drill'],
  });
  const deadline = Date.now() + 60_000;
  while ((await cloud.describeTargetHealth('drill')).filter((t) => t.state === 'healthy').length < 2) {
    if (Date.now() > deadline) throw new Error('the drill service did not become healthy');
    await new Promise((r) => setTimeout(r, 200));
  }
  const started = Date.now();
  const figures = await supervisionDrill({ platform, target: `http://127.0.0.1:${lbPort}/`, rounds: ROUNDS });
  figure('rounds (each process killed once a round)', ROUNDS, 'rounds');
  figure('drill duration', ((Date.now() - started) / 1000).toFixed(1), 's');
  figure('requests to the service', figures.requests, 'requests');
  figure('failed requests to the service', figures.failures, 'requests');
  for (const reason of figures.failureReasons) console.log(`  failure: ${reason}`);
  for (const { name } of platform.processes) {
    const times = figures.kills.filter((k) => k.name === name).map((k) => k.backMs);
    figure(`${name}: kill to serving again (worst of ${times.length})`, Math.max(...times), 'ms');
    figure(`${name}: kill to serving again (mean)`, Math.round(times.reduce((a, b) => a + b, 0) / times.length), 'ms');
  }
} finally {
  await platform.stop();
  await rm(home, { recursive: true, force: true });
}
