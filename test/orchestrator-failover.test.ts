import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CloudProvider } from '@slipway/cloud';
import { createLogger } from '@slipway/core';
import { type Redis, createRedis } from '@slipway/core/redis';
import {
  createRedisDeploymentStore,
  startRunner,
  submitDeployment,
  type Deployment,
  type DeploymentStore,
  type Runner,
} from '@slipway/orchestrator';
import {
  eventually,
  freePort,
  seededRandom,
  standInCloud,
  startSentinelRedis,
  type SentinelRedis,
} from '@slipway/test-utils';
import { standInPeers as peers } from '../packages/orchestrator/src/deployments/runner.fixture.js';

// Drill 4: the orchestrator's Redis is a primary with a replica under three sentinels (Debian's
// redis-sentinel, on loopback); the primary is SIGKILLed while deployments of several clusters
// run (each cluster's deployments submitted with fixed ids, as a release's are, and submitted
// again when an answer is lost). Every deployment ends true to the cloud, no cluster that served
// is ever without a group in service, and nothing is admitted twice. FAILOVER_KILLS (1 in npm
// test; `npm run drill -- failover --releases 5`) and FAILOVER_SEED.
let redis: SentinelRedis;
let connection: Redis;
const logger = createLogger({ name: 'failover', level: 'silent' });

beforeAll(async () => {
  redis = await startSentinelRedis();
}, 60_000);
afterAll(async () => {
  connection?.disconnect();
  await redis?.stop();
});

const SERVICES = ['north', 'south', 'east', 'west'];

describe('drill 4: a Redis failover', () => {
  it('ends every deployment true to the cloud through a failover, none admitted twice, no cluster without service', async () => {
    const kills = Number(process.env.FAILOVER_KILLS ?? 1);
    const seed = Number(process.env.FAILOVER_SEED ?? Math.floor(Math.random() * 1e9));
    const rand = seededRandom(seed);
    console.log(`failover drill: seed ${seed}, ${kills} primary kill(s) (FAILOVER_SEED=${seed} replays it)`);
    const sentinels = { sentinels: redis.sentinels, name: redis.name };
    connection = createRedis({ url: 'redis://unused', sentinels });
    const prefix = 'failover:';
    const store: DeploymentStore = createRedisDeploymentStore({
      redis: connection,
      prefix,
      leaseMs: 30_000,
      waitReplicas: 1,
    });
    const standIn = standInCloud();
    const cloud = standIn.cloud as unknown as CloudProvider;
    const runner: Runner = startRunner({
      redisUrl: 'redis://unused',
      redisConnection: { url: 'redis://unused', prefix: `${prefix}queue`, sentinels },
      queuePrefix: `${prefix}queue`,
      store,
      cloud,
      peers,
      logger,
      slots: 2,
      pollMs: 50,
      jobLockMs: 2000,
      sweepMs: 300,
      renewMs: 1000,
      notifier: { notify: async () => undefined },
    });
    // Sampled every 50 ms: a cluster that served and has nothing in service.
    const dark: string[] = [];
    const served = new Set<string>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const s of SERVICES) {
          const cluster = `${s}-prod`;
          if (standIn.inService(cluster).length) served.add(cluster);
          else if (served.has(cluster)) dark.push(cluster);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    /** Submitted until answered, with a fixed id: a lost answer is submitted again, and admitted once. */
    const submit = async (id: string, service: string, image: string) =>
      eventually(
        () =>
          submitDeployment(
            { store, runner, peers, cloud, slots: 2 },
            {
              service,
              env: 'prod',
              image,
              message: 'failover drill',
              queue: true,
              params: { strategy: { burnInSeconds: 1 } },
            },
            'drill',
            { id },
          ),
        Boolean,
        `the submission of ${id}`,
        60_000,
      );
    const ids: string[] = [];
    try {
      for (let round = 0; round < kills; round++) {
        // Each round: every cluster gets a good version, then a broken one behind it (rolled back).
        for (const service of SERVICES) {
          for (const [n, kind] of ['good', 'bad'].entries()) {
            const id = `dep-fo${round}${service}${n}`;
            ids.push(id);
            await submit(id, service, `img-${service}-${kind}${round}`);
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 300 + rand() * 2500));
        const failover = await redis.killPrimary();
        console.log(`failover drill: primary ${failover.from} killed, ${failover.to} primary after ${failover.ms} ms`);
        await eventually(
          () => Promise.all(ids.map((id) => store.get(id))),
          (all) => all.every((d) => d && ['succeeded', 'failed', 'rolled-back', 'cancelled'].includes(d.state)),
          'every deployment to end',
          120_000,
        );
      }
    } finally {
      sampling = false;
      await sampler;
      await runner.close();
    }
    const all = (await Promise.all(ids.map((id) => store.get(id)))) as Deployment[];
    const outcomes = all.map((d) => `${d.id} ${d.state}${d.reason ? `: ${d.reason}` : ''}`);
    console.log(`failover drill: ${all.length} deployments\n${outcomes.join('\n')}`);
    expect(dark).toEqual([]);
    for (const d of all) {
      // Nothing admitted twice: one admission each.
      const admissions = (await store.events(d.id)).filter((e) => e.event.type === 'queued');
      expect({ id: d.id, admissions: admissions.length }).toEqual({ id: d.id, admissions: 1 });
    }
    for (const service of SERVICES) {
      // True to the cloud: the last deployment of each cluster as its record says.
      const last = all
        .filter((d) => d.service === service)
        .sort((a, b) => Date.parse(a.finishedAt!) - Date.parse(b.finishedAt!))
        .at(-1)!;
      const inService = standIn.inService(`${service}-prod`);
      if (last.state === 'succeeded') expect(inService).toContain(last.context.group);
      else
        expect({ id: last.id, state: last.state, inService }).not.toEqual(
          expect.objectContaining({ inService: [last.context.group] }),
        );
      // One at a time in each cluster.
      const runs = all
        .filter((d) => d.service === service && d.startedAt)
        .map((d) => [Date.parse(d.startedAt!), Date.parse(d.finishedAt!)] as const)
        .sort((x, y) => x[0] - y[0]);
      for (let i = 1; i < runs.length; i++) expect(runs[i]![0]).toBeGreaterThanOrEqual(runs[i - 1]![1]);
    }
  }, 900_000);
});

describe('every service follows the primary the sentinels name', () => {
  it("metadata, started with REDIS_SENTINELS as the platform's others are, keeps what it stored and answers after a failover, behind the primary's password", async () => {
    // A Redis that requires a password (as npm start's does): REDIS_URL then names only it.
    const guarded = await startSentinelRedis({ password: 'drill-secret' });
    const dir = await mkdtemp(join(tmpdir(), 'slipway-failover-metadata-'));
    const tokens = join(dir, 'tokens.json');
    await writeFile(tokens, JSON.stringify({ 'drill-token': { subject: 'drill', role: 'admin' } }));
    const port = await freePort();
    const metadata = spawn(process.execPath, ['packages/metadata/dist/main.js'], {
      env: {
        ...process.env,
        PORT: String(port),
        SLIPWAY_TOKENS_FILE: tokens,
        REDIS_URL: 'redis://:drill-secret@sentinels/0',
        REDIS_SENTINELS: guarded.sentinels.map(({ host, port }) => `${host}:${port}`).join(','),
        REDIS_SENTINEL_NAME: guarded.name,
        LOG_LEVEL: 'silent',
      },
      stdio: 'ignore',
    });
    const put = (name: string) =>
      fetch(`http://127.0.0.1:${port}/services/${name}`, {
        method: 'PUT',
        headers: { Authorization: 'Bearer drill-token', 'Content-Type': 'application/json' },
        body: JSON.stringify({ owner: 'drill' }),
      }).then(
        (answer) => answer.status,
        () => 0,
      );
    try {
      await eventually(
        () => put('before'),
        (status) => status === 201,
        'metadata stores a service',
        30_000,
      );
      await redis.killPrimary();
      await eventually(
        () => put('after'),
        (status) => status === 201,
        'metadata stores one after the failover',
        30_000,
      );
      const names = (await (
        await fetch(`http://127.0.0.1:${port}/services`, { headers: { Authorization: 'Bearer drill-token' } })
      ).json()) as { items: { name: string }[] };
      expect(names.items.map((item) => item.name).sort()).toEqual(['after', 'before']);
    } finally {
      metadata.kill('SIGKILL');
      await guarded.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
