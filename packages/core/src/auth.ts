/**
 * Bearer tokens. The tokens file maps a token to `{ subject, role }`; a key written as
 * `sha256:<hex>` holds the token's digest instead of the token, which is what `npm start`
 * writes. Tokens themselves are never logged nor put in an error.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InputError, NotAllowedError, NotAuthenticatedError } from './errors.js';

/**
 * People's roles in order of power (`ci` may read and report builds, nothing more), then
 * `platform`: the platform's own services that drive the cloud (orchestrator, baking, infra).
 * It reads, and does what only the platform does (the local cloud daemon's writes); no person's
 * role, however high, includes it, and it includes nothing a person's role above reader does.
 */
export const ROLES = ['reader', 'ci', 'deployer', 'admin', 'platform'] as const;
export type Role = (typeof ROLES)[number];
const PEOPLE: readonly Role[] = ['reader', 'ci', 'deployer', 'admin'];

export interface Principal {
  subject: string;
  role: Role;
  /** Where a person acted from when a face (chat) acted for them: `slack`. */
  via?: string;
  /**
   * This token may act for the people it names (X-Slipway-Act-As), never above its own role;
   * on its own (naming no one) it is only a reader.
   */
  delegate?: boolean;
}

/** The header a delegate token (the chat face) names the person it acts for with. */
export const ACT_AS_HEADER = 'x-slipway-act-as';

export interface TokenVerifier {
  /** The principal a token stands for, or undefined when it is not a known token. */
  verify(token: string): Principal | undefined;
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** True when `role` may do what `needed` may: reader < ci < deployer < admin; platform is reader + platform. */
export function roleAllows(role: Role, needed: Role): boolean {
  if (role === 'platform' || needed === 'platform') return needed === role || needed === 'reader';
  return PEOPLE.indexOf(role) >= PEOPLE.indexOf(needed);
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
    byDigest.set(digest, {
      subject: value.subject,
      role: value.role,
      ...(value.delegate === true ? { delegate: true } : {}),
    });
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
export function authorize(
  verifier: TokenVerifier,
  header: string | undefined,
  needed: Role,
  actAs?: string,
): Principal {
  const token = bearerToken(header);
  if (!token) throw new NotAuthenticatedError('a bearer token is required (Authorization: Bearer <token>)');
  const verified = verifier.verify(token);
  if (!verified) throw new NotAuthenticatedError('the bearer token is not valid');
  // A delegate acts for people; naming no one, it may read and nothing more.
  const principal =
    actAs !== undefined
      ? actingFor(verified, actAs)
      : verified.delegate
        ? { ...verified, role: 'reader' as const }
        : verified;
  if (!roleAllows(principal.role, needed)) {
    throw new NotAllowedError(`this needs the ${needed} role; ${principal.subject} has ${principal.role}`);
  }
  return principal;
}

/** `X-Slipway-Act-As: subject=alice; role=deployer; via=slack`, as a header value. */
export function actAsHeader(person: { subject: string; role: Role; via: string }): string {
  return `subject=${person.subject}; role=${person.role}; via=${person.via}`;
}

const ACT_AS = /^subject=([A-Za-z0-9._@:+-]{1,128}); role=([a-z]+); via=([a-z0-9-]{1,32})$/;

/** The person a delegate token acts for: never a token that is not a delegate, never above its role. */
function actingFor(token: Principal, header: string): Principal {
  if (!token.delegate) throw new NotAllowedError(`${token.subject} may not act for someone else`);
  const match = ACT_AS.exec(header.trim());
  if (!match || !isRole(match[2])) {
    throw new NotAuthenticatedError('X-Slipway-Act-As must read `subject=<who>; role=<role>; via=<where>`');
  }
  const role = match[2];
  if (role === 'platform' || !roleAllows(token.role, role)) {
    throw new NotAllowedError(`${token.subject} may not act with the ${role} role; it has ${token.role}`);
  }
  return { subject: match[1]!, role, via: match[3]! };
}
