import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Redis, createRedis } from '@slipway/core/redis';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import type { Deployment } from './deployment.js';
import type { Peers } from '../peers.js';
import { createRedisDeploymentStore, StaleWrite, type DeploymentStore } from './store.js';
import { syncReport } from '../rollouts/sync.js';

let redisServer: TestRedis;
let redis: Redis;

beforeAll(async () => {
  redisServer = await startRedis();
  redis = createRedis({ url: redisServer.url });
});

afterAll(async () => {
  await redis.quit();
  await redisServer.stop();
});

function deployment(id: string, service: string, env = 'prod', queue = false): Deployment {
  return {
    id,
    service,
    env,
    image: 'img-1',
    message: 'm',
    strategy: 'red-black',
    params: {},
    by: 'dave',
    queue,
    state: 'queued',
    createdAt: new Date().toISOString(),
    actions: [],
    current: 0,
    context: {},
  };
}

describe('admission', () => {
  let store: DeploymentStore;
  beforeAll(() => {
    store = createRedisDeploymentStore({ redis, prefix: redisServer.prefix() });
  });

  it('admits exactly one of 20 racing deployments of one service+env, and names it to the others', async () => {
    const racing = Array.from({ length: 20 }, (_, i) => deployment(`dep-race${i}`, 'race'));
    const answers = await Promise.all(racing.map((d) => store.admit(d, 2)));
    const winners = answers.filter((a) => a.outcome === 'run');
    expect(winners).toHaveLength(1);
    const winner = racing[answers.findIndex((a) => a.outcome === 'run')]!;
    expect(answers.filter((a) => a.outcome === 'conflict' && a.holder === winner.id)).toHaveLength(19);
    expect(await store.reclaim(winner, 2)).toEqual([]);
    expect(await store.holder('race', 'prod')).toBeUndefined();
  });

  it('runs 6 services never more than 2 at once, the rest in the order they came', async () => {
    const six = ['a', 'b', 'c', 'd', 'e', 'f'].map((s) => deployment(`dep-six${s}`, `six${s}`));
    const outcomes = [];
    for (const d of six) outcomes.push((await store.admit(d, 2)).outcome);
    expect(outcomes).toEqual(['run', 'run', 'queued', 'queued', 'queued', 'queued']);
    const started: string[] = six.slice(0, 2).map((d) => d.id);
    const running = new Set(started);
    while (running.size > 0) {
      expect((await store.running()).length).toBeLessThanOrEqual(2);
      const done = [...running][0]!;
      running.delete(done);
      for (const id of await store.reclaim(
        six.find((d) => d.id === done)!,
        2,
      )) {
        started.push(id);
        running.add(id);
      }
    }
    expect(started).toEqual(six.map((d) => d.id));
  });

  it('queues a second deployment of one service+env behind the first with queue: true', async () => {
    const first = deployment('dep-q1', 'queued');
    const second = deployment('dep-q2', 'queued', 'prod', true);
    expect(await store.admit(first, 2)).toEqual({ outcome: 'run' });
    expect(await store.admit(second, 2)).toEqual({ outcome: 'waiting', holder: 'dep-q1' });
    expect(await store.reclaim(first, 2)).toEqual(['dep-q2']);
    expect(await store.holder('queued', 'prod')).toBe('dep-q2');
    expect(await store.reclaim(second, 2)).toEqual([]);
  });
});

describe('transitions', () => {
  let store: DeploymentStore;
  beforeAll(() => {
    store = createRedisDeploymentStore({ redis, prefix: redisServer.prefix() });
  });

  it('refuses a writer that read an older version, and saves the record with its event', async () => {
    const d = deployment('dep-fence', 'fence');
    expect(await store.admit(d, 2)).toEqual({ outcome: 'run' });
    const [worker, api] = [(await store.get(d.id))!, (await store.get(d.id))!];
    api.state = 'cancelled';
    await store.transition(api, { event: { type: 'finished' }, mode: 'finish', limit: 2 });
    worker.state = 'running';
    await expect(store.transition(worker, { event: { type: 'action-started' } })).rejects.toBeInstanceOf(StaleWrite);
    expect((await store.get(d.id))!.state).toBe('cancelled');
    expect((await store.events(d.id)).map((e) => e.event.type)).toEqual(['queued', 'finished']);
    expect(await store.holder('fence', 'prod')).toBeUndefined();
  });

  it("saves one action's end and the next one's start in one step (advance), refused while any request waits", async () => {
    const d = deployment('dep-advance', 'advance');
    expect(await store.admit(d, 2)).toEqual({ outcome: 'run' });
    const worker = (await store.get(d.id))!;
    worker.state = 'running';
    const hand = { mode: 'advance' as const, events: [{ type: 'action-finished', action: 'a' }] };
    const moved = await store.transition(worker, { ...hand, event: { type: 'action-started', action: 'b' } });
    expect(moved).toMatchObject({ saved: true, control: {} });
    expect((await store.events(d.id)).map((e) => e.event.type)).toEqual([
      'queued',
      'action-finished',
      'action-started',
    ]);
    // A pause waits: nothing is saved, and the runner saves the end alone and pauses at the boundary.
    await store.setControl(d.id, 'pause', 'dave', { type: 'pause-requested', deployment: d.id });
    const version = worker.version;
    const refused = await store.transition(worker, { ...hand, event: { type: 'action-started', action: 'c' } });
    expect(refused).toMatchObject({ saved: false, control: { pause: 'dave' } });
    expect((await store.get(d.id))!.version).toBe(version);
    expect((await store.events(d.id)).map((e) => e.event.type)).toEqual([
      'queued',
      'action-finished',
      'action-started',
      'pause-requested',
    ]);
  });

  it("gives an event said without reading the record the record's state, and refuses it once the deployment finished", async () => {
    const d = deployment('dep-said', 'said');
    expect(await store.admit(d, 2)).toEqual({ outcome: 'run' });
    expect(await store.event({ type: 'admitted', deployment: d.id, at: 'now' })).toBe(true);
    const finished = (await store.get(d.id))!;
    finished.state = 'cancelled';
    await store.transition(finished, { event: { type: 'finished' }, mode: 'finish', limit: 2 });
    expect(await store.event({ type: 'admitted', deployment: d.id, at: 'later' })).toBe(false);
    expect((await store.events(d.id)).map((e) => e.event)).toEqual([
      expect.objectContaining({ type: 'queued' }),
      { type: 'admitted', deployment: d.id, at: 'now', state: 'queued' },
      expect.objectContaining({ type: 'finished', state: 'cancelled' }),
    ]);
  });

  it('records a release once however often the record action runs', async () => {
    const release = { deployment: 'dep-once', image: 'img-1', commit: 'c', group: 'once-prod-v001', at: '' };
    await store.recordServed('once', 'prod', release);
    await store.recordServed('once', 'prod', release);
    expect(await store.history('once', 'prod', 10)).toHaveLength(1);
  });
});

describe('one item of a large catalog', () => {
  let store: DeploymentStore;
  let prefix: string;
  /** The deployment records the store read, by id. */
  let read: string[] = [];
  let counting: Redis;
  beforeAll(() => {
    prefix = redisServer.prefix();
    counting = createRedis({ url: redisServer.url });
    const mget = counting.mget.bind(counting) as (...keys: string[]) => Promise<(string | null)[]>;
    (counting as unknown as { mget: typeof mget }).mget = (...keys: string[]) => {
      for (const k of keys.flat())
        if (k.startsWith(`${prefix}deployment:`)) read.push(k.slice(`${prefix}deployment:`.length));
      return mget(...keys);
    };
    store = createRedisDeploymentStore({ redis: counting, prefix });
  });
  afterAll(async () => {
    await counting.quit();
  });

  /** A finished deployment created `minute` minutes into the day: the index's order. */
  async function finished(id: string, service: string, env: string, minute: number, context = {}) {
    const d = { ...deployment(id, service, env), createdAt: new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString() };
    d.context = context;
    expect(await store.admit(d, 100)).toEqual({ outcome: 'run' });
    d.state = 'succeeded';
    await store.transition(d, { mode: 'finish', limit: 100, event: { type: 'finished' } });
  }

  it("reads a service's history from its own clusters' records only, newest first, a page at a time", async () => {
    await finished('dep-old-p', 'old', 'prod', 1);
    await finished('dep-old-s', 'old', 'staging', 2);
    for (let i = 0; i < 60; i++) await finished(`dep-busy-${i}`, 'busy', `e${i % 4}`, 10 + i);
    read = [];
    const all = await store.list({ service: 'old', limit: 20 });
    expect(all.items.map((d) => d.id)).toEqual(['dep-old-s', 'dep-old-p']);
    expect(read.filter((id) => !id.startsWith('dep-old'))).toEqual([]);
    const first = await store.list({ service: 'old', limit: 1 });
    expect(first.items.map((d) => d.id)).toEqual(['dep-old-s']);
    const second = await store.list({ service: 'old', limit: 1, before: first.next });
    expect(second.items.map((d) => d.id)).toEqual(['dep-old-p']);
    // A cluster's page reads the records it answers with, not a page of 200.
    read = [];
    expect((await store.list({ service: 'busy', env: 'e1', limit: 3 })).items).toHaveLength(3);
    expect(read).toHaveLength(3);
  });

  it('answers the sync report of one service asking nothing about the others, its versions and regions from the records', async () => {
    const asked: string[] = [];
    const peers = {
      async service(name: string) {
        asked.push(`service ${name}`);
        return { name, properties: { clusters: { prod: ['sa', 'sb'] } } };
      },
      async image(id: string) {
        asked.push(`image ${id}`);
        return { id, kind: 'service' as const, service: 'sync', version: '1.0.0' };
      },
      async config(service: string, env: string) {
        asked.push(`config ${service}-${env}`);
        return {
          commit: 'c',
          valid: true,
          errors: [],
          deploymentParams: { region: 'eu' },
          launchData: [],
          properties: '',
        };
      },
    } as unknown as Peers;
    for (const [service, env, n] of [
      ['sync', 'sa', 100],
      ['sync', 'sb', 101],
      ['other', 'sa', 102],
    ] as const) {
      const id = `dep-${service}-${env}`;
      await finished(id, service, env, n, { imageVersion: '1.0.0', params: { region: 'eu' } });
      await store.recordServed(service, env, {
        deployment: id,
        image: 'img-1',
        commit: 'c',
        group: `${service}-${env}-v001`,
        at: '',
      });
    }
    const [set, ...more] = await syncReport({ store, peers }, { withRegions: true, service: 'sync' });
    expect(more).toEqual([]);
    expect(set!.inSync).toBe(true);
    expect(set!.clusters.map((c) => [c.env, c.region, c.version])).toEqual([
      ['sa', 'eu', '1.0.0'],
      ['sb', 'eu', '1.0.0'],
    ]);
    expect(asked).toEqual(['service sync']);
  });

  it('answers the sync report from the releases alone, reading no deployment record, when they keep version and region (issue 28)', async () => {
    const peers = {
      async service(name: string) {
        return { name, properties: { clusters: { prod: ['sa', 'sb'] } } };
      },
    } as unknown as Peers;
    for (const [i, env] of ['sa', 'sb'].entries()) {
      const id = `dep-kept-${env}`;
      await finished(id, 'kept', env, 300 + i, { imageVersion: '2.0.0' });
      await store.recordServed('kept', env, {
        deployment: id,
        image: 'img-2',
        commit: 'c',
        group: `kept-${env}-v001`,
        at: '',
        version: '2.0.0',
        region: env === 'sa' ? 'eu' : null,
      });
    }
    const read: string[] = [];
    const counted = { ...store, get: async (id: string) => (read.push(id), store.get(id)) } as typeof store;
    const [set] = await syncReport({ store: counted, peers }, { withRegions: true, service: 'kept' });
    expect(set!.clusters.map((c) => [c.env, c.region ?? null, c.version])).toEqual([
      ['sa', 'eu', '2.0.0'],
      ['sb', null, '2.0.0'],
    ]);
    expect(read).toEqual([]);
  });

  it("reads every service's metadata in one list for the whole sync report, not once per service, and the clusters' releases in one read", async () => {
    const asked: string[] = [];
    const peers = {
      async service(name: string) {
        asked.push(`service ${name}`);
        return { name, properties: { clusters: { prod: ['sa', 'sb'] } } };
      },
      async services() {
        asked.push('services');
        return ['whole', 'half'].map((name) => ({ name, properties: { clusters: { prod: ['sa', 'sb'] } } }));
      },
    } as unknown as Peers;
    for (const [service, env, n] of [
      ['whole', 'sa', 200],
      ['whole', 'sb', 201],
      ['half', 'sa', 202],
    ] as const) {
      const id = `dep-${service}-${env}`;
      await finished(id, service, env, n, { imageVersion: '1.0.0' });
      await store.recordServed(service, env, {
        deployment: id,
        image: 'img-1',
        commit: 'c',
        group: `${service}-${env}-v001`,
        at: '',
      });
    }
    // And every cluster's newest release in one read, not a read per cluster.
    const counted = {
      ...store,
      history: async (...args: Parameters<typeof store.history>) => (asked.push('releases'), store.history(...args)),
      newestServed: async (clusters: Parameters<typeof store.newestServed>[0]) => (
        asked.push(`newest releases of ${clusters.length}`),
        store.newestServed(clusters)
      ),
    } as typeof store;
    const report = await syncReport({ store: counted, peers }, { withRegions: false });
    expect(report.map((s) => [s.service, s.inSync])).toEqual([
      ['half', false],
      ['whole', true],
    ]);
    expect(report.find((s) => s.service === 'half')!.clusters.map((c) => c.image)).toEqual(['img-1', null]);
    expect(asked).toEqual(['services', 'newest releases of 4']);
  });
});
