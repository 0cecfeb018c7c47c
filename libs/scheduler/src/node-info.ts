// node-info.ts: one node as the scheduler sees it: the Node's scheduling facts read once when
// the Node changes (readiness, cordon, taints by effect, labels, allocatable) and the sums of
// what the pods placed on it request.
import { cpuMillis, memoryBytes, parseQuantity } from '@tugboat/api';
import type { Node, Taint } from '@tugboat/api';
import { fnv1a } from './hash.ts';
import type { PodRequests } from './pod-requests.ts';

/** ZONE_LABEL is the node label naming its zone; replicas of one owner spread over its values. */
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** Pods a node takes when its allocatable says nothing (the agent's default). */
const DEFAULT_ALLOCATABLE_PODS = 110;

/** PodInfo is a pod counted on a node: what it was counted with, so that it can be taken off exactly. */
export interface PodInfo {
  /** key is "namespace/name". */
  readonly key: string;
  readonly uid: string;
  readonly namespace: string;
  readonly nodeName: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly requests: PodRequests;
  /** ownerKey groups the replicas of one owner (see ownerKeyOf). */
  readonly ownerKey: string;
  /** terminating pods still hold their resources but count for no spreading or affinity. */
  readonly terminating: boolean;
  /** assumed: bound by this scheduler, not yet seen back through the watch. */
  readonly assumed: boolean;
  /** antiAffinityGroups are the keys of this pod's required anti-affinity terms in the snapshot. */
  readonly antiAffinityGroups: readonly string[];
}

/** NodeInfo is one node and the pods placed on it. The Snapshot keeps the sums current. */
export class NodeInfo {
  readonly name: string;
  /** nameHash is fnv1a(name), for tie-breaks. */
  readonly nameHash: number;
  /** node is undefined while pods name a node that is not (or no longer) known. */
  node: Node | undefined;
  labels: Readonly<Record<string, string>> = {};
  zone: string | undefined;
  ready = false;
  unschedulable = false;
  /** Taints with effect NoSchedule or NoExecute: a pod must tolerate each. */
  hardTaints: readonly Taint[] = [];
  /** Taints with effect PreferNoSchedule: only lower the score. */
  softTaints: readonly Taint[] = [];
  allocatableCpuMilli = 0;
  allocatableMemoryBytes = 0;
  allocatablePods = 0;
  requestedCpuMilli = 0;
  requestedMemoryBytes = 0;
  /** Requests for scoring: pods without a cpu or memory request count DEFAULT_SCORE_*. */
  scoreCpuMilli = 0;
  scoreMemoryBytes = 0;
  readonly pods = new Map<string, PodInfo>();

  constructor(name: string) {
    this.name = name;
    this.nameHash = fnv1a(name);
  }

  /** podCount is the number of pods placed here (every one counts against allocatable pods). */
  get podCount(): number {
    return this.pods.size;
  }

  /** setNode reads the scheduling facts of node. */
  setNode(node: Node | undefined): void {
    this.node = node;
    if (node === undefined) {
      this.labels = {};
      this.zone = undefined;
      this.ready = false;
      this.unschedulable = false;
      this.hardTaints = [];
      this.softTaints = [];
      this.allocatableCpuMilli = this.allocatableMemoryBytes = this.allocatablePods = 0;
      return;
    }
    this.labels = node.metadata.labels ?? {};
    this.zone = this.labels[ZONE_LABEL];
    this.ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    this.unschedulable = node.spec?.unschedulable === true;
    const taints = node.spec?.taints ?? [];
    this.hardTaints = taints.filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
    this.softTaints = taints.filter((t) => t.effect === 'PreferNoSchedule');
    const alloc = node.status?.allocatable ?? node.status?.capacity ?? {};
    this.allocatableCpuMilli = quantityOr(alloc['cpu'], cpuMillis, 0);
    this.allocatableMemoryBytes = quantityOr(alloc['memory'], memoryBytes, 0);
    this.allocatablePods = quantityOr(alloc['pods'], (q) => parseQuantity(q).value, DEFAULT_ALLOCATABLE_PODS);
  }
}

/** quantityOr parses q, or gives `absent` when there is none or it does not parse (a Node the API
 *  admitted has valid quantities; a bad one must not stop the scheduler). */
function quantityOr(q: string | undefined, parse: (q: string) => number, absent: number): number {
  if (q === undefined) return absent;
  try {
    return parse(q);
  } catch {
    return absent;
  }
}

/**
 * schedulingFingerprint is the part of a Node that can make a pod fit or not: labels, taints,
 * cordon, readiness, allocatable. Two Nodes with the same fingerprint schedule alike (a
 * heartbeat changes none of it).
 */
export function schedulingFingerprint(node: Node): string {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? '';
  return JSON.stringify([node.metadata.labels ?? {}, node.spec?.taints ?? [], node.spec?.unschedulable === true, ready, node.status?.allocatable ?? node.status?.capacity ?? {}]);
}
