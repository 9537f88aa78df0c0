import type { Express } from 'express';
import { createServiceApp, loadOpenApiDocument, typedOperations, type Logger, type TokenVerifier } from '@slipway/core';
import type { Registry } from 'prom-client';
import { createOperations, type OperationsOptions } from './operations.js';
import { createRevertOperations } from './rollouts/revert.js';
import { createReleaseOperations, type ReleaseOperationsOptions } from './rollouts/release-operations.js';
import { ORCHESTRATOR_OPENAPI, type OrchestratorOperations as operations } from '@slipway/orchestrator-api';

export const openapi = loadOpenApiDocument(ORCHESTRATOR_OPENAPI);

export interface AppDeps extends OperationsOptions, ReleaseOperationsOptions {
  tokens: TokenVerifier;
  logger: Logger;
  readiness?: Record<string, () => Promise<unknown>>;
  /** Why it cannot answer now (its Redis is down): a prompt 503. */
  unavailable?: () => string | undefined;
  /** slipway_release_info and slipway_deployments_total (metrics.ts). */
  metrics?: Registry;
}

export function createApp(deps: AppDeps): Express {
  return createServiceApp({
    name: 'orchestrator',
    openapi,
    tokens: deps.tokens,
    logger: deps.logger,
    // Typed here as a whole: leaving an operation of the document out fails to compile.
    operations: typedOperations<operations>({
      ...createOperations(deps),
      ...createReleaseOperations(deps),
      ...createRevertOperations(deps),
    }),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    // It calls peers: the request id goes on to them.
    forwardRequestIds: true,
    readiness: deps.readiness ?? {},
    ...(deps.unavailable ? { unavailable: deps.unavailable } : {}),
  });
}
