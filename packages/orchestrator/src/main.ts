import { cloudRegionsFromEnv } from '@slipway/cloud';
import { createLogger, defaultPort, intFromEnv, loadTokenVerifier, requireEnv, serve } from '@slipway/core';
import {
  createRedis,
  createStreamHub,
  pingRedis,
  redisUnavailable,
  redisFromEnv,
  createRedisLeasedLocks,
} from '@slipway/core/redis';
import { createApp } from './app.js';
import { createDeploymentMetrics } from './metrics.js';
import { createNotifier } from './notify.js';
import { httpImageFinder, httpPeers } from './peers.js';
import { createRedisReleaseStore } from './rollouts/release-store.js';
import { startReleaseCoordinator } from './rollouts/releases.js';
import { startRetentionSweep } from './clusters/retention.js';
import { startRunner } from './deployments/runner.js';
import { createRedisDeploymentStore } from './deployments/store.js';
import { startSyncWatch } from './rollouts/sync.js';

const env = process.env;
const logger = createLogger({ name: 'orchestrator' });
// A primary with replicas under Redis Sentinel (what a managed Redis is), when REDIS_SENTINELS names them.
const { url: redisUrl, sentinels } = redisFromEnv(env);
const redis = createRedis({ url: redisUrl, ...(sentinels ? { sentinels } : {}) });
// Its keys and its queue's keys start with this (two orchestrators with different prefixes share nothing).
const prefix = env.SLIPWAY_ORCHESTRATOR_PREFIX ?? 'slipway:orchestrator:';
// How long a service+env lock and a slot outlive their last renewal.
const leaseMs = intFromEnv(env, 'SLIPWAY_ORCHESTRATOR_LEASE_MS', 30_000);
// With replicas, each fenced step waits until one has it (WAIT) before it is acted on: a failover
// then loses no step the orchestrator acted on (README, "Redis failover").
const waitReplicas = intFromEnv(env, 'SLIPWAY_REDIS_WAIT_REPLICAS', sentinels ? 1 : 0);
const store = createRedisDeploymentStore({ redis, prefix, leaseMs, waitReplicas });
// Everyone following a deployment's or release's events shares one Redis connection, within caps.
const followers = createStreamHub({
  redis,
  perSubject: intFromEnv(env, 'SLIPWAY_STREAMS_PER_TOKEN', 20),
  total: intFromEnv(env, 'SLIPWAY_STREAMS_TOTAL', 500),
});
// One provider per region a cluster names (AWS), made on first use; `cloud` is the default region's.
const regions = cloudRegionsFromEnv(env);
const cloud = regions.forRegion();
const token = requireEnv(env, 'SLIPWAY_TOKEN');
const peers = httpPeers(
  {
    metadata: requireEnv(env, 'SLIPWAY_METADATA_URL'),
    config: requireEnv(env, 'SLIPWAY_CONFIG_URL'),
    baking: requireEnv(env, 'SLIPWAY_BAKING_URL'),
  },
  token,
);
const metrics = createDeploymentMetrics({ redis, prefix, store, peers });
const slots = intFromEnv(env, 'SLIPWAY_RELEASE_CONCURRENCY', 2);
const runner = startRunner({
  redisUrl,
  ...(sentinels ? { redisConnection: { url: redisUrl, prefix: `${prefix}queue`, sentinels } } : {}),
  queuePrefix: `${prefix}queue`,
  store,
  cloud,
  regions,
  peers,
  logger,
  slots,
  pollMs: intFromEnv(env, 'SLIPWAY_ORCHESTRATOR_POLL_MS', 200),
  jobLockMs: intFromEnv(env, 'SLIPWAY_ORCHESTRATOR_JOB_LOCK_MS', 10_000),
  sweepMs: intFromEnv(env, 'SLIPWAY_ORCHESTRATOR_SWEEP_MS', 5000),
  renewMs: Math.max(100, Math.floor(leaseMs / 3)),
  notifier: createNotifier({
    peers,
    logger,
    ...(env.SLIPWAY_SLACK_WEBHOOK_URL ? { slackUrl: env.SLIPWAY_SLACK_WEBHOOK_URL } : {}),
    ...(env.SLIPWAY_NOTIFY_WEBHOOK_URL ? { webhookUrl: env.SLIPWAY_NOTIFY_WEBHOOK_URL } : {}),
  }),
  ...(env.SLIPWAY_ORCHESTRATOR_CRASH_AFTER ? { crashAfter: env.SLIPWAY_ORCHESTRATOR_CRASH_AFTER } : {}),
  ...(env.SLIPWAY_ORCHESTRATOR_CRASH_AT ? { crashAt: env.SLIPWAY_ORCHESTRATOR_CRASH_AT } : {}),
});
const releases = createRedisReleaseStore({ redis, prefix });
// Each tick of a release holds a lease with a fencing token (the infra service's lock).
const locksPrefix = `${prefix}releases:`;
const coordinator = startReleaseCoordinator({
  releases,
  store,
  runner,
  peers,
  cloud,
  regions,
  slots,
  locks: createRedisLeasedLocks({ redis, prefix: locksPrefix, leaseMs: 30_000 }),
  locksPrefix,
  logger,
  tickMs: intFromEnv(env, 'SLIPWAY_RELEASE_TICK_MS', 500),
});
const syncWatch = startSyncWatch({
  store,
  peers,
  releases,
  redis,
  prefix,
  logger,
  alertAfterSeconds: intFromEnv(env, 'SLIPWAY_SYNC_ALERT_S', 900),
  everyMs: intFromEnv(env, 'SLIPWAY_SYNC_CHECK_MS', 10_000),
  ...(env.SLIPWAY_SLACK_WEBHOOK_URL ? { slackUrl: env.SLIPWAY_SLACK_WEBHOOK_URL } : {}),
  ...(env.SLIPWAY_NOTIFY_WEBHOOK_URL ? { webhookUrl: env.SLIPWAY_NOTIFY_WEBHOOK_URL } : {}),
});
// Retained groups scaled to zero after their deployment-params' scaleDownAfterSeconds; leftover splits swept.
const retention = startRetentionSweep({
  store,
  cloud,
  regions,
  logger,
  limit: slots,
  start: runner.startAdmitted,
  everyMs: intFromEnv(env, 'SLIPWAY_RETENTION_SWEEP_MS', 10_000),
  // AWS: the target groups of traffic splits whose record was lost, unused for 2 h (past any drain).
  splits: {
    everyMs: intFromEnv(env, 'SLIPWAY_SPLIT_SWEEP_MS', 600_000),
    graceMs: intFromEnv(env, 'SLIPWAY_SPLIT_GRACE_S', 7200) * 1000,
  },
});
const app = createApp({
  releases,
  coordinator,
  images: httpImageFinder(requireEnv(env, 'SLIPWAY_BAKING_URL'), token),
  store,
  runner,
  peers,
  cloud,
  regions,
  slots,
  followConnection: (subject) => followers.follower(subject),
  tokens: loadTokenVerifier(requireEnv(env, 'SLIPWAY_TOKENS_FILE')),
  logger,
  metrics: metrics.registry,
  readiness: { redis: () => pingRedis(redis), cloud: () => cloud.ping() },
  unavailable: redisUnavailable(redis),
});
await serve({
  app,
  port: intFromEnv(env, 'PORT', defaultPort('orchestrator', env)),
  host: env.HOST,
  logger,
  onClose: async () => {
    syncWatch.close();
    retention.close();
    followers.close();
    await coordinator.close();
    await runner.close();
    await redis.quit();
  },
});
