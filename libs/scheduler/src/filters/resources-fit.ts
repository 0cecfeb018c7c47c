// resources-fit.ts: filter NodeResourcesFit: the pod's cpu and memory requests fit in what the
// node has allocatable minus what its pods request, and one more pod fits its pod count. A pod
// that requests none of a resource fits whatever is left of it.
import type { Filter } from '../framework.ts';

export const INSUFFICIENT_CPU = 'Insufficient cpu';
export const INSUFFICIENT_MEMORY = 'Insufficient memory';
export const TOO_MANY_PODS = 'Too many pods';

export const resourcesFit: Filter = {
  name: 'NodeResourcesFit',
  prepare(pod) {
    const { cpuMilli, memoryBytes } = pod.requests;
    return (node) => {
      let reasons: string[] | undefined;
      if (node.podCount + 1 > node.allocatablePods) (reasons ??= []).push(TOO_MANY_PODS);
      if (cpuMilli > 0 && node.requestedCpuMilli + cpuMilli > node.allocatableCpuMilli) (reasons ??= []).push(INSUFFICIENT_CPU);
      if (memoryBytes > 0 && node.requestedMemoryBytes + memoryBytes > node.allocatableMemoryBytes) (reasons ??= []).push(INSUFFICIENT_MEMORY);
      return reasons;
    };
  },
};
