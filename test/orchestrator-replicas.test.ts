import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CloudProvider } from '@slipway/cloud';
import { createLogger } from '@slipway/core';
import { type Redis, createRedis } from '@slipway/core/redis';
import {
  createRedisDeploymentStore,
  startRunner,
  submitDeployment,
  type Deployment,
  type Peers,
  type Runner,
} from '@slipway/orchestrator';
import { eventually, startRedis, stopProcess, type TestRedis } from '@slipway/test-utils';

// Two orchestrator processes against one Redis (test/fixtures/orchestrator-replica.mjs: the real
// runner with a cloud kept in Redis), 20 deployments on 10 services, one replica killed half-way.
let redisServer: TestRedis;
let redis: Redis;
let instance: Server;
let submitter: Runner;
const prefix = 'replicas:';
const replicas: ChildProcess[] = [];

const peers = {
  service: async (name: string) => ({ name, properties: {} }),
  image: async (id: string) => ({ id, kind: 'service', service: id.slice(4), version: '1.0.0' }),
  config: async () => ({
    commit: 'c'.repeat(40),
    valid: true,
    errors: [],
    deploymentParams: {
      capacity: { desired: 1 },
      healthCheck: { path: '/', intervalSeconds: 5, healthyThreshold: 2 },
      loadBalancer: { name: 'lb' },
      strategy: { burnInSeconds: 0, drainSeconds: 0 },
    },
    launchData: [],
    properties: '',
  }),
} as unknown as Peers;
const cloud = { getLoadBalancer: async (name: string) => ({ name }) } as unknown as CloudProvider;

function replica(address: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['test/fixtures/orchestrator-replica.mjs'], {
    env: { ...process.env, REDIS_URL: redisServer.url, PREFIX: prefix, INSTANCE: address },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  replicas.push(child);
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`replica exited ${code}`)));
  });
}

beforeAll(async () => {
  redisServer = await startRedis();
  redis = createRedis({ url: redisServer.url });
  instance = createServer((_req, res) => res.end('ok')).listen(0, '127.0.0.1');
  await new Promise((resolve) => instance.once('listening', resolve));
  const address = `127.0.0.1:${(instance.address() as AddressInfo).port}`;
  await Promise.all([replica(address), replica(address)]);
  // The API's side: it admits and queues, and runs nothing itself.
  submitter = startRunner({
    redisUrl: redisServer.url,
    queuePrefix: `${prefix}queue`,
    store: createRedisDeploymentStore({ redis, prefix, leaseMs: 3000 }),
    cloud,
    peers,
    logger: createLogger({ name: 'submitter', level: 'silent' }),
    slots: 2,
    pollMs: 20,
    jobLockMs: 1000,
    sweepMs: 300,
    notifier: { notify: async () => undefined },
    runsActions: false,
  });
}, 60_000);

afterAll(async () => {
  await submitter?.close();
  for (const child of replicas) await stopProcess(child);
  instance?.close();
  await redis?.quit();
  await redisServer?.stop();
});

describe('two orchestrator replicas', () => {
  it('share 20 deployments on 10 services, one killed half-way: all finish, none twice, the limit holds', async () => {
    const store = createRedisDeploymentStore({ redis, prefix, leaseMs: 3000 });
    let mostRunning = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        mostRunning = Math.max(mostRunning, await redis.zcard(`${prefix}running`));
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const ids: string[] = [];
    for (let round = 0; round < 2; round++) {
      for (let s = 0; s < 10; s++) {
        const service = `svc${s}`;
        const request = { service, env: 'prod', image: `img-${service}`, message: 'replicas', queue: true };
        const options = { store, runner: submitter, peers, cloud, slots: 2 };
        ids.push((await submitDeployment(options, request, 'dave')).id);
      }
    }
    const finished = async () =>
      (await Promise.all(ids.map((id) => store.get(id)))).filter(
        (d): d is Deployment => !!d && ['succeeded', 'failed', 'rolled-back', 'cancelled'].includes(d.state),
      );
    await eventually(finished, (list) => list.length >= 10, 'half of them', 60_000);
    replicas[0]!.kill('SIGKILL');
    const all = await eventually(finished, (list) => list.length === 20, 'all 20', 120_000);
    sampling = false;
    await sampler;
    expect(all.map((d) => d.state)).toEqual(Array(20).fill('succeeded'));
    expect(mostRunning).toBeLessThanOrEqual(2);
    // Each group created once: no action ran twice side by side.
    const creates = Object.values(await redis.hgetall(`${prefix}cloud:groups:creates`)).map(Number);
    expect(creates).toEqual(Array(20).fill(1));
    // Only what the killed replica was in the middle of ran again, once.
    const again = all.flatMap((d) => d.actions.filter((a) => a.attempts > 1).map((a) => `${d.id} ${a.name}`));
    expect(again.length).toBeLessThanOrEqual(2);
    expect(all.flatMap((d) => d.actions.filter((a) => a.attempts > 2))).toEqual([]);
    expect(await redis.zcard(`${prefix}running`)).toBe(0);
  }, 180_000);
});
