import { join } from 'node:path';
import { cloudRegionsFromEnv } from '@slipway/cloud';
import {
  createLogger,
  defaultPort,
  intFromEnv,
  loadTokenVerifier,
  requireEnv,
  serve,
  slipwayHome,
} from '@slipway/core';
import { createRedis, redisFromEnv, pingRedis, redisUnavailable } from '@slipway/core/redis';
import { createApp } from './app.js';
import { createGitDefinitions } from './definitions.js';
import { createInfrastructure } from './infrastructure.js';
import { createRedisStackLocks } from './lock.js';
import { infraProvidersFromEnv } from './aws.js';
import { createRedisInfraStore } from './store.js';
import { startApplyQueue } from './wiring.js';

const env = process.env;
const logger = createLogger({ name: 'infra' });
const home = slipwayHome(env);
// REDIS_URL, or the primary REDIS_SENTINELS name (README, "Redis failover").
const { url: redisUrl, sentinels } = redisFromEnv(env);
const redis = createRedis({ url: redisUrl, ...(sentinels ? { sentinels } : {}) });
const prefix = 'slipway:infra:';
const leaseMs = intFromEnv(env, 'SLIPWAY_INFRA_LOCK_LEASE_MS', 30_000);
const store = createRedisInfraStore({ redis, prefix });
const locks = createRedisStackLocks({ redis, prefix, leaseMs });
const definitions = createGitDefinitions({
  url: requireEnv(env, 'SLIPWAY_INFRA_REPO_URL'),
  dir: join(home, 'infra', 'definitions.git'),
});
// One provider per region a stack names (AWS); on the local cloud a region is a label.
const providers = infraProvidersFromEnv(env, { regions: cloudRegionsFromEnv(env), redis });
const applies = startApplyQueue({
  redisUrl,
  ...(sentinels ? { sentinels } : {}),
  jobLockMs: intFromEnv(env, 'SLIPWAY_INFRA_JOB_LOCK_MS', 10_000),
  driftEverySeconds: intFromEnv(env, 'SLIPWAY_INFRA_DRIFT_EVERY_S', 300),
  logger,
});
const infrastructure = createInfrastructure({
  definitions,
  ...providers,
  store,
  locks,
  queue: applies.queue,
  logger,
  planTtlSeconds: intFromEnv(env, 'SLIPWAY_INFRA_PLAN_TTL_S', 3600),
  leaseMs,
  stepIntervalMs: intFromEnv(env, 'SLIPWAY_INFRA_STEP_INTERVAL_MS', 0),
});
await applies.start(infrastructure);
const app = createApp({
  infrastructure,
  store,
  locks,
  tokens: loadTokenVerifier(requireEnv(env, 'SLIPWAY_TOKENS_FILE')),
  logger,
  readiness: { redis: () => pingRedis(redis), definitions: () => definitions.resolve() },
  unavailable: redisUnavailable(redis),
});
await serve({
  app,
  port: intFromEnv(env, 'PORT', defaultPort('infra', env)),
  host: env.HOST,
  logger,
  onClose: async () => {
    await applies.close();
    definitions.close();
    await redis.quit();
  },
});
