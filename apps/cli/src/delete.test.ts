// delete.test.ts: `tug delete` with --grace-period, --force, --cascade and --wait, and how a
// terminating pod shows in `get` and `describe`, against the fake API (which marks bound pods
// as the control plane does).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod } from '@tugboat/api';
import { runCaptured } from '@tugboat/cli';
import { TestApi, TestApiServer } from '@tugboat/apiserver/testing';
import { planDelete } from './delete-options.ts';

let api: TestApi;
let server: TestApiServer;
let home: string;

before(async () => {
  api = new TestApi();
  server = await TestApiServer.start(api);
  home = mkdtempSync(join(tmpdir(), 'tug-delete-test-'));
});
after(async () => {
  await server.stop();
  rmSync(home, { recursive: true, force: true });
});

const tug = (args: string[]) => runCaptured(args, { env: { TUG_ENDPOINTS: server.address }, homedir: home });

function pod(name: string, nodeName?: string, ownerReferences?: NonNullable<Pod['metadata']['ownerReferences']>): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', ...(ownerReferences === undefined ? {} : { ownerReferences }) },
    spec: { containers: [{ name: 'c', image: 'busybox:1' }], terminationGracePeriodSeconds: 30, ...(nodeName === undefined ? {} : { nodeName }) },
  };
}

const stored = (name: string) => api.object('Pod', 'default', name);

describe('tug delete', () => {
  test('flags: --grace-period, --force, --cascade, --wait and --timeout', () => {
    assert.deepEqual(planDelete({}).options, {});
    assert.deepEqual(planDelete({ gracePeriod: '-1' }).options, {});
    assert.deepEqual(planDelete({ gracePeriod: '5', cascade: 'orphan' }).options, { gracePeriodSeconds: 5, propagationPolicy: 'Orphan' });
    const forced = planDelete({ force: true });
    assert.deepEqual(forced.options, { gracePeriodSeconds: 0 });
    assert.match(forced.warning ?? '', /^warning: .*may run on/);
    assert.deepEqual(planDelete({ force: true, gracePeriod: '0' }).options, { gracePeriodSeconds: 0 });
    assert.deepEqual(planDelete({ wait: true, timeout: '2s' }).wait, { timeoutMs: 2000 });
    assert.deepEqual(planDelete({ wait: true }).wait, { timeoutMs: undefined });
    assert.equal(planDelete({}).wait, undefined);
    for (const [flags, message] of [
      [{ gracePeriod: 'soon' }, /--grace-period: "soon" is not a number/],
      [{ gracePeriod: '-2' }, /--grace-period/],
      [{ force: true, gracePeriod: '10' }, /--force deletes with grace 0/],
      [{ cascade: 'foreground' }, /--cascade: "foreground" is not one of background, orphan/],
      [{ timeout: '5s' }, /--timeout bounds --wait/],
    ] as const) {
      assert.throws(() => planDelete(flags), message);
    }
  });

  test('a bound pod is marked: Terminating in get, deletion time and grace in describe; --grace-period shortens; --force removes', async () => {
    api.seed(pod('web', 'n1'));
    let r = await tug(['delete', 'pod', 'web']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'pod "web" deleted\n');
    const marked = stored('web');
    assert.equal(marked?.metadata['deletionGracePeriodSeconds'], 30);

    r = await tug(['get', 'pods', 'web']);
    assert.match(r.stdout, /\nweb\s+0\/1\s+Terminating\s/);
    r = await tug(['describe', 'pod', 'web']);
    assert.match(r.stdout, /\nDeletion Time:\s+\S+Z \(in (2\d|30)s\)\nDeletion Grace:\s+30s\n/);

    r = await tug(['delete', 'pod', 'web', '--grace-period', '10']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(stored('web')?.metadata['deletionGracePeriodSeconds'], 10);

    r = await tug(['delete', 'pod', 'web', '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'pod "web" deleted\n');
    assert.match(r.stderr, /^warning: --force removes the pod from the API at once/);
    assert.equal(stored('web'), undefined);
  });

  test('--wait returns once the pod is gone, and fails after --timeout while it stays', async () => {
    api.seed(pod('slow', 'n1'));
    let r = await tug(['delete', 'pod', 'slow', '--wait', '--timeout', '600ms']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, 'pod "slow" deleted\n');
    assert.match(r.stderr, /timed out after 0\.6s waiting for pod "slow" to be deleted/);
    assert.ok(stored('slow')?.metadata['deletionTimestamp']);

    // The node's agent finishes it a little later.
    const finish = setTimeout(() => api.write([{ op: 'delete', ref: { kind: 'Pod', namespace: 'default', name: 'slow' } }]), 400);
    r = await tug(['delete', 'pod', 'slow', '--wait', '--timeout', '10s']);
    clearTimeout(finish);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(stored('slow'), undefined);

    // Not bound: gone at once, nothing to wait for.
    api.seed(pod('pending'));
    r = await tug(['delete', 'pod', 'pending', '--wait']);
    assert.equal(r.code, 0, r.stderr);
  });

  test('--cascade orphan leaves the dependents without the owner', async () => {
    const owner = api.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner', namespace: 'default' } });
    const uid = String(owner.metadata['uid']);
    api.seed(pod('dep', undefined, [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid }]));
    const r = await tug(['delete', 'configmap', 'owner', '--cascade', 'orphan']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(stored('dep')?.metadata['ownerReferences'], undefined);
    assert.equal((await tug(['delete', 'pod', 'dep', '--cascade', 'sideways'])).code, 2);
  });
});
