/**
 * CommandLog is the replicated state machine of the command-log member: an ordered list of
 * applied commands, each `{id, payload}`, plus the member directory (name -> API address).
 *
 * Rules (every member applies the same entries in the same order, so all of this is
 * deterministic and identical everywhere):
 * - A command whose id was applied before is not applied again; applying it answers the first
 *   result (`duplicate: true`). That makes client retries exactly-once (Raft dissertation §6.3):
 *   a client that lost the answer retries with the same id, at any member.
 * - The result of applying a command is its position in the list, counting from 1, and the
 *   Raft index at which it was first applied.
 * - Ids are kept for the life of the log (no session expiry yet: the log itself is kept whole).
 * - A `member` record publishes a member's API address (written by a member when it becomes
 *   leader), so that followers can redirect clients to the leader's API.
 * - Malformed data is not an error of the member: it is skipped with a deterministic result.
 *
 * Record encoding (the data of a normal Raft entry):
 *   command: 0x01, u16 BE id length, id (UTF-8), payload (the rest)
 *   member:  0x02, u16 BE name length, name (UTF-8), API address (UTF-8, the rest)
 *
 * In memory the commands live in one append-only byte region, each as
 *   u64 BE Raft index (two u32 halves), u16 BE id length, id, u32 BE payload length, payload
 * so that a snapshot is one copy of that region (it grows with the log: a snapshot holds the
 * whole list), not a re-encoding of every command.
 * Snapshot encoding: "TCL2", u32 BE command count, u64 BE region length, the region, then u32 BE
 * member count and per member u16 name length, name, u16 address length, address; then u64
 * applied index.
 */
import type { Entry } from '@tugboat/raft';

/** maxCommandIdBytes is the longest command id accepted, in UTF-8 bytes. */
export const maxCommandIdBytes = 128;

const RECORD_COMMAND = 0x01;
const RECORD_MEMBER = 0x02;
const SNAPSHOT_MAGIC = 'TCL2';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Command is one applied command. `position` counts from 1; `index` is its Raft index. */
export interface Command {
  readonly position: number;
  readonly index: number;
  readonly id: string;
  readonly payload: Uint8Array;
}

/** Record is what a normal entry's data decodes to. */
export type LogRecord =
  | { readonly kind: 'command'; readonly id: string; readonly payload: Uint8Array }
  | { readonly kind: 'member'; readonly name: string; readonly apiAddress: string };

/** ApplyResult is the outcome of applying one entry. */
export type ApplyResult =
  | { readonly kind: 'command'; readonly position: number; readonly index: number; readonly duplicate: boolean }
  | { readonly kind: 'member'; readonly name: string; readonly apiAddress: string }
  | { readonly kind: 'skipped'; readonly reason: string };

/** encodeCommand encodes a command record. Throws if the id is empty or too long. */
export function encodeCommand(id: string, payload: Uint8Array): Uint8Array {
  const idBytes = encoder.encode(id);
  if (idBytes.length === 0 || idBytes.length > maxCommandIdBytes) {
    throw new RangeError(`command id must be 1 to ${maxCommandIdBytes} bytes of UTF-8, got ${idBytes.length}`);
  }
  const out = new Uint8Array(3 + idBytes.length + payload.length);
  out[0] = RECORD_COMMAND;
  out[1] = idBytes.length >>> 8;
  out[2] = idBytes.length & 0xff;
  out.set(idBytes, 3);
  out.set(payload, 3 + idBytes.length);
  return out;
}

/** encodeMember encodes a member record: `name` serves its API at `apiAddress`. */
export function encodeMember(name: string, apiAddress: string): Uint8Array {
  const nameBytes = encoder.encode(name);
  const addr = encoder.encode(apiAddress);
  if (nameBytes.length === 0 || nameBytes.length > 0xffff) throw new RangeError('member name must be 1 to 65535 bytes');
  const out = new Uint8Array(3 + nameBytes.length + addr.length);
  out[0] = RECORD_MEMBER;
  out[1] = nameBytes.length >>> 8;
  out[2] = nameBytes.length & 0xff;
  out.set(nameBytes, 3);
  out.set(addr, 3 + nameBytes.length);
  return out;
}

/** decodeRecord decodes a normal entry's data; returns a string saying why when it is malformed. */
export function decodeRecord(data: Uint8Array): LogRecord | string {
  if (data.length < 3) return `record of ${data.length} bytes is too short`;
  const n = (data[1]! << 8) | data[2]!;
  if (n === 0 || 3 + n > data.length) return `record name/id length ${n} does not fit in ${data.length} bytes`;
  let head: string;
  try {
    head = decoder.decode(data.subarray(3, 3 + n));
  } catch {
    return 'record id or name is not valid UTF-8';
  }
  const rest = data.subarray(3 + n);
  switch (data[0]) {
    case RECORD_COMMAND:
      return { kind: 'command', id: head, payload: rest };
    case RECORD_MEMBER:
      try {
        return { kind: 'member', name: head, apiAddress: decoder.decode(rest) };
      } catch {
        return 'member API address is not valid UTF-8';
      }
    default:
      return `unknown record kind ${data[0]}`;
  }
}

export class CommandLog {
  /** The command region (see the module comment); bytes [0, used) are in use. */
  private region = new Uint8Array(64 * 1024);
  private used = 0;
  /** Per command, by position - 1: where its record starts in the region, its id, its Raft index. */
  private offsets: number[] = [];
  private ids: string[] = [];
  private indexes: number[] = [];
  /** id -> position. */
  private byId = new Map<string, number>();
  private members = new Map<string, string>();
  private appliedIndex = 0;

  /** length is the number of commands in the log. */
  get length(): number {
    return this.offsets.length;
  }

  /** applied is the Raft index of the last entry applied (or restored from a snapshot). */
  get applied(): number {
    return this.appliedIndex;
  }

  /**
   * apply applies one committed normal entry. Deterministic: the same entries in the same order
   * give the same results on every member. Entries must come in increasing index order.
   */
  apply(entry: Pick<Entry, 'index' | 'data'>): ApplyResult {
    if (entry.index <= this.appliedIndex) {
      throw new Error(`command log: entry ${entry.index} applied out of order (applied ${this.appliedIndex})`);
    }
    this.appliedIndex = entry.index;
    const rec = decodeRecord(entry.data);
    if (typeof rec === 'string') return { kind: 'skipped', reason: rec };
    if (rec.kind === 'member') {
      this.members.set(rec.name, rec.apiAddress);
      return { kind: 'member', name: rec.name, apiAddress: rec.apiAddress };
    }
    const earlier = this.byId.get(rec.id);
    if (earlier !== undefined) {
      return { kind: 'command', position: earlier, index: this.indexes[earlier - 1]!, duplicate: true };
    }
    // The entry's data is [kind, u16 id length, id, payload]: copy id and payload from it.
    const idLen = (entry.data[1]! << 8) | entry.data[2]!;
    const payloadLen = rec.payload.length;
    const at = this.reserve(8 + 2 + idLen + 4 + payloadLen);
    const view = new DataView(this.region.buffer, this.region.byteOffset, this.region.byteLength);
    writeU64(view, at, entry.index);
    view.setUint16(at + 8, idLen);
    this.region.set(entry.data.subarray(3, 3 + idLen), at + 10);
    view.setUint32(at + 10 + idLen, payloadLen);
    this.region.set(rec.payload, at + 14 + idLen);
    this.offsets.push(at);
    this.ids.push(rec.id);
    this.indexes.push(entry.index);
    const position = this.offsets.length;
    this.byId.set(rec.id, position);
    return { kind: 'command', position, index: entry.index, duplicate: false };
  }

  /** read returns up to `limit` commands from position `from` (counting from 1) on. */
  read(from: number, limit: number): Command[] {
    const start = Math.max(1, from);
    const end = Math.min(this.offsets.length, start - 1 + Math.max(0, limit));
    const out: Command[] = [];
    for (let p = start; p <= end; p++) out.push(this.command(p));
    return out;
  }

  /** lookup returns the command applied with `id`, if any. */
  lookup(id: string): Command | undefined {
    const p = this.byId.get(id);
    return p === undefined ? undefined : this.command(p);
  }

  /** apiAddress returns the API address member `name` published, or '' if none. */
  apiAddress(name: string): string {
    return this.members.get(name) ?? '';
  }

  /** snapshot encodes the whole state (see the module comment for the layout). */
  snapshot(): Uint8Array {
    const memberBytes = [...this.members].map(([n, a]) => [encoder.encode(n), encoder.encode(a)] as const);
    let size = 4 + 4 + 8 + this.used + 4 + 8;
    for (const [n, a] of memberBytes) size += 2 + n.length + 2 + a.length;
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    out.set(encoder.encode(SNAPSHOT_MAGIC), 0);
    view.setUint32(4, this.offsets.length);
    writeU64(view, 8, this.used);
    out.set(this.region.subarray(0, this.used), 16);
    let at = 16 + this.used;
    view.setUint32(at, memberBytes.length);
    at += 4;
    for (const [n, a] of memberBytes) {
      view.setUint16(at, n.length);
      at += 2;
      out.set(n, at);
      at += n.length;
      view.setUint16(at, a.length);
      at += 2;
      out.set(a, at);
      at += a.length;
    }
    writeU64(view, at, this.appliedIndex);
    at += 8;
    if (at !== size) throw new Error(`command log: snapshot size ${at} != ${size}`);
    return out;
  }

  /** restore replaces the whole state with a snapshot's. Empty data means the empty log. Throws on malformed data. */
  restore(data: Uint8Array): void {
    let region = new Uint8Array(64 * 1024);
    let used = 0;
    const offsets: number[] = [];
    const ids: string[] = [];
    const indexes: number[] = [];
    const byId = new Map<string, number>();
    const members = new Map<string, string>();
    let applied = 0;
    if (data.length > 0) {
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      let at = 0;
      const need = (n: number): void => {
        if (at + n > data.length) throw new Error(`command log snapshot truncated at byte ${at} (need ${n} of ${data.length})`);
      };
      need(16);
      if (text.toString('latin1', 0, 4) !== SNAPSHOT_MAGIC) throw new Error('command log snapshot: bad magic');
      const count = view.getUint32(4);
      used = readU64(view, 8);
      at = 16;
      need(used);
      region = data.slice(16, 16 + used); // one copy; the region stays append-only from here
      const rview = new DataView(region.buffer);
      const rtext = Buffer.from(region.buffer, 0, region.byteLength);
      let r = 0;
      for (let i = 0; i < count; i++) {
        if (r + 14 > used) throw new Error(`command log snapshot: command ${i + 1} of ${count} is truncated`);
        const idLen = rview.getUint16(r + 8);
        const payloadLen = r + 14 + idLen <= used ? rview.getUint32(r + 10 + idLen) : 0;
        if (r + 14 + idLen + payloadLen > used) throw new Error(`command log snapshot: command ${i + 1} of ${count} is truncated`);
        const id = rtext.toString('utf8', r + 10, r + 10 + idLen);
        if (byId.has(id)) throw new Error(`command log snapshot: id ${JSON.stringify(id)} appears twice`);
        offsets.push(r);
        ids.push(id);
        indexes.push(readU64(rview, r));
        byId.set(id, i + 1);
        r += 14 + idLen + payloadLen;
      }
      if (r !== used) throw new Error(`command log snapshot: ${used - r} bytes after the last command`);
      at += used;
      need(4);
      const memberCount = view.getUint32(at);
      at += 4;
      for (let i = 0; i < memberCount; i++) {
        need(2);
        const nl = view.getUint16(at);
        at += 2;
        need(nl + 2);
        const name = text.toString('utf8', at, at + nl);
        at += nl;
        const al = view.getUint16(at);
        at += 2;
        need(al);
        members.set(name, text.toString('utf8', at, at + al));
        at += al;
      }
      need(8);
      applied = readU64(view, at);
      at += 8;
      if (at !== data.length) throw new Error(`command log snapshot: ${data.length - at} trailing bytes`);
    }
    this.region = region;
    this.used = used;
    this.offsets = offsets;
    this.ids = ids;
    this.indexes = indexes;
    this.byId = byId;
    this.members = members;
    this.appliedIndex = applied;
  }

  /** command builds the view of the command at `position` (its payload is a view into the region). */
  private command(position: number): Command {
    const at = this.offsets[position - 1]!;
    const id = this.ids[position - 1]!;
    const view = new DataView(this.region.buffer, this.region.byteOffset, this.region.byteLength);
    const idLen = view.getUint16(at + 8);
    const payloadLen = view.getUint32(at + 10 + idLen);
    const payload = this.region.subarray(at + 14 + idLen, at + 14 + idLen + payloadLen);
    return { position, index: this.indexes[position - 1]!, id, payload };
  }

  /** reserve makes room for `n` more bytes at the end of the region and returns where they start. */
  private reserve(n: number): number {
    if (this.used + n > this.region.length) {
      // Old payload views handed out by read() keep pointing at the old buffer, which stays valid.
      const next = new Uint8Array(Math.max(this.region.length * 2, this.used + n));
      next.set(this.region.subarray(0, this.used));
      this.region = next;
    }
    const at = this.used;
    this.used += n;
    return at;
  }
}

function writeU64(view: DataView, at: number, n: number): void {
  view.setUint32(at, Math.floor(n / 2 ** 32));
  view.setUint32(at + 4, n >>> 0);
}

function readU64(view: DataView, at: number): number {
  return view.getUint32(at) * 2 ** 32 + view.getUint32(at + 4);
}
