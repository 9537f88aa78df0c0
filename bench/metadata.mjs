// bench/metadata: GET /services/{name} with 10,000 services stored, against a bare Node http
// server doing the same Redis read (the baseline); then GET /services?owner=<x> over 20,000.
// Targets (issue 2): ratio ≥ 0.5, p99 ≤ 5 ms, the 20k filtered list ≤ 200 ms.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashToken } from '../packages/core/dist/index.js';
import { createRedis } from '../packages/core/dist/with-redis.js';
import { createRedisServiceStore } from '../packages/metadata/dist/index.js';
import { freePort, startRedis } from '../packages/test-utils/dist/index.js';
import { alternate, figure, load, startNode, stop, waitHttp } from './_lib.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const OWNERS = 50;
const token = 'bench-token';
const home = await mkdtemp(join(tmpdir(), 'slipway-bench-'));
const tokensFile = join(home, 'tokens.json');
await writeFile(tokensFile, JSON.stringify({ [`sha256:${hashToken(token)}`]: { subject: 'bench', role: 'admin' } }));

const redisServer = await startRedis();
const redis = createRedis({ url: redisServer.url, keyPrefix: 'slipway:metadata:' });
const store = createRedisServiceStore({ redis });

async function seed(from, to) {
  const batch = 200;
  for (let start = from; start < to; start += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, to - start) }, (_, i) => {
        const n = start + i;
        return store.write(
          `svc${n}`,
          () => ({
            owner: `team${n % OWNERS}`,
            contact: `team${n % OWNERS}@example.com`,
            description: `Service number ${n}`,
            ci: { url: `https://ci.example.com/svc${n}` },
            tier: n % 3,
          }),
          { by: 'bench' },
        );
      }),
    );
  }
}

const servicePort = await freePort();
const baselinePort = await freePort();
const env = { REDIS_URL: redisServer.url, SLIPWAY_TOKENS_FILE: tokensFile, SLIPWAY_HOME: home };
const service = startNode('packages/metadata/dist/main.js', { ...env, PORT: String(servicePort) });
const baseline = startNode('bench/metadata-baseline.mjs', { ...env, PORT: String(baselinePort) });

try {
  await seed(0, 10_000);
  await waitHttp(`http://127.0.0.1:${servicePort}/healthz`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const randomPath = () => `/services/svc${Math.floor(Math.random() * 10_000)}`;
  const headers = { Authorization: `Bearer ${token}` };

  // Warm both up, then measure one after the other on the same machine.
  await load({ url: `http://127.0.0.1:${servicePort}`, path: randomPath, headers, seconds: 2 });
  await load({ url: `http://127.0.0.1:${baselinePort}`, path: randomPath, seconds: 2 });
  const {
    a: ours,
    b: base,
    rounds,
  } = await alternate(
    { url: `http://127.0.0.1:${servicePort}`, path: randomPath, headers, seconds: SECONDS, pid: service.pid },
    { url: `http://127.0.0.1:${baselinePort}`, path: randomPath, seconds: SECONDS, pid: baseline.pid },
  );
  figure('rounds, alternating ours and baseline', rounds, `rounds of ${SECONDS} s each`);

  figure('services stored', 10_000, 'services');
  figure('get service req/s', Math.round(ours.requests.average), 'req/s');
  figure('get service p50', ours.latency.p50, 'ms');
  figure('get service p99', ours.latency.p99, 'ms');
  figure('baseline req/s', Math.round(base.requests.average), 'req/s');
  figure('baseline p50', base.latency.p50, 'ms');
  figure('baseline p99', base.latency.p99, 'ms');
  figure('ratio (ours / baseline req/s)', (ours.requests.average / base.requests.average).toFixed(2), 'x');
  figure('server CPU per request, ours', ours.cpuMicrosPerRequest.toFixed(0), 'µs');
  figure('server CPU per request, baseline', base.cpuMicrosPerRequest.toFixed(0), 'µs');

  await seed(10_000, 20_000);
  const listOnce = async () => {
    const started = performance.now();
    const res = await fetch(`http://127.0.0.1:${servicePort}/services?owner=team7&limit=1000`, { headers });
    const count = (await res.json()).items.length;
    return { ms: performance.now() - started, count };
  };
  // Cold: the first list after a write, which reloads every record; warm: lists while nothing changed.
  const cold = [];
  for (let i = 0; i < 5; i++) {
    await store.write(`svc${i}`, (current) => ({ ...current, touched: i }), { by: 'bench' });
    cold.push((await listOnce()).ms);
  }
  const warm = [];
  let count = 0;
  for (let i = 0; i < 11; i++) {
    const run = await listOnce();
    warm.push(run.ms);
    count = run.count;
  }
  cold.sort((a, b) => a - b);
  warm.sort((a, b) => a - b);
  figure('services stored', 20_000, 'services');
  figure('filtered list matches (owner=team7)', count, 'services');
  figure('filtered list, warm, median of 11', warm[5].toFixed(1), 'ms');
  figure('filtered list, warm, worst of 11', warm[10].toFixed(1), 'ms');
  figure('filtered list right after a write, median of 5', cold[2].toFixed(1), 'ms');
  figure('filtered list right after a write, worst of 5', cold[4].toFixed(1), 'ms');
} finally {
  await Promise.all([stop(service), stop(baseline)]);
  await redis.quit();
  await redisServer.stop();
  await rm(home, { recursive: true, force: true });
}
