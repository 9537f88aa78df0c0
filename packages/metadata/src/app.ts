import type { Express } from 'express';
import { createServiceApp, loadOpenApiDocument, type Logger, type TokenVerifier } from '@slipway/core';
import { type Redis, pingRedis, redisUnavailable } from '@slipway/core/redis';
import { METADATA_OPENAPI } from '@slipway/metadata-api';
import type { EnvironmentLister } from './known-properties.js';
import { createOperations } from './operations.js';
import type { ServiceStore } from './store.js';

export const openapi = loadOpenApiDocument(METADATA_OPENAPI);

export interface AppDeps {
  store: ServiceStore;
  tokens: TokenVerifier;
  logger: Logger;
  /** For readiness and the prompt 503 while it is down; the store holds its own connection. */
  redis?: Redis;
  /** The config service's environments of a service, so that no sync set is named like one. */
  environments?: EnvironmentLister;
}

export function createApp({ store, tokens, logger, redis, environments }: AppDeps): Express {
  return createServiceApp({
    name: 'metadata',
    openapi,
    tokens,
    logger,
    operations: createOperations({ store, logger, ...(environments ? { environments } : {}) }),
    jsonTypes: ['application/merge-patch+json'],
    readiness: redis ? { redis: () => pingRedis(redis) } : {},
    ...(redis ? { unavailable: redisUnavailable(redis) } : {}),
  });
}
