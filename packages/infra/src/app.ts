import type { Express } from 'express';
import { createServiceApp, loadOpenApiDocument, type Logger, type TokenVerifier } from '@slipway/core';
import { INFRA_OPENAPI } from '@slipway/infra-api';
import { createOperations, type OperationsOptions } from './operations.js';

export const openapi = loadOpenApiDocument(INFRA_OPENAPI);

export interface AppDeps extends OperationsOptions {
  tokens: TokenVerifier;
  logger: Logger;
  readiness?: Record<string, () => Promise<unknown>>;
  /** Why it cannot answer now (its Redis is down): a prompt 503. */
  unavailable?: () => string | undefined;
}

export function createApp(deps: AppDeps): Express {
  return createServiceApp({
    name: 'infra',
    openapi,
    tokens: deps.tokens,
    logger: deps.logger,
    operations: createOperations(deps),
    // It calls peers: the request id goes on to them.
    forwardRequestIds: true,
    readiness: deps.readiness ?? {},
    ...(deps.unavailable ? { unavailable: deps.unavailable } : {}),
  });
}
