/**
 * ClusterService (proto/tug/v1/api.proto): health, status and membership of the control plane.
 *
 * Membership changes and leadership transfers run on the leader; any other member forwards
 * them there (one hop). AddMember with the addresses a member already has answers the members
 * and changes nothing (a joining member may retry it); another member under a taken name is
 * ALREADY_EXISTS. The leader also records the new member's API address in the member
 * directory (api/directory.ts); RemoveMember drops the record.
 */
import { GrpcError, Status } from '@tugboat/proto';
import type { CallContext, ClusterService, ServiceImpl } from '@tugboat/proto';
import type { ControlPlane } from '../control-plane.ts';
import { toGrpcError } from './errors.ts';

/** publishOnlyMetadataKey: an AddMember that may only record the addresses of an existing member (a member publishing itself). */
export const publishOnlyMetadataKey = 'tug-publish-only';

const nameRe = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** isHostPort: "host:port" with a non-empty host and a port in 1..65535. */
export function isHostPort(s: string): boolean {
  const at = s.lastIndexOf(':');
  if (at <= 0) return false;
  const port = s.slice(at + 1);
  return /^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535;
}

function leaderOnly(p: ControlPlane): boolean {
  return p.isLeader();
}

export function clusterService(p: ControlPlane): ServiceImpl<typeof ClusterService> {
  /** forward sends a membership call to the leader with a long deadline (it waits for a Raft round). */
  const forward = async <T>(what: string, ctx: CallContext, call: (c: ReturnType<ControlPlane['peerClients']>, o: object) => Promise<T>): Promise<T> => {
    const c = p.leaderClients(ctx, what);
    try {
      const opts = p.forwardOptions(ctx, 30_000);
      const publishOnly = ctx.metadata.get(publishOnlyMetadataKey).length > 0;
      return await call(c.client, publishOnly ? { ...opts, metadata: { ...opts.metadata, [publishOnlyMetadataKey]: '1' } } : opts);
    } catch (err) {
      throw p.forwardFailure(err, c.leader, c.api);
    }
  };

  return {
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
      if (!nameRe.test(req.name)) throw new GrpcError(Status.INVALID_ARGUMENT, `name: ${JSON.stringify(req.name)} is not a DNS-1123 label`);
      if (!isHostPort(req.peerAddress)) throw new GrpcError(Status.INVALID_ARGUMENT, `peer_address: ${JSON.stringify(req.peerAddress)} is not HOST:PORT`);
      if (!isHostPort(req.apiAddress)) throw new GrpcError(Status.INVALID_ARGUMENT, `api_address: ${JSON.stringify(req.apiAddress)} is not HOST:PORT`);
      if (!leaderOnly(p)) return forward('add member', ctx, (c, o) => c.cluster.addMember(req, o));
      const st = p.node.status();
      const record = { name: req.name, peerAddress: req.peerAddress, apiAddress: req.apiAddress };
      if (st.membership.voters.includes(req.name)) {
        const have = st.membership.contexts[req.name] ?? '';
        if (have !== req.peerAddress) {
          throw new GrpcError(Status.ALREADY_EXISTS, `member "${req.name}" already exists with peer address ${have}, not ${req.peerAddress}`);
        }
      } else if (ctx.metadata.get(publishOnlyMetadataKey).length > 0) {
        throw new GrpcError(Status.FAILED_PRECONDITION, `${req.name} is not a member of the cluster (it was removed); its address is not recorded`);
      } else {
        const taken = Object.entries(st.membership.contexts).find(([, addr]) => addr === req.peerAddress);
        if (taken !== undefined) throw new GrpcError(Status.ALREADY_EXISTS, `peer address ${req.peerAddress} is taken by member "${taken[0]}"`);
        try {
          await p.node.addMember(req.name, req.peerAddress);
        } catch (err) {
          throw toGrpcError(err, 'add member');
        }
        p.log.info({ member: req.name, peer: req.peerAddress, api: req.apiAddress }, 'member added');
      }
      try {
        await p.upsertMember(record);
      } catch (err) {
        // The member is in; it records its own address once it follows the leader.
        p.log.warn({ member: req.name, err: err instanceof Error ? err.message : String(err) }, 'member directory: could not record the new member yet');
      }
      return { members: await p.membersInfo(), clusterId: p.clusterId };
    },

    async removeMember(req, ctx) {
      if (!leaderOnly(p)) return forward('remove member', ctx, (c, o) => c.cluster.removeMember(req, o));
      const st = p.node.status();
      if (!st.membership.voters.includes(req.name)) throw new GrpcError(Status.NOT_FOUND, `member "${req.name}" not found`);
      if (st.membership.voters.length === 1) throw new GrpcError(Status.FAILED_PRECONDITION, `member "${req.name}" is the only member; it cannot be removed`);
      try {
        await p.node.removeMember(req.name);
      } catch (err) {
        throw toGrpcError(err, 'remove member');
      }
      p.log.info({ member: req.name }, 'member removed');
      if (req.name !== p.name) {
        await p.deleteMember(req.name).catch((err: unknown) => {
          p.log.warn({ member: req.name, err: err instanceof Error ? err.message : String(err) }, 'member directory: record not removed yet');
        });
      }
      return { members: await p.membersInfo() };
    },

    async transferLeadership(req, ctx) {
      if (!leaderOnly(p)) return forward('transfer leadership', ctx, (c, o) => c.cluster.transferLeadership(req, o));
      const st = p.node.status();
      let to = req.to;
      if (to === '') {
        const others = st.membership.voters.filter((v) => v !== p.name);
        if (others.length === 0) throw new GrpcError(Status.FAILED_PRECONDITION, 'no other member to hand leadership to');
        to = others[0]!;
      } else if (to === p.name) {
        return { leader: p.name };
      } else if (!st.membership.voters.includes(to)) {
        throw new GrpcError(Status.NOT_FOUND, `member "${to}" not found`);
      }
      try {
        await p.node.transferLeadership(to);
      } catch (err) {
        throw toGrpcError(err, 'transfer leadership');
      }
      return { leader: p.node.status().leader };
    },
  };
}
