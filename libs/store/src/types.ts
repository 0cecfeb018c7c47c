/**
 * Types of the object store: Kubernetes-shaped objects, references to them, the commands that
 * write them (one command = one Raft entry = one transaction) and the events watches deliver.
 *
 * Objects are plain JSON values. Objects the store hands out (`StoredObject`) are deeply
 * frozen and shared between the store, its history and every watcher: never mutate one;
 * copy it first (`structuredClone`).
 */

/**
 * ObjectMeta is the `metadata` of an object. Fields marked "server" are assigned by the store.
 * The types have no index signatures so that libs/api's typed objects fit them; any other
 * fields an object carries are kept as they are.
 */
export interface ObjectMeta {
  /** Required (InvalidError without it); optional here only so that typed objects without a name yet fit. */
  readonly name?: string;
  /** Required for namespaced kinds; absent for cluster-scoped kinds. */
  readonly namespace?: string;
  /** Server (filled by the proposer on create, kept by the store on update). */
  readonly uid?: string;
  /** Server: the Raft index of the entry that last wrote the object, as a decimal string. */
  readonly resourceVersion?: string;
  /** Server: 1 on create, +1 on every update that changes `spec`. */
  readonly generation?: number;
  /** Server (filled by the proposer on create, RFC 3339, kept by the store on update). */
  readonly creationTimestamp?: string;
  /**
   * Server: set by a graceful delete (DeleteOp `graceful`) and kept by every update; a later
   * graceful delete with a shorter grace may move it earlier, nothing moves it later or clears it.
   */
  readonly deletionTimestamp?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly ownerReferences?: readonly unknown[];
  readonly finalizers?: readonly string[];
  readonly generateName?: string;
  /** Server: the grace period of the graceful delete that set `deletionTimestamp`; kept like it. */
  readonly deletionGracePeriodSeconds?: number;
}

/** KubeObject is what callers write: a Kubernetes-shaped object of plain JSON values. */
export interface KubeObject {
  readonly apiVersion?: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
  readonly spec?: unknown;
  readonly status?: unknown;
}

/** StoredMeta is the metadata of an object held by the store: server fields always present. */
export interface StoredMeta extends ObjectMeta {
  readonly name: string;
  readonly uid: string;
  readonly resourceVersion: string;
  readonly generation: number;
  readonly creationTimestamp: string;
}

/** StoredObject is an object as the store holds it: deeply frozen. */
export interface StoredObject extends KubeObject {
  readonly metadata: StoredMeta;
}

/** ObjectRef names one object. `namespace` is absent or '' for cluster-scoped kinds. */
export interface ObjectRef {
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
}

/** Precondition is an extra guard on an op: the object must (not) exist when the op runs. */
export type Precondition = 'exists' | 'notExists';

/** CreateOp writes a new object; fails AlreadyExists if it exists. `uid` and `creationTimestamp` must be set. */
export interface CreateOp {
  readonly op: 'create';
  readonly object: KubeObject;
  /** Only 'notExists' (implied) is allowed. */
  readonly precondition?: Precondition;
}

/**
 * UpdateOp replaces an existing object (NotFound if missing). With `expectedResourceVersion`
 * it is a compare-and-swap (Conflict on mismatch); without, unconditional. `subresource:
 * 'status'` takes only `status` from `object` and keeps everything else as stored.
 */
export interface UpdateOp {
  readonly op: 'update';
  readonly object: KubeObject;
  readonly expectedResourceVersion?: string;
  readonly subresource?: 'status';
  /** Only 'exists' (implied) is allowed. */
  readonly precondition?: Precondition;
}

/**
 * DeleteOp removes an object (NotFound if missing); CAS with `expectedResourceVersion`, and
 * Conflict unless the stored uid is `expectedUid` when given. Deleting a Namespace deletes its
 * contents.
 */
export interface DeleteOp {
  readonly op: 'delete';
  readonly ref: ObjectRef;
  readonly expectedResourceVersion?: string;
  readonly expectedUid?: string;
  /**
   * graceful marks the object instead of removing it. Not marked yet: `deletionTimestamp` and
   * `deletionGracePeriodSeconds` are set to these (a MODIFIED event). Marked with a longer
   * grace: the grace becomes this one and `deletionTimestamp` moves earlier by the difference.
   * Marked with this grace or a shorter one: nothing changes. The proposer decides which
   * objects are deleted gracefully (libs/api's kinds: Pods bound to a node).
   */
  readonly graceful?: GracefulDeletion;
  /**
   * orphanDependents removes the deleted object's entries (by uid) from the
   * `metadata.ownerReferences` of every object that lists it, in the same entry, so that they
   * outlive it. Dependents are looked for in the object's namespace, or everywhere for a
   * cluster-scoped object.
   */
  readonly orphanDependents?: boolean;
  /** Only 'exists' (implied) is allowed. */
  readonly precondition?: Precondition;
}

/** GracefulDeletion is when a graceful delete started to count (RFC 3339) and how long it gives. */
export interface GracefulDeletion {
  /** deletionTimestamp: the deletion time (the proposer's now + gracePeriodSeconds), RFC 3339. */
  readonly deletionTimestamp: string;
  /** gracePeriodSeconds: a positive whole number of seconds. */
  readonly gracePeriodSeconds: number;
}

/** CheckOp writes nothing; it fails the transaction unless the object is as stated. Give at least one guard. */
export interface CheckOp {
  readonly op: 'check';
  readonly ref: ObjectRef;
  readonly expectedResourceVersion?: string;
  readonly precondition?: Precondition;
}

export type Op = CreateOp | UpdateOp | DeleteOp | CheckOp;

/**
 * Command is the data of one Raft entry: a transaction. Its ops apply in order, each seeing the
 * effects of those before it, and either all apply or none does. A `requestId` makes retries
 * exactly-once: a command whose requestId was applied recently answers the first result again.
 */
export interface Command {
  readonly requestId?: string;
  readonly ops: readonly Op[];
}

/**
 * TxnResult is the outcome of a command that applied. `revision` is its entry's index.
 * `objects[i]` is op i's object: as written (create, update), as deleted (delete, with
 * `resourceVersion` = `revision`), as found (check; null if checked absent).
 * `duplicate`: the requestId was seen before and nothing was applied now; `revision` is the
 * first application's, and `objects[i]` is the object written then if it is unchanged since,
 * else null (delete and check ops: null).
 */
export interface TxnResult {
  readonly revision: number;
  readonly duplicate: boolean;
  readonly objects: readonly (StoredObject | null)[];
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/**
 * WatchEvent is one change. `revision` is the index of the entry that made it (several
 * events share one revision when a transaction or a namespace deletion wrote several objects).
 * A DELETED event's object is the last state with `resourceVersion` = `revision`.
 * Events are shared and frozen: never mutate one.
 */
export interface WatchEvent {
  readonly type: WatchEventType;
  readonly object: StoredObject;
  readonly revision: number;
  /**
   * MODIFIED only: the object as it was before this change. A server filtering a watch by
   * labels or fields needs it to tell that an object stopped matching (and send DELETED).
   */
  readonly prevObject?: StoredObject;
}
