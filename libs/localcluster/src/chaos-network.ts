// chaos-network.ts: network faults on a running local cluster (the rules are network-faults.ts's):
// partitions between nodes, delay and loss on a node's link (link-netem.ts), and their undoing.
// Each is recorded in the state file while it is in place and written to the chaos log. The
// partition rules live in the nodes' network namespaces, so `tug cluster down` takes any that
// are left with them. So does a netem qdisc; without tc's netem, the rules are in the host's
// namespace on the node's veth, which down finds by that veth's name, and the delayer
// (tug-netdelay) names the node's directory on its command line, so down ends it with the
// cluster's other processes.
import { join } from 'node:path';
import { existingPlan } from './existing.ts';
import { HostError, run, tryRun } from './host.ts';
import { applyLinkNetem, removeLinkNetem } from './link-netem.ts';
import type { NetemLink } from './link-netem.ts';
import { checkNetemSpec, describeNetem, dropCommand, linkDrops, netemQueueNum } from './network-faults.ts';
import type { LinkDrop, NetemFault, NetemSpec } from './network-faults.ts';
import { DEFAULT_STATE_ROOT } from './plan.ts';
import type { ClusterPlan, NodePlan } from './plan.ts';
import { readState } from './state.ts';
import { logChaos, nodeOf, updateState } from './chaos-state.ts';

export interface NetworkChaosOptions {
  /** Default /var/lib/tugboat. */
  readonly stateRoot?: string;
}

/** macOf reads the MAC address of a node's eth0. */
function macOf(node: NodePlan): string {
  const out = run(['nsenter', `--net=${node.netnsPath}`, '--', 'ip', '-j', 'link', 'show', 'eth0']);
  const mac = (JSON.parse(out) as { address?: string }[])[0]?.address;
  if (mac === undefined) throw new HostError(`${node.name} has no eth0 address (ip link show eth0 in ${node.netns})`);
  return mac;
}

/**
 * partition cuts `nodes` off from `from` (default: every other node of the cluster): packets
 * from a node of one side are dropped where they arrive on the other, both ways unless oneWay
 * (then only what `nodes` receive from `from`). The host still reaches every node. Drops in
 * place already are kept as they are. On a failure the drops this call added are removed
 * again. Returns the drops added.
 */
export function partition(name: string, nodes: readonly string[], from: readonly string[] | undefined, oneWay: boolean, opts: NetworkChaosOptions = {}): LinkDrop[] {
  const plan = existingPlan(name, opts.stateRoot ?? DEFAULT_STATE_ROOT);
  for (const n of [...nodes, ...(from ?? [])]) nodeOf(plan, n);
  const others = from ?? plan.nodes.map((n) => n.name).filter((n) => !nodes.includes(n));
  const macs = new Map<string, string>();
  const mac = (node: string): string => {
    if (!macs.has(node)) macs.set(node, macOf(nodeOf(plan, node)));
    return macs.get(node)!;
  };
  const present = readState(plan.stateFile)?.partitions ?? [];
  const wanted = linkDrops(nodes, others, oneWay, mac).filter((d) => !present.some((p) => p.node === d.node && p.from === d.from));
  const added: LinkDrop[] = [];
  try {
    for (const d of wanted) {
      run(dropCommand(nodeOf(plan, d.node), d.mac));
      added.push(d);
    }
  } catch (err) {
    for (const d of added) tryRun(dropCommand(nodeOf(plan, d.node), d.mac, true));
    throw new HostError(`partitioning ${nodes.join(',')} of local cluster ${name}: ${(err as Error).message}`, { cause: err });
  }
  updateState(plan.stateFile, (s) => ({ ...s, partitions: [...(s.partitions ?? []), ...added] }));
  logChaos(plan, 'partition', nodes.join(','), `from ${others.join(',')}${oneWay ? ' (one way: what they receive)' : ''}: ${added.length} drops`);
  return added;
}

/**
 * healPartitions removes the partition drops in place: all of them, or those where one of
 * `nodes` receives or sends. A rule that is gone already (its node's namespace was made again)
 * counts as removed. Returns the drops removed.
 */
export function healPartitions(name: string, nodes?: readonly string[], opts: NetworkChaosOptions = {}): LinkDrop[] {
  const plan = existingPlan(name, opts.stateRoot ?? DEFAULT_STATE_ROOT);
  for (const n of nodes ?? []) nodeOf(plan, n);
  const present = readState(plan.stateFile)?.partitions ?? [];
  const healed = present.filter((d) => nodes === undefined || nodes.includes(d.node) || nodes.includes(d.from));
  for (const d of healed) tryRun(dropCommand(nodeOf(plan, d.node), d.mac, true));
  updateState(plan.stateFile, (s) => ({ ...s, partitions: (s.partitions ?? []).filter((d) => !healed.some((h) => h.node === d.node && h.from === d.from)) }));
  if (healed.length > 0) logChaos(plan, 'heal', nodes?.join(',') ?? 'all', `${healed.length} partition drop${healed.length === 1 ? '' : 's'} removed`);
  return healed;
}

/** linkOf is a node's link as link-netem.ts takes it: its eth0, the host end on the cluster's
 *  bridge; its delayer logs to node-I/logs/netdelay.log. */
function linkOf(plan: ClusterPlan, node: NodePlan): NetemLink {
  return {
    netnsPath: node.netnsPath,
    hostEnd: { port: node.hostVeth },
    queueNum: netemQueueNum(plan.subnet, node.index),
    label: node.paths.dir,
    logFile: join(node.paths.logDir, 'netdelay.log'),
  };
}

/**
 * netem adds delay (with jitter) and loss to what leaves `node`'s eth0, replacing any it had:
 * with tc's netem qdisc where the kernel has it; where it has not, at the host end of the
 * node's link, loss by iptables' statistic match and delay by tug-netdelay (link-netem.ts).
 * Throws when the spec is not one netem can do (before anything changes) or when applying it
 * fails (then the node has no delay or loss).
 */
export async function netem(name: string, node: string, spec: NetemSpec, opts: NetworkChaosOptions = {}): Promise<NetemFault> {
  checkNetemSpec(spec);
  const plan = existingPlan(name, opts.stateRoot ?? DEFAULT_STATE_ROOT);
  const n = nodeOf(plan, node);
  const before = (readState(plan.stateFile)?.netem ?? []).find((f) => f.node === node);
  if (before !== undefined) {
    await removeLinkNetem(linkOf(plan, n), before);
    updateState(plan.stateFile, (s) => ({ ...s, netem: (s.netem ?? []).filter((f) => f.node !== node) }));
  }
  let fault: NetemFault;
  try {
    fault = { node, ...(await applyLinkNetem(linkOf(plan, n), spec)) };
  } catch (err) {
    throw new HostError(`netem on ${node} of local cluster ${name}: ${(err as Error).message}`, { cause: err });
  }
  updateState(plan.stateFile, (s) => ({ ...s, netem: [...(s.netem ?? []).filter((f) => f.node !== node), fault] }));
  logChaos(plan, 'netem', node, describeNetem(fault));
  return fault;
}

/** clearNetem removes the delay and loss of `node` (or of every node), a delayer that ended
 *  already included; returns what it removed. */
export async function clearNetem(name: string, node?: string, opts: NetworkChaosOptions = {}): Promise<NetemFault[]> {
  const plan = existingPlan(name, opts.stateRoot ?? DEFAULT_STATE_ROOT);
  if (node !== undefined) nodeOf(plan, node);
  const cleared = (readState(plan.stateFile)?.netem ?? []).filter((f) => node === undefined || f.node === node);
  for (const f of cleared) await removeLinkNetem(linkOf(plan, nodeOf(plan, f.node)), f);
  updateState(plan.stateFile, (s) => ({ ...s, netem: (s.netem ?? []).filter((f) => !cleared.some((c) => c.node === f.node)) }));
  for (const f of cleared) logChaos(plan, 'netem-clear', f.node, 'delay and loss removed');
  return cleared;
}
