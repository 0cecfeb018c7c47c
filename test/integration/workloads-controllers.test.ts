// workloads-controllers.test.ts: the ReplicaSet and Deployment controllers and the garbage
// collector as tug-control runs them (one member, as a process), with no agent: the test plays
// the agent, marking pods Running and Ready through status updates.
//  - a ReplicaSet of 3 adopts a matching orphan, creates the 2 others and replaces a deleted pod;
//  - a Deployment rolls from image A to B without ever having fewer than replicas -
//    maxUnavailable Ready pods, and ends with the new ReplicaSet at full size and the old at 0;
//  - deleting the Deployment deletes its ReplicaSets and their pods.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment, Pod, ReplicaSet } from '@tugboat/api';
import { isConflict, isNotFound } from '@tugboat/client';
import type { Informer, TugClient } from '@tugboat/client';
import { TugCluster } from '../support/tug-cluster.ts';
import { waitUntil } from './api-helpers.ts';

const NS = 'default';

function isReady(p: Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

function podSpec(image: string): Pod['spec'] {
  return { containers: [{ name: 'app', image }], terminationGracePeriodSeconds: 1 };
}

/** playAgent marks every pod the informer shows Running and Ready (as an agent would once its containers pass their probes). */
function playAgent(client: TugClient, pods: Informer<Pod>): () => void {
  const busy = new Set<string>();
  const mark = (key: string): void => {
    const pod = pods.get(key);
    if (pod === undefined || isReady(pod) || pod.metadata.deletionTimestamp !== undefined || busy.has(key)) return;
    busy.add(key);
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const conditions = (pod.status?.conditions ?? []).filter((c) => c.type !== 'Ready');
    conditions.push({ type: 'Ready', status: 'True', lastTransitionTime: now });
    client.pods
      .updateStatus({ ...structuredClone(pod), status: { ...structuredClone(pod.status ?? {}), phase: 'Running', conditions } })
      .catch((err: unknown) => {
        if (!isConflict(err) && !isNotFound(err)) throw err;
      })
      .finally(() => {
        busy.delete(key);
        mark(key); // A conflict: look again at the newer version.
      });
  };
  return pods.addHandler({ onAdd: mark, onUpdate: mark });
}

function ownedBy(uid: string | undefined) {
  return (o: { metadata: { ownerReferences?: { uid: string; controller?: boolean }[] } }) =>
    o.metadata.ownerReferences?.some((r) => r.uid === uid && r.controller === true) === true;
}

test('workload controllers in tug-control: ReplicaSet, Deployment rollout, garbage collection', { timeout: 60_000 }, async (t) => {
  const cluster = await TugCluster.start({ size: 1 });
  t.after(() => cluster.stop());
  const client = cluster.client();
  const pods = client.pods.informer({ namespace: NS });
  const replicaSets = client.replicaSets.informer({ namespace: NS });
  pods.start();
  replicaSets.start();
  t.after(() => Promise.all([pods.stop(), replicaSets.stop()]));
  await Promise.all([pods.waitForSync(), replicaSets.waitForSync()]);
  const stopAgent = playAgent(client, pods);
  t.after(stopAgent);

  const active = (labels: Record<string, string>) =>
    pods.list((p) => p.metadata.deletionTimestamp === undefined && Object.entries(labels).every(([k, v]) => p.metadata.labels?.[k] === v));

  await t.test('a ReplicaSet of 3 adopts an orphan, creates the rest, replaces a deleted pod', async () => {
    const stray = await client.pods.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'stray', namespace: NS, labels: { app: 'rs' } }, spec: podSpec('a:1') });
    const rs = await client.replicaSets.create({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'rs', namespace: NS },
      spec: { replicas: 3, selector: { matchLabels: { app: 'rs' } }, template: { metadata: { labels: { app: 'rs' } }, spec: podSpec('a:1') } },
    });
    const mine = ownedBy(rs.metadata.uid);
    await waitUntil('3 pods of the ReplicaSet', () => active({ app: 'rs' }).filter(mine).length === 3);
    const three = active({ app: 'rs' });
    assert.equal(three.length, 3, 'no extra pod');
    assert.ok(three.some((p) => p.metadata.uid === stray.metadata.uid), 'the orphan is adopted, not replaced');
    assert.ok(three.filter((p) => p.metadata.name !== 'stray').every((p) => p.metadata.name?.startsWith('rs-')), 'generated names rs-xxxxx');

    const victim = three.find((p) => p.metadata.name !== 'stray')!;
    await client.pods.delete(NS, victim.metadata.name!);
    await waitUntil('a replacement', () => {
      const now = active({ app: 'rs' }).filter(mine);
      return now.length === 3 && !now.some((p) => p.metadata.uid === victim.metadata.uid);
    });
    await waitUntil('ReplicaSet status 3/3 ready', () => {
      const s = replicaSets.getByName(NS, 'rs')?.status;
      return s?.replicas === 3 && s.readyReplicas === 3 && s.availableReplicas === 3 && s.fullyLabeledReplicas === 3;
    });
    const events = await client.events.list({ namespace: NS });
    assert.ok(events.items.some((e) => e.involvedObject.name === 'rs' && e.reason === 'SuccessfulCreate'), 'SuccessfulCreate events');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(active({ app: 'rs' }).length, 3, 'still 3: nothing created twice');

    await client.replicaSets.delete(NS, 'rs');
    await waitUntil('the ReplicaSet\'s pods collected', () => active({ app: 'rs' }).length === 0);
  });

  await t.test('a Deployment rolls from image A to B keeping replicas - maxUnavailable Ready; deleting it deletes the rest', async () => {
    const replicas = 4;
    const maxUnavailable = 1;
    const d = await client.deployments.create({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: NS, annotations: { 'kubernetes.io/change-cause': 'first' } },
      spec: {
        replicas,
        selector: { matchLabels: { app: 'web' } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable } },
        template: { metadata: { labels: { app: 'web' } }, spec: podSpec('web:a') },
      },
    });
    const done = async (what: string, image: string) => {
      await waitUntil(what, () => {
        const pods = active({ app: 'web' });
        return pods.length === replicas && pods.every((p) => p.spec.containers[0]?.image === image && isReady(p));
      });
      let live: Deployment | undefined;
      const giveUp = Date.now() + 10_000;
      for (;;) {
        live = await client.deployments.get(NS, 'web');
        const s = live.status;
        const progressing = s?.conditions?.find((c) => c.type === 'Progressing');
        if (s?.updatedReplicas === replicas && s.availableReplicas === replicas && s.observedGeneration === live.metadata.generation && progressing?.reason === 'NewReplicaSetAvailable') break;
        if (Date.now() > giveUp) assert.fail(`${what}: status ${JSON.stringify(s)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return live;
    };
    const v1 = await done('revision 1 ready', 'web:a');
    assert.equal(v1.metadata.annotations?.['deployment.kubernetes.io/revision'], '1');
    const rs1 = replicaSets.list(ownedBy(d.metadata.uid));
    assert.equal(rs1.length, 1);
    const first = rs1[0]!;
    const hash = first.metadata.labels?.['pod-template-hash'];
    assert.ok(hash !== undefined && first.metadata.name === `web-${hash}`, `ReplicaSet named web-HASH: ${first.metadata.name}`);
    assert.equal(first.metadata.annotations?.['kubernetes.io/change-cause'], 'first');
    assert.ok(active({ app: 'web' }).every((p) => p.metadata.labels?.['pod-template-hash'] === hash));

    // Watch Ready pods through the rollout.
    let minReady = Infinity;
    const count = () => {
      minReady = Math.min(minReady, active({ app: 'web' }).filter(isReady).length);
    };
    count();
    const stopCounting = pods.addHandler(count);
    const next = structuredClone(v1);
    next.spec.template.spec.containers[0]!.image = 'web:b';
    await client.deployments.update(next);
    const v2 = await done('revision 2 ready', 'web:b');
    stopCounting();
    assert.ok(minReady >= replicas - maxUnavailable, `Ready pods dropped to ${minReady}`);
    assert.equal(v2.metadata.annotations?.['deployment.kubernetes.io/revision'], '2');
    const rsList = replicaSets.list(ownedBy(d.metadata.uid));
    const newRS = rsList.find((rs) => rs.spec.template.spec.containers[0]?.image === 'web:b') as ReplicaSet;
    const oldRS = rsList.find((rs) => rs.spec.template.spec.containers[0]?.image === 'web:a') as ReplicaSet;
    assert.equal(newRS.spec.replicas, replicas);
    assert.equal(oldRS.spec.replicas, 0);
    assert.equal(oldRS.metadata.annotations?.['deployment.kubernetes.io/revision'], '1');
    assert.equal(newRS.metadata.annotations?.['deployment.kubernetes.io/revision'], '2');
    const events = await client.events.list({ namespace: NS });
    assert.ok(events.items.some((e) => e.involvedObject.name === 'web' && e.message === `Scaled up replica set ${newRS.metadata.name} to 1`), 'ScalingReplicaSet events');

    await client.deployments.delete(NS, 'web');
    await waitUntil('the ReplicaSets and pods collected', () => replicaSets.list(ownedBy(d.metadata.uid)).length === 0 && active({ app: 'web' }).length === 0);
  });
});
