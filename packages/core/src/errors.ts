/**
 * One errors module for every service. Each error names its HTTP status; the problem
 * middleware (problem.ts) turns them into application/problem+json answers.
 */
export interface FieldError {
  path: string;
  message: string;
}

interface SlipwayErrorOptions {
  cause?: unknown;
  errors?: FieldError[];
  /**
   * A stable name for this refusal (`no-base-image`), sent in the problem+json with `args`, the
   * facts it is about: a face (the CLI) says it in its own words rather than parse `detail`.
   */
  code?: string;
  args?: Record<string, string>;
}

export abstract class SlipwayError extends Error {
  abstract readonly status: number;
  readonly errors?: FieldError[];
  readonly code?: string;
  readonly args?: Record<string, string>;

  constructor(message: string, options: SlipwayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    if (options.errors) this.errors = options.errors;
    if (options.code) this.code = options.code;
    if (options.args) this.args = options.args;
  }
}

export class InputError extends SlipwayError {
  readonly status = 400;
}
export class NotAuthenticatedError extends SlipwayError {
  readonly status = 401;
}
export class NotAllowedError extends SlipwayError {
  readonly status = 403;
}
export class NotFoundError extends SlipwayError {
  readonly status = 404;
}
export class ConflictError extends SlipwayError {
  readonly status = 409;
}
/** A conditional write (If-Match) whose condition no longer holds. */
export class PreconditionFailedError extends SlipwayError {
  readonly status = 412;
}
export class PayloadTooLargeError extends SlipwayError {
  readonly status = 413;
}
export class UnsupportedMediaTypeError extends SlipwayError {
  readonly status = 415;
}
export class UnprocessableError extends SlipwayError {
  readonly status = 422;
}
/** Too much at once from one caller, or from all: answered with Retry-After. */
export class TooManyRequestsError extends SlipwayError {
  readonly status = 429;
  constructor(
    message: string,
    readonly retryAfterSeconds = 5,
  ) {
    super(message);
  }
}
export class ServiceUnavailableError extends SlipwayError {
  readonly status = 503;
}
/** A quota on stored bytes is used up. */
export class InsufficientStorageError extends SlipwayError {
  readonly status = 507;
}

export function isSlipwayError(error: unknown): error is SlipwayError {
  return error instanceof SlipwayError;
}

const errorByStatus: Record<number, new (message: string, options?: SlipwayErrorOptions) => SlipwayError> = {
  400: InputError,
  401: NotAuthenticatedError,
  403: NotAllowedError,
  404: NotFoundError,
  409: ConflictError,
  412: PreconditionFailedError,
  413: PayloadTooLargeError,
  415: UnsupportedMediaTypeError,
  422: UnprocessableError,
  503: ServiceUnavailableError,
  507: InsufficientStorageError,
};

/** The error a peer's problem+json answer stands for, so callers can catch it by class. */
export function errorForStatus(status: number, message: string, options: SlipwayErrorOptions = {}): Error {
  const ErrorClass = errorByStatus[status];
  if (ErrorClass) return new ErrorClass(message, options);
  return new Error(`${message} (HTTP ${status})`, options.cause === undefined ? undefined : { cause: options.cause });
}
