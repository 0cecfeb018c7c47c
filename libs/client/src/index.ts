// @tugboat/client: the typed client of the tug-control API, used by the CLI, the agents and the
// controllers alike.
//
// - TugClient: every kind (`client.pods.get(ns, name)`, `client.nodes.list()`, ...), txn,
//   cluster membership and health, over a list of endpoints with failover. Unary calls are
//   retried only where that is safe (endpoints.ts): reads, and writes, which carry a request id
//   the server applies at most once; never after INVALID_ARGUMENT, ALREADY_EXISTS, NOT_FOUND,
//   ABORTED or OUT_OF_RANGE.
// - Errors: classes with stable names and guards (isNotFound, isConflict, isAlreadyExists,
//   isInvalid, isExpired, isUnavailable), each carrying the server's message.
// - Watches (watch.ts) resume from the last revision delivered, at any endpoint, without missing
//   or repeating an event; when that revision has left the server's history they list again
//   and yield a RESYNC event with the complete current set (see WatchEvent).
// - Informer (informer.ts): list + watch + a cache keyed by namespace/name, with handlers that
//   get keys only.
export { TugClient, Resource, NamespacedResource, ClusterResource, ClusterClient } from './client.ts';
export type { TugClientOptions, ResourceOf } from './client.ts';
export { EndpointPool, isRetryable } from './endpoints.ts';
export type { Endpoint, EndpointPoolOptions, InProcessApi, InProcessPoolOptions, RetryOptions, Safety, CallSettings } from './endpoints.ts';
export {
  ApiError,
  NotFoundError,
  AlreadyExistsError,
  ConflictError,
  InvalidError,
  ExpiredError,
  UnavailableError,
  isApiError,
  isNotFound,
  isAlreadyExists,
  isConflict,
  isInvalid,
  isExpired,
  isUnavailable,
  fromGrpcError,
  describeFailure,
} from './errors.ts';
export type { EndpointFailure } from './errors.ts';
export { Informer, objectKey, splitKey } from './informer.ts';
export { JoinError, joinCluster, joinUnlessCertified, servedOn } from './join.ts';
export type { JoinFlags, JoinIdentity, JoinOptions, Joined } from './join.ts';
export { CertificateRenewal, renewalDue } from './renewal.ts';
export type { RenewalOptions } from './renewal.ts';
export type { InformerOptions, InformerHandler } from './informer.ts';
export { resumableWatch } from './watch.ts';
export type { WatchDeps } from './watch.ts';
export { parseRevision } from './codec.ts';
export type {
  ObjectLike,
  ObjectRef,
  RequestOptions,
  ReadOptions,
  WriteOptions,
  DeleteOptions,
  Selection,
  ListOptions,
  ObjectList,
  WatchEvent,
  WatchOptions,
  TxnOp,
  MemberInfo,
  ClusterStatus,
  Health,
} from './types.ts';
