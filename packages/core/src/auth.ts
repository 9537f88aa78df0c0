/**
 * Bearer tokens. The tokens file maps a token to `{ subject, role }`; a key written as
 * `sha256:<hex>` holds the token's digest instead of the token, which is what `npm start`
 * writes. Tokens themselves are never logged nor put in an error.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InputError, NotAllowedError, NotAuthenticatedError } from './errors.js';

export const ROLES = ['reader', 'deployer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  subject: string;
  role: Role;
}

export interface TokenVerifier {
  /** The principal a token stands for, or undefined when it is not a known token. */
  verify(token: string): Principal | undefined;
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** True when `role` may do what `needed` may: reader < deployer < admin. */
export function roleAllows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function generateToken(): string {
  return `slw_${randomBytes(24).toString('base64url')}`;
}

export type TokensDocument = Record<string, Principal>;

export function createTokenVerifier(document: TokensDocument): TokenVerifier {
  const byDigest = new Map<string, Principal>();
  for (const [key, value] of Object.entries(document)) {
    if (!value || typeof value.subject !== 'string' || !isRole(value.role)) {
      // Name the subject, never the key: the key may be a token.
      throw new InputError(
        `tokens file: entry for subject '${String(value?.subject)}' needs a subject and a role (${ROLES.join(', ')})`,
      );
    }
    const digest = key.startsWith('sha256:') ? key.slice('sha256:'.length).toLowerCase() : hashToken(key);
    byDigest.set(digest, { subject: value.subject, role: value.role });
  }
  // Hashing on every request is measurable; remember the tokens seen lately (bounded, and
  // only valid ones, so garbage cannot fill it).
  const recent = new Map<string, Principal>();
  return {
    verify(token) {
      const known = recent.get(token);
      if (known) return known;
      const principal = byDigest.get(hashToken(token));
      if (principal) {
        if (recent.size >= 1000) recent.delete(recent.keys().next().value!);
        recent.set(token, principal);
      }
      return principal;
    },
  };
}

export function loadTokenVerifier(path: string): TokenVerifier {
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new InputError(`cannot read the tokens file ${path}: ${(error as Error).message}`);
  }
  if (!document || typeof document !== 'object' || Array.isArray(document)) {
    throw new InputError(`tokens file ${path} must hold a JSON object of token → { subject, role }`);
  }
  return createTokenVerifier(document as TokensDocument);
}

/** The bearer token of an Authorization header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/**
 * Checks a request's token against the least role an operation needs.
 * Throws NotAuthenticatedError (401) or NotAllowedError (403).
 */
export function authorize(verifier: TokenVerifier, header: string | undefined, needed: Role): Principal {
  const token = bearerToken(header);
  if (!token) throw new NotAuthenticatedError('a bearer token is required (Authorization: Bearer <token>)');
  const principal = verifier.verify(token);
  if (!principal) throw new NotAuthenticatedError('the bearer token is not valid');
  if (!roleAllows(principal.role, needed)) {
    throw new NotAllowedError(`this needs the ${needed} role; ${principal.subject} has ${principal.role}`);
  }
  return principal;
}
