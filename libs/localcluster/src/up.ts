// up.ts: `tug cluster up`: makes the network, starts containerd, tug-control and tug-agent in
// every node's network namespace, loads the offline images and waits until the cluster works.
// Every process is recorded in the state file as soon as it starts, so `down` can undo a
// half-made cluster.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CriClient } from '@tugboat/cri';
import { TugClient } from '@tugboat/client';
import type { Node } from '@tugboat/api';
import type { TlsFiles } from '@tugboat/pki';
import type { Security } from '@tugboat/proto';
import { containerdConfig, launchSpecs, START_ORDER } from './commands.ts';
import type { Programs, Role } from './commands.ts';
import { bridgedTrafficFiltered, checkHost, hostAddresses, iptablesArgs, run } from './host.ts';
import { leftovers } from './leftovers.ts';
import { ensureImageTars, importImages } from './images.ts';
import { bridgeAcceptRule, forwardMayBlock } from './iptables.ts';
import { createNetwork } from './network.ts';
import { adminSecurity, makeClusterPki } from './pki.ts';
import { PlanError, planCluster, subnetOverlaps } from './plan.ts';
import type { ClusterPlan, PlanOptions } from './plan.ts';
import { isRunning, spawnDetached } from './procs.ts';
import { bundlePrograms, nodePrograms, programsDir } from './programs.ts';
import { readState, writeState } from './state.ts';
import type { ClusterState, ProcessRecord } from './state.ts';

export interface UpOptions extends PlanOptions {
  /** Start tug-agent on every node and wait for the Nodes to be Ready. Default true. */
  readonly agents?: boolean | undefined;
  /** How long to wait for each stage to be ready, ms. Default 120,000. */
  readonly timeoutMs?: number | undefined;
  /** progress gets one line per step. */
  readonly progress?: (line: string) => void | undefined;
}

export interface NodeInfo {
  readonly name: string;
  readonly ip: string;
  readonly control: boolean;
  readonly netns: string;
  /** Assigned by the control plane; undefined when the cluster runs without agents. */
  readonly podCIDR: string | undefined;
  readonly containerdSocket: string;
  /** IP:7400 on control nodes. */
  readonly apiAddress: string | undefined;
  readonly agentAddress: string;
  readonly cgroupParent: string;
  readonly logDir: string;
}

export interface ClusterInfo {
  readonly name: string;
  readonly subnet: string;
  readonly bridge: string;
  readonly hostIp: string;
  readonly baseDir: string;
  /** The API addresses of the control nodes, for TugClient and the tug context. */
  readonly endpoints: readonly string[];
  /** The files `tug` dials with (the cluster CA and the admin certificate and key). */
  readonly tls: TlsFiles;
  readonly agents: boolean;
  readonly nodes: readonly NodeInfo[];
}

/** ClusterExistsError: something of a cluster by that name is already there. */
export class ClusterExistsError extends Error {
  override readonly name = 'ClusterExistsError';
}

/** ReadinessError: the cluster did not become ready in time; says what and where the logs are. */
export class ReadinessError extends Error {
  override readonly name = 'ReadinessError';
}

/** subnetProblems names what already uses the plan's subnet: another local cluster or a host address. */
function subnetProblems(plan: ClusterPlan): string[] {
  const problems: string[] = [];
  const clustersDir = join(plan.stateRoot, 'clusters');
  for (const other of existsSync(clustersDir) ? readdirSync(clustersDir) : []) {
    if (other === plan.name) continue;
    try {
      const st = readState(join(clustersDir, other, 'state.json'));
      if (st?.subnet === plan.subnet) problems.push(`local cluster ${other} uses ${plan.subnet}`);
    } catch {
      // an unreadable state file is `down`'s business
    }
  }
  for (const a of hostAddresses()) {
    if (subnetOverlaps(plan.subnet, a.address, a.prefixlen)) problems.push(`${a.ifname} has ${a.address}/${a.prefixlen}`);
  }
  return problems;
}

/** Recorder keeps the state file in step with what was started. */
class Recorder {
  readonly plan: ClusterPlan;
  state: ClusterState;

  constructor(plan: ClusterPlan) {
    this.plan = plan;
    this.state = {
      version: 1,
      name: plan.name,
      subnet: plan.subnet,
      nodes: plan.nodes.length,
      control: plan.nodes.filter((n) => n.control).length,
      createdAt: new Date().toISOString(),
      processes: [],
      iptablesRules: [],
    };
  }

  save(change: Partial<Pick<ClusterState, 'processes' | 'iptablesRules'>>): void {
    this.state = { ...this.state, ...change };
    writeState(this.plan.stateFile, this.state);
  }
}

function logTail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** waitUntil polls check (which returns what is not ready yet) until it returns nothing; fails
 *  early when a process of the cluster has exited. */
async function waitUntil(what: string, rec: Recorder, timeoutMs: number, check: () => Promise<string[]>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending: string[] = [];
  for (;;) {
    const dead = rec.state.processes.filter((p) => !isRunning(p));
    if (dead.length > 0) {
      const d = dead[0]!;
      throw new ReadinessError(
        `${d.role} on ${d.node} (pid ${d.pid}) exited while waiting for ${what}; its log ${d.logFile} ends with:\n${logTail(d.logFile, 15)}`,
      );
    }
    pending = await check();
    if (pending.length === 0) return;
    if (Date.now() > deadline) break;
    await sleep(250);
  }
  const logs = [...new Set(rec.state.processes.map((p) => p.logFile))].sort();
  throw new ReadinessError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}; not ready:\n  ${pending.join('\n  ')}\nlogs:\n  ${logs.join('\n  ')}`);
}

function startRole(rec: Recorder, role: Role, programs: Programs): void {
  for (const spec of launchSpecs(rec.plan, role, programs)) {
    const id = spawnDetached(spec.argv, spec.logFile);
    const record: ProcessRecord = { node: spec.node, role, pid: id.pid, startTicks: id.startTicks, logFile: spec.logFile };
    rec.save({ processes: [...rec.state.processes, record] });
  }
}

async function containerdsAnswering(plan: ClusterPlan): Promise<string[]> {
  const pending: string[] = [];
  await Promise.all(
    plan.nodes.map(async (n) => {
      const socket = n.paths.containerdSocket;
      if (!existsSync(socket)) {
        pending.push(`${n.name}: containerd socket ${socket} not there yet`);
        return;
      }
      const cri = new CriClient(socket, { timeoutMs: 2_000 });
      try {
        await cri.version();
      } catch (err) {
        pending.push(`${n.name}: containerd at ${socket}: ${(err as Error).message.split('\n')[0]}`);
      } finally {
        cri.close();
      }
    }),
  );
  return pending.sort();
}

async function controlMembersHealthy(plan: ClusterPlan, security: Security): Promise<string[]> {
  const pending: string[] = [];
  const client = new TugClient({ endpoints: plan.apiEndpoints, security, retryBudgetMs: 2_000, attemptTimeoutMs: 1_000, unreachableRoundsMax: 1 });
  try {
    await Promise.all(
      plan.nodes.flatMap((n) => (n.apiAddress === undefined ? [] : [{ node: n.name, endpoint: n.apiAddress }])).map(async ({ node, endpoint }) => {
        try {
          const h = await client.health({ endpoint, timeoutMs: 1_500 });
          if (!h.ready) pending.push(`${node}: tug-control at ${endpoint} answers but is not ready (no leader yet)`);
        } catch (err) {
          pending.push(`${node}: tug-control at ${endpoint}: ${(err as Error).message.split('\n')[0]}`);
        }
      }),
    );
    if (pending.length === 0) {
      // Every member answers; each also publishes its API address through the log: wait until
      // the leader's view has all of them, so `tug cluster status` right after shows them.
      const st = await client.cluster.status({ timeoutMs: 1_500 });
      for (const m of st.members) if (!m.reachable || m.apiAddress === '') pending.push(`${m.name}: ${m.error || 'not reachable yet'}`);
    }
  } catch (err) {
    pending.push(`cluster status: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    client.close();
  }
  return pending.sort();
}

/** nodeProblem says why a Node object is not ready yet (undefined: it is). */
export function nodeProblem(name: string, node: Node | undefined): string | undefined {
  if (node === undefined) return `${name}: no Node object yet (tug-agent registers it)`;
  if ((node.spec?.podCIDR ?? '') === '') return `${name}: no pod CIDR assigned yet`;
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return `${name}: not Ready${ready?.message === undefined ? '' : ` (${ready.message})`}`;
  return undefined;
}

async function nodesReady(plan: ClusterPlan, security: Security, podCIDRs: Map<string, string>): Promise<string[]> {
  const client = new TugClient({ endpoints: plan.apiEndpoints, security, retryBudgetMs: 3_000, attemptTimeoutMs: 1_500 });
  try {
    const items = (await client.nodes.list()).items;
    const byName = new Map(items.map((n) => [n.metadata.name ?? '', n]));
    const pending: string[] = [];
    for (const n of plan.nodes) {
      const node = byName.get(n.name);
      const problem = nodeProblem(n.name, node);
      if (problem !== undefined) pending.push(problem);
      else podCIDRs.set(n.name, node!.spec!.podCIDR!);
    }
    return pending;
  } catch (err) {
    return [`listing Nodes at ${plan.apiEndpoints.join(',')}: ${(err as Error).message.split('\n')[0]}`];
  } finally {
    client.close();
  }
}

function infoOf(plan: ClusterPlan, agents: boolean, podCIDRs: ReadonlyMap<string, string>): ClusterInfo {
  return {
    name: plan.name,
    subnet: plan.subnet,
    bridge: plan.bridge,
    hostIp: plan.hostIp,
    baseDir: plan.baseDir,
    endpoints: plan.apiEndpoints,
    tls: plan.pki.admin,
    agents,
    nodes: plan.nodes.map((n) => ({
      name: n.name,
      ip: n.ip,
      control: n.control,
      netns: n.netns,
      podCIDR: podCIDRs.get(n.name),
      containerdSocket: n.paths.containerdSocket,
      apiAddress: n.apiAddress,
      agentAddress: n.agentAddress,
      cgroupParent: n.cgroupParent,
      logDir: n.paths.logDir,
    })),
  };
}

/**
 * upCluster makes and starts a local cluster and resolves when it is ready: every containerd
 * answers CRI, every control member is healthy and (with agents) every Node is Ready with a pod
 * CIDR. Throws PlanError (bad options), HostError (not root, programs missing, a host command
 * failed), ClusterExistsError, or ReadinessError (names what is not ready and the log files).
 * After a failure past the checks, what was made stays for inspection: `downCluster` removes it.
 */
export async function upCluster(opts: UpOptions = {}): Promise<ClusterInfo> {
  const plan = planCluster(opts);
  const agents = opts.agents ?? true;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const progress = opts.progress ?? (() => undefined);
  const { containerd } = checkHost();
  const existing = leftovers(plan.name, plan.stateRoot);
  if (existing.length > 0) {
    throw new ClusterExistsError(`a local cluster named ${plan.name} already exists (${existing.slice(0, 5).join('; ')}${existing.length > 5 ? '; ...' : ''}); run \`tug cluster down --name ${plan.name}\` first`);
  }
  const clash = subnetProblems(plan);
  if (clash.length > 0) throw new PlanError(`--subnet: ${plan.subnet} is already in use (${clash.join('; ')}); choose another with --subnet`);
  const tars = ensureImageTars(join(plan.stateRoot, 'images'));
  mkdirSync(plan.baseDir, { recursive: true });
  const rec = new Recorder(plan);
  rec.save({});
  const bundleStart = performance.now();
  await bundlePrograms(plan.baseDir);
  const programs = nodePrograms(plan.baseDir, containerd);
  progress(`programs: tug-control and tug-agent bundled into ${programsDir(plan.baseDir)} in ${Math.round(performance.now() - bundleStart)} ms`);
  await makeClusterPki(plan);
  const security = adminSecurity(plan.baseDir);
  progress(`certificates: cluster CA in ${plan.pki.dir}, one certificate per tug-control and tug-agent, tug's admin certificate, and the key Secrets are sealed with`);
  for (const n of plan.nodes) {
    const p = n.paths;
    for (const d of [p.containerdRoot, p.containerdState, p.runcRoot, p.cniConfDir, p.cniDataDir, p.agentDir, p.controlDir, p.logDir]) mkdirSync(d, { recursive: true });
    writeFileSync(p.containerdConfig, containerdConfig(n));
  }

  progress(`network: bridge ${plan.bridge} ${plan.hostIp}/24, ${plan.nodes.length} network namespaces`);
  createNetwork(plan);
  if (bridgedTrafficFiltered() && forwardMayBlock(run(['iptables-save', '-t', 'filter']))) {
    const rule = bridgeAcceptRule(plan.bridge, plan.iptablesComment);
    rec.save({ iptablesRules: [rule] });
    run(iptablesArgs('-I', rule));
    progress(`iptables: FORWARD accepts traffic within ${plan.bridge}`);
  }

  for (const role of START_ORDER) {
    if (role === 'agent' && !agents) continue;
    startRole(rec, role, programs);
    if (role === 'containerd') {
      progress(`containerd: started on ${plan.nodes.length} nodes, waiting for CRI`);
      await waitUntil('containerd', rec, timeoutMs, () => containerdsAnswering(plan));
      progress(`images: importing ${tars.join(', ')}`);
      await importImages(plan.nodes.map((n) => n.paths.containerdSocket), tars);
    } else if (role === 'control') {
      progress(`tug-control: started on ${plan.apiEndpoints.length} nodes, waiting for a leader`);
      await waitUntil('the control plane', rec, timeoutMs, () => controlMembersHealthy(plan, security));
    }
  }
  const podCIDRs = new Map<string, string>();
  if (agents) {
    progress(`tug-agent: started on ${plan.nodes.length} nodes, waiting for the Nodes to be Ready`);
    await waitUntil('the Nodes', rec, timeoutMs, () => nodesReady(plan, security, podCIDRs));
  }
  return infoOf(plan, agents, podCIDRs);
}
