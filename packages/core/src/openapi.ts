/**
 * Each service's `src/schema/openapi.yaml` is the source of truth: requests are validated
 * against it before any handler runs, and each operation's least role is declared there as
 * the scope of its `bearerAuth` security requirement (`security: [{ bearerAuth: [deployer] }]`).
 */
import type { Request, RequestHandler } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { authorize, isRole, type Principal, type Role, type TokenVerifier } from './auth.js';

export type OpenApiDocument = Record<string, unknown> & {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, unknown>;
};

export function loadOpenApiDocument(path: string | URL): OpenApiDocument {
  const document = parse(readFileSync(path, 'utf8')) as OpenApiDocument;
  if (!document || typeof document.openapi !== 'string' || !document.paths) {
    throw new Error(`${String(path)} is not an OpenAPI document`);
  }
  return document;
}

export interface RequestWithPrincipal extends Request {
  principal?: Principal;
}

/** The principal the bearer token stood for; set on every authenticated request. */
export function principalOf(req: Request): Principal {
  const principal = (req as RequestWithPrincipal).principal;
  if (!principal) throw new Error('principalOf() on a route without bearerAuth in the OpenAPI document');
  return principal;
}

export function openApiMiddleware(document: OpenApiDocument, verifier: TokenVerifier): RequestHandler[] {
  return OpenApiValidator.middleware({
    // The validator mutates what it is given; keep the served document pristine.
    apiSpec: structuredClone(document) as never,
    validateRequests: { allErrors: true },
    validateResponses: false,
    validateSecurity: {
      handlers: {
        bearerAuth(req: Request, scopes: string[]) {
          const needed: Role = scopes.find(isRole) ?? 'admin';
          (req as RequestWithPrincipal).principal = authorize(verifier, req.headers.authorization, needed);
          return true;
        },
      },
    },
    $refParser: { mode: 'dereference' },
  }) as RequestHandler[];
}
