// runner.ts: `tug chaos run`: one scenario against a running local cluster. It deploys the
// workload, starts the traffic and the samplers, then runs rounds until the duration is spent:
// each round plans its fault (schedule.ts), injects it, holds it, heals every fault and waits
// until the workload has its desired replicas Ready again, each answering at its own address. Then it reads every key once more,
// removes the workload, checks that nothing is left, judges the invariants (checks.ts) and
// returns the record a report is made of.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pod } from '@tugboat/api';
import { TugClient } from '@tugboat/client';
import {
  adminSecurity,
  chaosStatus,
  existingPlan,
  healAll,
  killMember,
  killNode,
  killPod,
  netem,
  partition,
  pauseNode,
  startNode,
} from '@tugboat/localcluster';
import type { ClusterPlan } from '@tugboat/localcluster';
import { HistoryRecorder, Rng } from '@tugboat/testing';
import {
  availabilityByPhase,
  availabilityHolds,
  linearizable,
  noOrphanContainers,
  nothingLeft,
  oneCopyOfSolo,
  oneLeaderPerTerm,
  perSecond,
  recoveredInTime,
} from './checks.ts';
import type { Recovery, Request } from './checks.ts';
import { leaderClaims, NodeRuntimes, observe } from './observe.ts';
import type { Observations } from './observe.ts';
import type { FaultSpan, RunRecord, WriteSample } from './record.ts';
import type { Scenario } from './scenario.ts';
import { faultOfRound, planFault } from './schedule.ts';
import type { ClusterView, PlannedFault } from './schedule.ts';
import { finalReads, KeySet, startApiClients, startServiceClient } from './traffic.ts';
import type { Stoppable } from './traffic.ts';
import { createWorkload, namespaceOf, rollout, servingAnswers, webPods, workloadState } from './workload.ts';

export interface RunOptions {
  /** The local cluster's name. */
  readonly cluster: string;
  /** Overrides the scenario's duration (the long form), ms. */
  readonly durationMs?: number;
  /** Overrides the scenario's seed. */
  readonly seed?: number;
  /** Default /var/lib/tugboat. */
  readonly stateRoot?: string;
  /** One line per step, for the user watching. */
  readonly progress?: (line: string) => void;
  /** The command that runs this again, for the report (the seed is added). */
  readonly command?: string;
}

/** RunError is a run that could not be carried out (not a failed check): the cluster was not fit, or the workload never came up. */
export class RunError extends Error {
  override readonly name = 'RunError';
}

const secs = (ms: number): string => `${(ms / 1_000).toFixed(1)} s`;

/** waitFor polls `test` until it holds (resolving with the time it did) or `boundMs` passed (undefined). */
async function waitFor(boundMs: number, test: () => Promise<boolean>): Promise<number | undefined> {
  const start = performance.now();
  while (performance.now() - start < boundMs) {
    if (await test().catch(() => false)) return performance.now();
    await sleep(250);
  }
  return undefined;
}

/**
 * soloForRound is the one-replica set's running pod as a round starts. When the round targets
 * it and it runs nowhere, it may be between nodes (a leader that took over late can still
 * evict it after the last round recovered): its replacement is waited for up to boundMs, as a
 * recovery is. undefined if it never runs.
 */
export async function soloForRound(running: () => Promise<Pod | undefined>, targeted: boolean, boundMs: number): Promise<Pod | undefined> {
  let solo = await running();
  if (solo !== undefined || !targeted) return solo;
  await waitFor(boundMs, async () => (solo = await running()) !== undefined);
  return solo;
}

/** clusterFit refuses a cluster that lacks what the scenario needs, or has a fault active. */
function clusterFit(plan: ClusterPlan, scenario: Scenario, cluster: string, stateRoot: string | undefined): void {
  const control = plan.nodes.filter((n) => n.control).length;
  if (control < scenario.needs.control || plan.nodes.length < scenario.needs.nodes) {
    throw new RunError(`scenario ${scenario.name} needs ${scenario.needs.control} control members and ${scenario.needs.nodes} nodes; local cluster ${cluster} has ${control} and ${plan.nodes.length} (tug cluster up --nodes ${Math.max(scenario.needs.nodes, scenario.needs.control)} --control ${scenario.needs.control})`);
  }
  const st = chaosStatus(cluster, stateRoot === undefined ? {} : { stateRoot });
  const active = st.down.length + st.paused.length + st.partitions.length + st.netem.length;
  if (active > 0) throw new RunError(`local cluster ${cluster} has faults active (tug chaos status); heal them first: tug chaos heal --all --name ${cluster}`);
}

/** inject applies a planned fault; returns what the chaos log calls its target. */
async function inject(p: PlannedFault, cluster: string, client: TugClient, namespace: string, opts: { stateRoot?: string }): Promise<string> {
  const f = p.fault;
  switch (f.action) {
    case 'kill-node':
      for (const n of p.nodes) await killNode(cluster, n, opts);
      return p.label;
    case 'restart-node':
      for (const n of p.nodes) {
        await killNode(cluster, n, opts);
        await startNode(cluster, n, opts);
      }
      return p.label;
    case 'kill-leader':
      await killMember(cluster, p.nodes[0]!, 'leader', opts);
      return p.label;
    case 'pause-node':
      for (const n of p.nodes) pauseNode(cluster, n, opts);
      return p.label;
    case 'partition':
      if (f.each) for (const n of p.nodes) partition(cluster, [n], p.from.filter((x) => x !== n), f.oneWay, opts);
      else partition(cluster, p.nodes, p.from, f.oneWay, opts);
      return p.label;
    case 'netem':
      for (const n of p.nodes) await netem(cluster, n, { delayMs: f.delayMs, jitterMs: f.jitterMs, lossPercent: f.lossPercent }, opts);
      return p.label;
    case 'kill-pod': {
      const pods = await webPods(client, namespace);
      const pod = pods[p.podPick % Math.max(1, pods.length)];
      if (pod === undefined) throw new RunError('no running web pod to kill');
      await killPod(cluster, pod.spec.nodeName!, pod.metadata.uid!, `${namespace}/${pod.metadata.name}`, opts);
      return `${pod.metadata.name} on ${pod.spec.nodeName}`;
    }
  }
}

/** runScenario runs `scenario` against a local cluster and returns its record (see the module comment). */
export async function runScenario(scenario: Scenario, opts: RunOptions): Promise<RunRecord> {
  const stateRoot = opts.stateRoot;
  const sr = stateRoot === undefined ? {} : { stateRoot };
  const say = opts.progress ?? (() => undefined);
  const plan = existingPlan(opts.cluster, stateRoot);
  clusterFit(plan, scenario, opts.cluster, stateRoot);
  const seed = opts.seed ?? scenario.seed;
  const durationMs = opts.durationMs ?? scenario.durationMs;
  const namespace = namespaceOf(scenario.name);
  const client = new TugClient({ endpoints: plan.apiEndpoints, security: adminSecurity(plan.baseDir), retryBudgetMs: 5_000 });
  const runtimes = new NodeRuntimes(plan);
  try {
    const startedAt = new Date().toISOString();
    const t0 = performance.now();
    const since = (): number => performance.now() - t0;
    const faults: FaultSpan[] = [];
    const recoveries: Recovery[] = [];
    const requests: Request[] = [];
    const writes: WriteSample[] = [];
    const history = new HistoryRecorder();
    const keys = new KeySet(scenario.workload.keys, t0);
    const stops: Stoppable[] = [];
    let obs: Observations | undefined;
    let clientNode = plan.nodes[0]!.name;
    try {
      say(`scenario ${scenario.name}, seed ${seed}, ${secs(durationMs)} on local cluster ${opts.cluster}`);
      const stale = await client.namespaces.get(namespace).catch(() => undefined);
      if (stale !== undefined) {
        say(`removing namespace ${namespace}, left by an earlier run`);
        await client.namespaces.delete(namespace);
        await waitFor(120_000, async () => (await client.namespaces.get(namespace).catch(() => undefined)) === undefined);
      }
      const vip = await createWorkload(client, namespace, scenario.workload.replicas);
      const up = await waitFor(120_000, async () => (await workloadState(client, namespace)).complete);
      if (up === undefined) throw new RunError(`the workload in ${namespace} did not become Ready within 120 s (tug get pods -n ${namespace})`);
      say(`workload ready in ${secs(since())}: ${scenario.workload.replicas} web pods behind ${vip}, a one-replica set, ${scenario.workload.writers} API clients on ${scenario.workload.keys} ConfigMaps at a time`);

      const netnsOf = (node: string): string => plan.nodes.find((n) => n.name === node)!.netnsPath;
      const observer = observe(client, plan, runtimes, namespace, t0);
      obs = observer;
      stops.push(observer);
      stops.push(startServiceClient(vip, () => netnsOf(clientNode), t0, (r) => requests.push(r)));
      stops.push(startApiClients(client, namespace, keys, scenario.workload.writers, history, Rng.forStream(seed, 'clients'), t0, (w) => writes.push(w)));
      await sleep(scenario.gapMs);

      const rng = Rng.forStream(seed, 'faults');
      const roundsStart = since();
      for (let round = 0; since() - roundsStart < durationMs; round++) {
        const fault = faultOfRound(scenario, round, rng);
        const status = await client.cluster.status({ timeoutMs: 5_000 }).catch(() => undefined);
        const runningSolo = async (): Promise<Pod | undefined> =>
          (await client.pods.list({ namespace, labelSelector: 'app=solo' }).catch(() => ({ items: [] as Pod[] }))).items.find((p) => p.status?.phase === 'Running');
        const solo = await soloForRound(runningSolo, fault.target === 'solo', scenario.recoverWithinMs);
        if (solo === undefined && fault.target === 'solo') {
          throw new RunError(`round ${round + 1}: the one-replica set's pod ran on no node for ${secs(scenario.recoverWithinMs)} (tug get pods -n ${namespace} -l app=solo)`);
        }
        const view: ClusterView = {
          nodes: plan.nodes.map((n) => ({ name: n.name, control: n.control })),
          leader: status?.members.find((m) => m.role === 'leader')?.name ?? observer.leader(),
          soloNode: solo?.spec.nodeName,
        };
        const planned = planFault(fault, round, view, rng);
        clientNode = planned.clientNode;
        if (fault.duringRollout) say(`round ${round + 1}: rolling the web Deployment to ${await rollout(client, namespace)}`);
        const startMs = since();
        const target = await inject(planned, opts.cluster, client, namespace, sr);
        say(`round ${round + 1} at ${secs(startMs)}: ${fault.action} ${target}${fault.holdMs > 0 ? `, held ${secs(fault.holdMs)}` : ''}`);
        if (fault.holdMs > 0) await sleep(fault.holdMs);
        await healAll(opts.cluster, sr);
        const healedAtMs = since();
        faults.push({ action: fault.action, target, startMs, endMs: healedAtMs });
        const recovered = await waitFor(scenario.recoverWithinMs, async () => (await workloadState(client, namespace)).complete && (await servingAnswers(client, namespace, netnsOf(clientNode))));
        const recoveredAtMs = recovered === undefined ? undefined : recovered - t0;
        recoveries.push({ fault: `${fault.action} ${target}`, healedAtMs, recoveredAtMs });
        say(`  healed; ${recoveredAtMs === undefined ? `NOT recovered within ${secs(scenario.recoverWithinMs)}` : `recovered in ${secs(recoveredAtMs - healedAtMs)}`}`);
        if (recoveredAtMs === undefined) break;
        await sleep(scenario.gapMs);
      }
    } finally {
      for (const s of stops.reverse()) await s.stop();
      await healAll(opts.cluster, sr).catch(() => undefined);
    }
    const ranMs = since();
    await finalReads(client, namespace, keys.used(), history);
    const seen = obs ?? { leaders: [], ready: [], orphans: [], solo: [] };

    say('removing the workload');
    await client.namespaces.delete(namespace).catch(() => undefined);
    const left: string[] = [];
    const gone = await waitFor(120_000, async () => (await runtimes.running()).every((c) => c.namespace !== namespace) && (await client.namespaces.get(namespace).catch(() => undefined)) === undefined);
    if (gone === undefined) {
      left.push(...(await runtimes.running()).filter((c) => c.namespace === namespace).map((c) => `container of ${c.pod} running on ${c.node}`));
      if ((await client.namespaces.get(namespace).catch(() => undefined)) !== undefined) left.push(`namespace ${namespace} still there 120 s after its deletion`);
    }
    const st = chaosStatus(opts.cluster, sr);
    left.push(...st.down.map((n) => `${n} down`), ...st.paused.map((n) => `${n} paused`), ...(st.partitions.length > 0 ? [`${st.partitions.length} partition drops`] : []), ...st.netem.map((f) => `netem on ${f.node}`));

    const phases = availabilityByPhase(requests, faults, recoveries);
    const checks = [
      recoveredInTime(recoveries, scenario.recoverWithinMs),
      availabilityHolds(phases, scenario.availability),
      oneLeaderPerTerm(leaderClaims(plan)),
      noOrphanContainers(seen.orphans, faults, 30_000),
      oneCopyOfSolo(seen.solo, faults, scenario.recoverWithinMs),
      linearizable(history.history()),
      nothingLeft(left),
    ];
    return {
      scenario: scenario.name,
      description: scenario.description,
      seed,
      cluster: opts.cluster,
      startedAt,
      durationMs: ranMs,
      faults,
      leaders: seen.leaders,
      ready: seen.ready,
      requests: perSecond(requests),
      writes,
      phases,
      checks,
      rerun: `${opts.command ?? 'tug chaos run'} --seed ${seed}${opts.durationMs === undefined ? '' : ` --duration ${Math.round(durationMs / 1_000)}s`}`,
    };
  } finally {
    runtimes.close();
    client.close();
  }
}
