import type { Express } from 'express';
import { createServiceApp, loadOpenApiDocument, type Logger, type TokenVerifier } from '@slipway/core';
import { BAKING_OPENAPI } from '@slipway/baking-api';
import { createBuildOperations, type BuildOperationsOptions } from './build-operations.js';
import { createImageRegionOperations, type ImageRegionOptions } from './image-regions.js';
import { createOperations, type OperationsOptions } from './operations.js';

export const openapi = loadOpenApiDocument(BAKING_OPENAPI);

export interface AppDeps
  extends
    Omit<OperationsOptions, 'builds'>,
    Omit<BuildOperationsOptions, 'services' | 'cloud'>,
    Omit<ImageRegionOptions, 'cloud' | 'logger' | 'images'> {
  tokens: TokenVerifier;
  logger: Logger;
  readiness?: Record<string, () => Promise<unknown>>;
  /** Why it cannot answer now (its Redis is down): a prompt 503. */
  unavailable?: () => string | undefined;
}

export function createApp(deps: AppDeps): Express {
  return createServiceApp({
    name: 'baking',
    openapi,
    tokens: deps.tokens,
    logger: deps.logger,
    operations: {
      ...createOperations(deps),
      ...createBuildOperations(deps),
      ...createImageRegionOperations(deps),
    },
    // It calls peers: the request id goes on to them.
    forwardRequestIds: true,
    readiness: deps.readiness ?? {},
    ...(deps.unavailable ? { unavailable: deps.unavailable } : {}),
  });
}
