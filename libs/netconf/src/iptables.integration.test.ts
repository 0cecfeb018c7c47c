/**
 * Integration: applies rendered rules with the real iptables-restore inside a network
 * namespace this test creates (never the host's own rules) and reads them back with
 * iptables-save: what the kernel prints parses back to exactly the rules computed (so a
 * restarted agent or a periodic check rewrites nothing that is right), a one-service change
 * rewrites one chain, a deleted service's chains go, and a chain flushed by hand shows up as
 * the only difference. Needs root and iptables (setup installs it).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { Endpoints, Service, ServiceSpec } from '@tugboat/api';
import {
  desiredRules,
  diffRuleSets,
  emptyRuleSet,
  isEmptyDiff,
  missingBuiltinJumps,
  parseSave,
  renderRestore,
  renderTeardown,
  serviceChainName,
  servicePortKey,
  servicePortTargets,
} from '@tugboat/netconf';
import type { RuleSet } from '@tugboat/netconf';

const NS = `tug-netconf-test-${process.pid}`;

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

function kernelRules(): RuleSet {
  return parseSave(inNs('iptables-save', []));
}

function svc(name: string, ip: string, spec: Partial<ServiceSpec> = {}, ingress: string[] = []): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: 'it', name },
    spec: { clusterIP: ip, ports: [{ port: 80 }], ...spec },
    ...(ingress.length === 0 ? {} : { status: { loadBalancer: { ingress: ingress.map((i) => ({ ip: i })) } } }),
  };
}
function eps(name: string, ips: string[], protocol: 'TCP' | 'UDP' = 'TCP'): Endpoints {
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { namespace: 'it', name },
    subsets: [{ addresses: ips.map((ip) => ({ ip })), ports: [{ port: 8080, protocol }] }],
  };
}

const services = [
  svc('a', '10.96.0.20'),
  svc('b', '10.96.0.21', { type: 'NodePort', ports: [{ port: 80, nodePort: 30081 }] }),
  svc('c', '10.96.0.22'),
  svc('lb', '10.96.0.23', { type: 'LoadBalancer', ports: [{ port: 443, nodePort: 31443 }] }, ['172.29.0.11', '172.29.0.12']),
  svc('sticky', '10.96.0.24', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } }),
  svc('udp', '10.96.0.25', { ports: [{ port: 53, protocol: 'UDP' }] }),
];
const endpoints = [
  eps('a', ['10.244.1.2', '10.244.2.2', '10.244.3.2']),
  eps('b', ['10.244.1.3']),
  eps('c', []),
  eps('lb', ['10.244.2.4']),
  eps('sticky', ['10.244.1.5', '10.244.2.5']),
  eps('udp', ['10.244.1.6'], 'UDP'),
];

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

test('the kernel holds exactly the computed rules; changes rewrite only what changed', () => {
  const first = desiredRules(servicePortTargets(services, endpoints));
  const save0 = inNs('iptables-save', []);
  assert.equal(missingBuiltinJumps(save0).length, 6);
  inNs('iptables-restore', ['--noflush'], renderRestore(diffRuleSets(emptyRuleSet(), first), missingBuiltinJumps(save0)));

  const save1 = inNs('iptables-save', []);
  assert.deepEqual(missingBuiltinJumps(save1), []);
  const diffs = diffRuleSets(parseSave(save1), first);
  assert.ok(isEmptyDiff(diffs), `iptables-save prints our rules differently: ${JSON.stringify([...diffs.nat.write, ...diffs.filter.write].slice(0, 2))}`);
  assert.match(save1, /-A PREROUTING -m comment --comment "tugboat service portals" -j TUG-SERVICES/);

  // One service changes: one chain is rewritten, and nothing else differs afterwards.
  const second = desiredRules(servicePortTargets(services, [endpoints[0]!, eps('b', ['10.244.1.3', '10.244.2.3']), ...endpoints.slice(2)]));
  const diff = diffRuleSets(first, second);
  assert.deepEqual([...diff.nat.write.keys()], [serviceChainName(servicePortKey('it', 'b', '', 'TCP'))]);
  inNs('iptables-restore', ['--noflush'], renderRestore(diff));
  assert.ok(isEmptyDiff(diffRuleSets(kernelRules(), second)));

  // A service deleted: its chains go (flushed referrers, then -X) in one transaction.
  const third = desiredRules(servicePortTargets(services.slice(1), endpoints.slice(1)));
  inNs('iptables-restore', ['--noflush'], renderRestore(diffRuleSets(second, third)));
  assert.ok(isEmptyDiff(diffRuleSets(kernelRules(), third)));
  assert.ok(!kernelRules().nat.has(serviceChainName(servicePortKey('it', 'a', '', 'TCP'))));

  // A chain flushed by hand is the one difference the next comparison finds.
  const victim = serviceChainName(servicePortKey('it', 'b', '', 'TCP'));
  inNs('iptables', ['-t', 'nat', '-F', victim]);
  const repair = diffRuleSets(kernelRules(), third);
  assert.deepEqual([...repair.nat.write.keys()], [victim]);
  inNs('iptables-restore', ['--noflush'], renderRestore(repair));
  assert.ok(isEmptyDiff(diffRuleSets(kernelRules(), third)));

  // Teardown (tug host reset): every jump into our chains and every chain goes; others' rules stay.
  inNs('iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-s', '192.0.2.0/24', '-j', 'MASQUERADE']);
  inNs('iptables-restore', ['--noflush'], renderTeardown(inNs('iptables-save', [])));
  const cleared = inNs('iptables-save', []);
  assert.ok(!cleared.includes('TUG-'), cleared);
  assert.match(cleared, /-A POSTROUTING -s 192.0.2.0\/24 -j MASQUERADE/);
  assert.equal(renderTeardown(cleared), '');
});

test('1,000 services x 10 endpoints: first sync with --noflush, in several transactions, beside a whole-table restore of the same rules (timings printed)', () => {
  const big: Service[] = [];
  const bigEps: Endpoints[] = [];
  for (let i = 0; i < 1000; i++) {
    big.push(svc(`big${i}`, `10.96.${10 + (i >> 8)}.${i & 255}`));
    bigEps.push(eps(`big${i}`, Array.from({ length: 10 }, (_, j) => `10.244.${j}.${(i % 250) + 2}`)));
  }
  const rs = desiredRules(servicePortTargets(big, bigEps));
  const text = renderRestore(diffRuleSets(emptyRuleSet(), rs), missingBuiltinJumps(''));
  // A whole-table restore flushes the table at each block: the same rules in one transaction per table.
  const whole = renderRestore(diffRuleSets(emptyRuleSet(), rs), missingBuiltinJumps(''), Number.POSITIVE_INFINITY);
  const other = `tug-netconf-raw-${process.pid}`;
  run('ip', ['netns', 'add', other]);
  try {
    let t = performance.now();
    run('nsenter', [`--net=/run/netns/${other}`, 'iptables-restore'], whole);
    const rawMs = performance.now() - t;
    inNs('iptables', ['-t', 'nat', '-F']);
    inNs('iptables', ['-t', 'nat', '-X']);
    inNs('iptables', ['-t', 'filter', '-F']);
    inNs('iptables', ['-t', 'filter', '-X']);
    t = performance.now();
    inNs('iptables-restore', ['--noflush'], text);
    const ourMs = performance.now() - t;
    console.log(`1000x10 first sync: --noflush in ${text.match(/^COMMIT$/gm)?.length} transactions ${ourMs.toFixed(0)} ms, whole-table restore ${rawMs.toFixed(0)} ms (${(ourMs / rawMs).toFixed(2)}x)`);
    assert.ok(isEmptyDiff(diffRuleSets(kernelRules(), rs)));
    const e2 = bigEps.map((e) => (e.metadata.name === 'big500' ? eps('big500', ['10.244.0.1']) : e));
    const next = desiredRules(servicePortTargets(big, e2));
    t = performance.now();
    inNs('iptables-restore', ['--noflush'], renderRestore(diffRuleSets(rs, next)));
    console.log(`1000x10 one-service change: ${(performance.now() - t).toFixed(0)} ms`);
    assert.ok(isEmptyDiff(diffRuleSets(kernelRules(), next)));
  } finally {
    spawnSync('ip', ['netns', 'delete', other]);
  }
});
