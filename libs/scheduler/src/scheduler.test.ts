// scheduler.test.ts: the Scheduler loop against an in-memory API (TestApiServer): pods bound in
// transactions of at most batchSize, a refused transaction bound again pod by pod, and a pod
// that fits nowhere marked Unschedulable with a Warning Event, once. The scheduler inside a
// real tug-control is tested in test/integration/scheduler.test.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { TugClient } from '@tugboat/client';
import type { ObjectLike } from '@tugboat/client';
import { TestApi, TestApiServer } from '@tugboat/apiserver/testing';
import { SharedInformers } from '@tugboat/controllers';
import type { ControllerContext, EventRecorder, EventType } from '@tugboat/controllers';
import { Status } from '@tugboat/proto';
import { Scheduler } from './scheduler.ts';
import { testNode, testPod } from './test-objects.ts';

let api: TestApi;
let server: TestApiServer;
let client: TugClient;

before(async () => {
  api = new TestApi();
  server = await TestApiServer.start(api);
  client = new TugClient({ endpoints: [server.address], retryBudgetMs: 5_000 });
});

after(async () => {
  client.close();
  await server.stop();
});

class RecordingEvents implements EventRecorder {
  readonly events: string[] = [];
  record(obj: ObjectLike, type: EventType, reason: string, message: string): void {
    this.events.push(`${obj.metadata.name ?? ''} ${type} ${reason}: ${message}`);
  }
}

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const giveUp = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > giveUp) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

test('pods are bound in batches, a refused batch pod by pod; a pod that fits nowhere is told why once', { timeout: 30_000 }, async (t) => {
  for (const n of ['a', 'b']) await client.nodes.create(testNode(n, { cpu: '2', memory: '4Gi' }));
  const abort = new AbortController();
  const informers = new SharedInformers(client, pino({ level: 'silent' }));
  const events = new RecordingEvents();
  const ctx: ControllerContext = {
    client,
    informers,
    events,
    log: pino({ level: 'silent' }),
    signal: abort.signal,
    settings: { nodeMonitorGraceSeconds: 5, defaultEvictionSeconds: 2 },
    now: Date.now,
  };
  // The first transaction is refused as if one of its pods had changed.
  api.failNext({ method: 'txn', code: Status.ABORTED, message: 'injected conflict' });
  await Promise.all(Array.from({ length: 40 }, (_, i) => client.pods.create(testPod(`p${i}`, { cpu: '50m', owner: 'rs' }))));
  const running = new Scheduler({ batchSize: 10 }).run(ctx);
  t.after(async () => {
    abort.abort();
    await running;
    await informers.stop();
  });

  await waitFor('40 pods bound', async () => (await client.pods.list()).items.filter((p) => p.spec.nodeName).length === 40);
  const pods = (await client.pods.list()).items;
  const onA = pods.filter((p) => p.spec.nodeName === 'a').length;
  assert.equal(onA, 20, 'spread evenly');
  const txns = api.calls.filter((c) => c.method === 'txn');
  assert.ok(txns.length >= 4, `${txns.length} transactions`);
  assert.equal(txns[0]?.code, 'ABORTED');
  assert.ok(api.calls.some((c) => c.method === 'update' && c.code === 'OK'), 'the refused batch went pod by pod');
  assert.ok(
    pods.every((p) => p.status?.conditions?.length === 1 && p.status.conditions[0]?.type === 'PodScheduled' && p.status.conditions[0].status === 'True'),
    'binding sets PodScheduled True, and nothing else of the status',
  );

  await client.pods.create(testPod('huge', { cpu: '8' }));
  const why = '0/2 nodes are available: 2 Insufficient cpu.';
  await waitFor('the Unschedulable condition', async () => {
    const p = await client.pods.get('default', 'huge');
    return p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable' && c.message === why) === true;
  });
  await sleep(200);
  assert.deepEqual(events.events, [`huge Warning FailedScheduling: ${why}`]);
  const statusWrites = api.calls.filter((c) => c.method === 'update' && c.code === 'OK').length;
  await client.nodes.create(testNode('c', { cpu: '16' }));
  await waitFor('the big pod bound to the new node', async () => (await client.pods.get('default', 'huge')).spec.nodeName === 'c');
  assert.equal(api.calls.filter((c) => c.method === 'update' && c.code === 'OK').length, statusWrites + 1, 'one more update: the bind');
});
