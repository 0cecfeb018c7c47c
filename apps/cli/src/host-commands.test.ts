// host-commands.test.ts: `tug host configure` writing into a --root dir: a founding node's
// certificates, bundles, images, containerd config, units and context; a second run that
// writes nothing; bad input refused with the flag named and nothing written. (Joining through a
// real cluster is the machine test's part: test/machines.)
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCaptured } from '@tugboat/cli';

describe('tug host configure', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'tug-host-configure-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));
  const tug = (args: string[]) => runCaptured(['host', 'configure', '--root', root, ...args], { env: {}, homedir: '/root' });
  const wrote = (stdout: string): string[] => stdout.split('\n').filter((l) => l.startsWith('wrote ')).map((l) => l.slice('wrote '.length));

  it('founds a cluster: certificates, programs, images, containerd config, units and a context', async () => {
    const r = await tug(['--init', '--node-name', 'node1', '--address', '192.168.56.11', '--cluster-name', 'lab', '--cgroup-driver', 'cgroupfs']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(wrote(r.stdout).map((w) => w.split(':')[0]).sort(), [
      `${root}/etc/containerd/config.toml`,
      `${root}/etc/systemd/system/tug-agent.service`,
      `${root}/etc/systemd/system/tug-control.service`,
      `${root}/etc/tugboat/pki/admin.crt`,
      `${root}/etc/tugboat/pki/admin.key`,
      `${root}/etc/tugboat/pki/agent.crt`,
      `${root}/etc/tugboat/pki/agent.key`,
      `${root}/etc/tugboat/pki/ca.crt`,
      `${root}/etc/tugboat/pki/ca.key`,
      `${root}/etc/tugboat/pki/control.crt`,
      `${root}/etc/tugboat/pki/control.key`,
      `${root}/etc/tugboat/pki/encryption-keys.yaml`,
      `${root}/opt/tugboat/bin/tug-agent.mjs`,
      `${root}/opt/tugboat/bin/tug-control.mjs`,
      `${root}/root/.tug/config`,
    ].sort());
    assert.match(r.stdout, /^made a cluster CA and node1's certificates in \/etc\/tugboat\/pki$/m);
    assert.match(r.stdout, /^node1: control member and worker, cgroup driver cgroupfs; 0 of 3 config files unchanged$/m);
    assert.equal(statSync(join(root, 'etc/tugboat/pki/ca.key')).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(join(root, 'var/lib/tugboat/images')).sort(), ['pause.tar', 'web-v2.tar', 'web.tar']);
    const control = readFileSync(join(root, 'etc/systemd/system/tug-control.service'), 'utf8');
    assert.match(control, /--initial-cluster node1=192.168.56.11:7401 /);
    assert.match(control, /\/opt\/tugboat\/bin\/tug-control.mjs --name node1 /);
    const agent = readFileSync(join(root, 'etc/systemd/system/tug-agent.service'), 'utf8');
    assert.match(agent, /--api 192.168.56.11:7400 /);
    const config = readFileSync(join(root, 'root/.tug/config'), 'utf8');
    assert.match(config, /name: lab/);
    assert.match(config, /192.168.56.11:7400/);
  });

  it('writes nothing the second time, and keeps the CA', async () => {
    const ca = readFileSync(join(root, 'etc/tugboat/pki/ca.crt'), 'utf8');
    const r = await tug(['--init', '--node-name', 'node1', '--address', '192.168.56.11', '--cluster-name', 'lab', '--cgroup-driver', 'cgroupfs']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(wrote(r.stdout), []);
    assert.match(r.stdout, /; 3 of 3 config files unchanged$/m);
    assert.equal(readFileSync(join(root, 'etc/tugboat/pki/ca.crt'), 'utf8'), ca);
    const systemd = await tug(['--init', '--node-name', 'node1', '--address', '192.168.56.11', '--cluster-name', 'lab', '--cgroup-driver', 'systemd']);
    assert.deepEqual(wrote(systemd.stdout).sort(), [`${root}/etc/containerd/config.toml`, `${root}/etc/systemd/system/tug-agent.service`]);
  });

  it('refuses bad input, naming the flag, and writes nothing', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'tug-host-configure-bad-'));
    try {
      for (const [args, re] of [
        [['--init', '--node-name', 'Node_1', '--address', '10.0.0.1'], /--node-name: "Node_1" is not a DNS-1123 label/],
        [['--init', '--node-name', 'n1', '--address', 'n1.lan'], /--address: "n1.lan" is not an IPv4 address/],
        [['--node-name', 'n1', '--address', '10.0.0.1'], /give --init .* or --join ADDR/],
        [['--init', '--join', '10.0.0.2', '--node-name', 'n1', '--address', '10.0.0.1'], /not both/],
        [['--init', '--worker-only', '--node-name', 'n1', '--address', '10.0.0.1'], /--worker-only: the node that founds a cluster is a control member/],
        [['--join', '10.0.0.2', '--node-name', 'n1', '--address', '10.0.0.1'], /--token: joining needs a bootstrap token/],
        [['--join', '10.0.0.2', '--token', 'abcdef.0123456789abcdef', '--node-name', 'n1', '--address', '10.0.0.1'], /--ca-hash: joining needs the CA hash/],
        [['--init', '--node-name', 'n1', '--address', '10.0.0.1', '--cgroup-driver', 'v2'], /--cgroup-driver: must be auto, systemd or cgroupfs, got "v2"/],
        [
          ['--join', '10.0.0.2', '--token', 'abcdef.0123456789abcdef', '--ca-hash', `sha256:${'0'.repeat(64)}`, '--node-name', 'n2', '--address', '10.0.0.3'],
          /--encryption-key-file: a control member needs the cluster's Secrets key/,
        ],
      ] as const) {
        const r = await runCaptured(['host', 'configure', '--root', empty, ...args], { env: {}, homedir: '/root' });
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, re);
      }
      assert.deepEqual(readdirSync(empty), []);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('a join that reaches no member fails with why, and writes no certificate', async () => {
    const worker = mkdtempSync(join(tmpdir(), 'tug-host-configure-join-'));
    try {
      const r = await runCaptured(
        ['host', 'configure', '--root', worker, '--worker-only', '--join', '127.0.0.1:1', '--token', 'abcdef.0123456789abcdef', '--ca-hash', `sha256:${'0'.repeat(64)}`, '--node-name', 'n2', '--address', '10.0.0.3'],
        { env: {}, homedir: '/root' },
      );
      assert.equal(r.code, 1);
      assert.match(r.stderr, /host configure: join failed, nothing written: no member answered: 127.0.0.1:1/);
      assert.ok(!existsSync(join(worker, 'etc/tugboat/pki/agent.crt')));
    } finally {
      rmSync(worker, { recursive: true, force: true });
    }
  });
});
