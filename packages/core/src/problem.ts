/**
 * The one error middleware: every error becomes an application/problem+json answer
 * (RFC 9457: type, title, status, detail, instance, plus errors[] for validation failures).
 * Only 5xx are logged as errors; their detail is never sent to the caller.
 */
import type { ErrorRequestHandler, Request, Response } from 'express';
import { STATUS_CODES } from 'node:http';
import { isSlipwayError, NotFoundError, type FieldError } from './errors.js';
import { ruleForPattern } from './naming.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  requestId?: string;
  errors?: FieldError[];
}

interface HttpLikeError {
  status?: number;
  statusCode?: number;
  type?: string;
  message?: string;
  errors?: Array<{ path?: string; message?: string }>;
  headers?: Record<string, string>;
}

export function problemType(status: number): string {
  const title = STATUS_CODES[status] ?? 'Error';
  return `https://slipway.dev/problems/${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
}

export function sendProblem(req: Request, res: Response, status: number, detail: string, errors?: FieldError[]): void {
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
  res.status(status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
}

export function toProblem(error: unknown): { status: number; detail: string; errors?: FieldError[] } {
  if (isSlipwayError(error)) {
    return { status: error.status, detail: error.message, ...(error.errors ? { errors: error.errors } : {}) };
  }
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
  // express-openapi-validator's errors carry errors[] with a path and a message each
  if (status === 401 && /authorization header/i.test(error.message ?? '')) {
    return { status, detail: 'a bearer token is required (Authorization: Bearer <token>)' };
  }
  const errors: FieldError[] = (error.errors ?? []).map((e) => ({
    path: String(e.path ?? ''),
    message: inWords(String(e.message ?? '')),
  }));
  const detail = errors.length > 0 ? errors.map((e) => `${e.path}: ${e.message}`).join('; ') : (error.message ?? '');
  return { status, detail: detail || (STATUS_CODES[status] ?? 'client error'), ...(errors.length ? { errors } : {}) };
}

/** `must match pattern "^[a-z0-9]{1,32}$"` → `must be lowercase letters and digits, …` */
function inWords(message: string): string {
  const pattern = /^must match pattern "(.*)"$/.exec(message)?.[1];
  const rule = pattern === undefined ? undefined : ruleForPattern(pattern);
  return rule ? `must be ${rule}` : message;
}

export const problemMiddleware: ErrorRequestHandler = (error, req, res, next) => {
  if (res.headersSent) {
    next(error);
    return;
  }
  const problem = toProblem(error);
  if (problem.status >= 500) {
    req.log?.error({ err: error }, 'request failed');
  }
  const allow = (error as HttpLikeError | undefined)?.headers?.Allow;
  if (problem.status === 405 && allow) res.setHeader('Allow', allow);
  sendProblem(req, res, problem.status, problem.detail, problem.errors);
};

export function notFoundMiddleware(req: Request): never {
  throw new NotFoundError(`no such resource: ${req.method} ${req.path}`);
}
