/**
 * RaftStorage keeps one member's durable Raft state in LevelDB (classic-level).
 *
 * Layout (keys are bytes; every value is `crc32(payload) (4 bytes, big-endian) || payload`):
 *
 * | key                       | payload                                                        |
 * |---------------------------|----------------------------------------------------------------|
 * | `m`                       | format version, node id, cluster id (written once, at creation) |
 * | `h`                       | hard state: term, commit, vote                                 |
 * | `s`                       | latest snapshot: index, term, membership, data                 |
 * | `a`                       | applied index (informational, not synced)                      |
 * | `e` + index (8 bytes, BE) | entry: kind, index, term, data                                  |
 *
 * Entry keys sort by index. Every write is one LevelDB batch, so a crash leaves either all of
 * an update or none of it. `load` checks every record and refuses to return state that is not
 * self-consistent (bad checksum, gaps, terms going backwards, commit past the log, ...).
 *
 * On "applied": the application state machine is in memory, so after a restart it is rebuilt
 * from the snapshot plus the committed log. `load` therefore reports `applied` = snapshot index;
 * the last applied index written with `saveApplied` is returned separately as `appliedOnDisk`
 * (for diagnostics, and for a future state machine that persists itself).
 */
import { ClassicLevel } from 'classic-level';
import { crc32 } from 'node:zlib';
import type { Entry, HardState, InitialState, Membership, NodeId, Snapshot } from './types.ts';

/** FORMAT_VERSION is the on-disk layout version written into the meta record. */
export const STORAGE_FORMAT_VERSION = 1;

/** RaftStorageCorruptError: stored data is damaged or inconsistent; the member must not serve. */
export class RaftStorageCorruptError extends Error {
  override readonly name = 'RaftStorageCorruptError';
  /** The record at fault, e.g. `entry/42`, `hardstate`, `snapshot`, `meta`. */
  readonly key: string;
  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super(`raft storage corrupt at ${key}: ${message}`, options);
    this.key = key;
  }
}

export function isRaftStorageCorruptError(e: unknown): e is RaftStorageCorruptError {
  return e instanceof Error && e.name === 'RaftStorageCorruptError';
}

/** RaftStorageMismatchError: the store was written by another member or another cluster. */
export class RaftStorageMismatchError extends Error {
  override readonly name = 'RaftStorageMismatchError';
  constructor(message: string) {
    super(message);
  }
}

export function isRaftStorageMismatchError(e: unknown): e is RaftStorageMismatchError {
  return e instanceof Error && e.name === 'RaftStorageMismatchError';
}

/** StoredState is what `load` returns: the core's InitialState plus facts about the store. */
export interface StoredState extends InitialState {
  /** True when nothing but the meta record was ever written (a brand-new member). */
  readonly empty: boolean;
  /** Last value written with `saveApplied` (0 if none). `applied` itself is the snapshot index. */
  readonly appliedOnDisk: number;
}

/** StorageUpdate is one Ready's worth of durable state; everything in it is written in one batch. */
export interface StorageUpdate {
  /** Snapshot received from the leader: replaces the whole stored log (written first). */
  readonly snapshot?: Snapshot | null;
  /** Entries to append; stored entries with index >= entries[0].index are deleted first. */
  readonly entries?: readonly Entry[];
  readonly hardState?: HardState | null;
  /** Applied index to record in the same batch (see `saveApplied`). */
  readonly applied?: number;
}

export interface StorageIdentity {
  readonly nodeId: NodeId;
  readonly clusterId: string;
}

const KEY_META = Uint8Array.of(0x6d); // 'm'
const KEY_HARD = Uint8Array.of(0x68); // 'h'
const KEY_SNAP = Uint8Array.of(0x73); // 's'
const KEY_APPLIED = Uint8Array.of(0x61); // 'a'
const ENTRY_PREFIX = 0x65; // 'e'
const MAX_INDEX = Number.MAX_SAFE_INTEGER;

const KIND_NORMAL = 1;
const KIND_CONF = 2;

/** entryKey is 'e' followed by the index as 8 bytes big-endian, so keys sort by index. */
export function entryKey(index: number): Uint8Array {
  const key = new Uint8Array(9);
  key[0] = ENTRY_PREFIX;
  const view = new DataView(key.buffer);
  view.setUint32(1, Math.floor(index / 2 ** 32));
  view.setUint32(5, index >>> 0);
  return key;
}

function entryKeyIndex(key: Uint8Array): number | undefined {
  if (key.length !== 9 || key[0] !== ENTRY_PREFIX) return undefined;
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
  const n = view.getUint32(1) * 2 ** 32 + view.getUint32(5);
  return Number.isSafeInteger(n) ? n : undefined;
}

function keyName(key: Uint8Array): string {
  const index = entryKeyIndex(key);
  if (index !== undefined) return `entry/${index}`;
  if (key.length === 1) {
    switch (key[0]) {
      case 0x6d: return 'meta';
      case 0x68: return 'hardstate';
      case 0x73: return 'snapshot';
      case 0x61: return 'applied';
    }
  }
  return `key/${Buffer.from(key).toString('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// Record encoding: a tiny writer/reader pair. Numbers are written as u64 (two u32 halves).

class Writer {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 4; // room for the checksum

  constructor(sizeHint: number) {
    this.buf = new Uint8Array(Math.max(64, sizeHint + 4));
    this.view = new DataView(this.buf.buffer);
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(n: number): void {
    this.reserve(1);
    this.view.setUint8(this.pos, n);
    this.pos += 1;
  }

  u32(n: number): void {
    this.reserve(4);
    this.view.setUint32(this.pos, n);
    this.pos += 4;
  }

  u64(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`raft storage: ${n} is not a non-negative safe integer`);
    this.u32(Math.floor(n / 2 ** 32));
    this.u32(n >>> 0);
  }

  str(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u32(bytes.length);
    this.raw(bytes);
  }

  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** finish fills in the checksum and returns the record. */
  finish(): Uint8Array {
    const record = this.buf.subarray(0, this.pos);
    this.view.setUint32(0, crc32(record.subarray(4)));
    return record;
  }
}

class Reader {
  private pos = 0;
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new Error(`record truncated at byte ${this.pos} (needs ${n} more)`);
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.pos++);
  }

  u32(): number {
    this.need(4);
    const n = this.view.getUint32(this.pos);
    this.pos += 4;
    return n;
  }

  u64(): number {
    const n = this.u32() * 2 ** 32 + this.u32();
    if (!Number.isSafeInteger(n)) throw new Error(`number ${n} is beyond 2^53`);
    return n;
  }

  str(): string {
    const n = this.u32();
    this.need(n);
    const s = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, n).toString('utf8');
    this.pos += n;
    return s;
  }

  /** rest returns a copy of the remaining bytes, as a plain Uint8Array (never a Buffer). */
  rest(): Uint8Array {
    const out = new Uint8Array(this.buf.length - this.pos);
    out.set(this.buf.subarray(this.pos));
    this.pos = this.buf.length;
    return out;
  }

  end(): void {
    if (this.pos !== this.buf.length) throw new Error(`${this.buf.length - this.pos} unexpected trailing bytes`);
  }
}

/** openRecord checks the checksum and returns a reader over the payload. */
function openRecord(key: Uint8Array, value: Uint8Array): Reader {
  if (value.length < 4) throw new RaftStorageCorruptError(keyName(key), `record of ${value.length} bytes is too short`);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const want = view.getUint32(0);
  const payload = value.subarray(4);
  const got = crc32(payload);
  if (want !== got) {
    throw new RaftStorageCorruptError(keyName(key), `checksum mismatch (stored ${hex32(want)}, computed ${hex32(got)})`);
  }
  return new Reader(payload);
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** decode runs `fn` over a checked record, turning any decoding failure into a corrupt error. */
function decode<T>(key: Uint8Array, value: Uint8Array, fn: (r: Reader) => T): T {
  const r = openRecord(key, value);
  try {
    const out = fn(r);
    r.end();
    return out;
  } catch (e) {
    if (isRaftStorageCorruptError(e)) throw e;
    throw new RaftStorageCorruptError(keyName(key), (e as Error).message, { cause: e });
  }
}

export function encodeEntry(e: Entry): Uint8Array {
  const w = new Writer(17 + e.data.length);
  w.u8(e.kind === 'conf' ? KIND_CONF : KIND_NORMAL);
  w.u64(e.index);
  w.u64(e.term);
  w.raw(e.data);
  return w.finish();
}

function decodeEntry(key: Uint8Array, value: Uint8Array): Entry {
  return decode(key, value, (r) => {
    const k = r.u8();
    if (k !== KIND_NORMAL && k !== KIND_CONF) throw new Error(`unknown entry kind ${k}`);
    const index = r.u64();
    const term = r.u64();
    const data = r.rest();
    return { index, term, kind: k === KIND_CONF ? 'conf' : 'normal', data };
  });
}

function encodeHardState(hs: HardState): Uint8Array {
  const w = new Writer(32 + hs.vote.length * 3);
  w.u64(hs.term);
  w.u64(hs.commit);
  w.str(hs.vote);
  return w.finish();
}

function decodeHardState(key: Uint8Array, value: Uint8Array): HardState {
  return decode(key, value, (r) => {
    const term = r.u64();
    const commit = r.u64();
    const vote = r.str();
    return { term, commit, vote };
  });
}

function writeMembership(w: Writer, m: Membership): void {
  w.u32(m.voters.length);
  for (const v of m.voters) w.str(v);
  const contexts = Object.entries(m.contexts);
  w.u32(contexts.length);
  for (const [id, ctx] of contexts) {
    w.str(id);
    w.str(ctx);
  }
}

function readMembership(r: Reader): Membership {
  const nVoters = r.u32();
  if (nVoters > 10_000) throw new Error(`implausible voter count ${nVoters}`);
  const voters: NodeId[] = [];
  for (let i = 0; i < nVoters; i++) voters.push(r.str());
  const nContexts = r.u32();
  if (nContexts > 10_000) throw new Error(`implausible context count ${nContexts}`);
  const contexts: Record<NodeId, string> = {};
  for (let i = 0; i < nContexts; i++) {
    const id = r.str();
    contexts[id] = r.str();
  }
  return { voters, contexts };
}

function encodeSnapshot(s: Snapshot): Uint8Array {
  const w = new Writer(256 + s.data.length);
  w.u64(s.meta.index);
  w.u64(s.meta.term);
  writeMembership(w, s.meta.membership);
  w.raw(s.data);
  return w.finish();
}

function decodeSnapshot(key: Uint8Array, value: Uint8Array): Snapshot {
  return decode(key, value, (r) => {
    const index = r.u64();
    const term = r.u64();
    const membership = readMembership(r);
    const data = r.rest();
    return { meta: { index, term, membership }, data };
  });
}

function encodeMeta(id: StorageIdentity): Uint8Array {
  const w = new Writer(64);
  w.u32(STORAGE_FORMAT_VERSION);
  w.str(id.nodeId);
  w.str(id.clusterId);
  return w.finish();
}

function decodeMeta(key: Uint8Array, value: Uint8Array): { version: number } & StorageIdentity {
  return decode(key, value, (r) => ({ version: r.u32(), nodeId: r.str(), clusterId: r.str() }));
}

function encodeIndex(n: number): Uint8Array {
  const w = new Writer(8);
  w.u64(n);
  return w.finish();
}

function decodeIndex(key: Uint8Array, value: Uint8Array): number {
  return decode(key, value, (r) => r.u64());
}

/** emptySnapshot is the "no snapshot yet" value: index 0, no members, no data. */
export function emptySnapshot(): Snapshot {
  return { meta: { index: 0, term: 0, membership: { voters: [], contexts: {} } }, data: new Uint8Array(0) };
}

type BatchOp =
  | { type: 'put'; key: Uint8Array; value: Uint8Array }
  | { type: 'del'; key: Uint8Array };

/**
 * RaftStorage is a single-writer store: one RaftNode owns it, and calls are not interleaved
 * (each `save`/`compact` is awaited before the next). `load` must be called once before any write.
 */
export class RaftStorage {
  readonly dir: string;
  readonly identity: StorageIdentity;
  private readonly db: ClassicLevel<Uint8Array, Uint8Array>;
  private loaded = false;
  private closed = false;
  /** Index of the latest stored snapshot (0 if none). */
  private snapIndex = 0;
  /** Index of the last stored entry, or snapIndex when no entries are stored after it. */
  private last = 0;

  private constructor(dir: string, identity: StorageIdentity, db: ClassicLevel<Uint8Array, Uint8Array>) {
    this.dir = dir;
    this.identity = identity;
    this.db = db;
  }

  /**
   * open opens (creating if missing) the store in `dir`. A new store records `identity`; an
   * existing store must have been created with the same node id and cluster id, else
   * RaftStorageMismatchError names both. LevelDB-level corruption is a RaftStorageCorruptError.
   */
  static async open(dir: string, identity: StorageIdentity): Promise<RaftStorage> {
    if (identity.nodeId === '') throw new Error('RaftStorage.open: identity.nodeId must not be empty');
    if (identity.clusterId === '') throw new Error('RaftStorage.open: identity.clusterId must not be empty');
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
    try {
      await db.open();
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause;
      if (cause?.code === 'LEVEL_CORRUPTION') {
        throw new RaftStorageCorruptError('leveldb', `cannot open ${dir}: ${String((cause as Error).message)}`, { cause: e });
      }
      throw new Error(`raft storage: cannot open ${dir}: ${(e as Error).message}${cause ? ` (${String((cause as Error).message)})` : ''}`, { cause: e });
    }
    const storage = new RaftStorage(dir, identity, db);
    try {
      await storage.checkMeta();
    } catch (e) {
      await db.close();
      throw e;
    }
    return storage;
  }

  private async checkMeta(): Promise<void> {
    const raw = await this.db.get(KEY_META);
    if (raw === undefined) {
      for await (const key of this.db.keys({ limit: 1 })) {
        throw new RaftStorageCorruptError('meta', `store in ${this.dir} has data (first key ${keyName(key)}) but no meta record`);
      }
      await this.db.put(KEY_META, encodeMeta(this.identity), { sync: true });
      return;
    }
    const meta = decodeMeta(KEY_META, raw);
    if (meta.version !== STORAGE_FORMAT_VERSION) {
      throw new RaftStorageMismatchError(
        `raft storage in ${this.dir} has format version ${meta.version}; this build reads version ${STORAGE_FORMAT_VERSION}`,
      );
    }
    if (meta.nodeId !== this.identity.nodeId || meta.clusterId !== this.identity.clusterId) {
      throw new RaftStorageMismatchError(
        `raft storage in ${this.dir} belongs to node "${meta.nodeId}" of cluster "${meta.clusterId}", ` +
          `not node "${this.identity.nodeId}" of cluster "${this.identity.clusterId}"`,
      );
    }
  }

  /**
   * load reads and checks all durable state. Throws RaftStorageCorruptError (naming the record)
   * on a bad checksum, an undecodable record, an entry whose index does not match its key, a
   * gap in the log or between the snapshot and the log, a term going backwards, an entry term
   * above the hard state term, or a commit index past the last stored index.
   */
  async load(): Promise<StoredState> {
    this.assertOpen();
    const hsRaw = await this.db.get(KEY_HARD);
    const hardState: HardState = hsRaw === undefined ? { term: 0, vote: '', commit: 0 } : decodeHardState(KEY_HARD, hsRaw);
    const snapRaw = await this.db.get(KEY_SNAP);
    const snapshot = snapRaw === undefined ? emptySnapshot() : decodeSnapshot(KEY_SNAP, snapRaw);
    const appliedRaw = await this.db.get(KEY_APPLIED);
    const appliedOnDisk = appliedRaw === undefined ? 0 : decodeIndex(KEY_APPLIED, appliedRaw);

    if (snapshot.meta.index === 0 && (snapshot.meta.term !== 0 || snapshot.data.length !== 0)) {
      throw new RaftStorageCorruptError('snapshot', `snapshot at index 0 has term ${snapshot.meta.term} and ${snapshot.data.length} data bytes`);
    }
    if (snapshot.meta.term > hardState.term) {
      throw new RaftStorageCorruptError('snapshot', `snapshot term ${snapshot.meta.term} is above the hard state term ${hardState.term}`);
    }

    const entries: Entry[] = [];
    let prevIndex = snapshot.meta.index;
    let prevTerm = snapshot.meta.term;
    for await (const [key, value] of this.db.iterator({ gte: entryKey(0), lte: entryKey(MAX_INDEX) })) {
      const keyIndex = entryKeyIndex(key);
      if (keyIndex === undefined) throw new RaftStorageCorruptError(keyName(key), 'malformed entry key');
      const e = decodeEntry(key, value);
      const name = `entry/${keyIndex}`;
      if (e.index !== keyIndex) throw new RaftStorageCorruptError(name, `record holds index ${e.index}, key says ${keyIndex}`);
      if (e.index <= snapshot.meta.index) {
        throw new RaftStorageCorruptError(name, `entry at or below the snapshot index ${snapshot.meta.index} was not compacted`);
      }
      if (e.index !== prevIndex + 1) {
        throw new RaftStorageCorruptError(name, `gap in the log: expected index ${prevIndex + 1} after ${prevIndex}`);
      }
      if (e.term < prevTerm) {
        throw new RaftStorageCorruptError(name, `term goes backwards: ${e.term} after ${prevTerm} at index ${prevIndex}`);
      }
      if (e.term > hardState.term) {
        throw new RaftStorageCorruptError(name, `entry term ${e.term} is above the hard state term ${hardState.term}`);
      }
      if (e.term === 0) throw new RaftStorageCorruptError(name, 'entry has term 0');
      entries.push(e);
      prevIndex = e.index;
      prevTerm = e.term;
    }
    const lastIndex = prevIndex;
    if (hardState.commit > lastIndex) {
      throw new RaftStorageCorruptError('hardstate', `commit ${hardState.commit} is beyond the last stored index ${lastIndex}`);
    }

    this.snapIndex = snapshot.meta.index;
    this.last = lastIndex;
    this.loaded = true;
    const empty = hsRaw === undefined && snapRaw === undefined && entries.length === 0;
    // A snapshot only ever covers committed entries, so its index is a lower bound on commit
    // (the commit record is written unsynced and may lag it after a crash).
    const commit = Math.max(hardState.commit, snapshot.meta.index);
    return { hardState: { ...hardState, commit }, snapshot, entries, applied: snapshot.meta.index, empty, appliedOnDisk };
  }

  /** lastIndex is the index of the last stored entry (or the snapshot index when there is none). */
  get lastIndex(): number {
    return this.last;
  }

  /** snapshotIndex is the index of the latest stored snapshot (0 if none). */
  get snapshotIndex(): number {
    return this.snapIndex;
  }

  /**
   * save writes one Ready's durable state in ONE batch, in this order: `snapshot` (deleting
   * every stored entry: a snapshot from the leader replaces the log), then `entries` (first
   * deleting stored entries with index >= entries[0].index), then `hardState`, then `applied`.
   * With `sync`, the batch is fsynced before the promise resolves.
   */
  async save(update: StorageUpdate, opts: { sync: boolean }): Promise<void> {
    this.assertLoaded();
    const ops: BatchOp[] = [];
    let snapIndex = this.snapIndex;
    let last = this.last;
    const snapshot = update.snapshot ?? null;
    if (snapshot !== null) {
      if (snapshot.meta.index <= snapIndex) {
        throw new Error(`RaftStorage.save: snapshot index ${snapshot.meta.index} is not after the stored snapshot ${snapIndex}`);
      }
      ops.push({ type: 'put', key: KEY_SNAP, value: encodeSnapshot(snapshot) });
      for (let i = snapIndex + 1; i <= last; i++) ops.push({ type: 'del', key: entryKey(i) });
      snapIndex = snapshot.meta.index;
      last = snapIndex;
    }
    const entries = update.entries ?? [];
    const first = entries[0];
    if (first !== undefined) {
      if (first.index <= snapIndex || first.index > last + 1) {
        throw new Error(
          `RaftStorage.save: entries start at ${first.index}; must be in (${snapIndex}, ${last + 1}] (snapshot ${snapIndex}, last ${last})`,
        );
      }
      for (let i = first.index; i <= last; i++) ops.push({ type: 'del', key: entryKey(i) });
      let expect = first.index;
      for (const e of entries) {
        if (e.index !== expect) throw new Error(`RaftStorage.save: entries not contiguous: ${e.index} where ${expect} was expected`);
        ops.push({ type: 'put', key: entryKey(e.index), value: encodeEntry(e) });
        expect++;
      }
      last = expect - 1;
    }
    if (update.hardState) ops.push({ type: 'put', key: KEY_HARD, value: encodeHardState(update.hardState) });
    if (update.applied !== undefined) ops.push({ type: 'put', key: KEY_APPLIED, value: encodeIndex(update.applied) });
    if (ops.length === 0) return;
    await this.db.batch(ops, { sync: opts.sync });
    this.snapIndex = snapIndex;
    this.last = last;
  }

  /**
   * saveApplied records the applied index, not synced. Informational: with an in-memory state
   * machine the member re-applies from its snapshot after a restart (see the module comment).
   */
  async saveApplied(index: number): Promise<void> {
    this.assertLoaded();
    await this.db.put(KEY_APPLIED, encodeIndex(index), { sync: false });
  }

  /**
   * compact stores `snapshot` (the application's state at `snapshot.meta.index`) and deletes the
   * stored entries up to and including that index, in one batch. Not synced: losing it in a
   * crash leaves the previous snapshot and the full log, which is equally valid.
   */
  async compact(snapshot: Snapshot): Promise<void> {
    this.assertLoaded();
    const index = snapshot.meta.index;
    if (index <= this.snapIndex) return;
    if (index > this.last) throw new Error(`RaftStorage.compact: snapshot index ${index} is beyond the last stored entry ${this.last}`);
    const ops: BatchOp[] = [{ type: 'put', key: KEY_SNAP, value: encodeSnapshot(snapshot) }];
    for (let i = this.snapIndex + 1; i <= index; i++) ops.push({ type: 'del', key: entryKey(i) });
    await this.db.batch(ops, { sync: false });
    this.snapIndex = index;
  }

  /** close closes the database; further calls throw. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`RaftStorage: ${this.dir} is closed`);
  }

  private assertLoaded(): void {
    this.assertOpen();
    if (!this.loaded) throw new Error('RaftStorage: load() must be called before writing');
  }
}
