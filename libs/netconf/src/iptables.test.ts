// iptables.test.ts: the service proxy's rules, pure: service ports to targets, targets to
// chains (a golden restore input for a set of services of every kind), probabilities as the
// kernel keeps them, diffs that touch only what changed, parsing iptables-save back, and the
// UDP conntrack entries a change leaves stale. Regenerate the golden file with
// UPDATE_GOLDEN=1 node --test libs/netconf/src/iptables.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Endpoints, Service, ServiceSpec } from '@tugboat/api';
import {
  BUILTIN_JUMPS,
  desiredRules,
  diffRuleSets,
  emptyRuleSet,
  endpointProbability,
  externalChainName,
  formatProbability,
  isEmptyDiff,
  missingBuiltinJumps,
  parseSave,
  renderRestore,
  serviceChainName,
  servicePortKey,
  servicePortTargets,
  shortHash,
  staleConntrack,
} from '@tugboat/netconf';

const GOLDEN = new URL('../testdata/golden-restore.txt', import.meta.url);

function svc(ns: string, name: string, ip: string, spec: Partial<ServiceSpec> = {}, ingress: string[] = []): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: ns, name },
    spec: { clusterIP: ip, ports: [{ port: 80 }], ...spec },
    ...(ingress.length === 0 ? {} : { status: { loadBalancer: { ingress: ingress.map((i) => ({ ip: i })) } } }),
  };
}

function eps(ns: string, name: string, ips: string[], ports: { name?: string; port: number; protocol?: 'TCP' | 'UDP' }[] = [{ port: 8080 }], notReady: string[] = []): Endpoints {
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { namespace: ns, name },
    subsets: ips.length + notReady.length === 0 ? [] : [{ addresses: ips.map((ip) => ({ ip })), notReadyAddresses: notReady.map((ip) => ({ ip })), ports }],
  };
}

function rules(services: Service[], endpoints: Endpoints[]) {
  return desiredRules(servicePortTargets(services, endpoints));
}

function bigCluster(n: number, perSvc: number): { services: Service[]; endpoints: Endpoints[] } {
  const services: Service[] = [];
  const endpoints: Endpoints[] = [];
  for (let i = 0; i < n; i++) {
    services.push(svc('default', `s${i}`, `10.96.${1 + (i >> 8)}.${i & 255}`));
    endpoints.push(eps('default', `s${i}`, Array.from({ length: perSvc }, (_, j) => `10.244.${j}.${(i % 250) + 2}`)));
  }
  return { services, endpoints };
}

/** A set of services of every kind the proxy serves. */
function catalog(): { services: Service[]; endpoints: Endpoints[] } {
  return {
    services: [
      svc('default', 'web', '10.96.0.20', { ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }),
      svc('default', 'api', '10.96.0.21', { type: 'NodePort', ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }, { name: 'metrics', port: 9090, protocol: 'TCP', nodePort: 30090 }] }),
      svc('shop', 'front', '10.96.0.22', { type: 'LoadBalancer', ports: [{ port: 443, protocol: 'TCP', nodePort: 31443 }] }, ['172.29.0.11', '172.29.0.12']),
      svc('shop', 'cart', '10.96.0.23', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } }, ports: [{ port: 80, protocol: 'TCP' }] }),
      svc('kube', 'dns', '10.96.0.24', { type: 'NodePort', ports: [{ name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 }] }),
      svc('shop', 'peers', 'None', { ports: [{ port: 7000 }] }),
    ],
    endpoints: [
      eps('default', 'web', ['10.244.1.2', '10.244.2.2', '10.244.3.2'], [{ name: 'http', port: 8080 }], ['10.244.1.9']),
      eps('default', 'api', ['10.244.1.3'], [{ name: 'http', port: 8080 }, { name: 'metrics', port: 9100 }]),
      eps('shop', 'front', ['10.244.2.4', '10.244.3.4'], [{ port: 8443 }]),
      eps('shop', 'cart', ['10.244.1.5', '10.244.2.5'], [{ port: 8080 }]),
      eps('kube', 'dns', []),
      eps('shop', 'peers', ['10.244.1.6'], [{ port: 7000 }]),
    ],
  };
}

test('golden: the restore input for a set of services of every kind, from an empty table', () => {
  const { services, endpoints } = catalog();
  const text = renderRestore(diffRuleSets(emptyRuleSet(), rules(services, endpoints)), missingBuiltinJumps(''));
  if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(GOLDEN, text);
  assert.equal(text, readFileSync(GOLDEN, 'utf8'), 'the rules changed: check the diff, then regenerate with UPDATE_GOLDEN=1');
  // The same services in another order give the same rules.
  assert.deepEqual(rules([...services].reverse(), [...endpoints].reverse()), rules(services, endpoints));
});

test('short hashes are stable, 16 base32 chars, and distinguish keys', () => {
  const h = shortHash('default/web:/TCP');
  assert.match(h, /^[A-Z2-7]{16}$/);
  assert.equal(shortHash('default/web:/TCP'), h);
  assert.notEqual(shortHash('default/web:/UDP'), h);
  assert.equal(serviceChainName(servicePortKey('default', 'web', '', 'TCP')), `TUG-SVC-${h}`);
  assert.ok(serviceChainName('x').length <= 28);
});

test('probabilities give every one of N endpoints exactly 1/N, printed as the kernel keeps them', () => {
  for (const n of [1, 2, 3, 7, 10]) {
    let left = 1;
    for (let i = 0; i < n; i++) {
      const p = endpointProbability(i, n);
      if (i === n - 1) assert.equal(p, null, 'last rule is unconditional');
      const share = left * (p ?? 1);
      assert.ok(Math.abs(share - 1 / n) < 1e-12, `n=${n} i=${i} share=${share}`);
      left -= share;
    }
    assert.ok(Math.abs(left) < 1e-12);
  }
  assert.equal(formatProbability(1 / 3), '0.33333333349');
  assert.equal(formatProbability(0.1), '0.10000000009');
  assert.equal(formatProbability(0.5), '0.50000000000');
});

test('targets: ready endpoints per named port, node ports and ingress only for their types, no headless', () => {
  const { services, endpoints } = catalog();
  const targets = servicePortTargets(services, endpoints);
  assert.deepEqual(targets.map((t) => t.key), ['default/api:http/TCP', 'default/api:metrics/TCP', 'default/web:http/TCP', 'kube/dns:dns/UDP', 'shop/cart:/TCP', 'shop/front:/TCP']);
  const byKey = new Map(targets.map((t) => [t.key, t]));
  assert.deepEqual(byKey.get('default/web:http/TCP')?.endpoints, ['10.244.1.2:8080', '10.244.2.2:8080', '10.244.3.2:8080'], 'not-ready addresses are not served');
  assert.deepEqual(byKey.get('default/api:metrics/TCP')?.endpoints, ['10.244.1.3:9100']);
  assert.equal(byKey.get('default/web:http/TCP')?.nodePort, undefined);
  assert.deepEqual(byKey.get('shop/front:/TCP')?.ingressIPs, ['172.29.0.11', '172.29.0.12']);
  assert.equal(byKey.get('shop/cart:/TCP')?.affinitySeconds, 600);
});

test('a port without endpoints is rejected at its ClusterIP and nodePort (TCP with a reset), and gets no service chain', () => {
  const rs = rules([svc('a', 'empty', '10.96.0.7', { type: 'NodePort', ports: [{ port: 80, nodePort: 30007 }] })], [eps('a', 'empty', [])]);
  assert.deepEqual([...rs.nat.keys()].filter((n) => n.startsWith('TUG-SVC-') || n.startsWith('TUG-EXT-')), []);
  assert.deepEqual(rs.filter.get('TUG-SERVICES'), [
    '-d 10.96.0.7/32 -p tcp -m comment --comment "a/empty has no endpoints" -m tcp --dport 80 -j REJECT --reject-with tcp-reset',
    '-p tcp -m comment --comment "a/empty has no endpoints" -m addrtype --dst-type LOCAL -m tcp --dport 30007 -j REJECT --reject-with tcp-reset',
  ]);
  assert.deepEqual(rs.nat.get('TUG-NODEPORTS'), []);
});

test('the service chain masquerades outside and hairpin traffic, then picks an endpoint', () => {
  const rs = rules([svc('a', 'b', '10.96.0.5')], [eps('a', 'b', ['10.244.1.2', '10.244.2.2'])]);
  const chain = rs.nat.get(serviceChainName(servicePortKey('a', 'b', '', 'TCP')));
  assert.deepEqual(chain, [
    '! -s 10.244.0.0/16 -d 10.96.0.5/32 -p tcp -m comment --comment "a/b cluster IP" -m tcp --dport 80 -j MARK --set-xmark 0x4000/0x4000',
    '-s 10.244.1.2/32 -m comment --comment "a/b hairpin" -j MARK --set-xmark 0x4000/0x4000',
    '-s 10.244.2.2/32 -m comment --comment "a/b hairpin" -j MARK --set-xmark 0x4000/0x4000',
    '-p tcp -m comment --comment "a/b" -m statistic --mode random --probability 0.50000000000 -j DNAT --to-destination 10.244.1.2:8080',
    '-p tcp -m comment --comment "a/b" -j DNAT --to-destination 10.244.2.2:8080',
  ]);
  assert.ok(rs.nat.get('TUG-POSTROUTING')?.some((r) => r.endsWith('-j MASQUERADE --random-fully')));
});

test('nodePorts and LoadBalancer IPs go through the external chain, which marks for masquerade', () => {
  const rs = rules([svc('a', 'lb', '10.96.0.8', { type: 'LoadBalancer', ports: [{ port: 80, nodePort: 30080 }] }, ['172.29.0.11'])], [eps('a', 'lb', ['10.244.2.9'])]);
  const key = servicePortKey('a', 'lb', '', 'TCP');
  assert.deepEqual(rs.nat.get('TUG-NODEPORTS'), [`-p tcp -m comment --comment "a/lb" -m tcp --dport 30080 -j ${externalChainName(key)}`]);
  assert.deepEqual(rs.nat.get(externalChainName(key)), ['-m comment --comment "a/lb external destinations" -j MARK --set-xmark 0x4000/0x4000', `-j ${serviceChainName(key)}`]);
  const portals = rs.nat.get('TUG-SERVICES') ?? [];
  assert.equal(portals[1], `-d 172.29.0.11/32 -p tcp -m comment --comment "a/lb loadbalancer IP" -m tcp --dport 80 -j ${externalChainName(key)}`);
  assert.equal(portals.at(-1), '! -d 127.0.0.0/8 -m comment --comment "tugboat nodeports" -m addrtype --dst-type LOCAL -j TUG-NODEPORTS');
  // Headless services get nothing.
  assert.deepEqual(rules([svc('a', 'h', 'None')], [eps('a', 'h', ['10.244.2.9'])]).nat.get('TUG-SERVICES')?.length, 1);
});

test('diff after a one-service change touches only that service chain', () => {
  const { services, endpoints } = bigCluster(50, 3);
  const before = rules(services, endpoints);
  assert.ok(isEmptyDiff(diffRuleSets(before, rules(services, endpoints))));
  const e2 = endpoints.map((e) => (e.metadata.name === 's7' ? eps('default', 's7', ['10.244.0.9', '10.244.1.9', '10.244.9.9']) : e));
  const d = diffRuleSets(before, rules(services, e2));
  assert.deepEqual([...d.nat.write.keys()], [serviceChainName(servicePortKey('default', 's7', '', 'TCP'))]);
  assert.deepEqual(d.nat.remove, []);
  assert.equal(d.filter.write.size, 0);
  const text = renderRestore(d);
  assert.ok(!text.includes('*filter'));
  assert.equal(text.split('\n').filter((l) => l.startsWith('-A ')).length, 1 + 3 + 3);

  // Deleting a service removes its chain and rewrites TUG-SERVICES; -X comes after the flush.
  const d2 = diffRuleSets(before, rules(services.filter((s) => s.metadata.name !== 's7'), endpoints));
  assert.deepEqual([...d2.nat.write.keys()], ['TUG-SERVICES']);
  assert.deepEqual(d2.nat.remove, [serviceChainName(servicePortKey('default', 's7', '', 'TCP'))]);
  const lines = renderRestore(d2).trim().split('\n');
  const removed = d2.nat.remove[0] ?? '';
  assert.ok(lines.indexOf(`:${removed} - [0:0]`) < lines.indexOf(`-X ${removed}`));
  assert.equal(lines.at(-2), `-X ${removed}`);
});

test('iptables-save output parses back to the same rule set; other chains are ignored', () => {
  const { services, endpoints } = catalog();
  const rs = rules(services, endpoints);
  const save = ['*filter', ':INPUT ACCEPT [0:0]', ':TUG-SERVICES - [0:0]', '-A INPUT -j ACCEPT'];
  for (const r of rs.filter.get('TUG-SERVICES') ?? []) save.push(`-A TUG-SERVICES ${r}`);
  save.push('COMMIT', '*nat', ':POSTROUTING ACCEPT [0:0]', ':CNI-HOSTPORT-DNAT - [0:0]', '-A POSTROUTING -j CNI-HOSTPORT-DNAT');
  for (const name of [...rs.nat.keys()].sort()) save.push(`:${name} - [0:0]`);
  for (const [name, chain] of rs.nat) for (const r of chain) save.push(`-A ${name} ${r}`);
  save.push('COMMIT', '*mangle', ':TUG-OTHER - [0:0]', 'COMMIT');
  const parsed = parseSave(save.join('\n'));
  assert.ok(isEmptyDiff(diffRuleSets(parsed, rs)));
  assert.ok(isEmptyDiff(diffRuleSets(rs, parsed)));
});

test('full render from empty declares all chains before rules and inserts missing built-in jumps', () => {
  const rs = rules([svc('a', 'b', '10.96.0.5')], [eps('a', 'b', ['10.244.1.2'])]);
  const lines = renderRestore(diffRuleSets(emptyRuleSet(), rs), missingBuiltinJumps('')).trim().split('\n');
  assert.equal(lines[0], '*filter');
  const natStart = lines.indexOf('*nat');
  const firstRule = lines.findIndex((l, i) => i > natStart && l.startsWith('-'));
  const lastDecl = lines.findLastIndex((l) => l.startsWith(':'));
  assert.ok(lastDecl < firstRule);
  assert.ok(lines.includes('-I PREROUTING 1 -m comment --comment "tugboat service portals" -j TUG-SERVICES'));
  assert.equal(lines.filter((l) => l.startsWith('-I ')).length, BUILTIN_JUMPS.length);
  const save = '*nat\n-A PREROUTING -m comment --comment "tugboat service portals" -j TUG-SERVICES\nCOMMIT\n*filter\n-A INPUT -j TUG-SERVICES\nCOMMIT\n';
  assert.deepEqual(
    missingBuiltinJumps(save).map((j) => `${j.table}/${j.chain}`),
    ['nat/OUTPUT', 'nat/POSTROUTING', 'filter/FORWARD', 'filter/OUTPUT'],
  );
  assert.equal(renderRestore(diffRuleSets(rs, rs)), '');
});

test('a large diff goes in several transactions: service chains first (SVC before EXT), then what switches them on', () => {
  const services = Array.from({ length: 30 }, (_, i) => svc('b', `s${i}`, `10.96.1.${i + 1}`, { type: 'NodePort', ports: [{ port: 80, nodePort: 30000 + i }] }));
  const endpoints = services.map((s) => eps('b', s.metadata.name ?? '', ['10.244.1.2']));
  const removedBefore = rules([svc('b', 'gone', '10.96.2.1')], [eps('b', 'gone', ['10.244.1.9'])]);
  const diff = diffRuleSets(removedBefore, rules(services, endpoints));
  const single = renderRestore(diff, missingBuiltinJumps(''), 100);
  assert.equal(single.match(/^COMMIT$/gm)?.length, 2, 'within the limit: one transaction per table');
  const text = renderRestore(diff, missingBuiltinJumps(''), 16);
  const blocks = text.split(/^COMMIT\n/m).filter((b) => b !== '');
  assert.deepEqual(blocks.map((b) => b.split('\n')[0]), ['*nat', '*nat', '*nat', '*nat', '*filter', '*nat'], '60 port chains in blocks of 16, then filter and the top of nat');
  const declared = blocks.map((b) => [...b.matchAll(/^:(\S+) /gm)].map((m) => m[1] ?? ''));
  assert.ok(declared.slice(0, 4).every((d) => d.length <= 16 && d.every((n) => n.startsWith('TUG-SVC-') || n.startsWith('TUG-EXT-'))));
  const order = declared.slice(0, 4).flat();
  assert.ok(order.findLastIndex((n) => n.startsWith('TUG-SVC-')) < order.findIndex((n) => n.startsWith('TUG-EXT-')), 'every SVC chain before the EXT chains that jump to it');
  const last = blocks.at(-1) ?? '';
  assert.match(last, /^:TUG-SERVICES - \[0:0\]$/m);
  assert.match(last, /^-I PREROUTING 1 /m);
  assert.match(last, new RegExp(`^-X ${serviceChainName(servicePortKey('b', 'gone', '', 'TCP'))}$`, 'm'), 'removals come last');
  const lines = (t: string): string[] => t.split('\n').filter((l) => l.startsWith('-A ') || l.startsWith('-I ') || l.startsWith('-X ')).sort();
  assert.deepEqual(lines(text), lines(single), 'the transactions hold exactly the rules of the single one');
});

test('stale UDP conntrack entries: flows to an endpoint that went, and to a port that gets its first endpoint', () => {
  const dns = (ips: string[]): Endpoints => eps('kube', 'dns', ips, [{ name: 'dns', port: 53, protocol: 'UDP' }]);
  const service = svc('kube', 'dns', '10.96.0.24', { type: 'NodePort', ports: [{ name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 }] });
  const none = servicePortTargets([service], [dns([])]);
  const two = servicePortTargets([service], [dns(['10.244.1.2', '10.244.2.2'])]);
  const one = servicePortTargets([service], [dns(['10.244.2.2'])]);
  assert.deepEqual(staleConntrack(none, two).map((d) => d.args.join(' ')), ['--orig-dst 10.96.0.24 --orig-port-dst 53']);
  assert.deepEqual(staleConntrack(two, one).map((d) => d.args.join(' ')), ['--orig-dst 10.96.0.24 --dst-nat 10.244.1.2', '--orig-port-dst 30053 --dst-nat 10.244.1.2']);
  assert.deepEqual(staleConntrack(one, []).map((d) => d.args.join(' ')), ['--orig-dst 10.96.0.24 --dst-nat 10.244.2.2', '--orig-port-dst 30053 --dst-nat 10.244.2.2']);
  const tcp = servicePortTargets([svc('a', 'b', '10.96.0.5')], [eps('a', 'b', ['10.244.1.2'])]);
  assert.deepEqual(staleConntrack(tcp, []), [], 'TCP connections end on their own');
});

test('1,000 services x 10 endpoints: compute, full render and one-service render (timings printed)', () => {
  const { services, endpoints } = bigCluster(1000, 10);
  let t = performance.now();
  const rs = rules(services, endpoints);
  const tRules = performance.now() - t;
  t = performance.now();
  const full = renderRestore(diffRuleSets(emptyRuleSet(), rs));
  const tFull = performance.now() - t;
  assert.equal(rs.nat.size, 3 + 1000);
  const e2 = endpoints.map((e) => (e.metadata.name === 's500' ? eps('default', 's500', ['10.244.0.1']) : e));
  t = performance.now();
  const one = renderRestore(diffRuleSets(rs, rules(services, e2)));
  const tOne = performance.now() - t;
  assert.equal(one.split('\n').filter((l) => /^:TUG-SVC-/.test(l)).length, 1);
  console.log(
    `1000x10: rules ${tRules.toFixed(1)} ms, full render ${tFull.toFixed(1)} ms (${full.length} bytes), ` +
      `one-service recompute+diff+render ${tOne.toFixed(1)} ms (${one.length} bytes)`,
  );
});
