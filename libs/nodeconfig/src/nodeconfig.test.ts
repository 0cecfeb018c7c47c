// Unit tests of @tugboat/nodeconfig: the programs' flags, the systemd units and an installed
// host's files. (The flags `tug cluster up` gives its nodes are pinned in localcluster.test.ts.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { agentArgs, controlArgs } from './program-args.ts';
import { execLine } from './units.ts';
import { hostFiles } from './host-layout.ts';
import type { HostSettings } from './host-layout.ts';

const tls = { caFile: '/p/ca.crt', certFile: '/p/x.crt', keyFile: '/p/x.key' };
const programs = { node: '/usr/local/bin/node', controlMain: '/opt/tugboat/bin/tug-control.mjs', agentMain: '/opt/tugboat/bin/tug-agent.mjs' };

/** execStart is the argv of a unit's ExecStart (our lines need no unquoting). */
function execStart(unit: string): string[] {
  const line = unit.split('\n').find((l) => l.startsWith('ExecStart='));
  assert.ok(line !== undefined, 'the unit has an ExecStart line');
  return line.slice('ExecStart='.length).split(' ');
}

/** setting is the value of KEY= in a unit (the first one). */
function setting(unit: string, key: string): string | undefined {
  return unit.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1);
}

describe('controlArgs', () => {
  const base = { name: 'node2', dataDir: '/d', listenPeer: '10.0.0.12:7401', listenApi: '10.0.0.12:7400', tls, caKeyFile: '/p/ca.key', encryptionKeyFile: '/p/enc.yaml' };
  it('founds a cluster with its members, or joins through a member', () => {
    const founding = controlArgs({ ...base, founding: { initialCluster: [{ name: 'node1', peerAddress: '10.0.0.11:7401' }, { name: 'node2', peerAddress: '10.0.0.12:7401' }] } });
    assert.deepEqual(founding.slice(8, 10), ['--initial-cluster', 'node1=10.0.0.11:7401,node2=10.0.0.12:7401']);
    const joining = controlArgs({ ...base, founding: { join: '10.0.0.11:7400' } });
    assert.deepEqual(joining.slice(8, 10), ['--join', '10.0.0.11:7400']);
    assert.ok(!joining.includes('--initial-cluster'));
  });
});

describe('agentArgs', () => {
  const base = {
    nodeName: 'node2', apiEndpoints: ['10.0.0.11:7400', '10.0.0.12:7400'], containerdSocket: '/run/c.sock', nodeIp: '10.0.0.12', dataDir: '/a',
    listen: '10.0.0.12:7402', cniConfDir: '/etc/cni/net.d', cniDataDir: '/var/lib/cni/networks', cgroupParent: '/tugboat', tls,
  };
  it('names the cgroup driver only when it is systemd', () => {
    assert.ok(!agentArgs(base).includes('--cgroup-driver'));
    const systemd = agentArgs({ ...base, cgroupParent: 'tugboat.slice', cgroupDriver: 'systemd' });
    assert.deepEqual(systemd.slice(16, 20), ['--cgroup-parent', 'tugboat.slice', '--cgroup-driver', 'systemd']);
    assert.deepEqual(agentArgs(base).slice(2, 4), ['--api', '10.0.0.11:7400,10.0.0.12:7400']);
  });
});

describe('execLine', () => {
  it('leaves plain words alone and quotes the rest so systemd reads them back as given', () => {
    assert.equal(execLine(['/usr/bin/node', '--a=b,c', '10.0.0.1:7400']), '/usr/bin/node --a=b,c 10.0.0.1:7400');
    assert.equal(execLine(['a b', 'x"y', 'c\\d']), '"a b" "x\\"y" "c\\\\d"');
    assert.equal(execLine(['50%', '$HOME']), '50%% $$HOME');
  });
});

describe('hostFiles', () => {
  const control: HostSettings = {
    nodeName: 'node1', address: '192.168.56.11', founding: { initialCluster: [{ name: 'node1', peerAddress: '192.168.56.11:7401' }] },
    apiEndpoints: ['192.168.56.11:7400'], cgroupDriver: 'systemd', programs,
  };

  it('writes containerd\'s config and both units on a control host', () => {
    const files = hostFiles(control);
    assert.deepEqual(files.map((f) => f.path), ['/etc/containerd/config.toml', '/etc/systemd/system/tug-agent.service', '/etc/systemd/system/tug-control.service']);
    const [containerd, agent, member] = files.map((f) => f.content) as [string, string, string];
    assert.match(containerd, /SystemdCgroup = true/);
    assert.match(containerd, /address = "\/run\/containerd\/containerd.sock"/);
    assert.match(containerd, /conf_dir = "\/etc\/cni\/net.d"/);
    assert.deepEqual(execStart(member).slice(0, 10), [
      '/usr/local/bin/node', '/opt/tugboat/bin/tug-control.mjs', '--name', 'node1', '--data-dir', '/var/lib/tugboat/control',
      '--listen-peer', '192.168.56.11:7401', '--listen-api', '192.168.56.11:7400',
    ]);
    assert.ok(execStart(member).includes('--encryption-key-file'));
    assert.equal(setting(member, 'StateDirectory'), 'tugboat/control');
    assert.equal(setting(member, 'ReadWritePaths'), '/etc/tugboat/pki');
    assert.equal(setting(member, 'Restart'), 'on-failure');
    const agentArgv = execStart(agent);
    assert.deepEqual(agentArgv.slice(0, 3), ['/usr/local/bin/node', '--max-semi-space-size=1', '/opt/tugboat/bin/tug-agent.mjs']);
    assert.ok(agentArgv.join(' ').includes('--cgroup-parent tugboat.slice --cgroup-driver systemd'));
    assert.ok(agentArgv.join(' ').includes('--cert-file /etc/tugboat/pki/agent.crt'));
    assert.equal(setting(agent, 'Requires'), 'containerd.service');
    assert.equal(setting(agent, 'KillMode'), 'process');
  });

  it('gives a worker-only host no tug-control, and cgroupfs where asked', () => {
    const files = hostFiles({ ...control, founding: undefined, cgroupDriver: 'cgroupfs' });
    assert.equal(files.length, 2);
    assert.match(files[0]!.content, /SystemdCgroup = false/);
    assert.ok(execStart(files[1]!.content).join(' ').includes('--cgroup-parent /tugboat --ca-file'));
  });
});
