/**
 * The app every service is built from: request id, JSON logs, metrics, health and readiness,
 * the OpenAPI document and validation, bearer auth, and problem+json errors. A service adds
 * only its routes.
 */
import express, {
  type ErrorRequestHandler,
  type Express,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import { randomUUID } from 'node:crypto';
import { withRequestId } from './request-context.js';
import { bearerToken, type TokenVerifier } from './auth.js';
import { redactUrl, type Logger } from './logger.js';
import type { Registry } from 'prom-client';
import { createHttpMetrics } from './metrics.js';
import { openApiMiddleware, type ApiKeyVerifier, type OpenApiDocument, type OperationHandlers } from './openapi.js';
import { DEFAULT_INPUT_LIMITS, requestInputCheck, type InputLimits } from './input-limits.js';
import { RESPONSE_AUDIT, responseAudit } from './openapi-responses.js';
import { problemMiddleware, sendProblem } from './problem.js';
import { NotFoundError } from './errors.js';

/** Each check resolves when its dependency answers and rejects with the reason otherwise. */
export type ReadinessChecks = Record<string, () => Promise<unknown>>;

export interface ServiceAppOptions {
  name: string;
  openapi: OpenApiDocument;
  tokens: TokenVerifier;
  logger: Logger;
  /** A handler for each operation of the document, by operationId. */
  operations: OperationHandlers;
  readiness?: ReadinessChecks;
  /**
   * Why the service cannot answer now (its Redis is down, say), or undefined. While it says
   * something every authenticated API request gets a prompt 503 with Retry-After, before its
   * body is read; a request without a good token still gets its 401.
   */
  unavailable?: () => string | undefined;
  /** Largest JSON body accepted; bigger → 413. Default 1 MiB. */
  bodyLimit?: string | number;
  /** Depth, key and string limits on every request's query and JSON body (input-limits.ts). */
  inputLimits?: Partial<InputLimits>;
  /** Media types parsed as JSON besides application/json. */
  jsonTypes?: string[];
  /** Checks for the document's apiKey security schemes, by scheme name. */
  apiKeys?: Record<string, ApiKeyVerifier>;
  /**
   * For services that call peers: the typed clients pass the incoming request id on. It is
   * opt-in because on Node 20 the AsyncLocalStorage behind it slows every request's promises
   * (bench/metadata: 203 → 277 µs of CPU a request), and most services call no one.
   */
  forwardRequestIds?: boolean;
  /** The service's own metrics, served at /metrics beside the HTTP ones. */
  metrics?: Registry;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function createServiceApp(options: ServiceAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  const metrics = createHttpMetrics(options.name);
  const isToken = remembered((value: string) => options.tokens.verify(value) !== undefined);
  // A token put in the query string by mistake never reaches the log.
  const logUrl = remembered((url: string) => redactUrl(url, isToken));
  const own = options.metrics;
  // Two registries' texts one after the other (merging them would drop the default labels).
  const metricsText = async () =>
    own ? `${await metrics.registry.metrics()}\n${await own.metrics()}` : metrics.registry.metrics();
  const openapiText = JSON.stringify(options.openapi);

  // One front layer for what every request gets (request id, a log line and a metric when it
  // ends) and for the open endpoints.
  const handOn = options.forwardRequestIds
    ? (id: string, next: () => void) => withRequestId(id, next)
    : (_id: string, next: () => void) => next();
  const front: RequestHandler = (req, res, next) => {
    const started = process.hrtime.bigint();
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    req.headers['x-request-id'] = id;
    res.setHeader('X-Request-Id', id);
    res.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.observe(req, res.statusCode, seconds);
      logRequest(options.logger, logUrl, req, res, id, seconds);
    });
    if (req.method !== 'GET' && req.method !== 'HEAD') return handOn(id, next);
    switch (req.path) {
      case '/healthz':
        return sendText(res, 200, JSON_TYPE, JSON.stringify({ status: 'ok', service: options.name }));
      case '/openapi.json':
        return sendText(res, 200, JSON_TYPE, openapiText);
      case '/readyz':
        // Ready or not, nothing more: why not (a dependency's error) is for the log, not for anyone who asks.
        return void readiness(options.readiness ?? {}).then(({ ready, failed }) => {
          if (!ready) options.logger.warn({ checks: failed }, 'not ready');
          sendText(res, ready ? 200 : 503, JSON_TYPE, JSON.stringify({ status: ready ? 'ok' : 'not ready' }));
        });
      case '/metrics':
        // Versions, commits and image ids: for a scraper with a token, not for anyone.
        if (!metricsAllowed(options.tokens, req.headers.authorization))
          return sendProblem(req, res, 401, 'metrics need a bearer token (Authorization: Bearer <token>), any role');
        return void metricsText().then((text) => sendText(res, 200, metrics.registry.contentType, text), next);
      default:
        return handOn(id, next);
    }
  };

  const audit = (globalThis as Record<symbol, unknown>)[RESPONSE_AUDIT];

  // The body is read by the router once the request is authenticated: bad JSON without a
  // token is a 401, and nobody unauthenticated gets a megabyte parsed.
  const bodyParser = express.json({
    limit: options.bodyLimit ?? '1mb',
    strict: false,
    type: ['application/json', ...(options.jsonTypes ?? [])],
    // Kept for the handlers that check a signature over the exact bytes (GitHub's webhooks).
    verify: (req, _res, buffer) => void ((req as { rawBody?: Buffer }).rawBody = buffer),
  });
  const router = openApiMiddleware(options.openapi, options.tokens, options.operations, {
    bodyParser,
    checkInput: requestInputCheck({ ...DEFAULT_INPUT_LIMITS, ...options.inputLimits }),
    ...(options.apiKeys ? { apiKeys: options.apiKeys } : {}),
    ...(options.unavailable ? { unavailable: options.unavailable } : {}),
  });
  const layers = [front, router];
  if (typeof audit === 'function')
    layers.splice(1, 0, responseAudit(options.openapi, audit as (violation: string) => void));
  dispatchDirectly(app, layers, problemMiddleware(options.logger));
  return app;
}

/**
 * Every request goes through `layers` in order, an error to `onError`, without express's router:
 * the OpenAPI document is the router here (openapi.ts), and express's dispatch (closures to
 * restore req.baseUrl, req.next and req.params, a path match and a params pass per layer) was a
 * sixth of a cached read's JavaScript (bench/config). What express's own app.handle does that a
 * handler relies on is kept: req.res and res.req, the prototypes that give res.json and req.path,
 * res.locals, req.originalUrl. What onError passes on (an error once the answer has begun) ends
 * the connection, as express's final handler does.
 */
function dispatchDirectly(app: Express, layers: RequestHandler[], onError: ErrorRequestHandler): void {
  const handle = (req: Request, res: Response, done?: (error?: unknown) => void) => {
    req.res = res;
    res.req = req;
    Object.setPrototypeOf(req, app.request);
    Object.setPrototypeOf(res, app.response);
    res.locals ??= Object.create(null);
    req.originalUrl ||= req.url;
    req.baseUrl = '';
    const unanswered = done ?? (() => req.socket.destroy());
    const fail = (error: unknown) => {
      try {
        onError(error, req, res, unanswered);
      } catch (failure) {
        unanswered(failure);
      }
    };
    let index = 0;
    const next = (error?: unknown) => {
      if (error) return fail(error);
      const layer = layers[index++];
      if (!layer) return fail(new NotFoundError(`no such resource: ${req.method} ${req.path}`));
      try {
        const result: unknown = layer(req, res, next);
        if (result instanceof Promise) result.catch(fail);
      } catch (failure) {
        fail(failure);
      }
    };
    next();
  };
  (app as Express & { handle: typeof handle }).handle = handle;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

const JSON_TYPE = 'application/json; charset=utf-8';
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * One log line per request when it ends, with its request id (pino-http's child logger per
 * request cost a fifth of our throughput). Never the headers: they carry the bearer token.
 */
function logRequest(
  logger: Logger,
  logUrl: (url: string) => string,
  req: Request,
  res: Response,
  id: string,
  seconds: number,
): void {
  if (QUIET_PATHS.has(req.path) && res.statusCode < 500) return;
  const fields = {
    reqId: id,
    req: { method: req.method, url: req.originalUrl.includes('?') ? logUrl(req.originalUrl) : req.originalUrl },
    res: { statusCode: res.statusCode },
    responseTime: seconds * 1000,
  };
  if (res.statusCode >= 500) logger.error(fields, 'request failed');
  else logger.info(fields, 'request completed');
}

/**
 * What `judge` says of a value, remembered for the last 1,000 values judged: the same commit id
 * in every request's query was hashed to tell whether it is a token, and its URL redacted for
 * the log line, each time (bench/config).
 */
function remembered<T>(judge: (value: string) => T): (value: string) => T {
  const judged = new Map<string, T>();
  return (value) => {
    let verdict = judged.get(value);
    if (verdict === undefined) {
      verdict = judge(value);
      if (judged.size >= 1000) judged.delete(judged.keys().next().value!);
      judged.set(value, verdict);
    }
    return verdict;
  };
}

async function readiness(checks: ReadinessChecks) {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        await withTimeout(check(), 2000);
        return [name, 'ok'] as const;
      } catch (error) {
        return [name, (error as Error).message || 'not ready'] as const;
      }
    }),
  );
  const failed = Object.fromEntries(results.filter(([, state]) => state !== 'ok'));
  return { ready: Object.keys(failed).length === 0, failed };
}

/** Whether a request may read /metrics: any valid bearer token. */
export function metricsAllowed(tokens: TokenVerifier, authorization: string | undefined): boolean {
  const token = bearerToken(authorization);
  return token !== undefined && tokens.verify(token) !== undefined;
}

/**
 * Sends a body that is already text (a cached JSON answer, say) in one write: no mime lookup,
 * no re-encoding, Content-Length set by Node from the whole body.
 */
export function sendText(res: Response, status: number, contentType: string, body: string | Buffer): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.end(body);
}

/** The exact bytes of a JSON request's body, for checking a signature over them. */
export function rawBodyOf(req: Request): Buffer | undefined {
  return (req as Request & { rawBody?: Buffer }).rawBody;
}
