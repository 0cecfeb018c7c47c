/**
 * Errors the store answers for expected failures. Each class has a stable `name` and a
 * `reason` named after the Kubernetes status reason it maps to; test with
 * `isStoreError(e, 'Conflict')` (by name, so it works across module copies).
 */
import type { ObjectRef } from './types.ts';

export type StoreErrorReason = 'AlreadyExists' | 'NotFound' | 'Conflict' | 'Invalid' | 'Expired';

/** Details are the machine-readable facts of an error, kept with the request-id record and in snapshots. */
export interface StoreErrorDetails {
  /** Object the failing op was about. */
  readonly ref?: ObjectRef;
  /** Position of the failing op in its transaction, from 0. */
  readonly opIndex?: number;
  /** Conflict: the resourceVersion (or uid) the caller expected, and the stored one. */
  readonly expected?: string;
  readonly actual?: string;
  /** Conflict: 'uid' when `expected` and `actual` are uids (absent: resourceVersions). */
  readonly field?: 'uid';
  /** Expired: the revision asked for, and the oldest revision a watch may start from now. */
  readonly requested?: number;
  readonly oldestRevision?: number;
}

/** StoreError is the base of every store error; `reason` says which one. */
export class StoreError extends Error {
  override readonly name: string = 'StoreError';
  readonly reason: StoreErrorReason;
  readonly details: StoreErrorDetails;
  constructor(reason: StoreErrorReason, message: string, details: StoreErrorDetails = {}) {
    super(message);
    this.reason = reason;
    this.details = details;
  }
}

/** AlreadyExistsError: create of an object that exists (or a `notExists` precondition failed). */
export class AlreadyExistsError extends StoreError {
  override readonly name = 'AlreadyExistsError';
  constructor(message: string, details: StoreErrorDetails = {}) {
    super('AlreadyExists', message, details);
  }
}

/** NotFoundError: update, delete or check of a missing object, or create in a missing namespace. */
export class NotFoundError extends StoreError {
  override readonly name = 'NotFoundError';
  constructor(message: string, details: StoreErrorDetails = {}) {
    super('NotFound', message, details);
  }
}

/** ConflictError: the stored resourceVersion (or uid) is not the one the caller expected. */
export class ConflictError extends StoreError {
  override readonly name = 'ConflictError';
  constructor(message: string, details: StoreErrorDetails = {}) {
    super('Conflict', message, details);
  }
}

/** InvalidError: a malformed command or object (the message names the field). Nothing was written. */
export class InvalidError extends StoreError {
  override readonly name = 'InvalidError';
  constructor(message: string, details: StoreErrorDetails = {}) {
    super('Invalid', message, details);
  }
}

/**
 * ExpiredError: a watch asked for a revision older than the kept history, or fell so far behind
 * that its next event left the history. The client must list again and watch from the list's
 * revision. `details.oldestRevision` is the oldest revision a watch may start from now.
 */
export class ExpiredError extends StoreError {
  override readonly name = 'ExpiredError';
  constructor(message: string, details: StoreErrorDetails = {}) {
    super('Expired', message, details);
  }
}

const names: Readonly<Record<StoreErrorReason, string>> = {
  AlreadyExists: 'AlreadyExistsError',
  NotFound: 'NotFoundError',
  Conflict: 'ConflictError',
  Invalid: 'InvalidError',
  Expired: 'ExpiredError',
};

/** isStoreError tells whether `e` is a store error, of the given reason when one is given. */
export function isStoreError(e: unknown, reason?: StoreErrorReason): e is StoreError {
  if (!(e instanceof Error)) return false;
  const r = (e as { reason?: unknown }).reason;
  if (typeof r !== 'string' || !Object.hasOwn(names, r) || names[r as StoreErrorReason] !== e.name) return false;
  return reason === undefined || r === reason;
}

/** isExpiredError: shorthand for `isStoreError(e, 'Expired')`. */
export function isExpiredError(e: unknown): e is ExpiredError {
  return isStoreError(e, 'Expired');
}

/** newStoreError builds the error class that matches `reason`. */
export function newStoreError(reason: StoreErrorReason, message: string, details: StoreErrorDetails = {}): StoreError {
  switch (reason) {
    case 'AlreadyExists':
      return new AlreadyExistsError(message, details);
    case 'NotFound':
      return new NotFoundError(message, details);
    case 'Conflict':
      return new ConflictError(message, details);
    case 'Invalid':
      return new InvalidError(message, details);
    case 'Expired':
      return new ExpiredError(message, details);
  }
}

/** isStoreErrorReason tells whether `s` names a store error reason. */
export function isStoreErrorReason(s: unknown): s is StoreErrorReason {
  return typeof s === 'string' && Object.hasOwn(names, s);
}
