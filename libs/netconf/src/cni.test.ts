import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderCniConfig, cniConfigList } from '@tugboat/netconf';

test('CNI conflist: bridge tug0 + host-local on the pod CIDR + portmap, no loopback', () => {
  const { fileName, json } = renderCniConfig({ podCIDR: '10.244.3.0/24', dataDir: '/run/tug/n1/cni' });
  assert.equal(fileName, '10-tugboat.conflist');
  assert.ok(json.endsWith('\n'));
  const conf = JSON.parse(json);
  assert.equal(conf.cniVersion, '1.0.0');
  assert.equal(conf.name, 'tugboat');
  assert.deepEqual(
    conf.plugins.map((p: { type: string }) => p.type),
    ['bridge', 'portmap'],
  );
  const [bridge, portmap] = conf.plugins;
  assert.equal(bridge.bridge, 'tug0');
  assert.equal(bridge.isGateway, true);
  assert.equal(bridge.ipMasq, true);
  assert.equal(bridge.hairpinMode, true);
  assert.deepEqual(bridge.ipam, {
    type: 'host-local',
    ranges: [[{ subnet: '10.244.3.0/24', gateway: '10.244.3.1' }]],
    routes: [{ dst: '0.0.0.0/0' }],
    dataDir: '/run/tug/n1/cni',
  });
  assert.deepEqual(portmap.capabilities, { portMappings: true });
});

test('CNI conflist defaults dataDir and rejects CIDRs outside the pod network', () => {
  const conf = cniConfigList({ podCIDR: '10.244.0.0/24' }) as { plugins: { ipam?: { dataDir: string } }[] };
  assert.equal(conf.plugins[0]?.ipam?.dataDir, '/var/lib/cni/networks');
  assert.throws(() => cniConfigList({ podCIDR: '10.245.0.0/24' }), /inside 10\.244\.0\.0\/16/);
  assert.throws(() => cniConfigList({ podCIDR: '10.244.0.0/16' }), /must be a \/24/);
  assert.throws(() => cniConfigList({ podCIDR: '10.244.0.1/24' }), /host bits/);
  assert.throws(() => cniConfigList({ podCIDR: '10.244.0.0/24', mtu: 10 }), /invalid MTU/);
});
