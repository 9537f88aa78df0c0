import type { Request } from 'express';
import { Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { openApiInfo } from './openapi.js';

export interface HttpMetrics {
  registry: Registry;
  /** Records one answered request. */
  observe(req: Request, status: number, seconds: number): void;
}

/**
 * Request latency by route and status, in a registry of the app's own; the histogram's
 * `_count` series is the request count. Each label set's child is kept, so a request costs one
 * map lookup rather than hashing its labels.
 */
export function createHttpMetrics(service: string): HttpMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency, by method, route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const children = new Map<string, ReturnType<typeof duration.labels>>();
  return {
    registry,
    observe(req, status, seconds) {
      const route = routeOf(req);
      const key = `${req.method} ${route} ${status}`;
      let child = children.get(key);
      if (!child) {
        child = duration.labels({ method: req.method, route, status: String(status) });
        children.set(key, child);
      }
      child.observe(seconds);
    },
  };
}

/** The route template, never the raw path: raw paths would make a label per service name. */
function routeOf(req: Request): string {
  const route = openApiInfo(req)?.route;
  if (route) return route;
  if (OPEN_PATHS.has(req.path)) return req.path;
  return 'unmatched';
}

const OPEN_PATHS = new Set(['/healthz', '/readyz', '/openapi.json', '/metrics']);
