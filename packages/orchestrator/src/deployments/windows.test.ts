import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import type { TrafficEvent } from '@slipway/cloud';
import { type Redis, createRedisLeasedLocks, type LeasedLocks } from '@slipway/core/redis';
import { eventually, gate, startRedis, type TestRedis } from '@slipway/test-utils';
import { createRedisReleaseStore } from '../rollouts/release-store.js';
import { promoteClaim } from '../rollouts/release-validation.js';
import { startReleaseCoordinator } from '../rollouts/releases.js';
import type { ReleaseRecord } from '../rollouts/release.js';
import { createDeploymentMetrics } from '../metrics.js';
import {
  ended,
  logger,
  orchestratorFixture,
  reaches,
  standInPeers,
  TOKENS,
  type OrchestratorFixture,
} from './runner.fixture.js';
import type { Deployment } from './deployment.js';

// Issue 22's six windows, each replayed at its exact moment (a call held at its start) against a
// real Redis, the real runner and BullMQ, and the stand-in cloud.
let redisServer: TestRedis;
let fixture: OrchestratorFixture | undefined;

beforeAll(async () => {
  redisServer = await startRedis();
});
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});
afterAll(async () => {
  await redisServer.stop();
});

async function deploy(f: OrchestratorFixture, service: string, image: string, params: object = {}, extra = {}) {
  const answer = await request(f.app)
    .post('/deployments')
    .set(TOKENS.deployer)
    .send({ service, env: 'prod', image, message: 'window', params: { strategy: params }, ...extra });
  expect(answer.status).toBe(202);
  return answer.body.id as string;
}

const control = (f: OrchestratorFixture, id: string, kind: string) =>
  request(f.app).post(`/deployments/${id}/${kind}`).set(TOKENS.deployer).send({});

describe('1. nothing left in service', () => {
  it.each([
    ['cancel', 'red-black', { retainedGroups: 0 }],
    ['rollback', 'highlander', {}],
  ])(
    'refuses a %s that arrives while %s destroys the old group, and the cluster keeps serving',
    async (kind, strategy, params) => {
      const f = (fixture = await orchestratorFixture(redisServer));
      const first = await deploy(f, 'one', 'img-one-1', params, { strategy });
      expect((await ended(f.store, first)).state).toBe('succeeded');
      const destroying = gate();
      const release = f.standIn.intercept('destroyServerGroup', () => destroying.hold());
      const second = await deploy(f, 'one', 'img-one-2', params, { strategy });
      await destroying.arrived;
      const answer = await control(f, second, kind);
      release();
      destroying.open();
      const done = await ended(f.store, second);
      // Applied, or refused in words; either way something serves.
      expect(f.standIn.inService('one-prod')).not.toEqual([]);
      expect(answer.status).toBe(409);
      expect(answer.body.detail).toMatch(/nothing to go back to/);
      expect(done.state).toBe('succeeded');
    },
  );
});

describe('2. a cancel lost during a pause', () => {
  it('ends a deployment cancelled while the worker was committing its pause', async () => {
    const held = gate();
    let armed = false;
    const f = (fixture = await orchestratorFixture(redisServer, {
      store: (store) => ({
        ...store,
        async setControl(id, kind, by, event) {
          if (armed && kind === 'cancel') await held.hold();
          return store.setControl(id, kind, by, event);
        },
      }),
    }));
    const working = gate();
    const stop = f.standIn.intercept('createServerGroup', () => working.hold());
    const id = await deploy(f, 'two', 'img-two-1');
    await working.arrived;
    expect((await control(f, id, 'pause')).status).toBe(202);
    armed = true;
    // The API reads the deployment running, then is held just before it saves the cancel…
    const cancel = control(f, id, 'cancel').then((r) => r);
    await held.arrived;
    // …while the worker finishes its action and commits the pause.
    stop();
    working.open();
    await reaches(f.store, id, (d) => d.state === 'paused', 'the pause');
    held.open();
    expect((await cancel).status).toBe(202);
    expect((await ended(f.store, id)).state).toBe('cancelled');
  });

  it('lets a third cluster deploy while two deployments are paused', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    const paused: string[] = [];
    const working = gate();
    const stop = f.standIn.intercept('createServerGroup', () => working.hold());
    for (const service of ['pausea', 'pauseb']) {
      const id = await deploy(f, service, `img-${service}-1`);
      paused.push(id);
    }
    await working.arrived;
    for (const id of paused) expect((await control(f, id, 'pause')).status).toBe(202);
    stop();
    working.open();
    for (const id of paused) await reaches(f.store, id, (d) => d.state === 'paused', 'the pause');
    const third = await deploy(f, 'pausec', 'img-pausec-1');
    expect((await ended(f.store, third, 10_000)).state).toBe('succeeded');
    // Resumed, each queues for a slot again and finishes.
    for (const id of paused) expect((await control(f, id, 'resume')).status).toBe(202);
    for (const id of paused) expect((await ended(f.store, id)).state).toBe('succeeded');
  });
});

describe('3. breaking a lock', () => {
  it('fences the holder out for good, even when it commits in the middle of the break', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    const working = gate();
    const stop = f.standIn.intercept('createServerGroup', () => working.hold());
    const id = await deploy(f, 'three', 'img-three-1');
    await working.arrived;
    // The break and the holder's next commit, as close as they come.
    const broken = request(f.app).delete('/services/three/envs/prod/lock?reason=stuck').set(TOKENS.admin);
    stop();
    working.open();
    expect((await broken).status).toBe(200);
    const done = await ended(f.store, id);
    expect(done).toMatchObject({ state: 'failed', reason: expect.stringMatching(/lock/) });
    expect(await f.store.running()).not.toContain(id);
    expect(await f.store.holder('three', 'prod')).toBeUndefined();
  });

  it('never lets the holder take back a lock broken between the lock and its slot', async () => {
    const midBreak = gate();
    let armed = false;
    // Today's break is two steps (the lock, then the slot): held between them.
    const holdMulti = (redis: Redis) =>
      new Proxy(redis, {
        get(target, property) {
          const value = Reflect.get(target, property) as unknown;
          if (property === 'multi' && armed) {
            return (...args: never[]) => {
              const multi = target.multi(...args);
              const exec = multi.exec.bind(multi);
              multi.exec = (async () => {
                await midBreak.hold();
                return exec();
              }) as typeof multi.exec;
              return multi;
            };
          }
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    const f = (fixture = await orchestratorFixture(redisServer, { storeRedis: holdMulti }));
    const working = gate();
    const stop = f.standIn.intercept('createServerGroup', () => working.hold());
    const id = await deploy(f, 'threeb', 'img-threeb-1');
    await working.arrived;
    armed = true;
    const broken = request(f.app).delete('/services/threeb/envs/prod/lock?reason=stuck').set(TOKENS.admin);
    const between = await Promise.race([midBreak.arrived.then(() => true), broken.then(() => false)]);
    stop();
    working.open();
    if (between) {
      // The holder's next commit lands between the two halves.
      await eventually(
        () => f.store.holder('threeb', 'prod'),
        (holder) => holder === id,
        'the holder to commit',
        3000,
      ).catch(() => undefined);
      midBreak.open();
    }
    expect((await broken).status).toBe(200);
    const done = await ended(f.store, id);
    expect(done).toMatchObject({ state: 'failed', reason: expect.stringMatching(/lock/) });
    expect(await f.store.running()).not.toContain(id);
  });
  it("ends the holder of a broken lock even when the admin's process died right after the break", async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    const working = gate();
    const stop = f.standIn.intercept('createServerGroup', () => working.hold());
    const id = await deploy(f, 'threec', 'img-threec-1');
    await working.arrived;
    expect((await control(f, id, 'pause')).status).toBe(202);
    stop();
    working.open();
    await reaches(f.store, id, (d) => d.state === 'paused', 'the pause');
    // The break's one step, and nothing after it: the process that broke it died there. A paused
    // deployment has no run to find itself fenced out, and holds no lock or slot the sweep reads.
    expect(
      await f.store.breakLock('threec', 'prod', 2, {
        brokenBy: 'admin',
        reason: 'stuck',
        at: new Date().toISOString(),
      }),
    ).toBeDefined();
    const done = await ended(f.store, id);
    expect(done).toMatchObject({ state: 'failed', reason: expect.stringMatching(/lock was broken/) });
    expect(await f.store.lockBreaks('threec', 'prod')).toHaveLength(1);
    // Its timeline says who broke the lock and why, before its end: the event is the break's too
    // (appended after it, a dead breaker's was lost, and a sweep or the holder's own run ending it
    // first had it refused, the record finished).
    const said = (await f.store.events(id)).map(({ event }) => event);
    const at = said.findIndex((e) => e.type === 'lock-broken');
    expect(said[at]).toMatchObject({ brokenBy: 'admin', reason: 'stuck', owner: id, state: 'paused' });
    expect(at).toBeLessThan(said.findIndex((e) => e.type === 'finished'));
  });
});

describe('4. admission', () => {
  it('refuses to admit an id that exists, leaving the running record as it is', async () => {
    const f = (fixture = await orchestratorFixture(redisServer, { runner: { runsActions: false } }));
    const d = record('dep-fixedid', 'four');
    expect((await f.store.admit(d, 2)).outcome).toBe('run');
    const running = (await f.store.get(d.id))!;
    running.state = 'running';
    running.current = 5;
    await f.store.transition(running, { event: { type: 'action-started' } });
    const again = record('dep-fixedid', 'four');
    const answer = await f.store.admit(again, 2);
    expect(answer.outcome).toBe('exists');
    expect(await f.store.get(d.id)).toMatchObject({ state: 'running', current: 5, version: 2 });
  });

  it("renews a deployment's lock and slot while one action outlasts the lease: nobody else is admitted meanwhile", async () => {
    // The worker's renewal alone keeps them (no sweep runs): a lease of 300 ms, one call held 1.5 s.
    const f = (fixture = await orchestratorFixture(redisServer, {
      leaseMs: 300,
      runner: { renewMs: 100, sweepMs: 60_000 },
    }));
    const held = gate();
    const stop = f.standIn.intercept('createServerGroup', () => held.hold());
    const first = await deploy(f, 'renew', 'img-renew-1');
    await held.arrived;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const slotEnds = Number(await f.redis.zscore(`${f.prefix}running`, first));
    expect(slotEnds).toBeGreaterThan(Date.now());
    const second = await request(f.app)
      .post('/deployments')
      .set(TOKENS.deployer)
      .send({ service: 'renew', env: 'prod', image: 'img-renew-2', message: 'meanwhile' });
    expect(second.status).toBe(409);
    expect(second.body.detail).toContain(first);
    stop();
    held.open();
    expect((await ended(f.store, first)).state).toBe('succeeded');
  });

  it('renews a release tick lease while the tick runs, so a second replica never ticks it too', async () => {
    const f = (fixture = await orchestratorFixture(redisServer, { runner: { runsActions: false } }));
    const releases = createRedisReleaseStore({ redis: f.redis, prefix: f.prefix });
    const locksPrefix = `${f.prefix}releases:`;
    const release: ReleaseRecord = {
      id: 'rel-slowtick',
      message: 'slow',
      by: 'dave',
      onFailure: 'stop',
      state: 'running',
      createdAt: new Date().toISOString(),
      items: [],
      waves: [
        {
          index: 0,
          bakeSeconds: 0,
          clusters: [
            {
              service: 'fourb',
              env: 'prod',
              image: 'img-fourb-1',
              commit: 'c'.repeat(40),
              after: [],
              state: 'pending',
            },
          ],
        },
      ],
      revision: 0,
    };
    await releases.create(release, { type: 'created' });
    const acquired: boolean[] = [];
    const coordinator = (slow: boolean, watch?: boolean[]) => {
      const locks = createRedisLeasedLocks({ redis: f.redis, prefix: locksPrefix, leaseMs: 300 });
      const watched: LeasedLocks = {
        ...locks,
        async acquire(name, owner, holder) {
          const answer = await locks.acquire(name, owner, holder);
          watch?.push('token' in answer);
          return answer;
        },
      };
      let first = slow;
      return startReleaseCoordinator({
        releases,
        store: {
          ...f.store,
          async get(id) {
            const found = await f.store.get(id);
            // A slow tick: its look at the cluster's deployment takes longer than its lease.
            if (first && id.startsWith('dep-slowtick')) {
              first = false;
              await new Promise((resolve) => setTimeout(resolve, 900));
            }
            return found;
          },
        },
        runner: f.runner,
        peers: standInPeers,
        cloud: f.cloud,
        slots: 2,
        locks: watched,
        locksPrefix,
        logger,
        tickMs: 3_600_000,
      });
    };
    const a = coordinator(true);
    const b = coordinator(false, acquired);
    a.poke(release.id);
    for (let i = 0; i < 8; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await b.sweep();
    }
    await eventually(
      () => releases.get(release.id),
      (r) => r?.waves[0]!.clusters[0]!.state === 'deploying',
      'the cluster started',
    );
    await a.close();
    await b.close();
    const id = (await releases.get(release.id))!.waves[0]!.clusters[0]!.deployment!;
    const admissions = (await f.store.events(id)).filter((e) => e.event.type === 'queued');
    expect(admissions).toHaveLength(1);
    expect(acquired.slice(0, 6)).not.toContain(true);
  });
});

describe('5. an expired lease', () => {
  it('never makes an unvetted group a rollback target', async () => {
    const f = (fixture = await orchestratorFixture(redisServer, {
      leaseMs: 400,
      runner: { renewMs: 60_000, sweepMs: 60_000 },
    }));
    const first = await deploy(f, 'five', 'img-five-1');
    expect((await ended(f.store, first)).state).toBe('succeeded');
    const vetted = f.standIn.inService('five-prod');
    // The second takes traffic, then every replica is away longer than a lease.
    const away = gate();
    const stop = f.standIn.intercept('listServerGroups', async () => {
      if (f.standIn.inService('five-prod').length === 2) await away.hold();
    });
    const second = await deploy(f, 'five', 'img-five-2', { burnInSeconds: 0, retainedGroups: 5 });
    await away.arrived;
    stop();
    await new Promise((resolve) => setTimeout(resolve, 900));
    // A third, broken, is admitted meanwhile and rolls back.
    const third = await deploy(f, 'five', 'img-five-bad', { retainedGroups: 5 });
    const done = await ended(f.store, third);
    away.open();
    await ended(f.store, second);
    expect(done.context.previous).toBe(vetted[0]);
    expect(done.state).toBe('rolled-back');
    // What serves after the rollback is vetted, and the cluster's page says which groups are.
    expect(f.standIn.inService('five-prod')).toContain(vetted[0]);
    const page = await request(f.app).get('/services/five/envs/prod').set(TOKENS.deployer);
    const groups = [page.body.active, ...page.body.retained].filter(Boolean) as { name: string; vetted: boolean }[];
    expect(Object.fromEntries(groups.map((g) => [g.name, g.vetted]))).toMatchObject({
      [vetted[0]!]: true,
      [done.context.group!]: false,
    });
  });
});

describe('6. outcomes after finish', () => {
  it('notifies and counts an outcome whose process died right after the finish was saved', async () => {
    let dieAfterFinish = true;
    const f = (fixture = await orchestratorFixture(redisServer, {
      store: (store) => ({
        ...store,
        async transition(d, options) {
          const saved = await store.transition(d, options);
          if (options?.event?.type === 'finished' && dieAfterFinish) {
            dieAfterFinish = false;
            // The process is killed here: nothing after this await runs.
            await new Promise(() => undefined);
          }
          return saved;
        },
      }),
    }));
    const metrics = createDeploymentMetrics({
      redis: f.redis,
      prefix: f.prefix,
      store: f.store,
      peers: { image: async () => undefined, sourceCommit: async () => undefined } as never,
    });
    const id = await deploy(f, 'six', 'img-six-1');
    await ended(f.store, id);
    await eventually(
      async () => f.notified.filter((n) => n.id === id && n.kind === 'success').length,
      (n) => n >= 1,
      'the success notification',
      10_000,
    );
    expect(await metrics.registry.getSingleMetricAsString('slipway_deployments_total')).toMatch(
      /service="six",env="prod",outcome="succeeded"} 1/,
    );
  });

  it('appends no event of a stale worker after the deployment finished', async () => {
    const f = (fixture = await orchestratorFixture(redisServer, { runner: { runsActions: false } }));
    const d = record('dep-stale6', 'sixb');
    await f.store.admit(d, 2);
    const stale = (await f.store.get(d.id))!;
    await f.runner.finish((await f.store.get(d.id))!, 'cancelled', 'cancelled by dave');
    await f.runner.event(stale, 'progress', { text: 'a stale worker speaking' }).catch(() => undefined);
    const types = (await f.store.events(d.id)).map((e) => e.event.type);
    expect(types.slice(types.indexOf('finished') + 1)).toEqual([]);
  });
});

function record(id: string, service: string): Deployment {
  return {
    id,
    service,
    env: 'prod',
    image: `img-${service}-1`,
    message: 'm',
    strategy: 'red-black',
    params: {},
    by: 'dave',
    queue: false,
    state: 'queued',
    createdAt: new Date().toISOString(),
    actions: [{ name: 'resolve-image', state: 'pending', attempts: 0 }],
    current: 0,
    run: 1,
    context: {},
  };
}

/** A release coordinator on the fixture's store and runner, ticked by the test (sweep). */
function coordinatorOf(f: OrchestratorFixture, releases: ReturnType<typeof createRedisReleaseStore>) {
  const locksPrefix = `${f.prefix}releases:`;
  return startReleaseCoordinator({
    releases,
    store: f.store,
    runner: f.runner,
    peers: standInPeers,
    cloud: f.cloud,
    slots: 2,
    locks: createRedisLeasedLocks({ redis: f.redis, prefix: locksPrefix, leaseMs: 10_000 }),
    locksPrefix,
    logger,
    tickMs: 3_600_000,
  });
}

describe('7. a confirmation outlived by a wait in the queue', () => {
  /** B confirmed against img-conf-1 serving, queued behind A (deploying `between`); A succeeds; then B's turn. */
  async function outlived(between: string) {
    const f = (fixture = await orchestratorFixture(redisServer));
    expect((await ended(f.store, await deploy(f, 'conf', 'img-conf-1'))).state).toBe('succeeded');
    // A holds the cluster's lock, its group not made yet: img-conf-1 still serves.
    const making = gate();
    const release = f.standIn.intercept('createLaunchTemplate', () => making.hold());
    const first = await deploy(f, 'conf', between);
    await making.arrived;
    // B is previewed now (from img-conf-1), confirmed, and waits behind A.
    const preview = await request(f.app)
      .post('/deployments/preview')
      .set(TOKENS.deployer)
      .send({ service: 'conf', env: 'prod', image: 'img-conf-3' });
    expect(preview.body.clusters[0].from.image).toBe('img-conf-1');
    const second = await deploy(f, 'conf', 'img-conf-3', {}, { queue: true, confirm: preview.body.confirmation });
    release();
    making.open();
    expect((await ended(f.store, first)).state).toBe('succeeded');
    const serving = async () =>
      (await f.cloud.listServerGroups('conf-prod')).filter((g) => !g.disabled).map((g) => g.tags?.image);
    return { first, done: await ended(f.store, second), serving };
  }

  it('fails, before touching the cluster, a queued change whose confirmed from → to is no longer what it would do', async () => {
    const { first, done, serving } = await outlived('img-conf-2');
    // When B's turn comes, img-conf-2 serves: the change confirmed (img-conf-1 → img-conf-3) is not this one.
    expect(done.state).toBe('failed');
    expect(done.reason).toMatch(
      new RegExp(
        `the confirmation named img-conf-1 \\(conf-prod-v001\\) → img-conf-3; conf prod changed since: img-conf-2 serves now \\(conf-prod-v002, deployed by ${first}\\)`,
      ),
    );
    expect(await serving()).toEqual(['img-conf-2']);
  });

  it('goes on when what it waited behind redeployed the same image and config: what serves is what was confirmed', async () => {
    const { done, serving } = await outlived('img-conf-1');
    expect(done.state).toBe('succeeded');
    expect(await serving()).toEqual(['img-conf-3']);
  });
});

describe('8. a promotion outlived by a wait in the queue', () => {
  it('fails, before touching the cluster, a promotion queued behind a deploy of a newer version (no downgrade by waiting)', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    expect((await ended(f.store, await deploy(f, 'promo', 'img-promo-1'))).state).toBe('succeeded');
    const making = gate();
    const release = f.standIn.intercept('createLaunchTemplate', () => making.hold());
    const newer = await deploy(f, 'promo', 'img-promo-3');
    await making.arrived;
    // The promotion of img-promo-2 is checked now (img-promo-1 serves: forward) and waits behind it.
    const releases = createRedisReleaseStore({ redis: f.redis, prefix: f.prefix });
    const since = new Date().toISOString();
    await releases.create(
      {
        id: 'rel-promowait',
        message: 'promote',
        by: 'dave',
        onFailure: 'stop',
        state: 'running',
        createdAt: since,
        items: [
          {
            service: 'promo',
            image: 'img-promo-2',
            env: 'prod',
            clusters: ['prod'],
            leftOut: [],
            promotedFrom: { env: 'staging', deployment: 'dep-promostage', since },
          },
        ],
        waves: [
          {
            index: 0,
            bakeSeconds: 0,
            clusters: [
              {
                service: 'promo',
                env: 'prod',
                image: 'img-promo-2',
                commit: 'c'.repeat(40),
                after: [],
                state: 'pending',
              },
            ],
          },
        ],
        revision: 0,
      },
      { type: 'created' },
      [promoteClaim('promo', 'prod')],
    );
    const coordinator = coordinatorOf(f, releases);
    try {
      await coordinator.sweep();
      const cluster = (await releases.get('rel-promowait'))!.waves[0]!.clusters[0]!;
      expect(cluster).toMatchObject({ state: 'deploying' });
      const promoted = cluster.deployment!;
      expect((await f.store.get(promoted))!.state).toBe('queued');
      release();
      making.open();
      expect((await ended(f.store, newer)).state).toBe('succeeded');
      const done = await ended(f.store, promoted);
      expect(done.state).toBe('failed');
      expect(done.reason).toMatch(
        /the release checked img-promo-1 → img-promo-2; promo prod changed since: img-promo-3 serves now/,
      );
      const groups = await f.cloud.listServerGroups('promo-prod');
      expect(groups.filter((g) => !g.disabled).map((g) => g.tags?.image)).toEqual(['img-promo-3']);
    } finally {
      await coordinator.close();
    }
  });
});

describe("9. a release's rollback-all outlived by a wait in the queue", () => {
  it('fails, before touching the cluster, the going back of a cluster a person deployed a newer version to meanwhile', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    expect((await ended(f.store, await deploy(f, 'rball', 'img-rball-1'))).state).toBe('succeeded');
    const releases = createRedisReleaseStore({ redis: f.redis, prefix: f.prefix });
    const cluster = (service: string, image: string) => ({
      service,
      env: 'prod',
      image,
      commit: 'c'.repeat(40),
      after: [],
      state: 'pending' as const,
    });
    // Wave 1 releases img-rball-2; wave 2 fails at once (an image of another service): rollback-all.
    await releases.create(
      {
        id: 'rel-rballwait',
        message: 'two waves',
        by: 'dave',
        onFailure: 'rollback-all',
        state: 'running',
        createdAt: new Date().toISOString(),
        items: [],
        waves: [
          { index: 0, bakeSeconds: 0, clusters: [cluster('rball', 'img-rball-2')] },
          { index: 1, bakeSeconds: 0, clusters: [cluster('rbfail', 'img-other-1')] },
        ],
        revision: 0,
      },
      { type: 'created' },
    );
    const coordinator = coordinatorOf(f, releases);
    try {
      await coordinator.sweep();
      const first = (await releases.get('rel-rballwait'))!.waves[0]!.clusters[0]!.deployment!;
      expect((await ended(f.store, first)).state).toBe('succeeded');
      // A person deploys img-rball-3 and holds the cluster, its release not recorded yet.
      const making = gate();
      const release = f.standIn.intercept('createLaunchTemplate', (args) =>
        (args[0] as { name: string }).name.startsWith('rball-') ? making.hold() : undefined,
      );
      const newer = await deploy(f, 'rball', 'img-rball-3');
      await making.arrived;
      // Wave 2 fails; the release goes back on wave 1's cluster, queued behind the person's deploy.
      let back: string | undefined;
      for (let i = 0; i < 10 && !back; i++) {
        await coordinator.sweep();
        back = (await releases.get('rel-rballwait'))!.waves[0]!.clusters[0]!.rollback;
      }
      expect(back).toBeDefined();
      release();
      making.open();
      expect((await ended(f.store, newer)).state).toBe('succeeded');
      const done = await ended(f.store, back!);
      expect(done.state).toBe('failed');
      expect(done.reason).toMatch(
        /the release checked img-rball-2 → img-rball-1; rball prod changed since: img-rball-3 serves now/,
      );
      const groups = await f.cloud.listServerGroups('rball-prod');
      expect(groups.filter((g) => !g.disabled).map((g) => g.tags?.image)).toEqual(['img-rball-3']);
    } finally {
      await coordinator.close();
    }
  });
});

describe('10. an undo outlived by a deploy that finished while it was being checked', () => {
  it('fails, before touching the cluster, an undo whose "what serves" changed between its check and its admission', async () => {
    // The undo, checked against what serves, held at its admission.
    const checking = gate();
    const f = (fixture = await orchestratorFixture(redisServer, {
      store: (real) =>
        new Proxy(real, {
          get: (store, property) =>
            property === 'admit'
              ? async (d: Deployment, limit: number) => {
                  if (d.undoOf) await checking.hold();
                  return store.admit(d, limit);
                }
              : Reflect.get(store, property),
        }),
    }));
    expect((await ended(f.store, await deploy(f, 'undoa', 'img-undoa-1'))).state).toBe('succeeded');
    const second = await deploy(f, 'undoa', 'img-undoa-2');
    expect((await ended(f.store, second)).state).toBe('succeeded');
    const undo = request(f.app)
      .post('/services/undoa/envs/prod/undo')
      .set(TOKENS.deployer)
      .send({ message: 'back', deployment: second })
      .then((r) => r);
    const early = await Promise.race([checking.arrived.then(() => undefined), undo]);
    expect(early && { status: early.status, body: early.body }).toBeUndefined();
    // Meanwhile another person's deploy of img-undoa-3 runs and finishes: the cluster is free again.
    expect((await ended(f.store, await deploy(f, 'undoa', 'img-undoa-3'))).state).toBe('succeeded');
    checking.open();
    const answer = await undo;
    expect(answer.status).toBe(202);
    const done = await ended(f.store, answer.body.id as string);
    // It went back from img-undoa-2, which no longer serves: img-undoa-3 is not replaced unseen.
    expect(done.state).toBe('failed');
    expect(done.reason).toMatch(
      /the undo went back from img-undoa-2 .*→ img-undoa-1; undoa prod changed since: img-undoa-3 serves now .*Nothing was changed: undo again to go back from what serves now/,
    );
    const groups = await f.cloud.listServerGroups('undoa-prod');
    expect(groups.filter((g) => !g.disabled).map((g) => g.tags?.image)).toEqual(['img-undoa-3']);
  });
});

describe('11. two people resuming one paused deployment', () => {
  it("answers the one who came second with the state the deployment is in now, not the 'paused' it read", async () => {
    const held = gate();
    let armed = false;
    const f = (fixture = await orchestratorFixture(redisServer, {
      store: (store) => ({
        ...store,
        async transition(d, options) {
          if (armed && options?.mode === 'resume') {
            armed = false;
            await held.hold();
          }
          return store.transition(d, options);
        },
      }),
    }));
    const working = gate();
    const stop = f.standIn.intercept('createServerGroup', () => working.hold());
    const id = await deploy(f, 'resa', 'img-resa-1');
    await working.arrived;
    expect((await control(f, id, 'pause')).status).toBe(202);
    stop();
    working.open();
    await reaches(f.store, id, (d) => d.state === 'paused', 'the pause');
    armed = true;
    // The first resume read it paused and is held just before it saves its new run…
    const first = control(f, id, 'resume').then((r) => r);
    await held.arrived;
    // …while a second person's resume is saved.
    expect((await control(f, id, 'resume')).status).toBe(202);
    held.open();
    const late = await first;
    expect(late.status).toBe(409);
    expect(late.body.detail).toMatch(new RegExp(`^deployment ${id} is (running|queued|succeeded), not paused$`));
    expect((await ended(f.store, id)).state).toBe('succeeded');
  });
});

describe('12. a resume that comes before the pause is taken', () => {
  it('withdraws the pause: the run goes on and never pauses for it', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    const working = gate();
    const stop = f.standIn.intercept('createServerGroup', () => working.hold());
    const id = await deploy(f, 'unpause', 'img-unpause-1');
    await working.arrived;
    // Paused and resumed while the action at hand runs: the pause was asked, not taken yet.
    expect((await control(f, id, 'pause')).status).toBe(202);
    const resumed = await control(f, id, 'resume');
    expect({ status: resumed.status, state: resumed.body.state }).toEqual({ status: 202, state: 'running' });
    stop();
    working.open();
    const done = await ended(f.store, id);
    expect(done.state).toBe('succeeded');
    const events = (await f.store.events(id)).map((e) => e.event.type);
    expect(events).toContain('pause-withdrawn');
    expect(events).not.toContain('paused');
  });
});

describe('13. a pause taken before the action at hand finished (it failed and is to be tried again)', () => {
  it("gives the action's waits their full time again when resumed: a burn-in resumed after its time ran out while paused is watched as chosen", async () => {
    // Armed by burn-in's first progress (its end saved with it): its next look at the load balancer is held, then fails.
    let armed = false;
    let failing = false;
    const f = (fixture = await orchestratorFixture(redisServer, {
      store: (store) => ({
        ...store,
        async transition(d, options) {
          const answer = await store.transition(d, options);
          if (options?.event?.type === 'progress' && options.event.action === 'burn-in' && !failing) armed = true;
          return answer;
        },
      }),
    }));
    const looking = gate();
    const stop = f.standIn.intercept('describeTargetHealth', async () => {
      if (!armed || failing) return;
      failing = true;
      await looking.hold();
      throw new Error('the load balancer answered something unexpected');
    });
    const id = await deploy(f, 'waitpause', 'img-waitpause-1', { burnInSeconds: 1 });
    await looking.arrived;
    // A pause asked while burn-in looks; the look fails: the action is to be tried again, and the pause is taken first.
    expect((await control(f, id, 'pause')).status).toBe(202);
    stop();
    looking.open();
    const paused = await reaches(f.store, id, (d) => d.state === 'paused', 'the pause');
    expect(paused.actions.find((a) => a.name === 'burn-in')).toMatchObject({ state: 'pending', attempts: 1 });
    // Paused for longer than the burn-in's time.
    const endBefore = paused.context.waits?.['burn-in'] ?? Date.now() + 1000;
    while (Date.now() <= endBefore) await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await control(f, id, 'resume')).status).toBe(202);
    const done = await ended(f.store, id);
    expect(done.state).toBe('succeeded');
    const events = (await f.store.events(id)).map((e) => e.event);
    const resumedAt = Date.parse(events.findLast((e) => e.type === 'run-started')!.at);
    // Watched from its resume for the time chosen, not ended at once for the time it spent paused.
    expect(done.context.waits?.['burn-in']).toBeGreaterThanOrEqual(resumedAt + 1000);
  });
});

describe('14. a hard failure heard while a burn-in look is saving what it saw', () => {
  it('turns back after that save, not beside it: the run that heard the failure carries the rollback through', async () => {
    // Burn-in's look at the load balancer ends in a throttle (armed by burn-in's first progress);
    // the look's progress saying so is saved, and its answer held: a hard failure is heard then.
    let watching: string | undefined;
    let armed = false;
    const saving = gate();
    let turning: () => void = () => undefined;
    const turnBackAsked = new Promise<void>((resolve) => (turning = resolve));
    // The look's save reaches Redis; its answer is held (the runner has not seen it saved yet).
    const holdProgress = (redis: Redis) =>
      new Proxy(redis, {
        get(target, property) {
          const value = Reflect.get(target, property) as unknown;
          if (typeof value !== 'function') return value;
          if (property !== 'slipwayDeploymentTransition') return (value as (...a: unknown[]) => unknown).bind(target);
          return async (...args: unknown[]) => {
            const answer = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
            const said = args.filter((a): a is string => typeof a === 'string' && a.includes('"type":"progress"'));
            if (said.some((e) => e.includes('"action":"burn-in"') && e.includes('did not answer'))) await saving.hold();
            return answer;
          };
        },
      });
    const f = (fixture = await orchestratorFixture(redisServer, {
      storeRedis: holdProgress,
      store: (store) => ({
        ...store,
        async transition(d, options) {
          const said = [...(options?.events ?? []), ...(options?.event ? [options.event] : [])];
          if (d.id === watching && said.some((e) => e.type === 'turning-back')) turning();
          const answer = await store.transition(d, options);
          if (d.id === watching && said.some((e) => e.type === 'progress' && e.action === 'burn-in')) armed = true;
          return answer;
        },
      }),
    }));
    // The load balancer's pushed events: a new group's instance failing keeps failing for every listener.
    const listeners = new Set<(event: TrafficEvent) => void>();
    const failing: { event?: TrafficEvent } = {};
    Object.assign(f.standIn.cloud, {
      watchTraffic(_targetGroup: string, onEvent: (event: TrafficEvent) => void) {
        listeners.add(onEvent);
        const event = failing.event;
        if (event) setImmediate(() => onEvent(event));
        return { close: () => listeners.delete(onEvent) };
      },
    });
    expect((await ended(f.store, await deploy(f, 'hardlook', 'img-hardlook-1'))).state).toBe('succeeded');
    let thrown = false;
    const stop = f.standIn.intercept('describeTargetHealth', () => {
      if (!armed || thrown) return;
      thrown = true;
      throw Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $metadata: { httpStatusCode: 400 } });
    });
    const id = (watching = await deploy(f, 'hardlook', 'img-hardlook-2', { burnInSeconds: 60 }));
    await saving.arrived;
    stop();
    const group = (await f.store.get(id))!.context.group!;
    failing.event = {
      at: new Date().toISOString(),
      instanceId: `i-${group}-0`,
      group,
      outcome: '5xx',
      status: 500,
      consecutiveFailures: 5,
    };
    for (const hear of listeners) hear(failing.event);
    // A turn back asked before the look's save answered would be refused (its version is the one before).
    await Promise.race([turnBackAsked, new Promise((resolve) => setTimeout(resolve, 300))]);
    saving.open();
    const done = await ended(f.store, id);
    expect(done.state).toBe('rolled-back');
    expect(done.reason).toMatch(/^burn-in: traffic: the load balancer saw .* a hard failure/);
    const events = (await f.store.events(id)).map((e) => e.event);
    // No run of its own was needed: the one that heard the failure was not stopped as a stale writer.
    expect(events.filter((e) => e.type === 'run-started')).toEqual([]);
  });
});
