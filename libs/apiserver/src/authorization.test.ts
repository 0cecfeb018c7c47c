import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Pod } from '@tugboat/api';
import { authorize, describeIdentity, describeRequest, nodeSelfWrite } from './authorization.ts';
import type { AccessRequest, AccessView } from './authorization.ts';

const pod = (name: string, node: string, spec: Partial<Pod['spec']> = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default' },
  spec: { nodeName: node, containers: [{ name: 'c', image: 'i' }], ...spec },
});
const pods = [
  pod('a', 'node-1', { volumes: [{ name: 'v', secret: { secretName: 'db' } }] }),
  pod('b', 'node-1', { containers: [{ name: 'c', image: 'i', envFrom: [{ configMapRef: { name: 'cfg' } }], env: [{ name: 'K', valueFrom: { secretKeyRef: { name: 'token', key: 'k' } } }] }] }),
  pod('c', 'node-2', { volumes: [{ name: 'v', secret: { secretName: 'other' } }] }),
];
const view: AccessView = {
  pod: (ns, name) => pods.find((p) => p.metadata.namespace === ns && p.metadata.name === name),
  podsOn: (node, ns) => pods.filter((p) => p.spec.nodeName === node && p.metadata.namespace === ns),
};
const node1 = { commonName: 'node-1', organization: 'tugboat:nodes' };
const req = (verb: AccessRequest['verb'], kind: string, name = '', namespace = 'default', fieldSelector?: string): AccessRequest => ({ verb, kind, namespace, name, ...(fieldSelector === undefined ? {} : { fieldSelector }) });

describe('authorization', () => {
  it('lets admins and members do everything, and does not check calls without an identity', () => {
    for (const who of [{ commonName: 'admin', organization: 'tugboat:admins' }, { commonName: 'c1', organization: 'tugboat:members' }, undefined]) {
      assert.equal(authorize(who, req('delete', 'Secret', 'db'), view), undefined);
      assert.equal(authorize(who, req('change membership', ''), view), undefined);
    }
  });

  it('lets viewers read everything but Secrets, and write nothing', () => {
    const viewer = { commonName: 'v', organization: 'tugboat:viewers' };
    assert.equal(authorize(viewer, req('list', 'Pod'), view), undefined);
    assert.equal(authorize(viewer, req('get', 'Secret', 'db'), view), 'viewers do not read Secrets');
    assert.equal(authorize(viewer, req('create', 'ConfigMap', 'x'), view), 'viewers only read');
  });

  it('lets a node read the Secrets and ConfigMaps its pods use, and no others', () => {
    assert.equal(authorize(node1, req('get', 'Secret', 'db'), view), undefined, 'a volume');
    assert.equal(authorize(node1, req('get', 'Secret', 'token'), view), undefined, 'an env var');
    assert.equal(authorize(node1, req('get', 'ConfigMap', 'cfg'), view), undefined, 'envFrom');
    assert.equal(authorize(node1, req('get', 'Secret', 'other'), view), 'no pod bound to node-1 uses it');
    assert.equal(authorize(node1, req('list', 'Secret'), view), 'a node only gets the Secrets its pods use, one by name');
  });

  it('lets a node see and change only the pods bound to it', () => {
    assert.equal(authorize(node1, req('watch', 'Pod', '', '', 'spec.nodeName=node-1'), view), undefined);
    assert.match(authorize(node1, req('list', 'Pod', '', ''), view) ?? '', /select spec.nodeName=node-1/);
    assert.match(authorize(node1, req('watch', 'Pod', '', '', 'spec.nodeName=node-2'), view) ?? '', /select spec.nodeName=node-1/);
    assert.equal(authorize(node1, req('update status', 'Pod', 'a'), view), undefined);
    assert.equal(authorize(node1, req('update status', 'Pod', 'c'), view), 'pod default/c is not bound to node-1');
    assert.equal(authorize(node1, req('delete', 'Pod', 'c'), view), 'pod default/c is not bound to node-1');
    assert.match(authorize(node1, req('create', 'Pod', 'x'), view) ?? '', /only read its pods/);
  });

  it('lets a node write only its own Node and Lease, read Services and Endpoints, and create Events', () => {
    assert.equal(authorize(node1, req('update status', 'Node', 'node-1', ''), view), undefined);
    assert.equal(authorize(node1, req('update', 'Node', 'node-2', ''), view), 'a node writes only its own Node');
    assert.equal(authorize(node1, req('watch', 'Node', '', ''), view), undefined);
    assert.equal(authorize(node1, req('update', 'Lease', 'node-1', 'tug-node-lease'), view), undefined);
    assert.match(authorize(node1, req('update', 'Lease', 'node-2', 'tug-node-lease'), view) ?? '', /only its own Lease/);
    assert.equal(authorize(node1, req('watch', 'Endpoints'), view), undefined);
    assert.equal(authorize(node1, req('delete', 'Service', 'web'), view), 'a node only reads Services');
    assert.equal(authorize(node1, req('create', 'Event', 'e'), view), undefined);
    assert.match(authorize(node1, req('txn', ''), view) ?? '', /only admins and members/);
    assert.match(authorize(node1, req('get', 'Namespace', 'default', ''), view) ?? '', /no access to Namespaces/);
  });

  it('refuses a certificate of no known role, and names who and what', () => {
    assert.match(authorize({ commonName: 'x', organization: 'acme' }, req('get', 'Pod', 'a'), view) ?? '', /organization "acme" is no role of this cluster/);
    assert.equal(describeIdentity(node1), 'node "node-1" (tugboat:nodes)');
    assert.equal(describeRequest(req('get', 'Secret', 'db')), 'get secrets default/db');
    assert.equal(describeRequest(req('list', 'Pod', '', '')), 'list pods');
  });

  it("keeps a node from changing what others decide about its own Node (NodeRestriction)", () => {
    const stored = {
      metadata: { labels: { 'kubernetes.io/hostname': 'node-1', 'node-restriction.kubernetes.io/pci': 'yes' } },
      spec: { podCIDR: '10.244.1.0/24', taints: [{ key: 'gpu', value: 'a', effect: 'NoSchedule' }] as { key: string; value?: string; effect: string }[] },
    };
    const change = (f: (n: typeof stored & { spec: Record<string, unknown> }) => void): string | undefined => {
      const next = structuredClone(stored) as typeof stored & { spec: Record<string, unknown> };
      f(next);
      return nodeSelfWrite(next, stored);
    };
    assert.equal(change(() => undefined), undefined);
    assert.equal(change((n) => Object.assign(n.metadata.labels, { zone: 'b' })), undefined, 'its own labels');
    assert.equal(change((n) => (n.spec['taints'] = [...stored.spec.taints, { key: 'ssd', effect: 'NoSchedule' }])), undefined, 'adds a taint');
    assert.match(change((n) => Object.assign(n.metadata.labels, { 'node-restriction.kubernetes.io/pci': 'no' })) ?? '', /may not set or change node-restriction\.kubernetes\.io\/\* labels/);
    assert.match(change((n) => delete (n.metadata.labels as Record<string, string>)['node-restriction.kubernetes.io/pci']) ?? '', /node-restriction/);
    assert.match(change((n) => (n.spec['podCIDR'] = '10.244.9.0/24')) ?? '', /spec\.podCIDR/);
    assert.match(change((n) => (n.spec['unschedulable'] = true)) ?? '', /may not cordon or uncordon itself/);
    assert.match(change((n) => (n.spec['taints'] = [])) ?? '', /may not remove or change the taint gpu=a:NoSchedule/);
    assert.match(nodeSelfWrite({ metadata: { labels: { 'node-restriction.kubernetes.io/x': '1' } } }, undefined) ?? '', /node-restriction/, 'on create too');
    assert.equal(nodeSelfWrite({ metadata: { labels: { a: '1' } }, spec: { taints: [{ key: 'k', effect: 'NoSchedule' }] } }, undefined), undefined);
  });
});
