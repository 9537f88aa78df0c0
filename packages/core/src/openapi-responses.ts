/**
 * Checks answers against the document they come from: the status is declared (or covered by
 * `default`), the media type is one the response declares, and a JSON body satisfies its
 * schema. The route tests run every answer through it (test-utils' response audit), so a
 * spec that no real answer satisfies fails the build instead of misleading the peers whose
 * types are generated from it.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { describeSchemaErrors, openApiInfo, toJsonSchema, type OpenApiDocument } from './openapi.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** Says what is wrong with an answer to an operation, or undefined when it is right. */
export type ResponseCheck = (
  operationId: string,
  status: number,
  contentType: string,
  body: Buffer,
) => string | undefined;

interface DeclaredResponse {
  content?: Record<string, { schema?: object }>;
}

const checks = new WeakMap<OpenApiDocument, ResponseCheck>();

export function compileResponseCheck(document: OpenApiDocument): ResponseCheck {
  const known = checks.get(document);
  if (known) return known;
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  ajv.addSchema({ $id: 'openapi', components: toJsonSchema(document.components ?? {}) });
  const responses = new Map<string, Record<string, unknown>>();
  for (const item of Object.values(document.paths as Record<string, Record<string, unknown>>)) {
    for (const operation of Object.values(item)) {
      const { operationId, responses: declared } = (operation ?? {}) as Record<string, unknown>;
      if (typeof operationId === 'string') responses.set(operationId, (declared ?? {}) as Record<string, unknown>);
    }
  }
  // Compiled when first needed: a test suite builds many apps and answers few of each kind.
  const validators = new Map<string, ValidateFunction>();
  const validator = (key: string, schema: object) => {
    let validate = validators.get(key);
    if (!validate) {
      validate = ajv.compile(toJsonSchema(schema));
      validators.set(key, validate);
    }
    return validate;
  };

  const check: ResponseCheck = (operationId, status, contentType, body) => {
    const declared = responses.get(operationId);
    if (!declared) return `the document has no operation ${operationId}`;
    const key = [String(status), `${String(status)[0]}XX`, 'default'].find((k) => Object.hasOwn(declared, k));
    if (!key) return `status ${status} is not declared`;
    const response = resolve(document, declared[key]) as DeclaredResponse;
    const media = contentType.split(';')[0]!.trim().toLowerCase();
    if (!response.content || Object.keys(response.content).length === 0) {
      return body.length === 0 || status === 204 ? undefined : `a ${media || 'body'} where the document declares none`;
    }
    if (body.length === 0 && !media) return status === 304 ? undefined : 'no body where the document declares one';
    const content = Object.hasOwn(response.content, media) ? response.content[media] : undefined;
    if (!content)
      return `${media || 'no media type'} where the document says ${Object.keys(response.content).join(' or ')}`;
    if (!content.schema || !(media === 'application/json' || media.endsWith('+json'))) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(body.toString('utf8'));
    } catch {
      return 'a body that is not JSON';
    }
    const validate = validator(`${operationId} ${key} ${media}`, content.schema);
    if (validate(value)) return undefined;
    return describeSchemaErrors(validate.errors, '/body')
      .map((e) => `${e.path}: ${e.message}`)
      .join('; ');
  };
  checks.set(document, check);
  return check;
}

/**
 * Middleware that reports every answer the document does not allow. Bodies are kept in memory
 * to be checked, so it is for tests only: createServiceApp adds it when a test harness has
 * put a reporter at `globalThis[Symbol.for('slipway.responseAudit')]`.
 */
export function responseAudit(document: OpenApiDocument, report: (violation: string) => void): RequestHandler {
  const check = compileResponseCheck(document);
  return (req: Request, res: Response, next: NextFunction) => {
    const chunks: Buffer[] = [];
    const collect = (chunk: unknown, encoding?: unknown) => {
      if (typeof chunk === 'string')
        chunks.push(Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'));
      else if (chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk));
    };
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    const end = res.end.bind(res) as (...args: unknown[]) => Response;
    res.write = ((...args: unknown[]) => {
      collect(args[0], args[1]);
      return write(...args);
    }) as Response['write'];
    res.end = ((...args: unknown[]) => {
      if (typeof args[0] !== 'function') collect(args[0], args[1]);
      return end(...args);
    }) as Response['end'];
    res.once('finish', () => {
      const info = openApiInfo(req);
      if (!info || req.method === 'HEAD') return;
      const contentType = String(res.getHeader('content-type') ?? '');
      if (contentType.startsWith('text/event-stream')) return;
      const problem = check(info.operationId, res.statusCode, contentType, Buffer.concat(chunks));
      if (problem) report(`${req.method} ${req.originalUrl} answered ${res.statusCode}: ${problem}`);
    });
    next();
  };
}

/** A reporter put here by a test harness turns the audit on in every app created after. */
export const RESPONSE_AUDIT = Symbol.for('slipway.responseAudit');

function resolve(document: OpenApiDocument, value: unknown): unknown {
  const ref = (value as { $ref?: string } | undefined)?.$ref;
  if (!ref) return value;
  let target: unknown = document;
  for (const part of ref.replace(/^#\//, '').split('/')) target = (target as Record<string, unknown>)[part];
  return resolve(document, target);
}
