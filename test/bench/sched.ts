// sched.ts (npm run bench:sched): pods bound per second by the scheduler, through the real
// control plane, onto hollow nodes; beside the raw store write rate of the same cluster.
//
//   node test/bench/sched.ts [--nodes 1000] [--pods 10000] [--inflight 64] [--writes 10000]
//                            [--heartbeat-seconds 2] [--node-monitor-grace 5] [--timeout-seconds 600]
//                            [--via pods|replicasets]
//                            [--phases throughput,end-to-end] [--summary-json] [--cpu-prof-dir DIR]
//
// Two measurements, each on a cluster of its own (--phases picks some):
//
// throughput: the scheduler's own rate, as kube-scheduler's scheduler_perf measures it. The
// members run every loop but the scheduler (`tug-control --controllers '*,-scheduler'`); the
// hollow nodes register, --pods bare pods are created and seen pending; then a Scheduler
// (libs/scheduler, the same code the leader runs) is started in this process over the API, as
// a scheduler process of its own would be, and binds them. Figures: binds per second from its
// start to the last bind seen, and from the first bind to the last (its informers' initial
// list excluded).
//
// end-to-end:
// What runs: three tug-control members (TugCluster: separate processes on 127.0.0.1-3, default
// settings; the scheduler runs inside the leader), and --nodes hollow nodes (HollowNodes, in a
// child process of their own, test/bench/sched-hollow.ts: simulated Nodes that heartbeat every
// --heartbeat-seconds and write a Running status for every pod bound to them; no containers).
//
// end-to-end phases, in one run on one cluster:
// 1. the hollow nodes register;
// 2. raw store writes: --writes ConfigMap creates (256-byte value) at --inflight in flight, each
//    call to the next member in turn (as `npm run bench:store`); then their namespace is deleted;
// 3. pods: --pods bare pods (no nodeName; one container requesting cpu 10m, memory 16Mi)
//    created through the API at --inflight in flight, spread over the members the same way.
//    A watch opened before the first create records, per pod, when a nodeName is first seen
//    (bound) and when phase Running is first seen. Figures: pods bound per second over the
//    whole run (first create -> last bind) and the peak over 1 s windows, create -> bound
//    latency, first create -> all Running, and bound/s divided by the store's writes/s.
// At the end: every member's VmRSS (/proc/PID/status) and V8 heap in use (its own report
// through ClusterService, as `tug cluster status -o wide` shows it) when idle, after the Nodes
// registered and at the end, and the CPU seconds each process used during the pods phase
// (members, hollow nodes, this client).
//
// --node-monitor-grace is the members' flag of that name (Leases older than that make a Node
// unreachable and its pods evicted): keep it a few heartbeats long.
// --via replicasets creates the pods through ReplicaSets of 100 replicas instead (the ReplicaSet
// controller makes the pods). --summary-json ends the end-to-end phase with one line
// `SUMMARY {...}` (ScaleSummary), which test/bench/scale.ts reads. --cpu-prof-dir DIR makes the members write V8 CPU profiles there.
//
// Nothing is left running: the cluster and the hollow process are stopped in `finally`, and on
// SIGINT/SIGTERM (the cluster harness kills its members when this process exits; the hollow
// process exits when its stdin closes).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ConfigMap, Pod, ReplicaSet } from '@tugboat/api';
import type { HollowStats } from '../support/hollow-nodes.ts';
import { pino } from 'pino';
import type { TugClient } from '@tugboat/client';
import type { TlsFiles } from '@tugboat/pki';
import { LeaderLoops } from '@tugboat/controllers';
import { Scheduler } from '@tugboat/scheduler';
import { TugCluster } from '../support/tug-cluster.ts';
import { controlBundle, cpuTicks, f0, f1, f2, percentile, table } from './measure.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    pods: { type: 'string', default: '10000' },
    inflight: { type: 'string', default: '64' },
    writes: { type: 'string', default: '10000' },
    'heartbeat-seconds': { type: 'string', default: '2' },
    'node-monitor-grace': { type: 'string', default: '5' },
    'timeout-seconds': { type: 'string', default: '600' },
    via: { type: 'string', default: 'pods' },
    phases: { type: 'string', default: 'throughput,end-to-end' },
    'summary-json': { type: 'boolean', default: false },
    'cpu-prof-dir': { type: 'string' },
  },
});
const nodes = Number(values.nodes);
const pods = Number(values.pods);
const inflight = Number(values.inflight);
const writes = Number(values.writes);
const heartbeatSeconds = Number(values['heartbeat-seconds']);
const nodeMonitorGrace = Number(values['node-monitor-grace']);
const timeoutSeconds = Number(values['timeout-seconds']);
const via = values.via;
const cpuProfDir = values['cpu-prof-dir'];
const phases = new Set((values.phases ?? '').split(',').map((p) => p.trim()).filter((p) => p !== ''));
if (phases.size === 0 || [...phases].some((p) => p !== 'throughput' && p !== 'end-to-end')) {
  console.error('bench: --phases lists throughput and/or end-to-end');
  process.exit(2);
}
if (via !== 'pods' && via !== 'replicasets') {
  console.error('bench: --via is pods or replicasets');
  process.exit(2);
}
for (const [flag, v] of [['nodes', nodes], ['pods', pods], ['inflight', inflight], ['writes', writes]] as const) {
  if (!(Number.isSafeInteger(v) && v > 0)) {
    console.error(`bench: --${flag} must be a positive integer`);
    process.exit(2);
  }
}
for (const [flag, v] of [['heartbeat-seconds', heartbeatSeconds], ['node-monitor-grace', nodeMonitorGrace], ['timeout-seconds', timeoutSeconds]] as const) {
  if (!(Number.isFinite(v) && v > 0)) {
    console.error(`bench: --${flag} must be a positive number`);
    process.exit(2);
  }
}

/** ScaleSummary is the end-to-end run's figures as one JSON line (--summary-json, read by scale.ts). */
export interface ScaleSummary {
  readonly nodes: number;
  readonly pods: number;
  readonly heartbeatSeconds: number;
  readonly storeWritesPerSecond: number;
  readonly podsBoundPerSecond: number;
  /** NaN (null in JSON) when not every pod ran. */
  readonly allRunningSeconds: number;
  /** Every member's VmRSS, MiB: idle, after the Nodes registered, at the end. */
  readonly rssIdleMiB: readonly number[];
  readonly rssNodesMiB: readonly number[];
  readonly rssEndMiB: readonly number[];
  /** Every member's V8 heap in use (its own report, garbage not yet collected included), MiB, at the same three points. */
  readonly heapIdleMiB: readonly number[];
  readonly heapNodesMiB: readonly number[];
  readonly heapEndMiB: readonly number[];
  /** At the end, every member's V8 heap as taken from the system, and what lies outside it (buffers, native objects), MiB. */
  readonly heapTotalEndMiB: readonly number[];
  readonly externalEndMiB: readonly number[];
  /** leader is the index of the leader among the members. */
  readonly leader: number;
  readonly leaderCpuSeconds: number;
  readonly running: number;
  /** Pods seen deleted during the run (evictions, when heartbeats came too late). */
  readonly deleted: number;
}

const STORE_NS = 'bench-store';
const PODS_NS = 'bench-sched';
/** USER_HZ: /proc times are in clock ticks of 1/100 s on Linux. */
const TICKS_PER_SECOND = 100;
const hollowMain = fileURLToPath(new URL('./sched-hollow.ts', import.meta.url));

// ---------------------------------------------------------------------------------------------
// /proc

/** rssMb is a process's VmRSS in MiB (NaN when it is gone). */
function rssMb(pid: number | undefined): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? NaN : Number(m[1]) / 1024;
  } catch {
    return NaN;
  }
}

/** MemberMemory is what a member reports of its V8 heap (used, taken from the system) and of the
 *  memory outside it, MiB. */
interface MemberMemory {
  readonly used: number;
  readonly total: number;
  readonly external: number;
}

/** memoryOf is every member's memory as it reports it (ClusterService); NaN for one that does not answer. */
async function memoryOf(client: TugClient, members: readonly { name: string }[]): Promise<MemberMemory[]> {
  const { members: reported } = await client.cluster.status();
  return members.map((m) => {
    const r = reported.find((x) => x.name === m.name);
    const mib = (bytes: number | undefined): number => (r?.reachable === true && bytes !== undefined ? bytes / 2 ** 20 : NaN);
    return { used: mib(r?.heapUsedBytes), total: mib(r?.heapTotalBytes), external: mib(r?.externalBytes) };
  });
}

/** cpuSeconds is the user + system CPU time a process has used, in seconds (NaN when it is gone). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------------------------------------
// Load

/** spread runs fn(0..count-1) with `concurrency` callers; caller w's i-th call goes to member w + i. */
async function spread(count: number, concurrency: number, fn: (i: number, member: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async (_, w) => {
      for (let k = 0; ; k++) {
        const i = next++;
        if (i >= count) return;
        await fn(i, w + k);
      }
    }),
  );
}

const value = randomBytes(192).toString('base64');

function configMap(name: string): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: STORE_NS }, data: { value } };
}

/** ORIGIN_LABEL names what a pod was made for: its own create call, or its ReplicaSet's. */
const ORIGIN_LABEL = 'bench-origin';
/** PODS_PER_SET: with --via replicasets, each ReplicaSet asks for this many pods (the last for the rest). */
const PODS_PER_SET = 100;

function podSpec(): Pod['spec'] {
  return { containers: [{ name: 'app', image: 'tugboat.local/hollow:1', resources: { requests: { cpu: '10m', memory: '16Mi' } } }] };
}

function pod(name: string): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: PODS_NS, labels: { app: 'sched-bench', [ORIGIN_LABEL]: name } }, spec: podSpec() };
}

function replicaSet(name: string, replicas: number): ReplicaSet {
  const labels = { app: 'sched-bench', [ORIGIN_LABEL]: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name, namespace: PODS_NS },
    spec: { replicas, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: podSpec() } },
  };
}

/** HollowProcess is the child process that runs the hollow nodes. */
interface HollowProcess {
  readonly child: ChildProcess;
  readonly ready: Promise<number>;
  readonly stats: Promise<HollowStats | undefined>;
}

function startHollow(endpoints: readonly string[], admin: TlsFiles | undefined): HollowProcess {
  const tls = admin === undefined ? [] : ['--ca-file', admin.caFile, '--cert-file', admin.certFile, '--key-file', admin.keyFile];
  const child = spawn(process.execPath, [hollowMain, '--endpoints', endpoints.join(','), '--nodes', String(nodes), '--heartbeat-seconds', String(heartbeatSeconds), ...tls], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  let ready!: (ms: number) => void;
  let failed!: (err: Error) => void;
  let stats!: (s: HollowStats | undefined) => void;
  const p = {
    child,
    ready: new Promise<number>((res, rej) => ((ready = res), (failed = rej))),
    stats: new Promise<HollowStats | undefined>((res) => (stats = res)),
  };
  lines.on('line', (line) => {
    const m = JSON.parse(line) as { ready?: number; stats?: HollowStats };
    if (m.ready !== undefined) ready(m.ready);
    if (m.stats !== undefined) stats(m.stats);
  });
  child.once('exit', (code, signal) => {
    failed(new Error(`the hollow nodes process exited (code ${code}, signal ${signal})`));
    stats(undefined);
  });
  return p;
}

async function stopHollow(h: HollowProcess): Promise<HollowStats | undefined> {
  if (h.child.exitCode !== null || h.child.signalCode !== null) return h.stats;
  h.child.stdin?.end();
  const t = setTimeout(() => h.child.kill('SIGKILL'), 10_000);
  const s = await h.stats;
  await new Promise<void>((r) => (h.child.exitCode !== null || h.child.signalCode !== null ? r() : h.child.once('exit', () => r())));
  clearTimeout(t);
  return s;
}

interface PodTimes {
  /** ms (performance.now) at which each create call was sent (a pod's, or a ReplicaSet's), by name. */
  readonly sent: Map<string, number>;
  /** When each pod was first seen, by pod name, and what it was made for (ORIGIN_LABEL). */
  readonly added: Map<string, number>;
  readonly origin: Map<string, string>;
  readonly bound: Map<string, number>;
  readonly running: Map<string, number>;
  /** Pods seen deleted (by anyone) during the run. */
  readonly deleted: Set<string>;
}

/** follow records when each pod in PODS_NS is first seen bound and first seen Running. */
async function follow(client: TugClient, fromRevision: number, times: PodTimes, signal: AbortSignal, onChange: () => void): Promise<void> {
  for await (const ev of client.watch<Pod>('Pod', { namespace: PODS_NS, fromRevision, signal })) {
    if (ev.type === 'DELETED') times.deleted.add(ev.object.metadata.name!);
    if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED') continue;
    const p = ev.object;
    const name = p.metadata.name!;
    const now = performance.now();
    if (!times.added.has(name)) {
      times.added.set(name, now);
      times.origin.set(name, p.metadata.labels?.[ORIGIN_LABEL] ?? '');
    }
    if (p.spec.nodeName !== undefined && p.spec.nodeName !== '' && !times.bound.has(name)) times.bound.set(name, now);
    if (p.status?.phase === 'Running' && !times.running.has(name)) times.running.set(name, now);
    onChange();
  }
}

function podName(i: number): string {
  return `p-${String(i).padStart(6, '0')}`;
}

function setName(i: number): string {
  return `rs-${String(i).padStart(4, '0')}`;
}

/** peakPerSecond is the most events in any 1 s window [t, t+1000) starting at an event. */
function peakPerSecond(sortedMs: readonly number[]): number {
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < sortedMs.length; hi++) {
    while (sortedMs[hi]! - sortedMs[lo]! >= 1_000) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

/** STALL_MS: waiting for all Running ends when nothing was bound or Running for this long. */
const STALL_MS = 60_000;

/** stalled resolves when --timeout-seconds have passed since t0, or nothing moved for STALL_MS. */
async function stalled(times: PodTimes, t0: number): Promise<'stalled'> {
  let seen = -1;
  let since = performance.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 1_000));
    const now = performance.now();
    const moved = times.bound.size + times.running.size;
    if (moved !== seen) [seen, since] = [moved, now];
    if (now - t0 > timeoutSeconds * 1000 || now - since > STALL_MS) return 'stalled';
  }
}

/** describeStuck says how many pods are not Running and shows a few of them as stored. */
async function describeStuck(client: TugClient, times: PodTimes): Promise<void> {
  const stuck = (await client.pods.list({ namespace: PODS_NS })).items.filter((p) => !times.running.has(p.metadata.name!));
  console.log(`not every pod was Running: ${times.running.size} of ${pods} seen Running, ${times.deleted.size} seen deleted; ${stuck.length} stored and not seen Running, e.g.:`);
  for (const p of stuck.slice(0, 5)) {
    console.log(`  ${p.metadata.name}: node ${p.spec.nodeName ?? '-'}, phase ${p.status?.phase ?? '-'}, deletionTimestamp ${p.metadata.deletionTimestamp ?? '-'}, conditions ${JSON.stringify(p.status?.conditions ?? [])}`);
  }
}

// ---------------------------------------------------------------------------------------------

/** startCluster starts three members; with --cpu-prof-dir they (only) write a V8 CPU profile there when they exit. */
async function startCluster(extraArgs: readonly string[]): Promise<TugCluster> {
  const nodeOptions = process.env['NODE_OPTIONS'];
  if (cpuProfDir !== undefined) process.env['NODE_OPTIONS'] = `${nodeOptions ?? ''} --cpu-prof --cpu-prof-dir=${cpuProfDir}`.trim();
  try {
    const grace = ['--node-monitor-grace', String(nodeMonitorGrace)];
    const program = await controlBundle();
    return await TugCluster.start({ size: 3, dirPrefix: 'tug-bench-sched-', logLevel: 'warn', readyTimeoutMs: 30_000, extraArgs: [...grace, ...extraArgs], program });
  } finally {
    if (nodeOptions === undefined) delete process.env['NODE_OPTIONS'];
    else process.env['NODE_OPTIONS'] = nodeOptions;
  }
}

/** pidsOf are the members' process ids (undefined for one not running). */
function pidsOf(cluster: TugCluster): (number | undefined)[] {
  return cluster.members.map((m) => m.pid);
}

/** createPods creates --pods bare pods at --inflight in flight, spread over the members; returns the create errors. */
async function createPods(cluster: TugCluster, sent: Map<string, number>): Promise<number> {
  const perMember = cluster.members.map((m) => cluster.client({ endpoints: [m.apiAddress], attemptTimeoutMs: 30_000, retryBudgetMs: 60_000 }));
  let errors = 0;
  await spread(pods, inflight, async (i, m) => {
    const obj = pod(podName(i));
    sent.set(obj.metadata.name!, performance.now());
    try {
      await perMember[m % perMember.length]!.create(obj);
    } catch (err) {
      if (errors++ === 0) console.error(`create Pod ${obj.metadata.name} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
  return errors;
}

/**
 * throughput: --pods pods pending on a cluster without a scheduler, then a Scheduler started in
 * this process binds them (see the module comment).
 */
async function throughput(): Promise<void> {
  console.log(`\n== throughput: ${f0(pods)} pods pending, then the scheduler started (members run with --controllers '*,-scheduler')`);
  const cluster = await startCluster(['--controllers', '*,-scheduler']);
  let hollow: HollowProcess | undefined;
  const killHollow = (): void => {
    if (hollow?.child.exitCode === null && hollow.child.signalCode === null) hollow.child.kill('SIGKILL');
  };
  process.on('exit', killHollow);
  const watchAbort = new AbortController();
  let loops: LeaderLoops | undefined;
  try {
    const client = cluster.client({ attemptTimeoutMs: 30_000, retryBudgetMs: 60_000 });
    hollow = startHollow(cluster.endpoints(), cluster.pki?.admin);
    const hollowPid = hollow.child.pid;
    console.log(`${f0(nodes)} hollow nodes registered in ${f0(await hollow.ready)} ms`);
    await client.namespaces.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: PODS_NS } });
    const { revision } = await client.pods.list({ namespace: PODS_NS });
    const times: PodTimes = { sent: new Map(), added: new Map(), origin: new Map(), bound: new Map(), running: new Map(), deleted: new Set() };
    let wake = (): void => {};
    const watching = follow(client, revision, times, watchAbort.signal, () => wake()).catch((err: unknown) => {
      if (!watchAbort.signal.aborted) console.error(`pods watch failed: ${err instanceof Error ? err.message : String(err)}`);
    });
    const until = async (cond: () => boolean, what: string): Promise<void> => {
      const deadline = performance.now() + timeoutSeconds * 1_000;
      while (!cond()) {
        if (performance.now() > deadline) throw new Error(`${what}: not within --timeout-seconds ${timeoutSeconds}`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 1_000);
        });
      }
    };
    const c0 = performance.now();
    const createErrors = await createPods(cluster, times.sent);
    const expected = pods - createErrors;
    await until(() => times.added.size >= expected, 'pods seen pending');
    console.log(`${f0(expected)} pods created and seen pending in ${f1((performance.now() - c0) / 1000)} s${createErrors > 0 ? ` (${createErrors} creates failed)` : ''}; none bound: ${times.bound.size === 0}`);

    const leader = await cluster.leader();
    const schedulerClient = cluster.client({ endpoints: [leader.apiAddress], attemptTimeoutMs: 30_000, retryBudgetMs: 60_000 });
    const cpuBefore = { members: pidsOf(cluster).map(cpuSeconds), hollow: cpuSeconds(hollowPid), bench: process.cpuUsage() };
    const t0 = performance.now();
    loops = new LeaderLoops({
      controllers: [new Scheduler()],
      isLeader: () => true,
      onLeadershipChange: () => () => {},
      client: schedulerClient,
      log: pino({ level: 'warn' }, pino.destination(2)),
    });
    loops.start();
    await until(() => times.bound.size >= expected, 'all pods bound');
    const bench = process.cpuUsage(cpuBefore.bench);
    const cpuAfter = { members: pidsOf(cluster).map(cpuSeconds), hollow: cpuSeconds(hollowPid) };
    const boundAt = [...times.bound.values()].sort((a, b) => a - b);
    const first = boundAt[0] ?? NaN;
    const last = boundAt.at(-1) ?? NaN;
    const used = cluster.members.map((m, i) => ({ leader: m.name === leader.name, s: cpuAfter.members[i]! - cpuBefore.members[i]! }));
    const cpuText = [
      used.filter((u) => u.leader).map((u) => f1(u.s)).join(''),
      used.filter((u) => !u.leader).map((u) => f1(u.s)).join(', '),
      f1((bench.user + bench.system) / 1e6),
      f1(cpuAfter.hollow - cpuBefore.hollow),
    ].join(' / ');
    console.log(
      table([
        ['measure', 'value'],
        ['pods bound/s, scheduler started -> last bind seen', f0(boundAt.length / ((last - t0) / 1000))],
        ['pods bound/s, first bind seen -> last bind seen', f0((boundAt.length - 1) / ((last - first) / 1000))],
        ['pods bound/s, peak 1 s window', f0(peakPerSecond(boundAt))],
        [`scheduler started -> first bind seen (its informers list ${f0(expected)} pods and the Nodes first), ms`, f0(first - t0)],
        ['scheduler started -> last bind seen, s', f1((last - t0) / 1000)],
        ['CPU s while binding: leader / followers / scheduler (this process) / hollow nodes', cpuText],
      ]),
    );
    watchAbort.abort();
    await watching;
  } finally {
    watchAbort.abort();
    await loops?.stop();
    if (hollow !== undefined) await stopHollow(hollow);
    await cluster.stop();
    process.off('exit', killHollow);
  }
}

async function main(): Promise<void> {
  const cpu = cpus();
  console.log(`tugboat scheduling benchmark: ${f0(pods)} pods on ${f0(nodes)} hollow nodes through 3 tug-control members on 127.0.0.1-3`);
  console.log(`machine: ${cpu.length} vCPU (${cpu[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}`);
  console.log(`command: node test/bench/sched.ts --nodes ${nodes} --pods ${pods} --inflight ${inflight} --writes ${writes} --heartbeat-seconds ${heartbeatSeconds} --node-monitor-grace ${nodeMonitorGrace} --via ${via} --phases ${[...phases].join(',')}`);
  if (phases.has('throughput')) await throughput();
  if (phases.has('end-to-end')) await endToEnd();
}

/** endToEnd: the store phase and the pods phase on one cluster whose leader runs the scheduler (see the module comment). */
async function endToEnd(): Promise<void> {
  console.log(`\n== end to end: ${f0(pods)} pods ${via === 'pods' ? 'created' : 'made by ReplicaSets'} and scheduled by the leader, beside the raw store write rate in the same run`);
  const cluster = await startCluster([]);
  let hollow: HollowProcess | undefined;
  const killHollow = (): void => {
    if (hollow?.child.exitCode === null && hollow.child.signalCode === null) hollow.child.kill('SIGKILL');
  };
  process.on('exit', killHollow);
  const watchAbort = new AbortController();
  try {
    const members = cluster.members;
    const pids = (): (number | undefined)[] => cluster.members.map((m) => m.pid);
    const perMember: TugClient[] = members.map((m) => cluster.client({ endpoints: [m.apiAddress], attemptTimeoutMs: 30_000, retryBudgetMs: 60_000 }));
    const to = (member: number): TugClient => perMember[member % perMember.length]!;
    const client = cluster.client({ attemptTimeoutMs: 30_000, retryBudgetMs: 60_000 });
    const rssIdle = pids().map(rssMb);
    const heapIdle = await memoryOf(client, members);

    // 1. Hollow nodes.
    hollow = startHollow(cluster.endpoints(), cluster.pki?.admin);
    const hollowPid = hollow.child.pid;
    const registerMs = await hollow.ready;
    console.log(`\n${f0(nodes)} hollow nodes registered in ${f0(registerMs)} ms (process ${hollowPid}); heartbeat every ${heartbeatSeconds} s`);
    const rssNodes = pids().map(rssMb);
    const heapNodes = await memoryOf(client, members);

    // 2. Raw store writes.
    await client.namespaces.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: STORE_NS } });
    const c0 = cpuTicks(pids().filter((p): p is number => p !== undefined));
    const w0 = performance.now();
    let writeErrors = 0;
    await spread(writes, inflight, async (i, m) => {
      try {
        await to(m).create(configMap(`cm-${i}`));
      } catch {
        writeErrors++;
      }
    });
    const writeSeconds = (performance.now() - w0) / 1000;
    const c1 = cpuTicks(pids().filter((p): p is number => p !== undefined));
    const writesPerSecond = (writes - writeErrors) / writeSeconds;
    const storeOthersPct = Math.max(0, (100 * (c1.busy - c0.busy - (c1.ours - c0.ours))) / (c1.total - c0.total));
    console.log(`store: ${f0(writes)} ConfigMap creates at ${inflight} in flight in ${f1(writeSeconds)} s: ${f0(writesPerSecond)} writes/s${writeErrors > 0 ? `, ${writeErrors} failed` : ''} (other processes ${f0(storeOthersPct)}% CPU)`);
    await client.namespaces.delete(STORE_NS);
    await new Promise((r) => setTimeout(r, 2_000));

    // 3. Pods.
    await client.namespaces.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: PODS_NS } });
    const { revision } = await client.pods.list({ namespace: PODS_NS });
    const times: PodTimes = { sent: new Map(), added: new Map(), origin: new Map(), bound: new Map(), running: new Map(), deleted: new Set() };
    let allRunning!: () => void;
    const done = new Promise<void>((r) => (allRunning = r));
    const watching = follow(client, revision, times, watchAbort.signal, () => {
      if (times.running.size >= pods) allRunning();
    }).catch((err: unknown) => {
      if (!watchAbort.signal.aborted) console.error(`pods watch failed: ${err instanceof Error ? err.message : String(err)}`);
    });
    const cpuBefore = { members: pids().map(cpuSeconds), hollow: cpuSeconds(hollowPid), bench: process.cpuUsage() };
    const m0 = cpuTicks([...pids().filter((p): p is number => p !== undefined), ...(hollowPid === undefined ? [] : [hollowPid])]);
    const t0 = performance.now();
    let createErrors = 0;
    let createsDone = 0;
    const progress = setInterval(() => {
      console.log(`  ${f1((performance.now() - t0) / 1000)} s: ${via === 'pods' ? 'pods' : 'ReplicaSets'} created ${f0(createsDone)}, pods seen ${f0(times.added.size)}, bound ${f0(times.bound.size)}, running ${f0(times.running.size)}`);
    }, 5_000);
    let createSeconds = NaN;
    try {
      const sets = Math.ceil(pods / PODS_PER_SET);
      await spread(via === 'pods' ? pods : sets, inflight, async (i, m) => {
        const obj = via === 'pods' ? pod(podName(i)) : replicaSet(setName(i), Math.min(PODS_PER_SET, pods - i * PODS_PER_SET));
        times.sent.set(obj.metadata.name!, performance.now());
        try {
          await to(m).create<Pod | ReplicaSet>(obj);
        } catch (err) {
          if (createErrors++ === 0) console.error(`create ${obj.kind} ${obj.metadata.name} failed: ${err instanceof Error ? err.message : String(err)}`);
        }
        createsDone++;
      }).then(() => {
        createSeconds = (performance.now() - t0) / 1000;
      });
      if ((await Promise.race([done, stalled(times, t0)])) === 'stalled') await describeStuck(client, times);
    } finally {
      clearInterval(progress);
    }
    const tEnd = performance.now();
    const m1 = cpuTicks([...pids().filter((p): p is number => p !== undefined), ...(hollowPid === undefined ? [] : [hollowPid])]);
    const bench = process.cpuUsage(cpuBefore.bench);
    const cpuAfter = { members: pids().map(cpuSeconds), hollow: cpuSeconds(hollowPid) };
    const rssEnd = pids().map(rssMb);
    const heapEnd = await memoryOf(client, members);
    const leader = await cluster.leader();
    watchAbort.abort();
    await watching;

    // Figures.
    const expected = via === 'pods' ? pods - createErrors : pods;
    const boundAt = [...times.bound.values()].sort((a, b) => a - b);
    const runningAt = [...times.running.values()].sort((a, b) => a - b);
    const lastBind = boundAt.at(-1) ?? NaN;
    const boundPerSecond = boundAt.length / ((lastBind - t0) / 1000);
    const peak = peakPerSecond(boundAt);
    const allRunningSeconds = times.running.size >= expected ? ((runningAt.at(-1) ?? NaN) - t0) / 1000 : NaN;
    const toBind = [...times.bound].map(([name, at]) => at - (times.sent.get(times.origin.get(name) ?? '') ?? NaN)).filter(Number.isFinite).sort((a, b) => a - b);
    const addedAt = [...times.added.values()].sort((a, b) => a - b);
    const bindToRun = [...times.running].map(([name, at]) => at - (times.bound.get(name) ?? at)).sort((a, b) => a - b);
    const othersPct = Math.max(0, (100 * (m1.busy - m0.busy - (m1.ours - m0.ours))) / (m1.total - m0.total));
    const hollowStats = await stopHollow(hollow);
    const reasons = new Map<string, number>();
    for (const e of (await client.events.list({ namespace: PODS_NS })).items) reasons.set(`${e.reason ?? '-'}`, (reasons.get(`${e.reason ?? '-'}`) ?? 0) + (e.count ?? 1));

    console.log('\nResults');
    console.log(
      table([
        ['measure', 'value'],
        ['store: ConfigMap creates/s at ' + String(inflight) + ' in flight', f0(writesPerSecond)],
        [`pods created/s (seen through the watch; ${via === 'pods' ? 'pod' : 'ReplicaSet'} create calls at ${inflight} in flight, all done after ${f1(createSeconds)} s)`, f0(addedAt.length / (((addedAt.at(-1) ?? NaN) - t0) / 1000))],
        ['pods bound/s, first create -> last bind', f0(boundPerSecond)],
        ['pods bound/s, peak 1 s window', f0(peak)],
        ['ratio bound/s / store writes/s', f2(boundPerSecond / writesPerSecond)],
        [`create call sent (${via === 'pods' ? 'the pod' : 'its ReplicaSet'}) -> bound seen, p50 / p99 ms`, `${f0(percentile(toBind, 50))} / ${f0(percentile(toBind, 99))}`],
        ['bound seen -> Running seen, p50 / p99 ms', `${f0(percentile(bindToRun, 50))} / ${f0(percentile(bindToRun, 99))}`],
        ['first create -> all Running, s', f1(allRunningSeconds)],
        ['pods bound / Running / create errors / deleted', `${f0(times.bound.size)} / ${f0(times.running.size)} / ${f0(createErrors)} / ${f0(times.deleted.size)}`],
      ]),
    );
    console.log('\nControl members (the scheduler runs in the leader)');
    console.log(
      table([
        ['member', 'role', 'VmRSS idle MiB', 'after nodes MiB', 'end MiB', 'heap in use MiB: idle, after nodes, end', 'at the end: heap taken, external MiB', 'CPU s, pods phase'],
        ...members.map((m, i) => [
          m.name,
          m.name === leader.name ? 'leader' : 'follower',
          f0(rssIdle[i]!),
          f0(rssNodes[i]!),
          f0(rssEnd[i]!),
          `${f0(heapIdle[i]!.used)}, ${f0(heapNodes[i]!.used)}, ${f0(heapEnd[i]!.used)}`,
          `${f0(heapEnd[i]!.total)}, ${f0(heapEnd[i]!.external)}`,
          f1(cpuAfter.members[i]! - cpuBefore.members[i]!),
        ]),
      ]),
    );
    const wallS = (tEnd - t0) / 1000;
    console.log(
      `\npods phase: ${f1(wallS)} s wall; CPU s: hollow nodes process ${f1(cpuAfter.hollow - cpuBefore.hollow)}, this client ${f1((bench.user + bench.system) / 1e6)} ` +
        `(the machine offers ${f1(wallS * cpus().length)}); other processes used ${f0(othersPct)}% of the machine`,
    );
    if (hollowStats !== undefined) {
      console.log(
        `hollow nodes wrote: ${f0(hollowStats.heartbeats)} heartbeats, ${f0(hollowStats.podsRunning)} Running statuses, ${f0(hollowStats.podsDeleted)} deletes, ` +
          `${f0(hollowStats.transactions)} transactions, ${f0(hollowStats.writeFailures)} failed writes; longest time between two heartbeats of a node ${f0(hollowStats.maxHeartbeatGapMs)} ms`,
      );
    }
    console.log(`events in ${PODS_NS}: ${[...reasons].map(([r, n]) => `${r} ${f0(n)}`).join(', ') || 'none'}`);
    if (values['summary-json'] === true) {
      const leaderAt = members.findIndex((m) => m.name === leader.name);
      const summary: ScaleSummary = {
        nodes,
        pods,
        heartbeatSeconds,
        storeWritesPerSecond: writesPerSecond,
        podsBoundPerSecond: boundPerSecond,
        allRunningSeconds,
        rssIdleMiB: rssIdle,
        rssNodesMiB: rssNodes,
        rssEndMiB: rssEnd,
        heapIdleMiB: heapIdle.map((m) => m.used),
        heapNodesMiB: heapNodes.map((m) => m.used),
        heapEndMiB: heapEnd.map((m) => m.used),
        heapTotalEndMiB: heapEnd.map((m) => m.total),
        externalEndMiB: heapEnd.map((m) => m.external),
        leader: leaderAt,
        leaderCpuSeconds: cpuAfter.members[leaderAt]! - cpuBefore.members[leaderAt]!,
        running: times.running.size,
        deleted: times.deleted.size,
      };
      console.log(`SUMMARY ${JSON.stringify(summary)}`);
    }
    if (times.running.size < expected) process.exitCode = 1;
  } finally {
    watchAbort.abort();
    if (hollow !== undefined) await stopHollow(hollow);
    await cluster.stop();
    process.off('exit', killHollow);
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
