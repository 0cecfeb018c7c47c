// network.test.ts: NodeNetwork against the fake API: the CNI config once the pod CIDR comes,
// routes following the Nodes, sysctls. The `ip` commands go to a recording fake, and in one
// test to the real `ip` inside a network namespace the test makes and deletes.
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { Logger } from 'pino';
import type { Node } from '@tugboat/api';
import { TugClient } from '@tugboat/client';
import { TestApi, TestApiServer } from '@tugboat/apiserver/testing';
import { renderCniConfig } from '@tugboat/netconf';
import { NodeNetwork, ipRunner } from './network.ts';
import type { RunIp } from './network.ts';

function node(name: string, ip: string, podCIDR?: string): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    spec: podCIDR === undefined ? {} : { podCIDR },
    status: { addresses: [{ type: 'InternalIP', address: ip }] },
  };
}

function logCapture(): { log: Logger; msgs: () => string[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l !== '') out.push((JSON.parse(l) as { msg: string }).msg);
      done();
    },
  });
  const log: Logger = pino({ level: 'debug' }, stream);
  return { log, msgs: () => out };
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** FakeRoutes is an in-memory route table behind a RunIp that understands what NodeNetwork runs. */
class FakeRoutes {
  readonly table = new Map<string, string>();
  readonly commands: string[] = [];
  readonly run: RunIp = async (args) => {
    const cmd = args.join(' ');
    this.commands.push(cmd);
    if (cmd === '-j route show proto 201') return JSON.stringify([...this.table].map(([dst, gateway]) => ({ dst, gateway, dev: 'eth0', protocol: '201', flags: [] })));
    let m = /^route replace (\S+) via (\S+) proto 201$/.exec(cmd);
    if (m !== null) {
      this.table.set(m[1]!, m[2]!);
      return '';
    }
    m = /^route del (\S+) proto 201$/.exec(cmd);
    if (m !== null && this.table.delete(m[1]!)) return '';
    throw new Error(`unexpected ip ${cmd}`);
  };

  routes(): Record<string, string> {
    return Object.fromEntries([...this.table].sort());
  }
}

describe('NodeNetwork', () => {
  let api: TestApi;
  let server: TestApiServer;
  let client: TugClient;
  let dir: string;
  let net: NodeNetwork | undefined;

  beforeEach(async () => {
    api = new TestApi();
    server = await TestApiServer.start(api);
    client = new TugClient({ endpoints: [server.address], backoffMs: 5, backoffMsMax: 50 });
    dir = mkdtempSync(join(tmpdir(), 'tug-node-network-'));
  });
  afterEach(async () => {
    await net?.stop();
    net = undefined;
    client.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function procSys(bridge: boolean): string {
    const root = join(dir, 'proc-sys');
    mkdirSync(join(root, 'net/ipv4'), { recursive: true });
    writeFileSync(join(root, 'net/ipv4/ip_forward'), '0\n');
    if (bridge) {
      mkdirSync(join(root, 'net/bridge'), { recursive: true });
      writeFileSync(join(root, 'net/bridge/bridge-nf-call-iptables'), '0\n');
    }
    return root;
  }

  test('writes the CNI config once the pod CIDR is assigned, and keeps routes to the other nodes in sync', async () => {
    await client.nodes.create(node('n1', '172.30.0.11'));
    await client.nodes.create(node('n2', '172.30.0.12', '10.244.1.0/24'));
    const routes = new FakeRoutes();
    const { log, msgs } = logCapture();
    const confDir = join(dir, 'net.d');
    const sys = procSys(true);
    net = new NodeNetwork({ client, nodeName: 'n1', cniConfDir: confDir, cniDataDir: '/var/lib/tug/cni', log, runIp: routes.run, procSysDir: sys });
    let assigned: string | undefined;
    const started = net.start().then((c) => (assigned = c));

    await until('the route to n2', () => routes.table.size === 1);
    assert.deepEqual(routes.routes(), { '10.244.1.0/24': '172.30.0.12' });
    assert.equal(assigned, undefined, 'no pod CIDR yet');
    assert.equal(existsSync(confDir), false);
    assert.equal(readFileSync(join(sys, 'net/ipv4/ip_forward'), 'utf8').trim(), '1');
    assert.equal(readFileSync(join(sys, 'net/bridge/bridge-nf-call-iptables'), 'utf8').trim(), '1');

    const n1 = await client.nodes.get('n1');
    await client.nodes.update({ ...n1, spec: { podCIDR: '10.244.0.0/24' } });
    await started;
    assert.equal(assigned, '10.244.0.0/24');
    assert.equal(net.storedNode()?.spec?.podCIDR, '10.244.0.0/24', 'the Node as the watch saw it, for the heartbeat');
    const expected = renderCniConfig({ podCIDR: '10.244.0.0/24', dataDir: '/var/lib/tug/cni' });
    assert.equal(readFileSync(join(confDir, expected.fileName), 'utf8'), expected.json);
    assert.deepEqual(readdirSync(confDir), [expected.fileName], 'no temp file left behind');

    await client.nodes.create(node('n3', '172.30.0.13', '10.244.2.0/24'));
    await until('the route to n3', () => routes.table.size === 2);
    const n2 = await client.nodes.get('n2');
    await client.nodes.updateStatus({ ...n2, status: { addresses: [{ type: 'InternalIP', address: '172.30.0.22' }] } });
    await until('the route to n2 via its new IP', () => routes.table.get('10.244.1.0/24') === '172.30.0.22');
    await client.nodes.delete('n3');
    await until('the route to n3 removed', () => routes.table.size === 1);
    assert.deepEqual(routes.routes(), { '10.244.1.0/24': '172.30.0.22' });
    assert.equal(msgs().filter((m) => m === 'node network: CNI config written').length, 1, 'the config is written once');
    assert.ok(!routes.commands.some((c) => c.includes('10.244.0.0/24')), 'never a route to our own pod CIDR');

    const ran = routes.commands.length;
    const beating = await client.nodes.get('n2');
    await client.nodes.updateStatus({ ...beating, status: { ...beating.status, conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: '2025-01-01T00:00:00Z' }] } });
    await sleep(200);
    assert.equal(routes.commands.length, ran, 'a status write with nothing but a heartbeat changes nothing to sync');
  });

  test('an unchanged config on disk is not rewritten; a missing br_netfilter sysctl is skipped', async () => {
    await client.nodes.create(node('n1', '172.30.0.11', '10.244.7.0/24'));
    const confDir = join(dir, 'net.d');
    const expected = renderCniConfig({ podCIDR: '10.244.7.0/24', dataDir: '/d' });
    mkdirSync(confDir);
    writeFileSync(join(confDir, expected.fileName), expected.json);
    const sys = procSys(false);
    const { log, msgs } = logCapture();
    net = new NodeNetwork({ client, nodeName: 'n1', cniConfDir: confDir, cniDataDir: '/d', log, runIp: new FakeRoutes().run, procSysDir: sys });
    assert.equal(await net.start(), '10.244.7.0/24');
    assert.ok(!msgs().includes('node network: CNI config written'));
    assert.equal(existsSync(join(sys, 'net/bridge')), false);
  });

  test('a failing ip command is retried; stop() before a pod CIDR rejects start()', async () => {
    await client.nodes.create(node('n1', '172.30.0.11'));
    await client.nodes.create(node('n2', '172.30.0.12', '10.244.1.0/24'));
    const routes = new FakeRoutes();
    let failing = 2;
    const flaky: RunIp = async (args) => {
      if (args[1] === 'replace' && failing-- > 0) throw new Error('ip route replace: Nexthop has invalid gateway');
      return routes.run(args);
    };
    const { log, msgs } = logCapture();
    net = new NodeNetwork({ client, nodeName: 'n1', cniConfDir: join(dir, 'net.d'), cniDataDir: '/d', log, runIp: flaky, procSysDir: procSys(false) });
    const started = net.start();
    await until('the route after retries', () => routes.table.size === 1);
    assert.equal(msgs().filter((m) => m === 'node network: sync failed; retrying').length, 1, 'a repeated failure is logged once');
    assert.ok(msgs().includes('node network: in sync again'));
    await net.stop();
    await assert.rejects(started, /node network of n1 stopped before the Node had a pod CIDR/);
  });

  test('real ip commands inside a network namespace of its own', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async (t) => {
    const ns = `tug-nettest-${process.pid}`;
    const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
    ip('netns', 'add', ns);
    t.after(() => {
      try {
        ip('netns', 'del', ns);
      } catch {
        // Already gone.
      }
    });
    ip('-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1');
    ip('-n', ns, 'link', 'set', 'eth1', 'up');
    ip('-n', ns, 'addr', 'add', '172.31.0.11/24', 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    // A route of someone else's in the same range: never touched.
    ip('-n', ns, 'route', 'add', '10.244.9.0/24', 'via', '172.31.0.99');

    await client.nodes.create(node('n1', '172.31.0.11', '10.244.0.0/24'));
    await client.nodes.create(node('n2', '172.31.0.12', '10.244.1.0/24'));
    await client.nodes.create(node('n3', '172.31.0.13', '10.244.2.0/24'));
    const { log } = logCapture();
    net = new NodeNetwork({ client, nodeName: 'n1', cniConfDir: join(dir, 'net.d'), cniDataDir: '/d', log, runIp: ipRunner(['-n', ns]), procSysDir: procSys(false) });
    await net.start();
    const ours = () => JSON.parse(ip('-n', ns, '-j', 'route', 'show', 'proto', '201')) as { dst: string; gateway: string }[];
    await until('two routes', () => ours().length === 2);
    assert.deepEqual(
      ours().map((r) => `${r.dst} via ${r.gateway}`),
      ['10.244.1.0/24 via 172.31.0.12', '10.244.2.0/24 via 172.31.0.13'],
    );
    await client.nodes.delete('n2');
    await until('the route to n2 removed', () => ours().length === 1);
    assert.match(ip('-n', ns, 'route', 'show', '10.244.9.0/24'), /via 172\.31\.0\.99/);
  });
});
