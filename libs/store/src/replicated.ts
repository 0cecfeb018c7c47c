/**
 * ReplicatedStore is the store as the API server uses it: writes go through Raft (the
 * ObjectStore applies them on every member), reads and watches are served from the local
 * ObjectStore, linearizable by default.
 *
 * - Writes: the proposer assigns what the server assigns (`metadata.uid`, `creationTimestamp`)
 *   before proposing, so that applying is a pure function of the entry. The member must be
 *   the leader (RaftNode.propose rejects with NotLeaderError otherwise). A write that timed out
 *   may still be applied: retry it with the same `requestId` to get the first outcome.
 * - Reads: ReadIndex (Raft dissertation §6.4) first, so the read sees every write that
 *   completed before it started, on any member; `{stale: true}` reads local state at once.
 */
import { randomUUID } from 'node:crypto';
import { encodeCommand } from './codec.ts';
import { NotFoundError } from './errors.ts';
import { rfc3339, unwrapApplyResult } from './store.ts';
import type { ListOptions, ListResult, ObjectStore } from './store.ts';
import type { Command, KubeObject, ObjectRef, Op, StoredObject, TxnResult } from './types.ts';
import type { Watch, WatchOptions } from './watch.ts';

/** RaftHandle is what ReplicatedStore needs from the Raft member (RaftNode has it). */
export interface RaftHandle {
  /** Proposes an entry; resolves with its index and what ObjectStore.apply returned. */
  propose(data: Uint8Array): Promise<{ readonly index: number; readonly result: unknown }>;
  /** Resolves once the local state machine has applied everything committed before the call. */
  readIndex(): Promise<void>;
}

export interface ReplicatedStoreOptions {
  readonly raft: RaftHandle;
  /** The ObjectStore the same Raft member applies to. */
  readonly store: ObjectStore;
  /** Wall clock for creationTimestamp, ms since the Unix epoch. Default Date.now. */
  readonly now?: () => number;
  /** Source of metadata.uid. Default crypto.randomUUID. */
  readonly newUid?: () => string;
}

export interface ReadOptions {
  /** Read local state without ReadIndex (may miss recent writes). Default false. */
  readonly stale?: boolean;
}

export interface WriteOptions {
  /** Makes retries exactly-once: a retry with the same id answers the first outcome. */
  readonly requestId?: string;
}

export interface UpdateOptions extends WriteOptions {
  /** Compare-and-swap: fail with ConflictError unless the stored resourceVersion is this. */
  readonly expectedResourceVersion?: string;
  /** 'status': replace only `status`. */
  readonly subresource?: 'status';
}

export interface DeleteOptions extends WriteOptions {
  /** Compare-and-swap: fail with ConflictError unless the stored resourceVersion is this. */
  readonly expectedResourceVersion?: string;
}

export class ReplicatedStore {
  readonly store: ObjectStore;
  private readonly raft: RaftHandle;
  private readonly now: () => number;
  private readonly newUid: () => string;

  constructor(opts: ReplicatedStoreOptions) {
    this.raft = opts.raft;
    this.store = opts.store;
    this.now = opts.now ?? Date.now;
    this.newUid = opts.newUid ?? randomUUID;
  }

  /** create writes a new object; resolves with it as stored. Throws AlreadyExistsError, NotFoundError (namespace), InvalidError. */
  async create(object: KubeObject, opts: WriteOptions = {}): Promise<StoredObject> {
    return this.written(await this.txn([{ op: 'create', object }], opts), object);
  }

  /** update replaces an object (CAS with `expectedResourceVersion`). Throws NotFoundError, ConflictError, InvalidError. */
  async update(object: KubeObject, opts: UpdateOptions = {}): Promise<StoredObject> {
    const op: Op = {
      op: 'update',
      object,
      ...(opts.expectedResourceVersion !== undefined ? { expectedResourceVersion: opts.expectedResourceVersion } : {}),
      ...(opts.subresource !== undefined ? { subresource: opts.subresource } : {}),
    };
    return this.written(await this.txn([op], opts), object);
  }

  /**
   * delete removes an object (CAS with `expectedResourceVersion`); resolves with its last state, or null
   * for a retry (same requestId) of a delete that was applied before. Throws NotFoundError, ConflictError.
   */
  async delete(ref: ObjectRef, opts: DeleteOptions = {}): Promise<StoredObject | null> {
    const op: Op = {
      op: 'delete',
      ref,
      ...(opts.expectedResourceVersion !== undefined ? { expectedResourceVersion: opts.expectedResourceVersion } : {}),
    };
    return (await this.txn([op], opts)).objects[0] ?? null;
  }

  /** txn applies `ops` atomically (all or none); throws the StoreError of the op that failed. */
  async txn(ops: readonly Op[], opts: WriteOptions = {}): Promise<TxnResult> {
    const cmd = this.prepare({ ...(opts.requestId !== undefined ? { requestId: opts.requestId } : {}), ops });
    const { result } = await this.raft.propose(encodeCommand(cmd));
    return unwrapApplyResult(result);
  }

  /** prepare fills the server-assigned fields of every create op (uid, creationTimestamp). */
  prepare(cmd: Command): Command {
    const ts = rfc3339(this.now());
    return {
      ...cmd,
      ops: cmd.ops.map((op) =>
        op.op === 'create' ? { ...op, object: { ...op.object, metadata: { ...op.object.metadata, uid: this.newUid(), creationTimestamp: ts } } } : op,
      ),
    };
  }

  /** get reads one object (linearizable unless `stale`). */
  async get(ref: ObjectRef, opts: ReadOptions = {}): Promise<StoredObject | undefined> {
    if (opts.stale !== true) await this.raft.readIndex();
    return this.store.get(ref);
  }

  /** list reads objects of a kind (linearizable unless `stale`); watch from the result's revision for what follows. */
  async list(opts: ListOptions & ReadOptions): Promise<ListResult> {
    if (opts.stale !== true) await this.raft.readIndex();
    return this.store.list(opts);
  }

  /**
   * written is the object a create/update wrote. For a retry answered as a duplicate whose
   * object changed since, that is the object as it is now (the write did happen).
   */
  private written(r: TxnResult, object: KubeObject): StoredObject {
    const m = object.metadata;
    const o = r.objects[0] ?? this.store.get({ kind: object.kind, namespace: m.namespace ?? '', name: m.name ?? '' });
    if (o === undefined || o === null) {
      throw new NotFoundError(`${object.kind} ${m.name ?? ''} was written at revision ${r.revision} (request retried) but has been deleted since`);
    }
    return o;
  }

  /** watch watches the local store (see ObjectStore.watch). */
  watch(opts: WatchOptions): Watch {
    return this.store.watch(opts);
  }
}

