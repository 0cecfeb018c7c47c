/**
 * Forwarding carries calls from this member to the other members' APIs: writes and membership
 * calls to the leader, MemberStatus to every member for ClusterService.Status, and a
 * follower's request that the leader record its directory entry (housekeeping.ts). It keeps one
 * pair of clients per member API address until close().
 *
 * - A forwarded call is one hop: it carries the forwarded mark and is never forwarded again
 *   (the receiver answers UNAVAILABLE if it does not lead any more).
 * - A forwarded call keeps the caller's deadline (capped at 60 s) and cancellation.
 * - A leader that cannot be reached is UNAVAILABLE to the caller; any other answer of the
 *   leader is passed on as it is.
 * - Object writes go to the leader in batches (forward-batches.ts): the ones that arrive
 *   together share one call.
 * - An object write with a request id is retried (at most 5 attempts, within the call's
 *   deadline) after waiting for a (new) leader: the request id makes that safe. Without a
 *   request id it is tried once.
 */
import { ClusterService, ForwardService, GrpcError, Status, clientTransport, createClient, isGrpcError } from '@tugboat/proto';
import type { CallContext, Security, ServiceClient } from '@tugboat/proto';
import { publishOnlyMetadataKey, toGrpcError } from '@tugboat/apiserver';
import type { ForwardOptions, MemberInfo, MemberRecord } from '@tugboat/apiserver';
import { remainingMs } from './deadline.ts';
import { ForwardBatches } from './forward-batches.ts';
import type { ForwardedCall } from './forward-batches.ts';
import type { LeaderState } from './leadership.ts';
import type { MemberAddresses } from './member-directory.ts';

/** forwardedMetadataKey marks a call one member forwarded to another (value: the sender's name). */
export const forwardedMetadataKey = 'tug-forwarded';

/** ObjectWrite is an ObjectService method that writes. */
export type ObjectWrite = 'create' | 'update' | 'delete' | 'txn';

export interface ForwardingOptions {
  readonly leadership: LeaderState;
  /** directory tells the other members' API addresses. */
  readonly directory: MemberAddresses;
  /** Timeout of a forwarded write whose call has no deadline, ms. */
  readonly writeTimeoutMs: number;
  /** Largest request this member accepts, bytes: it must be able to pass each one on. */
  readonly maxRequestBytes: number;
  /** How the other members' APIs are dialled. */
  readonly security: Security;
}

interface PeerClients {
  readonly forward: ServiceClient<typeof ForwardService>;
  /** writes passed on to this member when it leads, in batches */
  readonly writes: ForwardBatches;
  readonly cluster: ServiceClient<typeof ClusterService>;
}

/** LeaderTarget is where a call to the leader goes. */
interface LeaderTarget {
  readonly client: PeerClients;
  readonly leader: string;
  readonly api: string;
}

/** forwardAttemptsMax bounds the attempts of one forwarded write. */
const forwardAttemptsMax = 5;

/** unreachableReason says briefly why a call to another member failed. */
function unreachableReason(err: unknown): string {
  if (!isGrpcError(err)) return err instanceof Error ? err.message : String(err);
  const refused = /connect (E[A-Z]+)/.exec(err.message);
  if (refused !== null) return `cannot connect (${refused[1]})`;
  if (err.code === Status.DEADLINE_EXCEEDED) return 'no answer in time';
  return `${err.codeName}: ${err.message.replace(/\s*Resolution note:.*$/s, '')}`;
}

export class Forwarding {
  private readonly opts: ForwardingOptions;
  private readonly peers = new Map<string, PeerClients>();

  constructor(opts: ForwardingOptions) {
    this.opts = opts;
  }

  /** forward runs an object write on the leader (see the module comment for the retries). */
  async forward(method: ObjectWrite, req: unknown, ctx: CallContext): Promise<unknown> {
    const l = this.opts.leadership;
    const deadline = performance.now() + remainingMs(ctx, this.opts.writeTimeoutMs);
    const retryable = (req as { requestId?: unknown }).requestId !== '';
    let lastFailure: GrpcError | undefined;
    for (let attempt = 1; ; attempt++) {
      const left = deadline - performance.now();
      // A retry whose time ran out while waiting for a new leader answers the last failure.
      if (lastFailure !== undefined && left <= 0) throw lastFailure;
      let target: LeaderTarget;
      try {
        target = this.leaderTarget(ctx, method);
      } catch (err) {
        const leader = l.leader();
        if (!retryable || left <= 0 || l.closing || leader === l.name || wasForwarded(ctx)) throw err;
        // No leader yet, or its API address is not known here yet (it records it as it starts to lead).
        if (leader === '') await l.waitForLeader('', Math.min(left, 1_000));
        else await l.waitForStateChange(Math.min(left, 50));
        continue;
      }
      try {
        return await target.client.writes.send({ case: method, value: req } as NonNullable<ForwardedCall>, Math.max(1, left), ctx.signal);
      } catch (err) {
        const failure = forwardFailure(err, target);
        lastFailure = failure;
        if (!retryable || failure.code !== Status.UNAVAILABLE || attempt >= forwardAttemptsMax || l.closing || ctx.signal.aborted) throw failure;
        const wait = Math.min(deadline - performance.now(), 2_000);
        if (wait <= 0) throw failure;
        await l.waitForLeader(target.leader, wait);
      }
    }
  }

  /** forwardToLeader runs `call` against the leader's ClusterService once; UNAVAILABLE when it cannot be reached. */
  async forwardToLeader<T>(what: string, ctx: CallContext, defaultTimeoutMs: number, call: (client: ServiceClient<typeof ClusterService>, opts: ForwardOptions) => Promise<T>): Promise<T> {
    const target = this.leaderTarget(ctx, what);
    try {
      return await call(target.client.cluster, this.callOptions(ctx, remainingMs(ctx, defaultTimeoutMs)));
    } catch (err) {
      throw forwardFailure(err, target);
    }
  }

  /** memberInfo asks member `name` how it is (MemberStatus); an unreachable one is described with the reason. */
  async memberInfo(name: string, peerAddress: string, timeoutMs: number): Promise<MemberInfo> {
    const apiAddress = this.opts.directory.apiAddressOf(name);
    const down = (error: string): MemberInfo => ({ name, peerAddress, apiAddress, role: 'unknown', reachable: false, error });
    if (apiAddress === '') return down('its API address is not known yet (it publishes it once it has a leader)');
    try {
      const res = await this.peerClients(apiAddress).cluster.memberStatus({}, { timeoutMs });
      if (res.member === undefined) return down('answered without a member');
      if (res.member.name !== name) return down(`${apiAddress} is member ${res.member.name}, not ${name}`);
      return { ...res.member, peerAddress, apiAddress, reachable: true, error: '' };
    } catch (err) {
      return down(unreachableReason(err));
    }
  }

  /** askToRecord asks the leader, at `api`, to record this member's own (unchanged) addresses `self` in the directory. */
  async askToRecord(api: string, self: MemberRecord): Promise<void> {
    await this.peerClients(api).cluster.addMember(self, {
      timeoutMs: 5_000,
      metadata: { [forwardedMetadataKey]: this.opts.leadership.name, [publishOnlyMetadataKey]: '1' },
    });
  }

  /** close closes the clients of every other member. */
  close(): void {
    for (const c of this.peers.values()) {
      c.forward.close();
      c.cluster.close();
    }
    this.peers.clear();
  }

  /**
   * leaderTarget returns the clients of the leader's API for forwarding `what`; UNAVAILABLE
   * when no leader is known, its API address is not, or the call was forwarded already.
   */
  private leaderTarget(ctx: CallContext, what: string): LeaderTarget {
    const l = this.opts.leadership;
    if (l.closing) throw new GrpcError(Status.UNAVAILABLE, `${l.name} is shutting down; retry at another member`);
    const leader = l.leader();
    if (wasForwarded(ctx)) {
      throw new GrpcError(Status.UNAVAILABLE, `${what}: ${l.name} is not the leader any more (leader now: ${leader || 'none'}); retry with the same request id`);
    }
    if (leader === '') throw new GrpcError(Status.UNAVAILABLE, `${what}: no leader is known (election in progress); retry with the same request id`);
    if (leader === l.name) throw new GrpcError(Status.UNAVAILABLE, `${what}: ${l.name} is becoming the leader; retry with the same request id`);
    const api = this.opts.directory.apiAddressOf(leader);
    if (api === '') throw new GrpcError(Status.UNAVAILABLE, `${what}: the leader ${leader}'s API address is not known here yet; retry shortly`);
    return { client: this.peerClients(api), leader, api };
  }

  /** callOptions are the options of a forwarded call: `timeoutMs`, the caller's signal, and the forwarded mark. */
  private callOptions(ctx: CallContext, timeoutMs: number): ForwardOptions {
    return { timeoutMs, signal: ctx.signal, metadata: { [forwardedMetadataKey]: this.opts.leadership.name } };
  }

  /** peerClients returns (making once) the clients of another member's API. */
  private peerClients(api: string): PeerClients {
    let c = this.peers.get(api);
    if (c === undefined) {
      const { credentials, channelOptions: tlsOptions } = clientTransport(this.opts.security, api);
      const channelOptions = { ...tlsOptions, 'grpc.max_receive_message_length': 256 * 1024 * 1024, 'grpc.max_send_message_length': this.opts.maxRequestBytes };
      const forward = createClient(ForwardService, api, { credentials, channelOptions });
      const writes = new ForwardBatches({
        client: forward,
        metadata: { [forwardedMetadataKey]: this.opts.leadership.name },
        maxBatchBytes: this.opts.maxRequestBytes - 64 * 1024,
      });
      c = { forward, writes, cluster: createClient(ClusterService, api, { credentials, channelOptions }) };
      this.peers.set(api, c);
    }
    return c;
  }
}

function wasForwarded(ctx: CallContext): boolean {
  return ctx.metadata.get(forwardedMetadataKey).length > 0;
}

/** forwardFailure is what a caller gets when a forwarded call failed: the leader's answer, or UNAVAILABLE if it was not reached. */
function forwardFailure(err: unknown, target: LeaderTarget): GrpcError {
  if (!isGrpcError(err)) return toGrpcError(err, 'forward');
  if (err.code === Status.UNAVAILABLE || err.code === Status.CANCELLED) {
    return new GrpcError(Status.UNAVAILABLE, `the leader ${target.leader} at ${target.api} did not answer (${err.message}); retry with the same request id`);
  }
  return new GrpcError(err.code, err.message);
}
