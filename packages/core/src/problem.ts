/**
 * The one error middleware: every error becomes an application/problem+json answer
 * (RFC 9457: type, title, status, detail, instance, plus errors[] for validation failures).
 * Only 5xx are logged as errors; their detail is never sent to the caller.
 */
import type { ErrorRequestHandler, Request, Response } from 'express';
import { STATUS_CODES } from 'node:http';
import { isSlipwayError, TooManyRequestsError, type FieldError } from './errors.js';
import type { Logger } from './logger.js';
import { isRedisConnectionError, redisRefusal } from './redis-errors.js';

/** Seconds a client is told to wait before trying again after a 503. */
export const RETRY_AFTER_SECONDS = 1;

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  requestId?: string;
  errors?: FieldError[];
  /** A stable name for the refusal and the facts it is about (SlipwayError's `code` and `args`). */
  code?: string;
  args?: Record<string, string>;
}

type Coded = Pick<Problem, 'code' | 'args'>;

interface HttpLikeError {
  status?: number;
  statusCode?: number;
  type?: string;
  message?: string;
  errors?: Array<{ path?: string; message?: string }>;
}

export function problemType(status: number): string {
  const title = STATUS_CODES[status] ?? 'Error';
  return `https://slipway.dev/problems/${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
}

export function sendProblem(
  req: Request,
  res: Response,
  status: number,
  detail: string,
  errors?: FieldError[],
  coded: Coded = {},
): void {
  const problem: Problem = {
    type: problemType(status),
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    instance: req.originalUrl.split('?')[0],
  };
  const requestId = res.getHeader('x-request-id');
  if (typeof requestId === 'string') problem.requestId = requestId;
  if (errors && errors.length > 0) problem.errors = errors;
  if (coded.code) problem.code = coded.code;
  if (coded.args) problem.args = coded.args;
  res.status(status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
}

export function toProblem(error: unknown): { status: number; detail: string; errors?: FieldError[] } & Coded {
  if (isSlipwayError(error)) {
    return {
      status: error.status,
      detail: error.message,
      ...(error.errors ? { errors: error.errors } : {}),
      ...(error.code ? { code: error.code } : {}),
      ...(error.args ? { args: error.args } : {}),
    };
  }
  if (isRedisConnectionError(error)) return { status: 503, detail: 'Redis is unreachable; try again shortly' };
  const refusal = redisRefusal(error);
  if (refusal) return { status: 503, detail: refusal };
  const http = error as HttpLikeError | undefined;
  const status = http?.status ?? http?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return fromClientError(status, http!);
  }
  return { status: 500, detail: 'internal error; the service log has the details' };
}

function fromClientError(
  status: number,
  error: HttpLikeError,
): { status: number; detail: string; errors?: FieldError[] } {
  // body-parser's own errors
  if (error.type === 'entity.too.large') return { status, detail: 'request body is larger than this service accepts' };
  if (error.type === 'entity.parse.failed') return { status: 400, detail: 'request body is not valid JSON' };
  if (error.type === 'encoding.unsupported' || error.type === 'charset.unsupported') {
    return { status: 415, detail: error.message ?? 'unsupported encoding' };
  }
  const errors: FieldError[] = (error.errors ?? []).map((e) => ({
    path: String(e.path ?? ''),
    message: String(e.message ?? ''),
  }));
  const detail = errors.length > 0 ? errors.map((e) => `${e.path}: ${e.message}`).join('; ') : (error.message ?? '');
  return { status, detail: detail || (STATUS_CODES[status] ?? 'client error'), ...(errors.length ? { errors } : {}) };
}

export function problemMiddleware(logger: Logger): ErrorRequestHandler {
  return (error, req, res, next) => {
    if (res.headersSent) {
      // Answered already (503 while Redis was away): what the handler met afterwards is moot.
      if (res.writableEnded) return;
      next(error);
      return;
    }
    const problem = toProblem(error);
    if (problem.status === 503) {
      // An outage of a dependency, not a bug: no stack (the request's own line says 503), a hint to retry.
      if (!res.hasHeader('Retry-After')) res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
    } else if (problem.status >= 500) {
      logger.error({ err: error, reqId: req.headers['x-request-id'] }, 'request failed');
    }
    if (error instanceof TooManyRequestsError) res.setHeader('Retry-After', String(error.retryAfterSeconds));
    const allow = (error as { allow?: unknown } | undefined)?.allow;
    if (problem.status === 405 && typeof allow === 'string') res.setHeader('Allow', allow);
    sendProblem(req, res, problem.status, problem.detail, problem.errors, problem);
  };
}
