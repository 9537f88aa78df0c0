// bench/analysis: deployments judged by their real traffic. With the whole platform started here
// (npm start's way, on free ports; the local cloud, its load balancers, real processes) and 200
// requests a second through the search-prod load balancer all along:
//  1. hard failure: a version answering 500 to everything (its health check passes): the time
//     from its first failing request to the old group serving alone (target ≤ 500 ms);
//  2. soft regression: the new version fails 5 % of its requests, the old 0.5 %: rolled back,
//     after how many requests and seconds;
//  3. latency regression: the new version takes twice as long (p99 twice the old's): rolled back;
//  4. false alarms: 1,000 simulated burn-ins of a healthy version, 1 % errors on both groups, the
//     same judgement code on generated counts (no servers): at most the set rate.
// `--drill N` instead deploys a healthy version (1 % errors, like the old one) N times under the
// same traffic and counts the false alarms (npm run drill -- analysis runs 200).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startPlatform } from '../packages/platform/dist/index.js';
import { createLocalProvider } from '../packages/cloud/dist/index.js';
import { alphaToSpend, judge, milestonesReached } from '../packages/orchestrator/dist/index.js';
import { eventually, freePortBase, packExampleService } from '../packages/test-utils/dist/index.js';
import { figure } from './_lib.mjs';

const { values } = parseArgs({ options: { drill: { type: 'string' }, seed: { type: 'string' } } });
const RATE = 200; // requests a second
const SETTINGS = {
  enabled: true,
  minimumRequests: 200,
  falseAlarmRate: 0.01,
  maxErrorRateIncrease: 0.01,
  p99Tolerance: 0.5,
  p99MarginMs: 5,
  hardFailureRequests: 5,
};

/** mulberry32: a small seeded generator, so a run can be repeated. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function withPlatform(builds) {
  const home = await mkdtemp(join(tmpdir(), 'slipway-bench-analysis-'));
  const portBase = await freePortBase(87);
  const platform = await startPlatform({ home, portBase, env: { LOG_LEVEL: 'warn', SLIPWAY_CLOUD_TIME_SCALE: '0.2' } });
  const api = async (service, path, body, method = body === undefined ? 'GET' : 'POST') => {
    // A read whose kept-alive connection the server closed at that moment is read again.
    const send = () =>
      fetch(`${platform.urls[service]}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${platform.adminToken}`,
          'Content-Type': Buffer.isBuffer(body) ? 'application/gzip' : 'application/json',
        },
        ...(body === undefined ? {} : { body: Buffer.isBuffer(body) ? body : JSON.stringify(body) }),
      });
    const res = await send().catch((error) => (method === 'GET' ? send() : Promise.reject(error)));
    const text = await res.text();
    try {
      return { status: res.status, body: JSON.parse(text) };
    } catch {
      return { status: res.status, body: text };
    }
  };
  try {
    await api('metadata', '/services/search', { owner: 'bench' }, 'PUT');
    const bake = async (path, body) => {
      const { body: started } = await api('baking', path, body ?? {});
      const done = await eventually(
        async () => (await api('baking', `/bakes/${started.id}`)).body,
        (b) => b.state === 'succeeded' || b.state === 'failed',
        'a bake',
        120_000,
      );
      if (!done.image) throw new Error(`bake: ${JSON.stringify(done)}`);
      return done.image;
    };
    await bake('/bakes/base');
    const images = {};
    for (const [key, options] of Object.entries(builds)) {
      const file = await packExampleService(home, options);
      await api('baking', `/artifacts/search/${options.version}`, await readFile(file), 'PUT');
      images[key] = await bake('/bakes', { service: 'search', version: options.version });
    }
    const plan = (await api('infra', '/stacks/search/plans', {})).body;
    const apply = (await api('infra', `/plans/${plan.id}/apply`, {})).body;
    await eventually(
      async () => (await api('infra', `/applies/${apply.id}`)).body,
      (a) => a.state === 'succeeded',
      'infra',
    );
    return { platform, home, api, images, lb: `http://127.0.0.1:${portBase + 80}/` };
  } catch (error) {
    await platform.stop();
    throw error;
  }
}

/** `perSecond` requests a second, sent on time whatever the answers take (an open loop). */
function paced(url, perSecond) {
  const answers = [];
  const pending = new Set();
  const start = Date.now();
  let sent = 0;
  const send = () => {
    const sentAt = Date.now();
    const request = fetch(url)
      .then(async (res) => {
        const body = await res.json().catch(() => ({}));
        answers.push({ sentAt, doneAt: Date.now(), status: res.status, version: body.version });
      })
      .catch(() => answers.push({ sentAt, doneAt: Date.now(), status: 0 }))
      .finally(() => pending.delete(request));
    pending.add(request);
  };
  const timer = setInterval(() => {
    const due = Math.floor(((Date.now() - start) * perSecond) / 1000);
    while (sent < due) {
      send();
      sent++;
    }
  }, 5);
  return {
    answers,
    async stop() {
      clearInterval(timer);
      await Promise.all(pending);
      return answers;
    },
  };
}

async function deploy({ api }, image, params) {
  const request = { service: 'search', env: 'prod', image, message: 'bench', params };
  // A submission whose connection closed under it is sent again: if the first one landed, the
  // second is refused naming it (one deployment per service+env), and that one is followed.
  const { body } = await api('orchestrator', '/deployments', request).catch(() =>
    api('orchestrator', '/deployments', request),
  );
  const id = body.id ?? /dep-[0-9a-z]+/.exec(body.detail ?? '')?.[0];
  if (!id) throw new Error(JSON.stringify(body));
  return eventually(
    async () => (await api('orchestrator', `/deployments/${id}`)).body,
    (d) => ['succeeded', 'failed', 'rolled-back', 'cancelled'].includes(d.state),
    'the deployment',
    300_000,
  );
}

const long = { strategy: { burnInSeconds: 120, drainSeconds: 1 } };

async function platformFigures() {
  const setup = await withPlatform({
    base: { version: '1.0.0', errorRate: 0.005, latencyMs: 100 },
    hard: { version: '2.0.0', errorRate: 1 }, // a 500 at once, as a crashing handler answers
    soft: { version: '3.0.0', errorRate: 0.05, latencyMs: 100 },
    slow: { version: '4.0.0', errorRate: 0.005, latencyMs: 200 },
  });
  try {
    const first = await deploy(setup, setup.images.base, { strategy: { burnInSeconds: 1, drainSeconds: 1 } });
    if (first.state !== 'succeeded') throw new Error(`the first deployment ${first.state}: ${first.reason}`);

    // 1. Hard failure, timed on the load balancer's own clock: every answer of the broken
    // version is a failure it tells of (the client's clock would add its own queueing).
    const seen = [];
    const cloud = createLocalProvider({ baseUrl: setup.platform.urls.cloud, token: setup.platform.adminToken });
    const following = cloud.watchTraffic('search-prod', (event) => seen.push(event));
    let load = paced(setup.lb, RATE);
    const hard = await deploy(setup, setup.images.hard, long);
    let answers = await load.stop();
    following.close();
    const broken = answers.filter((a) => a.version === '2.0.0');
    const failures = seen.filter((e) => e.group === hard.context.group).map((e) => Date.parse(e.at));
    const firstFailing = Math.min(...failures);
    const lastBroken = Math.max(...failures);
    figure(
      'hard failure (500 to everything): rolled back',
      hard.state === 'rolled-back' ? 'yes' : `no (${hard.state})`,
      '',
    );
    figure('  why', JSON.stringify(hard.reason), '');
    figure('  first failing request → old group alone (target ≤ 500)', lastBroken - firstFailing, 'ms');
    figure(
      '  of which first failing request → failure seen by the orchestrator',
      hard.context.failureDetectedAt - firstFailing,
      'ms',
    );
    figure(
      '  requests the broken version answered',
      `${failures.length} (${broken.length} seen by the client)`,
      'requests',
    );
    if (process.env.BENCH_DEBUG)
      for (const a of hard.actions)
        console.log(
          `    ${a.name}: ${Date.parse(a.startedAt) - firstFailing} → ${Date.parse(a.finishedAt) - firstFailing} ms`,
        );

    // 2. Soft regression.
    load = paced(setup.lb, RATE);
    const soft = await deploy(setup, setup.images.soft, long);
    answers = await load.stop();
    const softs = answers.filter((a) => a.version === '3.0.0');
    const judged = soft.context.traffic?.['burn-in']?.judgement;
    figure(
      'soft regression (new 5 % 5xx, old 0.5 %, 200 req/s): rolled back',
      soft.state === 'rolled-back' ? 'yes' : `no (${soft.state})`,
      '',
    );
    figure('  why', JSON.stringify(soft.reason), '');
    figure('  requests the new version answered before it left', softs.length, 'requests');
    figure('  of which failed', softs.filter((a) => a.status !== 200).length, 'requests');
    figure(
      '  its first answer → its last',
      ((Math.max(...softs.map((a) => a.sentAt)) - Math.min(...softs.map((a) => a.sentAt))) / 1000).toFixed(1),
      's',
    );
    figure('  requests judged (new, old)', judged ? `${judged.new.requests}, ${judged.old?.requests}` : '–', '');

    // 3. Latency regression.
    load = paced(setup.lb, RATE);
    const slow = await deploy(setup, setup.images.slow, long);
    answers = await load.stop();
    const slows = answers.filter((a) => a.version === '4.0.0');
    figure('  burn-in', JSON.stringify(slow.actions.find((a) => a.name === 'burn-in')?.output), '');
    figure(
      'latency regression (new twice as slow): rolled back',
      slow.state === 'rolled-back' ? 'yes' : `no (${slow.state})`,
      '',
    );
    figure('  why', JSON.stringify(slow.reason), '');
    figure('  requests the new version answered before it left', slows.length, 'requests');
    figure(
      '  its first answer → its last',
      ((Math.max(...slows.map((a) => a.sentAt)) - Math.min(...slows.map((a) => a.sentAt))) / 1000).toFixed(1),
      's',
    );
  } finally {
    await setup.platform.stop();
    await rm(setup.home, { recursive: true, force: true });
  }
}

/**
 * One simulated burn-in as the watch runs it: every 200 ms each group serves its share of 200
 * req/s, each request failing with `rate`; the watch looks at the milestones and at the end.
 */
function simulatedBurnIn(next, rate, seconds) {
  const counts = { new: { requests: 0, errors: 0 }, old: { requests: 0, errors: 0 } };
  const traffic = (group, c) => ({
    group,
    requests: c.requests,
    responses: { '2xx': c.requests - c.errors, '3xx': 0, '4xx': 0, '5xx': c.errors },
    connectionErrors: 0,
    timeouts: 0,
    attributed: true,
    since: '',
  });
  let milestones = 0;
  const polls = (seconds * 1000) / 200;
  for (let poll = 1; poll <= polls; poll++) {
    for (const c of [counts.new, counts.old]) {
      for (let i = 0; i < (RATE / 2) * 0.2; i++) {
        c.requests++;
        if (next() < rate) c.errors++;
      }
    }
    const last = poll === polls;
    const reached = milestonesReached(Math.min(counts.new.requests, counts.old.requests), SETTINGS.minimumRequests);
    if (reached <= milestones && !last) continue;
    const alpha = alphaToSpend(SETTINGS.falseAlarmRate, milestones, reached, last);
    milestones = reached;
    if (judge(traffic('new', counts.new), traffic('old', counts.old), SETTINGS, alpha).verdict === 'fail') return true;
  }
  return false;
}

function falseAlarmFigures() {
  const seed = Number(values.seed ?? 20261123);
  const next = random(seed);
  const runs = 1000;
  let alarms = 0;
  let naive = 0;
  for (let run = 0; run < runs; run++) {
    if (simulatedBurnIn(next, 0.01, 60)) alarms++;
    // The naive rule at the first look (200 requests each): new error rate over twice the old's.
    const n = Array.from({ length: 200 }, () => next() < 0.01).filter(Boolean).length;
    const o = Array.from({ length: 200 }, () => next() < 0.01).filter(Boolean).length;
    if (n > 2 * o) naive++;
  }
  figure(
    `false alarms: ${runs} simulated healthy burn-ins (60 s at 200 req/s, 1 % errors on both; seed ${seed})`,
    `${((100 * alarms) / runs).toFixed(1)} % (${alarms} of ${runs})`,
    `≤ set rate ${SETTINGS.falseAlarmRate * 100} %`,
  );
  figure(
    '  the naive rule (new error rate over twice the old) after 200 requests each',
    `${((100 * naive) / runs).toFixed(1)} %`,
    '',
  );
}

async function drill(deployments) {
  const setup = await withPlatform({
    v1: { version: '1.0.0', errorRate: 0.01, latencyMs: 5 },
    v2: { version: '2.0.0', errorRate: 0.01, latencyMs: 5 },
  });
  // 100 requests a minimum: looks at about 1, 2 and 4 s and at the end, so the p99 is judged
  // too (two windows in a row after the warm-up).
  const quick = { strategy: { burnInSeconds: 5, drainSeconds: 0 }, analysis: { minimumRequests: 100 } };
  let alarms = 0;
  let judged = 0;
  try {
    await deploy(setup, setup.images.v1, quick);
    for (let i = 0; i < deployments; i++) {
      const load = paced(setup.lb, RATE);
      const d = await deploy(setup, i % 2 ? setup.images.v1 : setup.images.v2, quick);
      await load.stop();
      const verdict = d.context.traffic?.['burn-in']?.judgement?.verdict;
      if (verdict && verdict !== 'not-enough-traffic') judged++;
      if (d.state !== 'succeeded') {
        alarms++;
        console.error(`deployment ${i + 1} ${d.state}: ${d.reason}`);
      }
      if ((i + 1) % 20 === 0) console.error(`${i + 1} of ${deployments}: ${alarms} false alarm(s)`);
    }
    figure(
      `healthy deployments rolled back (1 % errors on both, 200 req/s, 5 s burn-in)`,
      `${alarms} of ${deployments}`,
      '(target 0)',
    );
    figure('  of which the traffic was judged (enough requests)', `${judged} of ${deployments}`, '');
  } finally {
    await setup.platform.stop();
    await rm(setup.home, { recursive: true, force: true });
  }
}

if (values.drill) {
  await drill(Number(values.drill));
} else {
  falseAlarmFigures();
  await platformFigures();
}
process.exit(0);
