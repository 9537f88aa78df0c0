// bench/scale: how the read paths grow with the catalog. With the whole platform started here
// (npm start's way, on free ports), 10, then 100, then 1,000 services × 4 clusters each are made
// directly in the stores (metadata records with a sync set of the 4 clusters, one image per
// service in the local cloud's image store, one succeeded deployment per cluster with its
// release recorded; no instance runs), plus one cluster with a history of 500 deployments. At
// each size: the time each read takes, as its caller sees it (the median of 3 after one warm-up),
// then the ratio 1,000 / 100 (10× the work: ≤ 10 is linear), then each process's RSS, and the
// 1,000-service figures and RSS once more (a second run: memory should stay flat).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPlatform } from '../packages/platform/dist/index.js';
import { createRedis } from '../packages/core/dist/with-redis.js';
import { createRedisServiceStore } from '../packages/metadata/dist/index.js';
import { createRedisDeploymentStore, STRATEGIES } from '../packages/orchestrator/dist/index.js';
import { freePortBase } from '../packages/test-utils/dist/index.js';
import { figure } from './_lib.mjs';

// `npm run bench -- scale 10,100` for a quicker look.
const SIZES = process.argv[2] ? process.argv[2].split(',').map(Number) : [10, 100, 1000];
const LARGEST = SIZES.at(-1);
const PREVIOUS = SIZES.at(-2);
const ENVS = ['prod-a', 'prod-b', 'prod-c', 'prod-d'];
const HISTORY = 500;
const GOAL_MS = 300;

const home = await mkdtemp(join(tmpdir(), 'slipway-bench-scale-'));
const portBase = await freePortBase(87);
const platform = await startPlatform({ home, portBase, env: { LOG_LEVEL: 'warn' } });
const redis = createRedis({ url: platform.redisUrl });
const metadataRedis = createRedis({ url: platform.redisUrl, keyPrefix: 'slipway:metadata:' });
const services = createRedisServiceStore({ redis: metadataRedis });
const deployments = createRedisDeploymentStore({ redis, prefix: 'slipway:orchestrator:' });
const auth = { Authorization: `Bearer ${platform.adminToken}` };

const name = (n) => `svc${String(n).padStart(4, '0')}`;
const imageOf = (n) => `img-bench-${name(n)}`;
let sequence = 0;

async function seedImage(n) {
  const dir = join(home, 'images', imageOf(n));
  await mkdir(dir, { recursive: true });
  const manifest = {
    kind: 'service',
    service: name(n),
    version: '1.0.0',
    createdAt: new Date().toISOString(),
    tags: {},
  };
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
}

/** One succeeded deployment, through the store's own admission and finish (its Lua scripts). */
async function seedDeployment(service, env, image) {
  const at = Date.now();
  const id = `dep-bench${(sequence++).toString(36).padStart(6, '0')}`;
  const group = `${service}-${env}-v${String((sequence % 999) + 1).padStart(3, '0')}`;
  const d = {
    id,
    service,
    env,
    image,
    message: 'bench',
    strategy: 'red-black',
    params: {},
    by: 'bench',
    queue: false,
    state: 'queued',
    createdAt: new Date(at).toISOString(),
    actions: STRATEGIES['red-black'].map((a) => ({ name: a.name, state: 'pending', attempts: 0 })),
    current: 0,
    run: 1,
    context: { commit: 'c'.repeat(40), imageVersion: '1.0.0', params: {}, group },
  };
  const admitted = await deployments.admit(d, 1_000_000);
  if (admitted.outcome !== 'run') throw new Error(`${id}: ${JSON.stringify(admitted)}`);
  Object.assign(d, {
    state: 'succeeded',
    startedAt: new Date(at).toISOString(),
    finishedAt: new Date().toISOString(),
    actions: d.actions.map((a) => ({ ...a, state: 'done', attempts: 1, durationMs: 1 })),
    current: d.actions.length,
  });
  await deployments.transition(d, { mode: 'finish', limit: 1_000_000, event: { type: 'finished' } });
  await deployments.recordServed(service, env, {
    deployment: id,
    image,
    commit: 'c'.repeat(40),
    group,
    at: d.finishedAt,
    // As the record action keeps them: a reader of what serves needs not the deployment's record.
    version: '1.0.0',
    region: null,
  });
}

async function seedService(n) {
  await services.write(
    name(n),
    () => ({ owner: `team${n % 25}`, contact: `team${n % 25}@example.com`, clusters: { prod: ENVS } }),
    { by: 'bench' },
  );
  await seedImage(n);
  for (const env of ENVS) await seedDeployment(name(n), env, imageOf(n));
}

async function inBatches(from, to, each, batch = 25) {
  for (let start = from; start < to; start += batch)
    await Promise.all(Array.from({ length: Math.min(batch, to - start) }, (_, i) => each(start + i)));
}

/** The outbox of the seeded finishes drained, so that its sender is not measured too. */
async function settled() {
  for (let i = 0; i < 600 && (await redis.xlen('slipway:orchestrator:outbox')) > 0; i++)
    await new Promise((resolve) => setTimeout(resolve, 100));
}

async function signIn() {
  const res = await fetch(`${platform.urls.dashboard}/signin`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: platform.adminToken, next: '/' }),
  });
  const cookie = res.headers.get('set-cookie')?.split(';')[0];
  if (!cookie) throw new Error(`the dashboard did not sign in: ${res.status}`);
  return cookie;
}

async function timed(run) {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

async function get(url, headers) {
  const res = await fetch(url, { headers });
  const body = await res.text();
  if (!res.ok) throw new Error(`${url}: ${res.status} ${body.slice(0, 200)}`);
  return body;
}

function cli(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['packages/cli/bin/slipway.cjs', ...args], {
      env: { ...process.env, SLIPWAY_PORT_BASE: String(portBase), SLIPWAY_TOKEN: platform.adminToken, NO_COLOR: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (chunk) => (err += chunk));
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`slipway ${args.join(' ')}: ${code} ${err}`)),
    );
  });
}

const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];

function readings(cookie) {
  const { orchestrator, dashboard, metadata } = platform.urls;
  const history = `${orchestrator}/deployments?service=${name(0)}&env=${ENVS[0]}`;
  return {
    'dashboard home page': () => get(`${dashboard}/`, { Cookie: cookie }),
    'dashboard /services': () => get(`${dashboard}/services`, { Cookie: cookie }),
    'dashboard /services?page=2': () => get(`${dashboard}/services?page=2`, { Cookie: cookie }),
    'dashboard /clusters': () => get(`${dashboard}/clusters`, { Cookie: cookie }),
    'dashboard /clusters?page=2': () => get(`${dashboard}/clusters?page=2`, { Cookie: cookie }),
    'dashboard /deployments': () => get(`${dashboard}/deployments`, { Cookie: cookie }),
    'metadata GET /services?limit=1000': () => get(`${metadata}/services?limit=1000`, auth),
    'GET /sync': () => get(`${orchestrator}/sync`, auth),
    'GET /sync?service= (one service)': () => get(`${orchestrator}/sync?service=${name(1)}`, auth),
    'GET /clusters': () => get(`${orchestrator}/clusters`, auth),
    'GET /clusters?limit=100&offset=100 (a page)': () => get(`${orchestrator}/clusters?limit=100&offset=100`, auth),
    'slipway status (whole command)': () => cli(['status']),
    // What the command asks of the server (one request): the rest is its own process.
    'slipway status: its read alone (server time)': () =>
      get(`${orchestrator}/clusters?order=attention&limit=40`, auth),
    'slipway --help (its start alone, to read the line above by)': () => cli(['--help']),
    'history of 500: first page (service+env, limit 20)': () => get(`${history}&limit=20`, auth),
    'history of 500: all of it (service+env, pages of 200)': async () => {
      let cursor;
      let count = 0;
      do {
        const page = JSON.parse(await get(`${history}&limit=200${cursor ? `&cursor=${cursor}` : ''}`, auth));
        count += page.items.length;
        cursor = page.next;
      } while (cursor);
      if (count !== HISTORY + 1) throw new Error(`history: ${count} deployments`);
    },
    'history by service alone (limit 20)': () => get(`${orchestrator}/deployments?service=${name(0)}&limit=20`, auth),
  };
}

/** Each reading's median of 3 after a warm-up (one reading when the warm-up took over 2 s); NaN when it failed. */
async function measure(cookie) {
  const figures = {};
  for (const [label, run] of Object.entries(readings(cookie))) {
    try {
      const warm = await timed(run);
      const runs = [];
      for (let i = 0; i < (warm > 2000 ? 1 : 3); i++) runs.push(await timed(run));
      figures[label] = median(runs);
    } catch (error) {
      figures[label] = NaN;
      figure(`  ${label} failed`, String(error.message).slice(0, 160), '');
    }
  }
  return figures;
}

async function rss() {
  const { readFile } = await import('node:fs/promises');
  for (const p of platform.processes) {
    const pid = p.pid ?? p.child?.pid;
    if (!pid) continue;
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
    figure(`  RSS ${p.name}`, (kb / 1024).toFixed(0), 'MB');
  }
}

/**
 * Each process's CPU while nobody asks anything, over 20 s (its sweeps and checks at this size):
 * what an idle platform takes from a machine, and from every command run beside it.
 */
async function idleCpu() {
  const { readFile } = await import('node:fs/promises');
  const ticks = async (pid) => {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // utime and stime, the 14th and 15th fields (after the command's parenthesis).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  };
  const pids = platform.processes.map((p) => [p.name, p.pid ?? p.child?.pid]).filter(([, pid]) => pid);
  const before = await Promise.all(pids.map(([, pid]) => ticks(pid)));
  const seconds = 20;
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const after = await Promise.all(pids.map(([, pid]) => ticks(pid)));
  // Clock ticks are hundredths of a second on Linux.
  pids.forEach(([name], i) =>
    figure(`  idle CPU ${name}`, (((after[i] - before[i]) / 100 / seconds) * 100).toFixed(1), '% of a core'),
  );
}

try {
  const load = (await import('node:os')).loadavg();
  figure('load average at start (1, 5, 15 min)', load.map((l) => l.toFixed(2)).join(' '), '');
  const seedStarted = performance.now();
  await seedService(0);
  for (let i = 0; i < HISTORY; i++) await seedDeployment(name(0), ENVS[0], imageOf(0));
  figure(
    `seeded ${HISTORY} deployments of ${name(0)} ${ENVS[0]}`,
    ((performance.now() - seedStarted) / 1000).toFixed(1),
    's',
  );
  const cookie = await signIn();
  const table = {};
  let seeded = 1;
  for (const size of SIZES) {
    const started = performance.now();
    await inBatches(seeded, size, seedService);
    seeded = size;
    await settled();
    figure(
      `seeded up to ${size} services × ${ENVS.length} clusters`,
      ((performance.now() - started) / 1000).toFixed(1),
      's',
    );
    table[size] = await measure(cookie);
    for (const [label, ms] of Object.entries(table[size])) figure(`${size} services: ${label}`, ms.toFixed(0), 'ms');
  }
  console.log('');
  for (const label of Object.keys(table[LARGEST])) {
    const [b, c] = [table[PREVIOUS][label], table[LARGEST][label]];
    figure(
      label,
      SIZES.map((s) => table[s][label].toFixed(0)).join(' / '),
      `ms at ${SIZES.join(' / ')} services; ${LARGEST}/${PREVIOUS} = ${(c / b).toFixed(1)}× (linear ≤ ${LARGEST / PREVIOUS}); ${c <= GOAL_MS ? 'within' : 'over'} ${GOAL_MS} ms`,
    );
  }
  figure('RSS after the tables', '', '');
  await rss();
  figure(`each process's CPU at rest with ${LARGEST} services (20 s)`, '', '');
  await idleCpu();
  const again = await measure(cookie);
  for (const [label, ms] of Object.entries(again))
    figure(`${LARGEST} services, second run: ${label}`, ms.toFixed(0), 'ms');
  figure('RSS after a second run', '', '');
  await rss();
  const after = (await import('node:os')).loadavg();
  figure('load average at the end (1, 5, 15 min)', after.map((l) => l.toFixed(2)).join(' '), '');
} finally {
  await redis.quit();
  await metadataRedis.quit();
  await platform.stop();
  await rm(home, { recursive: true, force: true });
}
process.exit(0);
