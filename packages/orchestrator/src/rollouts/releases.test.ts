import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { CloudProvider } from '@slipway/cloud';
import { createLogger } from '@slipway/core';
import { type Redis, createRedis } from '@slipway/core/redis';
import { createRedisLeasedLocks } from '@slipway/core/redis';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import type { Deployment } from '../deployments/deployment.js';
import type { Peers } from '../peers.js';
import type { ReleaseRecord } from './release.js';
import { createRedisReleaseStore, type ReleaseStore } from './release-store.js';
import { clusterDeploymentId, startReleaseCoordinator, type ReleaseCoordinator } from './releases.js';
import type { Runner } from '../deployments/runner.js';
import { createRedisDeploymentStore, type DeploymentStore } from '../deployments/store.js';

// The coordinator against a real Redis. Every cluster's deployment is already recorded under
// its deterministic id, as if an orchestrator had submitted it and died before saving the
// release: a tick must adopt it, never submit again (the peers here refuse to be asked).
let server: TestRedis;
let redis: Redis;
let releases: ReleaseStore;
let store: DeploymentStore;
let coordinator: ReleaseCoordinator;

const refuse = () => {
  throw new Error('submitted again: the deployment should have been adopted');
};
const peers = { service: refuse, config: refuse, image: refuse } as unknown as Peers;

beforeAll(async () => {
  server = await startRedis();
  redis = createRedis({ url: server.url });
});

afterEach(async () => {
  await coordinator?.close();
});

afterAll(async () => {
  await redis.quit();
  await server.stop();
});

let runnerCalls: string[] = [];
const runner = {
  // What the engine's control does, said as calls: the request saved, then a deployment no run carries unwound now.
  async control(id: string, kind: 'cancel', by: string, who: Record<string, unknown>) {
    const answer = await store.setControl(id, kind, by, { type: `${kind}-requested`, deployment: id, ...who });
    const env = (await store.get(id))?.env;
    runnerCalls.push(`${kind}-requested ${env}`);
    if (answer.outcome === 'set' && (answer.state === 'paused' || (answer.state === 'queued' && !answer.started)))
      runnerCalls.push(`${kind} now ${env}`);
    return answer;
  },
} as unknown as Runner;

function start() {
  runnerCalls = [];
  const prefix = server.prefix();
  releases = createRedisReleaseStore({ redis, prefix });
  store = createRedisDeploymentStore({ redis, prefix });
  coordinator = startReleaseCoordinator({
    releases,
    store,
    runner,
    peers,
    cloud: {} as CloudProvider,
    slots: 2,
    locks: createRedisLeasedLocks({ redis, prefix: `${prefix}releases:`, leaseMs: 10_000 }),
    locksPrefix: `${prefix}releases:`,
    logger: createLogger({ name: 'test', level: 'silent' }),
    tickMs: 60_000,
  });
}

function release(id: string, waves: string[][]): ReleaseRecord {
  return {
    id,
    message: 'm',
    by: 'dave',
    onFailure: 'stop',
    state: 'running',
    createdAt: new Date().toISOString(),
    items: [{ service: 'search', image: 'img-2', env: 'prod', clusters: waves.flat(), leftOut: [] }],
    waves: waves.map((envs, index) => ({
      index,
      bakeSeconds: 0,
      clusters: envs.map((env) => ({
        service: 'search',
        env,
        image: 'img-2',
        commit: 'c0ffee',
        after: [],
        state: 'pending',
      })),
    })),
    revision: 0,
  };
}

async function recorded(id: string, env: string, state: Deployment['state']) {
  // A fenced write, as every write of a deployment is: at the version it has now.
  const record = {
    id,
    service: 'search',
    env,
    image: 'img-2',
    message: 'm',
    strategy: 'red-black',
    params: {},
    by: 'dave',
    queue: true,
    state,
    createdAt: new Date().toISOString(),
    actions: [],
    current: 0,
    context: {},
  } as Deployment;
  // Admitted first (the lock and a slot, as a submission), then changed at the version it has.
  if (!(await store.get(id))) await store.admit({ ...record, state: 'queued' }, 2);
  await store.transition({ ...record, version: (await store.get(id))!.version }, { limit: 2 });
}

const states = async (id: string) =>
  (await releases.get(id))!.waves.map((w) => w.clusters.map((c) => `${c.env} ${c.state}`));

describe('the release coordinator', () => {
  it('adopts deployments already submitted and goes wave by wave to the end', async () => {
    start();
    const r = release('rel-aaaaaa1', [['prod-a'], ['prod-b', 'prod-c']]);
    await releases.create(r, { type: 'created' });
    const a = clusterDeploymentId(r.id, 'w', 0, 0);
    await recorded(a, 'prod-a', 'running');
    await coordinator.sweep();
    await coordinator.sweep();
    expect(await states(r.id)).toEqual([['prod-a deploying'], ['prod-b pending', 'prod-c pending']]);

    await recorded(a, 'prod-a', 'succeeded');
    await recorded(clusterDeploymentId(r.id, 'w', 1, 0), 'prod-b', 'succeeded');
    await recorded(clusterDeploymentId(r.id, 'w', 1, 1), 'prod-c', 'succeeded');
    for (let i = 0; i < 4; i++) await coordinator.sweep();
    const done = (await releases.get(r.id))!;
    expect(done.state).toBe('succeeded');
    expect((await releases.events(r.id)).map((e) => e.event.type)).toEqual([
      'created',
      'wave-started',
      'cluster-started',
      'cluster-finished',
      'wave-finished',
      'wave-started',
      'cluster-started',
      'cluster-started',
      'cluster-finished',
      'cluster-finished',
      'wave-finished',
      'finished',
    ]);
    expect(await releases.active()).toEqual([]);
  });

  it('starts nothing while paused, and stops at a failure: later waves never start', async () => {
    start();
    const r = release('rel-bbbbbb1', [['prod-a'], ['prod-b'], ['prod-c']]);
    r.state = 'paused';
    await releases.create(r, { type: 'created' });
    await recorded(clusterDeploymentId(r.id, 'w', 0, 0), 'prod-a', 'succeeded');
    await coordinator.sweep();
    expect(await states(r.id)).toEqual([['prod-a pending'], ['prod-b pending'], ['prod-c pending']]);

    const paused = (await releases.get(r.id))!;
    paused.state = 'running';
    expect(await releases.save(paused, [{ type: 'resumed' }])).toBe(true);
    await recorded(clusterDeploymentId(r.id, 'w', 1, 0), 'prod-b', 'rolled-back');
    await recorded(clusterDeploymentId(r.id, 'w', 2, 0), 'prod-c', 'succeeded');
    for (let i = 0; i < 5; i++) await coordinator.sweep();
    const done = (await releases.get(r.id))!;
    expect(done.state).toBe('failed');
    expect(done.reason).toBe('search prod-b: rolled-back');
    expect(await states(r.id)).toEqual([['prod-a succeeded'], ['prod-b rolled-back'], ['prod-c not-started']]);
  });

  it('rolls the earlier waves back too with onFailure rollback-all', async () => {
    start();
    const r = release('rel-cccccc1', [['prod-a'], ['prod-b']]);
    r.onFailure = 'rollback-all';
    await releases.create(r, { type: 'created' });
    const a = clusterDeploymentId(r.id, 'w', 0, 0);
    const at = new Date().toISOString();
    await store.recordServed('search', 'prod-a', {
      deployment: 'dep-before1',
      image: 'img-1',
      commit: 'c1',
      group: 'search-prod-a-v001',
      at,
    });
    await store.recordServed('search', 'prod-a', {
      deployment: a,
      image: 'img-2',
      commit: 'c0ffee',
      group: 'search-prod-a-v002',
      at,
    });
    await recorded(a, 'prod-a', 'succeeded');
    await recorded(clusterDeploymentId(r.id, 'w', 1, 0), 'prod-b', 'failed');
    await recorded(clusterDeploymentId(r.id, 'x', 0, 0), 'prod-a', 'succeeded');
    for (let i = 0; i < 6; i++) await coordinator.sweep();
    const done = (await releases.get(r.id))!;
    expect(done.state).toBe('failed');
    expect(await states(r.id)).toEqual([['prod-a rolled-back'], ['prod-b failed']]);
    expect(done.waves[0]!.clusters[0]!.rollback).toBe(clusterDeploymentId(r.id, 'x', 0, 0));
  });

  it('cancels: the running deployments are asked to cancel, nothing new starts', async () => {
    start();
    const r = release('rel-dddddd1', [['prod-a', 'prod-b'], ['prod-c']]);
    await releases.create(r, { type: 'created' });
    await recorded(clusterDeploymentId(r.id, 'w', 0, 0), 'prod-a', 'running');
    await recorded(clusterDeploymentId(r.id, 'w', 0, 1), 'prod-b', 'queued');
    await coordinator.sweep();
    const running = (await releases.get(r.id))!;
    running.cancel = 'dave';
    expect(await releases.save(running, [{ type: 'cancel-requested' }])).toBe(true);
    await coordinator.sweep();
    expect((await store.control(clusterDeploymentId(r.id, 'w', 0, 0))).cancel).toBe('dave');
    expect(runnerCalls).toEqual(['cancel-requested prod-a', 'cancel-requested prod-b', 'cancel now prod-b']);
    await recorded(clusterDeploymentId(r.id, 'w', 0, 0), 'prod-a', 'cancelled');
    await recorded(clusterDeploymentId(r.id, 'w', 0, 1), 'prod-b', 'cancelled');
    for (let i = 0; i < 3; i++) await coordinator.sweep();
    const done = (await releases.get(r.id))!;
    expect(done).toMatchObject({ state: 'cancelled', reason: 'cancelled by dave' });
    expect(await states(r.id)).toEqual([['prod-a cancelled', 'prod-b cancelled'], ['prod-c not-started']]);
  });
});
