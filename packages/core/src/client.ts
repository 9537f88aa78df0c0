/**
 * Typed clients for the services' REST APIs, from the types openapi-typescript generates:
 * `createServiceClient<paths>({ baseUrl, token })`. Every call carries the bearer token and
 * the request id; `unwrap()` turns a problem+json answer into the matching error class.
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import { errorForStatus, type FieldError } from './errors.js';
import { currentRequestId } from './request-context.js';

export interface ServiceClientOptions {
  baseUrl: string;
  token?: string;
  requestId?: string;
  fetch?: ClientOptions['fetch'];
  /** Sent with every request (a face's X-Slipway-Act-As, say). */
  headers?: Record<string, string>;
  /** Per-request timeout in milliseconds (default 10 s). */
  timeoutMs?: number;
}

export function createServiceClient<Paths extends {}>(options: ServiceClientOptions): Client<Paths> {
  const client = createClient<Paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  client.use({
    onRequest({ request }) {
      if (options.token) request.headers.set('Authorization', `Bearer ${options.token}`);
      for (const [name, value] of Object.entries(options.headers ?? {})) request.headers.set(name, value);
      // The id given, else the one of the request being served: one id across the services.
      const requestId = options.requestId ?? currentRequestId();
      if (requestId) request.headers.set('X-Request-Id', requestId);
      return new Request(request, { signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) });
    },
  });
  return client;
}

interface FetchResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The answer's data, or the problem it carried thrown as the matching error class. */
export function unwrap<T>(result: FetchResult<T>): T {
  if (result.response.ok) return result.data as T;
  const problem = (result.error ?? {}) as { detail?: string; title?: string; errors?: FieldError[] };
  const detail = problem.detail ?? problem.title ?? `${result.response.status} ${result.response.statusText}`;
  throw errorForStatus(result.response.status, detail, problem.errors ? { errors: problem.errors } : {});
}
