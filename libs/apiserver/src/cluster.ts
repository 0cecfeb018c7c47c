/**
 * ClusterService (proto/tug/v1/api.proto): health, status and membership of the control plane.
 *
 * Membership changes and leadership transfers run on the leader; any other member forwards
 * them there (one hop). AddMember with the addresses a member already has answers the members
 * and changes nothing (a joining member may retry it); another member under a taken name is
 * ALREADY_EXISTS. The leader also records the new member's API address in the member
 * directory (recordMember); RemoveMember drops the record. Bootstrap tokens, joining and
 * certificate renewal are join.ts's.
 */
import type { Logger } from 'pino';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { GrpcError, Status } from '@tugboat/proto';
import type { CallContext, ClusterService, ControlMemberSchema, ServiceClient, ServiceImpl } from '@tugboat/proto';
import { allowClusterCall } from './authorization.ts';
import { toGrpcError } from './errors.ts';
import { joinCalls } from './join.ts';
import type { JoinBackend } from './join.ts';

/** publishOnlyMetadataKey: an AddMember that may only record the addresses of an existing member (a member publishing itself). */
export const publishOnlyMetadataKey = 'tug-publish-only';

/** MemberInfo is one member as ClusterService reports it. */
export type MemberInfo = MessageInitShape<typeof ControlMemberSchema>;

/** MemberRecord is one member's entry in the member directory: where it serves Raft and the API. */
export interface MemberRecord {
  readonly name: string;
  readonly peerAddress: string;
  readonly apiAddress: string;
}

/** ForwardOptions are the call options of a call forwarded to the leader. */
export interface ForwardOptions {
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  readonly metadata: Record<string, string>;
}

/** ClusterBackend is what ClusterService needs from a control member. */
export interface ClusterBackend extends JoinBackend {
  readonly name: string;
  readonly clusterId: string;
  readonly log: Logger;
  /** ready: serving, with a known leader and the initial objects in place. */
  ready(): boolean;
  isLeader(): boolean;
  /** selfInfo describes this member from its own state. */
  selfInfo(): MemberInfo;
  /** membersInfo describes every voter (the unreachable ones with the reason). */
  membersInfo(): Promise<MemberInfo[]>;
  /** membership: the voters and their peer addresses, as this member knows them. */
  membership(): { readonly voters: readonly string[]; readonly contexts: Readonly<Record<string, string>> };
  /** addVoter, removeVoter, transferLeadership change the Raft configuration (leader only); they resolve once committed. */
  addVoter(name: string, peerAddress: string): Promise<void>;
  removeVoter(name: string): Promise<void>;
  /** transferLeadership resolves with the leader after the transfer. */
  transferLeadership(to: string): Promise<string>;
  /** recordMember and forgetMember write the member directory (leader only). */
  recordMember(r: MemberRecord): Promise<void>;
  forgetMember(name: string): Promise<void>;
  /** forwardToLeader runs `call` against the leader's ClusterService; UNAVAILABLE when it cannot be reached. */
  forwardToLeader<T>(what: string, ctx: CallContext, defaultTimeoutMs: number, call: (client: ServiceClient<typeof ClusterService>, opts: ForwardOptions) => Promise<T>): Promise<T>;
}

const nameRe = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** isHostPort: "host:port" with a non-empty host and a port in 1..65535. */
export function isHostPort(s: string): boolean {
  const at = s.lastIndexOf(':');
  if (at <= 0) return false;
  const port = s.slice(at + 1);
  return /^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535;
}

export function clusterService(p: ClusterBackend): ServiceImpl<typeof ClusterService> {
  /** forward sends a membership call to the leader with a long deadline (it waits for a Raft round). */
  const forward = <T>(what: string, ctx: CallContext, call: (c: ServiceClient<typeof ClusterService>, o: ForwardOptions) => Promise<T>): Promise<T> => {
    const publishOnly = ctx.metadata.get(publishOnlyMetadataKey).length > 0;
    return p.forwardToLeader(what, ctx, 30_000, (c, opts) => call(c, publishOnly ? { ...opts, metadata: { ...opts.metadata, [publishOnlyMetadataKey]: '1' } } : opts));
  };

  return {
    ...joinCalls(p, forward),

    async health() {
      return { ready: p.ready(), name: p.name };
    },

    async memberStatus() {
      return { member: p.selfInfo(), clusterId: p.clusterId };
    },

    async status() {
      return { members: await p.membersInfo(), clusterId: p.clusterId };
    },

    async addMember(req, ctx) {
      allowClusterCall(ctx, 'change membership');
      if (!nameRe.test(req.name)) throw new GrpcError(Status.INVALID_ARGUMENT, `name: ${JSON.stringify(req.name)} is not a DNS-1123 label`);
      if (!isHostPort(req.peerAddress)) throw new GrpcError(Status.INVALID_ARGUMENT, `peer_address: ${JSON.stringify(req.peerAddress)} is not HOST:PORT`);
      if (!isHostPort(req.apiAddress)) throw new GrpcError(Status.INVALID_ARGUMENT, `api_address: ${JSON.stringify(req.apiAddress)} is not HOST:PORT`);
      if (!p.isLeader()) return forward('add member', ctx, (c, o) => c.addMember(req, o));
      const st = p.membership();
      const record = { name: req.name, peerAddress: req.peerAddress, apiAddress: req.apiAddress };
      if (st.voters.includes(req.name)) {
        const have = st.contexts[req.name] ?? '';
        if (have !== req.peerAddress) {
          throw new GrpcError(Status.ALREADY_EXISTS, `member "${req.name}" already exists with peer address ${have}, not ${req.peerAddress}`);
        }
      } else if (ctx.metadata.get(publishOnlyMetadataKey).length > 0) {
        throw new GrpcError(Status.FAILED_PRECONDITION, `${req.name} is not a member of the cluster (it was removed); its address is not recorded`);
      } else {
        const taken = Object.entries(st.contexts).find(([, addr]) => addr === req.peerAddress);
        if (taken !== undefined) throw new GrpcError(Status.ALREADY_EXISTS, `peer address ${req.peerAddress} is taken by member "${taken[0]}"`);
        try {
          await p.addVoter(req.name, req.peerAddress);
        } catch (err) {
          throw toGrpcError(err, 'add member');
        }
        p.log.info({ member: req.name, peer: req.peerAddress, api: req.apiAddress }, 'member added');
      }
      try {
        await p.recordMember(record);
      } catch (err) {
        // The member is in; it records its own address once it follows the leader.
        p.log.warn({ member: req.name, err: err instanceof Error ? err.message : String(err) }, 'member directory: could not record the new member yet');
      }
      return { members: await p.membersInfo(), clusterId: p.clusterId };
    },

    async removeMember(req, ctx) {
      allowClusterCall(ctx, 'change membership');
      if (!p.isLeader()) return forward('remove member', ctx, (c, o) => c.removeMember(req, o));
      const st = p.membership();
      if (!st.voters.includes(req.name)) throw new GrpcError(Status.NOT_FOUND, `member "${req.name}" not found`);
      if (st.voters.length === 1) throw new GrpcError(Status.FAILED_PRECONDITION, `member "${req.name}" is the only member; it cannot be removed`);
      try {
        await p.removeVoter(req.name);
      } catch (err) {
        throw toGrpcError(err, 'remove member');
      }
      p.log.info({ member: req.name }, 'member removed');
      if (req.name !== p.name) {
        await p.forgetMember(req.name).catch((err: unknown) => {
          p.log.warn({ member: req.name, err: err instanceof Error ? err.message : String(err) }, 'member directory: record not removed yet');
        });
      }
      return { members: await p.membersInfo() };
    },

    async transferLeadership(req, ctx) {
      allowClusterCall(ctx, 'change membership');
      if (!p.isLeader()) return forward('transfer leadership', ctx, (c, o) => c.transferLeadership(req, o));
      const st = p.membership();
      let to = req.to;
      if (to === '') {
        const others = st.voters.filter((v) => v !== p.name);
        if (others.length === 0) throw new GrpcError(Status.FAILED_PRECONDITION, 'no other member to hand leadership to');
        to = others[0]!;
      } else if (to === p.name) {
        return { leader: p.name };
      } else if (!st.voters.includes(to)) {
        throw new GrpcError(Status.NOT_FOUND, `member "${to}" not found`);
      }
      try {
        return { leader: await p.transferLeadership(to) };
      } catch (err) {
        throw toGrpcError(err, 'transfer leadership');
      }
    },
  };
}
