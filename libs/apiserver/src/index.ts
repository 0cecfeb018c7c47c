/**
 * @tugboat/apiserver: the tug.v1 API (proto/tug/v1/api.proto) as a control member serves it:
 * ObjectService (admission, defaulting, graceful deletion, service address allocation, reads
 * and watches) over an ObjectBackend, and ClusterService over a ClusterBackend. tug-control
 * backs them with its Raft member; `@tugboat/apiserver/testing` backs them with an in-memory,
 * synchronously applied store for tests of everything that talks to the API.
 */
export type { ObjectBackend } from './objects.ts';
export { clusterService, isHostPort, publishOnlyMetadataKey } from './cluster.ts';
export { forwardService } from './forward.ts';
export type { ClusterBackend, ForwardOptions, MemberInfo, MemberRecord } from './cluster.ts';
export { toGrpcError, describeRef, resourceName } from './errors.ts';
export type { WriteVerb } from './errors.ts';
export { ALLOCATION_KIND, orphanedAllocations } from './service-allocation.ts';
export { WatchSlots } from './watch-slots.ts';
export { NOT_COUNTED, apiClusterScopedKinds, objectService, encodeObject, filterEvent, maxObjectBytes } from './objects.ts';
export { TOKEN_KIND } from './bootstrap-tokens.ts';
export { ReplicatedTokens } from './token-store.ts';
export type { CertificateAuthority, TokenStore } from './join.ts';
export { ClientLimits, DEFAULT_CLIENT_LIMITS, withCallGuard } from './client-limits.ts';
export { bearerIdentity } from './join.ts';
export type { ClientLimitsOptions } from './client-limits.ts';
