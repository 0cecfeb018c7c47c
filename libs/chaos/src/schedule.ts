// schedule.ts: which fault a round injects and whom it hits, decided from the scenario, the
// round's number, the seeded random stream and the cluster as it is when the round starts
// (pure: the same seed and cluster give the same rounds).
import type { Rng } from '@tugboat/testing';
import type { Fault, Scenario } from './scenario.ts';

/** ClusterView is what a round's choices depend on. */
export interface ClusterView {
  readonly nodes: readonly { readonly name: string; readonly control: boolean }[];
  /** The leader now, if one is known. */
  readonly leader: string | undefined;
  /** The node running the one-replica set's pod, if it runs. */
  readonly soloNode: string | undefined;
}

/** PlannedFault is one round's fault with its targets resolved. */
export interface PlannedFault {
  readonly fault: Fault;
  /** The nodes hit (for kill-pod: none; the pod is drawn with podPick). */
  readonly nodes: readonly string[];
  /** For a partition: the other side. */
  readonly from: readonly string[];
  /** For kill-pod: which of the workload's pods, as an index modulo their number. */
  readonly podPick: number;
  /** The node whose network namespace the service requests come from this round: one the fault spares where it can. */
  readonly clientNode: string;
  /** What the chaos log and the report call the target, e.g. "node-2" or "node-1 from node-2,node-3". */
  readonly label: string;
}

/** faultOfRound picks round `round`'s fault: in turn (cycle) or drawn from the stream (random). */
export function faultOfRound(scenario: Scenario, round: number, rng: Rng): Fault {
  const i = scenario.order === 'cycle' ? round % scenario.rounds.length : Math.floor(rng.float() * scenario.rounds.length);
  return scenario.rounds[i]!;
}

function pick<T>(items: readonly T[], rng: Rng, what: string): T {
  if (items.length === 0) throw new Error(`no ${what} to hit`);
  return items[Math.floor(rng.float() * items.length)]!;
}

function shuffled<T>(items: readonly T[], rng: Rng): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng.float() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** targetNodes resolves a fault's target against the cluster (see scenario.ts's TARGETS). */
export function targetNodes(fault: Fault, round: number, view: ClusterView, rng: Rng): string[] {
  const all = view.nodes.map((n) => n.name);
  const control = view.nodes.filter((n) => n.control).map((n) => n.name);
  const needLeader = (): string => {
    if (view.leader === undefined) throw new Error('no leader is known to hit');
    return view.leader;
  };
  const t = fault.target;
  if (typeof t === 'object') {
    if (!all.includes(t.node)) throw new Error(`target node ${t.node} is not in the cluster (its nodes: ${all.join(', ')})`);
    return [t.node];
  }
  switch (t) {
    case 'leader':
      return [needLeader()];
    case 'follower':
      return [pick(control.filter((n) => n !== view.leader), rng, 'follower')];
    case 'worker': {
      const workers = all.filter((n) => !control.includes(n));
      return [workers.length > 0 ? pick(workers, rng, 'worker') : pick(control.filter((n) => n !== view.leader), rng, 'follower')];
    }
    case 'solo':
      if (view.soloNode === undefined) throw new Error("the one-replica set's pod runs on no node to hit");
      return [view.soloNode];
    case 'any':
      return [pick(all, rng, 'node')];
    case 'all':
      return all;
    case 'minority':
      return shuffled(control, rng).slice(0, Math.floor((control.length - 1) / 2));
    case 'majority':
      return shuffled(control, rng).slice(0, Math.floor(control.length / 2) + 1);
    case 'next-control':
      return [control[round % control.length]!];
  }
}

/** planFault resolves round `round`'s fault: its nodes, a partition's other side and the client's node. */
export function planFault(fault: Fault, round: number, view: ClusterView, rng: Rng): PlannedFault {
  const nodes = fault.action === 'kill-pod' ? [] : targetNodes(fault, round, view, rng);
  if (nodes.length === 0 && fault.action !== 'kill-pod') throw new Error(`target ${JSON.stringify(fault.target)} hits no node of this cluster`);
  const all = view.nodes.map((n) => n.name);
  const control = view.nodes.filter((n) => n.control).map((n) => n.name);
  const from = fault.action !== 'partition' ? [] : (fault.from === 'control' ? control : all).filter((n) => fault.each || !nodes.includes(n));
  if (fault.action === 'partition' && from.length === 0) throw new Error(`a partition of ${nodes.join(',')} has nobody on the other side`);
  // The requests come from a node the fault spares (for a partition: the other side, which
  // holds the majority when the target is a minority), so that they measure the service, not
  // the client's own cut; when every node is hit, from the first.
  const spared = (fault.action === 'partition' ? from.filter((n) => !nodes.includes(n)) : all.filter((n) => !nodes.includes(n))).filter((n) => n !== view.leader || fault.action !== 'kill-leader');
  const clientNode = spared[0] ?? all[0]!;
  const podPick = rng.u32();
  const label =
    fault.action === 'kill-pod'
      ? 'a web pod'
      : fault.action === 'partition'
        ? `${nodes.join(',')} from ${fault.each ? 'every other node, each on its own' : from.join(',')}${fault.oneWay ? ' (one way)' : ''}`
        : nodes.join(',');
  return { fault, nodes, from, podPick, clientNode, label };
}
