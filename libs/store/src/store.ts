/**
 * ObjectStore is tugboat's replicated object store: the Raft state machine that holds every
 * object of the cluster, keyed by kind / namespace / name.
 *
 * Rules (every member applies the same entries in the same order, so all of this is
 * deterministic and every member ends with byte-identical snapshots):
 * - An entry's data is one encoded Command, a transaction: its ops apply in order, each seeing
 *   the ones before, and either all apply or none does. Every object written gets
 *   `resourceVersion` = the entry's index. The store's `revision` is the last index applied.
 * - create: fails AlreadyExists if the object exists, NotFound if its namespace does not.
 *   `metadata.uid` and `creationTimestamp` must come filled by the proposer; `generation` is 1.
 * - update: fails NotFound if missing, Conflict if `expectedResourceVersion` (when given) or
 *   `metadata.uid` (when given) differs from the stored one. `uid`, `creationTimestamp`,
 *   `deletionTimestamp` and `deletionGracePeriodSeconds` are kept as stored (only a graceful
 *   delete sets the last two); `generation` is bumped when `spec` changes (deep compare; key
 *   order does not matter). An update that changes nothing writes nothing (no new
 *   resourceVersion, no event), as in Kubernetes. `subresource: 'status'` replaces only `status`.
 * - delete: fails NotFound / Conflict like update (and Conflict when `expectedUid` differs).
 *   Deleting a Namespace deletes every object in it in the same entry (their DELETED events
 *   first, ordered by kind then name). A `graceful` delete marks the object instead (see
 *   DeleteOp). `orphanDependents` first drops the object from the ownerReferences of the
 *   objects that list its uid (their MODIFIED events come before the owner's event).
 * - A command with a `requestId` seen among the last `requestIdWindow` ones is not applied
 *   again: it answers the first outcome (`duplicate: true`). Ids are evicted oldest first.
 * - Malformed data answers InvalidError; entries with empty data (leader no-ops) only advance
 *   the revision. Every entry advances the revision, even one that failed.
 * Options that change what `apply` does (`clusterScopedKinds`, `requireNamespace`,
 * `requestIdWindow`) must be the same on every member; history bounds are local.
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { StateMachine } from '@tugboat/raft';
import { decodeCommand, checkObject, checkName } from './codec.ts';
import { InvalidError, NotFoundError, AlreadyExistsError, ConflictError, isStoreError, isStoreErrorReason, newStoreError } from './errors.ts';
import type { StoreError, StoreErrorDetails } from './errors.ts';
import { History } from './history.ts';
import { canonicalJson, compareStrings, deepEqual, deepFreeze } from './json.ts';
import type { Command, DeleteOp, GracefulDeletion, KubeObject, ObjectRef, Op, StoredObject, TxnResult, WatchEvent, WatchEventType } from './types.ts';
import { Watch } from './watch.ts';
import type { WatchOptions, WatchSource } from './watch.ts';

/** namespaceKind is the kind whose deletion cascades to everything in the namespace. */
export const namespaceKind = 'Namespace';

export interface ObjectStoreOptions {
  /** Kinds without a namespace. Must include 'Namespace'. Default ['Namespace', 'Node']. Same on every member. */
  readonly clusterScopedKinds?: readonly string[];
  /** Refuse to create a namespaced object whose Namespace does not exist (NotFound). Default true. Same on every member. */
  readonly requireNamespace?: boolean;
  /** How many recent requestIds are remembered for exactly-once retries. Default 50,000. Same on every member. */
  readonly requestIdWindow?: number;
  /** Most events kept for watches. Default 100,000. */
  readonly historyMaxEvents?: number;
  /** Most bytes (estimated encoded size of the objects) of events kept for watches. Default 16 MiB. */
  readonly historyMaxBytes?: number;
}

/** ApplyResult is what `apply` returns (and RaftNode.propose resolves with as `result`). */
export type ApplyResult =
  | ({ readonly ok: true } & TxnResult)
  | { readonly ok: false; readonly revision: number; readonly duplicate: boolean; readonly error: StoreError };

/** ListOptions selects objects for `list`. */
export interface ListOptions {
  readonly kind: string;
  /** Only this namespace (omit for all). */
  readonly namespace?: string;
  /** Keep objects whose labels (`{}` when none) pass. */
  readonly labelFilter?: (labels: Readonly<Record<string, string>>) => boolean;
}

/** ListResult: the objects, ordered by namespace then name, as of `revision`. */
export interface ListResult {
  readonly items: readonly StoredObject[];
  readonly revision: number;
}

/** StoreStats are sizes for metrics and tests. */
export interface StoreStats {
  readonly revision: number;
  readonly objects: number;
  readonly compactRevision: number;
  readonly historyEvents: number;
  readonly historyBytes: number;
  readonly requestIds: number;
  readonly waitingWatchers: number;
}

/** unwrapApplyResult turns what `apply` returned (via RaftNode.propose) into a TxnResult, throwing its StoreError. */
export function unwrapApplyResult(result: unknown): TxnResult {
  const r = result as ApplyResult | null | undefined;
  if (typeof r !== 'object' || r === null || typeof r.ok !== 'boolean') throw new Error(`store: not an apply result: ${String(result)}`);
  if (!r.ok) throw r.error;
  return { revision: r.revision, duplicate: r.duplicate, objects: r.objects };
}

/** Stored is one object with its estimated encoded size (for the history's byte bound). */
interface Stored {
  readonly object: StoredObject;
  readonly bytes: number;
}

type Table = Map<string, Map<string, Stored>>; // namespace ('' = cluster) -> name -> object

/** StateView is the committed state as a transaction sees it. */
interface StateView {
  readonly requireNamespace: boolean;
  isClusterScoped(kind: string): boolean;
  lookup(kind: string, ns: string, name: string): Stored | undefined;
  /** Committed objects of namespace `ns`, of every kind. */
  objectsIn(ns: string): { kind: string; name: string; stored: Stored }[];
  /** Every committed object. */
  allObjects(): { kind: string; ns: string; name: string; stored: Stored }[];
}

/** RequestRecord: the revision a requestId was applied at, and its error if it failed. */
type RequestRecord = number | { readonly revision: number; readonly error: ErrorRecord };

interface ErrorRecord extends StoreErrorDetails {
  readonly reason: string;
  readonly message: string;
}

const SNAPSHOT_FORMAT = 'tugboat.store/1';
const decoder = new TextDecoder('utf-8', { fatal: true });

const serverMetaKeys = new Set([
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
]);

/** rfc3339 formats ms since the epoch as Kubernetes does: UTC, whole seconds. */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

function positiveInt(name: string, v: number | undefined, def: number): number {
  const n = v ?? def;
  if (!(Number.isSafeInteger(n) && n > 0)) throw new RangeError(`ObjectStore: ${name} must be a positive integer, got ${String(v)}`);
  return n;
}

/** setOwn defines a data property (safe for a key named "__proto__"). */
function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

function describe(kind: string, ns: string, name: string): string {
  return ns === '' ? `${kind} ${name}` : `${kind} ${ns}/${name}`;
}

function refOf(kind: string, ns: string, name: string): ObjectRef {
  return ns === '' ? { kind, name } : { kind, namespace: ns, name };
}

/** withVersion is a frozen copy of `o` whose resourceVersion is `rv` (sharing everything else). */
function withVersion(o: StoredObject, rv: string): StoredObject {
  return deepFreeze({ ...o, metadata: { ...o.metadata, resourceVersion: rv } });
}

/**
 * ObjectStore implements the Raft driver's StateMachine (`apply`, `snapshot`, `restore`) and
 * serves reads and watches from local state. Reads here are as of the last applied entry; the
 * API server makes them linearizable with a ReadIndex first.
 */
export class ObjectStore implements StateMachine, WatchSource {
  readonly history: History;
  private readonly clusterScoped: ReadonlySet<string>;
  private readonly requireNamespace: boolean;
  private readonly view: StateView;
  private readonly requestIdWindow: number;
  private tables = new Map<string, Table>();
  private sizes = new Map<string, number>();
  private requests = new Map<string, RequestRecord>();
  /** checked: the snapshot checkSnapshot read last, for the restore of the same bytes. */
  private checked: { data: Uint8Array; snapshot: ParsedSnapshot } | undefined;
  private rev = 0;
  private epochNo = 0;
  private restoreInfo = { revision: 0, revisionBefore: 0, seq: 0 };
  private readonly waiters = new Set<() => void>();
  private flushScheduled = false;

  constructor(opts: ObjectStoreOptions = {}) {
    const kinds = opts.clusterScopedKinds ?? [namespaceKind, 'Node'];
    kinds.forEach((k, i) => checkName(k, `ObjectStore: clusterScopedKinds[${i}]`));
    if (!kinds.includes(namespaceKind)) throw new RangeError(`ObjectStore: clusterScopedKinds must include '${namespaceKind}'`);
    this.clusterScoped = new Set(kinds);
    this.requireNamespace = opts.requireNamespace ?? true;
    this.requestIdWindow = positiveInt('requestIdWindow', opts.requestIdWindow, 50_000);
    this.history = new History(
      positiveInt('historyMaxEvents', opts.historyMaxEvents, 100_000),
      positiveInt('historyMaxBytes', opts.historyMaxBytes, 16 * 1024 * 1024),
    );
    this.view = {
      requireNamespace: this.requireNamespace,
      isClusterScoped: (kind) => this.clusterScoped.has(kind),
      lookup: (kind, ns, name) => this.lookup(kind, ns, name),
      objectsIn: (ns) => {
        const out: { kind: string; name: string; stored: Stored }[] = [];
        for (const [kind, t] of this.tables) {
          const names = t.get(ns);
          if (names === undefined) continue;
          for (const [name, stored] of names) out.push({ kind, name, stored });
        }
        return out;
      },
      allObjects: () => {
        const out: { kind: string; ns: string; name: string; stored: Stored }[] = [];
        for (const [kind, t] of this.tables) {
          for (const [ns, names] of t) for (const [name, stored] of names) out.push({ kind, ns, name, stored });
        }
        return out;
      },
    };
  }

  /** revision is the index of the last entry applied (0 before any). */
  get revision(): number {
    return this.rev;
  }

  /** compactRevision is the oldest revision a watch may start from. */
  get compactRevision(): number {
    return this.history.compactRevision;
  }

  /** epoch counts restores from snapshots (for watchers). */
  get epoch(): number {
    return this.epochNo;
  }

  get lastRestore(): { readonly revision: number; readonly revisionBefore: number; readonly seq: number } {
    return this.restoreInfo;
  }

  /** isClusterScoped tells whether objects of `kind` have no namespace. */
  isClusterScoped(kind: string): boolean {
    return this.clusterScoped.has(kind);
  }

  // -------------------------------------------------------------------------------------------
  // StateMachine

  /**
   * apply applies one committed entry (index > revision). Never throws for a bad command: the
   * outcome, success or StoreError, is the returned ApplyResult.
   */
  apply(entry: { readonly index: number; readonly term: number; readonly data: Uint8Array }): ApplyResult {
    const index = entry.index;
    if (!Number.isSafeInteger(index) || index <= this.rev) {
      throw new Error(`store: entry ${index} applied after revision ${this.rev}; entries must be applied once, in order`);
    }
    if (entry.data.length === 0) {
      this.rev = index;
      return { ok: true, revision: index, duplicate: false, objects: [] };
    }
    let cmd: Command;
    try {
      cmd = decodeCommand(entry.data);
    } catch (e) {
      this.rev = index;
      if (!isStoreError(e)) throw e;
      return { ok: false, revision: index, duplicate: false, error: e };
    }
    const id = cmd.requestId;
    if (id !== undefined) {
      const seen = this.requests.get(id);
      if (seen !== undefined) {
        this.rev = index;
        return this.duplicate(cmd, seen);
      }
    }

    const txn = new Txn(this.view, index, entry.data.length / cmd.ops.length);
    let result: ApplyResult;
    try {
      const objects = txn.run(cmd.ops);
      this.commit(txn);
      result = { ok: true, revision: index, duplicate: false, objects };
    } catch (e) {
      if (!isStoreError(e)) throw e;
      result = { ok: false, revision: index, duplicate: false, error: e };
    }
    this.rev = index;
    if (id !== undefined) this.remember(id, result.ok ? index : { revision: index, error: errorRecord(result.error) });
    return result;
  }

  /**
   * noteIndex advances the revision to `index` for an entry that carries no store command
   * (a leader no-op, a membership change), if the driver reports those. Lower indexes are ignored.
   */
  noteIndex(index: number): void {
    if (Number.isSafeInteger(index) && index > this.rev) this.rev = index;
  }

  /**
   * snapshot encodes the whole state as of `revision`: deterministic bytes (the same state gives
   * the same bytes on every member). Format, one JSON value per line:
   *   {"format":"tugboat.store/1","revision":R,"objects":N,"requestIds":M}
   *   N objects ordered by kind, namespace, name (code-unit order)
   *   M request records, oldest first: ["id",revision] or ["id",revision,{error}]
   */
  snapshot(): Uint8Array {
    const steps = this.snapshotInSteps();
    for (;;) {
      const r = steps.next();
      if (r.done === true) return r.value;
    }
  }

  /**
   * snapshotInSteps is `snapshot()` a part at a time: the state is captured when it is called
   * (stored objects are immutable, so references do), and each `next()` encodes at most
   * `objectsPerStep` objects, so that the Raft loop and the API go on between the steps of a
   * large snapshot; the last step returns the bytes, as `snapshot()` would have at the call.
   */
  snapshotInSteps(objectsPerStep = 1_000): Generator<void, Uint8Array, void> {
    const objects: StoredObject[] = [];
    this.forEachSorted((s) => objects.push(s.object));
    const requests = [...this.requests];
    const header = JSON.stringify({ format: SNAPSHOT_FORMAT, revision: this.rev, objects: objects.length, requestIds: requests.length });
    return encodeSnapshot(header, objects, requests, objectsPerStep);
  }

  /**
   * checkSnapshot says why data is not a snapshot of this store, or undefined when it is one
   * (Raft asks before a snapshot received from the leader replaces its log); what it read is
   * kept for the restore that follows.
   */
  checkSnapshot(data: Uint8Array): string | undefined {
    try {
      this.checked = { data, snapshot: parseSnapshot(data) };
      return undefined;
    } catch (err) {
      this.checked = undefined;
      return (err as Error).message;
    }
  }

  /**
   * restore replaces the whole state with a snapshot's. Watch history restarts at the
   * snapshot's revision: watchers that had not seen everything up to it end with ExpiredError.
   * Throws on malformed data, leaving the store as it was.
   */
  restore(data: Uint8Array): void {
    const { tables, sizes, requests, revision } = this.checked?.data === data ? this.checked.snapshot : parseSnapshot(data);
    this.checked = undefined;
    const before = this.rev;
    this.tables = tables;
    this.sizes = sizes;
    this.requests = requests;
    this.rev = revision;
    this.restoreInfo = { revision: this.rev, revisionBefore: before, seq: this.history.next };
    this.history.reset(this.rev);
    this.epochNo++;
    this.scheduleFlush();
  }

  // -------------------------------------------------------------------------------------------
  // Reads (local state, as of `revision`)

  /** get returns the object, or undefined. */
  get(ref: ObjectRef): StoredObject | undefined {
    return this.lookup(ref.kind, ref.namespace ?? '', ref.name)?.object;
  }

  /** list returns the matching objects ordered by namespace then name, and the revision they are as of. */
  list(opts: ListOptions): ListResult {
    const items: StoredObject[] = [];
    const t = this.tables.get(opts.kind);
    if (t !== undefined) {
      const filter = opts.labelFilter;
      const add = (names: Map<string, Stored>): void => {
        for (const name of [...names.keys()].sort(compareStrings)) {
          const o = names.get(name)!.object;
          if (filter === undefined || filter(o.metadata.labels ?? {})) items.push(o);
        }
      };
      if (opts.namespace !== undefined) {
        const names = t.get(opts.namespace);
        if (names !== undefined) add(names);
      } else {
        for (const ns of [...t.keys()].sort(compareStrings)) add(t.get(ns)!);
      }
    }
    return { items, revision: this.rev };
  }

  /** counts returns the number of objects per kind, kinds in code-unit order. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of [...this.sizes.keys()].sort(compareStrings)) setOwn(out, k, this.sizes.get(k));
    return out;
  }

  /** namespaceSize is the number of objects in a namespace, those of the kinds in `except` left
   *  out (one lookup per kind). */
  namespaceSize(namespace: string, except: ReadonlySet<string> = new Set()): number {
    let n = 0;
    for (const [kind, table] of this.tables) if (!except.has(kind)) n += table.get(namespace)?.size ?? 0;
    return n;
  }

  /** size is the number of objects. */
  get size(): number {
    let n = 0;
    for (const c of this.sizes.values()) n += c;
    return n;
  }

  /** hash is the hex SHA-256 of every object's canonical JSON (sorted keys), in key order: equal on members with equal objects. */
  hash(): string {
    const h = createHash('sha256');
    this.forEachSorted((s) => {
      h.update(canonicalJson(s.object));
      h.update('\n');
    });
    return h.digest('hex');
  }

  stats(): StoreStats {
    return {
      revision: this.rev,
      objects: this.size,
      compactRevision: this.history.compactRevision,
      historyEvents: this.history.size,
      historyBytes: this.history.bytes,
      requestIds: this.requests.size,
      waitingWatchers: this.waiters.size,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Watch

  /**
   * watch delivers every matching change with revision > `fromRevision`, in order, exactly once
   * (see Watch). Throws ExpiredError if `fromRevision` < `compactRevision`. A `fromRevision`
   * beyond the current revision waits for it.
   */
  watch(opts: WatchOptions): Watch {
    return new Watch(this, opts);
  }

  addWaiter(wake: () => void): void {
    this.waiters.add(wake);
  }

  removeWaiter(wake: () => void): void {
    this.waiters.delete(wake);
  }

  // -------------------------------------------------------------------------------------------
  // Internals

  private lookup(kind: string, ns: string, name: string): Stored | undefined {
    return this.tables.get(kind)?.get(ns)?.get(name);
  }

  private commit(txn: Txn): void {
    for (const c of txn.changes) {
      let t = this.tables.get(c.kind);
      if (t === undefined) this.tables.set(c.kind, (t = new Map()));
      let names = t.get(c.ns);
      if (c.event.type === 'DELETED') {
        if (names === undefined || !names.delete(c.name)) throw new Error(`store: deleting ${describe(c.kind, c.ns, c.name)}, which is not stored`);
        if (names.size === 0) t.delete(c.ns);
        this.sizes.set(c.kind, this.sizes.get(c.kind)! - 1);
        if (this.sizes.get(c.kind) === 0) {
          this.sizes.delete(c.kind);
          this.tables.delete(c.kind);
        }
      } else {
        if (names === undefined) t.set(c.ns, (names = new Map()));
        const had = names.has(c.name);
        if (had !== (c.event.type === 'MODIFIED')) throw new Error(`store: ${c.event.type} of ${describe(c.kind, c.ns, c.name)} disagrees with the table`);
        names.set(c.name, c.stored);
        if (!had) this.sizes.set(c.kind, (this.sizes.get(c.kind) ?? 0) + 1);
      }
      this.history.append(c.event, c.weight);
    }
    if (txn.changes.length > 0) this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.waiters.size === 0) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      const ws = [...this.waiters];
      this.waiters.clear();
      for (const w of ws) w();
    });
  }

  private remember(id: string, rec: RequestRecord): void {
    this.requests.set(id, rec);
    if (this.requests.size > this.requestIdWindow) {
      const oldest = this.requests.keys().next();
      if (!oldest.done) this.requests.delete(oldest.value);
    }
  }

  private duplicate(cmd: Command, rec: RequestRecord): ApplyResult {
    if (typeof rec !== 'number') {
      const { reason, message, ...details } = rec.error;
      const error = newStoreError(isStoreErrorReason(reason) ? reason : 'Invalid', message, details);
      return { ok: false, revision: rec.revision, duplicate: true, error };
    }
    const rv = String(rec);
    const objects = cmd.ops.map((op): StoredObject | null => {
      if (op.op !== 'create' && op.op !== 'update') return null;
      const m = op.object.metadata;
      const cur = this.lookup(op.object.kind, m.namespace ?? '', m.name as string)?.object;
      return cur !== undefined && cur.metadata.resourceVersion === rv ? cur : null;
    });
    return { ok: true, revision: rec, duplicate: true, objects };
  }

  /** forEachSorted visits every object ordered by kind, namespace, name. */
  private forEachSorted(fn: (s: Stored) => void): void {
    for (const kind of [...this.tables.keys()].sort(compareStrings)) {
      const t = this.tables.get(kind)!;
      for (const ns of [...t.keys()].sort(compareStrings)) {
        const names = t.get(ns)!;
        for (const name of [...names.keys()].sort(compareStrings)) fn(names.get(name)!);
      }
    }
  }
}

/**
 * encodeSnapshot encodes a captured state as snapshot lines (see ObjectStore.snapshot), at most
 * `objectsPerStep` objects per step, and returns the bytes at the last step.
 */
/** ParsedSnapshot is what a snapshot holds, read and checked. */
interface ParsedSnapshot {
  readonly tables: Map<string, Table>;
  readonly sizes: Map<string, number>;
  readonly requests: Map<string, RequestRecord>;
  readonly revision: number;
}

/** parseSnapshot reads a snapshot's bytes (encodeSnapshot's format); throws naming what is wrong. */
function parseSnapshot(data: Uint8Array): ParsedSnapshot {
    const text = decoder.decode(data);
  let pos = 0;
  const nextLine = (): string => {
    const nl = text.indexOf('\n', pos);
    if (nl < 0) throw new Error('store snapshot: truncated');
    const line = text.slice(pos, nl);
    pos = nl + 1;
    return line;
  };
  const header = JSON.parse(nextLine()) as { format?: unknown; revision?: unknown; objects?: unknown; requestIds?: unknown };
  if (header.format !== SNAPSHOT_FORMAT) throw new Error(`store snapshot: unknown format ${JSON.stringify(header.format)}`);
  const revision = header.revision;
  const nObjects = header.objects;
  const nRequests = header.requestIds;
  for (const [k, v] of [['revision', revision], ['objects', nObjects], ['requestIds', nRequests]] as const) {
    if (!Number.isSafeInteger(v) || (v as number) < 0) throw new Error(`store snapshot: header ${k} must be a non-negative integer`);
  }
  const tables = new Map<string, Table>();
  const sizes = new Map<string, number>();
  for (let i = 0; i < (nObjects as number); i++) {
    const line = nextLine();
    const o = JSON.parse(line) as unknown;
    try {
      checkObject(o, `object ${i}`);
    } catch (e) {
      throw new Error(`store snapshot: ${(e as Error).message}`, { cause: e });
    }
    const obj = deepFreeze(o) as StoredObject;
    const kind = obj.kind;
    const ns = obj.metadata.namespace ?? '';
    let t = tables.get(kind);
    if (t === undefined) tables.set(kind, (t = new Map()));
    let names = t.get(ns);
    if (names === undefined) t.set(ns, (names = new Map()));
    if (names.has(obj.metadata.name)) throw new Error(`store snapshot: ${describe(kind, ns, obj.metadata.name)} appears twice`);
    names.set(obj.metadata.name, { object: obj, bytes: line.length });
    sizes.set(kind, (sizes.get(kind) ?? 0) + 1);
  }
  const requests = new Map<string, RequestRecord>();
  for (let i = 0; i < (nRequests as number); i++) {
    const r = JSON.parse(nextLine()) as unknown;
    if (!Array.isArray(r) || typeof r[0] !== 'string' || !Number.isSafeInteger(r[1])) throw new Error(`store snapshot: bad request record ${i}`);
    const [id, rv, err] = r as [string, number, ErrorRecord | undefined];
    if (err !== undefined && (typeof err !== 'object' || err === null || !isStoreErrorReason(err.reason))) {
      throw new Error(`store snapshot: bad error in request record ${i}`);
    }
    requests.set(id, err === undefined ? rv : { revision: rv, error: err });
  }
  if (pos !== text.length) throw new Error('store snapshot: trailing data');

  return { tables, sizes, requests, revision: revision as number };
}

function* encodeSnapshot(
  header: string,
  objects: readonly StoredObject[],
  requests: readonly (readonly [string, RequestRecord])[],
  objectsPerStep: number,
): Generator<void, Uint8Array, void> {
  const lines: string[] = [header];
  for (let i = 0; i < objects.length; i++) {
    lines.push(JSON.stringify(objects[i]));
    if ((i + 1) % objectsPerStep === 0) yield;
  }
  for (const [id, rec] of requests) {
    lines.push(JSON.stringify(typeof rec === 'number' ? [id, rec] : [id, rec.revision, rec.error]));
  }
  yield;
  // Encode line by line into one buffer: no joined copy of the whole text.
  let total = 0;
  for (const l of lines) total += Buffer.byteLength(l) + 1;
  const out = Buffer.allocUnsafeSlow(total);
  let off = 0;
  for (const l of lines) {
    off += out.write(l, off);
    out[off++] = 0x0a;
  }
  if (off !== total) throw new Error(`store snapshot: wrote ${off} bytes, expected ${total}`);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

function errorRecord(e: StoreError): ErrorRecord {
  return { reason: e.reason, message: e.message, ...e.details };
}

// ---------------------------------------------------------------------------------------------
// Transactions

interface Change {
  readonly kind: string;
  readonly ns: string;
  readonly name: string;
  readonly stored: Stored;
  readonly event: WatchEvent;
  /** Estimated bytes the event holds in the history. */
  readonly weight: number;
}

interface Slot {
  readonly kind: string;
  readonly ns: string;
  readonly name: string;
  readonly stored: Stored | null;
}

/**
 * Txn stages one command's ops over the committed state without touching it: an overlay of the
 * objects written so far, the namespaces deleted so far, and the ordered changes to commit.
 */
class Txn {
  readonly changes: Change[] = [];
  private readonly store: StateView;
  private readonly rv: string;
  private readonly revision: number;
  private readonly bytesPerOp: number;
  private readonly overlay = new Map<string, Slot>();
  private readonly deletedNs = new Set<string>();
  private opIndex = 0;
  private opRef: ObjectRef | undefined;

  constructor(store: StateView, index: number, bytesPerOp: number) {
    this.store = store;
    this.revision = index;
    this.rv = String(index);
    this.bytesPerOp = Math.max(1, Math.round(bytesPerOp));
  }

  run(ops: readonly Op[]): (StoredObject | null)[] {
    const out: (StoredObject | null)[] = [];
    for (let i = 0; i < ops.length; i++) {
      this.opIndex = i;
      this.opRef = undefined;
      const op = ops[i]!;
      switch (op.op) {
        case 'create':
          out.push(this.create(op.object));
          break;
        case 'update':
          out.push(this.update(op.object, op.expectedResourceVersion, op.subresource === 'status'));
          break;
        case 'delete':
          out.push(this.delete(op));
          break;
        case 'check':
          out.push(this.check(op.ref, op.expectedResourceVersion, op.precondition));
          break;
      }
    }
    return out;
  }

  // --- ops

  private create(obj: KubeObject): StoredObject {
    const { kind, ns, name } = this.resolve(obj.kind, obj.metadata.namespace, obj.metadata.name as string); // checked by decodeCommand
    const meta = obj.metadata;
    if (meta.uid === undefined || meta.uid === '') throw this.invalid('metadata.uid must be filled by the proposer');
    if (meta.creationTimestamp === undefined || meta.creationTimestamp === '') throw this.invalid('metadata.creationTimestamp must be filled by the proposer');
    if (ns !== '' && this.store.requireNamespace && this.find(namespaceKind, '', ns) === undefined) {
      throw new NotFoundError(`create ${describe(kind, ns, name)}: namespace ${ns} not found`, this.details());
    }
    if (this.find(kind, ns, name) !== undefined) {
      throw new AlreadyExistsError(`create ${describe(kind, ns, name)}: it already exists`, this.details());
    }
    const m = buildMeta(meta, ns, meta.uid, this.rv, 1, meta.creationTimestamp, {});
    const o = deepFreeze({ ...obj, metadata: m }) as unknown as StoredObject;
    this.put(kind, ns, name, o, 'ADDED');
    return o;
  }

  private update(obj: KubeObject, expected: string | undefined, statusOnly: boolean): StoredObject {
    const { kind, ns, name } = this.resolve(obj.kind, obj.metadata.namespace, obj.metadata.name as string); // checked by decodeCommand
    const cur = this.find(kind, ns, name);
    if (cur === undefined) throw new NotFoundError(`update ${describe(kind, ns, name)}: not found`, this.details());
    const old = cur.object;
    this.checkVersion('update', old, expected);
    const uid = obj.metadata.uid;
    if (uid !== undefined && uid !== '') this.checkUid('update', old, uid);
    let next: Record<string, unknown>;
    if (statusOnly) {
      next = { ...old, metadata: { ...old.metadata } };
      if (obj.status === undefined) delete next['status'];
      else next['status'] = obj.status;
    } else {
      const om = old.metadata;
      const generation = deepEqual(old.spec, obj.spec) ? om.generation : om.generation + 1;
      const m = buildMeta(obj.metadata, ns, om.uid, om.resourceVersion, generation, om.creationTimestamp, om);
      next = { ...obj, metadata: m };
    }
    // Nothing changed: nothing to write (next still carries the old resourceVersion).
    if (deepEqual(next, old)) return old;
    (next['metadata'] as Record<string, unknown>)['resourceVersion'] = this.rv;
    const o = deepFreeze(next) as unknown as StoredObject;
    this.put(kind, ns, name, o, 'MODIFIED', cur);
    return o;
  }

  private delete(op: DeleteOp): StoredObject {
    const { kind, ns, name } = this.resolve(op.ref.kind, op.ref.namespace, op.ref.name);
    const cur = this.find(kind, ns, name);
    if (cur === undefined) throw new NotFoundError(`delete ${describe(kind, ns, name)}: not found`, this.details());
    this.checkVersion('delete', cur.object, op.expectedResourceVersion);
    if (op.expectedUid !== undefined) this.checkUid('delete', cur.object, op.expectedUid);
    if (op.orphanDependents === true) this.orphanDependents(kind, ns, name, cur.object.metadata.uid);
    if (op.graceful !== undefined) return this.mark(kind, ns, name, cur, op.graceful);
    if (kind === namespaceKind) this.deleteContents(name);
    return this.remove(kind, ns, name, cur);
  }

  /** mark starts a graceful deletion of a stored object, or shortens one under way (see DeleteOp.graceful). */
  private mark(kind: string, ns: string, name: string, cur: Stored, g: GracefulDeletion): StoredObject {
    const old = cur.object;
    const om = old.metadata;
    let deletionTimestamp = g.deletionTimestamp;
    if (om.deletionTimestamp !== undefined) {
      const had = om.deletionGracePeriodSeconds;
      if (had !== undefined && g.gracePeriodSeconds >= had) return old;
      const was = Date.parse(om.deletionTimestamp);
      if (had !== undefined && !Number.isNaN(was)) {
        deletionTimestamp = rfc3339(was - (had - g.gracePeriodSeconds) * 1000);
      } else if (!(Date.parse(g.deletionTimestamp) < was)) {
        // Marked without a grace period: keep the earlier of the two times.
        deletionTimestamp = om.deletionTimestamp;
      }
    }
    const m = buildMeta(om, ns, om.uid, this.rv, om.generation, om.creationTimestamp, {
      deletionTimestamp,
      deletionGracePeriodSeconds: g.gracePeriodSeconds,
    });
    const o = deepFreeze({ ...old, metadata: m }) as unknown as StoredObject;
    this.put(kind, ns, name, o, 'MODIFIED', cur);
    return o;
  }

  /**
   * orphanDependents drops the entries with `uid` from the ownerReferences of every object that
   * lists it (in namespace `ns`, or anywhere for a cluster-scoped owner), ordered by kind,
   * namespace, name. An empty list is removed.
   */
  private orphanDependents(ownerKind: string, ownerNs: string, ownerName: string, uid: string): void {
    const seen = new Set<string>();
    const candidates: { kind: string; ns: string; name: string; stored: Stored }[] = [];
    const consider = (kind: string, ns: string, name: string, stored: Stored | null): void => {
      const key = `${kind}/${ns}/${name}`;
      if (seen.has(key)) return;
      seen.add(key);
      if (stored !== null && !(kind === ownerKind && ns === ownerNs && name === ownerName)) candidates.push({ kind, ns, name, stored });
    };
    // Staged writes first: they hide the committed objects they replace or delete.
    for (const s of this.overlay.values()) if (ownerNs === '' || s.ns === ownerNs) consider(s.kind, s.ns, s.name, s.stored);
    const committed = ownerNs === '' ? this.store.allObjects() : this.store.objectsIn(ownerNs).map((v) => ({ ...v, ns: ownerNs }));
    for (const v of committed) if (v.ns === '' || !this.deletedNs.has(v.ns)) consider(v.kind, v.ns, v.name, v.stored);
    candidates.sort((a, b) => compareStrings(a.kind, b.kind) || compareStrings(a.ns, b.ns) || compareStrings(a.name, b.name));
    for (const c of candidates) {
      const old = c.stored.object;
      const refs = old.metadata.ownerReferences;
      if (!Array.isArray(refs)) continue;
      const kept = refs.filter((r) => (r as { uid?: unknown } | null)?.uid !== uid);
      if (kept.length === refs.length) continue;
      const { ownerReferences: _dropped, ...rest } = old.metadata;
      const meta = kept.length === 0 ? rest : { ...rest, ownerReferences: kept };
      const o = deepFreeze({ ...old, metadata: { ...meta, resourceVersion: this.rv } }) as unknown as StoredObject;
      this.put(c.kind, c.ns, c.name, o, 'MODIFIED', c.stored);
    }
  }

  private check(ref: ObjectRef, expected: string | undefined, precondition: 'exists' | 'notExists' | undefined): StoredObject | null {
    const { kind, ns, name } = this.resolve(ref.kind, ref.namespace, ref.name);
    const cur = this.find(kind, ns, name);
    if (precondition === 'notExists') {
      if (cur !== undefined) throw new AlreadyExistsError(`check ${describe(kind, ns, name)}: exists, expected it not to`, this.details());
      return null;
    }
    if (cur === undefined) throw new NotFoundError(`check ${describe(kind, ns, name)}: not found`, this.details());
    this.checkVersion('check', cur.object, expected);
    return cur.object;
  }

  // --- helpers

  /** resolve checks namespace rules for the kind and returns the key parts. */
  private resolve(kind: string, namespace: string | undefined, name: string): { kind: string; ns: string; name: string } {
    const ns = namespace ?? '';
    this.opRef = refOf(kind, ns, name);
    if (this.store.isClusterScoped(kind)) {
      if (ns !== '') throw this.invalid(`${kind} is cluster-scoped: metadata.namespace must be empty, got ${ns}`);
    } else if (ns === '') {
      throw this.invalid(`${kind} ${name}: metadata.namespace is required (${kind} is namespaced)`);
    }
    return { kind, ns, name };
  }

  private checkVersion(verb: string, cur: StoredObject, expected: string | undefined): void {
    if (expected === undefined) return;
    const actual = cur.metadata.resourceVersion;
    if (actual !== expected) {
      const m = cur.metadata;
      throw new ConflictError(
        `${verb} ${describe(cur.kind, m.namespace ?? '', m.name)}: expected resourceVersion ${expected}, but it is ${actual}; read it again and retry`,
        { ...this.details(), expected, actual },
      );
    }
  }

  private checkUid(verb: string, cur: StoredObject, expected: string): void {
    const actual = cur.metadata.uid;
    if (actual === expected) return;
    const m = cur.metadata;
    throw new ConflictError(
      `${verb} ${describe(cur.kind, m.namespace ?? '', m.name)}: uid ${expected} does not match the stored object's ${actual} (it was deleted and created again)`,
      { ...this.details(), expected, actual, field: 'uid' },
    );
  }

  private details(): StoreErrorDetails {
    return this.opRef === undefined ? { opIndex: this.opIndex } : { ref: this.opRef, opIndex: this.opIndex };
  }

  private invalid(msg: string): InvalidError {
    return new InvalidError(`ops[${this.opIndex}]: ${msg}`, this.details());
  }

  /** find sees the staged state: overlay, then deleted namespaces, then the committed state. */
  private find(kind: string, ns: string, name: string): Stored | undefined {
    if (this.overlay.size > 0) {
      const s = this.overlay.get(`${kind}/${ns}/${name}`);
      if (s !== undefined) return s.stored ?? undefined;
    }
    if (ns !== '' && this.deletedNs.has(ns)) return undefined;
    return this.store.lookup(kind, ns, name);
  }

  /** put stages a write; `prev` is the object it replaces (MODIFIED), kept on the event for filtered watches. */
  private put(kind: string, ns: string, name: string, o: StoredObject, type: WatchEventType, prev?: Stored): void {
    const stored: Stored = { object: o, bytes: this.bytesPerOp };
    this.overlay.set(`${kind}/${ns}/${name}`, { kind, ns, name, stored });
    const event: WatchEvent =
      prev === undefined
        ? Object.freeze({ type, object: o, revision: this.revision })
        : Object.freeze({ type, object: o, revision: this.revision, prevObject: prev.object });
    // The history holds the previous object too while the event is kept: count it.
    this.changes.push({ kind, ns, name, stored, event, weight: stored.bytes + (prev?.bytes ?? 0) });
  }

  private remove(kind: string, ns: string, name: string, cur: Stored): StoredObject {
    const gone = withVersion(cur.object, this.rv);
    this.overlay.set(`${kind}/${ns}/${name}`, { kind, ns, name, stored: null });
    const stored: Stored = { object: gone, bytes: cur.bytes };
    this.changes.push({ kind, ns, name, stored, event: Object.freeze({ type: 'DELETED', object: gone, revision: this.revision }), weight: cur.bytes });
    return gone;
  }

  /** deleteContents deletes every object in namespace `ns` (staged and committed), ordered by kind then name. */
  private deleteContents(ns: string): void {
    const victims: { kind: string; name: string; stored: Stored }[] = [];
    if (!this.deletedNs.has(ns)) {
      for (const v of this.store.objectsIn(ns)) {
        if (!this.overlay.has(`${v.kind}/${ns}/${v.name}`)) victims.push(v);
      }
    }
    for (const s of this.overlay.values()) {
      if (s.ns === ns && s.stored !== null) victims.push({ kind: s.kind, name: s.name, stored: s.stored });
    }
    victims.sort((a, b) => compareStrings(a.kind, b.kind) || compareStrings(a.name, b.name));
    for (const v of victims) this.remove(v.kind, ns, v.name, v.stored);
    this.deletedNs.add(ns);
  }
}

/**
 * buildMeta makes stored metadata: name, namespace (namespaced kinds only) and the server fields
 * first, in a fixed order, then the caller's other fields in their order.
 */
function buildMeta(
  meta: KubeObject['metadata'],
  ns: string,
  uid: string,
  rv: string,
  generation: number,
  creationTimestamp: string,
  deletion: Pick<KubeObject['metadata'], 'deletionTimestamp' | 'deletionGracePeriodSeconds'>,
): Record<string, unknown> {
  const m: Record<string, unknown> = { name: meta.name as string };
  if (ns !== '') m['namespace'] = ns;
  m['uid'] = uid;
  m['resourceVersion'] = rv;
  m['generation'] = generation;
  m['creationTimestamp'] = creationTimestamp;
  if (deletion.deletionTimestamp !== undefined) m['deletionTimestamp'] = deletion.deletionTimestamp;
  if (deletion.deletionGracePeriodSeconds !== undefined) m['deletionGracePeriodSeconds'] = deletion.deletionGracePeriodSeconds;
  const rest = meta as Readonly<Record<string, unknown>>;
  for (const k of Object.keys(rest)) {
    if (!serverMetaKeys.has(k) && rest[k] !== undefined) setOwn(m, k, rest[k]);
  }
  return m;
}
