// bench/baking: with the platform's own services (metadata, local cloud daemon, baking) started
// here, the time of a base bake, of a service bake on that base, their ratio, and of a cached
// bake request (identical inputs). Targets (issue 5): service ≤ 1/5 of base; cached ≤ 100 ms.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPlatform } from '../packages/platform/dist/index.js';
import { freePortBase, packExampleService } from '../packages/test-utils/dist/index.js';
import { figure } from './_lib.mjs';

const home = await mkdtemp(join(tmpdir(), 'slipway-bench-baking-'));
const platform = await startPlatform({ home, portBase: await freePortBase(11), env: { LOG_LEVEL: 'warn' } });
const headers = { Authorization: `Bearer ${platform.adminToken}` };
const baking = platform.urls.baking;

async function bake(path, body) {
  const started = performance.now();
  const res = await fetch(`${baking}${path}`, {
    method: 'POST',
    headers: { ...headers, 'Content-Type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const answer = await res.json();
  if (res.status === 200) return { ms: performance.now() - started, image: answer.image, cached: true };
  const log = await (await fetch(`${baking}/bakes/${answer.id}/log`, { headers })).text();
  const end = JSON.parse(/event: end\ndata: (.*)\n/.exec(log)[1]);
  if (end.state !== 'succeeded') throw new Error(`bake ${answer.id} ${end.state}`);
  const ms = performance.now() - started;
  const record = await (await fetch(`${baking}/bakes/${answer.id}`, { headers })).json();
  const queued = Date.parse(record.startedAt) - Date.parse(record.createdAt);
  const ran = Date.parse(record.finishedAt) - Date.parse(record.startedAt);
  return { ms, image: end.image, cached: false, queued, ran };
}

try {
  await fetch(`${platform.urls.metadata}/services/search`, {
    method: 'PUT',
    headers: { ...headers, 'Content-Type': 'application/json' },
    body: JSON.stringify({ owner: 'bench' }),
  });
  const artifact = await readFile(await packExampleService(home, { version: '1.0.0' }));
  await fetch(`${baking}/artifacts/search/1.0.0`, {
    method: 'PUT',
    headers: { ...headers, 'Content-Type': 'application/gzip' },
    body: artifact,
  });
  const base = await bake('/bakes/base');
  const service = await bake('/bakes', { service: 'search', version: '1.0.0' });
  const cachedRuns = [];
  for (let i = 0; i < 20; i++) {
    const cached = await bake('/bakes', { service: 'search', version: '1.0.0' });
    if (!cached.cached || cached.image !== service.image)
      throw new Error('identical inputs did not answer the same image');
    cachedRuns.push(cached.ms);
  }
  cachedRuns.sort((a, b) => a - b);
  figure('base bake', (base.ms / 1000).toFixed(2), 's');
  figure('service bake (same base)', (service.ms / 1000).toFixed(2), 's');
  figure('ratio service / base', (service.ms / base.ms).toFixed(3), 'x');
  figure('base bake: waiting in the queue / running Packer', `${base.queued} / ${base.ran}`, 'ms');
  figure('service bake: waiting in the queue / running Packer', `${service.queued} / ${service.ran}`, 'ms');
  figure('cached bake request, median of 20', cachedRuns[10].toFixed(1), 'ms');
  figure('cached bake request, worst of 20', cachedRuns[19].toFixed(1), 'ms');
} finally {
  await platform.stop();
  await rm(home, { recursive: true, force: true });
}
