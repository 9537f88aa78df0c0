import type { Express } from 'express';
import { createServiceApp, loadOpenApiDocument, type Logger, type TokenVerifier } from '@slipway/core';
import { createOperations, type OperationsOptions } from './operations.js';
import { createReleaseOperations, type ReleaseOperationsOptions } from './release-operations.js';

export const openapi = loadOpenApiDocument(new URL('../src/schema/openapi.yaml', import.meta.url));

export interface AppDeps extends OperationsOptions, ReleaseOperationsOptions {
  tokens: TokenVerifier;
  logger: Logger;
  readiness?: Record<string, () => Promise<unknown>>;
}

export function createApp(deps: AppDeps): Express {
  return createServiceApp({
    name: 'orchestrator',
    openapi,
    tokens: deps.tokens,
    logger: deps.logger,
    operations: { ...createOperations(deps), ...createReleaseOperations(deps) },
    // It calls peers: the request id goes on to them.
    forwardRequestIds: true,
    readiness: deps.readiness ?? {},
  });
}
