import { join } from 'node:path';
import { createLogger, defaultPort, intFromEnv, requireEnv, slipwayHome } from '@slipway/core';
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
const adminTokenFile = join(slipwayHome(env), 'admin-token');
const server = createApp({ data, releases, logger, adminTokenFile }).listen(port, env.HOST ?? '127.0.0.1', () =>
  logger.info({ port }, 'listening'),
);
const stop = () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
