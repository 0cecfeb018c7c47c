// procs.ts: processes of a local cluster: starting them detached, finding them in /proc, and
// stopping them by PID, only while the PID still names the same process (its start time).
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { freezerOf } from './host.ts';

/** ProcessId names one process instance: a PID and its start time (clock ticks after boot). */
export interface ProcessId {
  readonly pid: number;
  readonly startTicks: string;
}

/** startTicksFromStat reads field 22 (starttime) of a /proc/PID/stat line. */
export function startTicksFromStat(stat: string): string | undefined {
  // Field 2 (comm) is in parentheses and may hold spaces; fields after it start at 3.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

/** commAndStateFromStat reads fields 2 (comm) and 3 (state: R, S, D, Z, ...) of a
 *  /proc/PID/stat line (pure). */
export function commAndStateFromStat(stat: string): { comm: string; state: string } {
  const close = stat.lastIndexOf(')');
  return { comm: stat.slice(stat.indexOf('(') + 1, close), state: stat.slice(close + 2, close + 3) };
}

/** startTicks returns the start time of a running process, undefined when there is none. */
export function startTicks(pid: number): string | undefined {
  try {
    return startTicksFromStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** isRunning: the PID exists, started at startTicks, and is not a zombie. */
export function isRunning(p: ProcessId): boolean {
  try {
    const stat = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && startTicksFromStat(stat) === p.startTicks;
  } catch {
    return false;
  }
}

/** namesDir: one of the arguments is dir or a path under it (not merely a prefix: /x/t1 is
 *  not /x/t12), also as the value of --flag=VALUE. */
export function namesDir(argv: readonly string[], dir: string): boolean {
  return argv.some((a) => {
    const v = a.startsWith('--') && a.includes('=') ? a.slice(a.indexOf('=') + 1) : a;
    return v === dir || v.startsWith(`${dir}/`);
  });
}

export interface FoundProcess extends ProcessId {
  readonly argv: readonly string[];
}

/** processesNaming lists the processes (other than this one) whose command line names dir. */
export function processesNaming(dir: string): FoundProcess[] {
  const out: FoundProcess[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
      if (!namesDir(argv, dir)) continue;
      const ticks = startTicks(Number(e));
      if (ticks !== undefined) out.push({ pid: Number(e), startTicks: ticks, argv });
    } catch {
      // it ended while we looked
    }
  }
  return out;
}

/** spawnDetached starts argv in its own process group with stdout and stderr appended to
 *  logFile, not waited for by this process; returns its PID and start time. */
export function spawnDetached(argv: readonly string[], logFile: string): ProcessId {
  const fd = openSync(logFile, 'a');
  try {
    // The cluster outlives whoever started it: drop the variables that tie a process to its
    // parent (a test runner's context, tug-control's exit on stdin EOF).
    const env = { ...process.env };
    delete env['NODE_TEST_CONTEXT'];
    delete env['TUG_EXIT_ON_STDIN_EOF'];
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', fd, fd], env });
    child.on('error', () => undefined); // reported below: no PID
    child.unref();
    const pid = child.pid;
    const ticks = pid === undefined ? undefined : startTicks(pid);
    if (pid === undefined || ticks === undefined) throw new Error(`cannot start ${argv.join(' ')} (see ${logFile})`);
    return { pid, startTicks: ticks };
  } finally {
    closeSync(fd);
  }
}

/** signal sends sig to the process only if it is still the same one; true if sent. */
export function signal(p: ProcessId, sig: NodeJS.Signals): boolean {
  if (!isRunning(p)) return false;
  try {
    process.kill(p.pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** waitGone polls until none of the processes runs or the time is up; returns those still running. */
export async function waitGone<P extends ProcessId>(ps: readonly P[], timeoutMs: number): Promise<P[]> {
  const deadline = Date.now() + timeoutMs;
  let left = ps.filter(isRunning);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50);
    left = left.filter(isRunning);
  }
  return left;
}

/** stopProcesses sends SIGTERM, then SIGKILL to those still running after graceMs; returns
 *  the ones that were running when it began. */
export async function stopProcesses<P extends ProcessId>(ps: readonly P[], graceMs: number): Promise<P[]> {
  const running = ps.filter(isRunning);
  for (const p of running) signal(p, 'SIGTERM');
  const left = await waitGone(running, graceMs);
  for (const p of left) signal(p, 'SIGKILL');
  const stuck = await waitGone(left, 5_000);
  if (stuck.length > 0) throw new Error(`processes did not end after SIGKILL: ${describeStuck(stuck.map((p) => p.pid))}`);
  return running;
}

/** StuckProcess is what a report of a process that survived SIGKILL says about it. */
export interface StuckProcess {
  readonly pid: number;
  /** Its name (comm) and state (D: uninterruptible, as frozen ones are), or undefined once it ended. */
  readonly comm: string | undefined;
  readonly state: string | undefined;
  /** Its freezer cgroup and that cgroup's state (freezerOf), or undefined when unknown. */
  readonly cgroup: string | undefined;
}

/** stuckReport renders stuck processes grouped by cgroup, in the order first seen, those that
 *  ended meanwhile last (pure): `17340 (sh, state D), 17353 (httpd, state D) in freezer cgroup
 *  /tugboat-x/… FROZEN; 17308 (sh, state S) in …; 17400 ended meanwhile`. */
export function stuckReport(ps: readonly StuckProcess[]): string {
  const groups = new Map<string, string[]>();
  const ended: number[] = [];
  for (const p of ps) {
    if (p.comm === undefined) {
      ended.push(p.pid);
      continue;
    }
    const where = p.cgroup === undefined ? 'in an unknown cgroup' : `in ${p.cgroup}`;
    groups.set(where, [...(groups.get(where) ?? []), `${p.pid} (${p.comm}, state ${p.state ?? '?'})`]);
  }
  const parts = [...groups].map(([where, what]) => `${what.join(', ')} ${where}`);
  if (ended.length > 0) parts.push(`${ended.join(', ')} ended meanwhile`);
  return parts.join('; ');
}

/** describeStuck reads from /proc what stuckReport says about the PIDs. */
export function describeStuck(pids: readonly number[]): string {
  return stuckReport(
    pids.map((pid) => {
      let stat: { comm: string; state: string } | undefined;
      try {
        stat = commAndStateFromStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        stat = undefined;
      }
      return { pid, comm: stat?.comm, state: stat?.state, cgroup: freezerOf(pid) };
    }),
  );
}
