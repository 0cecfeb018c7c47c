// types.ts: the shapes TugClient takes and returns.
import type { LabelSelector } from '@tugboat/api';

/** ObjectLike is any Kubernetes-shaped object: the typed kinds of @tugboat/api all fit. */
export interface ObjectLike {
  apiVersion?: string;
  kind: string;
  metadata: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
  };
}

/** ObjectRef names one object; `namespace` is omitted or "" for cluster-scoped kinds. */
export interface ObjectRef {
  readonly kind: string;
  readonly namespace?: string | undefined;
  readonly name: string;
}

/** RequestOptions apply to every call. */
export interface RequestOptions {
  /** signal cancels the call (and its retries); the signal's reason is thrown. */
  readonly signal?: AbortSignal | undefined;
  /** timeoutMs bounds the whole call, retries included; default: the client's retryBudgetMs. */
  readonly timeoutMs?: number | undefined;
  /** attemptTimeoutMs bounds each attempt at one endpoint before the next is tried; default: the client's attemptTimeoutMs. */
  readonly attemptTimeoutMs?: number | undefined;
}

/** ReadOptions: reads are linearizable unless staleOk. */
export interface ReadOptions extends RequestOptions {
  /** staleOk reads the answering member's state as it is, without confirming with the leader. */
  readonly staleOk?: boolean | undefined;
}

/** WriteOptions: every write carries a request id, generated unless given. */
export interface WriteOptions extends RequestOptions {
  /** requestId makes the write exactly-once across retries (up to 128 characters). Default:
   *  a fresh crypto.randomUUID() per call, kept across that call's retries. Give your own to
   *  keep it across calls, such as a retry after an UnavailableError. */
  readonly requestId?: string | undefined;
}

/** DeleteOptions make a delete conditional, graceful, or leave what the object owns. */
export interface DeleteOptions extends WriteOptions {
  /** expectedResourceVersion: delete only if the stored object has this resourceVersion. */
  readonly expectedResourceVersion?: string | undefined;
  /** gracePeriodSeconds: how long a Pod bound to a node gets to stop (default: its
   *  spec.terminationGracePeriodSeconds). Above 0 such a pod is only marked (deletionTimestamp)
   *  and its agent deletes it once stopped; 0 removes it at once. Other objects go at once. */
  readonly gracePeriodSeconds?: number | undefined;
  /** propagationPolicy: 'Background' (default) leaves the garbage collector to delete what the
   *  object owns; 'Orphan' removes it from their ownerReferences in the same write. */
  readonly propagationPolicy?: 'Background' | 'Orphan' | undefined;
  /** expectedUid: delete only if the stored object has this uid (a ConflictError otherwise). */
  readonly expectedUid?: string | undefined;
}

/** Selection picks objects of a kind. */
export interface Selection {
  /** namespace limits to one namespace; omitted or "" means all. */
  readonly namespace?: string | undefined;
  /** labelSelector: "app=web,tier!=db" or a LabelSelector object. */
  readonly labelSelector?: string | LabelSelector | undefined;
  /** fieldSelector: "spec.nodeName=n1,status.phase!=Running". */
  readonly fieldSelector?: string | undefined;
}

/** ListOptions: a selection, read with ReadOptions. */
export interface ListOptions extends Selection, ReadOptions {}

/** ObjectList is the answer to a list: the objects and the revision they reflect. */
export interface ObjectList<T> {
  readonly items: T[];
  /** revision is the store revision of the list: watch from it to follow changes. */
  readonly revision: number;
}

/**
 * WatchEvent is what a watch yields.
 *
 * - ADDED / MODIFIED / DELETED: one change; `object` is the object after it (before it, for
 *   DELETED); `revision` is the change's revision (several changes may share one).
 * - BOOKMARK: only with progressNotify: every change up to `revision` has been delivered.
 * - RESYNC: the complete current set of matching objects, as of `revision`. A watch begins with
 *   one when it was given no fromRevision, and sends one again when it had to list again
 *   because its revision left the server's history (OUT_OF_RANGE). A consumer replaces its
 *   whole view with `items`: objects it knew that are not among them are gone (no DELETED
 *   event is made up for them). Changes after `revision` follow.
 */
export type WatchEvent<T> =
  | { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly object: T; readonly revision: number }
  | { readonly type: 'BOOKMARK'; readonly revision: number }
  | { readonly type: 'RESYNC'; readonly items: T[]; readonly revision: number };

/** WatchOptions choose what to watch and from where. */
export interface WatchOptions extends Selection {
  /** fromRevision: deliver changes after this revision (a number or a resourceVersion string).
   *  Omitted: the watch lists first and begins with a RESYNC event. */
  readonly fromRevision?: number | string | undefined;
  /** progressNotify asks the server for BOOKMARK events while idle, and yields them. */
  readonly progressNotify?: boolean | undefined;
  /** signal ends the watch: iteration then finishes without an error. */
  readonly signal?: AbortSignal | undefined;
  /** onRetry is told of every broken stream the watch recovers from, with the pause before
   *  reconnecting (ms). For logging; it must not throw. */
  readonly onRetry?: ((err: unknown, pauseMs: number) => void) | undefined;
  /** staleOk for the lists the watch makes. Default false (linearizable). */
  readonly staleOk?: boolean | undefined;
}

/** TxnOp is one write of a transaction (all apply or none). */
export type TxnOp =
  | { readonly op: 'create'; readonly object: ObjectLike }
  | { readonly op: 'update'; readonly object: ObjectLike; readonly expectedResourceVersion?: string | undefined }
  | { readonly op: 'delete'; readonly ref: ObjectRef; readonly expectedResourceVersion?: string | undefined };

/** MemberInfo is one control member as ClusterService reports it. */
export interface MemberInfo {
  readonly name: string;
  readonly peerAddress: string;
  readonly apiAddress: string;
  /** leader, follower, candidate, preCandidate, or unknown when unreachable. */
  readonly role: string;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  /** leader is the name of the leader this member knows ("" when none). */
  readonly leader: string;
  readonly reachable: boolean;
  /** error says why the member could not be reached ("" when it could). */
  readonly error: string;
  /** The member's memory (0 when unreachable): its resident set size, what its JavaScript heap
   *  holds and has taken from the system, and what buffers and native objects outside it hold. */
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
  readonly externalBytes: number;
}

/** ClusterStatus: every member, as the answering member sees them. */
export interface ClusterStatus {
  readonly clusterId: string;
  readonly members: MemberInfo[];
  /** endpoint is the API address that answered. */
  readonly endpoint: string;
}

/** Health is one member's answer to Health. */
export interface Health {
  readonly ready: boolean;
  readonly name: string;
  readonly endpoint: string;
}
