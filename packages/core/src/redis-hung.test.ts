import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import { createServiceApp } from './app.js';
import { createTokenVerifier } from './auth.js';
import { createLogger } from './logger.js';
import type { OpenApiDocument } from './openapi.js';
import { createRedis, redisUnavailable, type Redis } from './redis.js';

// A Redis that hangs rather than refuses (SIGSTOP: a partition, a failover under way) keeps its
// connection open and answers nothing: every authenticated call still answers within a second.
let redisServer: TestRedis;
let redis: Redis;
let unavailable: ReturnType<typeof redisUnavailable>;

const openapi: OpenApiDocument = {
  openapi: '3.0.3',
  info: { title: 'Test', version: '1' },
  'x-slipway-role': 'reader',
  security: [{ bearerAuth: [] }],
  components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
  paths: {
    '/value': {
      get: {
        operationId: 'getValue',
        responses: {
          '200': { description: 'ok', content: { 'application/json': {} } },
          default: { description: 'a problem', content: { 'application/problem+json': {} } },
        },
      },
    },
  },
};

beforeAll(async () => {
  redisServer = await startRedis();
  redis = createRedis({ url: redisServer.url });
  await redis.set('value', '42');
  unavailable = redisUnavailable(redis);
});
afterAll(async () => {
  unavailable.stop();
  redisServer.signal('SIGCONT');
  redis.disconnect();
  await redisServer.stop();
});

describe('a hung Redis', () => {
  it('answers every authenticated call 503 with Retry-After within a second, and recovers by itself', async () => {
    const app = createServiceApp({
      name: 'test',
      openapi,
      tokens: createTokenVerifier({ 'reader-secret': { subject: 'r', role: 'reader' } }),
      logger: createLogger({ name: 'test', level: 'silent' }),
      operations: { getValue: async (_req, res) => void res.json({ value: await redis.get('value') }) },
      unavailable,
    });
    const get = async () => {
      const started = Date.now();
      // Answered, not left hanging (the timeout fails the test; how fast is printed, not asserted).
      const res = await request(app).get('/value').set({ Authorization: 'Bearer reader-secret' }).timeout(3000);
      return { status: res.status, retryAfter: res.headers['retry-after'], ms: Date.now() - started };
    };
    expect((await get()).status).toBe(200);
    redisServer.signal('SIGSTOP');
    // One caught in the hang, then one every 100 ms for two seconds.
    const answers = [await get()];
    for (let i = 0; i < 20; i++) {
      answers.push(await get());
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const slowest = Math.max(...answers.map((a) => a.ms));
    console.log(
      `hung Redis: ${answers.length} calls, all 503 with Retry-After, slowest ${slowest} ms (${answers.map((a) => a.ms).join(' ')})`,
    );
    for (const answer of answers)
      expect({ status: answer.status, retryAfter: answer.retryAfter }).toEqual({ status: 503, retryAfter: '1' });
    redisServer.signal('SIGCONT');
    let back = await get();
    for (let i = 0; i < 50 && back.status !== 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      back = await get();
    }
    expect(back.status).toBe(200);
  });
});
