// poller.ts: clients inside a local cluster that keep sending requests, from one node's network
// namespace, and count the answers: how the demo and the e2e suite show that a rolling update
// or a node kill drops no request. pollServingPods asks the Ready pods of a set by pod IP, in
// turn; pollUrl asks one address (a Service's ClusterIP or a nodePort) again and again. Both
// expect the web image's page: the answering pod's own name.
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Pod } from '@tugboat/api';
import type { TugClient } from '@tugboat/client';
import { existingPlan } from './existing.ts';

const execFileP = promisify(execFile);

export interface PollFrom {
  /** The local cluster and the node whose network namespace the requests come from. */
  readonly cluster: string;
  readonly fromNode: string;
  /** Pause between requests, ms. Default 50. */
  readonly intervalMs?: number;
  /**
   * Tries per request (pollUrl): a client that tries again at once when a try fails, as HTTP
   * clients with retries do. Default 1 (a failed try is a failed request).
   */
  readonly attempts?: number;
}

export interface PollOptions extends PollFrom {
  readonly namespace: string;
  readonly labelSelector: string;
  /** Default 8080. */
  readonly port?: number;
}

export interface PollResult {
  /** Requests answered (with the pod's name, for pollServingPods), at the first try or after retries. */
  readonly ok: number;
  /** Of those, the ones answered only after one or more tries failed. */
  readonly retried: number;
  /** One line per failed request: which pod or address, and why. */
  readonly failed: readonly string[];
  /** How many answers each page (pod name) got. */
  readonly answers: ReadonlyMap<string, number>;
}

/** isServing: the pod is Ready and not terminating (what a client would send requests to). */
export function isServing(p: Pod): boolean {
  return p.metadata.deletionTimestamp === undefined && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

function netnsOf(opts: PollFrom): string {
  const netns = existingPlan(opts.cluster).nodes.find((n) => n.name === opts.fromNode)?.netnsPath;
  if (netns === undefined) throw new Error(`local cluster ${opts.cluster} has no node ${opts.fromNode}`);
  return netns;
}

/** fetchPage fetches a URL with busybox wget inside a network namespace (5 s bound); resolves with the page, trimmed. */
export async function fetchPage(netns: string, url: string): Promise<string> {
  const { stdout } = await execFileP('nsenter', [`--net=${netns}`, 'busybox', 'wget', '-qO-', url], { timeout: 5_000 });
  return stdout.trim();
}

/**
 * poll runs `once` in a loop until stop(): each request is up to opts.attempts tries of
 * `once`, which returns the page answered (undefined: nothing to ask now) or throws why not.
 */
function poll(opts: PollFrom, once: (i: number) => Promise<{ page: string; where: string } | undefined>, check?: (page: string) => string | undefined): { stop: () => Promise<PollResult> } {
  let stopped = false;
  let ok = 0;
  let retried = 0;
  const failed: string[] = [];
  const answers = new Map<string, number>();
  const attempts = Math.max(1, opts.attempts ?? 1);
  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      for (let attempt = 1; attempt <= attempts; attempt++) {
        let why: string;
        try {
          const r = await once(i);
          if (r === undefined) break;
          const wrong = check?.(r.page);
          if (wrong === undefined) {
            ok++;
            if (attempt > 1) retried++;
            answers.set(r.page, (answers.get(r.page) ?? 0) + 1);
            break;
          }
          why = `${r.where}: ${wrong}`;
        } catch (err) {
          why = (err as Error).message.split('\n')[0] ?? String(err);
        }
        if (attempt === attempts) failed.push(attempts > 1 ? `${why} (after ${attempts} tries)` : why);
      }
      await sleep(opts.intervalMs ?? 50);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return { ok, retried, failed, answers };
    },
  };
}

/**
 * pollServingPods asks the serving pods of the selection, in turn, for http://POD-IP:PORT/
 * (busybox wget inside the node's network namespace), with a fresh list before each request,
 * until stop() is called; stop resolves with the counts.
 */
export function pollServingPods(client: TugClient, opts: PollOptions): { stop: () => Promise<PollResult> } {
  const netns = netnsOf(opts);
  let expected = '';
  return poll(
    opts,
    async (i) => {
      const pods = (await client.pods.list({ namespace: opts.namespace, labelSelector: opts.labelSelector })).items.filter(isServing);
      const p = pods[i % Math.max(pods.length, 1)];
      if (p?.status?.podIP === undefined) return undefined;
      expected = p.metadata.name ?? '';
      const where = `${expected} (${p.status.podIP})`;
      try {
        return { page: await fetchPage(netns, `http://${p.status.podIP}:${opts.port ?? 8080}/`), where };
      } catch (err) {
        throw new Error(`${where}: ${(err as Error).message}`, { cause: err });
      }
    },
    (page) => (page === expected ? undefined : `answered ${JSON.stringify(page)}`),
  );
}

/**
 * pollUrl asks one URL (a Service's ClusterIP or a node's nodePort) again and again from the
 * node's network namespace until stop() is called; every non-empty page counts as answered,
 * and `answers` says which pods answered how often.
 */
export function pollUrl(url: string, opts: PollFrom): { stop: () => Promise<PollResult> } {
  const netns = netnsOf(opts);
  return poll(
    opts,
    async () => {
      try {
        return { page: await fetchPage(netns, url), where: url };
      } catch (err) {
        throw new Error(`${url}: ${(err as Error).message}`, { cause: err });
      }
    },
    (page) => (page === '' ? 'answered an empty page' : undefined),
  );
}
