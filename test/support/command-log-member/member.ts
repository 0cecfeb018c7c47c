/**
 * CommandLogMember is one running command-log member: a RaftNode whose state machine is the
 * CommandLog, and the tug.v1.MemberService API on top of it (see proto/tug/v1/member.proto beside
 * it for the contract: redirects, retries, defaults). It exercises tug-control's Raft layer in
 * tests and benchmarks without the object store.
 *
 * Error mapping for Propose (every failure may be retried with the same id):
 * - not the leader, leader known with a published API address: FAILED_PRECONDITION, with
 *   `tug-leader` / `tug-leader-api` trailing metadata (the client redirects);
 * - no leader known, leader's API address unknown, leadership lost or a transfer under way, the
 *   entry overwritten or superseded, the node stopping: UNAVAILABLE;
 * - no outcome within the call's deadline: DEADLINE_EXCEEDED (the command may still be applied);
 * - bad id or payload: INVALID_ARGUMENT (not retryable).
 */
import type { Logger } from 'pino';
import { GrpcError, Metadata, Server, Status, addService, bindServer, isGrpcError, logRefusals, serverCredentials, shutdownServer } from '@tugboat/proto';
import type { CallContext, Security, ServiceImpl } from '@tugboat/proto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import {
  RaftNode,
  isNotLeaderError,
  isProposalDroppedError,
  isRaftRequestError,
  isRaftStoppedError,
  isRaftTimeoutError,
} from '@tugboat/raft';
import type { NotLeaderError, RaftNodeStatus, StateChange } from '@tugboat/raft';
import { raftNodeOptions } from '@tugboat/control/member-options';
import type { RaftMemberOptions } from '@tugboat/control/member-options';
import { WaitingCalls } from '@tugboat/control/waiting-calls';
import { CommandLog, encodeCommand, encodeMember, maxCommandIdBytes } from './command-log.ts';
import type { ApplyResult } from './command-log.ts';
import { MemberClient, isMemberClientError, leaderApiMetadataKey, leaderMetadataKey } from './client.ts';
import { MemberService } from './gen/tug/v1/member_pb.js';
import type { MemberInfoSchema } from './gen/tug/v1/member_pb.js';

/** maxPayloadBytes is the largest command payload accepted. */
export const maxPayloadBytes = 1024 * 1024;
/** readLogMaxEntries / readLogMaxBytes bound one ReadLog answer. */
export const readLogMaxEntries = 10_000;
export const readLogDefaultEntries = 1_000;
export const readLogMaxBytes = 4 * 1024 * 1024;
/** Metadata key set on a call one member forwards to another; a forwarded call is never forwarded again. */
const forwardedMetadataKey = 'tug-forwarded';
/** Propose timeout when the caller set no deadline, ms. */
const defaultCallTimeoutMs = 10_000;

/** CommandLogMemberOptions: see RaftMemberOptions (the API served is MemberService). */
export type CommandLogMemberOptions = RaftMemberOptions;

type MemberInfoInit = MessageInitShape<typeof MemberInfoSchema>;

/** CommandLogMember: start with `CommandLogMember.start`, stop with `close`. */
export class CommandLogMember {
  readonly name: string;
  readonly clusterId: string;
  readonly apiAddress: string;
  readonly node: RaftNode;
  readonly commands: CommandLog;
  /** Resolves when the Raft node stops: undefined after close, the error after a fatal failure. */
  readonly stopped: Promise<Error | undefined>;

  private readonly log: Logger;
  private readonly security: Security;
  private readonly server: Server;
  private readonly forwarder: Map<string, MemberClient> = new Map();
  /** Propose calls waiting on this member as leader; failed at once when it steps down. */
  private readonly inflight = new WaitingCalls<GrpcError>();
  private role: StateChange['role'] = 'follower';
  private publishing = false;
  private closed = false;

  private constructor(opts: CommandLogMemberOptions, node: RaftNode, commands: CommandLog, server: Server) {
    this.name = opts.name;
    this.clusterId = opts.clusterId;
    this.apiAddress = opts.advertiseApi;
    this.node = node;
    this.commands = commands;
    this.log = opts.logger;
    this.security = opts.security;
    this.server = server;
    this.stopped = node.stopped;
  }

  /** start recovers or creates the Raft node, then serves the API. */
  static async start(opts: CommandLogMemberOptions): Promise<CommandLogMember> {
    const commands = new CommandLog();
    const node = await RaftNode.start(raftNodeOptions(opts, commands));
    const server = new Server({ 'grpc.max_receive_message_length': maxPayloadBytes + 64 * 1024 });
    const member = new CommandLogMember(opts, node, commands, server);
    addService(server, MemberService, member.handlers(), {
      onInternalError: (err, method) => opts.logger.error({ err, method: method.name }, 'api: internal error'),
    });
    try {
      await bindServer(server, opts.listenApi, serverCredentials(opts.security, logRefusals(opts.logger, 'api')));
    } catch (err) {
      await node.close();
      throw new Error(`cannot serve the API on ${opts.listenApi}: ${(err as Error).message}`, { cause: err });
    }
    node.onStateChange((s) => member.onStateChange(s));
    member.onStateChange({ role: node.status().role, leader: node.status().leader, term: node.status().term });
    opts.logger.info({ api: opts.advertiseApi, peer: opts.advertisePeer, clusterId: opts.clusterId }, 'member ready');
    return member;
  }

  /** close stops serving (running calls get up to 500 ms), then closes the Raft node. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.inflight.failAll(new GrpcError(Status.UNAVAILABLE, `${this.name} is shutting down; retry with the same id`));
    for (const c of this.forwarder.values()) c.close();
    await shutdownServer(this.server, 500);
    await this.node.close();
  }

  status(): RaftNodeStatus {
    return this.node.status();
  }

  // -------------------------------------------------------------------------------------------
  // Leadership: publish our API address, fail waiting proposals on step-down.

  private onStateChange(s: StateChange): void {
    const was = this.role;
    this.role = s.role;
    if (was === 'leader' && s.role !== 'leader') {
      this.inflight.failAll(
        new GrpcError(Status.UNAVAILABLE, `${this.name} lost leadership before the command was applied; outcome unknown, retry with the same id`),
      );
    }
    if (s.role === 'leader' && was !== 'leader') void this.publishSelf(s.term);
  }

  /** publishSelf writes our API address into the log (once per address), while we lead in `term`. */
  private async publishSelf(term: number): Promise<void> {
    if (this.publishing) return;
    this.publishing = true;
    try {
      for (let attempt = 0; !this.closed; attempt++) {
        const st = this.node.status();
        if (st.role !== 'leader' || st.term !== term) return;
        if (this.commands.apiAddress(this.name) === this.apiAddress) return;
        try {
          await this.node.propose(encodeMember(this.name, this.apiAddress), { timeoutMs: 5_000 });
          this.log.info({ api: this.apiAddress, term }, 'published API address');
          return;
        } catch (err) {
          if (isRaftStoppedError(err)) return;
          this.log.warn({ err, attempt }, 'publishing API address failed; retrying');
          await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
        }
      }
    } finally {
      this.publishing = false;
    }
  }

  // -------------------------------------------------------------------------------------------
  // API

  private handlers(): ServiceImpl<typeof MemberService> {
    return {
      propose: async (req, ctx) => {
        const idBytes = Buffer.byteLength(req.id, 'utf8');
        if (idBytes === 0 || idBytes > maxCommandIdBytes) {
          throw new GrpcError(Status.INVALID_ARGUMENT, `id: must be 1 to ${maxCommandIdBytes} bytes of UTF-8, got ${idBytes}`);
        }
        if (req.payload.length > maxPayloadBytes) {
          throw new GrpcError(Status.INVALID_ARGUMENT, `payload: at most ${maxPayloadBytes} bytes, got ${req.payload.length}`);
        }
        // A command applied here is committed: a retry is answered from local state.
        const known = this.commands.lookup(req.id);
        if (known !== undefined) return { index: BigInt(known.index), position: BigInt(known.position), duplicate: true };
        const st = this.node.status();
        if (st.role !== 'leader') throw this.redirect(st.leader, `${this.name} is not the leader`);
        const r = await this.proposeWaiting(encodeCommand(req.id, req.payload), ctx);
        if (r.kind !== 'command') throw new GrpcError(Status.INTERNAL, `command applied as ${r.kind}`);
        return { index: BigInt(r.index), position: BigInt(r.position), duplicate: r.duplicate };
      },

      readLog: async (req) => {
        if (req.linearizable ?? true) {
          try {
            await this.node.readIndex();
          } catch (err) {
            throw this.toGrpc(err, 'read index');
          }
        }
        const from = Math.max(1, Number(req.from));
        const limit = Math.min(readLogMaxEntries, req.limit === 0 ? readLogDefaultEntries : req.limit);
        const page = this.commands.read(from, limit);
        let bytes = 0;
        let n = 0;
        for (const c of page) {
          bytes += c.payload.length + c.id.length + 32;
          if (n > 0 && bytes > readLogMaxBytes) break;
          n++;
        }
        return {
          entries: page.slice(0, n).map((c) => ({ position: BigInt(c.position), index: BigInt(c.index), id: c.id, payload: c.payload })),
          total: BigInt(this.commands.length),
          appliedIndex: BigInt(this.node.status().appliedIndex),
        };
      },

      status: async () => {
        const st = this.node.status();
        return {
          name: this.name,
          role: st.role,
          term: BigInt(st.term),
          leader: st.leader,
          leaderApiAddress: st.leader === '' ? '' : st.leader === this.name ? this.apiAddress : this.commands.apiAddress(st.leader),
          commit: BigInt(st.commit),
          applied: BigInt(st.appliedIndex),
          lastIndex: BigInt(st.lastIndex),
          snapshotIndex: BigInt(st.snapshotIndex),
          commands: BigInt(this.commands.length),
          members: this.membersInfo(st),
          apiAddress: this.apiAddress,
          clusterId: this.clusterId,
        };
      },

      transferLeadership: async (req, ctx) => {
        const st = this.node.status();
        if (st.role !== 'leader') {
          const fwd = await this.forward(st.leader, ctx, (c) => c.transferLeadership(req.to));
          return { leader: fwd.leader, term: BigInt(fwd.term) };
        }
        let to = req.to;
        if (to === '') {
          const voters = st.membership.voters;
          const me = voters.indexOf(this.name);
          to = voters.length > 1 ? voters[(me + 1) % voters.length]! : '';
          if (to === '' || to === this.name) throw new GrpcError(Status.FAILED_PRECONDITION, 'no other member to transfer leadership to');
        } else if (to === this.name) {
          return { leader: this.name, term: BigInt(st.term) };
        } else if (!st.membership.voters.includes(to)) {
          throw new GrpcError(Status.NOT_FOUND, `to: ${to} is not a member`);
        }
        try {
          await this.node.transferLeadership(to);
        } catch (err) {
          throw this.toGrpc(err, 'transfer leadership');
        }
        const after = this.node.status();
        return { leader: after.leader, term: BigInt(after.term) };
      },

      addMember: async (req, ctx) => {
        if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(req.name)) {
          throw new GrpcError(Status.INVALID_ARGUMENT, `name: ${JSON.stringify(req.name)} is not a DNS-1123 label`);
        }
        if (!isHostPort(req.peerAddress)) {
          throw new GrpcError(Status.INVALID_ARGUMENT, `peer_address: ${JSON.stringify(req.peerAddress)} is not HOST:PORT`);
        }
        const st = this.node.status();
        if (st.role !== 'leader') {
          const members = await this.forward(st.leader, ctx, (c) => c.addMember(req.name, req.peerAddress));
          return { members, clusterId: this.clusterId };
        }
        if (st.membership.voters.includes(req.name)) {
          const have = st.membership.contexts[req.name] ?? '';
          const code = have === req.peerAddress ? Status.ALREADY_EXISTS : Status.FAILED_PRECONDITION;
          throw new GrpcError(code, `name: ${req.name} is already a member (peer address ${have})`);
        }
        try {
          await this.node.addMember(req.name, req.peerAddress);
        } catch (err) {
          throw this.toGrpc(err, 'add member');
        }
        this.log.info({ member: req.name, peer: req.peerAddress }, 'member added');
        return { members: this.membersInfo(this.node.status()), clusterId: this.clusterId };
      },

      removeMember: async (req, ctx) => {
        const st = this.node.status();
        if (st.role !== 'leader') {
          const members = await this.forward(st.leader, ctx, (c) => c.removeMember(req.name));
          return { members };
        }
        if (!st.membership.voters.includes(req.name)) throw new GrpcError(Status.NOT_FOUND, `name: ${req.name} is not a member`);
        try {
          await this.node.removeMember(req.name);
        } catch (err) {
          throw this.toGrpc(err, 'remove member');
        }
        this.log.info({ member: req.name }, 'member removed');
        return { members: this.membersInfo(this.node.status()) };
      },
    };
  }

  private membersInfo(st: RaftNodeStatus): MemberInfoInit[] {
    return st.membership.voters.map((v) => ({
      name: v,
      peerAddress: st.membership.contexts[v] ?? '',
      apiAddress: v === this.name ? this.apiAddress : this.commands.apiAddress(v),
    }));
  }

  /** proposeWaiting proposes and waits for the result, failing early if this member steps down. */
  private proposeWaiting(data: Uint8Array, ctx: CallContext): Promise<ApplyResult> {
    const timeoutMs = callTimeoutMs(ctx);
    return this.inflight.wait(this.node.propose(data, { timeoutMs }).then((r) => r.result as ApplyResult), (err) => this.toGrpc(err, 'propose'));
  }

  /** redirect is the error for a leader-only call at a follower. */
  private redirect(leader: string, why: string): GrpcError {
    if (leader === '') return new GrpcError(Status.UNAVAILABLE, `${why}; no leader is known (election in progress); retry shortly`);
    const api = this.commands.apiAddress(leader);
    if (api === '') return new GrpcError(Status.UNAVAILABLE, `${why}; the leader is ${leader} but its API address is not known yet; retry shortly`);
    const md = new Metadata();
    md.set(leaderMetadataKey, leader);
    md.set(leaderApiMetadataKey, api);
    return new GrpcError(Status.FAILED_PRECONDITION, `${why}; the leader is ${leader} at ${api}`, { metadata: md });
  }

  /** forward sends an admin call on to the leader (one hop). */
  private async forward<T>(leader: string, ctx: CallContext, call: (c: MemberClient) => Promise<T>): Promise<T> {
    if (ctx.metadata.get(forwardedMetadataKey).length > 0) throw this.redirect(leader, `${this.name} is not the leader`);
    const api = leader === '' ? '' : this.commands.apiAddress(leader);
    if (api === '') throw this.redirect(leader, `${this.name} is not the leader`);
    let c = this.forwarder.get(api);
    if (c === undefined) {
      c = new MemberClient({ endpoints: [api], security: this.security, attemptTimeoutMs: 15_000, deadlineMs: 15_000, metadata: { [forwardedMetadataKey]: '1' } });
      this.forwarder.set(api, c);
    }
    try {
      return await call(c);
    } catch (err) {
      if (isMemberClientError(err) && err.cause !== undefined && isGrpcError(err.cause)) throw err.cause;
      throw err;
    }
  }

  /** toGrpc maps a driver error to the status the API answers with. */
  private toGrpc(err: unknown, what: string): GrpcError {
    if (isGrpcError(err)) return err;
    if (isNotLeaderError(err)) return this.redirect((err as NotLeaderError).leaderId, `${what}: ${this.name} is not the leader`);
    if (isProposalDroppedError(err)) return new GrpcError(Status.UNAVAILABLE, `${what}: ${err.message}; retry with the same id`);
    if (isRaftTimeoutError(err)) return new GrpcError(Status.DEADLINE_EXCEEDED, `${what}: ${err.message}`);
    if (isRaftStoppedError(err)) return new GrpcError(Status.UNAVAILABLE, `${what}: ${err.message}`);
    if (isRaftRequestError(err)) {
      if (err.code === 'invalid') return new GrpcError(Status.INVALID_ARGUMENT, `${what}: ${err.message}`);
      return new GrpcError(Status.UNAVAILABLE, `${what}: ${err.message}; retry shortly`);
    }
    return new GrpcError(Status.INTERNAL, `${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** callTimeoutMs is how long a call may still take: until its deadline, or a default. */
function callTimeoutMs(ctx: CallContext): number {
  const d = ctx.deadline;
  const at = d instanceof Date ? d.getTime() : d;
  if (!Number.isFinite(at)) return defaultCallTimeoutMs;
  return Math.max(1, Math.min(60_000, at - Date.now()));
}

/** isHostPort: "host:port" with a non-empty host and a port in 1..65535. */
export function isHostPort(s: string): boolean {
  const at = s.lastIndexOf(':');
  if (at <= 0) return false;
  const port = s.slice(at + 1);
  return /^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535;
}
