// snapshot.ts: the cluster as the scheduler sees it: every known Node with the pods placed on
// it (bound, or assumed: bound by this scheduler and not yet seen back), kept current one change
// at a time so that consecutive decisions see each other without rebuilding anything.
//
// Besides the per-node sums it keeps the indexes that spare a decision O(pods) work:
// - replicas of each owner per node and per zone (spreading);
// - for label selectors that pods ask about (anti-affinity terms, topology spread), matching
//   pods per node, built on first use and then kept current (at most SELECTOR_INDEX_MAX of
//   them, the least recently used dropped);
// - the required anti-affinity terms of placed pods, grouped by term, with how many pods of each
//   group sit on each node (an incoming pod must not land next to pods that refuse it).
// Terminating pods count for resources only.
import { matches } from '@tugboat/api';
import type { LabelSelector, Node, Pod, PodAffinityTerm } from '@tugboat/api';
import { NodeInfo } from './node-info.ts';
import type { PodInfo } from './node-info.ts';
import { DEFAULT_SCORE_CPU_MILLI, DEFAULT_SCORE_MEMORY_BYTES, podRequests } from './pod-requests.ts';

/** SELECTOR_INDEX_MAX bounds the label selectors whose matching pods are indexed. */
export const SELECTOR_INDEX_MAX = 128;

/** OwnerCounts: placed, non-terminating replicas of one owner. */
export interface OwnerCounts {
  total: number;
  readonly byNode: Map<string, number>;
  readonly byZone: Map<string, number>;
}

/** AntiAffinityGroup: placed pods that share one required anti-affinity term. */
export interface AntiAffinityGroup {
  readonly namespaces: readonly string[];
  readonly selector: LabelSelector;
  readonly topologyKey: string;
  /** Pods of the group per node name. */
  readonly byNode: Map<string, number>;
}

interface SelectorEntry {
  readonly namespaces: readonly string[];
  readonly selector: LabelSelector;
  readonly byNode: Map<string, number>;
  lastUse: number;
}

/** podKey is a pod's "namespace/name". */
export function podKey(pod: Pod): string {
  return `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name ?? ''}`;
}

/**
 * ownerKeyOf groups replicas: pods with the same controller owner (by uid), else bare pods of
 * one namespace with the same labels.
 */
export function ownerKeyOf(pod: Pod): string {
  const owner = pod.metadata.ownerReferences?.find((r) => r.controller === true);
  if (owner !== undefined) return `owner:${owner.uid}`;
  const labels = pod.metadata.labels ?? {};
  const sorted = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`);
  return `labels:${pod.metadata.namespace ?? 'default'}:${sorted.join(',')}`;
}

/** termNamespaces are the namespaces a pod affinity term looks in: its own list, else the pod's. */
export function termNamespaces(term: PodAffinityTerm, podNamespace: string): readonly string[] {
  return term.namespaces !== undefined && term.namespaces.length > 0 ? [...term.namespaces].sort() : [podNamespace];
}

function selectorKey(namespaces: readonly string[], selector: LabelSelector): string {
  return `${namespaces.join(',')}|${JSON.stringify(selector)}`;
}

function bump(m: Map<string, number>, key: string, by: number): void {
  const n = (m.get(key) ?? 0) + by;
  if (n <= 0) m.delete(key);
  else m.set(key, n);
}

export class Snapshot {
  readonly #infos = new Map<string, NodeInfo>();
  /** Nodes that exist (have a Node object), in a stable order; #index maps name to position. */
  readonly #nodes: NodeInfo[] = [];
  readonly #index = new Map<string, number>();
  readonly #pods = new Map<string, PodInfo>();
  readonly #owners = new Map<string, OwnerCounts>();
  readonly #selectors = new Map<string, SelectorEntry>();
  readonly #antiAffinity = new Map<string, AntiAffinityGroup>();
  #uses = 0;
  #softTaintNodes = 0;

  /** nodes are the known Nodes, each with the pods placed on it. */
  nodes(): readonly NodeInfo[] {
    return this.#nodes;
  }

  nodeInfo(name: string): NodeInfo | undefined {
    return this.#infos.get(name);
  }

  /** softTaintNodes is how many Nodes have a PreferNoSchedule taint. */
  get softTaintNodes(): number {
    return this.#softTaintNodes;
  }

  /** pod returns what is counted for the pod with key "namespace/name". */
  pod(key: string): PodInfo | undefined {
    return this.#pods.get(key);
  }

  get podCount(): number {
    return this.#pods.size;
  }

  /** setNode adds or replaces a Node. */
  setNode(node: Node): void {
    const name = node.metadata.name ?? '';
    let info = this.#infos.get(name);
    if (info === undefined) {
      info = new NodeInfo(name);
      this.#infos.set(name, info);
    }
    if (info.softTaints.length > 0) this.#softTaintNodes--;
    const zoneBefore = info.zone;
    info.setNode(node);
    if (info.softTaints.length > 0) this.#softTaintNodes++;
    if (info.zone !== zoneBefore) this.#moveZone(info, zoneBefore);
    if (!this.#index.has(name)) {
      this.#index.set(name, this.#nodes.length);
      this.#nodes.push(info);
    }
  }

  /** moveZone recounts the replicas on a node whose zone label changed. */
  #moveZone(node: NodeInfo, zoneBefore: string | undefined): void {
    for (const p of node.pods.values()) {
      const owner = p.terminating ? undefined : this.#owners.get(p.ownerKey);
      if (owner === undefined) continue;
      if (zoneBefore !== undefined) bump(owner.byZone, zoneBefore, -1);
      if (node.zone !== undefined) bump(owner.byZone, node.zone, 1);
    }
  }

  /** removeNode forgets a Node; pods still bound to it stay counted there until they go. */
  removeNode(name: string): void {
    const info = this.#infos.get(name);
    const at = this.#index.get(name);
    if (info === undefined || at === undefined) return;
    if (info.softTaints.length > 0) this.#softTaintNodes--;
    const zoneBefore = info.zone;
    info.setNode(undefined);
    if (zoneBefore !== undefined) this.#moveZone(info, zoneBefore);
    const last = this.#nodes.pop() as NodeInfo;
    if (last !== info) {
      this.#nodes[at] = last;
      this.#index.set(last.name, at);
    }
    this.#index.delete(name);
    if (info.pods.size === 0) this.#infos.delete(name);
  }

  /** addPod counts a bound pod (spec.nodeName) on its node, replacing what was counted under its key. */
  addPod(pod: Pod): PodInfo {
    return this.#place(pod, pod.spec.nodeName ?? '', false);
  }

  /** assumePod counts pod on nodeName ahead of its binding, so that the next decisions see it. */
  assumePod(pod: Pod, nodeName: string): PodInfo {
    return this.#place(pod, nodeName, true);
  }

  #place(pod: Pod, nodeName: string, assumed: boolean): PodInfo {
    const key = podKey(pod);
    const prev = this.#pods.get(key);
    const uid = pod.metadata.uid ?? '';
    const terminating = pod.metadata.deletionTimestamp !== undefined;
    const labels = pod.metadata.labels ?? {};
    if (prev !== undefined && prev.uid === uid && prev.nodeName === nodeName && prev.terminating === terminating && sameLabels(prev.labels, labels)) {
      if (prev.assumed === assumed) return prev;
      // Seen back through the watch: same counts, no longer assumed.
      const confirmed: PodInfo = { ...prev, assumed };
      this.#pods.set(key, confirmed);
      this.#infos.get(nodeName)?.pods.set(key, confirmed);
      return confirmed;
    }
    const requests = podRequests(pod);
    if (prev !== undefined) this.removePod(key);
    const namespace = pod.metadata.namespace ?? 'default';
    const antiAffinityGroups: string[] = [];
    const info: PodInfo = {
      key,
      uid,
      namespace,
      nodeName,
      labels,
      requests,
      ownerKey: ownerKeyOf(pod),
      terminating,
      assumed,
      antiAffinityGroups,
    };
    let node = this.#infos.get(nodeName);
    if (node === undefined) {
      node = new NodeInfo(nodeName);
      this.#infos.set(nodeName, node);
    }
    this.#pods.set(key, info);
    node.pods.set(key, info);
    this.#count(node, info, 1);
    if (!terminating) {
      for (const term of pod.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []) {
        // A term without a selector matches no pod.
        if (term.labelSelector === undefined) continue;
        const namespaces = termNamespaces(term, namespace);
        const selector = term.labelSelector;
        const gk = `${selectorKey(namespaces, selector)}|${term.topologyKey}`;
        let g = this.#antiAffinity.get(gk);
        if (g === undefined) {
          g = { namespaces, selector, topologyKey: term.topologyKey, byNode: new Map() };
          this.#antiAffinity.set(gk, g);
        }
        bump(g.byNode, nodeName, 1);
        antiAffinityGroups.push(gk);
      }
    }
    return info;
  }

  /** removePod takes a pod off its node; returns what was counted for it. */
  removePod(key: string): PodInfo | undefined {
    const info = this.#pods.get(key);
    if (info === undefined) return undefined;
    this.#pods.delete(key);
    const node = this.#infos.get(info.nodeName);
    if (node !== undefined) {
      node.pods.delete(key);
      this.#count(node, info, -1);
      if (node.node === undefined && node.pods.size === 0) this.#infos.delete(info.nodeName);
    }
    for (const gk of info.antiAffinityGroups) {
      const g = this.#antiAffinity.get(gk);
      if (g === undefined) continue;
      bump(g.byNode, info.nodeName, -1);
      if (g.byNode.size === 0) this.#antiAffinity.delete(gk);
    }
    return info;
  }

  #count(node: NodeInfo, pod: PodInfo, sign: 1 | -1): void {
    const r = pod.requests;
    node.requestedCpuMilli += sign * r.cpuMilli;
    node.requestedMemoryBytes += sign * r.memoryBytes;
    node.scoreCpuMilli += sign * (r.cpuMilli === 0 ? DEFAULT_SCORE_CPU_MILLI : r.cpuMilli);
    node.scoreMemoryBytes += sign * (r.memoryBytes === 0 ? DEFAULT_SCORE_MEMORY_BYTES : r.memoryBytes);
    if (pod.terminating) return;
    let owner = this.#owners.get(pod.ownerKey);
    if (owner === undefined) {
      owner = { total: 0, byNode: new Map(), byZone: new Map() };
      this.#owners.set(pod.ownerKey, owner);
    }
    owner.total += sign;
    bump(owner.byNode, node.name, sign);
    if (node.zone !== undefined) bump(owner.byZone, node.zone, sign);
    if (owner.total <= 0) this.#owners.delete(pod.ownerKey);
    for (const e of this.#selectors.values()) {
      if (e.namespaces.includes(pod.namespace) && matches(e.selector, pod.labels)) bump(e.byNode, node.name, sign);
    }
  }

  /** ownerCounts are the placed replicas of an owner (see ownerKeyOf), undefined when none. */
  ownerCounts(ownerKey: string): OwnerCounts | undefined {
    return this.#owners.get(ownerKey);
  }

  /**
   * matchingPodsByNode counts, per node name, the placed non-terminating pods in `namespaces`
   * whose labels match `selector`. The first call for a selector scans every pod; later calls
   * read the index the snapshot keeps current. Do not change the map returned.
   */
  matchingPodsByNode(namespaces: readonly string[], selector: LabelSelector): ReadonlyMap<string, number> {
    const key = selectorKey(namespaces, selector);
    let e = this.#selectors.get(key);
    if (e === undefined) {
      if (this.#selectors.size >= SELECTOR_INDEX_MAX) this.#dropLeastUsedSelector();
      e = { namespaces, selector, byNode: new Map(), lastUse: 0 };
      for (const p of this.#pods.values()) {
        if (!p.terminating && namespaces.includes(p.namespace) && matches(selector, p.labels)) bump(e.byNode, p.nodeName, 1);
      }
      this.#selectors.set(key, e);
    }
    e.lastUse = ++this.#uses;
    return e.byNode;
  }

  #dropLeastUsedSelector(): void {
    let oldest: string | undefined;
    let at = Infinity;
    for (const [k, e] of this.#selectors) {
      if (e.lastUse < at) {
        at = e.lastUse;
        oldest = k;
      }
    }
    if (oldest !== undefined) this.#selectors.delete(oldest);
  }

  /** antiAffinityGroups are the required anti-affinity terms of the placed pods. */
  antiAffinityGroups(): Iterable<AntiAffinityGroup> {
    return this.#antiAffinity.values();
  }
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  if (a === b) return true;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k]) return false;
  return true;
}
