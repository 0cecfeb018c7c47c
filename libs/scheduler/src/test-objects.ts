// test-objects.ts: Nodes, pods and snapshots for the scheduler's unit tests.
import type { Node, NodeSpec, Pod, PodSpec } from '@tugboat/api';
import { Snapshot } from './snapshot.ts';

export interface TestNodeOptions {
  cpu?: string;
  memory?: string;
  pods?: string;
  labels?: Record<string, string>;
  ready?: boolean;
  spec?: NodeSpec;
}

/** testNode is a Ready Node with 4 cpu, 8Gi memory and 110 pods allocatable unless told otherwise. */
export function testNode(name: string, o: TestNodeOptions = {}): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...o.labels } },
    spec: o.spec ?? {},
    status: {
      allocatable: { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: o.pods ?? '110' },
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
    },
  };
}

export interface TestPodOptions {
  cpu?: string;
  memory?: string;
  labels?: Record<string, string>;
  namespace?: string;
  owner?: string;
  nodeName?: string;
  spec?: Partial<PodSpec>;
}

/** testPod is a pod with one container requesting what it is told (nothing by default), uid "uid-NAME". */
export function testPod(name: string, o: TestPodOptions = {}): Pod {
  const requests: Record<string, string> = {};
  if (o.cpu !== undefined) requests['cpu'] = o.cpu;
  if (o.memory !== undefined) requests['memory'] = o.memory;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: o.namespace ?? 'default',
      uid: `uid-${name}`,
      labels: o.labels ?? {},
      ...(o.owner === undefined ? {} : { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: o.owner, uid: `uid-${o.owner}`, controller: true }] }),
    },
    spec: {
      containers: [{ name: 'c', image: 'busybox', resources: { requests } }],
      ...(o.nodeName === undefined ? {} : { nodeName: o.nodeName }),
      ...o.spec,
    },
  };
}

/** testSnapshot holds the given Nodes and bound pods. */
export function testSnapshot(nodes: readonly Node[], pods: readonly Pod[] = []): Snapshot {
  const s = new Snapshot();
  for (const n of nodes) s.setNode(n);
  for (const p of pods) s.addPod(p);
  return s;
}
