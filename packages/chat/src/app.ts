/**
 * The chat service: Slack's slash command at POST /slack/commands and its buttons at
 * POST /slack/actions, received by @slack/bolt's ExpressReceiver (which verifies Slack's v0
 * signature — HMAC-SHA256 of `v0:{timestamp}:{body}`, constant-time, timestamps older than five
 * minutes refused) on an express app of ours that also answers /healthz, /readyz and /metrics.
 */
import { App, ExpressReceiver, LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import { createHttpMetrics, metricsAllowed, sendText, type Logger, type TokenVerifier } from '@slipway/core';
import express, { type Express } from 'express';
import { setTimeout as sleep } from 'node:timers/promises';
import { handleButton } from './buttons.js';
import { failure, runCommand, type Outcome } from './commands.js';
import type { FollowOptions } from './follow.js';
import { parseCommand, UsageError } from './grammar.js';
import { replayGuard, type SeenRequests } from './replay.js';
import type { SlipwayFor } from './slipway.js';
import { ResponseThread } from './thread.js';
import type { ChatUsers } from './users.js';
import { BUTTON_ACTION_ID } from '@slipway/orchestrator-api';

export interface AppDeps {
  signingSecret: string;
  /** The requests received in the last minutes (Redis, shared by every replica): a replay is refused. */
  seen: SeenRequests;
  /** Who may read /metrics (any valid token); without it nobody may. */
  tokens?: TokenVerifier;
  users: ChatUsers;
  slipway: SlipwayFor;
  logger: Logger;
  follow?: Partial<FollowOptions>;
  /** How long a read may take before the answer comes later instead (Slack waits 3 s). */
  answerWithinMs?: number;
  readiness?: Record<string, () => Promise<unknown>>;
}

export const ENDPOINTS = { commands: '/slack/commands', actions: '/slack/actions' } as const;

export function unknownUser(user: string): string {
  return `:no_entry: Slack user ${user} is not a Slipway user: an admin adds them to the chat users file (SLIPWAY_CHAT_USERS) with a subject and a role.`;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  const metrics = createHttpMetrics('chat');
  const follow: FollowOptions = { pollMs: 1000, timeoutMs: 29 * 60_000, ...deps.follow };
  const answerWithinMs = deps.answerWithinMs ?? 2000;

  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => metrics.observe(req, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9));
    next();
  });
  app.get('/healthz', (_req, res) => res.json({ status: 'ok', service: 'chat' }));
  app.get('/readyz', async (_req, res) => {
    const failed = (
      await Promise.all(
        Object.entries(deps.readiness ?? {}).map(async ([name, check]) =>
          check().then(
            () => undefined,
            (error: Error) => [name, error.message] as const,
          ),
        ),
      )
    ).filter((f) => f !== undefined);
    // Ready or not, nothing more: why not is for the log.
    if (failed.length) deps.logger.warn({ checks: Object.fromEntries(failed) }, 'not ready');
    res.status(failed.length ? 503 : 200).json({ status: failed.length ? 'not ready' : 'ok' });
  });
  app.get('/metrics', async (req, res) => {
    if (!deps.tokens || !metricsAllowed(deps.tokens, req.headers.authorization))
      return void res.status(401).type('application/problem+json').json({
        type: 'about:blank',
        title: 'Unauthorized',
        status: 401,
        detail: 'metrics need a bearer token (Authorization: Bearer <token>), any role',
      });
    sendText(res, 200, metrics.registry.contentType, await metrics.registry.metrics());
  });
  app.use(Object.values(ENDPOINTS), replayGuard(deps.signingSecret, deps.seen));

  const receiver = new ExpressReceiver({
    signingSecret: deps.signingSecret,
    endpoints: { ...ENDPOINTS },
    app,
    logger: boltLogger(deps.logger),
  });
  // No bot token: chat answers through response_url and the incoming webhook only.
  const bolt = new App({ receiver, authorize: async () => ({}), logger: boltLogger(deps.logger) });

  bolt.command(/.*/, async ({ command, ack, respond }) => {
    const ephemeral = (text: string, blocks?: unknown[]) =>
      ack({ response_type: 'ephemeral', text, ...(blocks ? { blocks: blocks as never } : {}) });
    const actor = deps.users.find(command.team_id, command.user_id);
    if (!actor) return ephemeral(unknownUser(command.user_id));
    let parsed;
    try {
      parsed = parseCommand(command.text);
    } catch (error) {
      if (error instanceof UsageError) return ephemeral(`:grey_question: ${error.message}`);
      throw error;
    }
    const thread = new ResponseThread(respond);
    const running = runCommand(parsed, { actor, api: deps.slipway(actor), thread, follow });
    const continueWith = (outcome: Outcome) => void outcome.later?.();
    const first = await Promise.race([
      running.catch((error: unknown) => ({ now: failure(error) }) as Outcome),
      sleep(answerWithinMs).then(() => undefined),
    ]);
    if (first) {
      await ephemeral(first.now, first.blocks);
      continueWith(first);
      return;
    }
    // Slack gives up after 3 s: say so now, and answer through the response_url.
    await ephemeral(`:hourglass_flowing_sand: asking Slipway: ${command.text}`);
    void running.then(
      async (outcome) => {
        // Followed from here: the acknowledgement is an update, the outcome comes last.
        await (outcome.later ? thread.update(outcome.now) : thread.finish(outcome.now, outcome.blocks));
        continueWith(outcome);
      },
      (error: unknown) => thread.finish(failure(error)),
    );
  });

  bolt.action(BUTTON_ACTION_ID, async ({ action, body, ack, respond }) => {
    await ack();
    const user = body.user.id;
    const actor = deps.users.find(body.team?.id, user);
    const thread = new ResponseThread(respond, false);
    if (!actor) return thread.finish(unknownUser(user));
    const value = 'value' in action && typeof action.value === 'string' ? action.value : '{}';
    const actionId = 'action_id' in action ? action.action_id : '';
    await handleButton(actionId, value, { actor, api: deps.slipway(actor), thread, follow }).catch((error: unknown) =>
      thread.finish(failure(error)),
    );
  });

  bolt.error(async (error) => {
    deps.logger.error({ err: error }, 'slack request failed');
  });
  return app;
}

/** Bolt's logger interface over ours. */
function boltLogger(logger: Logger): BoltLogger {
  let level = LogLevel.INFO;
  return {
    debug: (...msg: unknown[]) => logger.debug(msg.map(String).join(' ')),
    info: (...msg: unknown[]) => logger.info(msg.map(String).join(' ')),
    warn: (...msg: unknown[]) => logger.warn(msg.map(String).join(' ')),
    error: (...msg: unknown[]) => logger.error(msg.map(String).join(' ')),
    setLevel: (l: LogLevel) => void (level = l),
    getLevel: () => level,
    setName: () => {},
  };
}
