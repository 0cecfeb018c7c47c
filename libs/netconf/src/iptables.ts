/**
 * Service proxy rules for iptables-restore, built to change only what changed.
 *
 * Pipeline: {@link desiredRules} (services + endpoints -> structured {@link RuleSet}),
 * {@link diffRuleSets} (previous vs next -> only new, changed and removed chains),
 * {@link renderRestore} (diff -> text for `iptables-restore --noflush`). Measured here
 * (DESIGN facts): rewriting every chain of 1,000 services takes 4.2 s, one service 63 ms.
 *
 * Chains (all ours start with "TUG-"; built-in chains are never flushed):
 * - nat `TUG-SERVICES` (from PREROUTING and OUTPUT): one rule per ClusterIP:port jumping to
 *   its `TUG-SVC-<hash>`; last rule sends traffic for this node's IP to `TUG-NODEPORTS`.
 * - nat `TUG-NODEPORTS`: per NodePort, mark for masquerade and jump to the service chain.
 * - nat `TUG-SVC-<hash>` (hash of namespace/name:port/protocol): marks traffic from outside
 *   the pod network for masquerade, then picks an endpoint with
 *   `-m statistic --mode random --probability 1/(N-i)` (the last one unconditional), which
 *   gives each of N endpoints exactly 1/N.
 * - nat `TUG-SEP-<hash>` (hash of the service key and ip:port): hairpin mark when the source
 *   is the endpoint itself (a pod reaching itself through its service: without SNAT the
 *   reply would bypass the NAT), then DNAT.
 * - nat `TUG-MARK-MASQ` sets {@link MASQ_MARK}; nat `TUG-POSTROUTING` (from POSTROUTING)
 *   masquerades marked packets.
 * - filter `TUG-SERVICES` (from INPUT, FORWARD, OUTPUT for NEW connections): REJECTs
 *   connections to a ClusterIP:port or NodePort whose service has no ready endpoints
 *   (the nat table cannot REJECT), so clients fail fast instead of timing out.
 *
 * The jumps from built-in chains are not part of the diff (appending them on each run would
 * duplicate them): {@link missingBuiltinJumps} finds which are absent in `iptables-save`
 * output and {@link renderRestore} inserts just those.
 */
import { createHash } from 'node:crypto';
import type { Endpoints, Protocol, Service, ServicePort } from '@tugboat/api';
import { POD_NETWORK, parseIPv4 } from './cidr.ts';

export type Table = 'nat' | 'filter';

/** Chains of one table: chain name -> rule specs (the text after `-A CHAIN `), in order. */
export type ChainMap = Map<string, string[]>;

/** A structured rule set: our chains per table. */
export interface RuleSet {
  nat: ChainMap;
  filter: ChainMap;
}

/** Per table: chains to (re)write with their full rule lists, and chains to delete. */
export interface TableDiff {
  write: ChainMap;
  remove: string[];
}

export interface RuleSetDiff {
  nat: TableDiff;
  filter: TableDiff;
}

/** A jump from a built-in chain into one of ours. */
export interface BuiltinJump {
  table: Table;
  chain: string;
  rule: string;
}

export const SERVICES_CHAIN = 'TUG-SERVICES';
export const NODEPORTS_CHAIN = 'TUG-NODEPORTS';
export const POSTROUTING_CHAIN = 'TUG-POSTROUTING';
export const MARK_MASQ_CHAIN = 'TUG-MARK-MASQ';
/** Packet mark bit meaning "masquerade this in POSTROUTING". */
export const MASQ_MARK = '0x4000';

/** Jumps from built-in chains into our top-level chains, in the order they are ensured. */
export const BUILTIN_JUMPS: readonly BuiltinJump[] = [
  { table: 'nat', chain: 'PREROUTING', rule: `-m comment --comment "tugboat service portals" -j ${SERVICES_CHAIN}` },
  { table: 'nat', chain: 'OUTPUT', rule: `-m comment --comment "tugboat service portals" -j ${SERVICES_CHAIN}` },
  { table: 'nat', chain: 'POSTROUTING', rule: `-m comment --comment "tugboat postrouting" -j ${POSTROUTING_CHAIN}` },
  {
    table: 'filter',
    chain: 'INPUT',
    rule: `-m conntrack --ctstate NEW -m comment --comment "tugboat service rejects" -j ${SERVICES_CHAIN}`,
  },
  {
    table: 'filter',
    chain: 'FORWARD',
    rule: `-m conntrack --ctstate NEW -m comment --comment "tugboat service rejects" -j ${SERVICES_CHAIN}`,
  },
  {
    table: 'filter',
    chain: 'OUTPUT',
    rule: `-m conntrack --ctstate NEW -m comment --comment "tugboat service rejects" -j ${SERVICES_CHAIN}`,
  },
];

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A stable 16-character base32 hash of `key` (first 80 bits of SHA-256). */
export function shortHash(key: string): string {
  const bytes = createHash('sha256').update(key).digest();
  let out = '';
  let bits = 0;
  let acc = 0;
  for (let i = 0; out.length < 16; i++) {
    acc = (acc << 8) | (bytes[i] ?? 0);
    bits += 8;
    while (bits >= 5 && out.length < 16) {
      out += BASE32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/** The key of one service port: "namespace/name:portName/protocol" (portName may be empty). */
export function servicePortKey(namespace: string, name: string, portName: string, protocol: Protocol): string {
  return `${namespace}/${name}:${portName}/${protocol}`;
}

/** `TUG-SVC-<hash>` for a service port key (24 characters; iptables allows 28). */
export function serviceChainName(portKey: string): string {
  return `TUG-SVC-${shortHash(portKey)}`;
}

/** `TUG-SEP-<hash>` for one endpoint "ip:port" of a service port key. */
export function endpointChainName(portKey: string, endpoint: string): string {
  return `TUG-SEP-${shortHash(`${portKey}|${endpoint}`)}`;
}

/**
 * The probability for the i-th of n endpoint rules (0-based) so every endpoint gets 1/n:
 * rule i sees the share left by the rules before it and takes 1/(n-i) of it. Returns null for
 * the last rule, which is unconditional (it takes whatever is left, exactly 1).
 */
export function endpointProbability(i: number, n: number): number | null {
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(i) || i < 0 || i >= n) {
    throw new Error(`endpoint index ${i} out of range for ${n} endpoints`);
  }
  return i === n - 1 ? null : 1 / (n - i);
}

/** Format a probability with 10 decimals (iptables keeps about 31 bits of it). */
export function formatProbability(p: number): string {
  return p.toFixed(10);
}

function protoArgs(protocol: Protocol): string {
  const p = protocol.toLowerCase();
  return `-p ${p} -m ${p}`;
}

function endpointsFor(svcPort: ServicePort, protocol: Protocol, eps: Endpoints | undefined, single: boolean): string[] {
  const out = new Set<string>();
  for (const subset of eps?.subsets ?? []) {
    const ports = subset.ports ?? [];
    const match = ports.find(
      (p) => (p.protocol ?? 'TCP') === protocol && (p.name ?? '') === (svcPort.name ?? ''),
    ) ?? (single && ports.length === 1 && (ports[0]?.protocol ?? 'TCP') === protocol ? ports[0] : undefined);
    if (!match) continue;
    for (const a of subset.addresses ?? []) out.add(`${a.ip}:${match.port}`);
  }
  return [...out].sort();
}

/**
 * Compute every chain tugboat wants for these services on the node whose IP is `nodeIP`.
 * Services without a ClusterIP (or headless, "None") get no rules; ports whose Endpoints
 * have no ready address get a REJECT in filter `TUG-SERVICES` instead of a service chain.
 * Deterministic: the same input gives the same rule set regardless of input order.
 */
export function desiredRules(services: readonly Service[], endpoints: readonly Endpoints[], nodeIP: string): RuleSet {
  parseIPv4(nodeIP);
  const epsByKey = new Map<string, Endpoints>();
  for (const e of endpoints) epsByKey.set(`${e.metadata.namespace ?? 'default'}/${e.metadata.name ?? ''}`, e);

  const nat: ChainMap = new Map();
  const filter: ChainMap = new Map();
  const svcRules: string[] = [];
  const nodePortRules: string[] = [];
  const rejectRules: string[] = [];

  const sorted = [...services].sort((a, b) =>
    svcId(a) < svcId(b) ? -1 : svcId(a) > svcId(b) ? 1 : 0,
  );
  for (const svc of sorted) {
    const ns = svc.metadata.namespace ?? 'default';
    const name = svc.metadata.name ?? '';
    const clusterIP = svc.spec.clusterIP;
    if (!clusterIP || clusterIP === 'None') continue;
    parseIPv4(clusterIP);
    const ports = svc.spec.ports ?? [];
    const eps = epsByKey.get(`${ns}/${name}`);
    for (const port of ports) {
      const protocol = port.protocol ?? 'TCP';
      const key = servicePortKey(ns, name, port.name ?? '', protocol);
      const comment = `-m comment --comment "${ns}/${name}:${port.name ?? ''}"`;
      const match = `${protoArgs(protocol)} --dport ${port.port}`;
      const nodePort = svc.spec.type === 'NodePort' ? port.nodePort : undefined;
      const targets = endpointsFor(port, protocol, eps, ports.length === 1);

      if (targets.length === 0) {
        rejectRules.push(`-d ${clusterIP}/32 ${match} ${comment} -j REJECT --reject-with icmp-port-unreachable`);
        if (nodePort !== undefined) {
          rejectRules.push(
            `-d ${nodeIP}/32 ${protoArgs(protocol)} --dport ${nodePort} ${comment} -j REJECT --reject-with icmp-port-unreachable`,
          );
        }
        continue;
      }

      const svcChain = serviceChainName(key);
      svcRules.push(`-d ${clusterIP}/32 ${match} ${comment} -j ${svcChain}`);
      if (nodePort !== undefined) {
        nodePortRules.push(`${protoArgs(protocol)} --dport ${nodePort} ${comment} -j ${MARK_MASQ_CHAIN}`);
        nodePortRules.push(`${protoArgs(protocol)} --dport ${nodePort} ${comment} -j ${svcChain}`);
      }
      const chain: string[] = [`! -s ${POD_NETWORK} -d ${clusterIP}/32 ${match} ${comment} -j ${MARK_MASQ_CHAIN}`];
      targets.forEach((ep, i) => {
        const sep = endpointChainName(key, ep);
        const p = endpointProbability(i, targets.length);
        const stat = p === null ? '' : `-m statistic --mode random --probability ${formatProbability(p)} `;
        chain.push(`${comment} ${stat}-j ${sep}`);
        const ip = ep.slice(0, ep.lastIndexOf(':'));
        nat.set(sep, [
          `-s ${ip}/32 ${comment} -j ${MARK_MASQ_CHAIN}`,
          `${protoArgs(protocol)} ${comment} -j DNAT --to-destination ${ep}`,
        ]);
      });
      nat.set(svcChain, chain);
    }
  }
  svcRules.push(`-d ${nodeIP}/32 -m comment --comment "tugboat nodeports" -j ${NODEPORTS_CHAIN}`);
  nat.set(SERVICES_CHAIN, svcRules);
  nat.set(NODEPORTS_CHAIN, nodePortRules);
  nat.set(MARK_MASQ_CHAIN, [`-j MARK --or-mark ${MASQ_MARK}`]);
  nat.set(POSTROUTING_CHAIN, [
    `-m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`,
    `-j MARK --xor-mark ${MASQ_MARK}`,
    `-m comment --comment "tugboat service traffic requiring SNAT" -j MASQUERADE`,
  ]);
  filter.set(SERVICES_CHAIN, rejectRules);
  return { nat, filter };
}

function svcId(s: Service): string {
  return `${s.metadata.namespace ?? 'default'}/${s.metadata.name ?? ''}`;
}

/** An empty rule set: what the kernel holds before the first sync. */
export function emptyRuleSet(): RuleSet {
  return { nat: new Map(), filter: new Map() };
}

function sameRules(a: readonly string[] | undefined, b: readonly string[]): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function diffTable(prev: ChainMap, next: ChainMap): TableDiff {
  const write: ChainMap = new Map();
  for (const [name, rules] of next) if (!sameRules(prev.get(name), rules)) write.set(name, rules);
  const remove = [...prev.keys()].filter((n) => !next.has(n)).sort();
  return { write, remove };
}

/**
 * Only what changed between two rule sets: chains that are new or whose rules differ (with
 * their complete new rules; the top-level chains are among them whenever their jump lists
 * changed) and chains that no longer exist.
 */
export function diffRuleSets(previous: RuleSet, next: RuleSet): RuleSetDiff {
  return { nat: diffTable(previous.nat, next.nat), filter: diffTable(previous.filter, next.filter) };
}

/** Whether a diff changes nothing (and restore can be skipped). */
export function isEmptyDiff(d: RuleSetDiff): boolean {
  return d.nat.write.size === 0 && d.nat.remove.length === 0 && d.filter.write.size === 0 && d.filter.remove.length === 0;
}

/**
 * Which of {@link BUILTIN_JUMPS} are absent from `iptables-save` output (of one or more
 * tables). A jump counts as present when its built-in chain has a rule jumping to its target.
 */
export function missingBuiltinJumps(saveText: string): BuiltinJump[] {
  const present = new Set<string>();
  let table = '';
  for (const line of saveText.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    const m = /^-A (\S+) .*-j (TUG-\S+)\s*$/.exec(line);
    if (m) present.add(`${table} ${m[1]} ${m[2]}`);
  }
  return BUILTIN_JUMPS.filter((j) => !present.has(`${j.table} ${j.chain} ${j.rule.split(' -j ')[1] ?? ''}`));
}

function renderTable(table: Table, d: TableDiff, jumps: readonly BuiltinJump[], out: string[]): void {
  const myJumps = jumps.filter((j) => j.table === table);
  if (d.write.size === 0 && d.remove.length === 0 && myJumps.length === 0) return;
  out.push(`*${table}`);
  // Declaring a chain creates it, or flushes it when it exists; removed chains are declared too
  // so their rules (references to other chains) are gone before any -X.
  for (const name of d.write.keys()) out.push(`:${name} - [0:0]`);
  for (const name of d.remove) out.push(`:${name} - [0:0]`);
  for (const [name, rules] of d.write) for (const r of rules) out.push(`-A ${name} ${r}`);
  for (const j of myJumps) out.push(`-I ${j.chain} 1 ${j.rule}`);
  for (const name of d.remove) out.push(`-X ${name}`);
  out.push('COMMIT');
}

/**
 * The input for `iptables-restore --noflush`: per table with changes, declarations (create
 * or flush) of every written and removed chain, the written chains' rules, inserts of the
 * given missing built-in jumps (new top-level chains are declared above them), then `-X` of
 * removed chains, whose referrers were rewritten or flushed earlier in the same transaction.
 * Filter comes before nat so REJECT rules never refer to a missing chain. Empty text when
 * there is nothing to do.
 */
export function renderRestore(diff: RuleSetDiff, builtinJumps: readonly BuiltinJump[] = []): string {
  const out: string[] = [];
  renderTable('filter', diff.filter, builtinJumps, out);
  renderTable('nat', diff.nat, builtinJumps, out);
  return out.length === 0 ? '' : out.join('\n') + '\n';
}
