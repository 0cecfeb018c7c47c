// framework.ts: the shapes of the scheduler's filters and scores.
//
// A decision first turns the pod into a PodContext (what every plugin reads, computed once).
// Each Filter prepares, for that pod, a check of one node (or nothing to check: then it costs
// nothing per node); a node that fails a check is out, for the reasons the check gives. Each
// Score rates every feasible node from 0 to 100; the weighted sums decide.
import type { Pod, Toleration } from '@tugboat/api';
import type { NodeInfo } from './node-info.ts';
import { podRequests } from './pod-requests.ts';
import type { PodRequests } from './pod-requests.ts';
import { ownerKeyOf, podKey } from './snapshot.ts';
import type { Snapshot } from './snapshot.ts';

/** PodContext: the pod being placed and what the plugins read of it. */
export interface PodContext {
  readonly pod: Pod;
  /** key is "namespace/name". */
  readonly key: string;
  readonly namespace: string;
  /** uid, or the key when the pod has none (tests). */
  readonly uid: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly requests: PodRequests;
  readonly ownerKey: string;
  readonly tolerations: readonly Toleration[];
}

/** podContext computes the PodContext of pod. */
export function podContext(pod: Pod): PodContext {
  const key = podKey(pod);
  return {
    pod,
    key,
    namespace: pod.metadata.namespace ?? 'default',
    uid: pod.metadata.uid ?? key,
    labels: pod.metadata.labels ?? {},
    requests: podRequests(pod),
    ownerKey: ownerKeyOf(pod),
    tolerations: pod.spec.tolerations ?? [],
  };
}

/** FilterCheck tells why a node cannot take the pod (one or more reasons), or undefined when it can. */
export type FilterCheck = (node: NodeInfo) => string | readonly string[] | undefined;

export interface Filter {
  readonly name: string;
  /** prepare returns the check of one node for this pod, or undefined when there is nothing to check. */
  prepare(pod: PodContext, snapshot: Snapshot): FilterCheck | undefined;
}

export interface Score {
  readonly name: string;
  /** weight multiplies the score in the sum. */
  readonly weight: number;
  /** score rates nodes[i] as out[i], 0 (worst) to 100 (best); undefined when it has no preference for this pod. */
  score(pod: PodContext, nodes: readonly NodeInfo[], snapshot: Snapshot): Float64Array | undefined;
}
