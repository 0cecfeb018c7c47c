import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoints, Service } from '@tugboat/api';
import {
  desiredRules,
  diffRuleSets,
  renderRestore,
  emptyRuleSet,
  isEmptyDiff,
  endpointProbability,
  serviceChainName,
  servicePortKey,
  shortHash,
  missingBuiltinJumps,
  BUILTIN_JUMPS,
} from '@tugboat/netconf';

const NODE_IP = '172.30.0.11';

function svc(ns: string, name: string, ip: string, opts: { nodePort?: number; port?: number } = {}): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: ns, name },
    spec: {
      clusterIP: ip,
      ...(opts.nodePort !== undefined ? { type: 'NodePort' as const } : {}),
      ports: [{ port: opts.port ?? 80, ...(opts.nodePort !== undefined ? { nodePort: opts.nodePort } : {}) }],
    },
  };
}

function eps(ns: string, name: string, ips: string[], port = 8080): Endpoints {
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { namespace: ns, name },
    subsets: ips.length ? [{ addresses: ips.map((ip) => ({ ip })), ports: [{ port }] }] : [],
  };
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

test('short hashes are stable, 16 base32 chars, and distinguish keys', () => {
  const h = shortHash('default/web:/TCP');
  assert.match(h, /^[A-Z2-7]{16}$/);
  assert.equal(shortHash('default/web:/TCP'), h);
  assert.notEqual(shortHash('default/web:/UDP'), h);
  assert.equal(serviceChainName(servicePortKey('default', 'web', '', 'TCP')), `TUG-SVC-${h}`);
  assert.ok(serviceChainName('x').length <= 28);
});

test('probabilities give every one of N endpoints exactly 1/N', () => {
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
  const rs = desiredRules([svc('a', 'b', '10.96.0.5')], [eps('a', 'b', ['10.244.1.2', '10.244.1.3', '10.244.1.4'])], NODE_IP);
  const chain = rs.nat.get(serviceChainName(servicePortKey('a', 'b', '', 'TCP')));
  assert.ok(chain);
  const probs = chain.map((r) => /--probability (\S+)/.exec(r)?.[1] ?? null).filter((_, i) => i > 0);
  assert.deepEqual(probs, ['0.3333333333', '0.5000000000', null]);
  assert.match(chain[0] ?? '', /^! -s 10\.244\.0\.0\/16 -d 10\.96\.0\.5\/32 .* -j TUG-MARK-MASQ$/);
});

test('endpoint chains hairpin-masquerade the endpoint itself, then DNAT', () => {
  const rs = desiredRules([svc('a', 'b', '10.96.0.5')], [eps('a', 'b', ['10.244.1.2'])], NODE_IP);
  const seps = [...rs.nat.entries()].filter(([n]) => n.startsWith('TUG-SEP-'));
  assert.equal(seps.length, 1);
  const [, rules] = seps[0] ?? ['', []];
  assert.match(rules[0] ?? '', /^-s 10\.244\.1\.2\/32 .*-j TUG-MARK-MASQ$/);
  assert.match(rules[1] ?? '', /^-p tcp -m tcp .*-j DNAT --to-destination 10\.244\.1\.2:8080$/);
  assert.ok(rs.nat.get('TUG-POSTROUTING')?.some((r) => r.endsWith('-j MASQUERADE')));
});

test('a ClusterIP (and NodePort) without endpoints is rejected, and gets no service chain', () => {
  const rs = desiredRules([svc('a', 'empty', '10.96.0.7', { nodePort: 30007 })], [eps('a', 'empty', [])], NODE_IP);
  assert.deepEqual(
    [...rs.nat.keys()].filter((n) => n.startsWith('TUG-SVC-') || n.startsWith('TUG-SEP-')),
    [],
  );
  const rejects = rs.filter.get('TUG-SERVICES') ?? [];
  assert.equal(rejects.length, 2);
  assert.match(rejects[0] ?? '', /^-d 10\.96\.0\.7\/32 -p tcp -m tcp --dport 80 .*-j REJECT/);
  assert.match(rejects[1] ?? '', /^-d 172\.30\.0\.11\/32 -p tcp -m tcp --dport 30007 .*-j REJECT/);
  assert.equal(rs.nat.get('TUG-NODEPORTS')?.length, 0);
});

test('NodePort rules on every node: mark for masquerade and jump to the service chain', () => {
  const rs = desiredRules([svc('a', 'np', '10.96.0.8', { nodePort: 30080 })], [eps('a', 'np', ['10.244.2.9'])], NODE_IP);
  const chain = serviceChainName(servicePortKey('a', 'np', '', 'TCP'));
  const np = rs.nat.get('TUG-NODEPORTS') ?? [];
  assert.match(np[0] ?? '', /--dport 30080 .*-j TUG-MARK-MASQ$/);
  assert.match(np[1] ?? '', new RegExp(`--dport 30080 .*-j ${chain}$`));
  const top = rs.nat.get('TUG-SERVICES') ?? [];
  assert.equal(top.at(-1), `-d ${NODE_IP}/32 -m comment --comment "tugboat nodeports" -j TUG-NODEPORTS`);
  // Headless services get nothing.
  const headless = desiredRules([svc('a', 'h', 'None')], [eps('a', 'h', ['10.244.2.9'])], NODE_IP);
  assert.equal(headless.nat.get('TUG-SERVICES')?.length, 1);
});

test('diff after a one-service change touches only that service (plus top-level lists when needed)', () => {
  const { services, endpoints } = bigCluster(50, 3);
  const before = desiredRules(services, endpoints, NODE_IP);
  assert.ok(isEmptyDiff(diffRuleSets(before, desiredRules(services, endpoints, NODE_IP))));

  // Change s7's endpoints: its SVC chain changes, one SEP chain is new, one is removed.
  const e2 = endpoints.map((e) => (e.metadata.name === 's7' ? eps('default', 's7', ['10.244.0.9', '10.244.1.9', '10.244.9.9']) : e));
  const d = diffRuleSets(before, desiredRules(services, e2, NODE_IP));
  const svc7 = serviceChainName(servicePortKey('default', 's7', '', 'TCP'));
  const written = [...d.nat.write.keys()];
  assert.ok(written.includes(svc7));
  assert.ok(!written.includes('TUG-SERVICES'), 'top-level list unchanged');
  assert.equal(written.filter((n) => n.startsWith('TUG-SVC-')).length, 1);
  assert.equal(written.filter((n) => n.startsWith('TUG-SEP-')).length, 1);
  assert.equal(d.nat.remove.length, 1);
  assert.equal(d.filter.write.size, 0);
  const text = renderRestore(d);
  assert.ok(!text.includes('*filter'));
  const lines = text.trim().split('\n');
  const removed = d.nat.remove[0] ?? '';
  // Declare (flush) before -X; -X last before COMMIT.
  assert.ok(lines.indexOf(`:${removed} - [0:0]`) < lines.indexOf(`-X ${removed}`));
  assert.equal(lines.at(-2), `-X ${removed}`);
  assert.equal(lines.at(-1), 'COMMIT');
  assert.equal(lines.filter((l) => l.startsWith('-A ')).length, 4 + 2); // svc chain (1+3) + new sep (2)

  // Deleting a service removes its chains and rewrites TUG-SERVICES.
  const d2 = diffRuleSets(before, desiredRules(services.filter((s) => s.metadata.name !== 's7'), endpoints, NODE_IP));
  assert.deepEqual([...d2.nat.write.keys()], ['TUG-SERVICES']);
  assert.equal(d2.nat.remove.length, 4);
  assert.ok(d2.nat.remove.includes(svc7));
});

test('full render from empty declares all chains before rules and inserts missing built-in jumps', () => {
  const rs = desiredRules([svc('a', 'b', '10.96.0.5')], [eps('a', 'b', ['10.244.1.2'])], NODE_IP);
  const text = renderRestore(diffRuleSets(emptyRuleSet(), rs), missingBuiltinJumps(''));
  const lines = text.trim().split('\n');
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

test('1,000 services x 10 endpoints: compute, full render and one-service render (timings printed)', () => {
  const { services, endpoints } = bigCluster(1000, 10);
  let t = performance.now();
  const rs = desiredRules(services, endpoints, NODE_IP);
  const tRules = performance.now() - t;
  t = performance.now();
  const full = renderRestore(diffRuleSets(emptyRuleSet(), rs));
  const tFull = performance.now() - t;
  assert.equal(rs.nat.size, 4 + 1000 + 10000);
  const e2 = endpoints.map((e) => (e.metadata.name === 's500' ? eps('default', 's500', ['10.244.0.1']) : e));
  t = performance.now();
  const next = desiredRules(services, e2, NODE_IP);
  const one = renderRestore(diffRuleSets(rs, next));
  const tOne = performance.now() - t;
  const svc500 = serviceChainName(servicePortKey('default', 's500', '', 'TCP'));
  assert.ok(one.includes(`:${svc500} - [0:0]`));
  assert.equal(one.split('\n').filter((l) => /^:TUG-SVC-/.test(l)).length, 1);
  console.log(
    `1000x10: desiredRules ${tRules.toFixed(1)} ms, full render ${tFull.toFixed(1)} ms (${full.length} bytes), ` +
      `one-service recompute+diff+render ${tOne.toFixed(1)} ms (${one.length} bytes)`,
  );
});
