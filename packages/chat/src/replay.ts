/**
 * Bolt refuses a request whose signature is wrong or whose timestamp is over five minutes old;
 * this also refuses the same signed request sent again inside those five minutes (a replay).
 * It reads the body once and leaves it as `req.rawBody`, which Bolt's receiver reads instead of
 * the stream; it never refuses a request it cannot verify itself: Bolt does, with its reason.
 */
import { isValidSlackRequest } from '@slack/bolt';
import express, { type RequestHandler } from 'express';

const WINDOW_MS = 5 * 60_000;

export function replayGuard(signingSecret: string): RequestHandler {
  const seen = new Map<string, number>();
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
      const now = Date.now();
      for (const [key, at] of seen) if (now - at > WINDOW_MS) seen.delete(key);
      if (seen.has(signature)) {
        res.status(401).type('text/plain').send('this request was received already');
        return;
      }
      seen.set(signature, now);
      next();
    });
  };
}
