import type { Express } from 'express';
import { CLOUD_OPENAPI } from '@slipway/cloud-api';
import { createServiceApp, loadOpenApiDocument, type Logger, type TokenVerifier } from '@slipway/core';
import type { CloudProvider } from '../provider.js';
import { createOperations } from './operations.js';

export const openapi = loadOpenApiDocument(CLOUD_OPENAPI);

export interface AppDeps {
  cloud: CloudProvider;
  tokens: TokenVerifier;
  logger: Logger;
}

export function createApp({ cloud, tokens, logger }: AppDeps): Express {
  return createServiceApp({ name: 'cloud', openapi, tokens, logger, operations: createOperations({ cloud }) });
}
