// Unit tests of what `tug cluster up|down` write and print: the context in the config file,
// the summary of the cluster and the summary line of `down`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, renderConfig, withContext, withoutContext } from './config.ts';
import type { Config } from './config.ts';
import { downSummary, summary } from './local-commands.ts';

const lab: Config = { path: '/c', currentContext: 'lab', contexts: [{ name: 'lab', endpoints: ['10.0.0.1:7400'], namespace: 'web' }] };

describe('local cluster contexts', () => {
  it('adds a context, keeps the others and makes it current', () => {
    const c = withContext(lab, { name: 'local', endpoints: ['172.29.0.11:7400', '172.29.0.12:7400'] }, true);
    assert.deepEqual(parseConfig(renderConfig(c), '/c'), {
      path: '/c',
      currentContext: 'local',
      contexts: [
        { name: 'lab', endpoints: ['10.0.0.1:7400'], namespace: 'web' },
        { name: 'local', endpoints: ['172.29.0.11:7400', '172.29.0.12:7400'] },
      ],
    });
  });

  it('replaces a context of the same name', () => {
    const c = withContext(withContext(lab, { name: 'local', endpoints: ['a:1'] }, false), { name: 'local', endpoints: ['b:2'] }, false);
    assert.equal(c.currentContext, 'lab');
    assert.deepEqual(c.contexts.map((x) => [x.name, x.endpoints]), [['lab', ['10.0.0.1:7400']], ['local', ['b:2']]]);
  });

  it('removes a context, and the current context with it', () => {
    const c = withContext(lab, { name: 'local', endpoints: ['a:1'] }, true);
    assert.deepEqual(withoutContext(c, 'local'), { ...lab, currentContext: '' });
    assert.deepEqual(withoutContext(c, 'lab').currentContext, 'local');
    assert.deepEqual(parseConfig(renderConfig(withoutContext(lab, 'lab')), '/c'), { path: '/c', currentContext: '', contexts: [] });
  });
});

describe('summary', () => {
  it('lists nodes, roles, pod CIDRs, endpoints, logs and how to tear down', () => {
    const node = { netns: 'tug-local-node-1', containerdSocket: '/s', agentAddress: 'x:7402', cgroupParent: '/tugboat-local/node-1', logDir: '/l' };
    const text = summary(
      {
        name: 'local',
        subnet: '172.29.0.0/24',
        bridge: 'tug-local',
        hostIp: '172.29.0.1',
        baseDir: '/var/lib/tugboat/clusters/local',
        endpoints: ['172.29.0.11:7400'],
        tls: { caFile: '/p/ca.crt', certFile: '/p/admin.crt', keyFile: '/p/admin.key' },
        agents: true,
        nodes: [
          { ...node, name: 'node-1', ip: '172.29.0.11', control: true, podCIDR: '10.244.0.0/24', apiAddress: '172.29.0.11:7400' },
          { ...node, name: 'node-2', ip: '172.29.0.12', control: false, podCIDR: '10.244.1.0/24', apiAddress: undefined, netns: 'tug-local-node-2' },
        ],
      },
      'context "local" written',
    );
    assert.match(text, /^local cluster "local" is up: 2 nodes on bridge tug-local \(172\.29\.0\.0\/24, this host is 172\.29\.0\.1\)$/m);
    assert.match(text, /^NODE +IP +ROLES +POD-CIDR +NETNS$/m);
    assert.match(text, /^node-1 +172\.29\.0\.11 +control,agent +10\.244\.0\.0\/24 +tug-local-node-1$/m);
    assert.match(text, /^node-2 +172\.29\.0\.12 +agent +10\.244\.1\.0\/24 +tug-local-node-2$/m);
    assert.match(text, /^API endpoints: 172\.29\.0\.11:7400 \(mutual TLS: CA \/p\/ca\.crt, tug's certificate \/p\/admin\.crt\)$/m);
    assert.match(text, /^logs: \/var\/lib\/tugboat\/clusters\/local\/node-\*\/logs\//m);
    assert.match(text, /^tear down: tug cluster down --name local$/m);
  });
});

describe('downSummary', () => {
  const none = {
    stopped: { agent: 0, control: 0, containerd: 0 },
    thawedCgroups: 0,
    containerProcesses: 0,
    shims: 0,
    otherProcesses: 0,
    shimSockets: 0,
    mounts: 0,
    networkNamespaces: 0,
    veths: 0,
    bridges: 0,
    iptablesRules: 0,
    cgroupHierarchies: 0,
    cniCacheFiles: 0,
    baseDir: undefined,
  };

  it('counts each kind on one line', () => {
    const line = downSummary({
      ...none,
      stopped: { agent: 3, control: 3, containerd: 3 },
      thawedCgroups: 1,
      containerProcesses: 31,
      shims: 30,
      mounts: 64,
      networkNamespaces: 3,
      bridges: 1,
      iptablesRules: 6,
      cgroupHierarchies: 10,
      cniCacheFiles: 30,
      baseDir: '/var/lib/tugboat/clusters/local',
    });
    assert.equal(
      line,
      'stopped 9 processes (3 tug-agent, 3 tug-control, 3 containerd); thawed 1 frozen cgroup; killed 31 container processes and 30 shims; ' +
        'unmounted 64 mounts; removed 3 network namespaces, 1 bridge, 6 iptables rules, cgroups, 30 CNI cache files and /var/lib/tugboat/clusters/local',
    );
  });

  it('leaves out kinds with nothing, and is empty when nothing was done', () => {
    assert.equal(downSummary({ ...none, stopped: { agent: 0, control: 1, containerd: 0 }, otherProcesses: 1, veths: 2 }), 'stopped 1 process (1 tug-control); killed 1 other process; removed 2 veths');
    assert.equal(downSummary({ ...none, baseDir: '/b' }), 'removed /b');
    assert.equal(downSummary(none), '');
  });
});
