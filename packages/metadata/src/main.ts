import { createLogger, defaultPort, intFromEnv, loadTokenVerifier, requireEnv, serve } from '@slipway/core';
import { createRedis, redisFromEnv } from '@slipway/core/redis';
import { createApp } from './app.js';
import { configEnvironments } from './known-properties.js';
import { createRedisServiceStore } from './store.js';

const env = process.env;
const logger = createLogger({ name: 'metadata' });
// REDIS_URL, or the primary REDIS_SENTINELS name (README, "Redis failover").
const { url: redisUrl, sentinels } = redisFromEnv(env);
const redis = createRedis({ url: redisUrl, keyPrefix: 'slipway:metadata:', ...(sentinels ? { sentinels } : {}) });
const app = createApp({
  store: createRedisServiceStore({ redis }),
  tokens: loadTokenVerifier(requireEnv(env, 'SLIPWAY_TOKENS_FILE')),
  logger,
  redis,
  // Optional: with it, a sync set named like an environment of the service is refused.
  ...(env.SLIPWAY_CONFIG_URL && env.SLIPWAY_TOKEN
    ? { environments: configEnvironments(env.SLIPWAY_CONFIG_URL, env.SLIPWAY_TOKEN) }
    : {}),
});
await serve({
  app,
  port: intFromEnv(env, 'PORT', defaultPort('metadata', env)),
  host: env.HOST,
  logger,
  onClose: async () => {
    await redis.quit();
  },
});
