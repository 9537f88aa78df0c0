import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createRedis } from '@slipway/core/redis';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import { createRedisServiceStore, diff } from './store.js';

let server: TestRedis;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.stop();
});

describe('createRedisServiceStore', () => {
  it('loses no key when two replicas write one service at once', async () => {
    const prefix = server.prefix();
    const connections = [
      createRedis({ url: server.url, keyPrefix: prefix }),
      createRedis({ url: server.url, keyPrefix: prefix }),
    ];
    const [one, two] = connections.map((redis) => createRedisServiceStore({ redis }));
    await one!.write('search', () => ({}), { by: 'test' });
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        (i % 2 ? one! : two!).write('search', (current) => ({ ...current, [`k${i}`]: i }), { by: 'test' }),
      ),
    );
    const record = await one!.get('search');
    expect(Object.keys(record!.metadata)).toHaveLength(30);
    expect(record!.revision).toBe(31);
    expect(await two!.history('search', 1000)).toHaveLength(31);
    await Promise.all(connections.map((redis) => redis.quit()));
  });

  it('carries the revision on when a deleted service is created again', async () => {
    const redis = createRedis({ url: server.url, keyPrefix: server.prefix() });
    const store = createRedisServiceStore({ redis });
    await store.write('search', () => ({ a: 1 }), { by: 'test' });
    expect(await store.delete('search', { by: 'test' })).toBe(true);
    const { record, created } = await store.write('search', () => ({ b: 2 }), { by: 'test' });
    expect(created).toBe(true);
    expect(record.revision).toBe(3);
    const history = await store.history('search', 10);
    expect(history.map((h) => h.revision)).toEqual([3, 2, 1]);
    expect(history[1]).toMatchObject({ deleted: true, change: { removed: { a: 1 } } });
    await redis.quit();
  });
});

describe('list', () => {
  it('sees at once what another replica wrote, added or deleted', async () => {
    const prefix = server.prefix();
    const connections = [
      createRedis({ url: server.url, keyPrefix: prefix }),
      createRedis({ url: server.url, keyPrefix: prefix }),
    ];
    const [writer, reader] = connections.map((redis) => createRedisServiceStore({ redis }));
    const names = async () => (await reader!.list({ filters: {}, limit: 100 })).items.map((i) => i.name);
    await writer!.write('alpha', () => ({ owner: 'a' }), { by: 'test' });
    expect(await names()).toEqual(['alpha']);
    await writer!.write('beta', () => ({ owner: 'b' }), { by: 'test' });
    expect(await names()).toEqual(['alpha', 'beta']);
    await writer!.write('alpha', () => ({ owner: 'c' }), { by: 'test' });
    expect((await reader!.list({ filters: { owner: 'c' }, limit: 100 })).items.map((i) => i.name)).toEqual(['alpha']);
    await writer!.delete('beta', { by: 'test' });
    expect(await names()).toEqual(['alpha']);
    await Promise.all(connections.map((redis) => redis.quit()));
  });
});

describe('diff', () => {
  it('names added, removed and changed keys, comparing nested values deeply', () => {
    expect(diff({ a: 1, b: { c: 1 }, d: [1] }, { b: { c: 1 }, d: [2], e: null })).toEqual({
      added: { e: null },
      removed: { a: 1 },
      changed: { d: { old: [1], new: [2] } },
    });
  });
});
