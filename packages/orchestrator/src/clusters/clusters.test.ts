import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { lockKeyOf } from '@slipway/core/redis';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import { ended, orchestratorFixture, TOKENS, type OrchestratorFixture } from '../deployments/runner.fixture.js';

// Issue 28: GET /clusters at 1,000 services × 4 clusters asked the cloud twice a cluster (its
// groups, its target group's health): 8.4 s. It reads the whole cloud in one listing instead.
let redisServer: TestRedis;
let f: OrchestratorFixture;
beforeAll(async () => {
  redisServer = await startRedis();
  f = await orchestratorFixture(redisServer);
  for (const [service, env] of [
    ['warm', 'prod'],
    ['warm', 'staging'],
    ['cold', 'prod'],
  ] as const) {
    const answer = await request(f.app)
      .post('/deployments')
      .set(TOKENS.deployer)
      .send({ service, env, image: `img-${service}-1`, message: 'clusters' });
    expect(answer.status).toBe(202);
    expect((await ended(f.store, answer.body.id as string)).state).toBe('succeeded');
  }
});
afterAll(async () => {
  await f.close();
  await redisServer.stop();
});

describe('GET /clusters', () => {
  it('describes every cluster from one listing of the cloud, however many clusters there are', async () => {
    const calls: string[] = [];
    const unhooks = (['listServerGroups', 'describeTargetHealth', 'getServerGroup', 'describeClusters'] as const).map(
      (method) => f.standIn.intercept(method, () => void calls.push(method)),
    );
    try {
      const answer = await request(f.app).get('/clusters').set(TOKENS.deployer);
      expect(answer.status).toBe(200);
      expect(answer.body.items).toEqual([
        expect.objectContaining({ service: 'cold', env: 'prod', health: { healthy: 1, instances: 1 } }),
        expect.objectContaining({ service: 'warm', env: 'prod', health: { healthy: 1, instances: 1 } }),
        expect.objectContaining({ service: 'warm', env: 'staging', health: { healthy: 1, instances: 1 } }),
      ]);
      for (const item of answer.body.items)
        expect(item.active).toMatchObject({
          name: `${item.service}-${item.env}-v001`,
          vetted: true,
          image: `img-${item.service}-1`,
        });
      expect(calls).toEqual(['describeClusters']);

      calls.length = 0;
      const one = await request(f.app).get('/clusters?service=warm').set(TOKENS.deployer);
      // One service's clusters are asked about alone: nothing lists the whole cloud for them.
      expect(one.body.items.map((c: { env: string }) => c.env)).toEqual(['prod', 'staging']);
      expect(calls.sort()).toEqual([
        'describeTargetHealth',
        'describeTargetHealth',
        'listServerGroups',
        'listServerGroups',
      ]);
    } finally {
      for (const unhook of unhooks) unhook();
    }
  });

  it('says which clusters are being deployed, from their holders read all at once', async () => {
    const held = lockKeyOf(f.prefix, 'warm:staging');
    await f.redis.hset(held, 'owner', 'dep-held000001');
    try {
      const answer = await request(f.app).get('/clusters').set(TOKENS.deployer);
      expect(answer.body.items.map((c: { env: string; deploying?: string }) => c.deploying ?? null)).toEqual([
        null,
        null,
        'dep-held000001',
      ]);
    } finally {
      await f.redis.del(held);
    }
  });
});
