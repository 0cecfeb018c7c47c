/**
 * How a Delete request becomes a store delete op (proto/tug/v1/api.proto DeleteRequest): the
 * leader decides, against the object it has stored, whether the delete removes the object or
 * only marks it for graceful deletion, and turns the options into the op's guards.
 *
 * - A Pod bound to a node (spec.nodeName) with an effective grace above 0 is marked: the
 *   store sets metadata.deletionTimestamp (now + grace, whole seconds) and
 *   deletionGracePeriodSeconds, or shortens a deletion under way (see libs/store DeleteOp).
 *   The effective grace is the request's, else the pod's spec.terminationGracePeriodSeconds,
 *   else 30. Its agent stops the containers and then deletes the pod with grace 0.
 * - Everything else (other kinds, unbound pods, grace 0) is removed at once.
 * - A pod bound between this decision and the write is removed at once all the same; its agent
 *   stops what it started when it sees the pod gone.
 */
import { GrpcError, Status } from '@tugboat/proto';
import { rfc3339 } from '@tugboat/store';
import type { DeleteOp, GracefulDeletion, ObjectRef, StoredObject } from '@tugboat/store';

/** DEFAULT_GRACE_SECONDS is a pod's grace when its spec names none. */
export const DEFAULT_GRACE_SECONDS = 30;
/** MAX_GRACE_SECONDS bounds a grace period (about ten years): the deletion time must stay a valid date. */
export const MAX_GRACE_SECONDS = 315_360_000;

/** DeleteRequestOptions are a Delete request's options, as the generated message has them. */
export interface DeleteRequestOptions {
  readonly expectedResourceVersion: string;
  readonly gracePeriodSeconds?: bigint | undefined;
  readonly propagationPolicy: string;
  readonly expectedUid: string;
}

function invalid(message: string): GrpcError {
  return new GrpcError(Status.INVALID_ARGUMENT, message);
}

/** requestedGrace checks grace_period_seconds; undefined when not given. */
export function requestedGrace(grace: bigint | undefined): number | undefined {
  if (grace === undefined) return undefined;
  if (grace < 0n) throw invalid(`grace_period_seconds: must not be negative, got ${grace}`);
  if (grace > BigInt(MAX_GRACE_SECONDS)) throw invalid(`grace_period_seconds: at most ${MAX_GRACE_SECONDS}, got ${grace}`);
  return Number(grace);
}

/** orphans reads propagation_policy: true for "Orphan", false for "" and "Background". */
export function orphans(policy: string): boolean {
  switch (policy) {
    case '':
    case 'Background':
      return false;
    case 'Orphan':
      return true;
    default:
      throw invalid(`propagation_policy: must be "Background" or "Orphan", got ${JSON.stringify(policy)}`);
  }
}

/**
 * gracefulDeletion is how `cur` is to be marked by a delete asking for `grace` (undefined: the
 * pod's own) at `nowMs`, or undefined when it is to be removed at once.
 */
export function gracefulDeletion(cur: StoredObject, grace: number | undefined, nowMs: number): GracefulDeletion | undefined {
  if (cur.kind !== 'Pod') return undefined;
  const spec = (cur.spec ?? {}) as { nodeName?: unknown; terminationGracePeriodSeconds?: unknown };
  if (typeof spec.nodeName !== 'string' || spec.nodeName === '') return undefined;
  const own = typeof spec.terminationGracePeriodSeconds === 'number' ? spec.terminationGracePeriodSeconds : DEFAULT_GRACE_SECONDS;
  const seconds = Math.min(grace ?? own, MAX_GRACE_SECONDS);
  if (seconds <= 0) return undefined;
  return { deletionTimestamp: rfc3339(nowMs + seconds * 1000), gracePeriodSeconds: seconds };
}

/** deleteOp is the store op for a Delete of `ref`, whose stored object is `cur` (undefined: the store answers NotFound). */
export function deleteOp(ref: ObjectRef, cur: StoredObject | undefined, req: DeleteRequestOptions, nowMs: number): DeleteOp {
  const grace = requestedGrace(req.gracePeriodSeconds);
  const orphan = orphans(req.propagationPolicy);
  const graceful = cur === undefined ? undefined : gracefulDeletion(cur, grace, nowMs);
  return {
    op: 'delete',
    ref,
    ...(req.expectedResourceVersion === '' ? {} : { expectedResourceVersion: req.expectedResourceVersion }),
    ...(req.expectedUid === '' ? {} : { expectedUid: req.expectedUid }),
    ...(graceful === undefined ? {} : { graceful }),
    ...(orphan ? { orphanDependents: true } : {}),
  };
}
