/**
 * Integration: applies rendered rules with the real iptables-restore inside a network
 * namespace this test creates (never the host's own rules) and reads them back with
 * iptables-save. Needs root and iptables (setup installs it).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { Endpoints, Service } from '@tugboat/api';
import {
  desiredRules,
  diffRuleSets,
  renderRestore,
  emptyRuleSet,
  missingBuiltinJumps,
  serviceChainName,
  servicePortKey,
} from '@tugboat/netconf';

const NS = `tug-netconf-test-${process.pid}`;
const NODE_IP = '172.30.0.11';

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...(input !== undefined ? { input } : {}) });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Run inside the test namespace only (nsenter enters just the network namespace). */
function inNs(cmd: string, args: string[], input?: string): string {
  return run('nsenter', [`--net=/run/netns/${NS}`, cmd, ...args], input);
}

function svc(name: string, ip: string): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'it', name }, spec: { clusterIP: ip, ports: [{ port: 80 }] } };
}
function eps(name: string, ips: string[]): Endpoints {
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { namespace: 'it', name },
    subsets: [{ addresses: ips.map((ip) => ({ ip })), ports: [{ port: 8080 }] }],
  };
}

/** Chain name -> its rule lines, for our chains in one table of iptables-save output. */
function ourChains(save: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of save.split('\n')) {
    const decl = /^:(TUG-\S+) /.exec(line);
    if (decl?.[1]) m.set(decl[1], []);
    const rule = /^-A (TUG-\S+) /.exec(line);
    if (rule?.[1]) m.get(rule[1])?.push(line);
  }
  return m;
}

let created = false;

before(() => {
  if (process.getuid?.() !== 0) throw new Error('iptables integration test must run as root');
  for (const bin of ['iptables-restore', 'iptables-save', 'ip', 'nsenter']) {
    const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
    if (r.status !== 0) {
      throw new Error(`${bin} not found: install iptables/iproute2/util-linux (the setup script installs them)`);
    }
  }
  run('ip', ['netns', 'add', NS]);
  created = true;
});

after(() => {
  if (created) spawnSync('ip', ['netns', 'delete', NS]);
});

test('iptables-restore --noflush applies the full set, then only a one-service diff', () => {
  const services = [svc('a', '10.96.0.20'), svc('b', '10.96.0.21'), svc('c', '10.96.0.22')];
  const endpoints = [eps('a', ['10.244.1.2', '10.244.2.2']), eps('b', ['10.244.1.3']), eps('c', [])];
  const first = desiredRules(services, endpoints, NODE_IP);
  const jumps = missingBuiltinJumps(inNs('iptables-save', []));
  assert.equal(jumps.length, 6);
  let t = performance.now();
  inNs('iptables-restore', ['--noflush'], renderRestore(diffRuleSets(emptyRuleSet(), first), jumps));
  console.log(`full apply: ${(performance.now() - t).toFixed(1)} ms`);

  const nat1 = inNs('iptables-save', ['-t', 'nat']);
  const chains1 = ourChains(nat1);
  for (const name of first.nat.keys()) assert.ok(chains1.has(name), `chain ${name} exists`);
  assert.equal(chains1.size, first.nat.size);
  assert.match(nat1, /-A PREROUTING -m comment --comment "tugboat service portals" -j TUG-SERVICES/);
  assert.match(nat1, /--probability 0\.50000000000/);
  const filter1 = inNs('iptables-save', ['-t', 'filter']);
  assert.match(filter1, /-A TUG-SERVICES -d 10\.96\.0\.22\/32 .*-j REJECT/);
  assert.deepEqual(missingBuiltinJumps(nat1 + filter1), []);

  // One-service change: b gets a second endpoint.
  const second = desiredRules(services, [endpoints[0]!, eps('b', ['10.244.1.3', '10.244.2.3']), endpoints[2]!], NODE_IP);
  const diff = diffRuleSets(first, second);
  const text = renderRestore(diff);
  t = performance.now();
  inNs('iptables-restore', ['--noflush'], text);
  console.log(`one-service apply: ${(performance.now() - t).toFixed(1)} ms (${text.split('\n').length} lines)`);
  const chains2 = ourChains(inNs('iptables-save', ['-t', 'nat']));
  const svcB = serviceChainName(servicePortKey('it', 'b', '', 'TCP'));
  const changed = [...chains2.keys()].filter((n) => JSON.stringify(chains1.get(n)) !== JSON.stringify(chains2.get(n)));
  assert.deepEqual(changed.sort(), [...diff.nat.write.keys()].sort());
  assert.ok(changed.includes(svcB));
  assert.equal(changed.length, 2, 'svc chain of b and its new endpoint chain');
  assert.equal(chains2.size, second.nat.size);

  // Deleting a service removes its chains (flush referrers, then -X) in one transaction.
  const third = desiredRules(services.slice(1), endpoints.slice(1), NODE_IP);
  inNs('iptables-restore', ['--noflush'], renderRestore(diffRuleSets(second, third)));
  const chains3 = ourChains(inNs('iptables-save', ['-t', 'nat']));
  assert.deepEqual([...chains3.keys()].sort(), [...third.nat.keys()].sort());
});

test('1,000 services x 10 endpoints: full apply then a one-service diff (timings printed)', () => {
  const services: Service[] = [];
  const endpoints: Endpoints[] = [];
  for (let i = 0; i < 1000; i++) {
    services.push(svc(`big${i}`, `10.96.${10 + (i >> 8)}.${i & 255}`));
    endpoints.push(eps(`big${i}`, Array.from({ length: 10 }, (_, j) => `10.244.${j}.${(i % 250) + 2}`)));
  }
  const live = new Map<string, string[]>();
  for (const [k, v] of ourChains(inNs('iptables-save', ['-t', 'nat']))) live.set(k, v);
  // What the kernel holds now (from the previous test) is treated as unknown content:
  // previous = its chain names with no rules, so every chain we want is rewritten once.
  const previous = { nat: new Map([...live.keys()].map((k) => [k, ['?']])), filter: new Map([['TUG-SERVICES', ['?']]]) };
  const full = desiredRules(services, endpoints, NODE_IP);
  let t = performance.now();
  inNs('iptables-restore', ['--noflush'], renderRestore(diffRuleSets(previous, full)));
  console.log(`1000x10 full apply: ${(performance.now() - t).toFixed(0)} ms`);
  const e2 = endpoints.map((e) => (e.metadata.name === 'big500' ? eps('big500', ['10.244.0.1']) : e));
  const next = desiredRules(services, e2, NODE_IP);
  t = performance.now();
  inNs('iptables-restore', ['--noflush'], renderRestore(diffRuleSets(full, next)));
  console.log(`1000x10 one-service apply: ${(performance.now() - t).toFixed(0)} ms`);
  const chains = ourChains(inNs('iptables-save', ['-t', 'nat']));
  assert.deepEqual([...chains.keys()].sort(), [...next.nat.keys()].sort());
});
