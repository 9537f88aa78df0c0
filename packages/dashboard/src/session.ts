/**
 * Sign-in: a person gives a token the services accept (reader or above) once; the dashboard
 * keeps only a random session id in an HttpOnly, SameSite=Strict cookie. It still reads with
 * its own reader token, so the person's token is never kept or sent to the browser again.
 */
import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';

export const COOKIE = 'slipway_session';

export interface Sessions {
  /** A new session for a token the services accepted; answers the cookie to set. */
  open(res: Response, secure: boolean): void;
  valid(req: Request): boolean;
  close(req: Request, res: Response): void;
}

function sessionOf(req: Request): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, value] = part.trim().split('=');
    if (name === COOKIE && value) return value;
  }
  return undefined;
}

export function createSessions(ttlMs = 12 * 3600 * 1000, now = () => Date.now()): Sessions {
  const sessions = new Map<string, number>();
  return {
    open(res, secure) {
      for (const [id, expires] of sessions) if (expires < now()) sessions.delete(id);
      const id = randomBytes(24).toString('base64url');
      sessions.set(id, now() + ttlMs);
      res.setHeader(
        'Set-Cookie',
        `${COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.floor(ttlMs / 1000)}${secure ? '; Secure' : ''}`,
      );
    },
    valid(req) {
      const id = sessionOf(req);
      const expires = id ? sessions.get(id) : undefined;
      return expires !== undefined && expires > now();
    },
    close(req, res) {
      const id = sessionOf(req);
      if (id) sessions.delete(id);
      res.setHeader('Set-Cookie', `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`);
    },
  };
}
