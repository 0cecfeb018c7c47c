/**
 * @tugboat/store: the replicated object store. ObjectStore is the Raft state machine (apply,
 * snapshot, restore, local reads and watches); ReplicatedStore is the one write path (a command
 * proposed to Raft, or to LocalLog for an in-memory store); the codec encodes the commands that
 * travel in Raft entries.
 */
export type {
  ObjectMeta,
  KubeObject,
  StoredMeta,
  StoredObject,
  ObjectRef,
  Precondition,
  CreateOp,
  UpdateOp,
  DeleteOp,
  GracefulDeletion,
  CheckOp,
  Op,
  Command,
  TxnResult,
  WatchEventType,
  WatchEvent,
} from './types.ts';
export {
  StoreError,
  AlreadyExistsError,
  NotFoundError,
  ConflictError,
  InvalidError,
  ExpiredError,
  isStoreError,
  isExpiredError,
} from './errors.ts';
export type { StoreErrorReason, StoreErrorDetails } from './errors.ts';
export { encodeCommand, decodeCommand, maxCommandBytes, maxTxnOps, maxRequestIdLength, maxNameLength } from './codec.ts';
export { ObjectStore, unwrapApplyResult, namespaceKind, rfc3339 } from './store.ts';
export type { ObjectStoreOptions, ApplyResult, ListOptions, ListResult, StoreStats } from './store.ts';
export { Watch } from './watch.ts';
export type { WatchOptions } from './watch.ts';
export { LocalLog, ReplicatedStore } from './replicated.ts';
export type { ProposeLog, ReplicatedStoreOptions, WriteOptions } from './replicated.ts';
export { deepEqual, canonicalJson } from './json.ts';
