// observe.ts: what a chaos run watches besides its own traffic: who leads (every member asked
// every second), the workload's Ready replicas, the containers each node's containerd runs (for
// pods the API no longer has, and copies of the one-replica set), and after the run every
// member's own record of the terms it led, read from its log.
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TugClient } from '@tugboat/client';
import { CriClient, POD_NAMESPACE_LABEL, POD_NAME_LABEL, POD_UID_LABEL } from '@tugboat/cri';
import type { ClusterPlan } from '@tugboat/localcluster';
import type { ContainerSighting, LeaderClaim, SoloSample } from './checks.ts';
import type { LeaderSample, ReadySample } from './record.ts';
import type { Stoppable } from './traffic.ts';
import { workloadState } from './workload.ts';

/** every runs `fn` every `ms` until stopped; a failing call is skipped (the cluster may be broken on purpose). */
function every(ms: number, fn: () => Promise<void>): Stoppable {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const next = performance.now() + ms;
      await fn().catch(() => undefined);
      await sleep(Math.max(0, next - performance.now()));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** Observations are the samples taken while a run goes on. */
export interface Observations {
  readonly leaders: LeaderSample[];
  readonly ready: ReadySample[];
  readonly orphans: ContainerSighting[];
  readonly solo: SoloSample[];
  /** The leader seen last, if any. */
  leader(): string | undefined;
}

/** RunningContainer is a running container of a node, with its pod. */
export interface RunningContainer {
  readonly node: string;
  readonly podUid: string;
  readonly pod: string;
  readonly namespace: string;
}

/** NodeRuntimes holds a CRI client of every node's containerd for the length of a run. */
export class NodeRuntimes {
  readonly #clients: { readonly node: string; readonly socket: string; readonly cri: CriClient }[];

  constructor(plan: ClusterPlan) {
    this.#clients = plan.nodes.map((n) => ({ node: n.name, socket: n.paths.containerdSocket, cri: new CriClient(n.paths.containerdSocket, { timeoutMs: 2_000 }) }));
  }

  /** running lists the running containers of every node whose containerd answers. */
  async running(): Promise<RunningContainer[]> {
    const out: RunningContainer[] = [];
    for (const { node, socket, cri } of this.#clients) {
      if (!existsSync(socket)) continue;
      try {
        for (const c of await cri.listContainers({ state: { state: 1 } })) {
          const l = c.labels;
          if (l[POD_UID_LABEL] !== undefined) out.push({ node, podUid: l[POD_UID_LABEL], pod: l[POD_NAME_LABEL] ?? '', namespace: l[POD_NAMESPACE_LABEL] ?? '' });
        }
      } catch {
        // a node that is down or paused has no answer; its containers are judged when it is back
      }
    }
    return out;
  }

  close(): void {
    for (const { cri } of this.#clients) cri.close();
  }
}

/** observe starts the samplers of a run over `namespace`; times are ms since `t0`. */
export function observe(client: TugClient, plan: ClusterPlan, runtimes: NodeRuntimes, namespace: string, t0: number): Observations & Stoppable {
  const leaders: LeaderSample[] = [];
  const ready: ReadySample[] = [];
  const orphans: ContainerSighting[] = [];
  const solo: SoloSample[] = [];
  const at = (): number => performance.now() - t0;
  const loops = [
    every(1_000, async () => {
      // Each member is asked about itself, on its own: a member cut off answers late or not at
      // all without holding up the others. The leader is one that says it leads in the newest
      // term any member reports (a deposed leader may not know it yet).
      const answers = await Promise.all(plan.apiEndpoints.map((endpoint) => client.cluster.memberStatus({ endpoint, timeoutMs: 900 }).then((r) => r.member, () => undefined)));
      const term = Math.max(0, ...answers.map((m) => m?.term ?? 0));
      const leader = answers.find((m) => m?.role === 'leader' && m.term === term);
      leaders.push({ atMs: at(), leader: leader?.name ?? '', term });
    }),
    every(1_000, async () => {
      const s = await workloadState(client, namespace);
      ready.push({ atMs: at(), ready: s.ready, desired: s.desired });
    }),
    every(2_000, async () => {
      const running = (await runtimes.running()).filter((c) => c.namespace === namespace);
      const pods = (await client.pods.list({ namespace, timeoutMs: 3_000 })).items;
      const atMs = at();
      const live = new Map(pods.map((p) => [p.metadata.uid, p]));
      for (const c of running) if (!live.has(c.podUid)) orphans.push({ atMs, node: c.node, podUid: c.podUid, pod: c.pod });
      const copies = new Set(running.filter((c) => live.get(c.podUid)?.metadata.labels?.['app'] === 'solo' || (!live.has(c.podUid) && c.pod.startsWith('solo-'))).map((c) => `${c.pod} on ${c.node}`));
      solo.push({ atMs, copies: [...copies] });
    }),
  ];
  return {
    leaders,
    ready,
    orphans,
    solo,
    leader: () => {
      const last = leaders.at(-1);
      return last === undefined || last.leader === '' ? undefined : last.leader;
    },
    stop: async () => {
      await Promise.all(loops.map((l) => l.stop()));
    },
  };
}

/** leaderClaims reads, from every control member's log, each term it says it became leader of. */
export function leaderClaims(plan: ClusterPlan): LeaderClaim[] {
  const claims: LeaderClaim[] = [];
  for (const n of plan.nodes.filter((x) => x.control)) {
    let text = '';
    try {
      text = readFileSync(`${n.paths.logDir}/control.log`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (!line.includes('raft: became leader')) continue;
      try {
        const rec = JSON.parse(line) as { term?: number; msg?: string };
        if (rec.msg === 'raft: became leader' && typeof rec.term === 'number') claims.push({ member: n.name, term: rec.term });
      } catch {
        // a line cut short by a kill
      }
    }
  }
  return claims;
}
