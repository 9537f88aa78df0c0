/**
 * Each service's `src/schema/openapi.yaml` is the source of truth. Every request is matched
 * to an operation of that document, authenticated against the operation's security
 * requirements (openapi-security.ts: the least role is its `x-slipway-role`) before its body
 * is read, then its path, query, headers and body are validated with ajv — all before a
 * handler runs. Parameters are text on the wire, so they are coerced to their schema's types;
 * a JSON body is not: `{"service": 123}` is refused where a string is asked for.
 * Routes and schemas are compiled once, at start: per request it is one regex per route and
 * precompiled validators. (express-openapi-validator was tried first; it compiles a path
 * regex per route on every request and cost half of our throughput.)
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Principal, TokenVerifier } from './auth.js';
import {
  InputError,
  NotFoundError,
  ServiceUnavailableError,
  SlipwayError,
  UnsupportedMediaTypeError,
  type FieldError,
} from './errors.js';
import { ruleForPattern } from './naming.js';
import { byPrecedence, compilePath, type PathTemplate } from './openapi-paths.js';
import { authenticate, compileSecurity, type ApiKeyVerifier, type OperationSecurity } from './openapi-security.js';

export type { ApiKeyVerifier } from './openapi-security.js';

// ajv-formats is CommonJS with a default export.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** The `uri` format of every request: an absolute http or https URL. */
export const WEB_URI = (value: string): boolean => {
  try {
    const { protocol } = new URL(value);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
};

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

/** What the OpenAPI middleware leaves on the request for handlers and metrics. */
export interface OpenApiRequestInfo {
  operationId: string;
  /** The document's path template, e.g. `/services/{name}`. */
  route: string;
  principal?: Principal;
  /** The query, validated, coerced and with its defaults. */
  query: Record<string, unknown>;
}

/** Handles one operation of the document, named by its operationId. */
export type OperationHandler = (req: Request, res: Response) => unknown;
export type OperationHandlers = Record<string, OperationHandler>;

export function openApiInfo(req: Request): OpenApiRequestInfo | undefined {
  return (req as Request & { openapi?: OpenApiRequestInfo }).openapi;
}

/**
 * The request's query, validated against the document, coerced to its types and with its
 * defaults (express 5's own req.query is parsed anew on every read and never coerced).
 */
export function queryOf(req: Request): Record<string, unknown> {
  return openApiInfo(req)?.query ?? {};
}

/** The request's path parameters, decoded and validated against the document. */
export function paramsOf(req: Request): Record<string, string> {
  return req.params as Record<string, string>;
}

/** The principal the bearer token stood for; set on every authenticated request. */
export function principalOf(req: Request): Principal {
  const principal = openApiInfo(req)?.principal;
  if (!principal) throw new Error('principalOf() on an operation the OpenAPI document leaves open');
  return principal;
}

class MethodNotAllowedError extends SlipwayError {
  readonly status = 405;
  constructor(
    message: string,
    readonly allow: string,
  ) {
    super(message, { code: 'method-not-allowed' });
  }
}

interface Parameter {
  'x-slashes'?: boolean;
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: object;
  style?: string;
  explode?: boolean;
  content?: unknown;
}

interface Operation {
  method: string;
  route: string;
  operationId: string;
  handler: OperationHandler;
  security: OperationSecurity;
  validateParameters: ValidateFunction;
  headerNames: string[];
  body?: { required: boolean; media: Map<string, ValidateFunction | undefined> };
}

interface Route extends PathTemplate {
  operations: Map<string, Operation>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

export interface OpenApiMiddlewareOptions {
  /** Checks for the document's apiKey security schemes, by scheme name. */
  apiKeys?: Record<string, ApiKeyVerifier>;
  /** Reads the body (express.json, say): run only once the request is authenticated. */
  bodyParser?: RequestHandler;
  /** Checks a read request and its parsed query before validation (input-limits.ts); throws to refuse it. */
  checkInput?: (req: Request, query: Record<string, unknown>) => void;
  /**
   * Why the service cannot answer now (its Redis is down, say), or undefined: asked once the
   * request is authenticated (tokens need no Redis), so only a caller with a good token learns
   * of an outage, and a bad token is still a 401.
   */
  unavailable?: () => string | undefined;
}

/**
 * Matches each request to an operation, authenticates, reads and validates, then calls the
 * operation's handler: the document is the router. Every operation must have a handler and
 * every handler an operation, and every security requirement must be one this can check, or
 * this throws at start.
 */
export function openApiMiddleware(
  document: OpenApiDocument,
  verifier: TokenVerifier,
  handlers: OperationHandlers,
  options: OpenApiMiddlewareOptions = {},
): RequestHandler {
  const routes = compileRoutes(document, handlers, options.apiKeys ?? {});
  const bodyParser = options.bodyParser;
  const inFlight = inFlightGuard(options.unavailable);
  return (req: Request, res: Response, next: NextFunction) => {
    const path = req.path;
    let match: RegExpExecArray | null = null;
    const route = routes.find((candidate) => (match = candidate.regex.exec(path)) !== null);
    if (!route || !match) throw new NotFoundError(`no such resource: ${req.method} ${path}`, { code: 'no-route' });
    const operation = route.operations.get(req.method === 'HEAD' ? 'get' : req.method.toLowerCase());
    if (!operation) {
      const allow = [...route.operations.keys()].map((m) => m.toUpperCase()).join(', ');
      throw new MethodNotAllowedError(`${req.method} is not allowed on ${route.template}; use ${allow}`, allow);
    }
    const info: OpenApiRequestInfo = { operationId: operation.operationId, route: route.template, query: {} };
    (req as Request & { openapi?: OpenApiRequestInfo }).openapi = info;
    const principal = authenticate(req, operation.security, verifier);
    if (principal) info.principal = principal;
    const why = options.unavailable?.();
    if (why !== undefined) throw new ServiceUnavailableError(why);
    if (options.unavailable) inFlight.add(req, res, next);
    const found = match;
    const handle = (error?: unknown) => {
      if (error) return next(error);
      try {
        const query = readQuery(req, options.checkInput);
        validateRequest(req, route, operation, found, info, query);
        Promise.resolve(operation.handler(req, res)).catch(next);
      } catch (failure) {
        next(failure);
      }
    };
    if (bodyParser && operation.body) bodyParser(req, res, handle);
    else handle();
  };
}

/**
 * The query, parsed once, after the input check has looked at it and the path. Malformed
 * percent-encoding is refused once the check has judged the query as express reads it
 * (leniently), so a query both malformed and, say, holding a NUL is refused for the NUL.
 */
function readQuery(req: Request, checkInput: OpenApiMiddlewareOptions['checkInput']): Record<string, unknown> {
  const search = req.url.indexOf('?');
  let query: Record<string, unknown>;
  try {
    query = search < 0 ? {} : parseQuery(req.url.slice(search + 1));
  } catch (malformed) {
    checkInput?.(req, req.query as Record<string, unknown>);
    throw malformed;
  }
  checkInput?.(req, query);
  return query;
}

function validateRequest(
  req: Request,
  route: Route,
  operation: Operation,
  match: RegExpExecArray,
  info: OpenApiRequestInfo,
  query: Record<string, unknown>,
): void {
  const path: Record<string, string> = {};
  try {
    route.names.forEach((name, i) => {
      path[name] = decodeURIComponent(match[i + 1]!);
    });
  } catch {
    throw new InputError(`malformed percent-encoding in ${req.path}`);
  }
  const headers: Record<string, unknown> = {};
  for (const name of operation.headerNames) {
    if (req.headers[name] !== undefined) headers[name] = req.headers[name];
  }
  const parameters = { path, query, headers };
  const errors: FieldError[] = [];
  if (!operation.validateParameters(parameters))
    errors.push(...describeSchemaErrors(operation.validateParameters.errors));

  if (operation.body) {
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (hasBody) {
      const mediaType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (!operation.body.media.has(mediaType)) {
        throw new UnsupportedMediaTypeError(
          `unsupported media type '${mediaType || 'none'}'; send ${[...operation.body.media.keys()].join(' or ')}`,
        );
      }
      const validate = operation.body.media.get(mediaType);
      if (validate && !validate(req.body)) errors.push(...describeSchemaErrors(validate.errors, '/body'));
    } else if (operation.body.required) {
      errors.push({ path: '/body', message: 'a request body is required' });
    }
  }
  if (errors.length > 0) {
    throw new InputError(errors.map((e) => `${e.path}: ${e.message}`).join('; '), { errors });
  }
  info.query = parameters.query;
  req.params = path;
}

/**
 * `a=1&b=x%20y&a=2` → `{ a: ['1', '2'], b: 'x y' }`, on an object without a prototype so a
 * key like `__proto__` is just a key. (node:querystring cost 6% of a cached read's CPU.) Its
 * prototype is taken away rather than never given: V8 keeps such an object's properties fast,
 * where Object.create(null) makes a dictionary, slower to fill and to validate.
 */
export function parseQuery(text: string): Record<string, string | string[]> {
  const query = Object.setPrototypeOf({}, null) as Record<string, string | string[]>;
  const pairs = text.split('&').filter((pair) => pair !== '');
  // As node:querystring's maxKeys: a 16 KB query of one key repeated is 8,000 values.
  if (pairs.length > MAX_QUERY_PARAMETERS)
    throw new InputError(
      `the query has ${pairs.length} parameters; at most ${MAX_QUERY_PARAMETERS} are read (a key repeated counts each time)`,
    );
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = decodeQueryPart(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : decodeQueryPart(pair.slice(eq + 1));
    const previous = query[key];
    // Pushed in place: copying the array at each repeat made a repeated key cost its square.
    if (previous === undefined) query[key] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else query[key] = [previous, value];
  }
  return query;
}

/** Parameters read from one query (values of a repeated key each count). */
export const MAX_QUERY_PARAMETERS = 1000;

function decodeQueryPart(part: string): string {
  if (!part.includes('%') && !part.includes('+')) return part;
  try {
    return decodeURIComponent(part.replaceAll('+', ' '));
  } catch {
    throw new InputError(`malformed percent-encoding in the query: ${part.slice(0, 40)}`);
  }
}

/** ajv's errors as FieldErrors a person can read: the field's path, and the rule in words. */
export function describeSchemaErrors(errors: ErrorObject[] | null | undefined, prefix = ''): FieldError[] {
  return (errors ?? []).map((error) => {
    let path = `${prefix}${error.instancePath}`;
    let message = error.message ?? 'is not valid';
    if (error.keyword === 'required') {
      path = `${path}/${String(error.params.missingProperty)}`;
      message = 'is required';
    } else if (error.keyword === 'additionalProperties') {
      path = `${path}/${String(error.params.additionalProperty)}`;
      message = 'is not allowed here';
    } else if (error.keyword === 'pattern') {
      const rule = ruleForPattern(String(error.params.pattern));
      if (rule) message = `must be ${rule}`;
    } else if (error.keyword === 'enum') {
      message = `must be one of ${(error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    }
    return { path: path.replace(/^\/headers\//, '/header/') || '/', message };
  });
}

function compileRoutes(
  document: OpenApiDocument,
  handlers: OperationHandlers,
  apiKeys: Record<string, ApiKeyVerifier>,
): Route[] {
  const unused = new Set(Object.keys(handlers));
  // Parameters arrive as text and are coerced ('array': a single value of an array parameter
  // is a one-item array); a JSON body has its own types, and they must be right as sent.
  const parametersAjv = new Ajv({ allErrors: true, coerceTypes: 'array', useDefaults: true, strict: false });
  const bodyAjv = new Ajv({ allErrors: true, coerceTypes: false, useDefaults: true, strict: false });
  for (const ajv of [parametersAjv, bodyAjv]) {
    addFormats(ajv);
    // A `uri` here is one the platform fetches or a page links to: http(s) only, never javascript: or data:.
    ajv.addFormat('uri', WEB_URI);
    ajv.addSchema({ $id: 'openapi', components: toJsonSchema(document.components ?? {}) });
  }

  const routes: Route[] = [];
  for (const [template, item] of Object.entries(document.paths as Record<string, Record<string, unknown>>)) {
    const shared = ((item.parameters as unknown[]) ?? []).map((p) => resolve<Parameter>(document, p));
    // A path parameter marked `x-slashes: true` may span segments (a file path in a repository).
    const spanning = new Set(shared.filter((p) => p.in === 'path' && p['x-slashes'] === true).map((p) => p.name));
    const route: Route = { ...compilePath(template, spanning), operations: new Map() };
    for (const method of METHODS) {
      const raw = item[method] as Record<string, unknown> | undefined;
      if (!raw) continue;
      const where = `${method.toUpperCase()} ${template}`;
      const own = ((raw.parameters as unknown[]) ?? []).map((p) => resolve<Parameter>(document, p));
      const parameters = mergeParameters(shared, own);
      parameters.forEach((parameter) => checkParameterStyle(parameter, where));
      const operationId = raw.operationId;
      if (typeof operationId !== 'string') throw new Error(`${where} has no operationId`);
      const handler = handlers[operationId];
      if (!handler) throw new Error(`no handler for operation ${operationId} (${where})`);
      unused.delete(operationId);
      const operation: Operation = {
        method,
        route: template,
        operationId,
        handler,
        validateParameters: parametersAjv.compile(parametersSchema(parameters, raw['x-allow-unknown-query'] === true)),
        security: compileSecurity(document, raw, where, apiKeys),
        headerNames: parameters.filter((p) => p.in === 'header').map((p) => p.name.toLowerCase()),
      };
      if (raw.requestBody) {
        const body = resolve<{ required?: boolean; content?: Record<string, { schema?: object }> }>(
          document,
          raw.requestBody,
        );
        const media = new Map<string, ValidateFunction | undefined>();
        for (const [type, content] of Object.entries(body.content ?? {})) {
          const isJson = type === 'application/json' || type.endsWith('+json');
          media.set(type, isJson && content.schema ? bodyAjv.compile(toJsonSchema(content.schema)) : undefined);
        }
        operation.body = { required: body.required === true, media };
      }
      route.operations.set(method, operation);
    }
    routes.push(route);
  }
  if (unused.size > 0) throw new Error(`handlers for operations the document does not have: ${[...unused].join(', ')}`);
  return routes.sort(byPrecedence);
}

/**
 * The parameter styles this router reads: path `simple`, query `form` exploded (a repeated key
 * is an array), header `simple`, each one value of a schema. Anything else would be read
 * wrongly, so it refuses to start instead.
 */
function checkParameterStyle(parameter: Parameter, where: string): void {
  const styles: Record<string, string> = { path: 'simple', query: 'form', header: 'simple' };
  const expected = Object.hasOwn(styles, parameter.in) ? styles[parameter.in] : undefined;
  const problem = !expected
    ? `is in ${parameter.in}, which this router does not read`
    : parameter.content !== undefined
      ? 'has content instead of a schema'
      : (parameter.style ?? expected) !== expected
        ? `has style ${parameter.style}; ${parameter.in} parameters are read as ${expected}`
        : parameter.in === 'query' && parameter.explode === false
          ? 'is not exploded; repeat the key for each value instead'
          : undefined;
  if (problem) throw new Error(`${where}: parameter '${parameter.name}' ${problem}`);
}

function mergeParameters(shared: Parameter[], own: Parameter[]): Parameter[] {
  const byKey = new Map<string, Parameter>();
  for (const parameter of [...shared, ...own]) byKey.set(`${parameter.in}:${parameter.name}`, parameter);
  return [...byKey.values()];
}

function parametersSchema(parameters: Parameter[], allowUnknownQuery: boolean): object {
  const group = (where: Parameter['in'], additional: boolean) => {
    const list = parameters.filter((p) => p.in === where);
    const properties: Record<string, object> = {};
    for (const p of list) properties[where === 'header' ? p.name.toLowerCase() : p.name] = toJsonSchema(p.schema ?? {});
    return {
      type: 'object',
      properties,
      required: list.filter((p) => p.required).map((p) => (where === 'header' ? p.name.toLowerCase() : p.name)),
      additionalProperties: additional,
    };
  };
  return {
    type: 'object',
    properties: {
      path: group('path', false),
      query: group('query', allowUnknownQuery),
      headers: group('header', true),
    },
  };
}

/**
 * An OpenAPI 3.0 schema as the JSON Schema ajv reads: `#/components/...` references rebased
 * on the components schema ajv was given, and 3.0's boolean `exclusiveMinimum` /
 * `exclusiveMaximum` (draft 4's) turned into the numbers later drafts use.
 */
export function toJsonSchema(schema: unknown): object {
  return JSON.parse(JSON.stringify(schema), (_key, value: unknown) => {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
    const node = value as Record<string, unknown>;
    if (typeof node.$ref === 'string' && node.$ref.startsWith('#/components/')) node.$ref = `openapi${node.$ref}`;
    for (const [exclusive, bound] of [
      ['exclusiveMinimum', 'minimum'],
      ['exclusiveMaximum', 'maximum'],
    ] as const) {
      if (typeof node[exclusive] !== 'boolean') continue;
      if (node[exclusive] === true && typeof node[bound] === 'number') {
        node[exclusive] = node[bound];
        delete node[bound];
      } else delete node[exclusive];
    }
    return node;
  }) as object;
}

function resolve<T>(document: OpenApiDocument, value: unknown): T {
  const ref = (value as { $ref?: string }).$ref;
  if (!ref) return value as T;
  let target: unknown = document;
  for (const part of ref.replace(/^#\//, '').split('/')) target = (target as Record<string, unknown>)[part];
  if (target === undefined) throw new Error(`OpenAPI reference ${ref} points at nothing`);
  return resolve<T>(document, target);
}

/**
 * Requests in flight when the service's Redis goes away (down, or hung: redis.ts's watch) are
 * answered 503 then, rather than when Redis answers again: one timer for all, every 100 ms while
 * any request is in flight. A handler that answers later finds the answer sent.
 */
function inFlightGuard(unavailable: (() => string | undefined) | undefined) {
  const pending = new Map<Response, NextFunction>();
  let timer: NodeJS.Timeout | undefined;
  const check = () => {
    const why = unavailable?.();
    if (why !== undefined) {
      for (const [res, next] of pending) if (!res.headersSent) next(new ServiceUnavailableError(why));
      pending.clear();
    }
    if (pending.size === 0) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  return {
    add(_req: Request, res: Response, next: NextFunction) {
      pending.set(res, next);
      res.once('close', () => pending.delete(res));
      res.once('finish', () => pending.delete(res));
      if (!timer) {
        timer = setInterval(check, 100);
        timer.unref();
      }
    },
  };
}
