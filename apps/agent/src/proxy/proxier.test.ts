// proxier.test.ts: the service proxy against the real iptables of a network namespace this
// test creates (never the host's rules), fed by watch caches the test drives: nothing is
// written before the caches have their first list; the kernel then holds exactly the computed
// rules; a change is one sync; rules flushed or unhooked by hand are repaired by the periodic
// check; a restarted proxy over unchanged rules writes nothing; waitUntilUnserved follows an
// endpoint's removal; the real conntrack entries of UDP flows to an endpoint that goes are
// deleted, the others kept. Needs root.
import { after, before, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { pino } from 'pino';
import type { Endpoints, Service } from '@tugboat/api';
import { desiredRules, diffRuleSets, isEmptyDiff, missingBuiltinJumps, parseSave, servicePortTargets } from '@tugboat/netconf';
import { hostCommands } from './commands.ts';
import type { ProxyCommands } from './commands.ts';
import { fedInformer } from './fed-informer.ts';
import { ServiceProxy } from './proxier.ts';

const NS = `tug-proxy-test-${process.pid}`;
const log = pino({ level: 'silent' });

function svc(name: string, ip: string, protocol: 'TCP' | 'UDP' = 'TCP'): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'p', name, resourceVersion: '1' }, spec: { clusterIP: ip, ports: [{ port: 80, protocol }] } };
}
function eps(name: string, ips: string[], rv: number, protocol: 'TCP' | 'UDP' = 'TCP'): Endpoints {
  return { apiVersion: 'v1', kind: 'Endpoints', metadata: { namespace: 'p', name, resourceVersion: String(rv) }, subsets: [{ addresses: ips.map((ip) => ({ ip })), ports: [{ port: 8080, protocol }] }] };
}

const inNs = ['nsenter', `--net=/run/netns/${NS}`];
const real = hostCommands(inNs);

function save(): string {
  const r = spawnSync('nsenter', [`--net=/run/netns/${NS}`, 'iptables-save'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`iptables-save: ${r.stderr}`);
  return r.stdout;
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const giveUp = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > giveUp) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** startProxy starts a proxy over fed informers with these commands; the test's end stops it all. */
function startProxy(t: TestContext, commands: ProxyCommands, checkMs?: number) {
  const services = fedInformer<Service>();
  const endpoints = fedInformer<Endpoints>();
  const proxy = new ServiceProxy({ services: services.informer, endpoints: endpoints.informer, commands, log, ...(checkMs === undefined ? {} : { checkMs }) });
  proxy.start();
  services.informer.start();
  endpoints.informer.start();
  t.after(async () => {
    await proxy.stop();
    await services.informer.stop();
    await endpoints.informer.stop();
  });
  return { proxy, services, endpoints };
}

before(() => {
  if (process.getuid?.() !== 0) throw new Error('the service proxy test must run as root');
  const r = spawnSync('ip', ['netns', 'add', NS], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip netns add ${NS}: ${r.stderr}`);
  // Datagrams sent from inside go somewhere (they need a route to be translated and tracked).
  spawnSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  spawnSync('ip', ['-n', NS, 'route', 'add', 'default', 'dev', 'lo']);
});

/** sendUdp sends one datagram from each of `count` sockets (so, source ports) inside the namespace. */
function sendUdp(ip: string, port: number, count: number): void {
  const script = `const d = require('node:dgram'); for (let i = 0; i < ${count}; i++) { const s = d.createSocket('udp4'); s.send('x', ${port}, '${ip}', () => { s.close(); }); }`;
  const r = spawnSync('nsenter', [`--net=/run/netns/${NS}`, process.execPath, '-e', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sending UDP in ${NS}: ${r.stderr}`);
}

/** udpFlowsTo lists the UDP conntrack entries of the namespace translated to this endpoint IP. */
function udpFlowsTo(ip: string): number {
  const r = spawnSync('nsenter', [`--net=/run/netns/${NS}`, 'conntrack', '-L', '-p', 'udp'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.includes(`src=${ip} `)).length;
}

after(() => {
  spawnSync('ip', ['netns', 'delete', NS]);
});

test('the proxy keeps the kernel equal to the computed rules, writes only changes, and repairs', async (t) => {
  const flows: string[] = [];
  const recordFlows: ProxyCommands['deleteUdpFlows'] = async (args) => {
    flows.push(args.join(' '));
    await real.deleteUdpFlows(args);
  };
  const { proxy, services, endpoints } = startProxy(t, { ...real, deleteUdpFlows: recordFlows }, 300);

  await new Promise((r) => setTimeout(r, 100));
  assert.doesNotMatch(save(), /TUG-/, 'nothing is written before the caches have their first list');

  const catalog = [svc('web', '10.96.0.30'), svc('dns', '10.96.0.31', 'UDP')];
  let current = [eps('web', ['10.244.1.2', '10.244.2.2'], 2), eps('dns', ['10.244.1.3', '10.244.2.3'], 2, 'UDP')];
  const expected = (): ReturnType<typeof desiredRules> => desiredRules(servicePortTargets(catalog, current));
  const kernelMatches = (): boolean => isEmptyDiff(diffRuleSets(parseSave(save()), expected())) && missingBuiltinJumps(save()).length === 0;
  services.send({ type: 'RESYNC', items: catalog, revision: 2 });
  endpoints.send({ type: 'RESYNC', items: current, revision: 2 });
  await until('the first sync', () => proxy.stats.syncs >= 1);
  assert.ok(kernelMatches(), 'the kernel holds exactly the computed rules and the jumps into them');
  assert.ok(proxy.serves('10.244.2.2'));

  // UDP "connections" to the service, spread over both endpoints, live on in conntrack.
  sendUdp('10.96.0.31', 80, 40);
  assert.ok(udpFlowsTo('10.244.2.3') > 0 && udpFlowsTo('10.244.1.3') > 0, 'UDP flows to both endpoints');

  // One endpoint goes: waitUntilUnserved resolves once the rules no longer send traffic to it.
  const writes = proxy.stats.writes;
  const unserved = proxy.waitUntilUnserved('10.244.2.3', 5_000);
  current = [current[0]!, eps('dns', ['10.244.1.3'], 3, 'UDP')];
  endpoints.send({ type: 'MODIFIED', object: current[1]!, revision: 3 });
  assert.equal(await unserved, true);
  assert.ok(kernelMatches());
  assert.equal(proxy.stats.writes, writes + 1, 'one change, one write');
  assert.deepEqual(flows, ['--orig-dst 10.96.0.31 --dst-nat 10.244.2.3'], 'the stale UDP flows of the removed endpoint are deleted');
  assert.equal(udpFlowsTo('10.244.2.3'), 0, 'no flow goes to the removed endpoint any more');
  assert.ok(udpFlowsTo('10.244.1.3') > 0, 'the flows of the endpoint that stays are kept');

  // Someone flushes a chain and removes a jump: the periodic check puts them back.
  const chain = [...expected().nat.keys()].find((n) => n.startsWith('TUG-SVC-'))!;
  spawnSync('nsenter', [`--net=/run/netns/${NS}`, 'iptables', '-t', 'nat', '-F', chain]);
  spawnSync('nsenter', [`--net=/run/netns/${NS}`, 'iptables', '-t', 'nat', '-D', 'PREROUTING', '-m', 'comment', '--comment', 'tugboat service portals', '-j', 'TUG-SERVICES']);
  assert.ok(!kernelMatches());
  await until('the repair', () => proxy.stats.repairs >= 1 && kernelMatches(), 5_000);
});

test('a proxy started over rules it wrote before writes nothing, and never removes others\' rules', async (t) => {
  spawnSync('nsenter', [`--net=/run/netns/${NS}`, 'iptables', '-t', 'nat', '-N', 'HOST-OWN']);
  spawnSync('nsenter', [`--net=/run/netns/${NS}`, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-j', 'HOST-OWN']);
  const catalog = [svc('web', '10.96.0.30'), svc('dns', '10.96.0.31', 'UDP')];
  const current = [eps('web', ['10.244.1.2', '10.244.2.2'], 2), eps('dns', ['10.244.1.3'], 3, 'UDP')];
  const restores: string[] = [];
  const { proxy, services, endpoints } = startProxy(t, { ...real, restore: async (input) => void restores.push(input) });
  services.send({ type: 'RESYNC', items: catalog, revision: 3 });
  endpoints.send({ type: 'RESYNC', items: current, revision: 3 });
  await until('the first sync', () => proxy.stats.syncs >= 1);
  assert.deepEqual(restores, [], 'the rules in the kernel are already right');
  assert.match(save(), /-A POSTROUTING -j HOST-OWN/);
});
