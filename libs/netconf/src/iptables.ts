/**
 * Service proxy rules for iptables-restore, built to change only what changed.
 *
 * Pipeline: {@link servicePortTargets} (Services + Endpoints -> one target per service port:
 * its addresses and its endpoints), {@link desiredRules} (targets -> structured
 * {@link RuleSet}: each port's share from {@link portRules}, put together by
 * {@link assembleRules}, so a proxy can recompute only what changed), {@link diffRuleSets}
 * (what the kernel has -> what is wanted: only new, changed and removed chains),
 * {@link renderRestore} (diff -> text for `iptables-restore --noflush`, a large diff in
 * several transactions). {@link parseSave} reads our
 * chains back from `iptables-save`, so that an agent that starts over rules it wrote before,
 * or a periodic check, rewrites only the chains that differ.
 *
 * Why so few chains, and batches: with `--noflush`, iptables-nft's restore time grows with
 * the rules times the chains of one input (measured here: 1,000 services x 10 endpoints with
 * a chain per endpoint, 11,000 chains, take 34 s with --noflush against 1.8 s for a
 * whole-table restore). So each service port has one chain holding its endpoints' DNAT rules,
 * and a large diff goes in several transactions of a few hundred chains. A whole-table restore
 * would be as fast but would wipe the host's own nat rules (the CNI plugins' among them).
 *
 * Every rule is written exactly as `iptables-save` prints it (addresses and protocol first,
 * then the matches in order, quoted comments, the MARK target as --set-xmark, probabilities as
 * the kernel stores them), so rules read back compare equal to rules computed.
 *
 * Chains (all ours start with "TUG-"; built-in chains are never flushed):
 * - nat `TUG-SERVICES` (from PREROUTING and OUTPUT): per ClusterIP:port a jump to its
 *   `TUG-SVC-<hash>`; per LoadBalancer ingress IP:port a jump to its `TUG-EXT-<hash>`; last,
 *   traffic to any local address (not loopback) goes to `TUG-NODEPORTS`.
 * - nat `TUG-NODEPORTS`: per nodePort, a jump to the port's `TUG-EXT-<hash>`.
 * - nat `TUG-EXT-<hash>`: traffic that came to a node address is marked for masquerade (the
 *   reply must come back through this node), then goes to the service chain.
 * - nat `TUG-SVC-<hash>` (hash of namespace/name:port/protocol): marks traffic from outside
 *   the pod network, and traffic from the service's own endpoints (hairpin: a pod reaching
 *   itself through its service needs SNAT, or the reply would bypass the NAT); with
 *   sessionAffinity ClientIP, a client seen within the timeout goes to its endpoint again
 *   (`-m recent`); then one DNAT rule per endpoint, picked with
 *   `-m statistic --mode random --probability 1/(N-i)` (the last unconditional), which gives
 *   each of N endpoints 1/N.
 * - nat `TUG-POSTROUTING` (from POSTROUTING) masquerades marked packets.
 * - filter `TUG-SERVICES` (from INPUT, FORWARD, OUTPUT for NEW connections): REJECTs
 *   connections to a ClusterIP, LoadBalancer IP or nodePort whose service has no ready
 *   endpoints (the nat table cannot REJECT), with a TCP reset (an ICMP error makes Linux TCP
 *   clients wait for their second SYN) or an ICMP port unreachable for UDP, so clients fail
 *   at once instead of timing out.
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

/** One service port as the proxy serves it. */
export interface PortTarget {
  /** "namespace/name:portName/protocol": the key of the port's chains. */
  readonly key: string;
  /** "namespace/name:portName" ("namespace/name" for an unnamed port): what comments show. */
  readonly label: string;
  readonly protocol: Protocol;
  readonly clusterIP: string;
  readonly port: number;
  /** Set for types NodePort and LoadBalancer. */
  readonly nodePort: number | undefined;
  /** LoadBalancer: status.loadBalancer.ingress IPs (every node's address, from ServiceLB). */
  readonly ingressIPs: readonly string[];
  /** sessionAffinity ClientIP: its timeout in seconds; undefined without affinity. */
  readonly affinitySeconds: number | undefined;
  /** Ready endpoints as "ip:port", sorted. */
  readonly endpoints: readonly string[];
}

export const SERVICES_CHAIN = 'TUG-SERVICES';
export const NODEPORTS_CHAIN = 'TUG-NODEPORTS';
export const POSTROUTING_CHAIN = 'TUG-POSTROUTING';
/** Packet mark bit meaning "masquerade this in POSTROUTING". */
export const MASQ_MARK = '0x4000';

const MARK_FOR_MASQ = `-j MARK --set-xmark ${MASQ_MARK}/${MASQ_MARK}`;

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

/** `TUG-EXT-<hash>`: the chain of a port's traffic to node addresses (nodePort, LoadBalancer IP). */
export function externalChainName(portKey: string): string {
  return `TUG-EXT-${shortHash(portKey)}`;
}

/** `TUG-AFF-<hash>`: the `-m recent` list of the clients stuck to one endpoint of a port. */
export function affinityListName(portKey: string, endpoint: string): string {
  return `TUG-AFF-${shortHash(`${portKey}|${endpoint}`)}`;
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

/**
 * formatProbability prints a probability as iptables-save does: the kernel keeps it as a
 * 31-bit fraction, printed with 11 decimals (1/3 is 0.33333333349).
 */
export function formatProbability(p: number): string {
  return (Math.round(p * 0x80000000) / 0x80000000).toFixed(11);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
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
 * servicePortTargets turns Services and their Endpoints into one target per service port,
 * sorted by service ("namespace/name"), then port key. Services without a ClusterIP (or
 * headless, "None") have none. Deterministic: the same input gives the same targets regardless
 * of input order.
 */
export function servicePortTargets(services: readonly Service[], endpoints: readonly Endpoints[]): PortTarget[] {
  const epsByKey = new Map<string, Endpoints>();
  for (const e of endpoints) epsByKey.set(`${e.metadata.namespace ?? 'default'}/${e.metadata.name ?? ''}`, e);
  const sorted = [...services].sort((a, b) => compareText(serviceKeyOf(a), serviceKeyOf(b)));
  return sorted.flatMap((svc) => serviceTargets(svc, epsByKey.get(serviceKeyOf(svc))));
}

/** serviceKeyOf is a Service's "namespace/name". */
function serviceKeyOf(svc: Service): string {
  return `${svc.metadata.namespace ?? 'default'}/${svc.metadata.name ?? ''}`;
}

/**
 * serviceTargets are the targets of one Service's ports, sorted by key, given its Endpoints
 * (servicePortTargets, for one Service: a proxy that follows changes recomputes only the
 * Services that changed).
 */
export function serviceTargets(svc: Service, eps: Endpoints | undefined): PortTarget[] {
  const ns = svc.metadata.namespace ?? 'default';
  const name = svc.metadata.name ?? '';
  const clusterIP = svc.spec.clusterIP;
  if (clusterIP === undefined || clusterIP === '' || clusterIP === 'None') return [];
  parseIPv4(clusterIP);
  const type = svc.spec.type ?? 'ClusterIP';
  const ingressIPs = type === 'LoadBalancer' ? (svc.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip === undefined ? [] : [i.ip])).sort() : [];
  for (const ip of ingressIPs) parseIPv4(ip);
  const affinitySeconds = svc.spec.sessionAffinity === 'ClientIP' ? (svc.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800) : undefined;
  const ports = svc.spec.ports ?? [];
  const out = ports.map((port): PortTarget => {
    const protocol = port.protocol ?? 'TCP';
    return {
      key: servicePortKey(ns, name, port.name ?? '', protocol),
      label: port.name === undefined || port.name === '' ? `${ns}/${name}` : `${ns}/${name}:${port.name}`,
      protocol,
      clusterIP,
      port: port.port,
      nodePort: type === 'NodePort' || type === 'LoadBalancer' ? port.nodePort : undefined,
      ingressIPs,
      affinitySeconds,
      endpoints: endpointsFor(port, protocol, eps, ports.length === 1),
    };
  });
  return out.sort((a, b) => compareText(a.key, b.key));
}

/** PortRules is what one service port contributes to the rule set (portRules). */
export interface PortRules {
  /** Its rules in nat TUG-SERVICES. */
  readonly portals: readonly string[];
  /** Its rules in nat TUG-NODEPORTS. */
  readonly nodePorts: readonly string[];
  /** Its rules in filter TUG-SERVICES (when it has no endpoint). */
  readonly rejects: readonly string[];
  /** Its own nat chains (TUG-SVC-, TUG-EXT-). */
  readonly chains: ReadonlyMap<string, readonly string[]>;
}

/** portRules computes one service port's share of the rules (see the module doc). */
export function portRules(t: PortTarget): PortRules {
  const chains = new Map<string, string[]>();
  const portals: string[] = [];
  const nodePorts: string[] = [];
  const rejects: string[] = [];
  const p = t.protocol.toLowerCase();
  const comment = (what: string): string => `-m comment --comment "${t.label}${what === '' ? '' : ` ${what}`}"`;
  const dport = (port: number): string => `-m ${p} --dport ${port}`;
  if (t.endpoints.length === 0) {
    // A TCP client gets a reset: with an ICMP error, Linux clients only give up on their
    // second SYN, a second later (measured here).
    const reject = `-j REJECT --reject-with ${t.protocol === 'TCP' ? 'tcp-reset' : 'icmp-port-unreachable'}`;
    rejects.push(`-d ${t.clusterIP}/32 -p ${p} ${comment('has no endpoints')} ${dport(t.port)} ${reject}`);
    for (const ip of t.ingressIPs) rejects.push(`-d ${ip}/32 -p ${p} ${comment('has no endpoints')} ${dport(t.port)} ${reject}`);
    if (t.nodePort !== undefined) rejects.push(`-p ${p} ${comment('has no endpoints')} -m addrtype --dst-type LOCAL ${dport(t.nodePort)} ${reject}`);
    return { portals, nodePorts, rejects, chains };
  }
  const svcChain = serviceChainName(t.key);
  portals.push(`-d ${t.clusterIP}/32 -p ${p} ${comment('cluster IP')} ${dport(t.port)} -j ${svcChain}`);
  if (t.nodePort !== undefined || t.ingressIPs.length > 0) {
    const extChain = externalChainName(t.key);
    for (const ip of t.ingressIPs) portals.push(`-d ${ip}/32 -p ${p} ${comment('loadbalancer IP')} ${dport(t.port)} -j ${extChain}`);
    if (t.nodePort !== undefined) nodePorts.push(`-p ${p} ${comment('')} ${dport(t.nodePort)} -j ${extChain}`);
    chains.set(extChain, [`${comment('external destinations')} ${MARK_FOR_MASQ}`, `-j ${svcChain}`]);
  }
  const chain: string[] = [`! -s ${POD_NETWORK} -d ${t.clusterIP}/32 -p ${p} ${comment('cluster IP')} ${dport(t.port)} ${MARK_FOR_MASQ}`];
  const ips = new Set(t.endpoints.map((ep) => ep.slice(0, ep.lastIndexOf(':'))));
  for (const ip of ips) chain.push(`-s ${ip}/32 ${comment('hairpin')} ${MARK_FOR_MASQ}`);
  const recent = (ep: string, how: string): string => `-m recent ${how} --name ${affinityListName(t.key, ep)} --mask 255.255.255.255 --rsource`;
  if (t.affinitySeconds !== undefined) {
    for (const ep of t.endpoints) {
      chain.push(`-p ${p} ${comment('')} ${recent(ep, `--rcheck --seconds ${t.affinitySeconds} --reap`)} -j DNAT --to-destination ${ep}`);
    }
  }
  t.endpoints.forEach((ep, i) => {
    const prob = endpointProbability(i, t.endpoints.length);
    const stat = prob === null ? '' : `-m statistic --mode random --probability ${formatProbability(prob)} `;
    const remember = t.affinitySeconds === undefined ? '' : `${recent(ep, '--set')} `;
    chain.push(`-p ${p} ${comment('')} ${stat}${remember}-j DNAT --to-destination ${ep}`);
  });
  chains.set(svcChain, chain);
  return { portals, nodePorts, rejects, chains };
}

/** desiredRules computes every chain tugboat wants for these service ports (see the module doc). */
export function desiredRules(targets: readonly PortTarget[]): RuleSet {
  return assembleRules(targets.map(portRules));
}

/**
 * assembleRules puts the ports' shares together, in the given order: their own chains as
 * they are (the same arrays, so that an unchanged chain compares equal at once), and the
 * top-level chains with their rules in port order.
 */
export function assembleRules(ports: Iterable<PortRules>): RuleSet {
  const nat: ChainMap = new Map();
  const portals: string[] = [];
  const nodePorts: string[] = [];
  const rejects: string[] = [];
  for (const r of ports) {
    portals.push(...r.portals);
    nodePorts.push(...r.nodePorts);
    rejects.push(...r.rejects);
    for (const [name, rules] of r.chains) nat.set(name, rules as string[]);
  }
  portals.push(`! -d 127.0.0.0/8 -m comment --comment "tugboat nodeports" -m addrtype --dst-type LOCAL -j ${NODEPORTS_CHAIN}`);
  nat.set(SERVICES_CHAIN, portals);
  nat.set(NODEPORTS_CHAIN, nodePorts);
  nat.set(POSTROUTING_CHAIN, [
    `-m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`,
    `-j MARK --set-xmark ${MASQ_MARK}/0x0`,
    `-m comment --comment "tugboat service traffic requiring SNAT" -j MASQUERADE --random-fully`,
  ]);
  return { nat, filter: new Map([[SERVICES_CHAIN, rejects]]) };
}

/** An empty rule set: what the kernel holds before the first sync. */
export function emptyRuleSet(): RuleSet {
  return { nat: new Map(), filter: new Map() };
}

/**
 * parseSave reads tugboat's chains (TUG-*) and their rules out of `iptables-save` output
 * (one or more tables); other chains are ignored. Rules come back as iptables-save prints
 * them, which is how desiredRules writes them.
 */
export function parseSave(text: string): RuleSet {
  const out = emptyRuleSet();
  let table: ChainMap | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      const name = line.slice(1).trim();
      table = name === 'nat' ? out.nat : name === 'filter' ? out.filter : undefined;
      continue;
    }
    if (table === undefined) continue;
    const decl = /^:(TUG-\S+) /.exec(line);
    if (decl?.[1] !== undefined) {
      if (!table.has(decl[1])) table.set(decl[1], []);
      continue;
    }
    const rule = /^-A (TUG-\S+) (.*)$/.exec(line);
    if (rule?.[1] !== undefined && rule[2] !== undefined) {
      let rules = table.get(rule[1]);
      if (rules === undefined) table.set(rule[1], (rules = []));
      rules.push(rule[2]);
    }
  }
  return out;
}

function sameRules(a: readonly string[] | undefined, b: readonly string[]): boolean {
  if (a === b) return true;
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

/** RESTORE_BATCH_CHAINS: how many new or changed port chains one transaction (COMMIT) of renderRestore writes at most. */
export const RESTORE_BATCH_CHAINS = 250;

const TOP_LEVEL_CHAINS: ReadonlySet<string> = new Set([SERVICES_CHAIN, NODEPORTS_CHAIN, POSTROUTING_CHAIN]);

/**
 * The input for `iptables-restore --noflush`: per table with changes, declarations (create
 * or flush) of every written and removed chain, the written chains' rules, inserts of the
 * given missing built-in jumps (new top-level chains are declared above them), then `-X` of
 * removed chains, whose referrers were rewritten or flushed earlier in the same transaction.
 * Filter comes before nat so REJECT rules never refer to a missing chain. Empty text when
 * there is nothing to do.
 *
 * A diff that writes more than `maxChains` port chains (a first sync, a mass change) is cut
 * into several transactions (COMMIT blocks of the nat table) before that, because with
 * --noflush iptables-nft's time grows with the rules times the chains of one transaction
 * (measured here, npm run bench:svc: 5,000 services in one take 2.7x a whole-table restore,
 * in blocks of 250 chains about 1.05x). Every state in between is consistent: the first blocks write only new
 * or changed service chains (TUG-SVC before the TUG-EXT chains that jump to them), which
 * nothing new refers to yet and whose old versions were complete; the last transactions write
 * the top-level chains that switch the new ones on, the filter table and the built-in jumps,
 * and remove what is no longer referred to.
 */
export function renderRestore(diff: RuleSetDiff, builtinJumps: readonly BuiltinJump[] = [], maxChains = RESTORE_BATCH_CHAINS): string {
  const out: string[] = [];
  let nat = diff.nat;
  const leaves = [...diff.nat.write.keys()].filter((n) => !TOP_LEVEL_CHAINS.has(n));
  if (leaves.length > maxChains) {
    const ordered = [...leaves.filter((n) => !n.startsWith('TUG-EXT-')), ...leaves.filter((n) => n.startsWith('TUG-EXT-'))];
    for (let i = 0; i < ordered.length; i += maxChains) {
      const write: ChainMap = new Map(ordered.slice(i, i + maxChains).map((n) => [n, diff.nat.write.get(n) ?? []]));
      renderTable('nat', { write, remove: [] }, [], out);
    }
    nat = { write: new Map([...diff.nat.write].filter(([n]) => TOP_LEVEL_CHAINS.has(n))), remove: diff.nat.remove };
  }
  renderTable('filter', diff.filter, builtinJumps, out);
  renderTable('nat', nat, builtinJumps, out);
  return out.length === 0 ? '' : out.join('\n') + '\n';
}

/** A set of UDP conntrack entries to delete (`conntrack -D` arguments after `-p udp`). */
export interface ConntrackDeletion {
  /** What the entries were for, for logs. */
  readonly why: string;
  readonly args: readonly string[];
}

/**
 * staleConntrack says which UDP conntrack entries a change of targets leaves pointing at the
 * wrong place (UDP "connections" live on in conntrack and would keep going to an endpoint that
 * is gone, or stay unanswered): flows to a ClusterIP, LoadBalancer IP or nodePort that were
 * translated to an endpoint that no longer serves the port, and flows to a port that had no
 * endpoint and now has one.
 */
export function staleConntrack(previous: readonly PortTarget[], next: readonly PortTarget[]): ConntrackDeletion[] {
  const before = new Map(previous.filter((t) => t.protocol === 'UDP').map((t) => [t.key, t]));
  const out: ConntrackDeletion[] = [];
  for (const t of next) {
    if (t.protocol !== 'UDP') continue;
    const was = before.get(t.key);
    before.delete(t.key);
    if (was === undefined) continue;
    if (was.endpoints.length === 0 && t.endpoints.length > 0) {
      out.push({ why: `${t.label} has endpoints now`, args: ['--orig-dst', t.clusterIP, '--orig-port-dst', String(t.port)] });
    }
    const still = new Set(t.endpoints);
    for (const ep of was.endpoints) if (!still.has(ep)) out.push(...flowsTo(was, ep));
  }
  for (const was of before.values()) for (const ep of was.endpoints) out.push(...flowsTo(was, ep));
  return out;
}

function flowsTo(t: PortTarget, endpoint: string): ConntrackDeletion[] {
  const ip = endpoint.slice(0, endpoint.lastIndexOf(':'));
  const why = `${t.label} no longer served by ${endpoint}`;
  const out: ConntrackDeletion[] = [{ why, args: ['--orig-dst', t.clusterIP, '--dst-nat', ip] }];
  for (const ingress of t.ingressIPs) out.push({ why, args: ['--orig-dst', ingress, '--dst-nat', ip] });
  if (t.nodePort !== undefined) out.push({ why, args: ['--orig-port-dst', String(t.nodePort), '--dst-nat', ip] });
  return out;
}

/**
 * The input for `iptables-restore --noflush` that removes everything tugboat added, read from
 * `iptables-save` output: per table, the jumps from built-in chains into TUG-* chains (deleted
 * by their rule as saved), then every TUG-* chain flushed (declared) and deleted. What a host
 * runs when tugboat is uninstalled (`tug host reset`). Empty text when there is nothing.
 */
export function renderTeardown(saveText: string): string {
  const out: string[] = [];
  let table = '';
  let jumps: string[] = [];
  let chains: string[] = [];
  const flush = (): void => {
    if (table === '' || (jumps.length === 0 && chains.length === 0)) return;
    out.push(`*${table}`, ...jumps.map((j) => `-D ${j}`), ...chains.map((c) => `:${c} - [0:0]`), ...chains.map((c) => `-X ${c}`), 'COMMIT');
  };
  for (const line of saveText.split('\n')) {
    if (line.startsWith('*')) {
      table = line.slice(1).trim();
      jumps = [];
      chains = [];
      continue;
    }
    if (line === 'COMMIT') {
      flush();
      table = '';
      continue;
    }
    const decl = /^:(TUG-\S+) /.exec(line);
    if (decl?.[1] !== undefined) chains.push(decl[1]);
    const jump = /^-A ((?!TUG-)\S+ .*-j TUG-\S+)\s*$/.exec(line);
    if (jump?.[1] !== undefined) jumps.push(jump[1]);
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}
