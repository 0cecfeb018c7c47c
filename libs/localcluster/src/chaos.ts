// chaos.ts: faults on purpose on a running local cluster, each written with its time to the
// cluster's chaos log (BASE/chaos.log, one JSON line per action), and the faults active now.
//
// A node dies and comes back. killNode SIGKILLs every
// process of the node at once, as a power cut would: its tug-agent, its tug-control (on a
// control node), its containerd, the containerd shims of its containers and every process in
// its pods' cgroup. Its network namespace, files and mounts stay, as a machine's disk and wiring
// would, and so does the tug-netdelay of a netem fault on it: like a netem qdisc, it is wiring.
// startNode starts containerd, tug-control and tug-agent again with the same command lines;
// containerd cleans up after its dead shims and the agent finds its pods' sandboxes dead and
// makes them again (or removes them, for pods no longer bound to it).
//
// A node hangs and wakes. pauseNode stops (SIGSTOP) the node's tugboat processes, tug-control
// and tug-agent, while its containers run on, as a long stall of the machine's agent would;
// resumeNode continues them (SIGCONT).
//
// A pod crashes: killPod SIGKILLs everything in its cgroup. Network faults are chaos-network.ts's.
// healAll undoes every active fault: it removes partitions and netem, resumes paused nodes and
// starts down ones.
import { existsSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CriClient } from '@tugboat/cri';
import { roleOf, shimSockets } from './down.ts';
import { existingPlan } from './existing.ts';
import { cgroupDirs, cgroupPids, HostError, thawCgroups } from './host.ts';
import { DEFAULT_STATE_ROOT } from './plan.ts';
import type { NodePlan } from './plan.ts';
import { describeStuck, isRunning, processesNaming, startTicks, waitGone } from './procs.ts';
import type { ProcessId } from './procs.ts';
import { killProcess, startProcess } from './restart.ts';
import { readState } from './state.ts';
import { logChaos, nodeOf, updateState } from './chaos-state.ts';
import type { ClusterState, ProcessRecord } from './state.ts';
import { START_ORDER } from './commands.ts';
import { clearNetem, healPartitions } from './chaos-network.ts';
import { NETDELAY_BIN } from './network-faults.ts';
import type { LinkDrop, NetemFault } from './network-faults.ts';

export interface ChaosOptions {
  /** Default /var/lib/tugboat. */
  readonly stateRoot?: string;
  /** How long startNode waits for containerd to answer, ms. Default 30,000. */
  readonly timeoutMs?: number;
}

/** NodeProcess is a process of one node, with what it is. */
export interface NodeProcess extends ProcessId {
  /** agent, control, containerd, shim, or container (a process in the node's pod cgroup). */
  readonly what: 'agent' | 'control' | 'containerd' | 'shim' | 'container';
}

/** KillResult says what killNode ended. */
export interface KillResult {
  readonly node: string;
  readonly killed: readonly NodeProcess[];
  /** Shim sockets under /run/containerd/s removed (a SIGKILLed shim leaves its socket behind). */
  readonly socketsRemoved: readonly string[];
}

/** nodeProcesses lists the running processes of a node: those recorded in the state file, those
 *  whose command line names the node's directory (containerd, tug-control, tug-agent, shims; not
 *  a netem fault's tug-netdelay, which is the node's wiring) and those in the node's pod cgroup
 *  (containers). */
export function nodeProcesses(node: NodePlan, state: ClusterState | undefined): NodeProcess[] {
  const found = new Map<number, NodeProcess>();
  for (const p of state?.processes ?? []) {
    if (p.node === node.name && isRunning(p)) found.set(p.pid, { pid: p.pid, startTicks: p.startTicks, what: p.role });
  }
  for (const p of processesNaming(node.paths.dir)) {
    if (found.has(p.pid) || p.argv[0] === NETDELAY_BIN) continue;
    const role = roleOf(p.argv);
    const what = role !== 'other' ? role : basename(p.argv[0] ?? '').startsWith('containerd-shim') ? 'shim' : 'container';
    found.set(p.pid, { pid: p.pid, startTicks: p.startTicks, what });
  }
  for (const pid of cgroupPids(cgroupDirs(node.cgroupParent.replace(/^\//, '')))) {
    const ticks = startTicks(pid);
    if (ticks !== undefined && !found.has(pid)) found.set(pid, { pid, startTicks: ticks, what: 'container' });
  }
  return [...found.values()];
}

function markDown(stateFile: string, node: string, down: boolean): void {
  updateState(stateFile, (s) => {
    const others = (s.downNodes ?? []).filter((n) => n !== node);
    return { ...s, downNodes: down ? [...others, node] : others };
  });
}

function markPaused(stateFile: string, node: string, paused: boolean): void {
  updateState(stateFile, (s) => {
    const others = (s.pausedNodes ?? []).filter((n) => n !== node);
    return { ...s, pausedNodes: paused ? [...others, node] : others };
  });
}

/**
 * killUntilGone SIGKILLs what `find` lists, again until it lists nothing (a container may fork
 * meanwhile), at most 5 rounds, thawing `cgroups` before each round: a runc killed while it
 * signals a container leaves the container's cgroup FROZEN, and a frozen process takes SIGKILL
 * only once thawed. `onKilled` gets each process signalled.
 */
async function killUntilGone<P extends ProcessId>(cgroups: readonly string[], find: () => P[], onKilled: (p: P) => void): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const victims = find();
    if (victims.length === 0) return;
    thawCgroups(cgroups);
    for (const v of victims) {
      try {
        process.kill(v.pid, 'SIGKILL');
        onKilled(v);
      } catch {
        // ended meanwhile
      }
    }
    await waitGone(victims, 2_000);
  }
}

/**
 * killNode SIGKILLs every process of `node` of local cluster `name` (see nodeProcesses), again
 * until none is left (a container may fork meanwhile), thawing the node's frozen cgroups before
 * each round, removes the sockets its shims leave and records the node as down in the state
 * file. Throws, naming each survivor's state and freezer cgroup, when processes survive.
 */
export async function killNode(name: string, node: string, opts: ChaosOptions = {}): Promise<KillResult> {
  const plan = existingPlan(name, opts.stateRoot ?? DEFAULT_STATE_ROOT);
  const n = nodeOf(plan, node);
  const killed = new Map<number, NodeProcess>();
  const sockets = new Set<string>();
  const nodeCgroup = n.cgroupParent.replace(/^\//, '');
  await killUntilGone(cgroupDirs(nodeCgroup), () => {
    const victims = nodeProcesses(n, readState(plan.stateFile));
    for (const s of shimSockets(victims.filter((v) => v.what === 'shim').map((v) => v.pid))) sockets.add(s);
    return victims;
  }, (v) => killed.set(v.pid, v));
  const left = nodeProcesses(n, readState(plan.stateFile));
  if (left.length > 0) {
    throw new HostError(`${node} (cluster ${name}) still has processes after 5 rounds of SIGKILL: ${describeStuck(left.map((p) => p.pid))}`);
  }
  const socketsRemoved = [...sockets].filter((s) => existsSync(s));
  for (const s of socketsRemoved) rmSync(s, { force: true });
  markDown(plan.stateFile, node, true);
  markPaused(plan.stateFile, node, false);
  logChaos(plan, 'kill-node', node, `${killed.size} processes killed`);
  return { node, killed: [...killed.values()], socketsRemoved };
}

async function containerdAnswers(socket: string, timeoutMs: number, logFile: string): Promise<void> {
  const giveUp = Date.now() + timeoutMs;
  let why = 'its socket is not there yet';
  for (;;) {
    if (existsSync(socket)) {
      const cri = new CriClient(socket, { timeoutMs: 2_000 });
      try {
        await cri.version();
        return;
      } catch (err) {
        why = (err as Error).message.split('\n')[0] ?? 'no answer';
      } finally {
        cri.close();
      }
    }
    if (Date.now() > giveUp) throw new HostError(`containerd at ${socket} did not answer within ${Math.round(timeoutMs / 1_000)} s (${why}); see ${logFile}`);
    await sleep(100);
  }
}

/**
 * startNode starts the processes of `node` that are not running (containerd, then tug-control
 * on a control node, then tug-agent) with the command lines `up` used, records them, waits
 * until containerd answers and clears the node's down mark. Returns the records of the
 * processes it started; throws when the node runs already.
 */
export async function startNode(name: string, node: string, opts: ChaosOptions = {}): Promise<ProcessRecord[]> {
  const stateRoot = opts.stateRoot ?? DEFAULT_STATE_ROOT;
  const plan = existingPlan(name, stateRoot);
  const n = nodeOf(plan, node);
  const state = readState(plan.stateFile);
  const roles = START_ORDER.filter((r) => r !== 'control' || n.control);
  const running = (state?.processes ?? []).filter((p) => p.node === node && isRunning(p)).map((p) => p.role);
  const missing = roles.filter((r) => !running.includes(r));
  if (missing.length === 0) throw new Error(`${node} of local cluster ${name} is running already (${running.join(', ')})`);
  const started: ProcessRecord[] = [];
  for (const role of missing) {
    const record = startProcess(name, node, role, { stateRoot });
    started.push(record);
    if (role === 'containerd') await containerdAnswers(n.paths.containerdSocket, opts.timeoutMs ?? 30_000, record.logFile);
  }
  markDown(plan.stateFile, node, false);
  logChaos(plan, 'start-node', node, started.map((p) => `${p.role} (pid ${p.pid})`).join(', '));
  return started;
}

/**
 * killMember SIGKILLs the tug-control of `node` (the leader, for `tug chaos kill-leader`), and
 * records the node as down until `startNode` starts it again; the node's agent and containers
 * run on. `why` goes to the chaos log.
 */
export async function killMember(name: string, node: string, why: string, opts: ChaosOptions = {}): Promise<ProcessRecord> {
  const stateRoot = opts.stateRoot ?? DEFAULT_STATE_ROOT;
  const plan = existingPlan(name, stateRoot);
  if (!nodeOf(plan, node).control) throw new Error(`${node} of local cluster ${name} is no control node`);
  const killed = await killProcess(name, node, 'control', { stateRoot });
  markDown(plan.stateFile, node, true);
  logChaos(plan, 'kill-leader', node, `${why}: tug-control (pid ${killed.pid})`);
  return killed;
}

/** tugboatProcesses are the running tug-control and tug-agent of a node, as recorded. */
function tugboatProcesses(state: ClusterState | undefined, node: string): ProcessRecord[] {
  return (state?.processes ?? []).filter((p) => p.node === node && (p.role === 'control' || p.role === 'agent') && isRunning(p));
}

/**
 * pauseNode stops (SIGSTOP) the tug-control and tug-agent of `node`; its containers and
 * containerd run on. Throws when the node is down or paused already. Returns what it stopped.
 */
export function pauseNode(name: string, node: string, opts: ChaosOptions = {}): ProcessRecord[] {
  const plan = existingPlan(name, opts.stateRoot ?? DEFAULT_STATE_ROOT);
  nodeOf(plan, node);
  const state = readState(plan.stateFile);
  if ((state?.pausedNodes ?? []).includes(node)) throw new Error(`${node} of local cluster ${name} is paused already (tug chaos resume-node ${node})`);
  const procs = tugboatProcesses(state, node);
  if (procs.length === 0) throw new Error(`${node} of local cluster ${name} runs no tugboat process to pause (is it down? tug chaos start-node ${node})`);
  for (const p of procs) process.kill(p.pid, 'SIGSTOP');
  markPaused(plan.stateFile, node, true);
  logChaos(plan, 'pause-node', node, procs.map((p) => `${p.role} (pid ${p.pid})`).join(', '));
  return procs;
}

/** resumeNode continues (SIGCONT) what pauseNode stopped; throws when the node is not paused. */
export function resumeNode(name: string, node: string, opts: ChaosOptions = {}): ProcessRecord[] {
  const plan = existingPlan(name, opts.stateRoot ?? DEFAULT_STATE_ROOT);
  nodeOf(plan, node);
  const state = readState(plan.stateFile);
  if (!(state?.pausedNodes ?? []).includes(node)) throw new Error(`${node} of local cluster ${name} is not paused`);
  const procs = tugboatProcesses(state, node);
  for (const p of procs) process.kill(p.pid, 'SIGCONT');
  markPaused(plan.stateFile, node, false);
  logChaos(plan, 'resume-node', node, procs.map((p) => `${p.role} (pid ${p.pid})`).join(', '));
  return procs;
}

/**
 * killPod SIGKILLs every process of one pod on `node`, its sandbox's pause process included,
 * as a crash of the whole pod would: everything in the pod's cgroup (`pod<uid>` below the
 * node's pod parent), thawed first, again until none is left. The agent finds the sandbox dead
 * and makes the pod again. `pod` names it in the chaos log. Throws when nothing of it runs.
 */
export async function killPod(name: string, node: string, uid: string, pod: string, opts: ChaosOptions = {}): Promise<number[]> {
  const plan = existingPlan(name, opts.stateRoot ?? DEFAULT_STATE_ROOT);
  const podCgroup = `${nodeOf(plan, node).cgroupParent.replace(/^\//, '')}/pod${uid}`;
  const killed = new Set<number>();
  const victims = (): ProcessId[] =>
    cgroupPids(cgroupDirs(podCgroup)).flatMap((pid) => {
      const ticks = startTicks(pid);
      return ticks === undefined ? [] : [{ pid, startTicks: ticks }];
    });
  await killUntilGone(cgroupDirs(podCgroup), victims, (v) => killed.add(v.pid));
  if (killed.size === 0) throw new Error(`pod ${pod} (uid ${uid}) runs no process on ${node} of local cluster ${name}`);
  logChaos(plan, 'kill-pod', node, `${pod}: ${killed.size} processes killed`);
  return [...killed];
}

/** ChaosStatus is the faults active on a cluster now. */
export interface ChaosStatus {
  readonly down: readonly string[];
  readonly paused: readonly string[];
  readonly partitions: readonly LinkDrop[];
  readonly netem: readonly NetemFault[];
}

/** chaosStatus reads the active faults from the state file. */
export function chaosStatus(name: string, opts: ChaosOptions = {}): ChaosStatus {
  const plan = existingPlan(name, opts.stateRoot ?? DEFAULT_STATE_ROOT);
  const state = readState(plan.stateFile);
  return { down: [...(state?.downNodes ?? [])], paused: [...(state?.pausedNodes ?? [])], partitions: [...(state?.partitions ?? [])], netem: [...(state?.netem ?? [])] };
}

/** healAll undoes every active fault: partitions and netem removed, paused nodes resumed, down nodes started. Returns what was healed. */
export async function healAll(name: string, opts: ChaosOptions = {}): Promise<ChaosStatus> {
  const active = chaosStatus(name, opts);
  healPartitions(name, undefined, opts);
  await clearNetem(name, undefined, opts);
  for (const node of active.paused) resumeNode(name, node, opts);
  for (const node of active.down) await startNode(name, node, opts);
  return active;
}
