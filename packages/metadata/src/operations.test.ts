import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import type { Express } from 'express';
import { createLogger, createTokenVerifier, hashToken } from '@slipway/core';
import { type Redis, createRedis } from '@slipway/core/redis';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import { createApp } from './app.js';
import { createRedisServiceStore } from './store.js';

const READER = 'reader-token';
const DEPLOYER = 'deployer-token';
const ADMIN = 'admin-token';
const tokens = createTokenVerifier({
  [`sha256:${hashToken(READER)}`]: { subject: 'rita', role: 'reader' },
  [`sha256:${hashToken(DEPLOYER)}`]: { subject: 'dave', role: 'deployer' },
  [ADMIN]: { subject: 'ada', role: 'admin' },
});

let server: TestRedis;
let redis: Redis;
let app: Express;

beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.stop();
});
beforeEach(() => {
  redis = createRedis({ url: server.url, keyPrefix: server.prefix() });
  app = createApp({
    store: createRedisServiceStore({ redis }),
    tokens,
    logger: createLogger({ name: 'metadata', level: 'silent' }),
    redis,
  });
});
afterEach(async () => {
  await redis.quit();
});

const as = (token: string) => ({ Authorization: `Bearer ${token}` });

async function create(name: string, metadata: object) {
  const res = await request(app).put(`/services/${name}`).set(as(DEPLOYER)).send(metadata);
  expect(res.status).toBe(201);
  return res;
}

function expectProblem(res: request.Response, status: number, detail: RegExp | string) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String) });
  expect(res.body.detail).toMatch(detail);
}

describe('auth', () => {
  it('answers 401 without a token and never echoes a token back', async () => {
    expectProblem(await request(app).get('/services'), 401, /bearer token is required/);
    const bad = await request(app).get('/services').set(as('wrong-secret-token'));
    expectProblem(bad, 401, /not valid/);
    expect(JSON.stringify(bad.body)).not.toContain('wrong-secret-token');
  });

  it('answers 403 when the role is too weak', async () => {
    expectProblem(await request(app).put('/services/search').set(as(READER)).send({}), 403, /deployer role/);
    await create('search', {});
    expectProblem(await request(app).delete('/services/search').set(as(DEPLOYER)), 403, /admin role/);
  });

  it('leaves /healthz, /readyz and /openapi.json open; /metrics answers a token', async () => {
    expect((await request(app).get('/healthz')).status).toBe(200);
    const ready = await request(app).get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ok' });
    expect((await request(app).get('/openapi.json')).body.info.title).toBe('Slipway metadata');
    await request(app).get('/services').set(as(READER));
    expect((await request(app).get('/metrics')).status).toBe(401);
    const metrics = await request(app).get('/metrics').set(as(READER));
    expect(metrics.text).toMatch(
      /http_request_duration_seconds_count\{[^}]*method="GET",route="\/services",status="200"/,
    );
  });
});

describe('PUT /services/{name}', () => {
  it('creates with 201, then replaces with 200, with the revision as ETag', async () => {
    const created = await create('search', { owner: 'team-search', contact: 'someone@example.com' });
    expect(created.headers.etag).toBe('"1"');
    expect(created.body).toMatchObject({ name: 'search', revision: 1, updatedBy: 'dave' });
    const replaced = await request(app).put('/services/search').set(as(ADMIN)).send({ owner: 'team-find' });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ revision: 2, metadata: { owner: 'team-find' }, updatedBy: 'ada' });
    expect(replaced.body.createdAt).toBe(created.body.createdAt);
  });

  it('answers 400 saying the rule for a bad name', async () => {
    const res = await request(app).put('/services/Search-Engine').set(as(DEPLOYER)).send({});
    expectProblem(res, 400, /lowercase letters and digits, 1 to 32 characters, no hyphens/);
  });

  it('answers 400 for a body that is not an object, and for bad JSON', async () => {
    expectProblem(await request(app).put('/services/search').set(as(DEPLOYER)).send([1, 2]), 400, /object/);
    const bad = await request(app)
      .put('/services/search')
      .set(as(DEPLOYER))
      .set('Content-Type', 'application/json')
      .send('{"owner": ');
    expectProblem(bad, 400, /not valid JSON/);
    expect((await request(app).get('/services/search').set(as(READER))).status).toBe(404);
  });

  it('answers 413 for metadata over 64 KiB and keeps what was stored', async () => {
    await create('search', { owner: 'team-search' });
    const res = await request(app)
      .put('/services/search')
      .set(as(DEPLOYER))
      .send({ blob: 'x'.repeat(70 * 1024) });
    expectProblem(res, 413, /at most 65536/);
    const after = await request(app).get('/services/search').set(as(READER));
    expect(after.body).toMatchObject({ revision: 1, metadata: { owner: 'team-search' } });
  });

  it('answers 413 for a body over the 1 MiB limit', async () => {
    const res = await request(app)
      .put('/services/search')
      .set(as(DEPLOYER))
      .send({ blob: 'x'.repeat(1100 * 1024) });
    expectProblem(res, 413, /larger than this service accepts/);
  });

  it('answers 400 naming a top-level key the one-property endpoints would refuse, and stores nothing', async () => {
    for (const [body, key] of [
      ['{"__proto__":{"x":1},"owner":"a"}', '__proto__'],
      ['{"owner":"a","_hidden":1}', '_hidden'],
      ['{"a/b":1}', 'a/b'],
      [JSON.stringify({ ['k'.repeat(65)]: 1 }), 'k'.repeat(64)],
    ] as const) {
      const res = await request(app).put('/services/search').set(as(DEPLOYER)).type('json').send(body);
      expectProblem(res, 400, `invalid metadata key '${key}`);
      expect(res.body.detail).toContain(
        'a letter or digit, then up to 63 letters, digits, underscores, dots or hyphens',
      );
    }
    expect((await request(app).get('/services/search').set(as(READER))).status).toBe(404);
    // Keys below the top level are data, as in the value of a one-property PUT.
    expect((await create('search', { ci: { _private: true, 'a b': 1 } })).status).toBe(201);
  });

  it('answers 412 for a stale If-Match and writes with a current one', async () => {
    await create('search', { owner: 'a' });
    const stale = await request(app).put('/services/search').set(as(DEPLOYER)).set('If-Match', '"7"').send({});
    expectProblem(stale, 412, /revision 1, not 7/);
    const fresh = await request(app)
      .put('/services/search')
      .set(as(DEPLOYER))
      .set('If-Match', '"1"')
      .send({ owner: 'b' });
    expect(fresh.status).toBe(200);
    const garbage = await request(app).put('/services/search').set(as(DEPLOYER)).set('If-Match', 'yesterday').send({});
    expectProblem(garbage, 412, /matches no revision/);
  });
});

describe('GET /services/{name}', () => {
  it('answers the service with its ETag', async () => {
    await create('search', { owner: 'team-search', ci: { url: 'https://ci.example.com/search' } });
    const res = await request(app).get('/services/search').set(as(READER));
    expect(res.status).toBe(200);
    expect(res.headers.etag).toBe('"1"');
    expect(res.body).toMatchObject({
      name: 'search',
      metadata: { owner: 'team-search', ci: { url: 'https://ci.example.com/search' } },
      revision: 1,
      updatedBy: 'dave',
    });
    expect(res.headers['x-request-id']).toBeTruthy();
  });

  it('answers 404 for an unknown service', async () => {
    expectProblem(await request(app).get('/services/nothing').set(as(READER)), 404, /no service named nothing/);
  });

  it('passes a given X-Request-Id back', async () => {
    const res = await request(app).get('/services/nothing').set(as(READER)).set('X-Request-Id', 'abc-123');
    expect(res.headers['x-request-id']).toBe('abc-123');
    expect(res.body.requestId).toBe('abc-123');
  });
});

describe('PATCH /services/{name}', () => {
  const mergePatch = (name: string, body: object) =>
    request(app)
      .patch(`/services/${name}`)
      .set(as(DEPLOYER))
      .set('Content-Type', 'application/merge-patch+json')
      .send(JSON.stringify(body));

  it('merges nested objects and deletes keys set to null', async () => {
    await create('search', { owner: 'a', ci: { url: 'u', job: 'j' }, old: true });
    const res = await mergePatch('search', { ci: { job: null, branch: 'main' }, old: null, tier: 1 });
    expect(res.status).toBe(200);
    expect(res.body.metadata).toEqual({ owner: 'a', ci: { url: 'u', branch: 'main' }, tier: 1 });
  });

  it('treats constructor and prototype as keys like any other', async () => {
    await request(app)
      .put('/services/search')
      .set(as(DEPLOYER))
      .set('Content-Type', 'application/json')
      .send('{"constructor":{"x":1},"owner":"a"}')
      .expect(201);
    const res = await mergePatch(
      'search',
      JSON.parse('{"__proto__":null,"constructor":{"a":1},"prototype":2,"contact":"c"}'),
    );
    expect(res.status).toBe(200);
    expect(res.body.metadata).toEqual({ owner: 'a', constructor: { x: 1, a: 1 }, prototype: 2, contact: 'c' });
    expect(Object.keys(res.body.metadata)).not.toContain('__proto__');
    expect(({} as Record<string, unknown>).a).toBeUndefined();
  });

  it('answers 400 naming a key the one-property endpoints would refuse, and changes nothing', async () => {
    await create('search', { owner: 'a' });
    const res = await mergePatch('search', JSON.parse('{"owner":"b","__proto__":{"x":1}}'));
    expectProblem(res, 400, /^invalid metadata key '__proto__': a letter or digit, then up to 63/);
    expectProblem(await mergePatch('search', { 'has space': 1 }), 400, /invalid metadata key 'has space'/);
    const after = await request(app).get('/services/search').set(as(READER));
    expect(after.body).toMatchObject({ revision: 1, metadata: { owner: 'a' } });
  });

  it('creates a new service with 201', async () => {
    const res = await mergePatch('newone', { owner: 'x' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: 'newone', metadata: { owner: 'x' }, revision: 1 });
  });

  it('answers 415 for any other content type', async () => {
    await create('search', {});
    const res = await request(app).patch('/services/search').set(as(DEPLOYER)).send({ owner: 'x' });
    expectProblem(res, 415, /unsupported media type/i);
  });

  it('never loses keys when many PATCHes race', async () => {
    await create('search', {});
    const results = await Promise.all(Array.from({ length: 25 }, (_, i) => mergePatch('search', { [`key${i}`]: i })));
    expect(results.map((r) => r.status).every((s) => s === 200)).toBe(true);
    const res = await request(app).get('/services/search').set(as(READER));
    expect(Object.keys(res.body.metadata)).toHaveLength(25);
    expect(res.body.revision).toBe(26);
  });
});

describe('DELETE /services/{name}', () => {
  it('deletes with 204, then answers 404', async () => {
    await create('search', { owner: 'a' });
    expect((await request(app).delete('/services/search').set(as(ADMIN))).status).toBe(204);
    expect((await request(app).get('/services/search').set(as(READER))).status).toBe(404);
    expectProblem(await request(app).delete('/services/search').set(as(ADMIN)), 404, /no service named search/);
    const list = await request(app).get('/services').set(as(READER));
    expect(list.body.items).toEqual([]);
  });

  it('answers 412 for a stale If-Match', async () => {
    await create('search', {});
    expectProblem(await request(app).delete('/services/search').set(as(ADMIN)).set('If-Match', '"9"'), 412, /not 9/);
  });
});

describe('GET|PUT|DELETE /services/{name}/metadata/{key}', () => {
  it('reads one property as a bare JSON value', async () => {
    await create('search', { owner: 'team-search', replicas: 3, ci: { url: 'u' } });
    const owner = await request(app).get('/services/search/metadata/owner').set(as(READER));
    expect(owner.status).toBe(200);
    expect(owner.text).toBe('"team-search"');
    expect((await request(app).get('/services/search/metadata/replicas').set(as(READER))).text).toBe('3');
    expect((await request(app).get('/services/search/metadata/ci').set(as(READER))).body).toEqual({ url: 'u' });
  });

  it('answers 404 for a missing property or service', async () => {
    await create('search', {});
    expectProblem(
      await request(app).get('/services/search/metadata/owner').set(as(READER)),
      404,
      /no metadata property 'owner'/,
    );
    expectProblem(
      await request(app).get('/services/none/metadata/owner').set(as(READER)),
      404,
      /no service named none/,
    );
    expectProblem(
      await request(app).put('/services/none/metadata/owner').set(as(DEPLOYER)).send('"x"').type('json'),
      404,
      /no service named none/,
    );
  });

  it('writes any JSON value and leaves the other properties alone', async () => {
    await create('search', { owner: 'a', contact: 'c' });
    const res = await request(app)
      .put('/services/search/metadata/owner')
      .set(as(DEPLOYER))
      .set('Content-Type', 'application/json')
      .send('"team-search"');
    expect(res.status).toBe(200);
    expect(res.body.metadata).toEqual({ owner: 'team-search', contact: 'c' });
    await request(app).put('/services/search/metadata/tags').set(as(DEPLOYER)).send(['web', 'java']);
    const tags = await request(app).get('/services/search/metadata/tags').set(as(READER));
    expect(tags.body).toEqual(['web', 'java']);
  });

  it('deletes one property with 204', async () => {
    await create('search', { owner: 'a', contact: 'c' });
    expect((await request(app).delete('/services/search/metadata/owner').set(as(DEPLOYER))).status).toBe(204);
    const res = await request(app).get('/services/search').set(as(READER));
    expect(res.body.metadata).toEqual({ contact: 'c' });
    expectProblem(
      await request(app).delete('/services/search/metadata/owner').set(as(DEPLOYER)),
      404,
      /no metadata property/,
    );
  });

  it('answers 400 saying the rule for a bad key', async () => {
    await create('search', {});
    const res = await request(app).get('/services/search/metadata/_hidden').set(as(READER));
    expectProblem(res, 400, /a letter or digit, then up to 63/);
  });

  it('answers 412 for a stale If-Match', async () => {
    await create('search', {});
    const res = await request(app)
      .put('/services/search/metadata/owner')
      .set(as(DEPLOYER))
      .set('If-Match', '"5"')
      .send('"x"')
      .type('json');
    expectProblem(res, 412, /not 5/);
  });
});

describe('GET /services', () => {
  beforeEach(async () => {
    await create('search', {
      owner: 'Team-Search',
      tier: 1,
      tags: ['web', 'java'],
      description: 'Searching all the things',
    });
    await create('billing', { owner: 'team-money', tier: 1 });
    await create('catalog', { owner: 'team-search', tier: 2 });
  });

  it('lists every service in name order', async () => {
    const res = await request(app).get('/services').set(as(READER));
    expect(res.status).toBe(200);
    expect(res.body.items.map((s: { name: string }) => s.name)).toEqual(['billing', 'catalog', 'search']);
    expect(res.body.nextCursor).toBeUndefined();
  });

  it('filters on properties, case-insensitively, ANDed', async () => {
    const names = async (query: string) =>
      (await request(app).get(`/services?${query}`).set(as(READER))).body.items.map((s: { name: string }) => s.name);
    expect(await names('owner=team-search')).toEqual(['catalog', 'search']);
    expect(await names('owner=team-search&tier=1')).toEqual(['search']);
    expect(await names('tags=WEB')).toEqual(['search']);
    expect(await names('q=all%20the')).toEqual(['search']);
    expect(await names('q=bill')).toEqual(['billing']);
    expect(await names('owner=nobody')).toEqual([]);
  });

  it('pages with limit and cursor', async () => {
    const first = await request(app).get('/services?limit=2').set(as(READER));
    expect(first.body.items.map((s: { name: string }) => s.name)).toEqual(['billing', 'catalog']);
    expect(first.body.nextCursor).toBe('catalog');
    const second = await request(app).get(`/services?limit=2&cursor=${first.body.nextCursor}`).set(as(READER));
    expect(second.body.items.map((s: { name: string }) => s.name)).toEqual(['search']);
    expect(second.body.nextCursor).toBeUndefined();
  });

  // Issue 28: the dashboard's /services showed every service to show them at all; a page N of 100
  // is one read (offset), and the pager's count of pages needs how many there are (total).
  it('answers page N by an offset, with how many services match in all', async () => {
    const page = async (query: string) => {
      const res = await request(app).get(`/services?${query}`).set(as(READER));
      expect(res.status).toBe(200);
      return { names: res.body.items.map((s: { name: string }) => s.name), total: res.body.total };
    };
    expect(await page('limit=2')).toEqual({ names: ['billing', 'catalog'], total: 3 });
    expect(await page('limit=2&offset=2')).toEqual({ names: ['search'], total: 3 });
    expect(await page('offset=3')).toEqual({ names: [], total: 3 });
    // Counted and skipped among the services a filter keeps.
    expect(await page('owner=team-search&offset=1')).toEqual({ names: ['search'], total: 2 });
    expectProblem(await request(app).get('/services?offset=-1').set(as(READER)), 400, /offset/);
  });

  it('answers 400 for a limit out of range or a bad filter key', async () => {
    expectProblem(await request(app).get('/services?limit=5000').set(as(READER)), 400, /limit/);
    expectProblem(await request(app).get('/services?limit=abc').set(as(READER)), 400, /limit/);
    expectProblem(await request(app).get('/services?_x=1').set(as(READER)), 400, /invalid metadata key/);
  });
});

describe('GET /services/{name}/history', () => {
  it('answers every change newest first, with what was added, removed and changed', async () => {
    await create('search', { owner: 'a', contact: 'c' });
    await request(app)
      .patch('/services/search')
      .set(as(ADMIN))
      .set('Content-Type', 'application/merge-patch+json')
      .send(JSON.stringify({ owner: 'b', contact: null, ci: 'u' }));
    const res = await request(app).get('/services/search/history').set(as(READER));
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(2);
    expect(res.body.items[0]).toMatchObject({
      revision: 2,
      by: 'ada',
      change: { added: { ci: 'u' }, removed: { contact: 'c' }, changed: { owner: { old: 'a', new: 'b' } } },
    });
    expect(res.body.items[1]).toMatchObject({
      revision: 1,
      by: 'dave',
      change: { added: { owner: 'a', contact: 'c' } },
    });
    const limited = await request(app).get('/services/search/history?limit=1').set(as(READER));
    expect(limited.body.items).toHaveLength(1);
  });

  it('answers 404 for an unknown service', async () => {
    expectProblem(await request(app).get('/services/none/history').set(as(READER)), 404, /no service named none/);
  });
});

describe('undocumented routes', () => {
  it('answers 404 problem+json', async () => {
    expectProblem(await request(app).get('/nothing/here').set(as(READER)), 404, /no such resource/);
  });
  it('answers 405 for a method the path does not have', async () => {
    const res = await request(app).post('/services/search').set(as(DEPLOYER)).send({});
    expect(res.status).toBe(405);
  });
});

describe('the properties Slipway acts on (clusters, policy)', () => {
  let checked: Express;
  beforeEach(() => {
    checked = createApp({
      store: createRedisServiceStore({ redis }),
      tokens,
      logger: createLogger({ name: 'metadata', level: 'silent' }),
      redis,
      // The config service's repositories: search-prod, search-prod-a, search-prod-b.
      environments: async () => ['prod', 'prod-a', 'prod-b'],
    });
  });

  it('refuses (422, naming both) a sync set named like an environment or a cluster, storing nothing', async () => {
    await request(checked).put('/services/search').set(as(DEPLOYER)).send({ owner: 'team' }).expect(201);
    const put = await request(checked)
      .put('/services/search/metadata/clusters')
      .set(as(DEPLOYER))
      .send({ prod: ['prod-a', 'prod-b'] });
    expectProblem(
      put,
      422,
      /^not stored: prod is both a sync set of search \(prod-a, prod-b\) and an environment of it \(the configuration search-prod\)/,
    );
    expect(put.body.errors).toEqual([{ path: '/clusters/prod', message: expect.stringMatching(/^prod is both/) }]);
    const patch = await request(checked)
      .patch('/services/search')
      .set({ ...as(DEPLOYER), 'Content-Type': 'application/merge-patch+json' })
      .send(JSON.stringify({ clusters: { live: ['prod-a'], 'prod-a': ['prod-b'] } }));
    expectProblem(patch, 422, /prod-a is both a sync set of search \(prod-b\) and an environment/);
    expect((await request(checked).get('/services/search').set(as(READER))).body.metadata).toEqual({ owner: 'team' });
    await request(checked)
      .put('/services/search/metadata/clusters')
      .set(as(DEPLOYER))
      .send({ live: ['prod-a', 'prod-b'] })
      .expect(200);
  });

  it('lets only an admin add, replace or delete policy and production (403, nothing stored)', async () => {
    // The attack: a deployer rewrites prod's rules (no approvers, no freeze, not production)
    // through any of the four writes, then deploys to prod with nothing in the way.
    const rules = { prod: { production: true, approvers: ['alice'] } };
    await request(checked)
      .put('/services/search')
      .set(as(ADMIN))
      .send({ owner: 'team', production: ['prod'], policy: rules })
      .expect(201);
    const stored = { owner: 'team', production: ['prod'], policy: rules };
    const merge = { 'Content-Type': 'application/merge-patch+json' };
    const attempts = [
      request(checked).put('/services/search').set(as(DEPLOYER)).send({ owner: 'team' }),
      request(checked)
        .put('/services/search')
        .set(as(DEPLOYER))
        .send({ ...stored, policy: {} }),
      request(checked)
        .patch('/services/search')
        .set({ ...as(DEPLOYER), ...merge })
        .send(JSON.stringify({ policy: null })),
      request(checked)
        .patch('/services/search')
        .set({ ...as(DEPLOYER), ...merge })
        .send(JSON.stringify({ production: false })),
      request(checked)
        .put('/services/search/metadata/policy')
        .set(as(DEPLOYER))
        .send({ prod: { approvers: ['dave'] } }),
      request(checked).put('/services/search/metadata/production').set(as(DEPLOYER)).send([]),
      request(checked).delete('/services/search/metadata/policy').set(as(DEPLOYER)),
      request(checked).delete('/services/search/metadata/production').set(as(DEPLOYER)),
    ];
    for (const res of await Promise.all(attempts))
      expectProblem(
        res,
        403,
        /^only an admin may change (policy|production|policy and production) of search; dave has deployer$/,
      );
    // A new service's rules too: a deployer may not create one with rules of its choosing.
    const fresh = await request(checked).put('/services/other').set(as(DEPLOYER)).send({ policy: rules });
    expectProblem(fresh, 403, /only an admin may change policy of other/);
    expect((await request(checked).get('/services/other').set(as(READER))).status).toBe(404);
    expect((await request(checked).get('/services/search').set(as(READER))).body).toMatchObject({
      metadata: stored,
      revision: 1,
    });
    // The deployer's other writes still go through, carrying the rules unchanged.
    await request(checked)
      .put('/services/search')
      .set(as(DEPLOYER))
      .send({ ...stored, owner: 'core' })
      .expect(200);
    await request(checked)
      .patch('/services/search')
      .set({ ...as(DEPLOYER), ...merge })
      .send('{"tier":1}')
      .expect(200);
    await request(checked).put('/services/search/metadata/policy').set(as(DEPLOYER)).send(rules).expect(200);
    // And the admin changes them.
    await request(checked).delete('/services/search/metadata/production').set(as(ADMIN)).expect(204);
    await request(checked).put('/services/search/metadata/policy').set(as(ADMIN)).send({}).expect(200);
    expect((await request(checked).get('/services/search').set(as(READER))).body.metadata).toEqual({
      owner: 'core',
      tier: 1,
      policy: {},
    });
  });

  it("refuses a deployer's change to the members of a sync set that has rules: leaving the set would leave its rules (issue 24 follow-up)", async () => {
    const clusters = { live: ['prod-a', 'prod-b'], canaries: ['staging-a'] };
    const stored = { owner: 'team', clusters, production: ['live'], policy: { live: { approvers: ['alice'] } } };
    await request(checked).put('/services/search').set(as(ADMIN)).send(stored).expect(201);
    const merge = { 'Content-Type': 'application/merge-patch+json' };
    const attempts = [
      request(checked)
        .put('/services/search/metadata/clusters')
        .set(as(DEPLOYER))
        .send({ ...clusters, live: ['prod-a'] }),
      request(checked)
        .patch('/services/search')
        .set({ ...as(DEPLOYER), ...merge })
        .send(JSON.stringify({ clusters: { live: null } })),
      request(checked).delete('/services/search/metadata/clusters').set(as(DEPLOYER)),
    ];
    for (const res of await Promise.all(attempts))
      expectProblem(res, 403, /^only an admin may change the clusters of sync set live of search; dave has deployer$/);
    expect((await request(checked).get('/services/search').set(as(READER))).body.metadata).toEqual(stored);
    // A set without rules is the team's own to arrange.
    await request(checked)
      .put('/services/search/metadata/clusters')
      .set(as(DEPLOYER))
      .send({ ...clusters, canaries: ['staging-a', 'staging-b'], more: ['dev-a'] })
      .expect(200);
    await request(checked)
      .put('/services/search/metadata/clusters')
      .set(as(ADMIN))
      .send({ live: ['prod-a'] })
      .expect(200);
  });

  it("refuses a deployer's new sync set taking a governed set's cluster: a cluster reads its first set's rules", async () => {
    const stored = {
      clusters: { live: ['prod-a', 'prod-b'] },
      production: ['live'],
      policy: { live: { approvers: ['alice'] } },
    };
    await request(checked).put('/services/search').set(as(ADMIN)).send(stored).expect(201);
    // live's members are untouched; prod-a is also put in a set listed before it, which has no rules.
    const attempts = [
      request(checked)
        .put('/services/search/metadata/clusters')
        .set(as(DEPLOYER))
        .send({ loose: ['prod-a'], live: ['prod-a', 'prod-b'] }),
      request(checked)
        .put('/services/search')
        .set(as(DEPLOYER))
        .send({ ...stored, clusters: { loose: ['prod-a'], live: ['prod-a', 'prod-b'] } }),
      request(checked)
        .patch('/services/search')
        .set({ ...as(DEPLOYER), 'Content-Type': 'application/merge-patch+json' })
        .send(JSON.stringify({ clusters: { '0': ['prod-a'] } })),
    ];
    for (const res of await Promise.all(attempts))
      expectProblem(res, 403, /^only an admin may change the sync set of cluster prod-a of search; dave has deployer$/);
    expect((await request(checked).get('/services/search').set(as(READER))).body.metadata).toEqual(stored);
  });

  it('refuses a policy it cannot read, saying each fault', async () => {
    const res = await request(checked)
      .put('/services/search')
      .set(as(ADMIN))
      .send({ policy: { prod: { production: 'yes', approvers: 'alice' } } });
    expectProblem(res, 422, /policy\.prod\.production is true or false; policy\.prod\.approvers is a list/);
    await request(checked)
      .put('/services/search')
      .set(as(ADMIN))
      .send({ policy: { prod: { production: true, approvers: ['alice'] } } })
      .expect(201);
  });
});
