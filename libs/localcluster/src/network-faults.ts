// network-faults.ts: the rules behind `tug chaos partition` and `tug chaos netem` (pure: the
// commands, run inside a node's network namespace, that add or remove a fault).
//
// A partition drops, inside the receiving node, every packet that arrives on its eth0 from the
// sending node's eth0, matched by the sender's MAC address in the raw table's PREROUTING (before
// conntrack, so established connections starve too). Matching the link rather than addresses
// catches everything the sender forwards as well, its pods' traffic included, and leaves the
// host (the user's machine, which the CLI and the scenario runner talk from) outside the fault.
// A two-way partition is a drop on each side.
//
// netem adds delay, jitter and loss to what leaves a node's eth0 with tc's netem qdisc. Where
// the kernel has no netem (CONFIG_NET_SCH_NETEM unset), loss is still a real drop at the same
// place, by iptables' statistic match in mangle POSTROUTING, and delay cannot be had.
import type { NodePlan } from './plan.ts';

/** The comment on every rule a chaos fault adds, so they can be found and told apart. */
export const PARTITION_COMMENT = 'tug-chaos:partition';
export const NETEM_COMMENT = 'tug-chaos:netem';

/** LinkDrop is one direction of a partition: `node` drops what arrives from `from` (whose eth0 has `mac`). */
export interface LinkDrop {
  readonly node: string;
  readonly from: string;
  readonly mac: string;
}

/** NetemFault is the delay and loss on one node's eth0, and how it was applied. */
export interface NetemFault {
  readonly node: string;
  readonly delayMs: number;
  readonly jitterMs: number;
  readonly lossPercent: number;
  /** tc: a netem qdisc; iptables: the kernel has no netem, loss only, by the statistic match. */
  readonly via: 'tc' | 'iptables';
}

function inNode(node: Pick<NodePlan, 'netnsPath'>, argv: readonly string[]): string[] {
  return ['nsenter', `--net=${node.netnsPath}`, '--', ...argv];
}

function dropSpec(mac: string): string[] {
  return ['PREROUTING', '-i', 'eth0', '-m', 'mac', '--mac-source', mac, '-m', 'comment', '--comment', PARTITION_COMMENT, '-j', 'DROP'];
}

/** dropCommand adds (or, with remove, deletes) the rule of one LinkDrop, run in the receiving node. */
export function dropCommand(receiver: Pick<NodePlan, 'netnsPath'>, mac: string, remove = false): string[] {
  return inNode(receiver, ['iptables', '-w', '5', '-t', 'raw', remove ? '-D' : '-I', ...dropSpec(mac)]);
}

/**
 * linkDrops lists the drops of `partition NODES --from FROM [--one-way]`: each node of `nodes`
 * drops what comes from each of `from`, and, unless oneWay, each of `from` what comes from
 * `nodes`. `macOf` gives a node's eth0 MAC. Throws when a side is empty or the sides overlap.
 */
export function linkDrops(nodes: readonly string[], from: readonly string[], oneWay: boolean, macOf: (node: string) => string): LinkDrop[] {
  if (nodes.length === 0) throw new Error('a partition needs at least one node on its side');
  if (from.length === 0) throw new Error(`nothing to cut ${nodes.join(',')} off from: every node is on its side`);
  const both = nodes.filter((n) => from.includes(n));
  if (both.length > 0) throw new Error(`${both.join(', ')} cannot be on both sides of a partition`);
  const drops: LinkDrop[] = [];
  for (const a of nodes) {
    for (const b of from) {
      drops.push({ node: a, from: b, mac: macOf(b) });
      if (!oneWay) drops.push({ node: b, from: a, mac: macOf(a) });
    }
  }
  return drops;
}

/** parseMs reads "200ms", "1.5s" or a bare number of ms; throws naming the flag. */
export function parseMs(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text.trim());
  if (m === null) throw new Error(`${what} must be a duration such as 200ms or 1s, got ${JSON.stringify(text)}`);
  return Math.round(Number(m[1]) * (m[2] === 's' ? 1_000 : 1));
}

/** parsePercent reads "10%" or "10"; throws naming the flag unless 0 <= p <= 100. */
export function parsePercent(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(text.trim());
  const p = m === null ? NaN : Number(m[1]);
  if (!(p >= 0 && p <= 100)) throw new Error(`${what} must be a percentage from 0 to 100 such as 10%, got ${JSON.stringify(text)}`);
  return p;
}

/** netemQdiscCommand sets the netem qdisc of a node's eth0 (replace: a second netem changes the first). */
export function netemQdiscCommand(node: Pick<NodePlan, 'netnsPath'>, f: Pick<NetemFault, 'delayMs' | 'jitterMs' | 'lossPercent'>): string[] {
  const args = ['tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'netem'];
  if (f.delayMs > 0) args.push('delay', `${f.delayMs}ms`, ...(f.jitterMs > 0 ? [`${f.jitterMs}ms`] : []));
  if (f.lossPercent > 0) args.push('loss', `${f.lossPercent}%`);
  return inNode(node, args);
}

/** netemClearCommand removes the root qdisc of a node's eth0 (back to the default). */
export function netemClearCommand(node: Pick<NodePlan, 'netnsPath'>): string[] {
  return inNode(node, ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
}

/** lossRuleCommand adds (or deletes) the statistic-match drop of `lossPercent` of what leaves eth0. */
export function lossRuleCommand(node: Pick<NodePlan, 'netnsPath'>, lossPercent: number, remove = false): string[] {
  const probability = (lossPercent / 100).toFixed(4);
  return inNode(node, [
    'iptables', '-w', '5', '-t', 'mangle', remove ? '-D' : '-I', 'POSTROUTING', '-o', 'eth0',
    '-m', 'statistic', '--mode', 'random', '--probability', probability,
    '-m', 'comment', '--comment', NETEM_COMMENT, '-j', 'DROP',
  ]);
}

/** describeNetem says what a netem fault does: "delay 200ms ±20ms, loss 10% on what leaves eth0 (tc netem)". */
export function describeNetem(f: Pick<NetemFault, 'delayMs' | 'jitterMs' | 'lossPercent' | 'via'>): string {
  const what = [f.delayMs > 0 ? `delay ${f.delayMs}ms${f.jitterMs > 0 ? ` ±${f.jitterMs}ms` : ''}` : '', f.lossPercent > 0 ? `loss ${f.lossPercent}%` : ''].filter((x) => x !== '');
  return `${what.join(', ')} on what leaves eth0 (${f.via === 'tc' ? 'tc netem' : "iptables' statistic match: this kernel has no netem"})`;
}

/** NO_NETEM says, from tc's complaint, that the kernel has no netem qdisc. */
export const NO_NETEM = /Specified qdisc kind is unknown|Unknown qdisc "netem"/;
