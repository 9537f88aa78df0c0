/**
 * Bolt refuses a request whose signature is wrong or whose timestamp is over five minutes old;
 * this also refuses the same signed request sent again inside those five minutes (a replay).
 * A request is known by its timestamp and the digest of its body — what the signature signs —
 * never by the signature string (Bolt reads `v0=<hex>` and ignores a tail after another `=`).
 * What was received is kept in Redis for the window, so every replica refuses a replay and a
 * restart forgets nothing. It reads the body once and leaves it as `req.rawBody`, which Bolt's
 * receiver reads instead of the stream; it never refuses a request it cannot verify itself:
 * Bolt does, with its reason.
 */
import { isValidSlackRequest } from '@slack/bolt';
import type { Redis } from '@slipway/core/redis';
import express, { type RequestHandler } from 'express';
import { createHash } from 'node:crypto';

/** Bolt's window (five minutes) and a minute for clocks that differ. */
const WINDOW_MS = 6 * 60_000;

export interface SeenRequests {
  /** True the first time `key` is seen within `ttlMs`, false after (atomic across replicas). */
  firstTime(key: string, ttlMs: number): Promise<boolean>;
}

export function redisSeenRequests(redis: Redis, prefix = 'slipway:chat:'): SeenRequests {
  return {
    async firstTime(key, ttlMs) {
      return (await redis.set(`${prefix}seen:${key}`, '1', 'PX', ttlMs, 'NX')) === 'OK';
    },
  };
}

export function replayGuard(signingSecret: string, seen: SeenRequests): RequestHandler {
  const raw = express.raw({ type: () => true, limit: '1mb' });
  return (req, res, next) => {
    raw(req, res, (error?: unknown) => {
      if (error) return next(error);
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      (req as typeof req & { rawBody?: Buffer }).rawBody = body;
      const signature = req.headers['x-slack-signature'];
      const timestamp = Number(req.headers['x-slack-request-timestamp']);
      if (typeof signature !== 'string') return next();
      const valid = isValidSlackRequest({
        signingSecret,
        body: body.toString(),
        headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': timestamp },
      });
      if (!valid) return next();
      const key = `${timestamp}:${createHash('sha256').update(body).digest('hex')}`;
      seen.firstTime(key, WINDOW_MS).then(
        (first) => {
          if (first) return next();
          res.status(401).type('text/plain').send('this request was received already');
        },
        // Cannot tell whether it is a replay: refuse rather than risk acting twice.
        () => void res.status(503).setHeader('Retry-After', '1').type('text/plain').send('try again shortly'),
      );
    });
  };
}
