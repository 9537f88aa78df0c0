import {
  createLogger,
  defaultPort,
  intFromEnv,
  loadTokenVerifier,
  requireEnv,
  serve,
  slipwayHome,
} from '@slipway/core';
import { createRedis } from '@slipway/core/redis';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApp } from './app.js';
import { redisSeenRequests } from './replay.js';
import { httpSlipway } from './slipway.js';
import { watchedChatUsers } from './users.js';

const env = process.env;
const logger = createLogger({ name: 'chat' });
const home = slipwayHome(env);
// The signing secret from Slack's app settings; in a file, never in the environment's listing.
const secretFile = env.SLIPWAY_SLACK_SIGNING_SECRET_FILE ?? join(home, 'slack-signing-secret');
const signingSecret = readFileSync(secretFile, 'utf8').trim();
if (!signingSecret) throw new Error(`${secretFile} is empty: put the Slack app's signing secret in it`);
const urls = {
  orchestrator: requireEnv(env, 'SLIPWAY_ORCHESTRATOR_URL'),
  baking: requireEnv(env, 'SLIPWAY_BAKING_URL'),
};
// What was received lately, shared by every replica (a replay is refused by all of them).
const redis = createRedis({ url: env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
const app = createApp({
  signingSecret,
  seen: redisSeenRequests(redis),
  ...(env.SLIPWAY_TOKENS_FILE ? { tokens: loadTokenVerifier(env.SLIPWAY_TOKENS_FILE) } : {}),
  users: watchedChatUsers(env.SLIPWAY_CHAT_USERS ?? join(home, 'chat-users.json'), (message) =>
    logger.warn({ message }, 'chat users file not read again; keeping the last one'),
  ),
  slipway: httpSlipway(urls, requireEnv(env, 'SLIPWAY_TOKEN')),
  logger,
  follow: { pollMs: intFromEnv(env, 'SLIPWAY_CHAT_POLL_MS', 1000) },
  readiness: {
    redis: async () => void (await redis.ping()),
    orchestrator: async () => {
      if (!(await fetch(`${urls.orchestrator}/healthz`, { signal: AbortSignal.timeout(2000) })).ok)
        throw new Error('orchestrator is not answering');
    },
  },
});
await serve({
  app,
  port: intFromEnv(env, 'PORT', defaultPort('chat', env)),
  host: env.HOST,
  logger,
  onClose: async () => void (await redis.quit()),
});
