// down.ts: `tug cluster down`: stops and removes everything of a local cluster. Processes come
// from the state file (by PID, only while the start time matches) and from /proc (command
// lines naming the base dir, cgroups of the cluster, a netem fault's tug-netdelay), the rest by
// name (a netem fault's rules by the cluster's veths they match), so it also cleans up
// after a crash, a half-made cluster or a lost state file; running it twice is harmless.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import type { Role } from './commands.ts';
import { START_ORDER } from './commands.ts';
import { cgroupDirs, cgroupPids, HostError, iptablesArgs, iptablesRulesWithComment, mountsUnder, removeCgroups, thawCgroups, tryRun } from './host.ts';
import { cniCacheFiles, leftoversOf, netemRulesOf } from './leftovers.ts';
import { deleteNetwork } from './network.ts';
import { clusterNames, DEFAULT_STATE_ROOT } from './plan.ts';
import type { ClusterNames } from './plan.ts';
import { describeStuck, isRunning, processesNaming, signal, startTicks, stopProcesses, waitGone } from './procs.ts';
import { PROGRAM_FILES } from './programs.ts';
import type { ProcessId } from './procs.ts';
import { readState } from './state.ts';
import type { ClusterState } from './state.ts';

export interface DownOptions {
  /** Default /var/lib/tugboat. */
  readonly stateRoot?: string;
  /** How long each role gets after SIGTERM before SIGKILL, ms. Default 10,000. */
  readonly graceMs?: number;
  /** progress gets one line per thing stopped or removed, as it happens (DownResult.removed). */
  readonly progress?: (line: string) => void;
}

/** DownSummary counts what `down` stopped and removed, per kind (0: nothing of that kind). */
export interface DownSummary {
  /** Node processes stopped (SIGTERM, SIGKILL after graceMs), per role. */
  readonly stopped: Readonly<Record<Role, number>>;
  /** Thaws of frozen or freezing cgroups (a cgroup frozen again is counted again). */
  readonly thawedCgroups: number;
  /** SIGKILLed processes of the cluster's cgroups: the containers. */
  readonly containerProcesses: number;
  /** SIGKILLed containerd shims (command lines naming the base dir). */
  readonly shims: number;
  /** Other SIGKILLed processes naming the base dir (runc, a leftover ctr, a netem fault's tug-netdelay, ...). */
  readonly otherProcesses: number;
  /** Sockets SIGKILLed shims left in /run/containerd/s. */
  readonly shimSockets: number;
  readonly mounts: number;
  readonly networkNamespaces: number;
  /** Host veth ends still there after their namespace went (normally they go with it). */
  readonly veths: number;
  readonly bridges: number;
  readonly iptablesRules: number;
  /** Cgroup hierarchies the cluster's cgroup tree was removed from. */
  readonly cgroupHierarchies: number;
  readonly cniCacheFiles: number;
  /** The base dir, when it was there and is removed; undefined otherwise. */
  readonly baseDir: string | undefined;
}

export interface DownResult {
  /** One line per thing stopped or removed, in order (empty: there was nothing). */
  readonly removed: readonly string[];
  /** The same, counted per kind. */
  readonly summary: DownSummary;
  /** What the user should know that is no removal: an unreadable state file. Also in removed. */
  readonly warnings: readonly string[];
  /** What is still there afterwards (leftovers); empty on success. */
  readonly left: readonly string[];
}

type Counted = Exclude<keyof DownSummary, 'stopped' | 'baseDir'>;
/** Note records what was done: counts n (default 1) under kind, keeps its line, reports progress. */
type Note = (kind: Counted, line: string, n?: number) => void;

interface RoleProcess extends ProcessId {
  readonly role: Role | 'other';
  readonly label: string;
}

/** roleOf tells a cluster process's role from its command line (pure). */
export function roleOf(argv: readonly string[]): Role | 'other' {
  if (argv.some((a) => basename(a) === PROGRAM_FILES.agent)) return 'agent';
  if (argv.some((a) => basename(a) === PROGRAM_FILES.control)) return 'control';
  if (argv[0] !== undefined && basename(argv[0]) === 'containerd') return 'containerd';
  return 'other';
}

/** clusterProcesses merges the state file's processes with those /proc shows naming the base dir. */
function clusterProcesses(names: ClusterNames, state: ClusterState | undefined): RoleProcess[] {
  const out = new Map<number, RoleProcess>();
  for (const p of state?.processes ?? []) {
    if (isRunning(p)) out.set(p.pid, { pid: p.pid, startTicks: p.startTicks, role: p.role, label: `${p.role} on ${p.node}` });
  }
  for (const p of processesNaming(names.baseDir)) {
    if (out.has(p.pid)) continue;
    const role = roleOf(p.argv);
    out.set(p.pid, { pid: p.pid, startTicks: p.startTicks, role, label: role === 'other' ? basename(p.argv[0] ?? '?') : role });
  }
  return [...out.values()];
}

/** shimSockets lists the shim sockets under /run/containerd/s that the processes' network
 *  namespaces hold (a SIGKILLed shim leaves its socket file behind). */
export function shimSockets(pids: readonly number[]): string[] {
  const found = new Set<string>();
  for (const pid of pids) {
    try {
      for (const line of readFileSync(`/proc/${pid}/net/unix`, 'utf8').split('\n')) {
        const path = line.trim().split(/\s+/)[7];
        if (path?.startsWith('/run/containerd/s/') === true) found.add(path);
      }
    } catch {
      // gone
    }
  }
  return [...found];
}

/** KILL_ROUNDS bounds killRest's rounds; each waits up to KILL_WAIT_MS for its victims. */
const KILL_ROUNDS = 5;
const KILL_WAIT_MS = 2_000;

/** UMOUNT_BATCH bounds the mount points on one umount command line. */
const UMOUNT_BATCH = 100;

interface Victim extends ProcessId {
  readonly kind: 'containerProcesses' | 'shims' | 'otherProcesses';
  readonly label: string;
}

/** victimsOf lists what is left of the cluster once its node processes are stopped: every
 *  process in its cgroups (containers), then those still naming the base dir (shims, runc). */
function victimsOf(names: ClusterNames): { victims: Victim[]; naming: number[] } {
  const out = new Map<number, Victim>();
  for (const pid of cgroupPids(cgroupDirs(names.cgroupDir))) {
    const t = startTicks(pid);
    if (t !== undefined) out.set(pid, { pid, startTicks: t, kind: 'containerProcesses', label: `container process ${pid}` });
  }
  const naming = processesNaming(names.baseDir);
  for (const p of naming) {
    if (out.has(p.pid)) continue;
    const program = basename(p.argv[0] ?? '?');
    out.set(p.pid, { ...p, kind: program.startsWith('containerd-shim') ? 'shims' : 'otherProcesses', label: `${program} ${p.pid}` });
  }
  return { victims: [...out.values()], naming: naming.map((p) => p.pid) };
}

/**
 * killRest SIGKILLs the shims and containers (victimsOf) in rounds until none is left. In a
 * round the shims (and any runc) go first, then the cluster's frozen cgroups are thawed, then
 * the containers go: a shim whose container dies runs runc, which freezes the container's
 * cgroup while it signals its processes, and a runc killed at that moment leaves the cgroup
 * FROZEN; a frozen process takes SIGKILL only once thawed. Throws a HostError naming each
 * survivor's cgroup and freezer state after the last round.
 */
async function killRest(names: ClusterNames, note: Note): Promise<void> {
  const killed = new Set<string>();
  const kill = async (victims: readonly Victim[]): Promise<void> => {
    for (const v of victims) {
      try {
        process.kill(v.pid, 'SIGKILL');
      } catch {
        continue; // gone already
      }
      const key = `${v.pid}/${v.startTicks}`;
      if (!killed.has(key)) note(v.kind, `killed ${v.label}`);
      killed.add(key);
    }
    await waitGone(victims, KILL_WAIT_MS);
  };
  for (let round = 0; round < KILL_ROUNDS; round++) {
    const { victims, naming } = victimsOf(names);
    if (victims.length === 0) return;
    const sockets = shimSockets(naming);
    await kill(victims.filter((v) => v.kind !== 'containerProcesses'));
    for (const s of sockets) {
      if (!existsSync(s)) continue;
      rmSync(s, { force: true });
      note('shimSockets', `shim socket ${s}`);
    }
    for (const t of thawCgroups(cgroupDirs(names.cgroupDir))) note('thawedCgroups', `thawed cgroup ${t.cgroup} (was ${t.was})`);
    await kill(victims.filter((v) => v.kind === 'containerProcesses'));
  }
  const left = victimsOf(names).victims;
  if (left.length === 0) return;
  throw new HostError(
    `processes of cluster ${names.name} did not end after SIGKILL (${KILL_ROUNDS} rounds, frozen cgroups thawed in each): ${describeStuck(left.map((v) => v.pid))}`,
  );
}

/**
 * downCluster stops and removes local cluster `name`: agents, then control members, then
 * containerd (SIGTERM, SIGKILL after graceMs), then containers and shims (frozen cgroups
 * thawed first); mounts under the base dir (deepest first), network namespaces, veths,
 * bridge, iptables rules with the cluster's comment or a netem fault's on its veths, cgroups,
 * libcni cache entries and the base dir. Never throws for a missing part; `left` lists
 * whatever could not be removed. Throws a HostError only when a process survives SIGKILL,
 * naming its cgroup and state.
 */
export async function downCluster(name: string, opts: DownOptions = {}): Promise<DownResult> {
  const names = clusterNames(name, opts.stateRoot ?? DEFAULT_STATE_ROOT);
  if (process.getuid?.() !== 0) throw new HostError('tug cluster down needs root (it removes network namespaces, a bridge and mounts)');
  const graceMs = opts.graceMs ?? 10_000;
  const removed: string[] = [];
  const warnings: string[] = [];
  const stopped: Record<Role, number> = { containerd: 0, control: 0, agent: 0 };
  const counts: Record<Counted, number> = {
    thawedCgroups: 0,
    containerProcesses: 0,
    shims: 0,
    otherProcesses: 0,
    shimSockets: 0,
    mounts: 0,
    networkNamespaces: 0,
    veths: 0,
    bridges: 0,
    iptablesRules: 0,
    cgroupHierarchies: 0,
    cniCacheFiles: 0,
  };
  let baseDir: string | undefined;
  const line = (text: string): void => {
    removed.push(text);
    opts.progress?.(text);
  };
  const note: Note = (kind, text, n = 1) => {
    counts[kind] += n;
    line(text);
  };
  let state: ClusterState | undefined;
  try {
    state = readState(names.stateFile);
  } catch (err) {
    const warning = `state file unreadable (${(err as Error).message}); finding everything by name`;
    warnings.push(warning);
    line(warning);
  }

  const procs = clusterProcesses(names, state);
  // A process stopped by `tug chaos pause-node` would not act on SIGTERM: continue it first.
  for (const p of procs) signal(p, 'SIGCONT');
  for (const role of [...START_ORDER].reverse()) {
    for (const p of await stopProcesses(procs.filter((x) => x.role === role), graceMs)) {
      stopped[role]++;
      line(`stopped ${p.label} (pid ${p.pid})`);
    }
  }
  await killRest(names, note);

  // One umount per batch, which goes on past a mount it cannot remove, instead of one per
  // mount: 120 mounts (30 pods) took 3 s one by one. What is gone afterwards was unmounted.
  const mounts = mountsUnder(names.baseDir);
  for (let i = 0; i < mounts.length; i += UMOUNT_BATCH) tryRun(['umount', '-l', ...mounts.slice(i, i + UMOUNT_BATCH)]);
  const mounted = new Set(mountsUnder(names.baseDir));
  for (const m of mounts) if (!mounted.has(m)) note('mounts', `unmounted ${m}`);
  for (const what of deleteNetwork(names)) {
    const kind = what.startsWith('network namespace ') ? 'networkNamespaces' : what === `link ${names.bridge}` ? 'bridges' : 'veths';
    note(kind, `deleted ${what}`);
  }
  const rules = [...(state?.iptablesRules ?? []), ...iptablesRulesWithComment(names.iptablesComment), ...netemRulesOf(names)];
  const seen = new Set<string>();
  for (const r of rules) {
    const key = JSON.stringify(r);
    if (seen.has(key)) continue;
    seen.add(key);
    // A rule from the state file may never have been inserted, or is already gone.
    while (tryRun(iptablesArgs('-D', r))) note('iptablesRules', `deleted iptables rule -t ${r.table} ${r.chain} ${r.spec.join(' ')}`);
  }
  const cgroups = cgroupDirs(names.cgroupDir);
  removeCgroups(cgroups);
  const gone = cgroups.filter((c) => !existsSync(c));
  if (gone.length > 0) note('cgroupHierarchies', `removed cgroup ${names.cgroupDir} (from ${gone.length} hierarchies)`, gone.length);
  for (const f of cniCacheFiles(names.baseDir)) {
    rmSync(f, { force: true });
    note('cniCacheFiles', `removed CNI cache ${f}`);
  }
  if (existsSync(names.baseDir)) {
    rmSync(names.baseDir, { recursive: true, force: true, maxRetries: 3 });
    baseDir = names.baseDir;
    line(`removed ${names.baseDir}`);
  }
  return { removed, summary: { stopped, ...counts, baseDir }, warnings, left: leftoversOf(names) };
}
