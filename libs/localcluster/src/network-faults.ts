// network-faults.ts: the rules behind `tug chaos partition` and `tug chaos netem` (pure: the
// commands, run inside a node's network namespace or at the host end of its link, that add or
// remove a fault).
//
// A partition drops, inside the receiving node, every packet that arrives on its eth0 from the
// sending node's eth0, matched by the sender's MAC address in the raw table's PREROUTING (before
// conntrack, so established connections starve too). Matching the link rather than addresses
// catches everything the sender forwards as well, its pods' traffic included, and leaves the
// host (the user's machine, which the CLI and the scenario runner talk from) outside the fault.
// A two-way partition is a drop on each side.
//
// netem adds delay, jitter and loss to what leaves a node's eth0 with tc's netem qdisc. Where
// the kernel has no netem (CONFIG_NET_SCH_NETEM unset), both are done at the other end of the
// link: on the frames the host's bridge receives from the node's host veth (mangle PREROUTING,
// `-m physdev --physdev-in tv-NAME-I`, which iptables sees through br_netfilter), loss by
// iptables' statistic match and delay by an NFQUEUE rule whose queue tug-netdelay
// (tools/netdelay) reads, giving each packet its verdict when its delay is up. Not in the node's
// own POSTROUTING: a packet a node's process sent stays charged to its socket until it crosses
// the veth, so held there it stalls TCP (its small-queue limit then lets about two segments
// out per delay: 2 MB took over 35 s at 200 ms, against 1.5 s at the bridge), and a DROP there
// is an error (EPERM) for the sender rather than a loss on the wire.
// The loss rule comes first: a packet that is to be lost is not held, and a packet the delayer
// accepts goes on to the next netfilter hook, past the rest of its chain. --queue-bypass lets
// packets through undelayed, not dropped, while no delayer reads the queue.
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
  /** tc: a netem qdisc; iptables: the kernel has no netem: rules at the host end of the link,
   *  loss by the statistic match, delay by tug-netdelay. */
  readonly via: 'tc' | 'iptables';
  /** The tug-netdelay process holding the delayed packets (via iptables with a delay only). */
  readonly delayer?: { readonly pid: number; readonly startTicks: string };
}

/** NETDELAY_BIN is where deploy/setup.sh puts tug-netdelay, compiled from tools/netdelay/netdelay.c. */
export const NETDELAY_BIN = '/opt/tugboat/bin/tug-netdelay';

/** HostEnd is where a netem without tc acts: the bridge port that is the host end of a node's
 *  link, in the namespace of its bridge (undefined: this process's, the host's). */
export interface HostEnd {
  readonly netnsPath?: string | undefined;
  readonly port: string;
}

/**
 * netemQueueNum is the NFQUEUE queue of the delay of node `index` of the cluster on `subnet`
 * ("A.B.C.0/24"): 1000 + 10 × C + index. The host's queues are shared by every cluster on it,
 * whose /24s differ, and a cluster has at most 9 nodes.
 */
export function netemQueueNum(subnet: string, index: number): number {
  const c = Number(subnet.split('.')[2]);
  if (!Number.isInteger(c) || c < 0 || c > 255 || !Number.isInteger(index) || index < 1 || index > 9) throw new Error(`no NFQUEUE queue for node ${index} of subnet ${subnet}`);
  return 1000 + 10 * c + index;
}

function atHostEnd(site: HostEnd, argv: readonly string[]): string[] {
  return site.netnsPath === undefined ? [...argv] : ['nsenter', `--net=${site.netnsPath}`, '--', ...argv];
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

/** NetemSpec is the delay and loss asked for. */
export type NetemSpec = Pick<NetemFault, 'delayMs' | 'jitterMs' | 'lossPercent'>;

/** checkNetemSpec throws, naming the flag, unless the spec asks for something netem can do. */
export function checkNetemSpec(spec: NetemSpec): void {
  if (spec.delayMs <= 0 && spec.lossPercent <= 0) throw new Error('netem needs a delay or a loss (--delay 200ms, --loss 10%)');
  if (spec.jitterMs > 0 && spec.delayMs <= 0) throw new Error('--jitter varies a delay: give --delay too');
  if (spec.jitterMs > spec.delayMs) throw new Error(`--jitter (${spec.jitterMs} ms) must not exceed --delay (${spec.delayMs} ms)`);
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

/** bridgeFilterCommand prints 1 when iptables sees the frames the host end's bridge passes on
 *  (br_netfilter's net.bridge.bridge-nf-call-iptables); it fails without br_netfilter. */
export function bridgeFilterCommand(site: HostEnd): string[] {
  return atHostEnd(site, ['sysctl', '-n', 'net.bridge.bridge-nf-call-iptables']);
}

function fromPort(site: HostEnd, remove: boolean): string[] {
  return ['iptables', '-w', '5', '-t', 'mangle', remove ? '-D' : '-I', 'PREROUTING', '-m', 'physdev', '--physdev-in', site.port];
}

/** lossRuleCommand adds at the top (or deletes) the statistic-match drop of `lossPercent` of the
 *  frames arriving from the host end's port: what leaves the node's eth0. */
export function lossRuleCommand(site: HostEnd, lossPercent: number, remove = false): string[] {
  const probability = (lossPercent / 100).toFixed(4);
  return atHostEnd(site, [
    ...fromPort(site, remove),
    '-m', 'statistic', '--mode', 'random', '--probability', probability,
    '-m', 'comment', '--comment', NETEM_COMMENT, '-j', 'DROP',
  ]);
}

/** queueRuleCommand adds at the top (or deletes) the rule handing what arrives from the host
 *  end's port to NFQUEUE `queueNum`, passing it undelayed while nothing reads the queue (--queue-bypass). */
export function queueRuleCommand(site: HostEnd, queueNum: number, remove = false): string[] {
  return atHostEnd(site, [...fromPort(site, remove), '-m', 'comment', '--comment', NETEM_COMMENT, '-j', 'NFQUEUE', '--queue-num', String(queueNum), '--queue-bypass']);
}

/**
 * netemRuleCommands lists, in the order to run them, the commands that add the rules of a netem
 * done with iptables: the NFQUEUE rule (a delay), then the loss rule, each inserted at the top,
 * so the chain drops first and delays what is left (see the module comment).
 */
export function netemRuleCommands(site: HostEnd, f: Pick<NetemFault, 'delayMs' | 'lossPercent'>, queueNum: number): string[][] {
  return [...(f.delayMs > 0 ? [queueRuleCommand(site, queueNum)] : []), ...(f.lossPercent > 0 ? [lossRuleCommand(site, f.lossPercent)] : [])];
}

/** netemRuleRemovals lists the commands that delete the rules netemRuleCommands added. */
export function netemRuleRemovals(site: HostEnd, f: Pick<NetemFault, 'delayMs' | 'lossPercent'>, queueNum: number): string[][] {
  return [...(f.lossPercent > 0 ? [lossRuleCommand(site, f.lossPercent, true)] : []), ...(f.delayMs > 0 ? [queueRuleCommand(site, queueNum, true)] : [])];
}

/** delayerCommand runs tug-netdelay on queue `queueNum` in the host end's namespace; `label`
 *  (the node's directory) only names it, so that the processes naming that directory include it. */
export function delayerCommand(site: HostEnd, f: Pick<NetemFault, 'delayMs' | 'jitterMs'>, queueNum: number, label: string): string[] {
  return atHostEnd(site, [NETDELAY_BIN, '--queue', String(queueNum), '--delay', String(f.delayMs), '--jitter', String(f.jitterMs), '--label', label]);
}

/** queueReader reads /proc/PID/net/netfilter/nfnetlink_queue text: the netlink port id of the
 *  program bound to queue `queueNum`, or undefined when none is (pure). */
export function queueReader(text: string, queueNum: number): number | undefined {
  for (const line of text.split('\n')) {
    const [queue, portid] = line.trim().split(/\s+/);
    if (queue === String(queueNum) && portid !== undefined) return Number(portid);
  }
  return undefined;
}

/** describeNetem says what a netem fault does: "delay 200ms ±20ms, loss 10% on what leaves eth0 (tc netem)". */
export function describeNetem(f: Pick<NetemFault, 'delayMs' | 'jitterMs' | 'lossPercent' | 'via'>): string {
  const what = [f.delayMs > 0 ? `delay ${f.delayMs}ms${f.jitterMs > 0 ? ` ±${f.jitterMs}ms` : ''}` : '', f.lossPercent > 0 ? `loss ${f.lossPercent}%` : ''].filter((x) => x !== '');
  const how = f.via === 'tc' ? 'tc netem' : `iptables at the host end of the link: ${[f.lossPercent > 0 ? 'statistic-match loss' : '', f.delayMs > 0 ? 'NFQUEUE delay by tug-netdelay' : ''].filter((x) => x !== '').join(', ')}; this kernel has no netem`;
  return `${what.join(', ')} on what leaves eth0 (${how})`;
}

/** NO_NETEM says, from tc's complaint, that the kernel has no netem qdisc. */
export const NO_NETEM = /Specified qdisc kind is unknown|Unknown qdisc "netem"/;
