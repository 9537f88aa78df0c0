import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import { createQueue, createQueueEvents, createWorker } from './queue.js';
import { createRedis } from './redis.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

describe('createQueue / createWorker', () => {
  it('run a job under the given prefix', async () => {
    const connection = { url: redis.url, prefix: `test:${Date.now()}` };
    const queue = createQueue<{ n: number }, number>('double', connection);
    const worker = createWorker<{ n: number }, number>('double', async (job) => job.data.n * 2, connection);
    const events = createQueueEvents('double', connection);
    await events.waitUntilReady();
    const job = await queue.add('double', { n: 21 });
    expect(await job.waitUntilFinished(events, 10_000)).toBe(42);
    const inspector = createRedis({ url: redis.url });
    expect((await inspector.keys(`${connection.prefix}:double:*`)).length).toBeGreaterThan(0);
    await Promise.all([worker.close(), queue.close(), events.close(), inspector.quit()]);
  });
});
