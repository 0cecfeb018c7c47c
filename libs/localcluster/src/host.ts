// host.ts: what a local cluster touches on the host, by name: network namespaces, links,
// iptables rules, mounts and cgroup dirs; and the programs it needs.
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CNI_BIN_DIR } from '@tugboat/nodeconfig';
import { rulesWithComment } from './iptables.ts';
import type { IptablesRule } from './state.ts';

/** HostError: the host cannot run a local cluster, or a host command failed. */
export class HostError extends Error {
  override readonly name = 'HostError';
}

/** run runs a command and returns its stdout; throws a HostError with its stderr on failure. */
export function run(argv: readonly string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.error !== undefined) throw new HostError(`${argv.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new HostError(`${argv.join(' ')} failed (exit ${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** tryRun runs a command and says whether it succeeded (for removals that may find nothing). */
export function tryRun(argv: readonly string[]): boolean {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  return r.error === undefined && r.status === 0;
}

function which(program: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = join(dir, program);
    if (dir !== '' && existsSync(p)) return p;
  }
  return undefined;
}

/** requiredPrograms lists what `up` needs on PATH (besides node). */
export const REQUIRED_PROGRAMS = ['containerd', 'containerd-shim-runc-v2', 'runc', 'ctr', 'ip', 'iptables', 'iptables-save', 'nsenter', 'umount'];
/** requiredCniPlugins lists the CNI plugins the node config uses (loopback: containerd sets up lo with it). */
export const REQUIRED_CNI_PLUGINS = ['bridge', 'host-local', 'portmap', 'loopback'];

/** checkHost throws a HostError naming everything missing: root, programs, CNI plugins. Returns containerd's path. */
export function checkHost(): { containerd: string } {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('a local cluster needs root (it makes network namespaces, a bridge and mounts): run as root or with sudo');
  const missing = REQUIRED_PROGRAMS.filter((p) => which(p) === undefined);
  if (missing.length > 0) problems.push(`missing programs: ${missing.join(', ')}`);
  const plugins = REQUIRED_CNI_PLUGINS.filter((p) => !existsSync(join(CNI_BIN_DIR, p)));
  if (plugins.length > 0) problems.push(`missing CNI plugins in ${CNI_BIN_DIR}: ${plugins.join(', ')}`);
  if (problems.length > 0) {
    const setup = missing.length > 0 || plugins.length > 0 ? '\nRun deploy/setup.sh as root: it installs containerd, runc, the CNI plugins and busybox-static.' : '';
    throw new HostError(`cannot run a local cluster on this host:\n  ${problems.join('\n  ')}${setup}`);
  }
  return { containerd: which('containerd')! };
}

/** netnsNames lists the named network namespaces (/run/netns) starting with prefix. */
export function netnsNames(prefix: string): string[] {
  try {
    return readdirSync('/run/netns').filter((n) => n.startsWith(prefix)).sort();
  } catch {
    return [];
  }
}

/** linkNames lists the root netns's interfaces that are `exact` or start with `prefix`. */
export function linkNames(exact: string, prefix: string): string[] {
  return readdirSync('/sys/class/net').filter((n) => n === exact || n.startsWith(prefix)).sort();
}

/** hostAddresses lists the root netns's IPv4 addresses with their prefix length. */
export function hostAddresses(): { ifname: string; address: string; prefixlen: number }[] {
  const links = JSON.parse(run(['ip', '-j', '-4', 'addr', 'show'])) as { ifname: string; addr_info?: { local: string; prefixlen: number }[] }[];
  return links.flatMap((l) => (l.addr_info ?? []).map((a) => ({ ifname: l.ifname, address: a.local, prefixlen: a.prefixlen })));
}

/** iptablesRulesWithComment scans every table of the root netns for rules carrying comment. */
export function iptablesRulesWithComment(comment: string): IptablesRule[] {
  return rulesWithComment(run(['iptables-save']), comment);
}

export function iptablesArgs(op: '-I' | '-D', r: IptablesRule): string[] {
  return ['iptables', '-w', '5', '-t', r.table, op, r.chain, ...r.spec];
}

/** bridgedTrafficFiltered: br_netfilter passes bridged IPv4 packets through iptables. */
export function bridgedTrafficFiltered(): boolean {
  try {
    return readFileSync('/proc/sys/net/bridge/bridge-nf-call-iptables', 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/** parseMountPoints reads the mount points of /proc/mounts text (octal escapes decoded). */
export function parseMountPoints(mounts: string): string[] {
  const decode = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return mounts
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => decode(l.split(' ')[1] ?? ''));
}

/** mountsUnder lists the mount points at or under dir, deepest first. */
export function mountsUnder(dir: string): string[] {
  return parseMountPoints(readFileSync('/proc/self/mounts', 'utf8'))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

const CGROUP_ROOT = '/sys/fs/cgroup';

/** cgroupDirs lists `dir` in every cgroup hierarchy that has it (v1: per controller; v2: the root). */
export function cgroupDirs(dir: string): string[] {
  const out: string[] = [];
  if (existsSync(join(CGROUP_ROOT, dir, 'cgroup.procs'))) out.push(join(CGROUP_ROOT, dir));
  let hierarchies: string[] = [];
  try {
    hierarchies = readdirSync(CGROUP_ROOT);
  } catch {
    return out;
  }
  for (const h of hierarchies) {
    const path = join(CGROUP_ROOT, h);
    try {
      // cpu and cpuacct are symlinks to cpu,cpuacct: visit each hierarchy once.
      if (lstatSync(path).isSymbolicLink() || !lstatSync(path).isDirectory()) continue;
    } catch {
      continue;
    }
    if (existsSync(join(path, dir))) out.push(join(path, dir));
  }
  return out;
}

/** cgroupTree lists a cgroup dir and every cgroup below it, deepest first. */
export function cgroupTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) walk(join(d, e.name));
    out.push(d);
  };
  walk(dir);
  return out;
}

/** cgroupPids lists the PIDs in the cgroups under the given dirs. */
export function cgroupPids(dirs: readonly string[]): number[] {
  const pids = new Set<number>();
  for (const d of dirs) {
    for (const c of cgroupTree(d)) {
      try {
        for (const l of readFileSync(join(c, 'cgroup.procs'), 'utf8').split('\n')) if (/^\d+$/.test(l)) pids.add(Number(l));
      } catch {
        // removed meanwhile
      }
    }
  }
  return [...pids].sort((a, b) => a - b);
}

/** removeCgroups removes the cgroup trees (deepest first); returns the ones it could not. */
export function removeCgroups(dirs: readonly string[]): string[] {
  const failed: string[] = [];
  for (const d of dirs) {
    for (const c of cgroupTree(d)) {
      try {
        rmdirSync(c);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') failed.push(c);
      }
    }
  }
  return failed;
}

/** FreezerFile names where a cgroup says whether it is frozen: v1's `freezer.state` (THAWED,
 *  FREEZING or FROZEN, in the freezer hierarchy) or v2's `cgroup.freeze` (0 or 1). */
export type FreezerFile = 'freezer.state' | 'cgroup.freeze';

/** thawValue says what to write to a cgroup's freezer file, which reads `content`, to thaw
 *  it: THAWED for a v1 FROZEN or FREEZING, 0 for a v2 1; undefined when it is not frozen (pure). */
export function thawValue(file: FreezerFile, content: string): string | undefined {
  const state = content.trim();
  if (file === 'freezer.state') return state === 'FROZEN' || state === 'FREEZING' ? 'THAWED' : undefined;
  return state === '1' ? '0' : undefined;
}

/** ThawedCgroup is one cgroup that thawCgroups wrote to, with the state it had. */
export interface ThawedCgroup {
  readonly cgroup: string;
  readonly was: string;
}

/**
 * thawCgroups thaws every frozen or freezing cgroup at or under the given dirs (cgroupDirs of
 * a cluster), so that their processes can take a SIGKILL: a frozen process does not end until
 * it is thawed (runc freezes a container's cgroup while it signals its processes; a runc or
 * shim killed at that moment leaves it FROZEN). Parents go before children, and each state is
 * read just before it is written: a v1 child reads FROZEN while its parent is, and one that
 * thawed with its parent is left alone. A cgroup that vanishes or refuses the write is
 * skipped (the stuck processes' report then names it). Returns the cgroups written to.
 */
export function thawCgroups(dirs: readonly string[]): ThawedCgroup[] {
  const thawed: ThawedCgroup[] = [];
  for (const d of dirs) {
    for (const cgroup of cgroupTree(d).reverse()) {
      for (const file of ['freezer.state', 'cgroup.freeze'] as const) {
        const path = join(cgroup, file);
        let content: string;
        try {
          content = readFileSync(path, 'utf8');
        } catch {
          continue; // not this hierarchy's file, or removed meanwhile
        }
        const value = thawValue(file, content);
        if (value === undefined) continue;
        try {
          writeFileSync(path, value);
          thawed.push({ cgroup, was: content.trim() });
        } catch {
          // removed meanwhile, or not writable
        }
      }
    }
  }
  return thawed;
}

/** procCgroupPath reads a /proc/PID/cgroup text: the process's cgroup path in the v1
 *  hierarchy of `controller` (e.g. freezer), or with controller '' the v2 one (`0::/path`) (pure). */
export function procCgroupPath(text: string, controller: string): string | undefined {
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    if (line.slice(first + 1, second).split(',').includes(controller)) return line.slice(second + 1);
  }
  return undefined;
}

function readTrimmed(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** freezerOf says which freezer cgroup process pid is in and its state, for error messages:
 *  `freezer cgroup /tugboat-x/node-1/pod…/ID FROZEN` (v1) or `cgroup /… cgroup.freeze 1` (v2);
 *  undefined when the process is gone. */
export function freezerOf(pid: number): string | undefined {
  const text = readTrimmed(`/proc/${pid}/cgroup`);
  if (text === undefined) return undefined;
  const v1 = procCgroupPath(text, 'freezer');
  // An exiting process leaves its cgroups for the root, which cannot be frozen.
  if (v1 === '/') return 'the root freezer cgroup (never frozen; the process may be exiting)';
  if (v1 !== undefined) return `freezer cgroup ${v1} ${readTrimmed(join(CGROUP_ROOT, 'freezer', v1, 'freezer.state')) ?? '(state unreadable)'}`;
  const v2 = procCgroupPath(text, '');
  if (v2 === undefined) return undefined;
  const root = existsSync(join(CGROUP_ROOT, 'cgroup.controllers')) ? CGROUP_ROOT : join(CGROUP_ROOT, 'unified');
  return `cgroup ${v2} cgroup.freeze ${readTrimmed(join(root, v2, 'cgroup.freeze')) ?? '(unreadable)'}`;
}
