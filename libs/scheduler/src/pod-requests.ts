// pod-requests.ts: what a pod asks of a node, summed over its containers, as Kubernetes counts
// it: a container's request for a resource, else its limit (a limit alone means request =
// limit), else nothing.
import { cpuMillis, memoryBytes } from '@tugboat/api';
import type { Pod } from '@tugboat/api';

/** PodRequests: cpu in millicores and memory in bytes. */
export interface PodRequests {
  readonly cpuMilli: number;
  readonly memoryBytes: number;
}

/** Requests assumed, for scoring only, of a pod that asks for no cpu or memory (so that such
 *  pods still spread): 100m cpu, 200Mi memory, as in Kubernetes. */
export const DEFAULT_SCORE_CPU_MILLI = 100;
export const DEFAULT_SCORE_MEMORY_BYTES = 200 * 1024 * 1024;

/** Parsed quantities kept (pods of one template repeat the same few); the cache empties when full. */
const PARSED_MAX = 1024;
const parsedCpu = new Map<string | number, number>();
const parsedMemory = new Map<string | number, number>();

function cached(cache: Map<string | number, number>, q: string | number, parse: (q: string | number) => number): number {
  let v = cache.get(q);
  if (v === undefined) {
    v = parse(q);
    if (cache.size >= PARSED_MAX) cache.clear();
    cache.set(q, v);
  }
  return v;
}

/**
 * podRequests sums the cpu and memory requests of a pod's containers. Throws an Error naming
 * the pod and container when a quantity does not parse (validation refuses those first).
 */
export function podRequests(pod: Pod): PodRequests {
  let cpuMilli = 0;
  let memory = 0;
  for (const c of pod.spec.containers) {
    const r = c.resources;
    if (r === undefined) continue;
    const cpu = r.requests?.['cpu'] ?? r.limits?.['cpu'];
    const mem = r.requests?.['memory'] ?? r.limits?.['memory'];
    try {
      if (cpu !== undefined) cpuMilli += cached(parsedCpu, cpu, cpuMillis);
      if (mem !== undefined) memory += cached(parsedMemory, mem, memoryBytes);
    } catch (err) {
      throw new Error(`pod ${pod.metadata.namespace ?? 'default'}/${pod.metadata.name ?? ''} container ${c.name}: ${(err as Error).message}`, { cause: err });
    }
  }
  return { cpuMilli, memoryBytes: memory };
}
