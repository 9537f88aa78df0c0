/**
 * For the runner's tests (not built): a real redis-server and BullMQ, the stand-in cloud of
 * @slipway/test-utils, peers that answer at once, and the orchestrator's app with two tokens.
 * Each `orchestratorFixture()` has its own key prefix.
 */
import type { CloudProvider } from '@slipway/cloud';
import { createLogger, createTokenVerifier } from '@slipway/core';
import { type Redis, blockingConnection, createRedis } from '@slipway/core/redis';
import { eventually, standInCloud, type StandInCloud, type TestRedis } from '@slipway/test-utils';
import type { Express } from 'express';
import { createApp } from '../app.js';
import { isFinishedState } from '@slipway/orchestrator-api';
import type { Deployment } from './deployment.js';
import type { Notifier } from '../notify.js';
import type { Peers } from '../peers.js';
import { startRunner, type Runner, type RunnerOptions } from './runner.js';
import { createRedisDeploymentStore, type DeploymentStore } from './store.js';

export const logger = createLogger({ name: 'orchestrator', level: 'silent' });

export const asCloud = (standIn: StandInCloud) => standIn.cloud as unknown as CloudProvider;

/** Every image `img-<service>[-anything]` is one of `<service>`'s. */
export const standInPeers: Peers = {
  service: async (name) => ({ name, properties: {} }),
  image: async (id) => ({ id, kind: 'service', service: id.slice(4).split('-')[0]!, version: id.slice(4) }),
  // Each service behind a load balancer of its own (the stand-in's health looks are per target group).
  config: async (service: string) => ({
    commit: 'c'.repeat(40),
    valid: true,
    errors: [],
    deploymentParams: {
      capacity: { desired: 1 },
      healthCheck: { path: '/', intervalSeconds: 5, healthyThreshold: 2 },
      loadBalancer: { name: `lb-${service}` },
      strategy: { burnInSeconds: 0, drainSeconds: 0 },
    },
    launchData: [],
    properties: '',
  }),
} as Peers;

export interface OrchestratorFixture {
  redis: Redis;
  prefix: string;
  standIn: StandInCloud;
  cloud: CloudProvider;
  store: DeploymentStore;
  runner: Runner;
  app: Express;
  notified: { id: string; kind: string; state: string }[];
  close(): Promise<void>;
}

export const TOKENS = {
  admin: { Authorization: 'Bearer admin-token' },
  deployer: { Authorization: 'Bearer deployer-token' },
};

export async function orchestratorFixture(
  redisServer: TestRedis,
  options: {
    leaseMs?: number;
    /** The connection the store is given (to hold one of its commands). */
    storeRedis?: (redis: Redis) => Redis;
    store?: (store: DeploymentStore) => DeploymentStore;
    runner?: Partial<RunnerOptions>;
    notifier?: Notifier;
  } = {},
): Promise<OrchestratorFixture> {
  const redis = createRedis({ url: redisServer.url });
  const prefix = redisServer.prefix();
  const standIn = standInCloud();
  const cloud = asCloud(standIn);
  const real = createRedisDeploymentStore({
    redis: options.storeRedis ? options.storeRedis(redis) : redis,
    prefix,
    leaseMs: options.leaseMs ?? 5000,
  });
  const store = options.store ? options.store(real) : real;
  const notified: OrchestratorFixture['notified'] = [];
  const notifier: Notifier = options.notifier ?? {
    notify: async (d: Deployment, kind) => void notified.push({ id: d.id, kind, state: d.state }),
  };
  const runner = startRunner({
    redisUrl: redisServer.url,
    queuePrefix: `${prefix}queue`,
    store,
    cloud,
    peers: standInPeers,
    logger,
    slots: 2,
    pollMs: 20,
    jobLockMs: 2000,
    sweepMs: 200,
    renewMs: 500,
    notifier,
    ...options.runner,
  });
  const app = createApp({
    releases: {} as never,
    coordinator: {} as never,
    images: {} as never,
    store,
    runner,
    peers: standInPeers,
    cloud,
    slots: 2,
    followConnection: () => blockingConnection(redis),
    tokens: createTokenVerifier({
      'admin-token': { subject: 'ada', role: 'admin' },
      'deployer-token': { subject: 'dave', role: 'deployer' },
    }),
    logger,
  });
  return {
    redis,
    prefix,
    standIn,
    cloud,
    store,
    runner,
    app,
    notified,
    async close() {
      // A worker a test left held in a call never finishes its job: do not wait for it long.
      await Promise.race([runner.close(), new Promise((resolve) => setTimeout(resolve, 2000))]);
      await redis.quit();
    },
  };
}

export const ended = (store: DeploymentStore, id: string, timeoutMs = 20_000) =>
  eventually(
    () => store.get(id),
    (d) => isFinishedState(d?.state ?? ''),
    `deployment ${id} to end`,
    timeoutMs,
  ) as Promise<Deployment>;

export const reaches = (store: DeploymentStore, id: string, check: (d: Deployment) => boolean, what: string) =>
  eventually(
    () => store.get(id),
    (d) => d !== undefined && check(d),
    what,
  ) as Promise<Deployment>;
