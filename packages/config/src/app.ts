import type { Express } from 'express';
import { timingSafeEqual } from 'node:crypto';
import { createServiceApp, loadOpenApiDocument, type Logger, type TokenVerifier } from '@slipway/core';
import { CONFIG_OPENAPI } from '@slipway/config-api';
import { createOperations } from './operations.js';
import type { ConfigSource } from './source.js';

export const openapi = loadOpenApiDocument(CONFIG_OPENAPI);

export interface AppDeps {
  source: ConfigSource;
  tokens: TokenVerifier;
  logger: Logger;
  /** The shared secret a Git webhook sends in X-Webhook-Secret; unset: webhooks are refused. */
  webhookSecret?: string;
  readiness?: Record<string, () => Promise<unknown>>;
}

export function createApp({ source, tokens, logger, webhookSecret, readiness }: AppDeps): Express {
  const webhook = (value: string) =>
    webhookSecret && safeEqual(value, webhookSecret)
      ? { subject: 'git-webhook', role: 'deployer' as const }
      : undefined;
  return createServiceApp({
    name: 'config',
    openapi,
    tokens,
    logger,
    operations: createOperations({ source }),
    readiness: readiness ?? {},
    apiKeys: { webhookSecret: webhook, gitlabToken: webhook },
  });
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
