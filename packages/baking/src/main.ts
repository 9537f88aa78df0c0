import { cloudProviderFromEnv } from '@slipway/cloud';
import {
  createLogger,
  createRedis,
  defaultPort,
  intFromEnv,
  loadTokenVerifier,
  pingRedis,
  requireEnv,
  serve,
  slipwayHome,
} from '@slipway/core';
import { createApp } from './app.js';
import { createRedisBakeStore } from './bakes.js';
import { createRedisImageRegistry } from './images.js';
import { artifactStoreFromEnv, digestOf, metadataRegistry, startBakery, templatesFor } from './wiring.js';

const env = process.env;
const logger = createLogger({ name: 'baking' });
const home = slipwayHome(env);
const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = createRedis({ url: redisUrl });
const store = createRedisBakeStore({ redis, prefix: 'slipway:baking:' });
const images = createRedisImageRegistry({ redis, prefix: 'slipway:baking:' });
const cloud = cloudProviderFromEnv(env);
const artifacts = artifactStoreFromEnv(env, home);
const templates = templatesFor(cloud);
const bakeTimeoutSeconds = intFromEnv(env, 'SLIPWAY_BAKE_TIMEOUT_S', 1800);
const bakery = await startBakery({
  redisUrl,
  store,
  concurrency: intFromEnv(env, 'SLIPWAY_BAKE_CONCURRENCY', 2),
  baseCron: env.SLIPWAY_BASE_BAKE_CRON ?? '0 3 * * 0',
  logger,
  baker: {
    store,
    artifacts,
    cloud,
    templates,
    home,
    timeoutMs: bakeTimeoutSeconds * 1000,
    logger,
    retention: intFromEnv(env, 'SLIPWAY_IMAGE_RETENTION', 10),
  },
});
const app = createApp({
  store,
  images,
  artifacts,
  cloud,
  services: metadataRegistry(requireEnv(env, 'SLIPWAY_METADATA_URL'), requireEnv(env, 'SLIPWAY_TOKEN')),
  queue: bakery.queue,
  serviceTemplateDigest: digestOf(templates.service),
  followConnection: () => redis.duplicate(),
  bakeTimeoutSeconds,
  tokens: loadTokenVerifier(requireEnv(env, 'SLIPWAY_TOKENS_FILE')),
  logger,
  readiness: { redis: () => pingRedis(redis), cloud: () => cloud.ping() },
});
await serve({
  app,
  port: intFromEnv(env, 'PORT', defaultPort('baking', env)),
  host: env.HOST,
  logger,
  onClose: async () => {
    await bakery.close();
    await redis.quit();
  },
});
