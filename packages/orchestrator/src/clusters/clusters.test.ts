import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { lockKeyOf } from '@slipway/core/redis';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import { needsAttention } from './attention.js';
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
  ] as const)
    expect((await deploy(service, env, `img-${service}-1`)).state).toBe('succeeded');
});

async function deploy(service: string, env: string, image: string, strategy = {}) {
  const answer = await request(f.app)
    .post('/deployments')
    .set(TOKENS.deployer)
    .send({ service, env, image, message: 'clusters', params: { strategy } });
  expect(answer.status).toBe(202);
  return ended(f.store, answer.body.id as string);
}
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

// Issue 28: `slipway status` read every cluster, every image and the newest deployments to print 40
// rows; it asks for those 40, those needing attention first, and the counts of all.
describe('GET /clusters?order=attention&limit=', () => {
  it('answers those needing attention first, no more than the limit, and counts every cluster', async () => {
    // cold prod's next version fails under traffic (rolled back); idle prod is scaled to nothing;
    // warm staging is being deployed; warm prod is well.
    const rolledBack = await deploy('cold', 'prod', 'img-cold-bad', { burnInSeconds: 1 });
    expect(rolledBack.state).toBe('rolled-back');
    expect((await deploy('idle', 'prod', 'img-idle-1')).state).toBe('succeeded');
    await f.cloud.resizeServerGroup('idle-prod-v001', { min: 0, desired: 0, max: 0 });
    const held = lockKeyOf(f.prefix, 'warm:staging');
    await f.redis.hset(held, 'owner', 'dep-held000002');
    try {
      const few = await request(f.app).get('/clusters?order=attention&limit=2').set(TOKENS.deployer);
      expect(few.status).toBe(200);
      expect(few.body).toMatchObject({ total: 4, needingAttention: 3 });
      expect(few.body.items.map((c: { service: string; env: string }) => `${c.service} ${c.env}`)).toEqual([
        'cold prod',
        'idle prod',
      ]);
      expect(few.body.items[0]).toMatchObject({
        needsAttention: true,
        lastDeployment: { id: rolledBack.id, state: 'rolled-back', by: 'dave' },
        active: { image: 'img-cold-1', version: 'cold-1' },
      });

      const all = await request(f.app).get('/clusters?order=attention').set(TOKENS.deployer);
      expect(
        all.body.items.map((c: { service: string; env: string; needsAttention: boolean }) => [
          `${c.service} ${c.env}`,
          c.needsAttention,
        ]),
      ).toEqual([
        ['cold prod', true],
        ['idle prod', true],
        ['warm staging', true],
        ['warm prod', false],
      ]);
      expect(all.body.items[3]).toMatchObject({
        lastDeployment: { state: 'succeeded', by: 'dave' },
        active: { version: 'warm-1' },
      });

      // By name (the default), cut to the limit; one service's alike.
      const first = await request(f.app).get('/clusters?limit=1').set(TOKENS.deployer);
      expect(first.body).toMatchObject({ total: 4, needingAttention: 3, items: [{ service: 'cold', env: 'prod' }] });
      const warm = await request(f.app).get('/clusters?service=warm&order=attention').set(TOKENS.deployer);
      expect(warm.body).toMatchObject({ total: 2, needingAttention: 1 });
      expect(warm.body.items.map((c: { env: string }) => c.env)).toEqual(['staging', 'prod']);
    } finally {
      await f.redis.del(held);
    }
  });
});

// Issue 28: the dashboard's /clusters read every cluster described to show a page of 100, and its
// /services every cluster to show a page of services. GET /clusters answers a page (offset+limit),
// the clusters of several services (service= repeated), or those needing attention alone.
describe('GET /clusters?offset=&service=&attention=', () => {
  const names = (answer: { body: { items: { service: string; env: string }[] } }) =>
    answer.body.items.map((c) => `${c.service} ${c.env}`);
  it('answers a page of the order, and counts every cluster', async () => {
    const all = await request(f.app).get('/clusters').set(TOKENS.deployer);
    const { total, needingAttention } = all.body as { total: number; needingAttention: number };
    expect(total).toBeGreaterThanOrEqual(4);
    const page = await request(f.app).get('/clusters?offset=1&limit=2').set(TOKENS.deployer);
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ total, needingAttention });
    expect(names(page)).toEqual(names(all).slice(1, 3));
    expect(page.body.items).toEqual(all.body.items.slice(1, 3));
    const past = await request(f.app).get(`/clusters?offset=${total}`).set(TOKENS.deployer);
    expect(past.body).toEqual({ items: [], total, needingAttention });
    const attention = await request(f.app).get('/clusters?order=attention&offset=1').set(TOKENS.deployer);
    const ordered = await request(f.app).get('/clusters?order=attention').set(TOKENS.deployer);
    expect(names(attention)).toEqual(names(ordered).slice(1));
  });

  it('answers those needing attention alone, a page of them, the totals of every cluster', async () => {
    const all = await request(f.app).get('/clusters').set(TOKENS.deployer);
    const needing = all.body.items.filter((c: { needsAttention: boolean }) => c.needsAttention);
    expect(needing.length).toBeGreaterThanOrEqual(2);
    const only = await request(f.app).get('/clusters?attention=true').set(TOKENS.deployer);
    expect(only.status).toBe(200);
    expect(only.body).toMatchObject({ total: all.body.total, needingAttention: needing.length });
    expect(only.body.items).toEqual(needing);
    const second = await request(f.app).get('/clusters?attention=true&offset=1&limit=1').set(TOKENS.deployer);
    expect(second.body.items).toEqual(needing.slice(1, 2));
  });

  it('answers the clusters of each service named, one service as before', async () => {
    const all = await request(f.app).get('/clusters').set(TOKENS.deployer);
    const calls: string[] = [];
    const unhook = f.standIn.intercept('describeClusters', () => void calls.push('describeClusters'));
    try {
      const two = await request(f.app).get('/clusters?service=warm&service=cold&service=none').set(TOKENS.deployer);
      expect(two.status).toBe(200);
      const theirs = all.body.items.filter((c: { service: string }) => ['warm', 'cold'].includes(c.service));
      expect(two.body.items).toEqual(theirs);
      expect(two.body.total).toBe(theirs.length);
      // A few services' clusters are asked about alone: nothing lists the whole cloud for them.
      expect(calls).toEqual([]);
    } finally {
      unhook();
    }
    const one = await request(f.app).get('/clusters?service=warm').set(TOKENS.deployer);
    expect(names(one)).toEqual(['warm prod', 'warm staging']);
  });

  it('refuses a negative offset, more than 100 services and a malformed name, in words', async () => {
    const many = Array.from({ length: 101 }, (_, i) => `service=s${i}`).join('&');
    for (const [query, said] of [
      ['offset=-1', /offset.*>= 0/],
      [many, /service.*100/],
      ['service=warm&service=Not_A_Name', /service\/1/],
    ] as const) {
      const answer = await request(f.app).get(`/clusters?${query}`).set(TOKENS.deployer);
      expect(answer.status).toBe(400);
      expect(answer.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(JSON.stringify(answer.body)).toMatch(said);
    }
  });
});

// The dashboard's filter of deployments offers every environment: their names, nothing described.
describe('GET /environments', () => {
  it('answers the names of every environment deployed to, sorted, asking the cloud nothing', async () => {
    const calls: string[] = [];
    const unhooks = (['listServerGroups', 'describeTargetHealth', 'describeClusters'] as const).map((method) =>
      f.standIn.intercept(method, () => void calls.push(method)),
    );
    try {
      const answer = await request(f.app).get('/environments').set(TOKENS.deployer);
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ items: ['prod', 'staging'] });
      expect(calls).toEqual([]);
    } finally {
      for (const unhook of unhooks) unhook();
    }
  });
});

describe('needsAttention', () => {
  const well = { serving: true, healthy: 2, instances: 2, lastState: 'succeeded' as const };
  it.each([
    ['being deployed', { ...well, deploying: 'dep-x' }, true],
    ['an instance unhealthy', { ...well, healthy: 1 }, true],
    ['nothing in service', { ...well, serving: false }, true],
    ['no instance', { ...well, healthy: 0, instances: 0 }, true],
    ['its last deployment failed', { ...well, lastState: 'failed' as const }, true],
    ['its last deployment cancelled', { ...well, lastState: 'cancelled' as const }, true],
    ['every instance healthy, its last deployment a success', well, false],
    ['every instance healthy, deployed before deployments were kept', { ...well, lastState: undefined }, false],
  ])('%s: %s', (_, cluster, expected) => expect(needsAttention(cluster)).toBe(expected));
});
