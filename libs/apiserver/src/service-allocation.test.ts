import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyDefaults } from '@tugboat/api';
import type { Service, ServiceSpec } from '@tugboat/api';
import type { Op, StoredObject } from '@tugboat/store';
import {
  ALLOCATION_KIND,
  clusterIPAllocation,
  heldBy,
  isAllocationError,
  nodePortAllocation,
  orphanedAllocations,
  planServiceWrite,
  withoutKeptNodePorts,
} from './service-allocation.ts';
import type { AllocationView } from './service-allocation.ts';

function svc(name: string, spec: Partial<ServiceSpec>, namespace = 'default'): Service {
  return applyDefaults({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { ports: [{ port: 80 }], ...spec } } as Service);
}

function stored(name: string, owner: { namespace: string; service: string }, rv = '7'): StoredObject {
  return {
    apiVersion: 'tugboat.internal/v1',
    kind: ALLOCATION_KIND,
    metadata: { name, uid: `u-${name}`, resourceVersion: rv, generation: 1, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: owner,
  };
}

/** view over a set of stored allocations; random() always 0 so scans start at the lowest candidate. */
function view(allocations: StoredObject[] = [], random = 0): AllocationView {
  const byName = new Map(allocations.map((a) => [a.metadata.name, a]));
  return { allocation: (n) => byName.get(n), random: () => random };
}

function created(ops: Op[]): string[] {
  return ops.flatMap((o) => (o.op === 'create' ? [o.object.metadata.name ?? ''] : []));
}
function deleted(ops: Op[]): string[] {
  return ops.flatMap((o) => (o.op === 'delete' ? [o.ref.name] : []));
}

function refused(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => isAllocationError(err) && message.test(err.message));
}

test('a new Service gets a free ClusterIP (never reserved) and an allocation create in the same ops', () => {
  const plan = planServiceWrite(svc('web', {}), undefined, view());
  assert.equal(plan.service.spec.clusterIP, '10.96.0.2', 'scan from the start skips 10.96.0.1 (API server)');
  assert.deepEqual(plan.service.spec.clusterIPs, ['10.96.0.2']);
  assert.deepEqual(created(plan.ops), ['clusterip-10.96.0.2']);
  const taken = view([stored('clusterip-10.96.0.2', { namespace: 'x', service: 'y' })]);
  assert.equal(planServiceWrite(svc('web', {}), undefined, taken).service.spec.clusterIP, '10.96.0.3');
  const nearDns = view(Array.from({ length: 8 }, (_, i) => stored(`clusterip-10.96.0.${i + 2}`, { namespace: 'x', service: `s${i}` })));
  assert.equal(planServiceWrite(svc('web', {}), undefined, nearDns).service.spec.clusterIP, '10.96.0.11', '10.96.0.10 is the cluster DNS');
  const wrapped = planServiceWrite(svc('web', {}), undefined, view([], 0.9999999));
  assert.equal(wrapped.service.spec.clusterIP, '10.96.255.254', 'the broadcast address is never a candidate');
});

test('a requested ClusterIP is checked: in the network, not reserved, free', () => {
  assert.equal(planServiceWrite(svc('a', { clusterIP: '10.96.3.4' }), undefined, view()).service.spec.clusterIP, '10.96.3.4');
  refused(() => planServiceWrite(svc('a', { clusterIP: '10.97.0.4' }), undefined, view()), /spec\.clusterIP: invalid value "10\.97\.0\.4": not in the service network; the range of valid IPs is 10\.96\.0\.0\/16/);
  refused(() => planServiceWrite(svc('a', { clusterIP: '10.96.0.10' }), undefined, view()), /reserved for the cluster DNS/);
  refused(() => planServiceWrite(svc('a', { clusterIP: '10.96.0.1' }), undefined, view()), /reserved for the API server/);
  refused(() => planServiceWrite(svc('a', { clusterIP: '10.96.255.255' }), undefined, view()), /network and broadcast addresses/);
  const taken = view([stored('clusterip-10.96.3.4', { namespace: 'other', service: 'b' })]);
  refused(() => planServiceWrite(svc('a', { clusterIP: '10.96.3.4' }), undefined, taken), /spec\.clusterIP: invalid value "10\.96\.3\.4": provided IP is already allocated/);
});

test('a headless Service allocates nothing, and stays of type ClusterIP', () => {
  const plan = planServiceWrite(svc('h', { clusterIP: 'None', ports: [] }), undefined, view());
  assert.equal(plan.service.spec.clusterIP, 'None');
  assert.deepEqual(plan.ops, []);
  assert.deepEqual(heldBy(plan.service), []);
  refused(() => planServiceWrite(svc('h', { type: 'NodePort' }), plan.service, view()), /spec\.type: invalid value "NodePort": a headless Service \(clusterIP None\) must be of type ClusterIP/);
});

test('NodePort and LoadBalancer Services get a nodePort per port; requested ones are checked', () => {
  const two: Partial<ServiceSpec> = { type: 'NodePort', ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81, nodePort: 30005 }] };
  const plan = planServiceWrite(svc('np', two), undefined, view());
  assert.deepEqual(plan.service.spec.ports?.map((p) => p.nodePort), [30000, 30005]);
  assert.deepEqual(created(plan.ops), ['clusterip-10.96.0.2', 'nodeport-30000', 'nodeport-30005']);
  const lb = planServiceWrite(svc('lb', { type: 'LoadBalancer' }), undefined, view([stored('nodeport-30000', { namespace: 'x', service: 'y' })]));
  assert.deepEqual(lb.service.spec.ports?.map((p) => p.nodePort), [30001]);
  refused(
    () => planServiceWrite(svc('np', two), undefined, view([stored('nodeport-30005', { namespace: 'other', service: 'z' })])),
    /spec\.ports\[1\]\.nodePort: invalid value 30005: provided port is already allocated/,
  );
});

test('an update keeps what was allocated when it leaves it out, takes what it adds, and releases what it drops', () => {
  const cur = planServiceWrite(svc('web', { type: 'NodePort', ports: [{ name: 'http', port: 80 }] }), undefined, view()).service;
  const held = [stored('clusterip-10.96.0.2', { namespace: 'default', service: 'web' }, '5'), stored('nodeport-30000', { namespace: 'default', service: 'web' }, '5')];
  // The same manifest again (no clusterIP, no nodePort): nothing changes.
  const same = planServiceWrite(svc('web', { type: 'NodePort', ports: [{ name: 'http', port: 80 }] }), cur, view(held));
  assert.equal(same.service.spec.clusterIP, '10.96.0.2');
  assert.equal(same.service.spec.ports?.[0]?.nodePort, 30000);
  assert.deepEqual(same.ops, []);
  // A second port: a new nodePort only for it.
  const more = planServiceWrite(svc('web', { type: 'NodePort', ports: [{ name: 'http', port: 80 }, { name: 'alt', port: 8080 }] }), cur, view(held));
  assert.deepEqual(more.service.spec.ports?.map((p) => p.nodePort), [30000, 30001]);
  assert.deepEqual(created(more.ops), ['nodeport-30001']);
  // Back to ClusterIP: the nodePort is released, guarded by its resourceVersion.
  const plain = planServiceWrite(svc('web', { ports: [{ name: 'http', port: 80 }] }), cur, view(held));
  assert.equal(plain.service.spec.ports?.[0]?.nodePort, undefined);
  assert.deepEqual(deleted(plain.ops), ['nodeport-30000']);
  assert.deepEqual(plain.ops.find((o) => o.op === 'delete'), { op: 'delete', ref: { kind: ALLOCATION_KIND, name: 'nodeport-30000' }, expectedResourceVersion: '5' });
  // Moving a nodePort to another requested one.
  const moved = planServiceWrite(svc('web', { type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 31000 }] }), cur, view(held));
  assert.deepEqual(created(moved.ops), ['nodeport-31000']);
  assert.deepEqual(deleted(moved.ops), ['nodeport-30000']);
});

test('orphaned allocations: their Service is gone or holds other addresses', () => {
  const web = planServiceWrite(svc('web', { clusterIP: '10.96.0.5' }), undefined, view()).service;
  const allocations = [
    stored(clusterIPAllocation('10.96.0.5'), { namespace: 'default', service: 'web' }),
    stored(clusterIPAllocation('10.96.0.6'), { namespace: 'default', service: 'web' }),
    stored(nodePortAllocation(30001), { namespace: 'gone', service: 'api' }),
  ];
  const lookup = (ns: string, name: string): Service | undefined => (ns === 'default' && name === 'web' ? web : undefined);
  assert.deepEqual(orphanedAllocations(allocations, lookup).map((a) => a.metadata.name), ['clusterip-10.96.0.6', 'nodeport-30001']);
});

test('a NodePort Service turned back into ClusterIP drops the nodePorts it kept from the cluster, not the ones it sets', () => {
  const cur = svc('web', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }, { port: 81, nodePort: 30081 }] });
  const kept = { kind: 'Service', spec: { ports: [{ port: 80, nodePort: 30080 }, { port: 81, nodePort: 30999 }] } };
  assert.deepEqual(withoutKeptNodePorts(kept, cur), { kind: 'Service', spec: { ports: [{ port: 80 }, { port: 81, nodePort: 30999 }] } });
  assert.equal(kept.spec.ports[0]!.nodePort, 30080, 'the request is not changed');
  const stillNodePort = { kind: 'Service', spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] } };
  assert.equal(withoutKeptNodePorts(stillNodePort, cur), stillNodePort);
});
