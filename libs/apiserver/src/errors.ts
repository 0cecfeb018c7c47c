/**
 * How the API answers failures (proto/tug/v1/api.proto): store errors become their gRPC codes
 * with messages a user can read as they are (`tug` prints "Error from server (NotFound): ..."),
 * Raft driver errors become UNAVAILABLE (retry with the same request id, possibly elsewhere) or
 * DEADLINE_EXCEEDED (the write may still be applied); a command over the store's size limit is
 * RESOURCE_EXHAUSTED.
 */
import { findKind } from '@tugboat/api';
import { GrpcError, Status, isGrpcError } from '@tugboat/proto';
import {
  isNotLeaderError,
  isProposalDroppedError,
  isRaftRequestError,
  isRaftStoppedError,
  isRaftTimeoutError,
} from '@tugboat/raft';
import { isStoreError } from '@tugboat/store';
import type { StoreError } from '@tugboat/store';

/** resourceName is the lower-case plural Kubernetes uses in messages ("configmaps"). */
export function resourceName(kind: string): string {
  return findKind(kind)?.plural ?? kind.toLowerCase();
}

/** describeRef names an object as Kubernetes messages do: `configmaps "web"`, plus the namespace. */
export function describeRef(kind: string, namespace: string, name: string): string {
  return namespace === '' ? `${resourceName(kind)} "${name}"` : `${resourceName(kind)} "${name}" in namespace "${namespace}"`;
}

/** The verb of the write that failed: it words NotFound differently for creates. */
export type WriteVerb = 'create' | 'update' | 'delete' | 'txn';

function storeMessage(e: StoreError, verb: WriteVerb | 'read'): string {
  const ref = e.details.ref;
  const op = e.details.opIndex;
  const prefix = verb === 'txn' && op !== undefined ? `ops[${op}]: ` : '';
  if (ref === undefined) return `${prefix}${e.message}`;
  const ns = ref.namespace ?? '';
  switch (e.reason) {
    case 'AlreadyExists':
      return `${prefix}${describeRef(ref.kind, ns, ref.name)} already exists`;
    case 'NotFound':
      // A create fails NotFound only when its namespace is missing.
      if (e.message.startsWith('create ')) return `${prefix}namespaces "${ns}" not found (create the Namespace first)`;
      return `${prefix}${describeRef(ref.kind, ns, ref.name)} not found`;
    case 'Conflict':
      if (e.details.field === 'uid') {
        return (
          `${prefix}Precondition failed on ${describeRef(ref.kind, ns, ref.name)}: expected uid ${e.details.expected ?? '?'}, ` +
          `stored ${e.details.actual ?? '?'} (it was deleted and created again)`
        );
      }
      return (
        `${prefix}Operation cannot be fulfilled on ${describeRef(ref.kind, ns, ref.name)}: the object has been modified; ` +
        `expected resourceVersion ${e.details.expected ?? '?'}, stored ${e.details.actual ?? '?'}; read it again and retry`
      );
    default:
      return `${prefix}${e.message}`;
  }
}

const storeCodes = {
  AlreadyExists: Status.ALREADY_EXISTS,
  NotFound: Status.NOT_FOUND,
  Conflict: Status.ABORTED,
  Invalid: Status.INVALID_ARGUMENT,
  Expired: Status.OUT_OF_RANGE,
} as const;

/**
 * toGrpcError maps an error from the store or the Raft driver to the status the API answers
 * with. `what` names the operation for driver errors ("create", "read index").
 */
export function toGrpcError(err: unknown, what: string, verb: WriteVerb | 'read' = 'read'): GrpcError {
  if (isGrpcError(err)) return err;
  if (isStoreError(err, 'Invalid') && /more than the limit/.test(err.message)) return new GrpcError(Status.RESOURCE_EXHAUSTED, err.message, { cause: err });
  if (isStoreError(err)) return new GrpcError(storeCodes[err.reason], storeMessage(err, verb), { cause: err });
  if (isNotLeaderError(err)) {
    return new GrpcError(Status.UNAVAILABLE, `${what}: leadership changed (${err.message}); retry with the same request id`);
  }
  if (isProposalDroppedError(err)) return new GrpcError(Status.UNAVAILABLE, `${what}: ${err.message}; retry with the same request id`);
  if (isRaftTimeoutError(err)) return new GrpcError(Status.DEADLINE_EXCEEDED, `${what}: ${err.message}`);
  if (isRaftStoppedError(err)) return new GrpcError(Status.UNAVAILABLE, `${what}: this member is shutting down; retry at another member`);
  if (isRaftRequestError(err)) {
    if (err.code === 'invalid') return new GrpcError(Status.INVALID_ARGUMENT, `${what}: ${err.message}`);
    return new GrpcError(Status.UNAVAILABLE, `${what}: ${err.message}; retry shortly`);
  }
  return new GrpcError(Status.INTERNAL, `${what}: ${err instanceof Error ? err.message : String(err)}`);
}
