// chaos-network.ts: network faults on a running local cluster (the rules are network-faults.ts's):
// partitions between nodes, delay and loss on a node's link, and their undoing. Each is
// recorded in the state file while it is in place and written to the chaos log. The rules live
// in the nodes' network namespaces, so `tug cluster down` takes any that are left with them.
import { spawnSync } from 'node:child_process';
import { existingPlan } from './existing.ts';
import { HostError, run, tryRun } from './host.ts';
import { describeNetem, dropCommand, linkDrops, lossRuleCommand, netemClearCommand, netemQdiscCommand, NO_NETEM } from './network-faults.ts';
import type { LinkDrop, NetemFault } from './network-faults.ts';
import { DEFAULT_STATE_ROOT } from './plan.ts';
import type { NodePlan } from './plan.ts';
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
  if (healed.length > 0) logChaos(plan, 'heal', nodes?.join(',') ?? 'all', `${healed.length} partition drops removed`);
  return healed;
}

/** NetemSpec is what `tug chaos netem` asks for. */
export type NetemSpec = Pick<NetemFault, 'delayMs' | 'jitterMs' | 'lossPercent'>;

function removeNetem(node: NodePlan, f: NetemFault): void {
  if (f.via === 'tc') tryRun(netemClearCommand(node));
  else tryRun(lossRuleCommand(node, f.lossPercent, true));
}

/**
 * netem adds delay (with jitter) and loss to what leaves `node`'s eth0, replacing any it had.
 * With tc's netem qdisc where the kernel has it; where it has not, loss alone is applied with
 * iptables' statistic match, and a delay is refused with the reason.
 */
export function netem(name: string, node: string, spec: NetemSpec, opts: NetworkChaosOptions = {}): NetemFault {
  if (spec.delayMs <= 0 && spec.lossPercent <= 0) throw new Error('netem needs a delay or a loss (--delay 200ms, --loss 10%)');
  if (spec.jitterMs > 0 && spec.delayMs <= 0) throw new Error('--jitter varies a delay: give --delay too');
  if (spec.jitterMs > spec.delayMs) throw new Error(`--jitter (${spec.jitterMs} ms) must not exceed --delay (${spec.delayMs} ms)`);
  const plan = existingPlan(name, opts.stateRoot ?? DEFAULT_STATE_ROOT);
  const n = nodeOf(plan, node);
  const before = (readState(plan.stateFile)?.netem ?? []).find((f) => f.node === node);
  if (before !== undefined) removeNetem(n, before);
  let via: NetemFault['via'] = 'tc';
  const qdisc = netemQdiscCommand(n, spec);
  const tc = spawnSync(qdisc[0]!, qdisc.slice(1), { encoding: 'utf8' });
  if (tc.status !== 0) {
    const why = `${tc.stderr ?? ''}${tc.error?.message ?? ''}`.trim();
    if (!NO_NETEM.test(why)) throw new HostError(`netem on ${node} of local cluster ${name}: ${qdisc.join(' ')}: ${why}`);
    if (spec.delayMs > 0) {
      throw new HostError(`this machine's kernel has no netem qdisc (tc: "${why}"), so no delay can be added on ${node}; --loss alone works, through iptables' statistic match`);
    }
    run(lossRuleCommand(n, spec.lossPercent));
    via = 'iptables';
  }
  const fault: NetemFault = { node, ...spec, via };
  updateState(plan.stateFile, (s) => ({ ...s, netem: [...(s.netem ?? []).filter((f) => f.node !== node), fault] }));
  logChaos(plan, 'netem', node, describeNetem(fault));
  return fault;
}

/** clearNetem removes the delay and loss of `node` (or of every node); returns what it removed. */
export function clearNetem(name: string, node?: string, opts: NetworkChaosOptions = {}): NetemFault[] {
  const plan = existingPlan(name, opts.stateRoot ?? DEFAULT_STATE_ROOT);
  if (node !== undefined) nodeOf(plan, node);
  const cleared = (readState(plan.stateFile)?.netem ?? []).filter((f) => node === undefined || f.node === node);
  for (const f of cleared) removeNetem(nodeOf(plan, f.node), f);
  updateState(plan.stateFile, (s) => ({ ...s, netem: (s.netem ?? []).filter((f) => !cleared.some((c) => c.node === f.node)) }));
  for (const f of cleared) logChaos(plan, 'netem-clear', f.node, 'delay and loss removed');
  return cleared;
}
