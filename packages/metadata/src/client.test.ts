import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Server } from 'node:http';
import {
  createHttpServer,
  createLogger,
  createServiceClient,
  createTokenVerifier,
  NotFoundError,
  unwrap,
} from '@slipway/core';
import { type Redis, createRedis } from '@slipway/core/redis';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import { createApp } from './app.js';
import type { MetadataPaths as paths } from '@slipway/metadata-api';
import { createRedisServiceStore } from './store.js';

// The typed client other services and the CLI use, against the real service over HTTP.
let redisServer: TestRedis;
let redis: Redis;
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  redisServer = await startRedis();
  redis = createRedis({ url: redisServer.url, keyPrefix: redisServer.prefix() });
  const app = createApp({
    store: createRedisServiceStore({ redis }),
    tokens: createTokenVerifier({ 'client-token': { subject: 'cli', role: 'deployer' } }),
    logger: createLogger({ name: 'metadata', level: 'silent' }),
  });
  server = createHttpServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await redis.quit();
  await redisServer.stop();
});

describe('createServiceClient<metadata paths>', () => {
  it('sends the token and request id, and answers typed data', async () => {
    const client = createServiceClient<paths>({ baseUrl, token: 'client-token', requestId: 'client-req-1' });
    const put = await client.PUT('/services/{name}', {
      params: { path: { name: 'search' } },
      body: { owner: 'team-search' },
    });
    expect(put.response.status).toBe(201);
    expect(put.response.headers.get('x-request-id')).toBe('client-req-1');
    const service = unwrap(await client.GET('/services/{name}', { params: { path: { name: 'search' } } }));
    expect(service.updatedBy).toBe('cli');
    expect(service.metadata).toEqual({ owner: 'team-search' });
  });

  it('turns a problem+json answer into the matching error class', async () => {
    const client = createServiceClient<paths>({ baseUrl, token: 'client-token' });
    const missing = await client.GET('/services/{name}', { params: { path: { name: 'nothing' } } });
    expect(() => unwrap(missing)).toThrow(NotFoundError);
    expect(() => unwrap(missing)).toThrow('no service named nothing');
  });
});
