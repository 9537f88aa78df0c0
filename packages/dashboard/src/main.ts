import { createLogger, defaultPort, intFromEnv, requireEnv } from '@slipway/core';
import { createApp } from './app.js';
import { createData } from './data.js';
import { createReleaseData } from './release-pages.js';

const env = process.env;
const logger = createLogger({ name: 'dashboard' });
const data = createData(
  {
    metadata: requireEnv(env, 'SLIPWAY_METADATA_URL'),
    config: requireEnv(env, 'SLIPWAY_CONFIG_URL'),
    baking: requireEnv(env, 'SLIPWAY_BAKING_URL'),
    orchestrator: requireEnv(env, 'SLIPWAY_ORCHESTRATOR_URL'),
  },
  requireEnv(env, 'SLIPWAY_TOKEN'),
);
const port = intFromEnv(env, 'PORT', defaultPort('dashboard', env));
const releases = createReleaseData(requireEnv(env, 'SLIPWAY_ORCHESTRATOR_URL'), requireEnv(env, 'SLIPWAY_TOKEN'));
const server = createApp({
  data,
  releases,
  logger,
  // Behind a TLS load balancer or proxy: believe its X-Forwarded-Proto, so session cookies are Secure.
  trustProxy: /^(1|true|yes)$/i.test(env.SLIPWAY_TRUST_PROXY ?? ''),
}).listen(port, env.HOST ?? '127.0.0.1', () => logger.info({ port }, 'listening'));
const stop = () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
