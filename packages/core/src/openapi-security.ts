/**
 * An operation's security requirements, compiled at start and checked per request. It fails
 * closed: a requirement naming a scheme that is not declared, not supported, or has no check
 * refuses to start the service, and a request that satisfies no requirement is refused.
 *
 * OpenAPI 3.0 says an `http` scheme's scopes must be empty, so the least role a bearer token
 * needs is the `x-slipway-role` extension: on the operation, else on the document.
 */
import type { Request } from 'express';
import {
  ACT_AS_HEADER,
  authorize,
  bearerToken,
  isRole,
  ROLES,
  type Principal,
  type Role,
  type TokenVerifier,
} from './auth.js';
import { NotAllowedError, NotAuthenticatedError } from './errors.js';

/** Checks an apiKey scheme's value; the principal it stands for, or undefined when wrong. */
export type ApiKeyVerifier = (value: string) => Principal | undefined;

interface ApiKeyCheck {
  header: string;
  headerName: string;
  verify: ApiKeyVerifier;
}

/** One way in: every scheme of it must be satisfied. */
interface SecurityAlternative {
  bearer?: Role;
  apiKeys: ApiKeyCheck[];
}

/** `open`: the operation says `security: []` (or has an empty alternative `{}`). */
export type OperationSecurity = 'open' | SecurityAlternative[];

type SecurityRequirement = Record<string, string[]>;
interface SecurityScheme {
  type?: string;
  scheme?: string;
  in?: string;
  name?: string;
}

export function compileSecurity(
  document: Record<string, unknown>,
  operation: Record<string, unknown>,
  where: string,
  apiKeys: Record<string, ApiKeyVerifier>,
): OperationSecurity {
  const requirements = (operation.security ?? document.security) as SecurityRequirement[] | undefined;
  if (!Array.isArray(requirements)) {
    throw new Error(`${where} has no security requirement; write 'security: []' to leave it open on purpose`);
  }
  if (requirements.length === 0 || requirements.some((r) => Object.keys(r).length === 0)) return 'open';
  const schemes = ((document.components as Record<string, unknown> | undefined)?.securitySchemes ?? {}) as Record<
    string,
    SecurityScheme
  >;
  const role = operation['x-slipway-role'] ?? document['x-slipway-role'];
  return requirements.map((requirement) => {
    const alternative: SecurityAlternative = { apiKeys: [] };
    for (const [name, scopes] of Object.entries(requirement)) {
      const scheme = Object.hasOwn(schemes, name) ? schemes[name] : undefined;
      if (!scheme) throw new Error(`${where} names the security scheme '${name}', which the document does not declare`);
      if (scheme.type === 'http' && scheme.scheme?.toLowerCase() === 'bearer') {
        if (scopes.length > 0) {
          throw new Error(
            `${where}: '${name}' is an http scheme, whose scopes must be empty; say the role in x-slipway-role`,
          );
        }
        if (!isRole(role))
          throw new Error(`${where} needs a bearer token but says no x-slipway-role (${ROLES.join(', ')})`);
        alternative.bearer = role;
      } else if (scheme.type === 'apiKey' && scheme.in === 'header' && scheme.name) {
        const verify = Object.hasOwn(apiKeys, name) ? apiKeys[name] : undefined;
        if (!verify)
          throw new Error(`${where} accepts the apiKey scheme '${name}' but the service has no check for it`);
        alternative.apiKeys.push({ header: scheme.name.toLowerCase(), headerName: scheme.name, verify });
      } else {
        throw new Error(`${where} names the security scheme '${name}', of a kind this router does not check`);
      }
    }
    return alternative;
  });
}

/**
 * The principal of the first alternative the request satisfies. When none is, the refusal
 * that says the most: a wrong role (403) over a wrong credential over a missing one (401).
 */
export function authenticate(
  req: Request,
  security: OperationSecurity,
  verifier: TokenVerifier,
): Principal | undefined {
  if (security === 'open') return undefined;
  let refusal: Refusal | undefined;
  for (const alternative of security) {
    const result = satisfy(req, alternative, verifier);
    if (!(result instanceof Refusal)) return result;
    if (!refusal || result.rank > refusal.rank) refusal = result;
  }
  if (refusal && (refusal.rank > 0 || security.length === 1)) throw refusal.error;
  throw new NotAuthenticatedError(`credentials are required: ${security.map(describe).join(', or ')}`);
}

class Refusal {
  constructor(
    readonly rank: number,
    readonly error: Error,
  ) {}
}

function satisfy(req: Request, alternative: SecurityAlternative, verifier: TokenVerifier): Principal | Refusal {
  let principal: Principal | undefined;
  for (const { header, headerName, verify } of alternative.apiKeys) {
    const value = req.headers[header];
    if (typeof value !== 'string')
      return new Refusal(0, new NotAuthenticatedError(`the ${headerName} header is required`));
    const found = verify(value);
    if (!found) return new Refusal(1, new NotAuthenticatedError(`the ${headerName} header is not valid`));
    principal = found;
  }
  if (alternative.bearer) {
    if (!bearerToken(req.headers.authorization)) {
      return new Refusal(0, new NotAuthenticatedError('a bearer token is required (Authorization: Bearer <token>)'));
    }
    try {
      const actAs = req.headers[ACT_AS_HEADER];
      principal = authorize(
        verifier,
        req.headers.authorization,
        alternative.bearer,
        typeof actAs === 'string' ? actAs : undefined,
      );
    } catch (error) {
      return new Refusal(error instanceof NotAllowedError ? 2 : 1, error as Error);
    }
  }
  return principal!;
}

function describe(alternative: SecurityAlternative): string {
  const parts = alternative.apiKeys.map((key) => `the ${key.headerName} header`);
  if (alternative.bearer) parts.push('a bearer token (Authorization: Bearer <token>)');
  return parts.join(' and ');
}
