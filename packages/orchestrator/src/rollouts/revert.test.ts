import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConflictError } from '@slipway/core';
import { type Redis, createRedis } from '@slipway/core/redis';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import type { Deployment } from '../deployments/deployment.js';
import { createDeploymentMetrics } from '../metrics.js';
import type { Peers } from '../peers.js';
import { findRevertTarget } from './revert.js';
import { createRedisDeploymentStore, type DeploymentStore } from '../deployments/store.js';
import { undoTarget } from '../deployments/undo.js';

let redisServer: TestRedis;
let redis: Redis;
let store: DeploymentStore;
let prefix: string;

const BAD = 'b'.repeat(40);
// Versions 1.0 and 1.1 were built before the bad commit; 1.2 and 1.3 after it.
const VERSION_OF: Record<string, string> = {
  'img-10': '1.0.0',
  'img-11': '1.1.0',
  'img-12': '1.2.0',
  'img-13': '1.3.0',
};
const HOLDS_BAD: Record<string, boolean> = { '1.0.0': false, '1.1.0': false, '1.2.0': true, '1.3.0': true };
const peers: Pick<Peers, 'image' | 'contains' | 'sourceCommit'> = {
  image: async (id) => ({ id, kind: 'service', service: 'search', version: VERSION_OF[id]! }),
  contains: async (_service, version, commit) => (commit === BAD ? HOLDS_BAD[version] : undefined),
  sourceCommit: async (_service, version) => `${version.replace(/\./g, '')}`.padEnd(40, 'c'),
};

beforeAll(async () => {
  redisServer = await startRedis();
  redis = createRedis({ url: redisServer.url });
  prefix = redisServer.prefix();
  store = createRedisDeploymentStore({ redis, prefix });
  // A cluster is known once a deployment to it is saved.
  const first = { id: 'dep-release0', service: 'search', env: 'prod', createdAt: new Date().toISOString() };
  await store.admit({ ...first, actions: [], context: {} } as unknown as Deployment, 2);
  for (const [n, image] of ['img-10', 'img-11', 'img-12', 'img-13'].entries()) {
    await store.recordServed('search', 'prod', {
      deployment: `dep-release${n}`,
      image,
      commit: `config${n}`,
      group: `search-prod-v00${n}`,
      at: new Date().toISOString(),
    });
  }
});

afterAll(async () => {
  await redis.quit();
  await redisServer.stop();
});

describe('revert-commit', () => {
  it('goes back to the newest earlier release whose artifact does not contain the commit', async () => {
    const found = await findRevertTarget({ store, peers: peers as unknown as Peers }, 'search', 'prod', BAD);
    expect(found.current.image).toBe('img-13');
    expect(found.target).toMatchObject({ image: 'img-11', commit: 'config1', group: 'search-prod-v001' });
    expect(found.version).toBe('1.1.0');
  });

  it('refuses a commit the running release does not contain, or one nobody can place', async () => {
    const clean = { ...peers, contains: async () => false } as unknown as Peers;
    await expect(findRevertTarget({ store, peers: clean }, 'search', 'prod', BAD)).rejects.toThrow(ConflictError);
    await expect(
      findRevertTarget({ store, peers: peers as unknown as Peers }, 'search', 'prod', 'a'.repeat(40)),
    ).rejects.toThrow(/cannot tell whether search 1\.3\.0 contains aaaaaaaaaaaa/);
  });
});

describe('undo', () => {
  it('goes back to the release before what serves now, and no further after a failed deployment left its group in service', async () => {
    const releases = await store.history('search', 'prod', 2); // img-13 on v003, img-12 on v002
    expect(undoTarget(releases, { name: 'search-prod-v003', deployment: 'dep-release3' })).toEqual({
      current: releases[0],
      previous: releases[1],
    });
    // A failed deployment's v004 still serves (its rollback could not finish): back to img-13, not img-12.
    expect(undoTarget(releases, { name: 'search-prod-v004', deployment: 'dep-failed04' })).toEqual({
      current: { deployment: 'dep-failed04' },
      previous: expect.objectContaining({ image: 'img-13', group: 'search-prod-v003' }),
    });
    expect(undoTarget(releases.slice(0, 1), { name: 'search-prod-v003' })).toBeUndefined();
    expect(undoTarget([], { name: 'search-prod-v001' })).toBeUndefined();
  });
});

describe('/metrics markers', () => {
  it('exports what each cluster runs and counts each finished deployment once', async () => {
    const metrics = createDeploymentMetrics({ redis, prefix, store, peers });
    // Counted by the finish itself, once however often a finish is tried.
    for (const [id, state] of [
      ['dep-finished01', 'rolled-back'],
      ['dep-finished02', 'succeeded'],
    ] as const) {
      const d = {
        id,
        service: 'counted',
        env: 'prod',
        by: 'dave',
        createdAt: new Date().toISOString(),
        actions: [],
        context: {},
      };
      await store.admit(d as unknown as Deployment, 2);
      const running = (await store.get(id))!;
      const stale = (await store.get(id))!;
      await store.transition(Object.assign(running, { state }), { mode: 'finish', limit: 2 });
      await expect(store.transition(Object.assign(stale, { state }), { mode: 'finish', limit: 2 })).rejects.toThrow(
        /another writer/,
      );
    }
    const text = await metrics.registry.metrics();
    expect(text).toContain(
      `slipway_release_info{service="search",env="prod",image="img-13",version="1.3.0",commit="${'130'.padEnd(40, 'c')}"} 1`,
    );
    expect(text).toContain('slipway_deployments_total{service="counted",env="prod",outcome="rolled-back"} 1');
    expect(text).toContain('slipway_deployments_total{service="counted",env="prod",outcome="succeeded"} 1');
    // An image that carries its source commit is labelled with it, without asking for its build.
    const carried = createDeploymentMetrics({
      redis,
      prefix,
      store,
      peers: {
        ...peers,
        image: async (id) => ({
          id,
          kind: 'service',
          service: 'search',
          version: '1.3.0',
          sourceCommit: 'f'.repeat(40),
        }),
        sourceCommit: async () => {
          throw new Error('not asked');
        },
      },
    });
    expect(await carried.registry.metrics()).toContain(`version="1.3.0",commit="${'f'.repeat(40)}"} 1`);
    expect(text).toContain('slipway_deployments_total{service="counted",env="prod",outcome="succeeded"} 1');
  });
});
