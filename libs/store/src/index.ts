/**
 * @tugboat/store: the replicated object store. ObjectStore is the Raft state machine (apply,
 * snapshot, restore, local reads and watches); ReplicatedStore writes through Raft and reads
 * linearizably (ReadIndex); the codec encodes the commands that travel in Raft entries.
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
export { ReplicatedStore } from './replicated.ts';
export type { RaftHandle, ReplicatedStoreOptions, ReadOptions, WriteOptions, UpdateOptions, DeleteOptions } from './replicated.ts';
export { deepEqual, canonicalJson } from './json.ts';
