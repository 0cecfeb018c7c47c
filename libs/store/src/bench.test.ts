// A quick micro-benchmark, printed with the test output (figures only; nothing here is timed
// against a limit): applies/s for 10,000 creates of 1 KiB pods and 10,000 binds (spec updates),
// heap used, snapshot, restore, hash, list and watch replay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { ObjectStore, encodeCommand } from '@tugboat/store';
import type { KubeObject } from '@tugboat/store';
import { filled, namespace } from './testutil.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function heapMiB(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

/** benchPod is a realistic pod of about 1 KiB of JSON. */
function benchPod(i: number): KubeObject {
  return filled({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `web-7d4b9c8f6-${String(i).padStart(5, '0')}`,
      namespace: 'default',
      labels: { app: 'web', tier: 'frontend', 'pod-template-hash': '7d4b9c8f6' },
      annotations: { 'tugboat.io/created-by': 'replicaset/web-7d4b9c8f6', note: 'x'.repeat(300) },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d4b9c8f6', uid: 'c0ffee00-0000-4000-8000-000000000001', controller: true }],
    },
    spec: {
      containers: [
        {
          name: 'web',
          image: 'registry.local/web:1.4.2',
          command: ['/bin/httpd', '-f', '-p', '8080'],
          ports: [{ containerPort: 8080, protocol: 'TCP' }],
          resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '200m', memory: '128Mi' } },
          env: [{ name: 'MODE', value: 'production' }],
        },
      ],
      restartPolicy: 'Always',
      nodeSelector: { zone: 'a' },
    },
    status: { phase: 'Pending' },
  });
}

const rate = (n: number, ms: number): string => `${Math.round((n / ms) * 1000).toLocaleString('en-US')}/s`;

test('micro-benchmark: 10,000 creates of 1 KiB pods, 10,000 binds, snapshot, restore, watch (figures, not limits)', async (t) => {
  const n = 10_000;
  const heap0 = heapMiB();
  const store = new ObjectStore();
  let index = 0;
  store.apply({ index: ++index, term: 1, data: encodeCommand({ ops: [{ op: 'create', object: namespace('default') }] }) });

  let t0 = performance.now();
  const creates = Array.from({ length: n }, (_, i) => encodeCommand({ requestId: `create-${i}`, ops: [{ op: 'create', object: benchPod(i) }] }));
  const encodeMs = performance.now() - t0;
  const avgBytes = creates.reduce((s, c) => s + c.length, 0) / n;

  t0 = performance.now();
  for (const data of creates) {
    const r = store.apply({ index: ++index, term: 1, data });
    if (!r.ok) assert.fail(r.error.message);
  }
  const createMs = performance.now() - t0;
  creates.length = 0;
  const heapAfterCreates = heapMiB();

  // Binds: the scheduler sets spec.nodeName with compare-and-swap.
  const binds = store.list({ kind: 'Pod' }).items.map((p, i) =>
    encodeCommand({
      ops: [{ op: 'update', expectedResourceVersion: p.metadata.resourceVersion, object: { ...p, spec: { ...(p.spec as object), nodeName: `node-${i % 1000}` } } }],
    }),
  );
  t0 = performance.now();
  for (const data of binds) {
    const r = store.apply({ index: ++index, term: 1, data });
    if (!r.ok) assert.fail(r.error.message);
  }
  const bindMs = performance.now() - t0;
  binds.length = 0;
  const heapAfterBinds = heapMiB();

  t0 = performance.now();
  const snap = store.snapshot();
  const snapMs = performance.now() - t0;
  t0 = performance.now();
  const restored = new ObjectStore();
  restored.restore(snap);
  const restoreMs = performance.now() - t0;
  t0 = performance.now();
  const hash = store.hash();
  const hashMs = performance.now() - t0;
  assert.equal(restored.hash(), hash);
  t0 = performance.now();
  const listed = store.list({ kind: 'Pod' }).items.length;
  const listMs = performance.now() - t0;
  assert.equal(listed, n);

  const stats = store.stats();
  t0 = performance.now();
  const w = store.watch({ fromRevision: stats.compactRevision, kind: 'Pod' });
  let events = 0;
  for (let i = 0; i < stats.historyEvents - 1; i++) {
    const r = await w.next();
    if (r.done === true) break;
    events++;
  }
  const watchMs = performance.now() - t0;
  w.cancel();

  const lines = [
    `creates: ${n} pods of ${Math.round(avgBytes)} B encoded: encode ${rate(n, encodeMs)}, apply ${rate(n, createMs)} (${((createMs / n) * 1000).toFixed(1)} µs each)`,
    `binds (CAS spec update): apply ${rate(n, bindMs)} (${((bindMs / n) * 1000).toFixed(1)} µs each)`,
    `heap used: ${(heapAfterCreates - heap0).toFixed(1)} MiB after creates, ${(heapAfterBinds - heap0).toFixed(1)} MiB after binds (history ${stats.historyEvents} events, ${(stats.historyBytes / 2 ** 20).toFixed(1)} MiB est., compactRevision ${stats.compactRevision}; ${stats.requestIds} request ids)`,
    `snapshot: ${(snap.length / 2 ** 20).toFixed(1)} MiB in ${snapMs.toFixed(0)} ms; restore ${restoreMs.toFixed(0)} ms; hash ${hashMs.toFixed(0)} ms; list ${n} pods ${listMs.toFixed(1)} ms`,
    `watch replay from history: ${events} events in ${watchMs.toFixed(0)} ms (${rate(events, watchMs)})`,
  ];
  for (const l of lines) t.diagnostic(l);
  console.log(lines.map((l) => `  store bench: ${l}`).join('\n'));
});
