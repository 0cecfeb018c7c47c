/**
 * Transport moves Raft messages between members. `GrpcTransport` is the production one: a
 * grpc-js server for tug.v1.RaftTransportService and one client per peer.
 *
 * Sending never blocks and never throws: messages are queued per peer; everything sent in one
 * turn of the event loop is cut into batches (at most `maxBatchBytes` each) and written, in
 * order, to one long-lived client-streaming `Stream` call per peer (or, in 'unary' mode, one
 * `Deliver` call at a time). Messages for a peer with no known address, a peer whose call just
 * failed (for `peerRetryMs` after each failure), or a full queue are dropped and counted: Raft
 * retries by itself.
 *
 * Receiving validates every message before the handler sees it. A batch with another cluster
 * id is refused whole (FAILED_PRECONDITION); a message that is malformed, not addressed to this
 * member, or from an unknown sender is dropped and counted. Each rejection is logged (at most
 * one line per sender and reason per `logIntervalMs`, with the count suppressed in between).
 */
import { Server } from '@grpc/grpc-js';
import pino from 'pino';
import type { Logger } from 'pino';
import {
  GrpcError,
  INSECURE_PLAINTEXT,
  LogLimiter,
  RaftEntryKind,
  RaftMessageType,
  RaftTransportService,
  Status,
  addService,
  bindServer,
  clientTransport,
  createClient,
  logRefusals,
  serverCredentials,
  shutdownServer,
} from '@tugboat/proto';
import type {
  RaftEntry,
  RaftMessage,
  RaftMessageBatch,
  RaftSnapshotMeta,
  Security,
  ServiceClient,
} from '@tugboat/proto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { RaftMessageBatchSchema, RaftMessageSchema } from '@tugboat/proto';
import type { Entry, Message, MessageType, NodeId, SnapshotMeta } from './types.ts';

/** MessageHandler receives validated inbound messages, in arrival order. */
export type MessageHandler = (msgs: readonly Message[]) => void;

/**
 * Transport is what a RaftNode needs from the network. The simulator and tests supply others.
 * - `send` queues messages for their `to` members; it never blocks and never throws.
 * - `onMessage` sets the one handler for inbound messages (a later call replaces it).
 * - `updatePeers` replaces the address book (member id -> "host:port"). Every id ever given is
 *   remembered as a known member, so messages from removed members still reach the core.
 * - `close` stops sending and receiving; safe to call twice.
 */
export interface Transport {
  send(msgs: readonly Message[]): void;
  onMessage(handler: MessageHandler): void;
  updatePeers(peers: Readonly<Record<NodeId, string>>): void;
  close(): Promise<void>;
}

/** TransportStats counts what a GrpcTransport did since it started. */
export interface TransportStats {
  sentMessages: number;
  sentBatches: number;
  /** Dropped on send, by reason. */
  droppedNoAddress: number;
  droppedPeerDown: number;
  droppedQueueFull: number;
  /** Messages lost to a failed call (in stream mode, only those not yet written to it). */
  droppedFailed: number;
  /** Calls (Deliver calls, or Stream calls) that failed. */
  failedCalls: number;
  receivedMessages: number;
  /** Inbound messages or batches refused, by reason. */
  rejectedCluster: number;
  rejectedMalformed: number;
  rejectedMisaddressed: number;
  rejectedUnknownSender: number;
}

export interface GrpcTransportOptions {
  /** This member's id: inbound messages must be addressed to it. */
  readonly id: NodeId;
  /** Cluster id sent with every batch and required on every inbound batch. */
  readonly clusterId: string;
  /** Address to listen on, "host:port"; port 0 picks a free port (see `address`). */
  readonly listen: string;
  /** Initial address book (see Transport.updatePeers). Default: empty. */
  readonly peers?: Readonly<Record<NodeId, string>>;
  readonly logger?: Logger;
  /** Largest payload in one Deliver call, bytes. Default 8 MiB. */
  readonly maxBatchBytes?: number;
  /** Largest number of messages queued for one peer; more are dropped. Default 10,000. */
  readonly maxQueueMessages?: number;
  /** After a failed call, messages for that peer are dropped for this long, ms. Default 100. */
  readonly peerRetryMs?: number;
  /** Deadline of one Deliver call, ms. Default 5,000. */
  readonly deliverTimeoutMs?: number;
  /** At most one log line per (sender, reason) per this many ms. Default 1,000. */
  readonly logIntervalMs?: number;
  /**
   * How batches travel: 'stream' keeps one client-streaming `Stream` call open per peer and
   * writes each batch to it as soon as it is cut (no round trip between batches); 'unary'
   * makes one `Deliver` call per batch, one call at a time per peer. Default 'stream'.
   */
  readonly mode?: 'stream' | 'unary';
  /** How the server listens and the peer clients dial: mutual TLS under the cluster CA, or plain
   *  text. Default plain text (the Raft-level tests); a member always says. */
  readonly security?: Security;
}

/** Largest gRPC message accepted, bytes: a full batch plus room. */
const maxGrpcMessageBytes = 64 * 1024 * 1024;
const maxSafe = BigInt(Number.MAX_SAFE_INTEGER);

// ---------------------------------------------------------------------------------------------
// Conversion between core messages and protobuf messages.

const typeToProto: Record<MessageType, RaftMessageType> = {
  append: RaftMessageType.APPEND,
  appendResp: RaftMessageType.APPEND_RESP,
  heartbeat: RaftMessageType.HEARTBEAT,
  heartbeatResp: RaftMessageType.HEARTBEAT_RESP,
  preVote: RaftMessageType.PRE_VOTE,
  preVoteResp: RaftMessageType.PRE_VOTE_RESP,
  vote: RaftMessageType.VOTE,
  voteResp: RaftMessageType.VOTE_RESP,
  snapshot: RaftMessageType.SNAPSHOT,
  snapshotResp: RaftMessageType.SNAPSHOT_RESP,
  timeoutNow: RaftMessageType.TIMEOUT_NOW,
  readIndex: RaftMessageType.READ_INDEX,
  readIndexResp: RaftMessageType.READ_INDEX_RESP,
};

const typeFromProto = new Map<number, MessageType>(
  Object.entries(typeToProto).map(([k, v]) => [v as number, k as MessageType]),
);

/** messageToProto converts a core message to the init shape of tug.v1.RaftMessage. */
export function messageToProto(m: Message): MessageInitShape<typeof RaftMessageSchema> {
  const out: MessageInitShape<typeof RaftMessageSchema> = {
    type: typeToProto[m.type],
    from: m.from,
    to: m.to,
    term: BigInt(m.term),
    logTerm: BigInt(m.logTerm),
    index: BigInt(m.index),
    commit: BigInt(m.commit),
    entries: m.entries.map((e) => ({
      index: BigInt(e.index),
      term: BigInt(e.term),
      kind: e.kind === 'conf' ? RaftEntryKind.CONF : RaftEntryKind.NORMAL,
      data: e.data,
    })),
    reject: m.reject,
    rejectHint: BigInt(m.rejectHint),
    context: m.context,
    offset: BigInt(m.offset),
    data: m.data,
    done: m.done,
  };
  if (m.snapshotMeta !== null) {
    const s = m.snapshotMeta;
    out.snapshotMeta = {
      index: BigInt(s.index),
      term: BigInt(s.term),
      membership: { voters: [...s.membership.voters], contexts: { ...s.membership.contexts } },
    };
  }
  return out;
}

class Malformed extends Error {}

const emptyBytes = new Uint8Array(0);

/** copyBytes copies decoded bytes into a plain Uint8Array: the decoder hands out views into the
 *  whole received gRPC buffer (a Buffer), and a log entry must not pin that buffer in memory. */
function copyBytes(b: Uint8Array): Uint8Array {
  return b.length === 0 ? emptyBytes : new Uint8Array(b);
}

function num(v: bigint, field: string): number {
  if (v > maxSafe) throw new Malformed(`${field} ${v} is above 2^53-1`);
  return Number(v);
}

function entryFromProto(e: RaftEntry, i: number): Entry {
  let kind: Entry['kind'];
  if (e.kind === RaftEntryKind.NORMAL) kind = 'normal';
  else if (e.kind === RaftEntryKind.CONF) kind = 'conf';
  else throw new Malformed(`entries[${i}] has kind ${e.kind}`);
  return { index: num(e.index, `entries[${i}].index`), term: num(e.term, `entries[${i}].term`), kind, data: copyBytes(e.data) };
}

function snapshotMetaFromProto(s: RaftSnapshotMeta): SnapshotMeta {
  const m = s.membership;
  if (m === undefined) throw new Malformed('snapshot_meta has no membership');
  const voters = [...m.voters];
  if (voters.some((v) => v === '')) throw new Malformed('snapshot_meta.membership has an empty voter id');
  if (new Set(voters).size !== voters.length) throw new Malformed('snapshot_meta.membership lists a voter twice');
  return {
    index: num(s.index, 'snapshot_meta.index'),
    term: num(s.term, 'snapshot_meta.term'),
    membership: { voters, contexts: { ...m.contexts } },
  };
}

/**
 * messageFromProto converts and checks one inbound message. Returns the message, or a string
 * saying why it is malformed. It does not check the addressee or the sender (see GrpcTransport).
 */
export function messageFromProto(p: RaftMessage): Message | string {
  try {
    const type = typeFromProto.get(p.type);
    if (type === undefined) throw new Malformed(`unknown message type ${p.type}`);
    if (p.from === '') throw new Malformed('empty from');
    if (p.to === '') throw new Malformed('empty to');
    const m: Message = {
      type,
      from: p.from,
      to: p.to,
      term: num(p.term, 'term'),
      logTerm: num(p.logTerm, 'log_term'),
      index: num(p.index, 'index'),
      commit: num(p.commit, 'commit'),
      entries: p.entries.map(entryFromProto),
      reject: p.reject,
      rejectHint: num(p.rejectHint, 'reject_hint'),
      context: p.context,
      snapshotMeta: p.snapshotMeta === undefined ? null : snapshotMetaFromProto(p.snapshotMeta),
      offset: num(p.offset, 'offset'),
      data: copyBytes(p.data),
      done: p.done,
    };
    if (type === 'snapshot' && m.snapshotMeta === null) throw new Malformed('snapshot message without snapshot_meta');
    return m;
  } catch (e) {
    if (e instanceof Malformed) return e.message;
    throw e;
  }
}

/** messageBytes estimates a message's encoded size, for batching limits. */
export function messageBytes(m: Message): number {
  let n = 64 + m.from.length + m.to.length + m.context.length + m.data.length;
  for (const e of m.entries) n += 24 + e.data.length;
  if (m.snapshotMeta !== null) n += 64 + JSON.stringify(m.snapshotMeta.membership).length;
  return n;
}

// ---------------------------------------------------------------------------------------------
// GrpcTransport.

/**
 * StreamFeed is the request side of one client-streaming call: the sender pushes batches, the
 * gRPC adapter pulls them as the connection takes them. Ending it ends the call.
 */
class StreamFeed implements AsyncIterable<{ batch: MessageInitShape<typeof RaftMessageBatchSchema> }> {
  private items: { batch: MessageInitShape<typeof RaftMessageBatchSchema>; count: number }[] = [];
  private waiter: ((r: IteratorResult<{ batch: MessageInitShape<typeof RaftMessageBatchSchema> }>) => void) | null = null;
  private ended = false;
  /** Messages pushed but not yet taken by the connection. */
  pending = 0;
  private readonly onTake: (count: number) => void;

  constructor(onTake: (count: number) => void) {
    this.onTake = onTake;
  }

  push(batch: MessageInitShape<typeof RaftMessageBatchSchema>, count: number): void {
    if (this.ended) return;
    const w = this.waiter;
    if (w !== null) {
      this.waiter = null;
      this.onTake(count);
      w({ value: { batch }, done: false });
      return;
    }
    this.items.push({ batch, count });
    this.pending += count;
  }

  /** end ends the call's request stream and returns how many pushed messages were never taken. */
  end(): number {
    this.ended = true;
    const dropped = this.pending;
    this.items = [];
    this.pending = 0;
    const w = this.waiter;
    this.waiter = null;
    w?.({ value: undefined, done: true });
    return dropped;
  }

  [Symbol.asyncIterator](): AsyncIterator<{ batch: MessageInitShape<typeof RaftMessageBatchSchema> }> {
    return {
      next: () => {
        const item = this.items.shift();
        if (item !== undefined) {
          this.pending -= item.count;
          this.onTake(item.count);
          return Promise.resolve({ value: { batch: item.batch }, done: false });
        }
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.waiter = resolve));
      },
    };
  }
}

interface Peer {
  readonly id: NodeId;
  readonly address: string;
  readonly client: ServiceClient<typeof RaftTransportService>;
  /** Messages not yet cut into a batch. */
  queue: Message[];
  /** A flush is scheduled or (unary mode) a call is in flight. */
  sending: boolean;
  /** Stream mode: the open call's request feed, or null when none is open. */
  feed: StreamFeed | null;
  /** Messages are dropped until this time (performance.now ms) after a failure. */
  downUntilMs: number;
  /** Consecutive failed calls; 0 when the peer is reachable. */
  failures: number;
  droppedWhileDown: number;
  closed: boolean;
}

function zeroStats(): TransportStats {
  return {
    sentMessages: 0,
    sentBatches: 0,
    droppedNoAddress: 0,
    droppedPeerDown: 0,
    droppedQueueFull: 0,
    droppedFailed: 0,
    failedCalls: 0,
    receivedMessages: 0,
    rejectedCluster: 0,
    rejectedMalformed: 0,
    rejectedMisaddressed: 0,
    rejectedUnknownSender: 0,
  };
}

function positive(name: string, v: number | undefined, def: number): number {
  const n = v ?? def;
  if (!(Number.isFinite(n) && n > 0)) throw new Error(`GrpcTransport: ${name} must be a positive number, got ${String(v)}`);
  return n;
}

/** GrpcTransport is the production Transport over grpc-js. Create it with `GrpcTransport.listen`. */
export class GrpcTransport implements Transport {
  readonly id: NodeId;
  readonly clusterId: string;
  private boundAddress = '';
  private readonly server: Server;
  private readonly log: Logger;
  private readonly maxBatchBytes: number;
  private readonly maxQueueMessages: number;
  private readonly peerRetryMs: number;
  private readonly deliverTimeoutMs: number;
  private readonly mode: 'stream' | 'unary';
  private readonly security: Security;
  private readonly limiter: LogLimiter;
  private readonly peers = new Map<NodeId, Peer>();
  /** Every member id this transport was ever told about. */
  private readonly known = new Set<NodeId>();
  private handler: MessageHandler = () => undefined;
  private closed = false;
  private readonly counters: TransportStats = zeroStats();

  private constructor(opts: GrpcTransportOptions, server: Server) {
    this.id = opts.id;
    this.clusterId = opts.clusterId;
    this.server = server;
    this.log = opts.logger ?? pino({ name: 'raft-transport' });
    this.maxBatchBytes = positive('maxBatchBytes', opts.maxBatchBytes, 8 * 1024 * 1024);
    this.maxQueueMessages = positive('maxQueueMessages', opts.maxQueueMessages, 10_000);
    this.peerRetryMs = positive('peerRetryMs', opts.peerRetryMs, 100);
    this.deliverTimeoutMs = positive('deliverTimeoutMs', opts.deliverTimeoutMs, 5_000);
    this.limiter = new LogLimiter(positive('logIntervalMs', opts.logIntervalMs, 1_000));
    this.mode = opts.mode ?? 'stream';
    this.security = opts.security ?? INSECURE_PLAINTEXT;
    if (this.mode !== 'stream' && this.mode !== 'unary') throw new Error(`GrpcTransport: mode must be "stream" or "unary", got ${String(opts.mode)}`);
  }

  /** listen starts the server on `opts.listen` and returns the transport. */
  static async listen(opts: GrpcTransportOptions): Promise<GrpcTransport> {
    if (opts.id === '') throw new Error('GrpcTransport: id must not be empty');
    if (opts.clusterId === '') throw new Error('GrpcTransport: clusterId must not be empty');
    const server = new Server({
      'grpc.max_receive_message_length': maxGrpcMessageBytes,
      'grpc.max_send_message_length': maxGrpcMessageBytes,
    });
    const t = new GrpcTransport(opts, server);
    addService(
      server,
      RaftTransportService,
      {
        deliver: async (req) => {
          const r = t.receive(req.batch, 'Deliver');
          return { accepted: r.accepted, rejected: r.rejected };
        },
        stream: async (reqs) => {
          let accepted = 0;
          let rejected = 0;
          for await (const req of reqs) {
            const r = t.receive(req.batch, 'Stream');
            accepted += r.accepted;
            rejected += r.rejected;
          }
          return { accepted, rejected };
        },
      },
      {
        onInternalError: (err, method) =>
          t.log.error({ err, method: method.name }, 'raft transport: internal error serving a call'),
      },
    );
    const host = hostOf(opts.listen);
    const port = await bindServer(server, opts.listen, serverCredentials(t.security, logRefusals(t.log, 'raft transport')));
    t.boundAddress = `${host}:${port}`;
    if (opts.peers !== undefined) t.updatePeers(opts.peers);
    return t;
  }

  /** address is where the server listens, "host:port", with the real port when 0 was asked. */
  get address(): string {
    return this.boundAddress;
  }

  /** stats returns a copy of the counters. */
  stats(): TransportStats {
    return { ...this.counters };
  }

  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }

  updatePeers(peers: Readonly<Record<NodeId, string>>): void {
    if (this.closed) return;
    for (const [id, address] of Object.entries(peers)) {
      if (id === '') continue;
      this.known.add(id);
      if (id === this.id) continue;
      const p = this.peers.get(id);
      if (p !== undefined && p.address === address) continue;
      if (p !== undefined) this.closePeer(p);
      if (address === '') continue;
      const transport = clientTransport(this.security, address);
      this.peers.set(id, {
        id,
        address,
        client: createClient(RaftTransportService, address, {
          credentials: transport.credentials,
          channelOptions: {
            ...transport.channelOptions,
            'grpc.max_receive_message_length': maxGrpcMessageBytes,
            'grpc.max_send_message_length': maxGrpcMessageBytes,
            'grpc.initial_reconnect_backoff_ms': 100,
            'grpc.max_reconnect_backoff_ms': 1000,
            // A peer that hangs (not just dies) must fail the open stream, not stall it forever.
            'grpc.keepalive_time_ms': 10_000,
            'grpc.keepalive_timeout_ms': 5_000,
            'grpc.keepalive_permit_without_calls': 1,
          },
        }),
        queue: [],
        sending: false,
        feed: null,
        downUntilMs: 0,
        failures: 0,
        droppedWhileDown: 0,
        closed: false,
      });
      this.log.info({ peer: id, address, previous: p?.address }, 'raft transport: peer address set');
    }
    for (const p of [...this.peers.values()]) {
      if (!Object.hasOwn(peers, p.id)) {
        this.closePeer(p);
        this.log.info({ peer: p.id, address: p.address }, 'raft transport: peer removed from the address book');
      }
    }
  }

  /** knows says whether `id` was ever in the address book (a member of some configuration seen). */
  knows(id: NodeId): boolean {
    return this.known.has(id);
  }

  send(msgs: readonly Message[]): void {
    if (this.closed) return;
    const now = performance.now();
    for (const m of msgs) {
      const p = this.peers.get(m.to);
      if (p === undefined) {
        this.counters.droppedNoAddress++;
        this.logLimited('warn', `noaddr/${m.to}`, { peer: m.to, type: m.type }, 'raft transport: dropped message for a member with no known address');
        continue;
      }
      if (now < p.downUntilMs) {
        this.counters.droppedPeerDown++;
        p.droppedWhileDown++;
        continue;
      }
      if (p.queue.length + (p.feed?.pending ?? 0) >= this.maxQueueMessages) {
        this.counters.droppedQueueFull++;
        this.logLimited('warn', `full/${p.id}`, { peer: p.id, queued: p.queue.length }, 'raft transport: send queue full, dropping');
        continue;
      }
      p.queue.push(m);
      if (!p.sending) {
        p.sending = true;
        // Everything sent in this turn of the event loop goes out in one batch.
        queueMicrotask(() => (this.mode === 'stream' ? this.flushToStream(p) : void this.flushUnary(p)));
      }
    }
  }

  /** cutBatch takes the next batch (at most maxBatchBytes, at least one message) off the queue. */
  private cutBatch(p: Peer): Message[] {
    let bytes = 0;
    let n = 0;
    for (const m of p.queue) {
      const b = messageBytes(m);
      if (n > 0 && bytes + b > this.maxBatchBytes) break;
      bytes += b;
      n++;
    }
    return p.queue.splice(0, n);
  }

  /** Stream mode: move everything queued onto the peer's open call, opening one if needed. */
  private flushToStream(p: Peer): void {
    p.sending = false;
    if (p.closed || this.closed || p.queue.length === 0) return;
    const feed = p.feed ?? this.openStream(p);
    while (p.queue.length > 0) {
      const batch = this.cutBatch(p);
      feed.push({ clusterId: this.clusterId, messages: batch.map(messageToProto) }, batch.length);
    }
  }

  private openStream(p: Peer): StreamFeed {
    const feed = new StreamFeed((count) => {
      this.counters.sentBatches++;
      this.counters.sentMessages += count;
    });
    p.feed = feed;
    p.client.stream(feed).then(
      () => {
        // Only we end a stream (on close or peer change); nothing to do.
        if (p.feed === feed) p.feed = null;
      },
      (err: unknown) => {
        if (p.feed === feed) p.feed = null;
        const lost = feed.end();
        if (p.closed || this.closed) return;
        this.peerFailed(p, err, lost);
      },
    );
    return feed;
  }

  /** Unary mode: one Deliver call at a time; what is queued meanwhile goes in the next batch. */
  private async flushUnary(p: Peer): Promise<void> {
    while (!p.closed && !this.closed && p.queue.length > 0) {
      const batch = this.cutBatch(p);
      try {
        await p.client.deliver(
          { batch: { clusterId: this.clusterId, messages: batch.map(messageToProto) } },
          { timeoutMs: this.deliverTimeoutMs },
        );
        this.counters.sentBatches++;
        this.counters.sentMessages += batch.length;
        this.peerReachable(p);
      } catch (err) {
        if (p.closed || this.closed) break;
        this.peerFailed(p, err, batch.length);
      }
    }
    p.sending = false;
  }

  /** peerFailed drops what is queued for the peer and stops sending to it for peerRetryMs. */
  private peerFailed(p: Peer, err: unknown, lost: number): void {
    const dropped = lost + p.queue.length;
    this.counters.droppedFailed += dropped;
    this.counters.failedCalls++;
    p.queue = [];
    p.failures++;
    p.downUntilMs = performance.now() + this.peerRetryMs;
    const e = err instanceof GrpcError ? { code: err.codeName, message: err.message } : { message: String(err) };
    if (err instanceof GrpcError && err.code === Status.FAILED_PRECONDITION) {
      // The peer refused us as a whole (another cluster): always worth saying, but limited.
      this.logLimited('error', `refused/${p.id}`, { peer: p.id, address: p.address, ...e }, 'raft transport: peer refused our messages');
    } else if (p.failures === 1) {
      this.log.warn({ peer: p.id, address: p.address, dropped, ...e }, 'raft transport: peer unreachable, dropping its messages');
    }
  }

  /** peerReachable notes that the peer answered (a reply, or a message from it). */
  private peerReachable(p: Peer): void {
    if (p.failures === 0) return;
    this.log.info(
      { peer: p.id, address: p.address, failedCalls: p.failures, droppedWhileDown: p.droppedWhileDown },
      'raft transport: peer reachable again',
    );
    p.failures = 0;
    p.droppedWhileDown = 0;
  }

  /** receive validates one inbound batch and hands the good messages to the handler. */
  private receive(batch: RaftMessageBatch | undefined, method: string): { accepted: number; rejected: number } {
    if (this.closed) throw new GrpcError(Status.UNAVAILABLE, `raft transport of ${this.id} is closed`);
    if (batch === undefined) {
      this.counters.rejectedMalformed++;
      this.logLimited('warn', 'nobatch', { method }, 'raft transport: rejected a call without a batch');
      throw new GrpcError(Status.INVALID_ARGUMENT, 'request has no batch');
    }
    if (batch.clusterId !== this.clusterId) {
      this.counters.rejectedCluster += Math.max(1, batch.messages.length);
      const from = batch.messages[0]?.from ?? '';
      this.logLimited(
        'warn',
        `cluster/${batch.clusterId}`,
        { clusterId: batch.clusterId, from, messages: batch.messages.length },
        'raft transport: rejected a batch from another cluster',
      );
      throw new GrpcError(
        Status.FAILED_PRECONDITION,
        `cluster id ${JSON.stringify(batch.clusterId)} is not this cluster's (${JSON.stringify(this.clusterId)})`,
      );
    }
    const good: Message[] = [];
    let rejected = 0;
    for (const p of batch.messages) {
      const m = messageFromProto(p);
      let reason: string | undefined;
      if (typeof m === 'string') {
        reason = `malformed: ${m}`;
        this.counters.rejectedMalformed++;
      } else if (m.to !== this.id) {
        reason = `addressed to ${JSON.stringify(m.to)}, this member is ${JSON.stringify(this.id)}`;
        this.counters.rejectedMisaddressed++;
      } else if (!this.known.has(m.from)) {
        reason = `unknown sender ${JSON.stringify(m.from)}`;
        this.counters.rejectedUnknownSender++;
      }
      if (reason !== undefined) {
        rejected++;
        const key = `${p.from}/${reason.slice(0, 40)}`;
        this.logLimited('warn', key, { from: p.from, to: p.to, reason }, 'raft transport: rejected message');
        continue;
      }
      good.push(m as Message);
    }
    const sender = good[0] === undefined ? undefined : this.peers.get(good[0].from);
    if (sender !== undefined) this.peerReachable(sender);
    this.counters.receivedMessages += good.length;
    if (good.length > 0) {
      try {
        this.handler(good);
      } catch (err) {
        this.log.error({ err }, 'raft transport: message handler threw');
      }
    }
    return { accepted: good.length, rejected };
  }

  private logLimited(level: 'warn' | 'error', key: string, fields: Record<string, unknown>, msg: string): void {
    const suppressed = this.limiter.check(key);
    if (suppressed === undefined) return;
    this.log[level](suppressed > 0 ? { ...fields, suppressed } : fields, msg);
  }

  private closePeer(p: Peer): void {
    p.closed = true;
    p.queue = [];
    p.feed?.end();
    p.feed = null;
    p.client.close();
    if (this.peers.get(p.id) === p) this.peers.delete(p.id);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of [...this.peers.values()]) this.closePeer(p);
    // Peers keep their streams to us open; waiting for them to end would only delay closing,
    // and whatever is in flight may be lost anyway (Raft retries).
    await shutdownServer(this.server, 0);
  }
}

function hostOf(address: string): string {
  const at = address.lastIndexOf(':');
  if (at < 0) throw new Error(`GrpcTransport: listen address ${JSON.stringify(address)} is not host:port`);
  return address.slice(0, at);
}
