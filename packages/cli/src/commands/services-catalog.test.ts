import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createLogger, createTokenVerifier } from '@slipway/core';
import { type Redis, createRedis } from '@slipway/core/redis';
import { createApp, createRedisServiceStore } from '@slipway/metadata';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { knownService } from '../names.js';
import { list } from './services.js';

// A file of its own: the CLI keeps one client a service per process, made at its first call.
describe('a catalog past the 1,000 services the metadata service answers at once', () => {
  // The metadata service itself on a real Redis, holding 1,001 services: svc0000 … svc1000.
  let redisServer: TestRedis;
  let redis: Redis;
  let server: Server;
  const name = (n: number) => `svc${String(n).padStart(4, '0')}`;
  beforeAll(async () => {
    redisServer = await startRedis();
    redis = createRedis({ url: redisServer.url, keyPrefix: redisServer.prefix() });
    const store = createRedisServiceStore({ redis });
    for (let n = 0; n <= 1000; n += 100)
      await Promise.all(
        Array.from({ length: Math.min(100, 1001 - n) }, (_, i) =>
          store.write(name(n + i), () => ({ owner: `team${(n + i) % 7}` }), { by: 'test' }),
        ),
      );
    const app = createApp({
      store,
      tokens: createTokenVerifier({ 'reader-token': { subject: 'ana', role: 'reader' } }),
      logger: createLogger({ name: 'metadata', level: 'silent' }),
      redis,
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    process.env.SLIPWAY_METADATA_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.env.SLIPWAY_TOKEN = 'reader-token';
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await redis.quit();
    await redisServer.stop();
  });

  it('knows the 1,001st as registered (slipway status svc1000), and names it as the nearest to a typo', async () => {
    await expect(knownService('svc1000')).resolves.toBe('svc1000');
    await expect(knownService('svd1000')).rejects.toThrow(
      'there is no service svd1000; did you mean svc1000? (slipway services list)',
    );
  });

  it('lists every one, not the first 1,000 alone', async () => {
    const out: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => out.push(String(chunk)) > 0);
    try {
      await list({ json: true });
    } finally {
      write.mockRestore();
    }
    const listed = JSON.parse(out.join('')) as { items: { name: string }[] };
    expect(listed.items).toHaveLength(1001);
    expect(listed.items.at(-1)!.name).toBe('svc1000');
  });
});
