// down.ts: `tug cluster down`: stops and removes everything of a local cluster. Processes come
// from the state file (by PID, only while the start time matches) and from /proc (command
// lines naming the base dir, cgroups of the cluster), the rest by name, so it also cleans up
// after a crash, a half-made cluster or a lost state file; running it twice is harmless.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import type { Role } from './commands.ts';
import { START_ORDER } from './commands.ts';
import { cgroupDirs, cgroupPids, HostError, iptablesArgs, iptablesRulesWithComment, mountsUnder, removeCgroups, tryRun } from './host.ts';
import { cniCacheFiles, leftoversOf } from './leftovers.ts';
import { deleteNetwork } from './network.ts';
import { clusterNames, DEFAULT_STATE_ROOT } from './plan.ts';
import type { ClusterNames } from './plan.ts';
import { isRunning, processesNaming, startTicks, stopProcesses, waitGone } from './procs.ts';
import type { ProcessId } from './procs.ts';
import { readState } from './state.ts';
import type { ClusterState } from './state.ts';

export interface DownOptions {
  /** Default /var/lib/tugboat. */
  readonly stateRoot?: string;
  /** How long each role gets after SIGTERM before SIGKILL, ms. Default 10,000. */
  readonly graceMs?: number;
  /** progress gets one line per thing removed. */
  readonly progress?: (line: string) => void;
}

export interface DownResult {
  /** One line per thing stopped or removed (empty: there was nothing). */
  readonly removed: readonly string[];
  /** What is still there afterwards (leftovers); empty on success. */
  readonly left: readonly string[];
}

interface RoleProcess extends ProcessId {
  readonly role: Role | 'other';
  readonly label: string;
}

/** roleOf tells a cluster process's role from its command line (pure). */
export function roleOf(argv: readonly string[]): Role | 'other' {
  if (argv.some((a) => a.endsWith('apps/agent/src/main.ts'))) return 'agent';
  if (argv.some((a) => a.endsWith('apps/control/src/main.ts'))) return 'control';
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

/** killRest SIGKILLs the processes in the cluster's cgroups (containers), then whatever still
 *  names the base dir (shims), until none is left. */
async function killRest(names: ClusterNames, removed: string[]): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const inCgroups = cgroupPids(cgroupDirs(names.cgroupDir)).flatMap((pid) => {
      const t = startTicks(pid);
      return t === undefined ? [] : [{ pid, startTicks: t, label: `container process ${pid}` }];
    });
    const naming = processesNaming(names.baseDir).map((p) => ({ ...p, label: `${basename(p.argv[0] ?? '?')} ${p.pid}` }));
    const victims = [...inCgroups, ...naming];
    if (victims.length === 0) return;
    const sockets = shimSockets(naming.map((p) => p.pid));
    for (const v of victims) {
      try {
        process.kill(v.pid, 'SIGKILL');
        removed.push(`killed ${v.label}`);
      } catch {
        // gone already
      }
    }
    const stuck = await waitGone(victims, 5_000);
    if (stuck.length > 0) throw new HostError(`processes of cluster ${names.name} did not end after SIGKILL: ${stuck.map((p) => p.pid).join(', ')}`);
    for (const s of sockets) {
      if (!existsSync(s)) continue;
      rmSync(s, { force: true });
      removed.push(`shim socket ${s}`);
    }
  }
}

/**
 * downCluster stops and removes local cluster `name`: agents, then control members, then
 * containerd (SIGTERM, SIGKILL after graceMs), then containers and shims; mounts under the
 * base dir (deepest first), network namespaces, veths, bridge, iptables rules with the
 * cluster's comment, cgroups, libcni cache entries and the base dir. Never throws for a
 * missing part; `left` lists whatever could not be removed.
 */
export async function downCluster(name: string, opts: DownOptions = {}): Promise<DownResult> {
  const names = clusterNames(name, opts.stateRoot ?? DEFAULT_STATE_ROOT);
  if (process.getuid?.() !== 0) throw new HostError('tug cluster down needs root (it removes network namespaces, a bridge and mounts)');
  const graceMs = opts.graceMs ?? 10_000;
  const removed: string[] = [];
  const note = (line: string): void => {
    removed.push(line);
    opts.progress?.(line);
  };
  let state: ClusterState | undefined;
  try {
    state = readState(names.stateFile);
  } catch (err) {
    note(`state file unreadable (${(err as Error).message}); finding everything by name`);
  }

  const procs = clusterProcesses(names, state);
  for (const role of [...START_ORDER].reverse()) {
    const stopped = await stopProcesses(procs.filter((p) => p.role === role), graceMs);
    for (const p of stopped) note(`stopped ${p.label} (pid ${p.pid})`);
  }
  const before = removed.length;
  await killRest(names, removed);
  for (const line of removed.slice(before)) opts.progress?.(line);

  for (const m of mountsUnder(names.baseDir)) {
    if (tryRun(['umount', '-l', m])) note(`unmounted ${m}`);
  }
  for (const line of deleteNetwork(names)) note(`deleted ${line}`);
  const rules = [...(state?.iptablesRules ?? []), ...iptablesRulesWithComment(names.iptablesComment)];
  const seen = new Set<string>();
  for (const r of rules) {
    const key = JSON.stringify(r);
    if (seen.has(key)) continue;
    seen.add(key);
    // A rule from the state file may never have been inserted, or is already gone.
    while (tryRun(iptablesArgs('-D', r))) note(`deleted iptables rule -t ${r.table} ${r.chain} ${r.spec.join(' ')}`);
  }
  const cgroups = cgroupDirs(names.cgroupDir);
  removeCgroups(cgroups);
  const gone = cgroups.filter((c) => !existsSync(c));
  if (gone.length > 0) note(`removed cgroup ${names.cgroupDir} (from ${gone.length} hierarchies)`);
  for (const f of cniCacheFiles(names.baseDir)) {
    rmSync(f, { force: true });
    note(`removed CNI cache ${f}`);
  }
  if (existsSync(names.baseDir)) {
    rmSync(names.baseDir, { recursive: true, force: true, maxRetries: 3 });
    note(`removed ${names.baseDir}`);
  }
  return { removed, left: leftoversOf(names) };
}
