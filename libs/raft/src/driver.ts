/**
 * RaftNode binds the pure RaftCore to a clock (a tick timer), to disk (RaftStorage on LevelDB)
 * and to the network (a Transport, by default GrpcTransport), and runs the application's
 * StateMachine on the committed log.
 *
 * One loop owns the core. Ticks, inbound messages and requests (propose, readIndex, membership
 * changes, transfers) are queued and fed to the core between Readys; each Ready is handled
 * exactly as the contract in docs/raft-core-api.md says:
 *   1. persist snapshot, entries and hard state in one batch, fsynced when `mustSync`;
 *   2. send the messages once that is durable; a leader's (`sendFirst`) go out before its own
 *      write starts, so its disk and the followers' work at the same time;
 *   3. restore the snapshot (if any) into the state machine, then apply committed entries;
 *   4. advance.
 * Everything queued while a Ready is being persisted goes into the next one, so proposals are
 * group-committed with one fsync.
 *
 * Snapshots: every `snapshotEntries` applied entries the state machine's state is captured and
 * encoded a step per loop round when it can (StateMachine.snapshotInSteps), the core compacts
 * to it, and its write to disk runs beside the loop: a large snapshot stalls neither the loop
 * nor the answers to clients.
 *
 * Restart: the state machine lives in memory, so a restarted member restores its latest
 * snapshot and re-applies the committed log after it before `RaftNode.start` resolves.
 *
 * Failure policy: a bad inbound message is rejected and logged, a failed peer costs only its
 * messages. A storage error (corrupt data, failed write) or a broken invariant stops the node:
 * `stopped` resolves with the error, every pending request is rejected, and the process that
 * owns the node should exit rather than serve from state it cannot trust.
 */
import pino from 'pino';
import type { Logger } from 'pino';
import { randomInt as cryptoRandomInt } from 'node:crypto';
import { RaftCore, bootstrapState, joinState } from './core.ts';
import type { RaftStatus } from './core.ts';
import { applyConfChange, decodeConfChange } from './conf.ts';
import { LogLimiter } from '@tugboat/proto';
import { RaftStorage } from './storage.ts';
import { GrpcTransport } from './transport.ts';
import type { GrpcTransportOptions, Transport } from './transport.ts';
import type { ConfChange, Entry, InitialState, Membership, Message, NodeId, RaftConfig, Ready, Role, SoftState } from './types.ts';

/**
 * StateMachine is the application replicated by Raft.
 * - `apply` must be deterministic: the same entries in the same order give the same state and
 *   result on every member (if it throws, it must throw on every member; the proposer gets the
 *   error). Its return value is handed to the proposer's `propose` promise.
 * - `snapshot` returns the whole state as bytes, as of the last applied entry.
 * - `restore` replaces the whole state with a snapshot's bytes (discarding everything before).
 */
export interface StateMachine {
  apply(entry: { readonly index: number; readonly term: number; readonly data: Uint8Array }): unknown;
  snapshot(): Uint8Array;
  /**
   * snapshotInSteps, if the state machine has it, is `snapshot()` a bounded part per `next()`:
   * the state is the one at the call, and the last step returns its bytes. A large snapshot
   * is then taken between rounds of the loop instead of stalling it.
   */
  snapshotInSteps?(): Iterator<void, Uint8Array, void>;
  restore(data: Uint8Array): void;
  /** checkSnapshot, if the state machine has it, says why data is not a snapshot it can
   *  restore: a snapshot from the leader is checked before it replaces the log. */
  checkSnapshot?(data: Uint8Array): string | undefined;
}

export interface RaftNodeOptions {
  /** This member's id; never empty. */
  readonly id: NodeId;
  /** Cluster id; the store and every inbound batch must carry it. */
  readonly clusterId: string;
  /** LevelDB directory of this member (created if missing). */
  readonly dataDir: string;
  readonly stateMachine: StateMachine;
  /**
   * Founding members of a new cluster (this member included), id and peer address each; every
   * founding member must be given the same list. Used only when `dataDir` holds no state.
   * Without it, a new member starts empty and waits to be added by the leader (`addMember`).
   */
  readonly bootstrap?: readonly { readonly id: NodeId; readonly address: string }[];
  /**
   * Addresses of members to accept messages from before this member knows the membership:
   * a joining member must be given the current members here. Default: none.
   */
  readonly peers?: Readonly<Record<NodeId, string>>;
  /** Transport to use (the node closes it). Default: a GrpcTransport listening on `listen`. */
  readonly transport?: Transport;
  /** "host:port" for the default GrpcTransport; required when `transport` is not given. */
  readonly listen?: string;
  /** Extra options for the default GrpcTransport. */
  readonly transportOptions?: Partial<Omit<GrpcTransportOptions, 'id' | 'clusterId' | 'listen' | 'logger'>>;
  /** Length of one tick, ms. Default 100. */
  readonly tickMs?: number;
  /** Election timeout in ticks (drawn from [electionTicks, 2*electionTicks)). Default 10. */
  readonly electionTicks?: number;
  /** Leader heartbeat interval in ticks. Default 1. */
  readonly heartbeatTicks?: number;
  /** Take a snapshot and compact the log every this many applied entries. Default 10,000. */
  readonly snapshotEntries?: number;
  /** propose/readIndex/membership requests fail with RaftTimeoutError after this long, ms. Default 30,000. */
  readonly requestTimeoutMs?: number;
  /** Further core settings (pre-vote, check-quorum, message and snapshot chunk sizes). */
  readonly raft?: Partial<Omit<RaftConfig, 'id' | 'electionTicks' | 'heartbeatTicks'>>;
  readonly logger?: Logger;
}

// ---------------------------------------------------------------------------------------------
// Errors

/** NotLeaderError: the request needs the leader. `leaderId`/`leaderAddress` are '' when unknown. */
export class NotLeaderError extends Error {
  override readonly name = 'NotLeaderError';
  readonly leaderId: NodeId | '';
  readonly leaderAddress: string;
  constructor(message: string, leaderId: NodeId | '', leaderAddress: string) {
    super(message);
    this.leaderId = leaderId;
    this.leaderAddress = leaderAddress;
  }
}

export function isNotLeaderError(e: unknown): e is NotLeaderError {
  return e instanceof Error && e.name === 'NotLeaderError';
}

/** ProposalDroppedError: the entry was proposed but will never be applied (its slot was overwritten). */
export class ProposalDroppedError extends Error {
  override readonly name = 'ProposalDroppedError';
  readonly index: number;
  constructor(message: string, index: number) {
    super(message);
    this.index = index;
  }
}

export function isProposalDroppedError(e: unknown): e is ProposalDroppedError {
  return e instanceof Error && e.name === 'ProposalDroppedError';
}

/** RaftRequestError: the core refused the request (`code` says why; the message explains). */
export class RaftRequestError extends Error {
  override readonly name = 'RaftRequestError';
  readonly code: 'transferring' | 'confPending' | 'invalid';
  constructor(code: 'transferring' | 'confPending' | 'invalid', message: string) {
    super(message);
    this.code = code;
  }
}

export function isRaftRequestError(e: unknown): e is RaftRequestError {
  return e instanceof Error && e.name === 'RaftRequestError';
}

/** RaftTimeoutError: no outcome within the request timeout. A timed-out proposal may still be applied. */
export class RaftTimeoutError extends Error {
  override readonly name = 'RaftTimeoutError';
}

export function isRaftTimeoutError(e: unknown): e is RaftTimeoutError {
  return e instanceof Error && e.name === 'RaftTimeoutError';
}

/** RaftStoppedError: the node was closed, or stopped on a fatal error (see `cause`). */
export class RaftStoppedError extends Error {
  override readonly name = 'RaftStoppedError';
}

export function isRaftStoppedError(e: unknown): e is RaftStoppedError {
  return e instanceof Error && e.name === 'RaftStoppedError';
}

// ---------------------------------------------------------------------------------------------

/** RaftNodeStatus is the core's status plus what the driver knows. */
export interface RaftNodeStatus extends RaftStatus {
  /** Peer address of the leader ('' when unknown). */
  readonly leaderAddress: string;
  /** Index of the last entry applied to the state machine. */
  readonly appliedIndex: number;
  /** Proposals waiting to be applied. */
  readonly pendingProposals: number;
}

/** StateChange is told to `onStateChange` listeners when the role, leader or term changes. */
export interface StateChange {
  readonly role: Role;
  readonly leader: NodeId | '';
  readonly term: number;
}

export interface ProposeOptions {
  /** Overrides the node's requestTimeoutMs. */
  readonly timeoutMs?: number;
}

interface PendingProposal {
  readonly term: number;
  readonly deadlineMs: number;
  readonly resolve: (v: { index: number; result: unknown }) => void;
  readonly reject: (e: Error) => void;
}

interface PendingRead {
  readonly deadlineMs: number;
  /** Read index once the leader confirmed it; -1 before. */
  index: number;
  readonly waiters: { resolve: () => void; reject: (e: Error) => void }[];
}

interface PendingTransfer {
  readonly to: NodeId;
  readonly deadlineMs: number;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

type Request =
  | { kind: 'propose'; data: Uint8Array; timeoutMs: number; resolve: PendingProposal['resolve']; reject: (e: Error) => void }
  | { kind: 'conf'; cc: ConfChange; timeoutMs: number; resolve: PendingProposal['resolve']; reject: (e: Error) => void }
  | { kind: 'read'; resolve: () => void; reject: (e: Error) => void }
  | { kind: 'transfer'; to: NodeId; resolve: () => void; reject: (e: Error) => void };

/** Most ticks fed to the core in one round of the loop (see feedCore). */
const maxTicksPerRound = 3;

/** Largest number of inbound messages queued for the loop; beyond it they are dropped. */
const maxInboxMessages = 100_000;

function positiveInt(name: string, v: number | undefined, def: number): number {
  const n = v ?? def;
  if (!(Number.isSafeInteger(n) && n > 0)) throw new Error(`RaftNode: ${name} must be a positive integer, got ${String(v)}`);
  return n;
}

function sameMembership(a: Membership, b: Membership): boolean {
  if (a === b) return true;
  if (a.voters.length !== b.voters.length) return false;
  for (let i = 0; i < a.voters.length; i++) if (a.voters[i] !== b.voters[i]) return false;
  const ka = Object.keys(a.contexts);
  if (ka.length !== Object.keys(b.contexts).length) return false;
  return ka.every((k) => a.contexts[k] === b.contexts[k]);
}

/**
 * RaftNode is one Raft member with its storage, transport, timer and state machine.
 * Create it with `RaftNode.start`; stop it with `close`.
 */
export class RaftNode {
  readonly id: NodeId;
  readonly clusterId: string;
  /** Resolves when the node has stopped: undefined after `close`, the error after a fatal failure. */
  readonly stopped: Promise<Error | undefined>;

  private readonly core: RaftCore;
  private readonly storage: RaftStorage;
  private readonly transport: Transport;
  private readonly sm: StateMachine;
  private readonly log: Logger;
  private readonly limiter = new LogLimiter(1000);
  private readonly tickMs: number;
  private readonly electionTicks: number;
  private readonly snapshotEntries: number;
  private readonly requestTimeoutMs: number;
  private readonly initialPeers: Readonly<Record<NodeId, string>>;

  private timer: NodeJS.Timeout | undefined;
  private pendingTicks = 0;
  private inbox: Message[] = [];
  private requests: Request[] = [];
  private wakeUp: (() => void) | null = null;
  private woken = false;
  private loopDone: Promise<void> = Promise.resolve();
  private closing = false;
  private fatal: Error | undefined;
  private resolveStopped!: (e: Error | undefined) => void;
  private shutdownDone: Promise<void> | undefined;

  private applied: number;
  private appliedMembership: Membership;
  private lastSnapshotIndex: number;
  /** The write of the last snapshot taken, running beside the loop (compactions and snapshot installs wait for it). */
  private compaction: Promise<void> = Promise.resolve();
  /** A snapshot being taken a step per loop round: of the state at `index`, membership `membership`. */
  private snapshotJob: { readonly index: number; readonly membership: Membership; readonly steps: Iterator<void, Uint8Array, void>; readonly t0: number } | undefined;
  private readonly proposals = new Map<number, PendingProposal>();
  private readonly reads = new Map<string, PendingRead>();
  private readSeq = 0;
  private transfers: PendingTransfer[] = [];
  private soft: SoftState = { leader: '', role: 'follower' };
  private term: number;
  private peersMembership: Membership | null = null;
  private readonly listeners = new Set<(s: StateChange) => void>();
  private appliedWaiters: { index: number; resolve: () => void }[] = [];

  private constructor(
    opts: RaftNodeOptions,
    core: RaftCore,
    storage: RaftStorage,
    transport: Transport,
    init: InitialState,
    log: Logger,
    settings: { tickMs: number; electionTicks: number; snapshotEntries: number; requestTimeoutMs: number },
  ) {
    this.id = opts.id;
    this.clusterId = opts.clusterId;
    this.core = core;
    this.storage = storage;
    this.transport = transport;
    this.sm = opts.stateMachine;
    this.log = log;
    this.tickMs = settings.tickMs;
    this.electionTicks = settings.electionTicks;
    this.snapshotEntries = settings.snapshotEntries;
    this.requestTimeoutMs = settings.requestTimeoutMs;
    this.initialPeers = opts.peers ?? {};
    this.applied = init.applied;
    this.appliedMembership = init.snapshot.meta.membership;
    this.lastSnapshotIndex = init.snapshot.meta.index;
    this.term = init.hardState.term;
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
  }

  /**
   * start opens the store, recovers (restores the latest snapshot into the state machine and
   * re-applies the committed log after it), starts the transport, timer and loop, and resolves
   * once the locally known committed entries are applied. A brand-new store is bootstrapped
   * from `opts.bootstrap`, or left empty to join. Throws RaftStorageCorruptError /
   * RaftStorageMismatchError on bad or foreign data, without starting anything.
   */
  static async start(opts: RaftNodeOptions): Promise<RaftNode> {
    if (opts.id === '') throw new Error('RaftNode: id must not be empty');
    if (opts.clusterId === '') throw new Error('RaftNode: clusterId must not be empty');
    if (opts.transport === undefined && opts.listen === undefined) throw new Error('RaftNode: give either transport or listen');
    const tickMs = positiveInt('tickMs', opts.tickMs, 100);
    const electionTicks = positiveInt('electionTicks', opts.electionTicks, 10);
    const heartbeatTicks = positiveInt('heartbeatTicks', opts.heartbeatTicks, 1);
    const snapshotEntries = positiveInt('snapshotEntries', opts.snapshotEntries, 10_000);
    const requestTimeoutMs = positiveInt('requestTimeoutMs', opts.requestTimeoutMs, 30_000);
    if (opts.bootstrap !== undefined) {
      if (!opts.bootstrap.some((m) => m.id === opts.id)) throw new Error(`RaftNode: bootstrap members do not include this member ${opts.id}`);
      for (const m of opts.bootstrap) {
        if (m.address === '') throw new Error(`RaftNode: bootstrap member ${m.id} has no address`);
      }
    }
    const log = (opts.logger ?? pino({ name: 'raft' })).child({ node: opts.id });

    const storage = await RaftStorage.open(opts.dataDir, { nodeId: opts.id, clusterId: opts.clusterId });
    let transport: Transport | undefined;
    let node: RaftNode;
    let init: InitialState;
    try {
      const stored = await storage.load();
      if (stored.empty && opts.bootstrap !== undefined) {
        init = bootstrapState(opts.bootstrap.map((m) => ({ id: m.id, context: m.address })));
        await storage.save({ entries: init.entries, hardState: init.hardState }, { sync: true });
        log.info({ members: opts.bootstrap.map((m) => m.id) }, 'raft: bootstrapped a new cluster');
      } else if (stored.empty) {
        init = joinState();
        log.info('raft: new member with empty state, waiting to be added by the leader');
      } else {
        init = stored;
        if (opts.bootstrap !== undefined) log.info('raft: existing state found, bootstrap list ignored');
        log.info(
          {
            term: stored.hardState.term,
            commit: stored.hardState.commit,
            snapshotIndex: stored.snapshot.meta.index,
            lastIndex: storage.lastIndex,
            appliedBeforeRestart: stored.appliedOnDisk,
          },
          'raft: recovered state from disk',
        );
      }
      if (init.snapshot.meta.index > 0) opts.stateMachine.restore(init.snapshot.data);

      const core = new RaftCore(
        {
          ...opts.raft,
          randomInt: opts.raft?.randomInt ?? ((n: number) => cryptoRandomInt(n)),
          id: opts.id,
          electionTicks,
          heartbeatTicks,
          ...(opts.stateMachine.checkSnapshot === undefined ? {} : { checkSnapshot: (data: Uint8Array) => opts.stateMachine.checkSnapshot?.(data) }),
        },
        init,
      );
      transport =
        opts.transport ??
        (await GrpcTransport.listen({
          ...opts.transportOptions,
          id: opts.id,
          clusterId: opts.clusterId,
          listen: opts.listen!,
          logger: log,
        }));
      node = new RaftNode(opts, core, storage, transport, init, log, { tickMs, electionTicks, snapshotEntries, requestTimeoutMs });
    } catch (e) {
      await transport?.close().catch(() => undefined);
      await storage.close().catch(() => undefined);
      throw e;
    }
    // From here the node owns storage and transport: a failure stops it through `stopped`.
    node.run();
    const failed = node.stopped.then((e) => e ?? new RaftStoppedError('raft node closed during start'));
    const outcome = await Promise.race([node.waitApplied(init.hardState.commit).then(() => undefined), failed]);
    if (outcome !== undefined) throw outcome;
    return node;
  }

  private run(): void {
    this.syncPeers();
    this.transport.onMessage((msgs) => {
      if (this.closing) return;
      if (this.inbox.length + msgs.length > maxInboxMessages) {
        this.logLimited('warn', 'inbox-full', { queued: this.inbox.length }, 'raft: inbound queue full, dropping messages');
        return;
      }
      for (const m of msgs) this.inbox.push(m);
      this.wake();
    });
    this.timer = setInterval(() => {
      this.pendingTicks++;
      this.wake();
    }, this.tickMs);
    this.loopDone = this.loop().catch((err: unknown) => this.fail(err));
  }

  // ---------------------------------------------------------------------------------------
  // Public API

  /**
   * propose appends `data` (non-empty) to the log through this member, which must be the
   * leader. Resolves once the entry is applied locally, with its index and what
   * StateMachine.apply returned. Rejects with NotLeaderError (carrying the leader's id and
   * address when known), ProposalDroppedError if leadership was lost and the entry overwritten,
   * RaftRequestError if the core refused it, RaftTimeoutError (outcome unknown), RaftStoppedError.
   */
  propose(data: Uint8Array, opts: ProposeOptions = {}): Promise<{ index: number; result: unknown }> {
    return new Promise((resolve, reject) => {
      if (this.closing) return reject(this.stoppedError());
      this.requests.push({ kind: 'propose', data, timeoutMs: opts.timeoutMs ?? this.requestTimeoutMs, resolve, reject });
      this.wake();
    });
  }

  /**
   * readIndex resolves when this member's state machine has applied everything committed before
   * the call (ReadIndex, dissertation §6.4): a read of local state after it is linearizable.
   * Works on followers too (the leader confirms). Rejects with NotLeaderError when no leader is
   * known, RaftTimeoutError, RaftStoppedError.
   */
  readIndex(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closing) return reject(this.stoppedError());
      this.requests.push({ kind: 'read', resolve, reject });
      this.wake();
    });
  }

  /** addMember adds a voting member reachable at `address` ("host:port"); resolves once applied here. Leader only. */
  async addMember(id: NodeId, address: string): Promise<void> {
    if (id === '' || address === '') throw new RaftRequestError('invalid', 'addMember: id and address must not be empty');
    await this.proposeConf({ type: 'add', nodeId: id, context: address });
  }

  /** removeMember removes a voting member; resolves once applied here. Leader only. */
  async removeMember(id: NodeId): Promise<void> {
    await this.proposeConf({ type: 'remove', nodeId: id, context: '' });
  }

  private proposeConf(cc: ConfChange): Promise<{ index: number; result: unknown }> {
    return new Promise((resolve, reject) => {
      if (this.closing) return reject(this.stoppedError());
      this.requests.push({ kind: 'conf', cc, timeoutMs: this.requestTimeoutMs, resolve, reject });
      this.wake();
    });
  }

  /**
   * transferLeadership hands leadership to member `to`; resolves when this member sees `to` as
   * leader. Leader only. Rejects with RaftTimeoutError after 3 election timeouts.
   */
  transferLeadership(to: NodeId): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closing) return reject(this.stoppedError());
      this.requests.push({ kind: 'transfer', to, resolve, reject });
      this.wake();
    });
  }

  status(): RaftNodeStatus {
    const s = this.core.status();
    return {
      ...s,
      leaderAddress: s.leader === '' ? '' : (s.membership.contexts[s.leader] ?? this.initialPeers[s.leader] ?? ''),
      appliedIndex: this.applied,
      pendingProposals: this.proposals.size,
    };
  }

  /** onStateChange calls `listener` (in the loop; keep it quick) on every role, leader or term change. Returns an unsubscribe function. */
  onStateChange(listener: (s: StateChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** close stops the node: timer, loop (after the Ready in progress), transport, storage. Pending requests get RaftStoppedError. Safe to call twice. */
  async close(): Promise<void> {
    await this.shutdown(undefined);
  }

  // ---------------------------------------------------------------------------------------
  // Loop

  private wake(): void {
    const w = this.wakeUp;
    if (w !== null) {
      this.wakeUp = null;
      w();
    } else {
      this.woken = true;
    }
  }

  private sleep(): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => (this.wakeUp = resolve));
  }

  private async loop(): Promise<void> {
    while (!this.closing) {
      this.woken = false;
      this.feedCore();
      if (this.core.hasReady()) {
        const rd = this.core.ready();
        await this.handleReady(rd);
        this.core.advance(rd);
        this.afterAdvance();
      } else if (this.snapshotJob === undefined) {
        await this.sleep();
        continue;
      }
      await this.maybeSnapshot();
    }
  }

  /** feedCore hands everything queued to the core: ticks, inbound messages, requests. */
  private feedCore(): void {
    const msgs = this.inbox;
    this.inbox = [];
    for (const m of msgs) {
      let reason: string | undefined;
      try {
        reason = this.core.step(m);
      } catch (err) {
        this.log.error({ err, from: m.from, type: m.type, term: m.term }, 'raft: core threw on an inbound message; message dropped');
        continue;
      }
      if (reason !== undefined) {
        this.logLimited('info', `${m.from}/${m.type}/${reason.split(' ')[0] ?? ''}`, { from: m.from, type: m.type, reason }, 'raft: rejected message');
      }
    }

    // Ticks after messages: heartbeats that arrived while the loop was busy count first. After a
    // stall (slow disk, long GC) at most `maxTicksPerRound` ticks are taken, so a stalled member
    // does not see a whole election timeout pass at once (that costs liveness, never safety).
    const ticks = this.pendingTicks;
    this.pendingTicks = 0;
    if (ticks > maxTicksPerRound) {
      this.logLimited('warn', 'stall', { ticks, tickMs: this.tickMs }, 'raft: loop stalled; counting fewer ticks than elapsed');
    }
    for (let i = 0; i < Math.min(ticks, maxTicksPerRound); i++) this.core.tick();
    if (ticks > 0) this.expireRequests(performance.now());

    const reqs = this.requests;
    this.requests = [];
    let readCtx: string | undefined;
    for (const r of reqs) {
      switch (r.kind) {
        case 'propose':
        case 'conf': {
          const res = r.kind === 'propose' ? this.core.propose(r.data) : this.core.proposeConfChange(r.cc);
          if (!res.ok) {
            r.reject(
              res.error === 'notLeader'
                ? this.notLeader(res.leader, res.message)
                : new RaftRequestError(res.error, res.message),
            );
            break;
          }
          this.proposals.set(res.index, {
            term: res.term,
            deadlineMs: performance.now() + r.timeoutMs,
            resolve: r.resolve,
            reject: r.reject,
          });
          if (r.kind === 'conf') this.log.info({ change: r.cc.type, member: r.cc.nodeId, address: r.cc.context, index: res.index }, 'raft: membership change proposed');
          break;
        }
        case 'read': {
          // Every read queued in this round shares one ReadIndex request.
          if (readCtx === undefined) {
            const ctx = `${this.id}/${++this.readSeq}`;
            const err = this.core.readIndex(ctx);
            if (err !== undefined) {
              r.reject(this.notLeader(this.core.status().leader, err));
              break;
            }
            readCtx = ctx;
            this.reads.set(ctx, { deadlineMs: performance.now() + this.requestTimeoutMs, index: -1, waiters: [] });
          }
          this.reads.get(readCtx)!.waiters.push({ resolve: r.resolve, reject: r.reject });
          break;
        }
        case 'transfer': {
          const err = this.core.transferLeadership(r.to);
          if (err !== undefined) {
            const leader = this.core.status().leader;
            r.reject(leader !== this.id ? this.notLeader(leader, err) : new RaftRequestError('invalid', err));
            break;
          }
          this.log.info({ to: r.to }, 'raft: leadership transfer started');
          this.transfers.push({ to: r.to, deadlineMs: performance.now() + 3 * 2 * this.electionTicks * this.tickMs, resolve: r.resolve, reject: r.reject });
          break;
        }
      }
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    if (rd.softState !== null) this.onSoftState(rd.softState, rd.hardState?.term ?? this.core.status().term);
    else if (rd.hardState !== null && rd.hardState.term !== this.term) this.onTerm(rd.hardState.term);

    // Entries that overwrite a pending proposal's slot doom it now, not at apply time.
    for (const e of rd.entries) {
      const p = this.proposals.get(e.index);
      if (p !== undefined && p.term !== e.term) this.dropProposal(e.index, p, `entry ${e.index} was overwritten by term ${e.term}`);
    }

    // Membership takes effect on append: learn new peers' addresses before sending to them.
    this.syncPeers();
    // 2, early: a leader's messages go out while it persists its own copy.
    if (rd.sendFirst) this.send(rd.messages);
    // 1. Persist; nothing below may run before this is durable. A snapshot from the leader
    // replaces the stored one: our own compaction's write must land first.
    if (rd.snapshot !== null) await this.compaction;
    if (rd.snapshot !== null || rd.entries.length > 0 || rd.hardState !== null) {
      await this.storage.save(
        { snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState, applied: this.applied },
        { sync: rd.mustSync || rd.snapshot !== null },
      );
    }
    // 2. Send.
    if (!rd.sendFirst) this.send(rd.messages);

    // 3. Apply.
    if (rd.snapshot !== null) this.installSnapshot(rd.snapshot.meta.index, rd.snapshot.meta.term, rd.snapshot.meta.membership, rd.snapshot.data);
    for (const e of rd.committedEntries) this.applyEntry(e);
    for (const rs of rd.readStates) {
      const r = this.reads.get(rs.context);
      if (r !== undefined) r.index = rs.index;
    }
  }

  private send(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    for (const m of messages) {
      if (m.type === 'snapshot' && m.offset === 0 && m.snapshotMeta !== null) {
        this.log.info({ to: m.to, index: m.snapshotMeta.index, bytes: m.data.length, done: m.done }, 'raft: sending snapshot');
      }
    }
    this.transport.send(messages);
  }

  private afterAdvance(): void {
    if (this.reads.size > 0) {
      for (const [ctx, r] of this.reads) {
        if (r.index >= 0 && r.index <= this.applied) {
          this.reads.delete(ctx);
          for (const w of r.waiters) w.resolve();
        }
      }
    }
    if (this.appliedWaiters.length > 0) {
      const still: typeof this.appliedWaiters = [];
      for (const w of this.appliedWaiters) {
        if (w.index <= this.applied) w.resolve();
        else still.push(w);
      }
      this.appliedWaiters = still;
    }
  }

  private waitApplied(index: number): Promise<void> {
    if (index <= this.applied) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ index, resolve }));
  }

  private installSnapshot(index: number, term: number, membership: Membership, data: Uint8Array): void {
    // A snapshot of our own being taken is of an older state: drop it.
    this.snapshotJob = undefined;
    this.sm.restore(data);
    this.applied = index;
    this.appliedMembership = membership;
    this.lastSnapshotIndex = index;
    for (const [i, p] of this.proposals) {
      if (i <= index) this.dropProposal(i, p, `superseded by a snapshot at index ${index}; outcome unknown`);
    }
    this.log.info({ index, term, bytes: data.length, voters: membership.voters }, 'raft: snapshot installed');
  }

  private applyEntry(e: Entry): void {
    if (e.index !== this.applied + 1) {
      throw new Error(`raft: applying entry ${e.index} after ${this.applied}: the committed log has a gap`);
    }
    let result: unknown;
    let failure: Error | undefined;
    if (e.kind === 'conf') {
      const cc = decodeConfChange(e.data);
      this.appliedMembership = applyConfChange(this.appliedMembership, cc);
      result = cc;
      this.log.info(
        { index: e.index, member: cc.nodeId, address: cc.context, voters: this.appliedMembership.voters },
        cc.type === 'add' ? 'raft: member added' : 'raft: member removed',
      );
      if (cc.type === 'remove' && cc.nodeId === this.id) this.log.warn('raft: this member was removed from the cluster');
    } else if (e.data.length > 0) {
      try {
        result = this.sm.apply({ index: e.index, term: e.term, data: e.data });
      } catch (err) {
        failure = err instanceof Error ? err : new Error(String(err));
        this.log.error({ err: failure, index: e.index }, 'raft: state machine apply threw');
      }
    }
    this.applied = e.index;
    const p = this.proposals.get(e.index);
    if (p !== undefined) {
      this.proposals.delete(e.index);
      if (p.term !== e.term) p.reject(new ProposalDroppedError(`entry ${e.index} of term ${p.term} was overwritten by term ${e.term}`, e.index));
      else if (failure !== undefined) p.reject(failure);
      else p.resolve({ index: e.index, result });
    }
  }

  /**
   * maybeSnapshot starts a snapshot every `snapshotEntries` applied entries and takes one step of
   * it per loop round, yielding to the event loop between steps (messages, API calls and
   * Readies go on meanwhile); once it is encoded, the core and the storage compact to it.
   */
  private async maybeSnapshot(): Promise<void> {
    if (this.snapshotJob === undefined) {
      if (this.applied - this.lastSnapshotIndex < this.snapshotEntries) return;
      const steps = this.sm.snapshotInSteps?.() ?? onlyStep(this.sm.snapshot());
      this.snapshotJob = { index: this.applied, membership: this.appliedMembership, steps, t0: performance.now() };
    }
    const job = this.snapshotJob;
    const step = job.steps.next();
    if (step.done !== true) {
      await new Promise((resolve) => setImmediate(resolve));
      return;
    }
    this.snapshotJob = undefined;
    const { index, t0 } = job;
    const data = step.value;
    this.core.compact(index, data);
    const snap = this.core.snapshotHeld();
    if (snap.meta.index !== index) throw new Error(`raft: core snapshot at ${snap.meta.index} after compacting at ${index}`);
    if (!sameMembership(snap.meta.membership, job.membership)) {
      throw new Error(`raft: membership at ${index} differs between core (${snap.meta.membership.voters}) and driver (${job.membership.voters})`);
    }
    this.lastSnapshotIndex = index;
    // Written beside the loop: entries after `index` go on being appended meanwhile (other keys).
    this.compaction = this.compaction.then(async () => {
      await this.storage.compact(snap);
      this.log.info({ index, term: snap.meta.term, bytes: data.length, ms: Math.round(performance.now() - t0) }, 'raft: snapshot taken, log compacted');
    });
    this.compaction.catch((err: unknown) => this.fail(err));
  }

  // ---------------------------------------------------------------------------------------
  // Helpers

  /** syncPeers makes the transport's address book follow the membership the core has now. */
  private syncPeers(): void {
    const m = this.core.status().membership;
    if (this.peersMembership !== null && sameMembership(m, this.peersMembership)) return;
    this.peersMembership = m;
    this.transport.updatePeers(m.voters.length === 0 ? this.initialPeers : { ...m.contexts });
  }

  private onSoftState(s: SoftState, term: number): void {
    const prev = this.soft;
    this.soft = s;
    this.term = term;
    if (s.role !== prev.role) {
      if (s.role === 'preCandidate') this.log.info({ term }, 'raft: pre-vote started');
      else if (s.role === 'candidate') this.log.info({ term }, 'raft: election started');
      else if (s.role === 'leader') this.log.info({ term }, 'raft: became leader');
      else if (prev.role === 'leader') this.log.info({ term, leader: s.leader }, 'raft: stepped down');
    }
    if (s.leader !== prev.leader && s.leader !== '' && s.leader !== this.id) {
      this.log.info({ term, leader: s.leader }, 'raft: leader changed');
    }
    if (s.leader !== '') {
      this.transfers = this.transfers.filter((t) => {
        if (t.to !== s.leader) return true;
        t.resolve();
        return false;
      });
    }
    this.notify();
  }

  private onTerm(term: number): void {
    this.term = term;
    this.notify();
  }

  private notify(): void {
    const change: StateChange = { role: this.soft.role, leader: this.soft.leader, term: this.term };
    for (const l of this.listeners) {
      try {
        l(change);
      } catch (err) {
        this.log.error({ err }, 'raft: state change listener threw');
      }
    }
  }

  private dropProposal(index: number, p: PendingProposal, why: string): void {
    this.proposals.delete(index);
    p.reject(new ProposalDroppedError(why, index));
  }

  private expireRequests(now: number): void {
    for (const [i, p] of this.proposals) {
      if (now >= p.deadlineMs) {
        this.proposals.delete(i);
        p.reject(new RaftTimeoutError(`entry ${i} not applied within the request timeout; it may still be applied`));
      }
    }
    for (const [ctx, r] of this.reads) {
      if (now >= r.deadlineMs) {
        this.reads.delete(ctx);
        for (const w of r.waiters) w.reject(new RaftTimeoutError('read index not confirmed within the request timeout'));
      }
    }
    this.transfers = this.transfers.filter((t) => {
      if (now < t.deadlineMs) return true;
      t.reject(new RaftTimeoutError(`leadership did not move to ${t.to} in time`));
      return false;
    });
  }

  private notLeader(leader: NodeId | '', message: string): NotLeaderError {
    const address = leader === '' ? '' : (this.core.status().membership.contexts[leader] ?? this.initialPeers[leader] ?? '');
    return new NotLeaderError(leader === '' ? `${message}; no leader known` : `${message}; the leader is ${leader} at ${address}`, leader, address);
  }

  private logLimited(level: 'info' | 'warn', key: string, fields: Record<string, unknown>, msg: string): void {
    const suppressed = this.limiter.check(key);
    if (suppressed === undefined) return;
    this.log[level](suppressed > 0 ? { ...fields, suppressed } : fields, msg);
  }

  private stoppedError(): RaftStoppedError {
    return this.fatal !== undefined
      ? new RaftStoppedError(`raft node ${this.id} stopped: ${this.fatal.message}`, { cause: this.fatal })
      : new RaftStoppedError(`raft node ${this.id} is closed`);
  }

  private fail(err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    this.log.fatal({ err: e }, 'raft: stopping on a fatal error');
    void this.shutdown(e);
  }

  private shutdown(err: Error | undefined): Promise<void> {
    if (this.shutdownDone !== undefined) return this.shutdownDone;
    this.closing = true;
    this.fatal = err;
    this.shutdownDone = (async () => {
      if (this.timer !== undefined) clearInterval(this.timer);
      this.wake();
      if (err === undefined) await this.loopDone; // after a fatal error the loop has already ended
      const stopped = this.stoppedError();
      for (const p of this.proposals.values()) p.reject(stopped);
      this.proposals.clear();
      for (const r of this.reads.values()) for (const w of r.waiters) w.reject(stopped);
      this.reads.clear();
      for (const t of this.transfers) t.reject(stopped);
      this.transfers = [];
      for (const r of this.requests) r.reject(stopped);
      this.requests = [];
      // Waiters in start(): let start() see the failure through `stopped`.
      for (const w of this.appliedWaiters) w.resolve();
      this.appliedWaiters = [];
      await this.transport.close().catch((e: unknown) => this.log.error({ err: e }, 'raft: closing the transport failed'));
      await this.compaction.catch(() => undefined); // a failed one has stopped the node already
      await this.storage.close().catch((e: unknown) => this.log.error({ err: e }, 'raft: closing the storage failed'));
      if (err === undefined) this.log.info('raft: node closed');
      this.resolveStopped(err);
    })();
    return this.shutdownDone;
  }
}

/** onlyStep is a snapshot taken at once, as one step. */
// eslint-disable-next-line require-yield
function* onlyStep(data: Uint8Array): Generator<void, Uint8Array, void> {
  return data;
}
