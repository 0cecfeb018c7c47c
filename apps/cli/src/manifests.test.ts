// manifests.test.ts: the three-way merge behind apply, and the config file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LAST_APPLIED, lastApplied, manifestForApply, merge3, parseConfig, parseDuration, planApply, resolveTarget } from '@tugboat/cli';
import { renderConfig } from './config.ts';

test('merge3: desired wins, cluster-set fields stay, fields removed since last time go', () => {
  const live = { a: 1, b: { keep: 'cluster', drop: 'old', same: 1 }, list: [{ port: 80, nodePort: 30080 }], gone: 'x' };
  const desired = { a: 2, b: { same: 1 }, list: [{ port: 80 }] };
  const last = { a: 1, b: { drop: 'old', same: 1 }, list: [{ port: 80 }], gone: 'x' };
  assert.deepEqual(merge3(live, desired, last), { a: 2, b: { keep: 'cluster', same: 1 }, list: [{ port: 80, nodePort: 30080 }] });
  // Without a last-applied record nothing is removed.
  assert.deepEqual(merge3(live, desired, undefined), { a: 2, b: { keep: 'cluster', drop: 'old', same: 1 }, list: [{ port: 80, nodePort: 30080 }], gone: 'x' });
  // Lists of another length are replaced.
  assert.deepEqual(merge3({ l: [1, 2] }, { l: [3] }, undefined), { l: [3] });
});

test('planApply: unchanged when the stored object already matches; server fields and status kept', () => {
  const manifest = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default', resourceVersion: '3' }, data: { k: 'v' } };
  const sent = manifestForApply(manifest);
  assert.equal((sent['metadata'] as Record<string, unknown>)['resourceVersion'], undefined, 'server metadata is not sent');
  assert.deepEqual(lastApplied(sent), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default' }, data: { k: 'v' } });
  const live = {
    ...sent,
    metadata: { ...(sent['metadata'] as object), uid: 'u', resourceVersion: '7', generation: 1, creationTimestamp: '2025-01-01T00:00:00Z' },
  };
  assert.equal(planApply(live, manifest), undefined);
  const plan = planApply(live, { ...manifest, data: { k: 'w' } });
  assert.ok(plan !== undefined);
  assert.deepEqual(plan['data'], { k: 'w' });
  assert.equal((plan['metadata'] as Record<string, unknown>)['resourceVersion'], '7', 'the update is a compare-and-swap');
  assert.match(String(((plan['metadata'] as Record<string, unknown>)['annotations'] as Record<string, string>)[LAST_APPLIED]), /"k":"w"/);
});

test('planApply: a manifest that differs only in key order changes nothing, also against an older record', () => {
  const manifest = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default', labels: { a: '1', b: '2' } }, data: { x: '1', y: '2' } };
  const reordered = { data: { y: '2', x: '1' }, metadata: { labels: { b: '2', a: '1' }, namespace: 'default', name: 'c' }, kind: 'ConfigMap', apiVersion: 'v1' };
  const stored = (sent: Record<string, unknown>) => ({ ...sent, metadata: { ...(sent['metadata'] as object), uid: 'u', resourceVersion: '7' } });
  const live = stored(manifestForApply(manifest));
  assert.equal(planApply(live, reordered), undefined);
  // An object whose record kept the order of the file it was applied from.
  const older = structuredClone(live);
  ((older.metadata as Record<string, unknown>)['annotations'] as Record<string, string>)[LAST_APPLIED] = JSON.stringify(reordered);
  assert.equal(planApply(older, manifest), undefined);
  assert.ok(planApply(live, { ...reordered, data: { y: '2', x: '3' } }) !== undefined, 'a changed value still changes');
});

test('the config file: contexts, current-context, problems named by field', () => {
  const cfg = parseConfig('current-context: a\ncontexts:\n  - {name: a, endpoints: ["h1:1", "h2:2"], namespace: ns1}\n  - {name: b, endpoints: "h3:3, h4:4"}\n', '/c');
  assert.deepEqual(cfg.contexts, [
    { name: 'a', endpoints: ['h1:1', 'h2:2'], namespace: 'ns1' },
    { name: 'b', endpoints: ['h3:3', 'h4:4'] },
  ]);
  assert.throws(() => parseConfig('contexts: {}', '/c'), /config \/c: contexts: must be a list/);
  assert.throws(() => parseConfig('contexts:\n  - {name: a}\n', '/c'), /contexts\[0\]\.endpoints: must be a non-empty list/);
  assert.throws(() => parseConfig('current-context: z\ncontexts: []\n', '/c'), /current-context: "z" is not one of the contexts/);
  assert.throws(() => parseConfig('context: []\n', '/c'), /context: unknown field/);
  assert.throws(() => parseConfig('contexts:\n  - {name: a, endpoints: [x]}\n  - {name: a, endpoints: [x:1]}\n', '/c'), /contexts\[0\]\.endpoints: "x" is not HOST:PORT/);

  const env = { TUG_ENDPOINTS: 'e1:1,e2:2' };
  assert.deepEqual(resolveTarget({ env, homedir: '/nonexistent' }).endpoints, ['e1:1', 'e2:2']);
  assert.deepEqual(resolveTarget({ endpoints: 'f:1', env, homedir: '/nonexistent' }).endpoints, ['f:1']);
  assert.deepEqual(resolveTarget({ env: {}, homedir: '/nonexistent' }).endpoints, ['127.0.0.1:7400']);
  assert.throws(() => resolveTarget({ endpoints: 'nope', env, homedir: '/nonexistent' }), /--endpoints: "nope" is not HOST:PORT/);
});

test('certificates: the flags, else the context the endpoints came from; all three or none', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tug-config-tls-'));
  try {
    const text = 'current-context: lab\ncontexts:\n  - name: lab\n    endpoints: [10.0.0.1:7400]\n    certificate-authority: /p/ca.crt\n    client-certificate: /p/admin.crt\n    client-key: /p/admin.key\n';
    const config = parseConfig(text, '/c');
    assert.deepEqual(config.contexts[0]?.tls, { caFile: '/p/ca.crt', certFile: '/p/admin.crt', keyFile: '/p/admin.key' });
    assert.equal(parseConfig(renderConfig(config), '/c').contexts[0]?.tls?.keyFile, '/p/admin.key', 'written back as read');
    assert.throws(() => parseConfig('contexts:\n  - {name: a, endpoints: [x:1], client-key: /k}\n', '/c'), /contexts\[0\]\.certificate-authority: is required with client-key/);
    const path = join(dir, 'config');
    writeFileSync(path, text);
    const home = { env: {}, homedir: '/nonexistent', config: path };
    assert.equal(resolveTarget(home).tls?.caFile, '/p/ca.crt');
    assert.equal(resolveTarget({ ...home, env: { TUG_ENDPOINTS: 'e:1' } }).tls, undefined, 'endpoints not from a context: no certificates of one');
    const flags = { 'certificate-authority': '/f/ca', 'client-certificate': '/f/c', 'client-key': '/f/k' };
    assert.deepEqual(resolveTarget({ ...home, endpoints: 'f:1', tls: flags }).tls, { caFile: '/f/ca', certFile: '/f/c', keyFile: '/f/k' });
    assert.throws(() => resolveTarget({ ...home, tls: { 'client-key': '/k' } }), /--certificate-authority: is required with --client-key/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parseDuration reads --request-timeout values', () => {
  assert.equal(parseDuration('500ms', 'f'), 500);
  assert.equal(parseDuration('10s', 'f'), 10_000);
  assert.equal(parseDuration('2', 'f'), 2_000);
  assert.equal(parseDuration('1.5m', 'f'), 90_000);
  assert.equal(parseDuration('0', 'f'), undefined);
  assert.throws(() => parseDuration('soon', '--request-timeout'), /--request-timeout: "soon" is not a duration/);
});

test('a Secret\'s values never go into the last-applied annotation', () => {
  const sent = manifestForApply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { password: 'hunter2' }, data: { k: 'c2VjcmV0' } });
  const note = ((sent['metadata'] as Record<string, unknown>)['annotations'] as Record<string, string>)[LAST_APPLIED] ?? '';
  assert.doesNotMatch(note, /hunter2|c2VjcmV0/);
  assert.deepEqual(JSON.parse(note), { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { password: '' }, data: { k: '' } });
  assert.deepEqual(sent['stringData'], { password: 'hunter2' }, 'the values themselves are sent');
});
