// poller.ts: a client inside a local cluster that keeps asking the Ready pods of a set for
// their page, from one node's network namespace, and counts the answers: how the demo and the
// e2e suite show that a rolling update or a node kill drops no request. It expects the web
// image's page: the pod's own name.
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Pod } from '@tugboat/api';
import type { TugClient } from '@tugboat/client';
import { existingPlan } from './existing.ts';

const execFileP = promisify(execFile);

export interface PollOptions {
  /** The local cluster and the node whose network namespace the requests come from. */
  readonly cluster: string;
  readonly fromNode: string;
  readonly namespace: string;
  readonly labelSelector: string;
  /** Default 8080. */
  readonly port?: number;
  /** Pause between requests, ms. Default 50. */
  readonly intervalMs?: number;
}

export interface PollResult {
  /** Requests answered with the pod's name. */
  readonly ok: number;
  /** One line per failed request: which pod, and why. */
  readonly failed: readonly string[];
}

/** isServing: the pod is Ready and not terminating (what a client would send requests to). */
export function isServing(p: Pod): boolean {
  return p.metadata.deletionTimestamp === undefined && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

/**
 * pollServingPods asks the serving pods of the selection, in turn, for http://POD-IP:PORT/
 * (busybox wget inside the node's network namespace), with a fresh list before each request,
 * until stop() is called; stop resolves with the counts.
 */
export function pollServingPods(client: TugClient, opts: PollOptions): { stop: () => Promise<PollResult> } {
  const netns = existingPlan(opts.cluster).nodes.find((n) => n.name === opts.fromNode)?.netnsPath;
  if (netns === undefined) throw new Error(`local cluster ${opts.cluster} has no node ${opts.fromNode}`);
  let stopped = false;
  let ok = 0;
  const failed: string[] = [];
  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      const pods = (await client.pods.list({ namespace: opts.namespace, labelSelector: opts.labelSelector })).items.filter(isServing);
      const p = pods[i % Math.max(pods.length, 1)];
      if (p?.status?.podIP !== undefined) {
        const url = `http://${p.status.podIP}:${opts.port ?? 8080}/`;
        try {
          const { stdout } = await execFileP('nsenter', [`--net=${netns}`, 'busybox', 'wget', '-qO-', url], { timeout: 5_000 });
          if (stdout.trim() === p.metadata.name) ok++;
          else failed.push(`${p.metadata.name}: answered ${JSON.stringify(stdout.trim())}`);
        } catch (err) {
          failed.push(`${p.metadata.name} (${p.status.podIP}): ${(err as Error).message.split('\n')[0]}`);
        }
      }
      await sleep(opts.intervalMs ?? 50);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return { ok, failed };
    },
  };
}
