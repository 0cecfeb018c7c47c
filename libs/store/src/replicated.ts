/**
 * ReplicatedStore is the store's one write path: a write becomes one store command, proposed
 * to a log (Raft on a control member, LocalLog for an in-memory store) whose entries the
 * ObjectStore applies; reads and watches are served by the ObjectStore itself.
 *
 * - The writer assigns what the server assigns (`metadata.uid`, `creationTimestamp`) before
 *   proposing, so that applying is a pure function of the entry.
 * - A command larger than the store's limit fails before it is proposed (InvalidError).
 * - A write that timed out may still be applied: retry it with the same `requestId` to get the
 *   first outcome.
 */
import { randomUUID } from 'node:crypto';
import { encodeCommand } from './codec.ts';
import { rfc3339, unwrapApplyResult } from './store.ts';
import type { ObjectStore } from './store.ts';
import type { Command, Op, TxnResult } from './types.ts';

/** ProposeLog is where ReplicatedStore proposes commands (RaftNode has it). */
export interface ProposeLog {
  /** Proposes an entry; resolves, once it is applied here, with its index and what ObjectStore.apply returned. */
  propose(data: Uint8Array, opts?: { readonly timeoutMs?: number }): Promise<{ readonly index: number; readonly result: unknown }>;
}

/** LocalLog is a one-member log applied at once to its store: the in-memory store's log. */
export class LocalLog implements ProposeLog {
  private readonly store: ObjectStore;
  private index = 0;

  constructor(store: ObjectStore) {
    this.store = store;
  }

  propose(data: Uint8Array): Promise<{ index: number; result: unknown }> {
    const result = this.applyNow(data);
    return Promise.resolve({ index: this.index, result });
  }

  /** applyNow appends and applies an entry, returning what ObjectStore.apply returned. */
  applyNow(data: Uint8Array): unknown {
    const index = ++this.index;
    return this.store.apply({ index, term: 1, data });
  }
}

export interface ReplicatedStoreOptions {
  readonly log: ProposeLog;
  /** Wall clock for creationTimestamp, ms since the Unix epoch. Default Date.now. */
  readonly now?: () => number;
  /** Source of metadata.uid. Default crypto.randomUUID. */
  readonly newUid?: () => string;
}

export interface WriteOptions {
  /** Makes retries exactly-once: a retry with the same id answers the first outcome. */
  readonly requestId?: string;
  /** How long to wait for the command to be applied, ms (the log's default when absent). */
  readonly timeoutMs?: number;
}

export class ReplicatedStore {
  private readonly log: ProposeLog;
  private readonly now: () => number;
  private readonly newUid: () => string;

  constructor(opts: ReplicatedStoreOptions) {
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.newUid = opts.newUid ?? randomUUID;
  }

  /**
   * write applies `ops` atomically (all or none) and resolves with their objects; throws the
   * StoreError of the op that failed, or the log's error (the write may then still be applied).
   */
  async write(ops: readonly Op[], opts: WriteOptions = {}): Promise<TxnResult> {
    const { result } = await this.log.propose(this.encode(ops, opts.requestId), opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs });
    return unwrapApplyResult(result);
  }

  /**
   * encode makes the command of a write: the ops with the server-assigned fields of every
   * create (uid, creationTimestamp) filled in. Throws InvalidError for a bad or too large command.
   */
  encode(ops: readonly Op[], requestId?: string): Uint8Array {
    const ts = rfc3339(this.now());
    const filled = ops.map((op): Op => (op.op === 'create' ? { ...op, object: { ...op.object, metadata: { ...op.object.metadata, uid: this.newUid(), creationTimestamp: ts } } } : op));
    const cmd: Command = requestId === undefined || requestId === '' ? { ops: filled } : { requestId, ops: filled };
    return encodeCommand(cmd);
  }
}
