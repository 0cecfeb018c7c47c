// pods.ts (npm run bench:pods): pod start through tugboat, against the same containers started
// directly through CRI on the same nodes' containerd, in the same run.
//
//   node test/bench/pods.ts [--rounds 3] [--pods 30] [--keep]
//
// Runs as root. Brings up a local cluster named "bench" (3 nodes, all 3 control; see
// libs/localcluster), after removing whatever a crashed earlier run left, and takes it down at
// the end, also after a failure or SIGINT, unless --keep. One unmeasured container per node
// first (the first container of a fresh containerd unpacks the image). Then --rounds rounds, in
// alternating order (tugboat first in odd rounds, raw first in even ones), each side after a
// 2 s pause:
//
// - tugboat: --pods pods, spread evenly over the nodes by spec.nodeName (no scheduler involved),
//   one container of tugboat.local/web:latest, imagePullPolicy Never,
//   terminationGracePeriodSeconds 1, are created through the API all at once. A watch opened
//   before the creates records when each pod first shows phase Running with its container
//   running. Per pod: its create call -> that moment; which covers the write through Raft,
//   the agent's watch, its sync (observe, RunPodSandbox with CNI, CreateContainer,
//   StartContainer), the status write and the watch back to this process. The pods are then
//   deleted, and the round waits until no node's containerd has a sandbox or container left.
// - raw: as many containers started directly through CRI on the same containerds, split over
//   the nodes the same way, all at once: RunPodSandbox (CNI networking, a sandbox config like
//   the agent's: metadata, hostname, log directory, cgroup parent under the node's) +
//   CreateContainer + StartContainer. Per container: first call -> StartContainer returned.
//   Then every container and sandbox is stopped and removed (which frees the IPs).
//
// Per side: p50/p99/max of the per-pod times (with 30 pods p99 is the slowest one) and the wall
// time (first create or call -> last pod running). The containerd logs (each CRI call's arrival
// and return, with wall-clock times) split both sides into the same stages: how soon the first
// call reaches containerd (for tugboat: the agent's reaction), RunPodSandbox inside containerd,
// the gap before CreateContainer, CreateContainer + StartContainer; for tugboat also the status
// path (StartContainer returned -> Running seen). Each side also reports the CPU time used
// meanwhile, per part of the cluster, and what processes outside the bench cluster took (the
// machine may be shared); the tugboat side also the VmRSS of every agent and control member
// before the creates and once every pod runs (`--pods 330`: 110 pods per node, the agent's
// memory budget). The end prints tugboat / raw per measure, median over rounds.
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { Pod } from '@tugboat/api';
import { TugClient, isNotFound } from '@tugboat/client';
import { CriClient } from '@tugboat/cri';
import type { ContainerConfigInit, PodSandboxConfigInit } from '@tugboat/cri';
import { adminSecurity, downCluster, roleOf, upCluster } from '@tugboat/localcluster';
import type { ClusterInfo, NodeInfo } from '@tugboat/localcluster';
import { f0, f1, f2, percentile, table } from './measure.ts';
import { clusterTeardown } from './cluster-teardown.ts';

const CLUSTER = 'bench';
const NODES = 3;
const NAMESPACE = 'default';
const RAW_NAMESPACE = 'bench-raw';
const IMAGE = 'tugboat.local/web:latest';
/** PAUSE_MS lets the previous side's clean-up settle before a side is measured. */
const PAUSE_MS = 2_000;
const START_TIMEOUT_MS = 180_000;
const CLEANUP_TIMEOUT_MS = 120_000;

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    pods: { type: 'string', default: '30' },
    keep: { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const podCount = Number(values.pods);
const keep = values.keep === true;
for (const [flag, v] of [['rounds', rounds], ['pods', podCount]] as const) {
  if (!(Number.isSafeInteger(v) && v > 0)) {
    console.error(`bench: --${flag} must be a positive integer`);
    process.exit(2);
  }
}
if (process.getuid?.() !== 0) {
  console.error('bench: run as root (it makes network namespaces and runs containerd)');
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Where the CPU goes

/** CpuRole groups the machine's processes: the bench cluster's by part, then everything else. */
type CpuRole = 'agents' | 'control' | 'runtime' | 'containers' | 'bench' | 'other';
const CPU_ROLES: readonly CpuRole[] = ['agents', 'control', 'runtime', 'containers', 'bench', 'other'];

/** procTicks is a process's CPU time (clock ticks), with `children` also that of its reaped
 *  children (for containerd and the shims, which run the short-lived CNI plugins and runc). */
function procTicks(pid: number, children: boolean): number | undefined {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0);
  } catch {
    return undefined; // exited
  }
}

/** roleOfProcess tells what a process is (undefined: a kernel thread, or gone). The cluster's
 *  processes name its dir: containerd, tug-control, tug-agent, shims and runc (containerd reaps
 *  the CNI plugins, so their time is containerd's); container processes are in its cgroups. */
function roleOfProcess(pid: number, baseDir: string, cgroupRoot: string): CpuRole | undefined {
  if (pid === process.pid) return 'bench';
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (cmd === '') return undefined;
    if (cmd.includes(baseDir)) {
      const role = roleOf(cmd.split('\0'));
      return role === 'agent' ? 'agents' : role === 'control' ? 'control' : 'runtime';
    }
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(`:${cgroupRoot}/`) ? 'containers' : 'other';
  } catch {
    return undefined;
  }
}

interface CpuSnapshot {
  readonly busy: number;
  readonly total: number;
  readonly procs: Map<number, { role: CpuRole; ticks: number }>;
}

function cpuSnapshot(baseDir: string, cgroupRoot: string): CpuSnapshot {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const procs = new Map<number, { role: CpuRole; ticks: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    const role = roleOfProcess(pid, baseDir, cgroupRoot);
    const ticks = role === undefined ? undefined : procTicks(pid, role === 'runtime');
    if (role !== undefined && ticks !== undefined) procs.set(pid, { role, ticks });
  }
  return { busy: total - f[3]! - f[4]!, total, procs };
}

/** CpuUse is the CPU a side used: per role, and the kernel's share plus what exited unseen. */
interface CpuUse {
  /** Seconds of CPU per role. */
  readonly seconds: ReadonlyMap<CpuRole, number>;
  /** Seconds of CPU no process accounts for: kernel threads (network namespaces, cgroups),
   *  interrupts, and processes that began and ended unseen. */
  readonly unattributed: number;
  /** Share of the whole machine that processes outside the bench cluster took, %. */
  readonly othersPct: number;
  /** Share of the whole machine that was busy, %. */
  readonly busyPct: number;
}

/** cpuUse starts measuring; the function it returns gives what was used since. */
function cpuUse(info: ClusterInfo): () => CpuUse {
  const cgroupRoot = dirname(info.nodes[0]!.cgroupParent);
  const s0 = cpuSnapshot(info.baseDir, cgroupRoot);
  return () => {
    const s1 = cpuSnapshot(info.baseDir, cgroupRoot);
    const hz = 100; // USER_HZ: /proc reports clock ticks of 10 ms
    const ticks = new Map<CpuRole, number>(CPU_ROLES.map((r) => [r, 0]));
    for (const [pid, p] of s1.procs) {
      const was = s0.procs.get(pid);
      ticks.set(p.role, ticks.get(p.role)! + p.ticks - (was !== undefined && was.role === p.role ? was.ticks : 0));
    }
    const busy = s1.busy - s0.busy;
    const total = Math.max(1, s1.total - s0.total);
    const counted = [...ticks.values()].reduce((a, b) => a + b, 0);
    return {
      seconds: new Map([...ticks].map(([r, t]) => [r, t / hz])),
      unattributed: Math.max(0, busy - counted) / hz,
      othersPct: Math.min(100, (100 * ticks.get('other')!) / total),
      busyPct: (100 * busy) / total,
    };
  };
}

/** Memory is the VmRSS of the cluster's agents and control members, MiB, in pid order. */
interface Memory {
  readonly agents: number[];
  readonly control: number[];
}

/** memoryOf reads the VmRSS of the cluster's tug-agent and tug-control processes. */
function memoryOf(info: ClusterInfo): Memory {
  const cgroupRoot = dirname(info.nodes[0]!.cgroupParent);
  const memory: Memory = { agents: [], control: [] };
  const pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).sort((a, b) => a - b);
  for (const pid of pids) {
    const role = roleOfProcess(pid, info.baseDir, cgroupRoot);
    if (role !== 'agents' && role !== 'control') continue;
    try {
      const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m !== null) memory[role].push(Number(m[1]) / 1024);
    } catch {
      // gone meanwhile
    }
  }
  return memory;
}

// ---------------------------------------------------------------------------------------------
// What a side measures

interface Side {
  /** Per pod, ms, ascending. */
  readonly times: number[];
  readonly wallMs: number;
  readonly cpu: CpuUse;
  /** Medians of the side's stages, ms, by name. */
  readonly stages: ReadonlyMap<string, number>;
  /** tugboat only: the agents' and members' memory before the creates and with every pod Running. */
  readonly memory?: { readonly idle: Memory; readonly running: Memory };
}

const median = (xs: readonly number[]): number => percentile([...xs].sort((a, b) => a - b), 50);

interface Placement {
  readonly name: string;
  readonly node: NodeInfo;
}

function placements(info: ClusterInfo, prefix: string, n: number): Placement[] {
  return Array.from({ length: n }, (_, i) => ({ name: `${prefix}-${i}`, node: info.nodes[i % info.nodes.length]! }));
}

/** waitUntil polls `pending` (what is not done yet) until it returns nothing. */
async function waitUntil(what: string, timeoutMs: number, pending: () => Promise<string[]>): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const left = await pending();
    if (left.length === 0) return;
    if (performance.now() > deadline) throw new Error(`${what}: not done after ${timeoutMs / 1000} s: ${left.slice(0, 5).join('; ')}${left.length > 5 ? '; ...' : ''}`);
    await sleep(200);
  }
}

/** runtimeEmpty says what sandboxes and containers are still in the nodes' containerds. */
async function runtimeEmpty(info: ClusterInfo, cris: ReadonlyMap<string, CriClient>): Promise<string[]> {
  const left: string[] = [];
  await Promise.all(
    info.nodes.map(async (n) => {
      const cri = cris.get(n.name)!;
      const [sandboxes, containers] = await Promise.all([cri.listPodSandbox(), cri.listContainers()]);
      if (sandboxes.length + containers.length > 0) left.push(`${n.name}: ${sandboxes.length} sandboxes, ${containers.length} containers`);
    }),
  );
  return left;
}

// ---------------------------------------------------------------------------------------------
// tugboat: through the API

const isRunning = (p: Pod): boolean =>
  p.status?.phase === 'Running' && (p.status.containerStatuses ?? []).length > 0 && (p.status.containerStatuses ?? []).every((c) => c.state?.running !== undefined);

function podObject(p: Placement): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: p.name, namespace: NAMESPACE },
    spec: { nodeName: p.node.name, terminationGracePeriodSeconds: 1, containers: [{ name: 'web', image: IMAGE, imagePullPolicy: 'Never' }] },
  };
}

/** CriTimes: when a pod's CRI calls reached and left its node's containerd (ms since the epoch). */
interface CriTimes {
  runReceived?: number;
  runReturned?: number;
  createReceived?: number;
  startReturned?: number;
}

/**
 * criTimeline reads the nodes' containerd logs (info level: one line when a CRI call arrives and
 * one when it returns, with wall-clock times) for the pods (sandboxes) named `names`.
 */
function criTimeline(info: ClusterInfo, names: ReadonlySet<string>): Map<string, CriTimes> {
  const out = new Map<string, CriTimes>();
  const at = (name: string): CriTimes => {
    let t = out.get(name);
    if (t === undefined) out.set(name, (t = {}));
    return t;
  };
  for (const n of info.nodes) {
    let text = '';
    try {
      text = readFileSync(join(n.logDir, 'containerd.log'), 'utf8');
    } catch {
      continue;
    }
    const bySandbox = new Map<string, string>();
    const byContainer = new Map<string, string>();
    for (const line of text.split('\n')) {
      const m = /^time="([^"]+)" level=info msg="(.*)"$/.exec(line);
      if (m === null) continue;
      const time = Date.parse(m[1]!.replace(/(\.\d{3})\d*Z$/, '$1Z'));
      const msg = m[2]!;
      let x: RegExpExecArray | null;
      if ((x = /^RunPodSandbox for &PodSandboxMetadata\{Name:([^,]+),.*?\}(?: returns sandbox id \\"([0-9a-f]+)\\")?$/.exec(msg)) !== null) {
        if (!names.has(x[1]!)) continue;
        if (x[2] === undefined) at(x[1]!).runReceived ??= time;
        else {
          at(x[1]!).runReturned ??= time;
          bySandbox.set(x[2], x[1]!);
        }
      } else if ((x = /^CreateContainer within sandbox \\"([0-9a-f]+)\\" for (?:container )?&ContainerMetadata\{.*?\}(?: returns container id \\"([0-9a-f]+)\\")?$/.exec(msg)) !== null) {
        const name = bySandbox.get(x[1]!);
        if (name === undefined) continue;
        if (x[2] === undefined) at(name).createReceived ??= time;
        else byContainer.set(x[2], name);
      } else if ((x = /^StartContainer for \\"([0-9a-f]+)\\" returns successfully$/.exec(msg)) !== null) {
        const name = byContainer.get(x[1]!);
        if (name !== undefined) at(name).startReturned ??= time;
      }
    }
  }
  return out;
}

/** criStages are the medians (ms) of the stages the containerd logs show, from each pod's first
 *  call (its create call, or the raw side's RunPodSandbox call) to its StartContainer's return. */
function criStages(info: ClusterInfo, firstCall: ReadonlyMap<string, number>): Map<string, number> {
  const times = criTimeline(info, new Set(firstCall.keys()));
  const stage = (from: (t: CriTimes, call: number) => number | undefined, to: (t: CriTimes) => number | undefined): number =>
    median(
      [...firstCall].flatMap(([name, call]) => {
        const t = times.get(name) ?? {};
        const a = from(t, call);
        const b = to(t);
        return a === undefined || b === undefined ? [] : [b - a];
      }),
    );
  return new Map([
    ['call -> RunPodSandbox received', stage((_, call) => call, (t) => t.runReceived)],
    ['RunPodSandbox (in containerd)', stage((t) => t.runReceived, (t) => t.runReturned)],
    ['RunPodSandbox returned -> CreateContainer received', stage((t) => t.runReturned, (t) => t.createReceived)],
    ['CreateContainer received -> StartContainer returned', stage((t) => t.createReceived, (t) => t.startReturned)],
  ]);
}

async function tugSide(info: ClusterInfo, client: TugClient, cris: ReadonlyMap<string, CriClient>, round: number): Promise<Side> {
  const pods = placements(info, `bench-r${round}`, podCount);
  const wanted = new Set(pods.map((p) => p.name));
  const callAt = new Map<string, { perf: number; epoch: number }>();
  const answeredAt = new Map<string, number>();
  const runningAt = new Map<string, number>();
  const last = new Map<string, Pod>();
  const abort = new AbortController();
  let listed: () => void = () => {};
  const watchListed = new Promise<void>((resolve) => (listed = resolve));
  let allRunning: () => void = () => {};
  const everyPodRunning = new Promise<void>((resolve) => (allRunning = resolve));
  const note = (p: Pod, now: number): void => {
    const name = p.metadata.name ?? '';
    if (!wanted.has(name)) return;
    last.set(name, p);
    if (runningAt.has(name) || !isRunning(p) || !callAt.has(name)) return;
    runningAt.set(name, now);
    if (runningAt.size === pods.length) allRunning();
  };
  const watching = (async () => {
    for await (const ev of client.pods.watch({ namespace: NAMESPACE, signal: abort.signal })) {
      const now = performance.now();
      if (ev.type === 'RESYNC') {
        listed();
        for (const p of ev.items) note(p, now);
      } else if (ev.type === 'ADDED' || ev.type === 'MODIFIED') {
        note(ev.object, now);
      }
    }
  })();
  const watchEnded = watching.then(() => {
    if (!abort.signal.aborted) throw new Error('the pods watch ended');
  });
  try {
    await Promise.race([watchListed, watchEnded]);
    await sleep(PAUSE_MS);
    const idle = memoryOf(info);
    const done = cpuUse(info);
    const t0 = performance.now();
    const creates = Promise.all(
      pods.map(async (p) => {
        callAt.set(p.name, { perf: performance.now(), epoch: Date.now() });
        await client.pods.create(podObject(p));
        answeredAt.set(p.name, performance.now());
      }),
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const late = pods.filter((p) => !runningAt.has(p.name)).map((p) => {
          const st = last.get(p.name)?.status;
          const waiting = st?.containerStatuses?.[0]?.state?.waiting;
          return `${p.name} on ${p.node.name}: ${st?.phase ?? 'no status'}${waiting === undefined ? '' : ` (${waiting.reason ?? ''}: ${waiting.message ?? ''})`}`;
        });
        reject(new Error(`tugboat: ${late.length} pods not Running after ${START_TIMEOUT_MS / 1000} s: ${late.slice(0, 5).join('; ')}`));
      }, START_TIMEOUT_MS);
    });
    try {
      await Promise.race([Promise.all([creates, everyPodRunning]), watchEnded, timedOut]);
    } finally {
      clearTimeout(timer);
    }
    const cpu = done();
    const running = memoryOf(info);
    const times = pods.map((p) => runningAt.get(p.name)! - callAt.get(p.name)!.perf).sort((a, b) => a - b);
    const wallMs = Math.max(...runningAt.values()) - t0;
    // Stages: the containerd logs' times are wall-clock times, as Date.now() here.
    const runningEpoch = (name: string): number => callAt.get(name)!.epoch + (runningAt.get(name)! - callAt.get(name)!.perf);
    const stages = criStages(info, new Map(pods.map((p) => [p.name, callAt.get(p.name)!.epoch])));
    const timeline = criTimeline(info, wanted);
    const statusPath = pods.flatMap((p) => {
      const started = timeline.get(p.name)?.startReturned;
      return started === undefined ? [] : [runningEpoch(p.name) - started];
    });
    stages.set('StartContainer returned -> Running seen', median(statusPath));
    stages.set('create answered', median(pods.map((p) => answeredAt.get(p.name)! - callAt.get(p.name)!.perf)));
    return { times, wallMs, cpu, stages, memory: { idle, running } };
  } finally {
    abort.abort();
    await watching.catch(() => undefined);
    await Promise.all(
      pods.map(async (p) => {
        try {
          await client.pods.delete(NAMESPACE, p.name);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }),
    );
    await waitUntil('tugboat clean-up', CLEANUP_TIMEOUT_MS, async () => {
      const left = (await client.pods.list({ namespace: NAMESPACE })).items.filter((p) => wanted.has(p.metadata.name ?? '')).map((p) => `pod ${p.metadata.name}`);
      return [...left, ...(await runtimeEmpty(info, cris))];
    });
  }
}

// ---------------------------------------------------------------------------------------------
// raw: straight to each node's containerd

interface RawPod {
  readonly cri: CriClient;
  sandboxId: string | undefined;
  containerId: string | undefined;
}

/** rawLogRoot is where the raw side's sandboxes log (under the cluster's dir, so down removes it). */
const rawLogRoot = (info: ClusterInfo, node: NodeInfo): string => join(info.baseDir, node.name, 'bench-raw');

/** rawConfigs are the sandbox and container configs the agent would give the same pod, with a
 *  bench label instead of the agent's (which would make the agent adopt and remove them). */
function rawConfigs(info: ClusterInfo, p: Placement): { sandbox: PodSandboxConfigInit; container: ContainerConfigInit } {
  const uid = randomUUID();
  const labels = { 'tugboat.io/bench': 'raw' };
  return {
    sandbox: {
      metadata: { name: p.name, namespace: RAW_NAMESPACE, uid, attempt: 0 },
      hostname: p.name,
      logDirectory: join(rawLogRoot(info, p.node), `${RAW_NAMESPACE}_${p.name}_${uid}`),
      labels,
      annotations: {},
      linux: { cgroupParent: `${p.node.cgroupParent.replace(/\/+$/, '')}/pod${uid}` },
    },
    container: {
      metadata: { name: 'web', attempt: 0 },
      image: { image: IMAGE },
      logPath: 'web/0.log',
      labels,
      stdin: false,
      stdinOnce: false,
      tty: false,
      // As the agent gives a BestEffort container.
      linux: { resources: { cpuShares: 2n, cpuPeriod: 0n, cpuQuota: 0n, memoryLimitInBytes: 0n, oomScoreAdj: 1000n } },
    },
  };
}

async function removeRaw(info: ClusterInfo, cris: ReadonlyMap<string, CriClient>, started: readonly RawPod[]): Promise<void> {
  await Promise.all(
    started.map(async (r) => {
      if (r.containerId !== undefined) {
        await r.cri.stopContainer(r.containerId, 0);
        await r.cri.removeContainer(r.containerId);
      }
      if (r.sandboxId !== undefined) {
        await r.cri.stopPodSandbox(r.sandboxId);
        await r.cri.removePodSandbox(r.sandboxId);
      }
    }),
  );
  await waitUntil('raw clean-up', CLEANUP_TIMEOUT_MS, () => runtimeEmpty(info, cris));
  for (const n of info.nodes) rmSync(rawLogRoot(info, n), { recursive: true, force: true });
}

async function rawSide(info: ClusterInfo, cris: ReadonlyMap<string, CriClient>, prefix: string, pods: readonly Placement[]): Promise<Side> {
  const started: RawPod[] = [];
  try {
    await sleep(PAUSE_MS);
    const done = cpuUse(info);
    const t0 = performance.now();
    const results = await Promise.allSettled(
      pods.map(async (p) => {
        const { sandbox, container } = rawConfigs(info, p);
        const r: RawPod = { cri: cris.get(p.node.name)!, sandboxId: undefined, containerId: undefined };
        started.push(r);
        const epoch = Date.now();
        const start = performance.now();
        r.sandboxId = await r.cri.runPodSandbox(sandbox);
        r.containerId = await r.cri.createContainer(r.sandboxId, container, sandbox);
        await r.cri.startContainer(r.containerId);
        const end = performance.now();
        return { name: p.name, epoch, ms: end - start, end };
      }),
    );
    const cpu = done();
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${pods[i]!.name} on ${pods[i]!.node.name}: ${(r.reason as Error).message}`] : []));
    if (failed.length > 0) throw new Error(`${prefix}: ${failed.length} containers failed to start: ${failed.slice(0, 3).join('; ')}`);
    const ok = results.map((r) => (r as PromiseFulfilledResult<{ name: string; epoch: number; ms: number; end: number }>).value);
    return {
      times: ok.map((r) => r.ms).sort((a, b) => a - b),
      wallMs: Math.max(...ok.map((r) => r.end)) - t0,
      cpu,
      stages: criStages(info, new Map(ok.map((r) => [r.name, r.epoch]))),
    };
  } finally {
    await removeRaw(info, cris, started);
  }
}

// ---------------------------------------------------------------------------------------------

let info: ClusterInfo | undefined;

/** down takes the bench cluster down once and checks that nothing of it is left. */
const down = clusterTeardown(CLUSTER);

async function main(): Promise<void> {
  const cpu = cpus();
  console.log(`tugboat pod start benchmark: ${podCount} pods on ${NODES} nodes through the API, against the same containers started directly through CRI, in the same run`);
  console.log(`command: node ${relative(process.cwd(), process.argv[1] ?? 'test/bench/pods.ts')}${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`);
  console.log(`machine: ${cpu.length} vCPU (${cpu[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, kernel ${release()}, Node ${process.version}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (down.started || keep) process.exit(130);
      console.log(`\n${sig}: stopping`);
      void down().then(
        () => process.exit(130),
        (err: unknown) => {
          console.error(`bench: ${(err as Error).message}`);
          process.exit(1);
        },
      );
    });
  }

  await downCluster(CLUSTER); // a crashed earlier run
  const t = performance.now();
  info = await upCluster({ name: CLUSTER, nodes: NODES, control: NODES, progress: (line) => console.log(`  up: ${line}`) });
  console.log(`cluster ${CLUSTER} up in ${f0((performance.now() - t) / 1000)} s: ${info.nodes.map((n) => `${n.name} ${n.ip} pods ${n.podCIDR ?? '?'}`).join(', ')}`);
  const cluster = info;
  const cris = new Map(cluster.nodes.map((n) => [n.name, new CriClient(n.containerdSocket, { timeoutMs: START_TIMEOUT_MS })]));
  const client = new TugClient({ endpoints: cluster.endpoints, security: adminSecurity(cluster.baseDir) });
  try {
    const v = await cris.get(cluster.nodes[0]!.name)!.version();
    console.log(`containerd: ${v.runtimeName} ${v.runtimeVersion} (CRI ${v.runtimeApiVersion}), one per node; CNI bridge + host-local; cgroupfs`);
    console.log(`image ${IMAGE}, pull policy Never; ${PAUSE_MS / 1000} s pause before each side`);

    process.stdout.write('warm-up: one raw container per node ... ');
    await rawSide(cluster, cris, 'warm-up', placements(cluster, 'warm-up', cluster.nodes.length));
    console.log('done');

    const results: { round: number; tug: Side; raw: Side }[] = [];
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? (['tug', 'raw'] as const) : (['raw', 'tug'] as const);
      console.log(`\nround ${round} (${order.join(' first, then ')})`);
      const r: { tug?: Side; raw?: Side } = {};
      for (const side of order) {
        const s = side === 'tug' ? await tugSide(cluster, client, cris, round) : await rawSide(cluster, cris, `raw round ${round}`, placements(cluster, `raw-r${round}`, podCount));
        r[side] = s;
        const stages = [...s.stages].map(([k, ms]) => `${k} ${f0(ms)}`).join(', ');
        console.log(
          `  ${side === 'tug' ? 'tugboat' : 'raw CRI'}: p50 ${f0(percentile(s.times, 50))} ms, p99 ${f0(percentile(s.times, 99))} ms, max ${f0(s.times[s.times.length - 1]!)} ms, wall ${f0(s.wallMs)} ms; medians ms: ${stages}`,
        );
        console.log(
          `    CPU s: ${CPU_ROLES.map((role) => `${role} ${f1(s.cpu.seconds.get(role)!)}`).join(', ')}, kernel/unseen ${f1(s.cpu.unattributed)}; machine busy ${f0(s.cpu.busyPct)}%, other processes ${f0(s.cpu.othersPct)}%`,
        );
        if (s.memory !== undefined) {
          const { idle, running } = s.memory;
          const list = (xs: readonly number[]): string => xs.map(f0).join(', ');
          console.log(
            `    VmRSS MiB before the creates -> with ${f0(podCount / cluster.nodes.length)} pods per node Running: agents ${list(idle.agents)} -> ${list(running.agents)}; control ${list(idle.control)} -> ${list(running.control)}`,
          );
        }
      }
      results.push({ round, tug: r.tug!, raw: r.raw! });
    }

    const measures: [string, (s: Side) => number][] = [
      ['p50', (s) => percentile(s.times, 50)],
      ['p99', (s) => percentile(s.times, 99)],
      ['max', (s) => s.times[s.times.length - 1]!],
      ['wall', (s) => s.wallMs],
    ];
    console.log(`\nResults: ${podCount} pods, ms from the create call (tugboat: to Running seen through the watch; raw: to StartContainer returned)`);
    console.log(
      table([
        ['round', 'first', 'tugboat p50', 'p99', 'max', 'wall', 'raw p50', 'p99', 'max', 'wall', 'other processes CPU % (tug / raw)'],
        ...results.map(({ round, tug, raw }) => [
          String(round),
          round % 2 === 1 ? 'tugboat' : 'raw',
          ...measures.map(([, m]) => f0(m(tug))),
          ...measures.map(([, m]) => f0(m(raw))),
          `${f0(tug.cpu.othersPct)} / ${f0(raw.cpu.othersPct)}`,
        ]),
      ]),
    );
    console.log('\ntugboat / raw');
    console.log(
      table([
        ['measure', ...results.map((r) => `round ${r.round}`), 'median'],
        ...measures.map(([name, m]) => {
          const ratios = results.map((r) => m(r.tug) / m(r.raw));
          return [name, ...ratios.map((x) => `${f2(x)}x`), `${f2(median(ratios))}x`];
        }),
      ]),
    );
    console.log('\nstages, median ms over the pods (from the containerd logs\' times; "call" is the create call, or the raw first call)');
    const stageNames = [...new Set(results.flatMap((r) => [...r.tug.stages.keys()].map((k) => `tugboat: ${k}`).concat([...r.raw.stages.keys()].map((k) => `raw: ${k}`))))];
    console.log(
      table([
        ['stage', ...results.map((r) => `round ${r.round}`)],
        ...stageNames.map((name) => [
          name,
          ...results.map((r) => {
            const [side, key] = name.split(': ') as [string, string];
            return f0((side === 'tugboat' ? r.tug : r.raw).stages.get(key) ?? NaN);
          }),
        ]),
      ]),
    );
    console.log(`\nCPU seconds used while starting the ${podCount} pods, median over rounds (the machine has ${cpus().length} vCPU)`);
    const cpuOf = (pick: (r: (typeof results)[number]) => Side, f: (c: CpuUse) => number): string => f1(median(results.map((r) => f(pick(r).cpu))));
    console.log(
      table([
        ['side', ...CPU_ROLES, 'kernel/unseen', 'machine busy %'],
        ...(
          [
            ['tugboat', (r) => r.tug],
            ['raw CRI', (r) => r.raw],
          ] as [string, (r: (typeof results)[number]) => Side][]
        ).map(([name, pick]) => [
          name,
          ...CPU_ROLES.map((role) => cpuOf(pick, (c) => c.seconds.get(role)!)),
          cpuOf(pick, (c) => c.unattributed),
          f0(median(results.map((r) => pick(r).cpu.busyPct))),
        ]),
      ]),
    );
    const most = (pick: (m: Memory) => number[], at: 'idle' | 'running'): string => f0(Math.max(...results.flatMap((r) => pick(r.tug.memory![at]))));
    console.log(
      `VmRSS MiB, largest over the rounds: an agent ${most((m) => m.agents, 'idle')} idle, ${most((m) => m.agents, 'running')} with ${f0(podCount / cluster.nodes.length)} pods Running; ` +
        `a control member ${most((m) => m.control, 'idle')} idle, ${most((m) => m.control, 'running')} with ${f0(podCount)} pods`,
    );
    console.log(`load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    client.close();
    for (const c of cris.values()) c.close();
  }
}

main()
  .then(
    () => 0,
    (err: unknown) => {
      console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      return 1;
    },
  )
  .then(async (code) => {
    if (keep) {
      if (info !== undefined) console.log(`\n--keep: cluster ${CLUSTER} left up (logs under ${info.baseDir}/node-*/logs); remove it with \`tug cluster down --name ${CLUSTER}\``);
      process.exit(code);
    }
    try {
      await down();
    } catch (err) {
      console.error(`bench: ${(err as Error).message}`);
      process.exit(1);
    }
    process.exit(code);
  });
