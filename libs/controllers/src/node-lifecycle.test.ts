// node-lifecycle.test.ts: NodeLifecycleController against an in-memory API (TestApiServer), with a
// 1 s grace period and 1 s eviction: a Node that stops heartbeating becomes Ready=Unknown and
// tainted at the moment its heartbeat ages past the grace period (a timer, no watch event
// needed), its pods are marked not ready at once and deleted after their toleration, one
// tolerating forever stays, and a heartbeat makes it Ready and untainted again. The first tests'
// Nodes have no Lease (an older agent): their status is their heartbeat. The last one's Lease is:
// renewed, it keeps a Node with an old status Ready; once its renewals stop, the Node turns
// Unknown a grace period after the last one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { NODE_LEASE_NAMESPACE } from '@tugboat/api';
import type { Lease, Node, Pod, Toleration } from '@tugboat/api';
import { TugClient } from '@tugboat/client';
import type { ObjectLike } from '@tugboat/client';
import { TestApi, TestApiServer } from '@tugboat/apiserver/testing';
import { NodeLifecycleController, SharedInformers, TAINT_UNREACHABLE } from '@tugboat/controllers';
import type { ControllerContext, EventRecorder, EventType } from '@tugboat/controllers';

let server: TestApiServer;
let client: TugClient;

before(async () => {
  server = await TestApiServer.start(new TestApi());
  client = new TugClient({ endpoints: [server.address], retryBudgetMs: 5_000 });
});

after(async () => {
  client.close();
  await server.stop();
});

interface Recorded {
  object: string;
  type: EventType;
  reason: string;
  message: string;
}

class RecordingEvents implements EventRecorder {
  readonly events: Recorded[] = [];
  record(obj: ObjectLike, type: EventType, reason: string, message: string): void {
    this.events.push({ object: `${obj.kind}/${obj.metadata.name ?? ''}`, type, reason, message });
  }
}

function readyNode(name: string, heartbeat: Date): Node {
  const at = heartbeat.toISOString();
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    status: { conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady', lastHeartbeatTime: at, lastTransitionTime: at }] },
  };
}

function boundPod(name: string, nodeName: string, tolerations?: Toleration[]): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }], ...(tolerations === undefined ? {} : { tolerations }) },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const giveUp = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > giveUp) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

async function podNames(): Promise<string[]> {
  return (await client.pods.list({ namespace: 'default' })).items.map((p) => p.metadata.name ?? '').sort();
}

/** runController runs a NodeLifecycleController with `settings` over the test API while `body`
 *  runs, then stops it and its informers (also when body fails). */
async function runController(settings: ControllerContext['settings'], body: (events: RecordingEvents) => Promise<void>): Promise<void> {
  const abort = new AbortController();
  const log = pino({ level: 'silent' });
  const informers = new SharedInformers(client, log);
  const events = new RecordingEvents();
  const running = new NodeLifecycleController().run({ client, informers, events, log, signal: abort.signal, settings, now: Date.now });
  try {
    await body(events);
  } finally {
    abort.abort();
    await running;
    await informers.stop();
  }
}

test('a silent Node: Unknown and tainted on time, its pods evicted after their toleration, Ready again after a heartbeat', { timeout: 30_000 }, async () => {
  const start = Date.now();
  await client.nodes.create(readyNode('n1', new Date(start)));
  await client.nodes.create(readyNode('n2', new Date(start + 60_000)));
  const unreachable = (seconds?: number): Toleration => ({ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute', ...(seconds === undefined ? {} : { tolerationSeconds: seconds }) });
  await client.pods.create(boundPod('plain', 'n1'));
  await client.pods.create(boundPod('patient', 'n1', [unreachable(2)]));
  await client.pods.create(boundPod('forever', 'n1', [unreachable()]));
  await client.pods.create(boundPod('elsewhere', 'n2'));

  await runController({ nodeMonitorGraceSeconds: 1, defaultEvictionSeconds: 1 }, async (events) => {
    const tainted = await waitFor('n1 to be Unknown and tainted', 5_000, async () => {
      const n = await client.nodes.get('n1');
      return n.spec?.taints?.some((t) => t.effect === 'NoExecute') === true ? n : undefined;
    });
    const markedAfter = Date.now() - start;
    assert.ok(markedAfter >= 1_000 && markedAfter < 1_800, `marked ${markedAfter} ms after the last heartbeat (grace 1 s; no event but the timer)`);
    const ready = tainted.status?.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'Unknown');
    assert.equal(ready?.reason, 'NodeStatusUnknown');
    assert.equal(ready?.lastHeartbeatTime, new Date(start).toISOString(), 'the heartbeat time is kept');
    assert.deepEqual(tainted.spec?.taints?.map((t) => `${t.key}:${t.effect}`), [`${TAINT_UNREACHABLE}:NoSchedule`, `${TAINT_UNREACHABLE}:NoExecute`]);
    const added = Date.parse(tainted.spec!.taints![0]!.timeAdded!);
    const forever = await waitFor('the pods of n1 to be marked not ready', 2_000, async () => {
      const p = await client.pods.get('default', 'forever');
      return p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'False' ? p : undefined;
    });
    assert.equal(forever.status?.conditions?.find((c) => c.type === 'Ready')?.reason, 'NodeNotReady');
    const elsewhere = await client.pods.get('default', 'elsewhere');
    assert.equal(elsewhere.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True', 'pods of other Nodes stay Ready');

    await waitFor('pod plain to be evicted', 4_000, async () => ((await podNames()).includes('plain') ? undefined : true));
    const plainGone = Date.now() - added;
    assert.ok(plainGone >= 900, `plain evicted ${plainGone} ms after the taint (default eviction 1 s)`);
    assert.deepEqual(await podNames(), ['elsewhere', 'forever', 'patient']);
    await waitFor('pod patient to be evicted', 4_000, async () => ((await podNames()).includes('patient') ? undefined : true));
    assert.ok(Date.now() - added >= 1_900, 'patient stays for its 2 s');
    await sleep(300);
    assert.deepEqual(await podNames(), ['elsewhere', 'forever'], 'a pod tolerating forever stays, and so do pods of other Nodes');

    // The agent is back: its heartbeat (an unconditional status write) makes the Node Ready.
    await client.nodes.updateStatus(readyNode('n1', new Date()));
    const untainted = await waitFor('the taints to go', 3_000, async () => {
      const n = await client.nodes.get('n1');
      return n.spec?.taints === undefined ? n : undefined;
    });
    assert.equal(untainted.status?.conditions?.[0]?.status, 'True', 'the controller does not fight the agent');

    const reasons = events.events.map((e) => `${e.object} ${e.reason}`);
    assert.deepEqual(reasons, ['Node/n1 NodeNotReady', 'Pod/plain TaintManagerEviction', 'Pod/patient TaintManagerEviction', 'Node/n1 NodeReady']);
    const n2 = await client.nodes.get('n2');
    assert.equal(n2.spec?.taints, undefined, 'a Node with a fresh heartbeat is left alone');
  });
});

test('with no Node Ready, evictions wait (a full disruption), and a new leader counts from its start', { timeout: 30_000 }, async () => {
  for (const n of (await client.nodes.list()).items) await client.nodes.delete(n.metadata.name ?? '');
  for (const p of (await client.pods.list({ namespace: 'default' })).items) await client.pods.delete('default', p.metadata.name ?? '', { gracePeriodSeconds: 0 });
  // Its last heartbeat is an hour old: the new leader still gives it a full grace period.
  await client.nodes.create(readyNode('lone', new Date(Date.now() - 3_600_000)));
  await client.pods.create(boundPod('kept', 'lone'));
  const start = Date.now();
  await runController({ nodeMonitorGraceSeconds: 1, defaultEvictionSeconds: 0 }, async () => {
    await waitFor('lone to be tainted', 5_000, async () => ((await client.nodes.get('lone')).spec?.taints?.length === 2 ? true : undefined));
    assert.ok(Date.now() - start >= 900, 'tainted a grace period after the controller started, not at once');
    await sleep(1_500);
    assert.deepEqual(await podNames(), ['kept'], 'no Ready Node: its pod is not evicted');
  });
});

test('a new leader that finds Nodes Unknown already acts on them only after a grace period of its own', { timeout: 30_000 }, async () => {
  for (const n of (await client.nodes.list()).items) await client.nodes.delete(n.metadata.name ?? '');
  for (const p of (await client.pods.list({ namespace: 'default' })).items) await client.pods.delete('default', p.metadata.name ?? '', { gracePeriodSeconds: 0 });
  // Its predecessor judged both unreachable an hour ago (perhaps while no heartbeat could be
  // stored); the agent of 'back' has since written its pod Ready again.
  const judged = new Date(Date.now() - 3_600_000).toISOString();
  const inherited = (name: string): Node => ({
    ...readyNode(name, new Date(Date.now() - 3_600_000)),
    spec: { taints: [{ key: TAINT_UNREACHABLE, effect: 'NoSchedule', timeAdded: judged }, { key: TAINT_UNREACHABLE, effect: 'NoExecute', timeAdded: judged }] },
    status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', lastHeartbeatTime: judged, lastTransitionTime: judged }] },
  });
  await client.nodes.create(inherited('back'));
  await client.nodes.create(inherited('gone'));
  await client.nodes.create(readyNode('fine', new Date(Date.now() + 60_000)));
  await client.pods.create(boundPod('on-back', 'back'));
  await client.pods.create(boundPod('on-gone', 'gone'));
  const start = Date.now();
  const readyOf = async (name: string): Promise<string | undefined> => (await client.pods.get('default', name)).status?.conditions?.find((c) => c.type === 'Ready')?.status;
  await runController({ nodeMonitorGraceSeconds: 1, defaultEvictionSeconds: 0 }, async () => {
    await sleep(600);
    assert.deepEqual(await podNames(), ['on-back', 'on-gone'], 'nothing evicted within the grace period');
    assert.equal(await readyOf('on-back'), 'True', 'nor marked not Ready');
    // The agent of 'back' is heard within this leader's grace period.
    await client.nodes.updateStatus(readyNode('back', new Date()));
    await waitFor('on-gone to be evicted', 4_000, async () => ((await podNames()).includes('on-gone') ? undefined : true));
    assert.ok(Date.now() - start >= 900, 'evicted a grace period after the controller started');
    await sleep(300);
    assert.deepEqual(await podNames(), ['on-back']);
    assert.equal(await readyOf('on-back'), 'True', 'the pod of the Node heard from stayed Ready');
    assert.equal((await client.nodes.get('back')).spec?.taints, undefined);
  });
});

test('pods bound to a Node that does not exist are deleted after the grace period', { timeout: 30_000 }, async () => {
  for (const p of (await client.pods.list({ namespace: 'default' })).items) await client.pods.delete('default', p.metadata.name ?? '', { gracePeriodSeconds: 0 });
  await client.nodes.create(readyNode('alive', new Date(Date.now() + 60_000)));
  await client.pods.create(boundPod('ghostly', 'ghost'));
  await client.pods.create(boundPod('fine', 'alive'));
  const start = Date.now();
  await runController({ nodeMonitorGraceSeconds: 1, defaultEvictionSeconds: 1 }, async (events) => {
    await waitFor('ghostly to be deleted', 5_000, async () => ((await podNames()).includes('ghostly') ? undefined : true));
    assert.ok(Date.now() - start >= 900, 'kept for the grace period first');
    assert.deepEqual(await podNames(), ['fine'], 'pods of an existing Node stay');
    assert.ok(events.events.some((e) => e.object === 'Pod/ghostly' && e.reason === 'PodGarbageCollected'));
  });
});

test('a renewed Lease keeps a Node with an old status Ready; once its renewals stop the Node is Unknown after the grace period', { timeout: 30_000 }, async () => {
  for (const n of (await client.nodes.list()).items) await client.nodes.delete(n.metadata.name ?? '');
  for (const p of (await client.pods.list({ namespace: 'default' })).items) await client.pods.delete('default', p.metadata.name ?? '', { gracePeriodSeconds: 0 });
  const statusWritten = new Date(Date.now() - 3_600_000);
  await client.nodes.create(readyNode('leased', statusWritten));
  const lease = (renewed: Date): Lease => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: 'leased', namespace: NODE_LEASE_NAMESPACE },
    spec: { holderIdentity: 'leased', leaseDurationSeconds: 4, renewTime: renewed.toISOString() },
  });
  await client.leases.create(lease(new Date()));
  await runController({ nodeMonitorGraceSeconds: 1, defaultEvictionSeconds: 1 }, async () => {
    // The agent's beats for 2.5 s (past the grace period from the controller's start): the
    // Lease alone, unconditionally, as the agent writes it.
    const renewUntil = Date.now() + 2_500;
    let lastRenewal = 0;
    while (Date.now() < renewUntil) {
      lastRenewal = Date.now();
      await client.leases.update(lease(new Date(lastRenewal)));
      await sleep(200);
    }
    const kept = await client.nodes.get('leased');
    assert.equal(kept.status?.conditions?.[0]?.status, 'True', 'Ready while the Lease is renewed, though the status is an hour old');
    assert.equal(kept.spec?.taints, undefined);

    const tainted = await waitFor('leased to be Unknown and tainted', 5_000, async () => {
      const n = await client.nodes.get('leased');
      return n.spec?.taints?.some((t) => t.effect === 'NoExecute') === true ? n : undefined;
    });
    const markedAfter = Date.now() - lastRenewal;
    assert.ok(markedAfter >= 1_000 && markedAfter < 1_800, `marked ${markedAfter} ms after the last renewal (grace 1 s)`);
    const ready = tainted.status?.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'Unknown');
    assert.equal(ready?.lastHeartbeatTime, statusWritten.toISOString(), 'the status heartbeat is kept as it was');
  });
});
