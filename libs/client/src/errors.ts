// errors.ts: the errors TugClient throws. Each class has a stable `name` and an `isX` guard that
// tests the name (not instanceof), so guards work across module copies. The guards also accept
// @tugboat/store's errors of the same meaning (same names: NotFoundError, ConflictError, ...),
// so code tested against a fake store and run against the API handles both alike.
//
// gRPC status -> error, as the API contract in proto/tug/v1/api.proto defines it:
//   INVALID_ARGUMENT  InvalidError         ALREADY_EXISTS  AlreadyExistsError
//   NOT_FOUND         NotFoundError        ABORTED         ConflictError
//   OUT_OF_RANGE      ExpiredError         every endpoint failed (UNAVAILABLE, DEADLINE_EXCEEDED,
//   any other status  ApiError              connection refused) until the budget ran out: UnavailableError
import { Status, isGrpcError, statusName } from '@tugboat/proto';
import type { StatusCode } from '@tugboat/proto';

/** ApiError is a request the API refused or failed; `message` is the server's message. */
export class ApiError extends Error {
  override readonly name: string = 'ApiError';
  /** code is the gRPC status code the call ended with. */
  readonly code: StatusCode;
  /** endpoint is the API address that answered ("" when no single endpoint did). */
  readonly endpoint: string;

  constructor(code: StatusCode, message: string, options: { endpoint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.endpoint = options.endpoint ?? '';
  }

  /** codeName is the name of the gRPC status ("NOT_FOUND"). */
  get codeName(): string {
    return statusName(this.code);
  }

  /** reason is the Kubernetes-style reason of the error ("NotFound", "Conflict", ...). */
  get reason(): string {
    return reasons.get(this.name) ?? codeReasons.get(this.code) ?? statusName(this.code);
  }
}

/** NotFoundError: the object (or its namespace) does not exist. */
export class NotFoundError extends ApiError {
  override readonly name = 'NotFoundError';
}

/** AlreadyExistsError: create of an object whose name is taken. */
export class AlreadyExistsError extends ApiError {
  override readonly name = 'AlreadyExistsError';
}

/** ConflictError: the stored resourceVersion is not the expected one; read again and retry. */
export class ConflictError extends ApiError {
  override readonly name = 'ConflictError';
}

/** InvalidError: the object or request is invalid; the message names the field. Nothing was written. */
export class InvalidError extends ApiError {
  override readonly name = 'InvalidError';
}

/** ExpiredError: a watch asked for a revision older than the kept history; list again. */
export class ExpiredError extends ApiError {
  override readonly name = 'ExpiredError';
}

/** EndpointFailure is why one endpoint could not serve a request. */
export interface EndpointFailure {
  readonly endpoint: string;
  readonly code: StatusCode;
  readonly message: string;
  /** reachable is false when no connection to the endpoint was established. */
  readonly reachable: boolean;
}

/**
 * UnavailableError: no endpoint could serve the request before the retry budget ran out (or
 * every endpoint was unreachable several rounds in a row). `failures` holds the last failure of
 * each endpoint tried, in endpoint order; the message names each endpoint and why. A write that
 * ends this way may or may not have been applied: retrying it with the same request id is safe.
 */
export class UnavailableError extends ApiError {
  override readonly name = 'UnavailableError';
  readonly failures: readonly EndpointFailure[];

  constructor(failures: readonly EndpointFailure[], summary: string) {
    const detail = failures.map((f) => `${f.endpoint}: ${describeFailure(f)}`).join('; ');
    super(Status.UNAVAILABLE, detail === '' ? summary : `${summary}: ${detail}`);
    this.failures = failures;
  }
}

/** describeFailure says in a few words why an endpoint failed. */
export function describeFailure(f: EndpointFailure): string {
  // grpc-js words connection failures as "No connection established. Last error: Error: connect
  // ECONNREFUSED 127.0.0.1:1 (...)"; keep the part that says why.
  const m = /Last error: (?:Error: )?([^(]*?)(?:\s*\(|\.?\s*Resolution note|$)/.exec(f.message);
  const why = m?.[1]?.trim() || f.message || statusName(f.code);
  if (!f.reachable) return `unreachable (${why})`;
  return f.code === Status.DEADLINE_EXCEEDED ? `timed out (${why})` : `${statusName(f.code)}: ${why}`;
}

const reasons = new Map<string, string>([
  ['NotFoundError', 'NotFound'],
  ['AlreadyExistsError', 'AlreadyExists'],
  ['ConflictError', 'Conflict'],
  ['InvalidError', 'Invalid'],
  ['ExpiredError', 'Expired'],
  ['UnavailableError', 'Unavailable'],
]);

/** The Kubernetes-style reasons of statuses that have no error class of their own. */
const codeReasons = new Map<number, string>([
  [Status.PERMISSION_DENIED, 'Forbidden'],
  [Status.UNAUTHENTICATED, 'Unauthorized'],
]);

const apiErrorNames = new Set(['ApiError', ...reasons.keys()]);

function named(e: unknown, name: string): boolean {
  return e instanceof Error && e.name === name;
}

/** isApiError tells whether e is an error of this client (any class above). */
export function isApiError(e: unknown): e is ApiError {
  return e instanceof Error && apiErrorNames.has(e.name) && typeof (e as { code?: unknown }).code === 'number';
}

/** isNotFound tells whether e says the object does not exist. */
export function isNotFound(e: unknown): e is NotFoundError {
  return named(e, 'NotFoundError');
}

/** isAlreadyExists tells whether e says the name is taken. */
export function isAlreadyExists(e: unknown): e is AlreadyExistsError {
  return named(e, 'AlreadyExistsError');
}

/** isConflict tells whether e is a resourceVersion conflict. */
export function isConflict(e: unknown): e is ConflictError {
  return named(e, 'ConflictError');
}

/** isInvalid tells whether e says the request or object is invalid. */
export function isInvalid(e: unknown): e is InvalidError {
  return named(e, 'InvalidError');
}

/** isExpired tells whether e says a watch revision is older than the kept history. */
export function isExpired(e: unknown): e is ExpiredError {
  return named(e, 'ExpiredError');
}

/** isUnavailable tells whether e says no endpoint could serve the request. */
export function isUnavailable(e: unknown): e is UnavailableError {
  return named(e, 'UnavailableError');
}

/** fromGrpcError turns a failed call into the matching ApiError; other errors are returned as they are. */
export function fromGrpcError(err: unknown, endpoint = ''): unknown {
  if (!isGrpcError(err)) return err;
  const opts = { endpoint, cause: err };
  switch (err.code) {
    case Status.NOT_FOUND:
      return new NotFoundError(err.code, err.message, opts);
    case Status.ALREADY_EXISTS:
      return new AlreadyExistsError(err.code, err.message, opts);
    case Status.ABORTED:
      return new ConflictError(err.code, err.message, opts);
    case Status.INVALID_ARGUMENT:
      return new InvalidError(err.code, err.message, opts);
    case Status.OUT_OF_RANGE:
      return new ExpiredError(err.code, err.message, opts);
    default:
      return new ApiError(err.code, err.message, opts);
  }
}
