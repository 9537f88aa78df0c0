/**
 * The app every service is built from: request id, JSON logs, metrics, health and readiness,
 * the OpenAPI document and validation, bearer auth, and problem+json errors. A service adds
 * only its routes.
 */
import express, { type Express, type RequestHandler, type Router } from 'express';
import { randomUUID } from 'node:crypto';
import type { TokenVerifier } from './auth.js';
import type { Logger } from './logger.js';
import { createHttpMetrics } from './metrics.js';
import { openApiMiddleware, type ApiKeyVerifier, type OpenApiDocument } from './openapi.js';
import { notFoundMiddleware, problemMiddleware } from './problem.js';

/** Each check resolves when its dependency answers and rejects with the reason otherwise. */
export type ReadinessChecks = Record<string, () => Promise<unknown>>;

export interface ServiceAppOptions {
  name: string;
  openapi: OpenApiDocument;
  tokens: TokenVerifier;
  logger: Logger;
  routes: Router;
  readiness?: ReadinessChecks;
  /** Largest JSON body accepted; bigger → 413. Default 1 MiB. */
  bodyLimit?: string | number;
  /** Media types parsed as JSON besides application/json. */
  jsonTypes?: string[];
  /** Checks for the document's apiKey security schemes, by scheme name. */
  apiKeys?: Record<string, ApiKeyVerifier>;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function createServiceApp(options: ServiceAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  const metrics = createHttpMetrics(options.name);

  app.use((req, res, next) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    req.headers['x-request-id'] = id;
    res.setHeader('X-Request-Id', id);
    next();
  });
  app.use(requestLog(options.logger));
  app.use(metrics.middleware);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', service: options.name });
  });
  app.get('/readyz', async (_req, res) => {
    const results = await Promise.all(
      Object.entries(options.readiness ?? {}).map(async ([name, check]) => {
        try {
          await withTimeout(check(), 2000);
          return [name, 'ok'] as const;
        } catch (error) {
          return [name, (error as Error).message || 'not ready'] as const;
        }
      }),
    );
    const ready = results.every(([, state]) => state === 'ok');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ok' : 'not ready', checks: Object.fromEntries(results) });
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(options.openapi);
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.use(
    express.json({
      limit: options.bodyLimit ?? '1mb',
      strict: false,
      type: ['application/json', ...(options.jsonTypes ?? [])],
    }),
  );
  app.use(openApiMiddleware(options.openapi, options.tokens, options.apiKeys));
  app.use(options.routes);
  app.use(notFoundMiddleware);
  app.use(problemMiddleware(options.logger));
  return app;
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

const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * One log line per request when it ends, with its request id (pino-http's child logger per
 * request cost a fifth of our throughput). Never the headers: they carry the bearer token.
 */
function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const id = req.headers['x-request-id'] as string;
    res.once('finish', () => {
      if (QUIET_PATHS.has(req.path) && res.statusCode < 500) return;
      const fields = {
        reqId: id,
        req: { method: req.method, url: req.originalUrl },
        res: { statusCode: res.statusCode },
        responseTime: Number(process.hrtime.bigint() - started) / 1e6,
      };
      if (res.statusCode >= 500) logger.error(fields, 'request failed');
      else logger.info(fields, 'request completed');
    });
    next();
  };
}
