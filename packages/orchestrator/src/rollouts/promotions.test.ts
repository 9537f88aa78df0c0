import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { CloudProvider, ServerGroup } from '@slipway/cloud';
import { createLogger, UnprocessableError } from '@slipway/core';
import { type Redis, createRedis, createRedisLeasedLocks } from '@slipway/core/redis';
import { gate, startRedis, type TestRedis } from '@slipway/test-utils';
import type { Peers } from '../peers.js';
import type { ReleaseRecord } from './release.js';
import { createRedisReleaseStore, type ReleaseStore } from './release-store.js';
import { promoteClaim } from './release-validation.js';
import { createReleaseOperations } from './release-operations.js';
import { startReleaseCoordinator, type ReleaseCoordinator } from './releases.js';
import type { Runner } from '../deployments/runner.js';
import { createRedisDeploymentStore, type DeploymentStore } from '../deployments/store.js';

// Promotions move forward only, evaluated when they run (Kargo's way), and the newest to a target
// supersedes a waiting one. The coordinator against a real Redis; every cluster serves img-13
// (1.3.0); submitting a deployment is refused (its configuration cannot be read: the cluster
// fails saying "submitted"), so nothing here may deploy.
let server: TestRedis;
let redis: Redis;
let releases: ReleaseStore;
let store: DeploymentStore;

const VERSION: Record<string, string> = {
  'img-11': '1.1.0',
  'img-13': '1.3.0',
  'img-14': '1.4.0',
  'img-15': '1.5.0',
};
/** The service's metadata as the coordinator reads it when a cluster starts. */
let properties: Record<string, unknown> = {};
const peers = {
  image: async (id: string) => ({ id, kind: 'service', service: 'search', version: VERSION[id] }),
  service: async (name: string) => ({ name, properties }),
  config: () => {
    throw new UnprocessableError('submitted');
  },
} as unknown as Peers;
const cloud = {
  kind: 'local',
  listServerGroups: async (cluster: string) => [
    {
      name: `${cluster}-v003`,
      disabled: false,
      desired: 1,
      instances: [],
      tags: { image: 'img-13', commit: 'c0ffee', deployment: 'dep-serving01' },
    } as unknown as ServerGroup,
  ],
} as unknown as CloudProvider;

beforeAll(async () => {
  server = await startRedis();
  redis = createRedis({ url: server.url });
  const prefix = server.prefix();
  releases = createRedisReleaseStore({ redis, prefix });
  store = createRedisDeploymentStore({ redis, prefix });
  // What the promotions promote: staging's release, still serving there.
  await store.recordServed('search', 'staging', {
    deployment: 'dep-staging1',
    image: 'img-11',
    commit: 'c0ffee',
    group: 'search-staging-v001',
    at: new Date().toISOString(),
  });
});

afterAll(async () => {
  await redis.quit();
  await server.stop();
});

function coordinator(withPeers: Peers = peers) {
  const prefix = `${releases.prefix}releases:`;
  return startReleaseCoordinator({
    releases,
    store,
    runner: {} as Runner,
    peers: withPeers,
    cloud,
    slots: 2,
    locks: createRedisLeasedLocks({ redis, prefix, leaseMs: 10_000 }),
    locksPrefix: prefix,
    logger: createLogger({ name: 'test', level: 'silent' }),
    tickMs: 60_000,
  });
}

function promotion(id: string, extra: Partial<ReleaseRecord> = {}): ReleaseRecord {
  return {
    id,
    message: 'promote',
    by: 'dave',
    onFailure: 'stop',
    state: 'running',
    createdAt: new Date().toISOString(),
    items: [
      {
        service: 'search',
        image: 'img-11',
        env: 'live',
        clusters: ['prod-a', 'prod-b'],
        leftOut: [],
        promotedFrom: { env: 'staging', deployment: 'dep-staging1', since: new Date().toISOString() },
      },
    ],
    waves: [
      {
        index: 0,
        bakeSeconds: 0,
        clusters: ['prod-a', 'prod-b'].map((env) => ({
          service: 'search',
          env,
          image: 'img-11',
          commit: 'c0ffee',
          after: [],
          state: 'pending' as const,
        })),
      },
    ],
    revision: 0,
    ...extra,
  };
}

describe('promotions', () => {
  it('skip, saying why, every cluster already running a newer version when they run', async () => {
    const c = coordinator();
    try {
      const r = promotion('rel-prom0001');
      await releases.create(r, { type: 'created' }, [promoteClaim('search', 'live')]);
      for (let i = 0; i < 3; i++) await c.sweep();
      const done = (await releases.get(r.id))!;
      expect(done.state).toBe('skipped');
      expect(done.waves[0]!.clusters.map((cl) => [cl.env, cl.state, cl.reason])).toEqual([
        [
          'prod-a',
          'skipped',
          'runs img-13 (1.3.0), newer: a promotion only moves forward (allow a downgrade to go back)',
        ],
        [
          'prod-b',
          'skipped',
          'runs img-13 (1.3.0), newer: a promotion only moves forward (allow a downgrade to go back)',
        ],
      ]);
      expect(done.reason).toMatch(/^nothing to change: search prod-a runs img-13/);
      expect(await releases.active()).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it('one pending per target: a newer promotion supersedes one still waiting, which ends skipped', async () => {
    const c = coordinator();
    try {
      const later = new Date(Date.now() + 3_600_000).toISOString();
      const waiting = promotion('rel-prom0002', { state: 'waiting', notBefore: later });
      await releases.create(waiting, { type: 'created' }, [promoteClaim('search', 'live')]);
      await c.sweep();
      expect((await releases.get(waiting.id))!.state).toBe('waiting');
      const newer = promotion('rel-prom0003', { state: 'waiting', notBefore: later });
      await releases.create(newer, { type: 'created' }, [promoteClaim('search', 'live')]);
      await c.sweep();
      expect(await releases.get(waiting.id)).toMatchObject({
        state: 'skipped',
        reason: 'superseded by rel-prom0003, a newer promotion of search to live',
      });
      expect((await releases.get(newer.id))!.state).toBe('waiting');
    } finally {
      await c.close();
    }
  });

  it('a newer promotion made while an older one is being started: the older one is superseded, only the newer fires', async () => {
    // Two replicas. Submitting is recorded (then refused: nothing deploys here), and which release submitted.
    const submitted: string[] = [];
    let ticking = '';
    const evaluating = gate();
    let hold = true;
    const recording = {
      image: async (id: string) => {
        if (ticking === 'older' && hold) {
          hold = false;
          await evaluating.hold();
        }
        return peers.image(id);
      },
      // The service's rules are read as a cluster starts; a submission reads its configuration.
      service: peers.service,
      config: () => {
        submitted.push(ticking);
        throw new UnprocessableError('submitted');
      },
    } as unknown as Peers;
    const forward = (id: string) => {
      const r = promotion(id);
      for (const item of r.items) item.image = 'img-15';
      for (const c of r.waves[0]!.clusters) c.image = 'img-15';
      return r;
    };
    const [one, two] = [coordinator(recording), coordinator(recording)];
    try {
      const older = forward('rel-prom0004');
      await releases.create(older, { type: 'created' }, [promoteClaim('search', 'live')]);
      // The older one's tick read its claim (still the newest) and is held evaluating its first cluster…
      ticking = 'older';
      const first = one.sweep();
      await evaluating.arrived;
      // …while a newer promotion to the same target is made.
      const newer = forward('rel-prom0005');
      await releases.create(newer, { type: 'created' }, [promoteClaim('search', 'live')]);
      evaluating.open();
      await first;
      ticking = 'newer';
      await two.sweep();
      expect(submitted.filter((s) => s === 'older')).toEqual([]);
      expect(submitted).toContain('newer');
      expect(await releases.get(older.id)).toMatchObject({
        state: 'skipped',
        reason: 'superseded by rel-prom0005, a newer promotion of search to live',
      });
    } finally {
      await one.close();
      await two.close();
    }
  });
});

describe('the rules as each cluster starts', () => {
  // A release (or promotion, or a wave after its bake) starts its clusters long after it was
  // made and checked: a freeze begun since, or approvers named since, hold then too.
  const release = (id: string, by: string): ReleaseRecord => {
    const r = promotion(id, { by, message: 'release' });
    delete r.items[0]!.promotedFrom;
    for (const c of r.waves[0]!.clusters) c.image = 'img-14';
    return r;
  };

  it('changes a production cluster only from what it was confirmed against when the release was made', async () => {
    // A scheduled release (or a later wave, or a promotion skipped when it was made) may start
    // after what serves changed: a production change nobody confirmed is skipped, never made.
    const c = coordinator();
    try {
      const r = release('rel-conf0001', 'dave');
      const [a, b, d] = [0, 1, 2].map((i) => ({ ...r.waves[0]!.clusters[0]!, env: `prod-${'abc'[i]}` }));
      r.items[0]!.clusters = ['prod-a', 'prod-b', 'prod-c'];
      properties = {
        policy: { 'prod-a': { production: true }, 'prod-b': { production: true }, 'prod-c': { production: true } },
      };
      // prod-a was confirmed against what serves it; prod-b against what served before; prod-c never (skipped then).
      a!.confirmedFrom = { group: 'search-prod-a-v003', image: 'img-13', commit: 'c0ffee' };
      b!.confirmedFrom = { group: 'search-prod-b-v002', image: 'img-12', commit: 'c0ffee' };
      r.waves[0]!.clusters = [a!, b!, d!];
      await releases.create(r, { type: 'created' });
      for (let i = 0; i < 3; i++) await c.sweep();
      const stale = 'is production and img-13 serves it now, not what the release was confirmed against';
      expect((await releases.get(r.id))!.waves[0]!.clusters.map((cl) => [cl.env, cl.state, cl.reason])).toEqual([
        ['prod-a', 'failed', 'submitted'],
        ['prod-b', 'skipped', `search prod-b ${stale} (img-12 in search-prod-b-v002): a new release confirms it`],
        ['prod-c', 'skipped', `search prod-c ${stale} (nothing confirmed): a new release confirms it`],
      ]);
    } finally {
      properties = {};
      await c.close();
    }
  });

  it('skips a cluster frozen since, saying until when and why, and fails one its maker may not change', async () => {
    const c = coordinator();
    const until = new Date(Date.now() + 3_600_000).toISOString();
    properties = {
      policy: {
        'prod-a': { freeze: [{ from: new Date(Date.now() - 60_000).toISOString(), to: until, reason: 'holidays' }] },
        'prod-b': { approvers: ['alice'] },
      },
    };
    try {
      const r = release('rel-rule0001', 'dave');
      await releases.create(r, { type: 'created' });
      for (let i = 0; i < 3; i++) await c.sweep();
      expect((await releases.get(r.id))!.waves[0]!.clusters.map((cl) => [cl.env, cl.state, cl.reason])).toEqual([
        ['prod-a', 'skipped', `frozen until ${until} (holidays)`],
        ['prod-b', 'failed', 'search prod-b is changed only by alice; dave is not one of them'],
      ]);
      // An approver's release goes on to be submitted (refused here, as nothing may deploy).
      const approved = release('rel-rule0002', 'alice');
      approved.waves[0]!.clusters.shift();
      await releases.create(approved, { type: 'created' });
      for (let i = 0; i < 3; i++) await c.sweep();
      expect((await releases.get(approved.id))!.waves[0]!.clusters.map((cl) => [cl.env, cl.state, cl.reason])).toEqual([
        ['prod-b', 'failed', 'submitted'],
      ]);
    } finally {
      properties = {};
      await c.close();
    }
  });
});

describe('a promotion that would change nothing, when it is made', () => {
  // POST /releases as the API runs it: the target's clusters run img-13 (1.3.0) as above.
  const made: { status?: number; body?: Record<string, unknown> } = {};
  const res = {
    status(code: number) {
      made.status = code;
      return this;
    },
    location() {
      return this;
    },
    json(body: Record<string, unknown>) {
      made.body = body;
      return this;
    },
  };
  const operations = () =>
    createReleaseOperations({
      releases,
      store,
      coordinator: { poke: () => undefined } as unknown as ReleaseCoordinator,
      followConnection: () => redis,
      images: {} as never,
      cloud: { ...cloud, getLoadBalancer: async () => ({ name: 'lb-search' }) } as unknown as CloudProvider,
      peers: {
        ...peers,
        service: async (name: string) => ({ name, properties: { clusters: { live: ['prod-a', 'prod-b'] } } }),
        config: async () => ({
          commit: 'c0ffee'.padEnd(40, '0'),
          valid: true,
          errors: [],
          deploymentParams: {
            capacity: { desired: 1 },
            healthCheck: { path: '/' },
            loadBalancer: { name: 'lb-search' },
            strategy: {},
          },
        }),
      } as unknown as Peers,
    });
  const promote = (from: string) =>
    operations().createRelease(
      {
        body: { message: 'promote', items: [{ service: 'search', from, env: 'live', afterSeconds: 900 }] },
        openapi: { principal: { subject: 'dave', role: 'deployer' } },
      } as never,
      res as never,
    );

  it('ends skipped at once, saying why, when every cluster runs that version or newer: nothing waits its --after', async () => {
    await promote('staging');
    const why = 'runs img-13 (1.3.0), newer: a promotion only moves forward (allow a downgrade to go back)';
    const reason = `nothing to change: search prod-a ${why}; search prod-b ${why}`;
    expect(made).toEqual({ status: 200, body: { id: expect.stringMatching(/^rel-/), state: 'skipped', reason } });
    const id = String(made.body!.id);
    const stored = (await releases.get(id))!;
    expect(stored).toMatchObject({ state: 'skipped', reason });
    expect(stored.notBefore).toBeUndefined();
    expect(stored.waves.flatMap((w) => w.clusters).map((c) => [c.env, c.state, c.reason])).toEqual([
      ['prod-a', 'skipped', why],
      ['prod-b', 'skipped', why],
    ]);
    expect(await releases.active()).not.toContain(id);
    // Followed, it says so as one evaluated when it runs does.
    expect(
      (await releases.events(id)).map(({ event }) => [event.type, event.env ?? null, event.state ?? null]),
    ).toEqual([
      ['created', null, 'skipped'],
      ['cluster-finished', 'prod-a', 'skipped'],
      ['cluster-finished', 'prod-b', 'skipped'],
      ['finished', null, 'skipped'],
    ]);
  });

  it('still waits its --after when it moves forward somewhere, and is evaluated again when it runs', async () => {
    await store.recordServed('search', 'qa', {
      deployment: 'dep-qa000001',
      image: 'img-15',
      commit: 'c0ffee',
      group: 'search-qa-v001',
      at: new Date().toISOString(),
    });
    await promote('qa');
    expect(made).toEqual({ status: 202, body: { id: expect.stringMatching(/^rel-/), state: 'waiting' } });
    expect((await releases.get(String(made.body!.id)))!.notBefore).toBeDefined();
  });

  it("records who paused, resumed and cancelled it in the release's events (the record of everything)", async () => {
    await promote('qa');
    const id = String(made.body!.id);
    const as = (subject: string) =>
      ({ params: { id }, openapi: { principal: { subject, role: 'deployer' } } }) as never;
    await operations().pauseRelease(as('erin'), res as never);
    await operations().resumeRelease(as('frank'), res as never);
    await operations().cancelRelease(as('grace'), res as never);
    const controls = (await releases.events(id))
      .map(({ event }) => event)
      .filter((e) => ['paused', 'resumed', 'cancel-requested'].includes(e.type));
    expect(controls.map((e) => [e.type, e.by])).toEqual([
      ['paused', 'erin'],
      ['resumed', 'frank'],
      ['cancel-requested', 'grace'],
    ]);
  });

  // A team's afternoon: one pauses a promotion waiting its --after, another resumes it an hour
  // early. It is not running: it still waits (the dashboard says when it starts, the CLI until
  // when), and starts, saying so, when its time comes.
  it('waits again when resumed before its --after, as it did before it was paused', async () => {
    await promote('qa');
    const id = String(made.body!.id);
    const as = (subject: string) =>
      ({ params: { id }, openapi: { principal: { subject, role: 'deployer' } } }) as never;
    await operations().pauseRelease(as('erin'), res as never);
    expect((await releases.get(id))!.state).toBe('paused');
    await operations().resumeRelease(as('frank'), res as never);
    expect(made.body).toMatchObject({ id, state: 'waiting' });
    const resumed = (await releases.get(id))!;
    expect(resumed).toMatchObject({ state: 'waiting', notBefore: expect.any(String) });
    expect(resumed.startedAt).toBeUndefined();
  });
});
