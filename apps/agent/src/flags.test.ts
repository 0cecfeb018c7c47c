import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseFlags } from './flags.ts';

const detect = (): string => '10.0.0.5';

describe('tug-agent flags', () => {
  it('fills defaults from the node IP', () => {
    const f = parseFlags(['--node-name', 'node-1', '--api', '10.0.0.1:7400, 10.0.0.2:7400', '--insecure-plaintext'], detect);
    assert.equal(f.nodeName, 'node-1');
    assert.deepEqual(f.transport, { insecurePlaintext: true });
    assert.deepEqual(f.api, ['10.0.0.1:7400', '10.0.0.2:7400']);
    assert.equal(f.nodeIP, '10.0.0.5');
    assert.equal(f.listen, '10.0.0.5:7402');
    assert.equal(f.containerd, 'unix:///run/containerd/containerd.sock');
    assert.equal(f.dataDir, '/var/lib/tug-agent');
    assert.equal(f.cgroupParent, '/tugboat');
    assert.equal(f.cgroupDriver, 'cgroupfs');
    assert.equal(f.heartbeatSeconds, 2);
    assert.equal(f.nodeStatusReportSeconds, 60);
    assert.equal(f.clusterDNS, '10.96.0.10');
    assert.equal(f.clusterDomain, 'cluster.local');
    assert.equal(f.dnsUpstreams, undefined);
    assert.equal(f.proxyCheckSeconds, 10);
  });

  it('takes every flag', () => {
    const f = parseFlags(
      [
        '--node-name=n2', '--api=a:1', '--containerd=unix:///tmp/c.sock', '--node-ip=172.29.0.12', '--data-dir=/d/',
        '--labels=zone=a,disk=ssd', '--taints=gpu=yes:NoSchedule', '--listen=172.29.0.12:9000', '--cni-conf-dir=/c',
        '--cni-data-dir=/n', '--cgroup-parent=/tugboat-x/n2', '--heartbeat-seconds=5', '--node-status-report-seconds=300', '--log-level=debug',
        '--cluster-dns=169.254.20.10', '--cluster-domain=tug.example', '--dns-upstreams=192.0.2.53, 192.0.2.54:5353', '--proxy-check-seconds=5',
        '--ca-file=/p/ca.crt', '--cert-file=/p/n2.crt', '--key-file=/p/n2.key',
      ],
      detect,
    );
    assert.equal(f.containerd, 'unix:///tmp/c.sock');
    assert.equal(f.dataDir, '/d');
    assert.deepEqual(f.labels, { zone: 'a', disk: 'ssd' });
    assert.deepEqual(f.taints, [{ key: 'gpu', value: 'yes', effect: 'NoSchedule' }]);
    assert.equal(f.listen, '172.29.0.12:9000');
    assert.equal(f.heartbeatSeconds, 5);
    assert.equal(f.nodeStatusReportSeconds, 300);
    assert.equal(f.clusterDNS, '169.254.20.10');
    assert.equal(f.clusterDomain, 'tug.example');
    assert.deepEqual(f.dnsUpstreams, ['192.0.2.53', '192.0.2.54:5353']);
    assert.equal(f.proxyCheckSeconds, 5);
    assert.deepEqual(f.transport, { tls: { caFile: '/p/ca.crt', certFile: '/p/n2.crt', keyFile: '/p/n2.key' } });
  });

  it('takes a slice as the cgroup parent under the systemd driver', () => {
    const base = ['--node-name', 'n', '--api', 'a:1', '--insecure-plaintext', '--cgroup-driver', 'systemd'];
    assert.equal(parseFlags(base, detect).cgroupParent, 'tugboat.slice');
    assert.equal(parseFlags([...base, '--cgroup-parent', 'lab-pods.slice'], detect).cgroupParent, 'lab-pods.slice');
    assert.throws(() => parseFlags([...base, '--cgroup-parent', '/tugboat'], detect), /--cgroup-parent: "\/tugboat" is not a systemd slice name/);
    assert.throws(() => parseFlags([...base.slice(0, -1), 'cgroupv2'], detect), /--cgroup-driver: must be cgroupfs or systemd, got "cgroupv2"/);
  });

  it('refuses bad input, naming the flag', () => {
    const bad: [string[], RegExp][] = [
      [['--api', 'a:1'], /--node-name: required/],
      [['--node-name', 'Node_1', '--api', 'a:1'], /--node-name: "Node_1" is not a DNS-1123 subdomain/],
      [['--node-name', 'n'], /--api: required/],
      [['--node-name', 'n', '--api', 'a'], /--api: "a" is not HOST:PORT/],
      [['--node-name', 'n', '--api', 'a:1', '--node-ip', '300.1.1.1'], /--node-ip: "300.1.1.1" is not an IPv4 address/],
      [['--node-name', 'n', '--api', 'a:1', '--data-dir', 'rel'], /--data-dir: must be an absolute path/],
      [['--node-name', 'n', '--api', 'a:1', '--heartbeat-seconds', '0'], /--heartbeat-seconds: must be a whole number/],
      [['--node-name', 'n', '--api', 'a:1', '--node-status-report-seconds', '1.5'], /--node-status-report-seconds: must be a whole number from 1 to 3600, got "1.5"/],
      [['--node-name', 'n', '--api', 'a:1', '--taints', 'x:Sometimes'], /--taints: /],
      [['--node-name', 'n', '--api', 'a:1', '--bogus'], /bogus/],
      [['--node-name', 'n', '--api', 'a:1', '--cluster-dns', 'dns'], /--cluster-dns: "dns" is not an IPv4 address/],
      [['--node-name', 'n', '--api', 'a:1', '--cluster-domain', 'Cluster.Local'], /--cluster-domain: "Cluster.Local" is not a DNS domain/],
      [['--node-name', 'n', '--api', 'a:1', '--dns-upstreams', '8.8.8.8:99999'], /--dns-upstreams: "8.8.8.8:99999" is not IP or IP:PORT/],
      [['--node-name', 'n', '--api', 'a:1', '--proxy-check-seconds', '0'], /--proxy-check-seconds: must be a whole number from 1 to 3600/],
      [['--node-name', 'n', '--api', 'a:1'], /--ca-file: is required: TLS needs --ca-file, --cert-file and --key-file \(or --insecure-plaintext/],
      [['--node-name', 'n', '--api', 'a:1', '--insecure-plaintext', '--key-file', '/k'], /--insecure-plaintext: cannot be combined with --key-file/],
    ];
    for (const [argv, re] of bad) assert.throws(() => parseFlags(argv, detect), re, argv.join(' '));
  });

  it('needs a node IP when none can be found', () => {
    assert.throws(() => parseFlags(['--node-name', 'n', '--api', 'a:1'], () => undefined), /--node-ip: the machine has no non-loopback IPv4/);
  });
});
