// resources.ts: scores NodeResourcesLeastAllocated and NodeResourcesBalancedAllocation, over cpu
// and memory with the pod placed. Requests here count pods that ask for none of a resource as
// asking DEFAULT_SCORE_* (pod-requests.ts), so that such pods spread too.
import type { Score } from '../framework.ts';
import type { NodeInfo } from '../node-info.ts';
import { DEFAULT_SCORE_CPU_MILLI, DEFAULT_SCORE_MEMORY_BYTES } from '../pod-requests.ts';

/** usedShare is requested / allocatable, in [0, 1] (1 when nothing is allocatable). */
function usedShare(requested: number, allocatable: number): number {
  if (allocatable <= 0) return 1;
  return Math.min(1, requested / allocatable);
}

function scoreRequests(pod: { requests: { cpuMilli: number; memoryBytes: number } }): { cpu: number; memory: number } {
  return {
    cpu: pod.requests.cpuMilli === 0 ? DEFAULT_SCORE_CPU_MILLI : pod.requests.cpuMilli,
    memory: pod.requests.memoryBytes === 0 ? DEFAULT_SCORE_MEMORY_BYTES : pod.requests.memoryBytes,
  };
}


/** leastAllocated prefers the node with the most cpu and memory left: 100 * mean free share. */
export const leastAllocated: Score = {
  name: 'NodeResourcesLeastAllocated',
  weight: 1,
  score(pod, nodes) {
    const { cpu, memory } = scoreRequests(pod);
    const out = new Float64Array(nodes.length);
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i] as NodeInfo;
      const c = usedShare(node.scoreCpuMilli + cpu, node.allocatableCpuMilli);
      const m = usedShare(node.scoreMemoryBytes + memory, node.allocatableMemoryBytes);
      out[i] = ((1 - c + (1 - m)) / 2) * 100;
    }
    return out;
  },
};

/** balancedAllocation prefers the node whose cpu and memory shares stay closest: 100 * (1 - |cpu - memory| / 2). */
export const balancedAllocation: Score = {
  name: 'NodeResourcesBalancedAllocation',
  weight: 1,
  score(pod, nodes) {
    const { cpu, memory } = scoreRequests(pod);
    const out = new Float64Array(nodes.length);
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i] as NodeInfo;
      const c = usedShare(node.scoreCpuMilli + cpu, node.allocatableCpuMilli);
      const m = usedShare(node.scoreMemoryBytes + memory, node.allocatableMemoryBytes);
      out[i] = (1 - Math.abs(c - m) / 2) * 100;
    }
    return out;
  },
};
