// rollout-commands.test.ts: `tug scale`, `tug set image` and `tug rollout` against the fake API
// on 127.0.0.1, with Deployments and ReplicaSets prefilled with the statuses, revisions and
// owner references the controllers would give them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Deployment, DeploymentStatus, ReplicaSet } from '@tugboat/api';
import { runCaptured } from '@tugboat/cli';
import { TestApi, TestApiServer } from '@tugboat/apiserver/testing';
import { Status } from '@tugboat/proto';

const NOW = Date.parse('2024-05-01T10:00:00Z');

let api: TestApi;
let server: TestApiServer;
let home: string;

const tug = (args: string[], signal?: AbortSignal) => runCaptured(args, { env: { TUG_ENDPOINTS: server.address }, homedir: home, now: () => NOW, signal });

function template(image: string, extraLabels: Record<string, string> = {}) {
  return {
    metadata: { labels: { app: 'web', ...extraLabels } },
    spec: {
      containers: [
        { name: 'web', image },
        { name: 'sidecar', image: 'busybox:1.36' },
      ],
    },
  };
}

/** deployment seeds a Deployment (generation 1) with a revision annotation and a status. */
function deployment(name: string, image: string, revision: number, status: DeploymentStatus = {}): Deployment {
  return api.seed({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default', annotations: { 'deployment.kubernetes.io/revision': String(revision) } },
    spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: template(image) },
    status,
  }) as unknown as Deployment;
}

/** replicaSet seeds a ReplicaSet of revision `revision`, controlled by `owner` (a uid). */
function replicaSet(name: string, owner: string, image: string, revision: number, changeCause?: string): ReplicaSet {
  const hash = name.split('-').at(-1)!;
  return api.seed({
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name,
      namespace: 'default',
      annotations: { 'deployment.kubernetes.io/revision': String(revision), ...(changeCause === undefined ? {} : { 'kubernetes.io/change-cause': changeCause }) },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: name.split('-')[0]!, uid: owner, controller: true, blockOwnerDeletion: true }],
    },
    spec: { replicas: 0, selector: { matchLabels: { app: 'web', 'pod-template-hash': hash } }, template: template(image, { 'pod-template-hash': hash }) },
  }) as unknown as ReplicaSet;
}

function stored(kind: string, name: string): Deployment {
  return api.object(kind, 'default', name) as unknown as Deployment;
}

/** setStatus writes a Deployment's status as its controller would. */
function setStatus(name: string, status: DeploymentStatus): void {
  const cur = api.object('Deployment', 'default', name)!;
  api.write([{ op: 'update', object: { ...cur, status: status as Record<string, unknown> }, subresource: 'status' }]);
}

before(async () => {
  api = new TestApi();
  server = await TestApiServer.start(api);
  home = mkdtempSync(join(tmpdir(), 'tug-rollout-test-'));
});

after(async () => {
  await server.stop();
  rmSync(home, { recursive: true, force: true });
});

describe('tug scale', () => {
  test('sets spec.replicas of deployments and replica sets, in either form', async () => {
    deployment('scaled', 'web:1', 1);
    const d = stored('Deployment', 'scaled');
    replicaSet('scaled-abc', d.metadata.uid!, 'web:1', 1);
    let r = await tug(['scale', 'deploy/scaled', '--replicas', '5']);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'deployment.apps/scaled scaled\n');
    assert.equal(r.code, 0);
    assert.equal(stored('Deployment', 'scaled').spec.replicas, 5);
    r = await tug(['scale', 'deployment', 'scaled', '--replicas', '0']);
    assert.equal(r.stdout, 'deployment.apps/scaled scaled\n');
    assert.equal(stored('Deployment', 'scaled').spec.replicas, 0);
    r = await tug(['scale', '--replicas=2', 'rs/scaled-abc']);
    assert.equal(r.stdout, 'replicaset.apps/scaled-abc scaled\n');
    assert.equal((stored('ReplicaSet', 'scaled-abc') as unknown as ReplicaSet).spec.replicas, 2);
  });

  test('a write that conflicts is read and written again', async () => {
    deployment('contested', 'web:1', 1);
    api.failNext({ method: 'update', code: Status.ABORTED, message: 'the object has been modified', times: 2 });
    const r = await tug(['scale', 'deploy/contested', '--replicas', '4']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(stored('Deployment', 'contested').spec.replicas, 4);
  });

  test('usage errors and a missing deployment', async () => {
    for (const args of [
      ['scale', 'deploy/scaled', '--replicas', '-1'],
      ['scale', 'deploy/scaled', '--replicas', 'x'],
      ['scale', 'deploy/scaled'],
      ['scale', 'pod/web', '--replicas', '1'],
      ['scale', 'deployment', '--replicas', '1'],
    ]) {
      assert.equal((await tug(args)).code, 2, args.join(' '));
    }
    const r = await tug(['scale', 'deploy/nope', '--replicas', '1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error from server \(NotFound\): deployments "nope" in namespace "default" not found/);
  });
});

describe('tug set image', () => {
  test('changes the image and records the command as the change cause', async () => {
    deployment('img', 'web:1', 1);
    let r = await tug(['set', 'image', 'deploy/img', 'web=web:2']);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'deployment.apps/img image updated\n');
    let d = stored('Deployment', 'img');
    assert.deepEqual(d.spec.template.spec.containers.map((c) => c.image), ['web:2', 'busybox:1.36']);
    assert.equal(d.metadata.annotations?.['kubernetes.io/change-cause'], 'tug set image deploy/img web=web:2');
    assert.equal(d.metadata.generation, 2);

    r = await tug(['set', 'image', '-n', 'default', 'deployment', 'img', '*=busybox:1.37']);
    assert.equal(r.stdout, 'deployment.apps/img image updated\n');
    d = stored('Deployment', 'img');
    assert.deepEqual(d.spec.template.spec.containers.map((c) => c.image), ['busybox:1.37', 'busybox:1.37']);
    assert.equal(d.metadata.annotations?.['kubernetes.io/change-cause'], "tug set image deployment img '*=busybox:1.37' -n default");

    r = await tug(['set', 'image', 'deploy/img', 'web=busybox:1.37']);
    assert.equal(r.stdout, 'deployment.apps/img unchanged (the images are already those)\n');
    assert.equal(stored('Deployment', 'img').metadata.resourceVersion, d.metadata.resourceVersion);
  });

  test('a container the template does not have is named, with those it has', async () => {
    const r = await tug(['set', 'image', 'deploy/img', 'web=web:3', 'nope=web:3']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error: deployment img has no container "nope"; its containers: web, sidecar\n');
    assert.equal(stored('Deployment', 'img').spec.template.spec.containers[0]!.image, 'busybox:1.37', 'nothing written');
  });

  test('usage errors', async () => {
    for (const args of [
      ['set', 'image', 'deploy/img'],
      ['set', 'image', 'deploy/img', 'web='],
      ['set', 'image', 'deploy/img', '=web:2'],
      ['set', 'image', 'deploy/img', 'web=a', 'web=b'],
      ['set', 'image', 'deploy/img', 'deploy/other', 'web=a'],
      ['set', 'image', 'svc/img', 'web=a'],
    ]) {
      assert.equal((await tug(args)).code, 2, args.join(' '));
    }
  });
});

describe('tug rollout status', () => {
  test('a finished rollout', async () => {
    deployment('done', 'web:1', 1, { observedGeneration: 1, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3 });
    const r = await tug(['rollout', 'status', 'deploy/done']);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'deployment "done" successfully rolled out\n');
    assert.equal(r.code, 0);
  });

  test('follows the rollout live, printing each new state, until it is done', async () => {
    deployment('live', 'web:1', 1, { observedGeneration: 0 });
    const following = tug(['rollout', 'status', 'deployment', 'live', '--timeout', '20s']);
    const steps: DeploymentStatus[] = [
      { observedGeneration: 1, replicas: 3, updatedReplicas: 1, availableReplicas: 0 },
      { observedGeneration: 1, replicas: 4, updatedReplicas: 2, availableReplicas: 1 },
      { observedGeneration: 1, replicas: 4, updatedReplicas: 3, availableReplicas: 2 },
      { observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 2 },
      { observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 2, readyReplicas: 3 },
      { observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 3 },
    ];
    for (const st of steps) {
      await new Promise((r) => setTimeout(r, 60));
      setStatus('live', st);
    }
    const r = await following;
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(
      r.stdout,
      [
        'Waiting for deployment "live" spec update to be observed...',
        'Waiting for deployment "live" rollout to finish: 1 out of 3 new replicas have been updated...',
        'Waiting for deployment "live" rollout to finish: 2 out of 3 new replicas have been updated...',
        'Waiting for deployment "live" rollout to finish: 1 old replicas are pending termination...',
        'Waiting for deployment "live" rollout to finish: 2 of 3 updated replicas are available...',
        'deployment "live" successfully rolled out',
        '',
      ].join('\n'),
    );
  });

  test('a rollout past its progress deadline fails', async () => {
    deployment('stuck', 'web:1', 1, { observedGeneration: 1, replicas: 3, updatedReplicas: 1, availableReplicas: 0 });
    const following = tug(['rollout', 'status', 'deploy/stuck']);
    await new Promise((r) => setTimeout(r, 100));
    setStatus('stuck', {
      observedGeneration: 1,
      replicas: 3,
      updatedReplicas: 1,
      availableReplicas: 0,
      conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "stuck-abc" has timed out progressing.' }],
    });
    const r = await following;
    assert.equal(r.code, 1);
    assert.equal(r.stdout, 'Waiting for deployment "stuck" rollout to finish: 1 out of 3 new replicas have been updated...\n');
    assert.equal(r.stderr, 'error: deployment "stuck" exceeded its progress deadline: ReplicaSet "stuck-abc" has timed out progressing.\n');
  });

  test('--timeout, --watch=false, a deleted or missing deployment, an interrupt', async () => {
    deployment('slow', 'web:1', 1, { observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 1 });
    const waiting = 'Waiting for deployment "slow" rollout to finish: 1 of 3 updated replicas are available...\n';
    let r = await tug(['rollout', 'status', 'deploy/slow', '--timeout', '300ms']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, waiting);
    assert.match(r.stderr, /^error: timed out waiting for deployment "slow" to roll out \(--timeout 300ms\)/);

    for (const flag of ['--watch=false', '-w=false', '-wfalse']) {
      r = await tug(['rollout', 'status', 'deploy/slow', flag]);
      assert.equal(r.code, 0, flag);
      assert.equal(r.stdout, waiting, flag);
    }
    assert.equal((await tug(['rollout', 'status', 'deploy/slow', '--watch=maybe'])).code, 2);

    const ac = new AbortController();
    const interrupted = tug(['rollout', 'status', 'deploy/slow'], ac.signal);
    await new Promise((res) => setTimeout(res, 100));
    ac.abort();
    r = await interrupted;
    assert.equal(r.code, 0);
    assert.equal(r.stdout, waiting);

    const deleted = tug(['rollout', 'status', 'deploy/slow']);
    await new Promise((res) => setTimeout(res, 100));
    api.write([{ op: 'delete', ref: { kind: 'Deployment', namespace: 'default', name: 'slow' } }]);
    r = await deleted;
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error: deployment "slow" was deleted\n');

    r = await tug(['rollout', 'status', 'deploy/nope']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error from server \(NotFound\): deployments "nope" in namespace "default" not found/);
    assert.equal((await tug(['rollout', 'status', 'rs/x'])).code, 2);
  });
});

describe('tug rollout history and undo', () => {
  let uid = '';

  before(() => {
    deployment('hist', 'web:2', 2);
    uid = stored('Deployment', 'hist').metadata.uid!;
    replicaSet('hist-aaa', uid, 'web:1', 1);
    replicaSet('hist-bbb', uid, 'web:2', 2, 'tug set image deploy/hist web=web:2');
    replicaSet('hist-ccc', 'someone-else', 'web:9', 5);
  });

  test('history lists the revisions of the replica sets the deployment owns', async () => {
    const r = await tug(['rollout', 'history', 'deploy/hist']);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'deployment.apps/hist\nREVISION   CHANGE-CAUSE\n1          <none>\n2          tug set image deploy/hist web=web:2\n');
  });

  test('history --revision shows the pod template of that revision', async () => {
    let r = await tug(['rollout', 'history', 'deploy/hist', '--revision', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^deployment\.apps\/hist with revision #1\nPod Template:\n {2}Labels:\s+app=web\n\s+pod-template-hash=aaa\n {2}Containers:\n {4}web:\n {6}Image:\s+web:1\n/);
    r = await tug(['rollout', 'history', 'deploy/hist', '--revision', '5']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error: deployment hist has no revision 5 (its revisions: 1, 2)\n');
  });

  test('undo goes back to the previous revision, or the one given, by its template', async () => {
    let r = await tug(['rollout', 'undo', 'deploy/hist']);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'deployment.apps/hist rolled back\n');
    let d = stored('Deployment', 'hist');
    assert.equal(d.spec.template.spec.containers[0]!.image, 'web:1');
    assert.deepEqual(d.spec.template.metadata?.labels, { app: 'web' }, 'without the pod-template-hash label');
    assert.equal(d.metadata.annotations?.['kubernetes.io/change-cause'], undefined);

    r = await tug(['rollout', 'undo', 'deploy/hist', '--to-revision', '2']);
    assert.equal(r.stdout, 'deployment.apps/hist rolled back\n');
    d = stored('Deployment', 'hist');
    assert.equal(d.spec.template.spec.containers[0]!.image, 'web:2');
    assert.equal(d.metadata.annotations?.['kubernetes.io/change-cause'], 'tug set image deploy/hist web=web:2');

    r = await tug(['rollout', 'undo', 'deploy/hist', '--to-revision', '2']);
    assert.equal(r.stdout, 'deployment.apps/hist skipped rollback (its template is already that of revision 2)\n');
  });

  test('undo to a revision that does not exist, or without a previous one', async () => {
    let r = await tug(['rollout', 'undo', 'deploy/hist', '--to-revision', '7']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error: deployment hist has no revision 7 (its revisions: 1, 2)\n');
    deployment('fresh', 'web:1', 1);
    replicaSet('fresh-aaa', stored('Deployment', 'fresh').metadata.uid!, 'web:1', 1);
    r = await tug(['rollout', 'undo', 'deploy/fresh']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error: deployment fresh has no previous revision to roll back to\n');
  });
});

describe('tug rollout restart, pause, resume', () => {
  test('restart stamps the pod template with the time', async () => {
    deployment('rs1', 'web:1', 1);
    const r = await tug(['rollout', 'restart', 'deploy/rs1']);
    assert.equal(r.stdout, 'deployment.apps/rs1 restarted\n');
    assert.equal(stored('Deployment', 'rs1').spec.template.metadata?.annotations?.['tugboat.io/restartedAt'], '2024-05-01T10:00:00.000Z');
  });

  test('pause and resume set spec.paused; a paused deployment is not restarted', async () => {
    deployment('pz', 'web:1', 1);
    let r = await tug(['rollout', 'pause', 'deploy/pz']);
    assert.equal(r.stdout, 'deployment.apps/pz paused\n');
    assert.equal(stored('Deployment', 'pz').spec.paused, true);
    r = await tug(['rollout', 'pause', 'deploy/pz']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error: deployment.apps/pz is already paused\n');
    r = await tug(['rollout', 'restart', 'deploy/pz']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error: deployment pz is paused: resume it first (tug rollout resume deployment.apps/pz)\n');
    r = await tug(['rollout', 'resume', 'deploy/pz']);
    assert.equal(r.stdout, 'deployment.apps/pz resumed\n');
    assert.notEqual(stored('Deployment', 'pz').spec.paused, true);
    r = await tug(['rollout', 'resume', 'deploy/pz']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error: deployment.apps/pz is not paused\n');
  });
});
