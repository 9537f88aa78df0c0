/** The local cloud daemon: `node packages/cloud/dist/main.js` (npm start runs it on base + 10). */
import {
  createLogger,
  defaultPort,
  intFromEnv,
  loadTokenVerifier,
  requireEnv,
  serve,
  slipwayHome,
} from '@slipway/core';
import { createApp } from './local/app.js';
import { LocalCloud } from './local/cloud.js';
import { DEFAULT_LOG_ROLL, parseLogSize } from './local/log-files.js';

const env = process.env;
const logger = createLogger({ name: 'cloud' });
const timeScale = Number(env.SLIPWAY_CLOUD_TIME_SCALE ?? 1);
if (!(timeScale > 0 && timeScale <= 1)) throw new Error('SLIPWAY_CLOUD_TIME_SCALE must be a number in (0, 1]');
const cloud = new LocalCloud({
  home: slipwayHome(env),
  logger,
  timeScale,
  balancers: 'detached',
  logRoll: { ...DEFAULT_LOG_ROLL, maxBytes: parseLogSize(env.SLIPWAY_LOG_SIZE ?? '10m') },
});
await cloud.start();
await serve({
  app: createApp({ cloud, tokens: loadTokenVerifier(requireEnv(env, 'SLIPWAY_TOKENS_FILE')), logger }),
  port: intFromEnv(env, 'PORT', defaultPort('cloud', env)),
  host: env.HOST,
  logger,
  // Stopping the daemon stops every instance and load balancer it runs; a daemon that dies
  // leaves them serving, to be adopted by the next one.
  onClose: () => cloud.stop(),
});
