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
import { createRedis, createStreamHub, redisFromEnv, pingRedis, redisUnavailable } from '@slipway/core/redis';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApp } from './app.js';
import { createRedisBakeStore } from './bakes.js';
import { createRedisBuildStore } from './builds.js';
import { announceFailedBuild } from './build-notify.js';
import { createSourceRepositories, metadataLookup, orchestratorClusters } from './repositories.js';
import { createRedisImageRegions } from './image-regions.js';
import { createRedisImageRegistry } from './images.js';
import { baseBakeKey } from './operations.js';
import {
  artifactStoreFromEnv,
  digestOf,
  imageQuotaFromEnv,
  metadataRegistry,
  builderSettingsFromEnv,
  startBakery,
  templatesFor,
} from './wiring.js';

const env = process.env;
const logger = createLogger({ name: 'baking' });
const home = slipwayHome(env);
// REDIS_URL, or the primary REDIS_SENTINELS name (README, "Redis failover").
const { url: redisUrl, sentinels } = redisFromEnv(env);
const redis = createRedis({ url: redisUrl, ...(sentinels ? { sentinels } : {}) });
const store = createRedisBakeStore({ redis, prefix: 'slipway:baking:' });
// Everyone following a bake's log shares one Redis connection, within caps.
const followers = createStreamHub({
  redis,
  perSubject: intFromEnv(env, 'SLIPWAY_STREAMS_PER_TOKEN', 20),
  total: intFromEnv(env, 'SLIPWAY_STREAMS_TOTAL', 500),
});
const images = createRedisImageRegistry({ redis, prefix: 'slipway:baking:' });
const imageRegions = createRedisImageRegions({ redis, prefix: 'slipway:baking:' });
// Bakes and registrations are in the default region; an image reaches others by POST /images/{id}/regions.
const regions = cloudRegionsFromEnv(env);
const cloud = regions.forRegion();
const artifacts = artifactStoreFromEnv(env, home);
const templates = templatesFor(cloud);
const quota = imageQuotaFromEnv(env, cloud, home);
const bakeTimeoutSeconds = intFromEnv(env, 'SLIPWAY_BAKE_TIMEOUT_S', 1800);
const bakery = await startBakery({
  redisUrl,
  ...(sentinels ? { sentinels } : {}),
  store,
  concurrency: intFromEnv(env, 'SLIPWAY_BAKE_CONCURRENCY', 2),
  baseCron: env.SLIPWAY_BASE_BAKE_CRON ?? '0 3 * * 0',
  baseBakeKey: baseBakeKey(digestOf(templates.base)),
  logger,
  baker: {
    store,
    artifacts,
    cloud,
    regions,
    imageRegions,
    templates,
    home,
    timeoutMs: bakeTimeoutSeconds * 1000,
    logger,
    retention: intFromEnv(env, 'SLIPWAY_IMAGE_RETENTION', 10),
    baseRetention: intFromEnv(env, 'SLIPWAY_BASE_IMAGE_RETENTION', 3),
    builder: builderSettingsFromEnv(env),
    cleanupMs: intFromEnv(env, 'SLIPWAY_BAKE_CLEANUP_S', 600) * 1000,
  },
});
const token = requireEnv(env, 'SLIPWAY_TOKEN');
const slackOf = metadataLookup(requireEnv(env, 'SLIPWAY_METADATA_URL'), token, 'slack');
// One secret per service ({"search": "<secret>"}), so a body signed for one service is no good for another.
const githubSecretsFile = env.SLIPWAY_GITHUB_WEBHOOK_SECRETS_FILE ?? join(home, 'github-webhook-secrets.json');
const app = createApp({
  store,
  images,
  artifacts,
  cloud,
  regions,
  imageRegions,
  services: metadataRegistry(requireEnv(env, 'SLIPWAY_METADATA_URL'), token),
  builds: createRedisBuildStore({ redis, prefix: 'slipway:baking:' }),
  repositories: createSourceRepositories({ dir: join(home, 'baking', 'repos') }),
  repoOf: metadataLookup(requireEnv(env, 'SLIPWAY_METADATA_URL'), token, 'repo'),
  onFailed: (build, facts) =>
    announceFailedBuild(build, facts, {
      logger,
      slackUrl: async (service) =>
        (await slackOf(service).catch(() => undefined)) ?? env.SLIPWAY_SLACK_WEBHOOK_URL ?? undefined,
    }),
  runningImages: env.SLIPWAY_ORCHESTRATOR_URL
    ? orchestratorClusters(env.SLIPWAY_ORCHESTRATOR_URL, token)
    : async () => [],
  // Read when a webhook comes, so a secret put in place later needs no restart.
  githubSecret: (service) => {
    if (!existsSync(githubSecretsFile)) return undefined;
    const secrets = JSON.parse(readFileSync(githubSecretsFile, 'utf8')) as Record<string, unknown>;
    const secret = Object.hasOwn(secrets, service) ? secrets[service] : undefined;
    return typeof secret === 'string' && secret.length >= 16 ? secret : undefined;
  },
  queue: bakery.queue,
  serviceTemplateDigest: digestOf(templates.service),
  baseTemplateDigest: digestOf(templates.base),
  ...(quota ? { quota } : {}),
  followConnection: (subject) => followers.follower(subject),
  bakeTimeoutSeconds,
  tokens: loadTokenVerifier(requireEnv(env, 'SLIPWAY_TOKENS_FILE')),
  logger,
  readiness: { redis: () => pingRedis(redis), cloud: () => cloud.ping() },
  unavailable: redisUnavailable(redis),
});
await serve({
  app,
  port: intFromEnv(env, 'PORT', defaultPort('baking', env)),
  host: env.HOST,
  logger,
  onClose: async () => {
    followers.close();
    await bakery.close();
    await redis.quit();
  },
});
