import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from '@tugboat/api';
import { desiredRoutes, diffRoutes, nodeRouteInfos, ROUTE_PROTO } from '@tugboat/netconf';

const nodes = [
  { name: 'n1', podCIDR: '10.244.0.0/24', internalIP: '172.30.0.11' },
  { name: 'n2', podCIDR: '10.244.1.0/24', internalIP: '172.30.0.12' },
  { name: 'n3', podCIDR: '10.244.2.0/24', internalIP: '172.30.0.13' },
];

test('desired routes: every other node pod CIDR via its IP, never our own', () => {
  assert.deepEqual(desiredRoutes('n2', nodes), [
    { dst: '10.244.0.0/24', gateway: '172.30.0.11' },
    { dst: '10.244.2.0/24', gateway: '172.30.0.13' },
  ]);
  assert.throws(
    () => desiredRoutes('n1', [...nodes, { name: 'n4', podCIDR: '10.244.1.0/24', internalIP: '172.30.0.14' }]),
    /claimed by both node n2 and node n4/,
  );
  assert.throws(() => desiredRoutes('n1', [{ name: 'x', podCIDR: '10.244.1.0/24', internalIP: 'nope' }]), /invalid IPv4/);
});

test('nodeRouteInfos reads spec.podCIDR and the InternalIP, skipping incomplete nodes', () => {
  const api: Node[] = [
    {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'a' },
      spec: { podCIDR: '10.244.5.0/24' },
      status: { addresses: [{ type: 'Hostname', address: 'a' }, { type: 'InternalIP', address: '172.30.0.5' }] },
    },
    { apiVersion: 'v1', kind: 'Node', metadata: { name: 'b' }, status: { addresses: [] } },
  ];
  assert.deepEqual(nodeRouteInfos(api), [{ name: 'a', podCIDR: '10.244.5.0/24', internalIP: '172.30.0.5' }]);
});

test('diffRoutes: add missing, replace changed gateway, delete gone, keep equal, ignore others', () => {
  const p = String(ROUTE_PROTO);
  const current = [
    { dst: '10.244.0.0/24', gateway: '172.30.0.11', dev: 'eth0', protocol: p, flags: [] },
    { dst: '10.244.2.0/24', gateway: '172.30.0.99', dev: 'eth0', protocol: p, flags: [] },
    { dst: '10.244.9.0/24', gateway: '172.30.0.19', dev: 'eth0', protocol: p, flags: [] },
    { dst: '10.244.7.0/24', gateway: '172.30.0.17', dev: 'eth0', protocol: 'static', flags: [] },
  ];
  const desired = [
    { dst: '10.244.0.0/24', gateway: '172.30.0.11' },
    { dst: '10.244.2.0/24', gateway: '172.30.0.13' },
    { dst: '10.244.3.0/24', gateway: '172.30.0.14' },
  ];
  assert.deepEqual(
    diffRoutes(current, desired).map((c) => c.argv.join(' ')),
    [
      `route del 10.244.9.0/24 proto ${p}`,
      `route replace 10.244.2.0/24 via 172.30.0.13 proto ${p}`,
      `route add 10.244.3.0/24 via 172.30.0.14 proto ${p}`,
    ],
  );
  assert.deepEqual(diffRoutes(current.slice(0, 1), desired.slice(0, 1)), []);
});
