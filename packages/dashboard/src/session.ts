/**
 * Sign-in: a person gives a token the services accept (reader or above) once; the browser keeps
 * only a random session id in an HttpOnly, SameSite=Strict cookie (Secure when the page came
 * over HTTPS, as a proxy in front says when SLIPWAY_TRUST_PROXY is set). The token stays in the
 * dashboard's memory, never sent to the browser again, only to ask the services now and then
 * whether it is still accepted: a session ends when its token is removed. The dashboard reads
 * with its own reader token.
 */
import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';

export const COOKIE = 'slipway_session';

export interface Sessions {
  /** A new session for a token the services accepted; sets the cookie. */
  open(res: Response, secure: boolean, token: string): void;
  /** Whether the request's session is live and its token still accepted. */
  valid(req: Request): Promise<boolean>;
  close(req: Request, res: Response): void;
}

export interface SessionOptions {
  ttlMs?: number;
  now?: () => number;
  /** Asks the services whether a token is still accepted; without it a session lives its ttl. */
  accepts?: (token: string) => Promise<boolean>;
  /** How long an answer of `accepts` holds before it is asked again. */
  recheckMs?: number;
}

interface Session {
  expires: number;
  token: string;
  checkedAt: number;
}

function sessionOf(req: Request): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, value] = part.trim().split('=');
    if (name === COOKIE && value) return value;
  }
  return undefined;
}

export function createSessions({
  ttlMs = 12 * 3600 * 1000,
  now = () => Date.now(),
  accepts,
  recheckMs = 60_000,
}: SessionOptions = {}): Sessions {
  const sessions = new Map<string, Session>();
  return {
    open(res, secure, token) {
      for (const [id, session] of sessions) if (session.expires < now()) sessions.delete(id);
      const id = randomBytes(24).toString('base64url');
      sessions.set(id, { expires: now() + ttlMs, token, checkedAt: now() });
      res.setHeader(
        'Set-Cookie',
        `${COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.floor(ttlMs / 1000)}${secure ? '; Secure' : ''}`,
      );
    },
    async valid(req) {
      const id = sessionOf(req);
      const session = id ? sessions.get(id) : undefined;
      if (!id || !session || session.expires <= now()) return false;
      if (accepts && now() - session.checkedAt >= recheckMs) {
        const still = await accepts(session.token).catch(() => true); // a services' outage ends no session
        if (!still) {
          sessions.delete(id);
          return false;
        }
        session.checkedAt = now();
      }
      return true;
    },
    close(req, res) {
      const id = sessionOf(req);
      if (id) sessions.delete(id);
      res.setHeader('Set-Cookie', `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`);
    },
  };
}
