// table.test.ts: AGE like kubectl, per-kind columns and status words, aligned tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { columnsFor, humanAge, nameOf, nodeStatus, podStatus, renderTable } from '@tugboat/cli';
import type { Lease, Node, Pod } from '@tugboat/api';

const s = 1_000;
const m = 60 * s;
const h = 60 * m;
const d = 24 * h;

test('humanAge follows kubectl: 45s, 5m30s, 95m, 3h20m, 30h, 2d5h, 200d, 3y10d', () => {
  const cases: [number, string][] = [
    [0, '0s'],
    [45 * s, '45s'],
    [119 * s, '119s'],
    [2 * m, '2m'],
    [5 * m + 30 * s, '5m30s'],
    [95 * m, '95m'],
    [3 * h, '3h'],
    [3 * h + 20 * m, '3h20m'],
    [30 * h, '30h'],
    [2 * d, '2d'],
    [2 * d + 5 * h, '2d5h'],
    [200 * d, '200d'],
    [3 * 365 * d + 10 * d, '3y10d'],
    [9 * 365 * d, '9y'],
    [-5 * s, '<invalid>'],
  ];
  for (const [ms, want] of cases) assert.equal(humanAge(ms), want, `${ms} ms`);
});

function pod(status: Pod['status'], extra: Partial<Pod['metadata']> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', creationTimestamp: '2025-01-01T00:00:00Z', ...extra },
    spec: { nodeName: 'n1', containers: [{ name: 'a', image: 'a:1' }] },
    ...(status === undefined ? {} : { status }),
  };
}

test('podStatus words a pod as kubectl does', () => {
  assert.equal(podStatus(pod({ phase: 'Running', containerStatuses: [{ name: 'a', ready: true, restartCount: 0, image: '', imageID: '', state: { running: {} } }] })), 'Running');
  assert.equal(podStatus(pod(undefined)), 'ContainerCreating');
  assert.equal(podStatus(pod({ phase: 'Pending', containerStatuses: [{ name: 'a', ready: false, restartCount: 0, image: '', imageID: '', state: { waiting: { reason: 'ErrImagePull' } } }] })), 'ErrImagePull');
  assert.equal(podStatus(pod({ phase: 'Running', containerStatuses: [{ name: 'a', ready: false, restartCount: 3, image: '', imageID: '', state: { terminated: { exitCode: 137 } } }] })), 'ExitCode:137');
  assert.equal(podStatus(pod({ phase: 'Succeeded' })), 'Succeeded');
  assert.equal(podStatus(pod({ phase: 'Running' }, { deletionTimestamp: '2025-01-01T00:00:00Z' })), 'Terminating');
});

test('nodeStatus: Ready, NotReady, Unknown, SchedulingDisabled', () => {
  const node = (ready: 'True' | 'False' | 'Unknown' | undefined, unschedulable = false): Node => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'n' },
    spec: { unschedulable },
    status: ready === undefined ? {} : { conditions: [{ type: 'Ready', status: ready }] },
  });
  assert.equal(nodeStatus(node('True')), 'Ready');
  assert.equal(nodeStatus(node('False')), 'NotReady');
  assert.equal(nodeStatus(node('Unknown')), 'NotReady', 'a Node the control plane lost touch with');
  assert.equal(nodeStatus(node(undefined)), 'Unknown', 'a Node that never reported');
  assert.equal(nodeStatus(node('True', true)), 'Ready,SchedulingDisabled');
});

test('nodeStatus: a heartbeat older than 40 s reads NotReady', () => {
  const now = Date.parse('2025-01-01T00:01:00Z');
  const beat = (lastHeartbeatTime: string): Node => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'n' },
    status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime }] },
  });
  assert.equal(nodeStatus(beat('2025-01-01T00:00:30Z'), now), 'Ready');
  assert.equal(nodeStatus(beat('2025-01-01T00:00:19Z'), now), 'NotReady');
  assert.equal(nodeStatus(beat('2025-01-01T00:00:19Z')), 'Ready', 'without a time, only the condition counts');
  const n: Node = {
    ...beat('2025-01-01T00:00:58Z'),
    metadata: { name: 'node-1', creationTimestamp: '2025-01-01T00:00:00Z' },
    spec: { podCIDR: '10.244.1.0/24' },
  };
  n.status = {
    ...n.status,
    addresses: [{ type: 'InternalIP', address: '172.30.0.11' }],
    nodeInfo: { kubeletVersion: '0.1.0', osImage: 'Debian GNU/Linux 12 (bookworm)', kernelVersion: '6.1.0', containerRuntimeVersion: 'containerd://1.6.20' },
  };
  assert.equal(
    renderTable('Node', [n], { wide: true, withNamespace: false, now }),
    'NAME     STATUS   ROLES    AGE   VERSION   INTERNAL-IP   POD-CIDR        OS-IMAGE                         KERNEL-VERSION   CONTAINER-RUNTIME\n' +
      'node-1   Ready    <none>   60s   0.1.0     172.30.0.11   10.244.1.0/24   Debian GNU/Linux 12 (bookworm)   6.1.0            containerd://1.6.20\n',
  );
});

test('nodeStatus: a renewed Lease is a heartbeat; a table judges heartbeats only with the Leases read', () => {
  const now = Date.parse('2025-01-01T00:01:00Z');
  const n: Node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'node-1', creationTimestamp: '2025-01-01T00:00:00Z' },
    status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: '2025-01-01T00:00:00Z' }] },
  };
  const lease = (renewTime: string): Lease => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: 'node-1', namespace: 'tug-node-lease', creationTimestamp: '2025-01-01T00:00:00Z' },
    spec: { holderIdentity: 'node-1', renewTime },
  });
  assert.equal(nodeStatus(n, now), 'NotReady', 'the status alone is 60 s old');
  assert.equal(nodeStatus(n, now, lease('2025-01-01T00:00:58.500Z')), 'Ready');
  assert.equal(nodeStatus(n, now, lease('2024-12-31T23:59:00Z')), 'NotReady', 'the later of the two counts');
  const row = (leases?: Map<string, Lease>) => renderTable('Node', [n], { wide: false, withNamespace: false, now, nodeLeases: leases }).split('\n')[1];
  assert.match(row(new Map([['node-1', lease('2025-01-01T00:00:58.500Z')]])) ?? '', /^node-1\s+Ready\s/);
  assert.match(row(new Map()) ?? '', /^node-1\s+NotReady\s/, 'Leases read, none for this Node: the status alone');
  assert.match(row() ?? '', /^node-1\s+Ready\s/, 'Leases not read: the condition as it is');
  assert.equal(
    renderTable('Lease', [lease('2025-01-01T00:00:58.500Z')], { wide: false, withNamespace: true, now }),
    'NAMESPACE        NAME     HOLDER   RENEWED   AGE\n' + 'tug-node-lease   node-1   node-1   1s        60s\n',
  );
});

test('tables line up, -o wide adds columns, -A adds NAMESPACE', () => {
  const now = Date.parse('2025-01-01T00:05:00Z');
  const a = pod({ phase: 'Running', podIP: '10.244.0.9', containerStatuses: [{ name: 'a', ready: true, restartCount: 1, image: '', imageID: '', state: { running: {} } }] });
  const b = { ...pod(undefined), metadata: { ...a.metadata, name: 'a-much-longer-name', namespace: 'other' } };
  assert.equal(
    renderTable('Pod', [a, b], { wide: false, withNamespace: false, now }),
    'NAME                 READY   STATUS              RESTARTS   AGE\n' +
      'p                    1/1     Running             1          5m\n' +
      'a-much-longer-name   0/1     ContainerCreating   0          5m\n',
  );
  assert.equal(
    renderTable('Pod', [a], { wide: true, withNamespace: true, now }),
    'NAMESPACE   NAME   READY   STATUS    RESTARTS   AGE   IP           NODE\n' + 'default     p      1/1     Running   1          5m    10.244.0.9   n1\n',
  );
  assert.deepEqual(
    columnsFor('Service', { wide: true, withNamespace: false }).map((c) => c.header),
    ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE', 'SELECTOR'],
  );
  assert.equal(nameOf({ kind: 'Deployment', metadata: { name: 'web' } }), 'deployment.apps/web');
  assert.equal(nameOf({ kind: 'ConfigMap', metadata: { name: 'c' } }), 'configmap/c');
});
