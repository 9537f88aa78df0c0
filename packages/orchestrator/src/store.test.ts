import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createRedis, type Redis } from '@slipway/core';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import type { Deployment } from './deployment.js';
import { createRedisDeploymentStore, StaleWrite, type DeploymentStore } from './store.js';

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

describe('the release queue', () => {
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
    expect(await store.release(winner, 2)).toEqual([]);
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
      for (const id of await store.release(
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
    expect(await store.release(first, 2)).toEqual(['dep-q2']);
    expect(await store.holder('queued', 'prod')).toBe('dep-q2');
    expect(await store.release(second, 2)).toEqual([]);
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

  it('records a release once however often the record action runs', async () => {
    const release = { deployment: 'dep-once', image: 'img-1', commit: 'c', group: 'once-prod-v001', at: '' };
    await store.recordRelease('once', 'prod', release);
    await store.recordRelease('once', 'prod', release);
    expect(await store.releases('once', 'prod', 10)).toHaveLength(1);
  });
});
