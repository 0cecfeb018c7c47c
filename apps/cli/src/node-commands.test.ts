// node-commands.test.ts: `tug cordon`, `tug uncordon` and `tug drain` against the in-process
// fake API: cordon is a compare-and-swap of spec.unschedulable, drain refuses pods no
// controller owns unless --force, evicts the others, waits for terminating ones and times out.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Node, Pod } from '@tugboat/api';
import { runCaptured } from '@tugboat/cli';
import { TugClient } from '@tugboat/client';
import { TestApi, TestApiServer } from '@tugboat/apiserver/testing';

let api: TestApi;
let server: TestApiServer;
let client: TugClient;
let home: string;

before(async () => {
  api = new TestApi();
  server = await TestApiServer.start(api);
  client = new TugClient({ endpoints: [server.address] });
  home = mkdtempSync(join(tmpdir(), 'tug-node-commands-'));
});

after(async () => {
  client.close();
  await server.stop();
  rmSync(home, { recursive: true, force: true });
});

const tug = (args: string[]) => runCaptured(args, { env: { TUG_ENDPOINTS: server.address }, homedir: home });

function node(name: string): Node {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name }, status: { conditions: [{ type: 'Ready', status: 'True' }] } };
}

function pod(name: string, nodeName: string, owned: boolean): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      ...(owned ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'rs-uid', controller: true }] } : {}),
    },
    spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }] },
  };
}

async function podNames(): Promise<string[]> {
  return (await client.pods.list({ namespace: 'default' })).items.map((p) => p.metadata.name ?? '').sort();
}

beforeEach(async () => {
  for (const p of (await client.pods.list()).items) await client.pods.delete(p.metadata.namespace ?? '', p.metadata.name ?? '', { gracePeriodSeconds: 0 });
  for (const n of (await client.nodes.list()).items) await client.nodes.delete(n.metadata.name ?? '');
  await client.nodes.create(node('n1'));
  await client.nodes.create(node('n2'));
});

describe('tug cordon / uncordon', () => {
  test('set and clear spec.unschedulable, saying when nothing changed', async () => {
    assert.deepEqual(await tug(['cordon', 'n1']), { code: 0, stdout: 'node/n1 cordoned\n', stderr: '' });
    assert.equal((await client.nodes.get('n1')).spec?.unschedulable, true);
    assert.equal((await tug(['cordon', 'n1'])).stdout, 'node/n1 already cordoned\n');
    assert.deepEqual(await tug(['uncordon', 'n1']), { code: 0, stdout: 'node/n1 uncordoned\n', stderr: '' });
    assert.equal((await client.nodes.get('n1')).spec?.unschedulable, undefined);
    assert.equal((await tug(['uncordon', 'n1'])).stdout, 'node/n1 already uncordoned\n');
  });

  test('a missing node is an error naming it', async () => {
    const r = await tug(['cordon', 'nope']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /node "nope" not found/);
  });

  test('a Node changed between read and write is read again (compare-and-swap)', async () => {
    const { Status } = await import('@tugboat/proto');
    api.failNext({ method: 'Update', code: Status.ABORTED, message: 'resourceVersion mismatch' });
    assert.equal((await tug(['cordon', 'n2'])).stdout, 'node/n2 cordoned\n');
    assert.equal((await client.nodes.get('n2')).spec?.unschedulable, true);
  });
});

describe('tug drain', () => {
  test('refuses pods no controller owns, naming them, unless --force', async () => {
    await client.pods.create(pod('web-1', 'n1', true));
    await client.pods.create(pod('lonely', 'n1', false));
    await client.pods.create(pod('other', 'n2', false));
    const refused = await tug(['drain', 'n1']);
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, 'node/n1 cordoned\n');
    assert.match(refused.stderr, /no controller owns .*--force.*: default\/lonely$/m);
    assert.deepEqual(await podNames(), ['lonely', 'other', 'web-1'], 'nothing is evicted');

    const forced = await tug(['drain', 'n1', '--force', '--grace-period', '0']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(forced.stdout.split('\n').filter((l) => l !== '').sort(), [
      'evicting pod default/lonely',
      'evicting pod default/web-1',
      'node/n1 already cordoned',
      'node/n1 drained',
      'pod/lonely evicted',
      'pod/web-1 evicted',
    ]);
    assert.ok(forced.stdout.endsWith('node/n1 drained\n'));
    assert.deepEqual(await podNames(), ['other'], 'pods of other nodes stay');
  });

  test('evicts gracefully by default: the pod is marked, and drain waits until its agent removes it', async () => {
    await client.pods.create(pod('web-2', 'n1', true));
    const drained = tug(['drain', 'n1']);
    // The node's agent: stops the pod once it is marked, then deletes it for good.
    let marked: string | undefined;
    while (marked === undefined) {
      marked = (await client.pods.get('default', 'web-2')).metadata.deletionTimestamp;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(Date.parse(marked) > Date.now() + 20_000, 'the pod got its own grace period (30 s)');
    await client.pods.delete('default', 'web-2', { gracePeriodSeconds: 0 });
    const r = await drained;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'node/n1 cordoned\nevicting pod default/web-2\npod/web-2 evicted\nnode/n1 drained\n');
  });

  test('waits for a terminating pod without deleting it again; --timeout gives up naming it', async () => {
    api.seed(pod('leaving', 'n1', true));
    await client.pods.delete('default', 'leaving', { gracePeriodSeconds: 30 }); // bound: marked, kept until its agent is done
    const timedOut = await tug(['drain', 'n1', '--timeout', '600ms']);
    assert.equal(timedOut.code, 1);
    assert.match(timedOut.stderr, /did not finish within 600ms; pods still there: default\/leaving/);
    assert.doesNotMatch(timedOut.stdout, /evicting/, 'a terminating pod is not deleted again');

    const drained = tug(['drain', 'n1']);
    setTimeout(() => void client.pods.delete('default', 'leaving', { gracePeriodSeconds: 0 }), 400);
    const r = await drained;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'node/n1 already cordoned\npod/leaving evicted\nnode/n1 drained\n');
  });

  test('bad --grace-period is a usage error', async () => {
    const r = await tug(['drain', 'n1', '--grace-period', 'soon']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--grace-period/);
  });
});
