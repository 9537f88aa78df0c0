import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import type { Express } from 'express';
import { createLogger, createTokenVerifier } from '@slipway/core';
import { type Redis, createRedis } from '@slipway/core/redis';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import { createApp } from './app.js';
import { createRedisServiceStore } from './store.js';

// Bad input is refused at the edge, and records stored before the edge refused it stay usable.
const ADMIN = 'admin-token';
const tokens = createTokenVerifier({ [ADMIN]: { subject: 'ada', role: 'admin' } });
const admin = { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' };

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

const nested = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
const put = (name: string, body: string) => request(app).put(`/services/${name}`).set(admin).send(body);

describe('PUT /services/{name} with input no store should keep', () => {
  it('answers 400 saying where a NUL or a lone surrogate is, and stores nothing', async () => {
    const res = await put('search', '{"owner":"team","x":"a\\u0000b\\ud800"}');
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.errors).toEqual([
      { path: '/body/x', message: 'string contains a NUL character (U+0000) at index 1' },
    ]);
    const lone = await put('search', '{"deep":{"list":["ok","\\udc00 trailing"]}}');
    expect(lone.status).toBe(400);
    expect(lone.body.detail).toBe(
      '/body/deep/list/1: string contains a lone surrogate (U+DC00) at index 0: it is not well-formed Unicode',
    );
    const key = await put('search', '{"bad\\ud800key":1}');
    expect(key.status).toBe(400);
    expect(key.body.errors[0].message).toMatch(/^key contains a lone surrogate/);
    expect((await request(app).get('/services/search').set(admin)).status).toBe(404);
  });

  it('accepts well-formed text outside the basic plane (a surrogate pair)', async () => {
    expect((await put('search', '{"emoji":"\\ud83d\\ude80"}')).status).toBe(201);
  });

  it('answers 400 for nesting deeper than 64 levels, however deep', async () => {
    expect((await put('search', nested(63))).status).toBe(201);
    for (const levels of [65, 1000, 10_000]) {
      const res = await put('search', nested(levels));
      expect(res.status).toBe(400);
      expect(res.body.detail).toMatch(/nests deeper than 64 levels/);
    }
  });

  it('answers 400 for a key longer than 256 characters', async () => {
    const res = await put('search', JSON.stringify({ ['k'.repeat(257)]: 1 }));
    expect(res.status).toBe(400);
    expect(res.body.detail).toMatch(/key is 257 characters long; at most 256/);
  });

  it('answers 400 for a NUL in the query', async () => {
    const res = await request(app).get('/services?owner=a%00b').set(admin);
    expect(res.status).toBe(400);
    expect(res.body.errors[0].path).toBe('/query/owner');
  });
});

describe('a record stored by the old code with values cjson cannot decode', () => {
  // What the old code wrote for `PUT /services/x {"x":"a\u0000b\ud800", "deep": <1,000 levels>}`.
  async function storePoisoned(name: string) {
    const metadata = { x: 'a\u0000b\ud800', deep: JSON.parse(nested(1000)) as unknown };
    const now = new Date().toISOString();
    const record = { name, metadata, revision: 1, createdAt: now, updatedAt: now, updatedBy: 'old' };
    await redis.hset('services', name, JSON.stringify(record));
    await redis.zadd('names', 0, name);
    await redis.lpush(`history:${name}`, JSON.stringify({ revision: 1, at: now, by: 'old', change: {} }));
    await redis.incr('generation');
  }

  it('can still be read, changed and deleted', async () => {
    await storePoisoned('x');
    const read = await request(app).get('/services/x').set(admin);
    expect(read.status).toBe(200);
    expect(read.body.metadata.x).toBe('a\u0000b\ud800');
    const patched = await request(app)
      .patch('/services/x')
      .set({ ...admin, 'Content-Type': 'application/merge-patch+json' })
      .send('{"x":null,"deep":null,"owner":"team"}');
    expect(patched.status).toBe(200);
    expect(patched.body.metadata).toEqual({ owner: 'team' });

    await storePoisoned('y');
    expect((await request(app).delete('/services/y').set(admin)).status).toBe(204);
    expect((await request(app).get('/services/y').set(admin)).status).toBe(404);
    const list = await request(app).get('/services').set(admin);
    expect(list.body.items.map((s: { name: string }) => s.name)).toEqual(['x']);
  });
});

describe('a record stored before whole-document writes held top-level keys to the key rule', () => {
  it('can still be read, patched, cleaned of the bad key, and deleted', async () => {
    const now = new Date().toISOString();
    const record = {
      name: 'z',
      metadata: { owner: 'a', _hidden: 1, 'has space': 2 },
      revision: 1,
      createdAt: now,
      updatedAt: now,
      updatedBy: 'old',
    };
    await redis.hset('services', 'z', JSON.stringify(record));
    await redis.zadd('names', 0, 'z');
    await redis.incr('generation');
    const merge = { ...admin, 'Content-Type': 'application/merge-patch+json' };
    expect((await request(app).get('/services/z').set(admin)).body.metadata).toEqual(record.metadata);
    const patched = await request(app).patch('/services/z').set(merge).send('{"owner":"b"}');
    expect(patched.status).toBe(200);
    const cleaned = await request(app).patch('/services/z').set(merge).send('{"_hidden":null,"has space":null}');
    expect(cleaned.status).toBe(200);
    expect(cleaned.body.metadata).toEqual({ owner: 'b' });
    expect((await request(app).delete('/services/z').set(admin)).status).toBe(204);
  });
});
