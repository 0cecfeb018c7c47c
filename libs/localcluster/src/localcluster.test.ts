// Unit tests of the pure parts of the local cluster: layout, command lines, state file,
// iptables-save reading, process matching, thawing frozen cgroups and reporting stuck processes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentArgv, containerdConfig, controlArgv, inNetns, launchSpecs } from './commands.ts';
import type { Programs } from './commands.ts';
import { roleOf } from './down.ts';
import { bridgeAcceptRule, forwardMayBlock, rulesWithComment, splitRule } from './iptables.ts';
import { cniCacheNames } from './leftovers.ts';
import { parseMountPoints, procCgroupPath, thawCgroups, thawValue } from './host.ts';
import { clusterNames, planCluster, subnetForName, subnetOverlaps } from './plan.ts';
import { commAndStateFromStat, namesDir, startTicksFromStat, stuckReport } from './procs.ts';
import { parseState, renderState } from './state.ts';
import type { ClusterState } from './state.ts';

const programs: Programs = { node: '/usr/bin/node', containerd: '/usr/bin/containerd', controlMain: '/r/bin/tug-control.mjs', agentMain: '/r/bin/tug-agent.mjs', agentNodeFlags: ['--max-semi-space-size=1'] };

describe('planCluster', () => {
  it('lays out the default cluster', () => {
    const p = planCluster();
    assert.equal(p.name, 'local');
    assert.equal(p.subnet, '172.29.0.0/24');
    assert.equal(p.hostIp, '172.29.0.1');
    assert.equal(p.bridge, 'tug-local');
    assert.equal(p.baseDir, '/var/lib/tugboat/clusters/local');
    assert.equal(p.stateFile, '/var/lib/tugboat/clusters/local/state.json');
    assert.deepEqual(p.nodes.map((n) => [n.name, n.ip, n.control, n.netns, n.hostVeth]), [
      ['node-1', '172.29.0.11', true, 'tug-local-node-1', 'tv-local-1'],
      ['node-2', '172.29.0.12', true, 'tug-local-node-2', 'tv-local-2'],
      ['node-3', '172.29.0.13', true, 'tug-local-node-3', 'tv-local-3'],
    ]);
    assert.deepEqual(p.apiEndpoints, ['172.29.0.11:7400', '172.29.0.12:7400', '172.29.0.13:7400']);
    const n = p.nodes[1]!;
    assert.equal(n.netnsPath, '/run/netns/tug-local-node-2');
    assert.equal(n.peerAddress, '172.29.0.12:7401');
    assert.equal(n.agentAddress, '172.29.0.12:7402');
    assert.equal(n.cgroupParent, '/tugboat-local/node-2');
    assert.equal(n.paths.containerdSocket, '/var/lib/tugboat/clusters/local/node-2/containerd/containerd.sock');
    assert.equal(n.paths.cniConfDir, '/var/lib/tugboat/clusters/local/node-2/cni/conf');
    assert.equal(n.paths.logDir, '/var/lib/tugboat/clusters/local/node-2/logs');
  });

  it('keeps interface names within 15 characters', () => {
    const p = planCluster({ name: 'abcdefgh', nodes: 9, control: 5 });
    for (const n of [p.bridge, ...p.nodes.map((x) => x.hostVeth)]) assert.ok(n.length <= 15, n);
    assert.deepEqual(p.nodes.map((n) => n.control), [true, true, true, true, true, false, false, false, false]);
    assert.equal(p.nodes[8]!.ip, `${p.subnet.slice(0, -5)}.19`);
  });

  it('defaults control to an odd count up to 3', () => {
    assert.equal(planCluster({ nodes: 1 }).apiEndpoints.length, 1);
    assert.equal(planCluster({ nodes: 2 }).apiEndpoints.length, 1);
    assert.equal(planCluster({ nodes: 5 }).apiEndpoints.length, 3);
  });

  it('refuses bad options, naming the flag', () => {
    assert.throws(() => planCluster({ name: 'Local' }), /--name/);
    assert.throws(() => planCluster({ name: 'abcdefghi' }), /--name/);
    assert.throws(() => planCluster({ name: 'a-b' }), /--name/);
    assert.throws(() => planCluster({ nodes: 0 }), /--nodes: must be a whole number from 1 to 9/);
    assert.throws(() => planCluster({ nodes: 10 }), /--nodes/);
    assert.throws(() => planCluster({ nodes: 3, control: 2 }), /--control: must be odd/);
    assert.throws(() => planCluster({ nodes: 2, control: 3 }), /--control: must be a whole number from 1 to 2/);
    assert.throws(() => planCluster({ subnet: '172.29.0.0/16' }), /--subnet/);
    assert.throws(() => planCluster({ subnet: '8.8.8.0/24' }), /private/);
    assert.throws(() => planCluster({ subnet: '10.244.1.0/24' }), /pod network/);
    assert.equal(planCluster({ subnet: '192.168.77.0/24' }).nodes[0]!.ip, '192.168.77.11');
  });

  it('derives other clusters\' subnets from the name, never the default one', () => {
    assert.equal(subnetForName('t1'), subnetForName('t1'));
    for (const n of ['t1', 't2', 'a', 'zzzzzzzz', 'x9']) {
      assert.match(subnetForName(n), /^172\.29\.(\d+)\.0\/24$/);
      assert.notEqual(subnetForName(n), '172.29.0.0/24');
    }
    assert.notEqual(subnetForName('t1'), subnetForName('t2'));
  });

  it('finds subnet overlaps with host networks', () => {
    assert.equal(subnetOverlaps('172.29.5.0/24', '172.29.5.200', 24), true);
    assert.equal(subnetOverlaps('172.29.5.0/24', '172.29.6.1', 24), false);
    assert.equal(subnetOverlaps('172.29.5.0/24', '172.16.0.1', 12), true);
    assert.equal(subnetOverlaps('172.29.5.0/24', '172.29.5.9', 32), true);
    assert.equal(subnetOverlaps('172.29.5.0/24', '10.0.0.1', 8), false);
  });

  it('names what a cluster makes from its name alone', () => {
    assert.deepEqual(clusterNames('t12', '/s'), {
      name: 't12',
      baseDir: '/s/clusters/t12',
      stateFile: '/s/clusters/t12/state.json',
      bridge: 'tug-t12',
      netnsPrefix: 'tug-t12-node-',
      vethPrefix: 'tv-t12-',
      cgroupDir: 'tugboat-t12',
      iptablesComment: 'tugboat:t12',
    });
  });
});

describe('node command lines', () => {
  const plan = planCluster({ name: 'x', nodes: 3, control: 1, subnet: '172.29.9.0/24', stateRoot: '/s' });
  it('runs everything through nsenter --net (not ip netns exec)', () => {
    assert.deepEqual(inNetns(plan.nodes[0]!, ['a', 'b']), ['nsenter', '--net=/run/netns/tug-x-node-1', '--', 'a', 'b']);
    const specs = launchSpecs(plan, 'containerd', programs);
    assert.equal(specs.length, 3);
    assert.deepEqual(specs[2]!.argv, ['nsenter', '--net=/run/netns/tug-x-node-3', '--', '/usr/bin/containerd', '--config', '/s/clusters/x/node-3/containerd/config.toml', '--log-level', 'info']);
    assert.equal(specs[2]!.logFile, '/s/clusters/x/node-3/logs/containerd.log');
    assert.deepEqual(launchSpecs(plan, 'control', programs).map((s) => s.node), ['node-1']);
    assert.equal(launchSpecs(plan, 'agent', programs).length, 3);
  });

  it('founds the control plane with every control node', () => {
    const p3 = planCluster({ name: 'x', nodes: 3, control: 3, subnet: '172.29.9.0/24', stateRoot: '/s' });
    assert.deepEqual(controlArgv(p3, p3.nodes[1]!, programs), [
      '/usr/bin/node', '/r/bin/tug-control.mjs',
      '--name', 'node-2',
      '--data-dir', '/s/clusters/x/node-2/control',
      '--listen-peer', '172.29.9.12:7401',
      '--listen-api', '172.29.9.12:7400',
      '--initial-cluster', 'node-1=172.29.9.11:7401,node-2=172.29.9.12:7401,node-3=172.29.9.13:7401',
      '--ca-file', '/s/clusters/x/pki/ca.crt',
      '--cert-file', '/s/clusters/x/node-2/tls/control.crt',
      '--key-file', '/s/clusters/x/node-2/tls/control.key',
      '--ca-key-file', '/s/clusters/x/pki/ca.key',
      '--encryption-key-file', '/s/clusters/x/pki/encryption-keys.yaml',
    ]);
    assert.throws(() => controlArgv(plan, plan.nodes[1]!, programs), /not a control node/);
  });

  it('gives the agent its node, API, containerd, CNI dirs and cgroup parent', () => {
    assert.deepEqual(agentArgv(plan, plan.nodes[1]!, programs), [
      '/usr/bin/node', '--max-semi-space-size=1', '/r/bin/tug-agent.mjs',
      '--node-name', 'node-2',
      '--api', '172.29.9.11:7400',
      '--containerd', '/s/clusters/x/node-2/containerd/containerd.sock',
      '--node-ip', '172.29.9.12',
      '--data-dir', '/s/clusters/x/node-2/agent',
      '--listen', '172.29.9.12:7402',
      '--cni-conf-dir', '/s/clusters/x/node-2/cni/conf',
      '--cni-data-dir', '/s/clusters/x/node-2/cni/data',
      '--cgroup-parent', '/tugboat-x/node-2',
      '--ca-file', '/s/clusters/x/pki/ca.crt',
      '--cert-file', '/s/clusters/x/node-2/tls/agent.crt',
      '--key-file', '/s/clusters/x/node-2/tls/agent.key',
    ]);
  });

  it('renders the node containerd config with its own dirs and netns under its state dir', () => {
    const t = containerdConfig(plan.nodes[0]!);
    assert.match(t, /^root = "\/s\/clusters\/x\/node-1\/containerd\/root"$/m);
    assert.match(t, /^state = "\/s\/clusters\/x\/node-1\/containerd\/state"$/m);
    assert.match(t, /netns_mounts_under_state_dir = true/);
    assert.match(t, /sandbox_image = "tugboat.local\/pause:latest"/);
    assert.match(t, /bin_dir = "\/usr\/lib\/cni"/);
    assert.match(t, /conf_dir = "\/s\/clusters\/x\/node-1\/cni\/conf"/);
    assert.match(t, /Root = "\/s\/clusters\/x\/node-1\/containerd\/runc"/);
  });
});

describe('state file', () => {
  const state: ClusterState = {
    version: 1,
    name: 'x',
    subnet: '172.29.9.0/24',
    nodes: 2,
    control: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    processes: [{ node: 'node-1', role: 'containerd', pid: 42, startTicks: '1234', logFile: '/l' }],
    iptablesRules: [bridgeAcceptRule('tug-x', 'tugboat:x')],
  };
  it('round-trips', () => {
    assert.deepEqual(parseState(renderState(state), 'f'), state);
    const withDown: ClusterState = { ...state, downNodes: ['node-2'], pausedNodes: ['node-1'] };
    assert.deepEqual(parseState(renderState(withDown), 'f'), withDown);
    const withNetem: ClusterState = {
      ...state,
      netem: [
        { node: 'node-1', delayMs: 200, jitterMs: 20, lossPercent: 10, via: 'iptables', delayer: { pid: 4242, startTicks: '99' } },
        { node: 'node-2', delayMs: 0, jitterMs: 0, lossPercent: 5, via: 'tc' },
      ],
    };
    assert.deepEqual(parseState(renderState(withNetem), 'f'), withNetem);
  });
  it('names the bad field', () => {
    assert.throws(() => parseState('{', 'f'), /f: \(file\): not JSON/);
    assert.throws(() => parseState(JSON.stringify({ ...state, version: 2 }), 'f'), /f: version: must be 1/);
    assert.throws(() => parseState(JSON.stringify({ ...state, processes: [{ ...state.processes[0], role: 'x' }] }), 'f'), /processes\[0\]\.role/);
    assert.throws(() => parseState(JSON.stringify({ ...state, processes: [{ ...state.processes[0], pid: -1 }] }), 'f'), /processes\[0\]\.pid/);
    assert.throws(() => parseState(JSON.stringify({ ...state, iptablesRules: [{ table: 'filter', chain: 'F', spec: [1] }] }), 'f'), /iptablesRules\[0\]\.spec/);
    assert.throws(() => parseState(JSON.stringify({ ...state, downNodes: 'node-2' }), 'f'), /f: downNodes: must be a list of node names/);
    assert.throws(() => parseState(JSON.stringify({ ...state, pausedNodes: [1] }), 'f'), /f: pausedNodes: must be a list of node names/);
    const netem = { node: 'node-1', delayMs: 200, jitterMs: 0, lossPercent: 0, via: 'iptables' };
    assert.throws(() => parseState(JSON.stringify({ ...state, netem: [{ ...netem, delayer: { pid: 1, startTicks: 'x' } }] }), 'f'), /f: netem: must be a list of/);
    assert.throws(() => parseState(JSON.stringify({ ...state, netem: [{ ...netem, via: 'nft' }] }), 'f'), /f: netem: must be a list of/);
  });
});

describe('iptables-save reading', () => {
  const save = `# Generated by iptables-save v1.8.9 (nf_tables)
*nat
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 172.29.9.0/24 -m comment --comment "tugboat:x" -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
-A FORWARD -i tug-x -o tug-x -m comment --comment "tugboat:x" -j ACCEPT
-A FORWARD -i tug-xy -o tug-xy -m comment --comment "tugboat:xy" -j ACCEPT
-A FORWARD -m comment --comment "a \\"quoted\\" word" -j ACCEPT
COMMIT
`;
  it('splits rules honouring quotes', () => {
    assert.deepEqual(splitRule('-A F -m comment --comment "a \\"b\\" c" -j X'), ['-A', 'F', '-m', 'comment', '--comment', 'a "b" c', '-j', 'X']);
  });
  it('finds the rules of exactly one comment, as deletable specs', () => {
    assert.deepEqual(rulesWithComment(save, 'tugboat:x'), [
      { table: 'nat', chain: 'POSTROUTING', spec: ['-s', '172.29.9.0/24', '-m', 'comment', '--comment', 'tugboat:x', '-j', 'MASQUERADE'] },
      { table: 'filter', chain: 'FORWARD', spec: ['-i', 'tug-x', '-o', 'tug-x', '-m', 'comment', '--comment', 'tugboat:x', '-j', 'ACCEPT'] },
    ]);
  });
  it('tells when FORWARD may drop bridged traffic', () => {
    assert.equal(forwardMayBlock(save), true);
    assert.equal(forwardMayBlock('*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n'), false);
    assert.equal(forwardMayBlock('*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -j DOCKER-USER\nCOMMIT\n'), true);
    assert.equal(forwardMayBlock('*nat\n:FORWARD DROP [0:0]\nCOMMIT\n*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n'), false);
  });
});

describe('finding what belongs to a cluster', () => {
  it('matches command lines naming the base dir, not a longer name', () => {
    assert.equal(namesDir(['containerd', '--config', '/c/t1/node-1/containerd/config.toml'], '/c/t1'), true);
    assert.equal(namesDir(['x', '--data-dir=/c/t1/node-1/agent'], '/c/t1'), true);
    assert.equal(namesDir(['containerd', '--config', '/c/t12/node-1/containerd/config.toml'], '/c/t1'), false);
    assert.equal(namesDir(['sh'], '/c/t1'), false);
  });
  it('reads the start time from /proc/PID/stat', () => {
    const stat = '4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 ...';
    assert.equal(startTicksFromStat(stat), '987654');
  });
  it('tells roles from command lines', () => {
    assert.equal(roleOf(['/usr/bin/node', '/r/bin/tug-agent.mjs', '--node-name', 'n']), 'agent');
    assert.equal(roleOf(['/usr/bin/node', '/r/bin/tug-control.mjs']), 'control');
    assert.equal(roleOf(['/usr/bin/containerd', '--config', 'c']), 'containerd');
    assert.equal(roleOf(['/usr/bin/containerd-shim-runc-v2', '-id', 'x']), 'other');
  });
  it('decodes mount points', () => {
    assert.deepEqual(parseMountPoints('a /x\\040y ext4 rw 0 0\nb /z tmpfs rw 0 0\n'), ['/x y', '/z']);
  });
  it('recognises libcni cache entries of the cluster', () => {
    const config = Buffer.from('{"ipam":{"dataDir":"/c/t1/node-1/cni/data"}}').toString('base64');
    assert.equal(cniCacheNames(JSON.stringify({ containerId: 'a', config }), '/c/t1'), true);
    assert.equal(cniCacheNames(JSON.stringify({ containerId: 'a', config }), '/c/t'), false);
    assert.equal(cniCacheNames('not json', '/c/t1'), false);
  });
});

describe('frozen cgroups', () => {
  it('thaws v1 FROZEN and FREEZING and v2 1, nothing else', () => {
    assert.equal(thawValue('freezer.state', 'FROZEN\n'), 'THAWED');
    assert.equal(thawValue('freezer.state', 'FREEZING\n'), 'THAWED');
    assert.equal(thawValue('freezer.state', 'THAWED\n'), undefined);
    assert.equal(thawValue('cgroup.freeze', '1\n'), '0');
    assert.equal(thawValue('cgroup.freeze', '0\n'), undefined);
  });

  it('thaws every frozen level of a tree, parents first', () => {
    const root = mkdtempSync(join(tmpdir(), 'thaw-'));
    try {
      const top = join(root, 'tugboat-x');
      const files: [string, string][] = [
        ['freezer.state', 'FROZEN'],
        ['pod1/freezer.state', 'THAWED'],
        ['pod1/c1/freezer.state', 'FREEZING'],
        ['pod1/c2/freezer.state', 'THAWED'],
        ['pod2/cgroup.freeze', '1'],
      ];
      for (const [f, content] of files) {
        mkdirSync(join(top, f, '..'), { recursive: true });
        writeFileSync(join(top, f), `${content}\n`);
      }
      const thawed = thawCgroups([top]);
      assert.deepEqual(thawed[0], { cgroup: top, was: 'FROZEN' });
      assert.deepEqual(thawed.map((t) => [t.cgroup.slice(top.length), t.was]).sort(), [['', 'FROZEN'], ['/pod1/c1', 'FREEZING'], ['/pod2', '1']]);
      assert.deepEqual(files.map(([f]) => readFileSync(join(top, f), 'utf8').trim()), ['THAWED', 'THAWED', 'THAWED', 'THAWED', '0']);
      assert.deepEqual(thawCgroups([top]), [], 'nothing left to thaw');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reads a process\'s cgroup per hierarchy from /proc/PID/cgroup', () => {
    const text = '9:name=systemd:/tugboat-x/node-1/p/c\n6:freezer:/tugboat-x/node-1/p/c\n2:cpu,cpuacct:/a\n0::/tugboat-x/node-1/p/c\n';
    assert.equal(procCgroupPath(text, 'freezer'), '/tugboat-x/node-1/p/c');
    assert.equal(procCgroupPath(text, 'cpuacct'), '/a');
    assert.equal(procCgroupPath(text, ''), '/tugboat-x/node-1/p/c');
    assert.equal(procCgroupPath('0::/only-v2\n', 'freezer'), undefined);
  });

  it('reports processes that survived SIGKILL by cgroup and freezer state', () => {
    assert.deepEqual(commAndStateFromStat('4242 (my (odd) prog) D 1 4242 4242 0'), { comm: 'my (odd) prog', state: 'D' });
    const frozen = 'freezer cgroup /tugboat-x/node-1/p/c FROZEN';
    assert.equal(
      stuckReport([
        { pid: 2, comm: 'sh', state: 'D', cgroup: frozen },
        { pid: 3, comm: 'sh', state: 'S', cgroup: 'freezer cgroup /tugboat-x/node-1/p/d THAWED' },
        { pid: 4, comm: 'httpd', state: 'D', cgroup: frozen },
        { pid: 5, comm: undefined, state: undefined, cgroup: undefined },
        { pid: 6, comm: 'runc', state: 'D', cgroup: undefined },
      ]),
      '2 (sh, state D), 4 (httpd, state D) in freezer cgroup /tugboat-x/node-1/p/c FROZEN; 3 (sh, state S) in freezer cgroup /tugboat-x/node-1/p/d THAWED; ' +
        '6 (runc, state D) in an unknown cgroup; 5 ended meanwhile',
    );
  });
});
