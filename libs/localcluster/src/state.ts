// state.ts: BASE/state.json, what `up` made: every process (PID and start time, so `down`
// never signals a PID that was reused) and every iptables rule in the root netns. `up` writes
// it before it waits on anything and again after each step, so `down` after a crash of `up`
// (or of the machine's processes) knows what to stop.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Role } from './commands.ts';
import type { LinkDrop, NetemFault } from './network-faults.ts';

export interface ProcessRecord {
  readonly node: string;
  readonly role: Role;
  readonly pid: number;
  /** Field 22 of /proc/PID/stat: start time in clock ticks after boot. */
  readonly startTicks: string;
  readonly logFile: string;
}

/** IptablesRule is a rule as given to `iptables -t TABLE -I CHAIN SPEC...`. */
export interface IptablesRule {
  readonly table: string;
  readonly chain: string;
  readonly spec: readonly string[];
}

export interface ClusterState {
  readonly version: 1;
  readonly name: string;
  readonly subnet: string;
  readonly nodes: number;
  readonly control: number;
  readonly createdAt: string;
  readonly processes: readonly ProcessRecord[];
  readonly iptablesRules: readonly IptablesRule[];
  /** Nodes stopped by `tug chaos kill-node` and not started again since (absent: none). */
  readonly downNodes?: readonly string[];
  /** Nodes whose tugboat processes `tug chaos pause-node` stopped (SIGSTOP), not resumed since. */
  readonly pausedNodes?: readonly string[];
  /** The drops of `tug chaos partition` in place now. */
  readonly partitions?: readonly LinkDrop[];
  /** The delay and loss of `tug chaos netem` in place now. */
  readonly netem?: readonly NetemFault[];
}

const roles: readonly string[] = ['containerd', 'control', 'agent'];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** parseState reads state.json text; throws naming the field of any problem. */
export function parseState(text: string, path: string): ClusterState {
  const bad = (field: string, problem: string): never => {
    throw new Error(`${path}: ${field}: ${problem}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return bad('(file)', `not JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) return bad('(file)', 'not an object');
  if (doc['version'] !== 1) bad('version', `must be 1, got ${JSON.stringify(doc['version'])}`);
  const str = (o: Record<string, unknown>, k: string, at: string): string => {
    const v = o[k];
    return typeof v === 'string' ? v : bad(`${at}${k}`, 'must be a string');
  };
  const int = (o: Record<string, unknown>, k: string, at: string): number => {
    const v = o[k];
    return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : bad(`${at}${k}`, 'must be a positive whole number');
  };
  const list = (k: string): unknown[] => {
    const v = doc[k];
    return Array.isArray(v) ? v : bad(k, 'must be a list');
  };
  const processes = list('processes').map((p, i): ProcessRecord => {
    const at = `processes[${i}].`;
    if (!isObject(p)) return bad(`processes[${i}]`, 'must be an object');
    const role = str(p, 'role', at);
    if (!roles.includes(role)) bad(`${at}role`, `must be one of ${roles.join(', ')}`);
    const startTicks = str(p, 'startTicks', at);
    if (!/^\d+$/.test(startTicks)) bad(`${at}startTicks`, 'must be digits');
    return { node: str(p, 'node', at), role: role as Role, pid: int(p, 'pid', at), startTicks, logFile: str(p, 'logFile', at) };
  });
  const iptablesRules = list('iptablesRules').map((r, i): IptablesRule => {
    const at = `iptablesRules[${i}].`;
    if (!isObject(r)) return bad(`iptablesRules[${i}]`, 'must be an object');
    const spec = r['spec'];
    if (!Array.isArray(spec) || !spec.every((s) => typeof s === 'string')) return bad(`${at}spec`, 'must be a list of strings');
    return { table: str(r, 'table', at), chain: str(r, 'chain', at), spec: spec as string[] };
  });
  const down = doc['downNodes'];
  if (down !== undefined && !(Array.isArray(down) && down.every((n) => typeof n === 'string'))) bad('downNodes', 'must be a list of node names');
  const paused = doc['pausedNodes'];
  if (paused !== undefined && !(Array.isArray(paused) && paused.every((n) => typeof n === 'string'))) bad('pausedNodes', 'must be a list of node names');
  const partitions = doc['partitions'];
  const isDrop = (d: unknown): boolean => isObject(d) && typeof d['node'] === 'string' && typeof d['from'] === 'string' && typeof d['mac'] === 'string';
  if (partitions !== undefined && !(Array.isArray(partitions) && partitions.every(isDrop))) bad('partitions', 'must be a list of {node, from, mac}');
  const netem = doc['netem'];
  const isDelayer = (d: unknown): boolean => isObject(d) && typeof d['pid'] === 'number' && Number.isSafeInteger(d['pid']) && typeof d['startTicks'] === 'string' && /^\d+$/.test(d['startTicks']);
  const isNetem = (f: unknown): boolean =>
    isObject(f) &&
    typeof f['node'] === 'string' &&
    ['delayMs', 'jitterMs', 'lossPercent'].every((k) => typeof f[k] === 'number') &&
    (f['via'] === 'tc' || f['via'] === 'iptables') &&
    (f['delayer'] === undefined || isDelayer(f['delayer']));
  if (netem !== undefined && !(Array.isArray(netem) && netem.every(isNetem))) bad('netem', 'must be a list of {node, delayMs, jitterMs, lossPercent, via, delayer?: {pid, startTicks}}');
  return {
    version: 1,
    name: str(doc, 'name', ''),
    subnet: str(doc, 'subnet', ''),
    nodes: int(doc, 'nodes', ''),
    control: int(doc, 'control', ''),
    createdAt: str(doc, 'createdAt', ''),
    processes,
    iptablesRules,
    ...(down === undefined ? {} : { downNodes: down as string[] }),
    ...(paused === undefined ? {} : { pausedNodes: paused as string[] }),
    ...(partitions === undefined ? {} : { partitions: partitions as LinkDrop[] }),
    ...(netem === undefined ? {} : { netem: netem as NetemFault[] }),
  };
}

export function renderState(state: ClusterState): string {
  return `${JSON.stringify(state, null, 2)}\n`;
}

/** readState returns the state file, or undefined when it does not exist. */
export function readState(path: string): ClusterState | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return parseState(text, path);
}

/** writeState replaces the state file atomically. */
export function writeState(path: string, state: ClusterState): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, renderState(state));
  renameSync(tmp, path);
}
