import {
  createLogger,
  defaultPort,
  intFromEnv,
  loadTokenVerifier,
  requireEnv,
  serve,
  slipwayHome,
} from '@slipway/core';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createApp } from './app.js';
import { createGitConfigSource } from './source.js';

const env = process.env;
const logger = createLogger({ name: 'config' });
const home = slipwayHome(env);
const urlTemplate = requireEnv(env, 'SLIPWAY_CONFIG_REPO_URL');
// One repository per service and environment, or one for all (`<service>/<env>/` folders).
const layout = env.SLIPWAY_CONFIG_LAYOUT ?? 'per-env';
if (layout !== 'per-env' && layout !== 'monorepo')
  throw new Error(`SLIPWAY_CONFIG_LAYOUT is per-env or monorepo, not ${JSON.stringify(layout)}`);
if (layout === 'per-env' && (!urlTemplate.includes('{service}') || !urlTemplate.includes('{env}'))) {
  throw new Error('SLIPWAY_CONFIG_REPO_URL must contain {service} and {env} (or set SLIPWAY_CONFIG_LAYOUT=monorepo)');
}
const source = createGitConfigSource({
  urlTemplate,
  layout,
  clonesDir: join(home, 'config'),
  logger,
  refreshSeconds: intFromEnv(env, 'SLIPWAY_CONFIG_REFRESH_S', 30),
  cacheBytes: intFromEnv(env, 'SLIPWAY_CONFIG_CACHE_MB', 64) * 1024 * 1024,
  maxAgeSeconds: intFromEnv(env, 'SLIPWAY_CONFIG_MAX_AGE_S', 5),
});
const app = createApp({
  source,
  tokens: loadTokenVerifier(requireEnv(env, 'SLIPWAY_TOKENS_FILE')),
  logger,
  ...(env.SLIPWAY_CONFIG_WEBHOOK_SECRET ? { webhookSecret: env.SLIPWAY_CONFIG_WEBHOOK_SECRET } : {}),
  readiness: { git: () => promisify(execFile)('git', ['--version']) },
});
await serve({
  app,
  port: intFromEnv(env, 'PORT', defaultPort('config', env)),
  host: env.HOST,
  logger,
  onClose: async () => source.close(),
});
