import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { UnprocessableError } from '@slipway/core';
import { type Redis, createRedis } from '@slipway/core/redis';
import { createRedisLeasedLocks } from '@slipway/core/redis';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import {
  findCycle,
  planServiceWaves,
  planWaves,
  releaseDependencies,
  startable,
  type PlannedCluster,
  type ReleaseRecord,
} from './release.js';
import { createRedisReleaseStore } from './release-store.js';
import { clustersOf } from './release-validation.js';
import { compare } from './sync.js';

describe('planServiceWaves', () => {
  it('runs the first cluster alone, then the rest at once', () => {
    expect(planServiceWaves(['prod-a', 'prod-b', 'prod-c'])).toEqual([['prod-a'], ['prod-b', 'prod-c']]);
    expect(planServiceWaves(['prod'])).toEqual([['prod']]);
  });

  it("follows the service's waves, keeps only the clusters released and puts any left over last", () => {
    const declared = [['staging'], ['prod-a'], ['prod-b', 'prod-c']];
    expect(planServiceWaves(['prod-a', 'prod-b', 'prod-c', 'prod-d'], declared)).toEqual([
      ['prod-a'],
      ['prod-b', 'prod-c'],
      ['prod-d'],
    ]);
  });
});

describe('dependencies', () => {
  it('names a cycle as a path', () => {
    const graph = new Map([
      ['index', ['users']],
      ['search', ['index']],
      ['users', ['search']],
    ]);
    expect(findCycle(graph)).toEqual(['index', 'users', 'search', 'index']);
    expect(
      findCycle(
        new Map([
          ['search', ['index']],
          ['index', []],
        ]),
      ),
    ).toBeUndefined();
  });

  it('keeps only the services of the release and refuses a cycle among them with a 422', () => {
    const graph = releaseDependencies([
      { service: 'search', dependsOn: ['index', 'users'] },
      { service: 'index', dependsOn: [] },
    ]);
    expect(graph.get('search')).toEqual(['index']);
    expect(() =>
      releaseDependencies([
        { service: 'search', dependsOn: ['index'] },
        { service: 'index', dependsOn: ['search'] },
      ]),
    ).toThrow(new UnprocessableError('the services depend on each other in a cycle: index → search → index'));
  });
});

describe('planWaves and startable', () => {
  const planned = (service: string, env: string): PlannedCluster => ({
    service,
    env,
    image: `img-${service}`,
    commit: 'c0ffee',
    bakeSeconds: env === 'prod-a' ? 30 : 10,
  });

  it("merges the services' waves by position; a dependent waits for its dependency in the same wave", () => {
    const waves = planWaves(
      [
        { service: 'search', waves: [[planned('search', 'prod-a')], [planned('search', 'prod-b')]] },
        { service: 'suggest', waves: [[planned('suggest', 'prod-a')]] },
      ],
      new Map([
        ['search', []],
        ['suggest', ['search']],
      ]),
    );
    expect(waves.map((w) => [w.bakeSeconds, w.clusters.map((c) => `${c.service} ${c.env}`)])).toEqual([
      [30, ['search prod-a', 'suggest prod-a']],
      [10, ['search prod-b']],
    ]);
    expect(startable(waves[0]!).map((c) => c.service)).toEqual(['search']);
    waves[0]!.clusters[0]!.state = 'succeeded';
    expect(startable(waves[0]!).map((c) => c.service)).toEqual(['suggest']);
  });
});

describe('sync sets', () => {
  it("reads a service's sync set, or takes the environment as one cluster", () => {
    const properties = { clusters: { prod: ['prod-a', 'prod-b'] } };
    expect(clustersOf(properties, 'prod')).toEqual(['prod-a', 'prod-b']);
    expect(clustersOf(properties, 'staging')).toEqual(['staging']);
  });

  it('marks the odd one out and says what differs', () => {
    const cluster = (env: string, image: string | null) => ({
      env,
      image,
      version: image === 'img-2' ? '2.0.0' : image ? '1.0.0' : null,
      commit: null,
      deployment: null,
      odd: false,
    });
    const set = compare('search', 'prod', [
      cluster('prod-a', 'img-2'),
      cluster('prod-b', 'img-1'),
      cluster('prod-c', 'img-2'),
    ]);
    expect(set.inSync).toBe(false);
    expect(set.clusters.map((c) => c.odd)).toEqual([false, true, false]);
    expect(set.differs).toEqual(['prod-b runs img-1 (1.0.0), the others img-2 (2.0.0)']);
    expect(compare('search', 'prod', [cluster('prod-a', 'img-2'), cluster('prod-b', 'img-2')]).inSync).toBe(true);
  });
});

describe('the release store', () => {
  let server: TestRedis;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedis();
    redis = createRedis({ url: server.url });
  });
  afterAll(async () => {
    await redis.quit();
    await server.stop();
  });

  const record = (id: string): ReleaseRecord => ({
    id,
    message: 'm',
    by: 'dave',
    onFailure: 'stop',
    state: 'running',
    createdAt: new Date().toISOString(),
    items: [],
    waves: [],
    revision: 0,
  });

  it('refuses a write based on an older revision, and keeps the events with the record', async () => {
    const store = createRedisReleaseStore({ redis, prefix: server.prefix() });
    await store.create(record('rel-aaaaaa1'), { type: 'created' });
    const first = (await store.get('rel-aaaaaa1'))!;
    const second = (await store.get('rel-aaaaaa1'))!;
    first.state = 'paused';
    expect(await store.save(first, [{ type: 'paused' }])).toBe(true);
    second.state = 'cancelled';
    expect(await store.save(second, [{ type: 'finished' }])).toBe(false);
    expect((await store.get('rel-aaaaaa1'))!.state).toBe('paused');
    expect((await store.events('rel-aaaaaa1')).map((e) => e.event.type)).toEqual(['created', 'paused']);
    expect(await store.active()).toEqual(['rel-aaaaaa1']);
  });

  it('refuses the write of a coordinator whose lease was taken over (the fencing token)', async () => {
    const prefix = server.prefix();
    const store = createRedisReleaseStore({ redis, prefix });
    const locks = createRedisLeasedLocks({ redis, prefix: `${prefix}releases:`, leaseMs: 50 });
    await store.create(record('rel-bbbbbb1'), { type: 'created' });
    const name = store.leaseName('rel-bbbbbb1');
    const fenceKey = `${prefix}releases:lock:${name}`;
    const old = await locks.acquire(name, 'rel-bbbbbb1', 'one');
    await new Promise((resolve) => setTimeout(resolve, 80)); // the lease runs out
    const taken = await locks.acquire(name, 'rel-bbbbbb1', 'two');
    if (!('token' in old) || !('token' in taken)) throw new Error('no lease');
    const r = (await store.get('rel-bbbbbb1'))!;
    r.state = 'succeeded';
    expect(await store.save(r, [], { key: fenceKey, token: old.token })).toBe(false);
    expect(await store.save(r, [], { key: fenceKey, token: taken.token })).toBe(true);
    expect(await store.active()).not.toContain('rel-bbbbbb1');
  });
});
