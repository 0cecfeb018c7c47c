import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { applyDefaults, imagePullPolicyFor, parseManifests, validate } from '@tugboat/api';
import type { Deployment, Endpoints, Namespace, Pod, ReplicaSet, Secret, Service } from '@tugboat/api';

const fixture = (name: string) => readFileSync(new URL(`../testdata/${name}`, import.meta.url), 'utf8');

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** Every leaf of `original` is in `defaulted` with the same value (defaulting only adds). */
function assertKept(original: unknown, defaulted: unknown, path = ''): void {
  if (typeof original !== 'object' || original === null) {
    assert.deepEqual(defaulted, original, path);
    return;
  }
  assert.equal(typeof defaulted, 'object', path);
  for (const [k, v] of Object.entries(original)) {
    if (v === null) continue;
    assertKept(v, (defaulted as Record<string, unknown>)[k], `${path}.${k}`);
  }
}

const podSpec = (containers: object[], extra: object = {}) => ({ containers, ...extra });

describe('applyDefaults', () => {
  it('keeps every field of real manifests and never mutates its input', () => {
    for (const file of ['app.yaml', 'cluster.yaml', 'kubectl-generated.yaml']) {
      for (const o of parseManifests(fixture(file))) {
        const input = deepFreeze(structuredClone(o));
        const out = applyDefaults(input);
        assert.notEqual(out, input);
        if (o['kind'] === 'Secret') {
          const { stringData: _s, data, ...rest } = o as Record<string, unknown>;
          assertKept(rest, out);
          assertKept(data, (out as unknown as Secret).data);
        } else {
          assertKept(o, out);
        }
        assert.deepEqual(validate(out), [], `${file} ${String(o['kind'])}`);
        assert.deepEqual(applyDefaults(out), out, 'defaulting is idempotent');
      }
    }
  });

  it('defaults the namespace of namespaced kinds only', () => {
    const pod = applyDefaults({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: podSpec([{ name: 'c', image: 'i:1' }]) }) as Pod;
    assert.equal(pod.metadata.namespace, 'default');
    const kept = applyDefaults({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'shop' } }) as { metadata: { namespace?: string } };
    assert.equal(kept.metadata.namespace, 'shop');
    const node = applyDefaults({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' } }) as { metadata: { namespace?: string } };
    assert.equal(node.metadata.namespace, undefined);
    const ns = applyDefaults({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } }) as Namespace;
    assert.equal(ns.metadata.namespace, undefined);
    assert.equal(ns.status?.phase, 'Active');
  });

  it('defaults pods as Kubernetes does', () => {
    const pod = applyDefaults({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: podSpec([
        {
          name: 'web',
          image: 'nginx',
          ports: [{ containerPort: 80 }, { containerPort: 53, protocol: 'UDP' }],
          env: [{ name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
          livenessProbe: { httpGet: { port: 80 } },
          readinessProbe: { tcpSocket: { port: 80 }, periodSeconds: 3, initialDelaySeconds: 5 },
        },
      ], {
        volumes: [{ name: 'scratch' }, { name: 'cfg', configMap: { name: 'c' } }, { name: 's', secret: { secretName: 's', defaultMode: 0o400 } }, { name: 'h', hostPath: { path: '/x' } }],
      }),
    }) as Pod;
    assert.equal(pod.spec.restartPolicy, 'Always');
    assert.equal(pod.spec.terminationGracePeriodSeconds, 30);
    const c = pod.spec.containers[0]!;
    assert.equal(c.imagePullPolicy, 'Always');
    assert.deepEqual(c.ports, [{ containerPort: 80, protocol: 'TCP' }, { containerPort: 53, protocol: 'UDP' }]);
    assert.deepEqual(c.env?.[0]?.valueFrom?.fieldRef, { fieldPath: 'spec.nodeName', apiVersion: 'v1' });
    assert.deepEqual(c.livenessProbe, {
      httpGet: { port: 80, path: '/', scheme: 'HTTP' },
      timeoutSeconds: 1,
      periodSeconds: 10,
      successThreshold: 1,
      failureThreshold: 3,
    });
    assert.deepEqual(c.readinessProbe, { tcpSocket: { port: 80 }, periodSeconds: 3, initialDelaySeconds: 5, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 });
    assert.deepEqual(pod.spec.volumes, [
      { name: 'scratch', emptyDir: {} },
      { name: 'cfg', configMap: { name: 'c', defaultMode: 0o644 } },
      { name: 's', secret: { secretName: 's', defaultMode: 0o400 } },
      { name: 'h', hostPath: { path: '/x', type: '' } },
    ]);
    const explicit = applyDefaults({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: podSpec([{ name: 'c', image: 'i', imagePullPolicy: 'Never' }], { restartPolicy: 'OnFailure', terminationGracePeriodSeconds: 0 }),
    }) as Pod;
    assert.equal(explicit.spec.restartPolicy, 'OnFailure');
    assert.equal(explicit.spec.terminationGracePeriodSeconds, 0);
    assert.equal(explicit.spec.containers[0]!.imagePullPolicy, 'Never');
  });

  it('picks imagePullPolicy from the tag', () => {
    const cases: [string, string][] = [
      ['nginx', 'Always'],
      ['nginx:latest', 'Always'],
      ['nginx:1.25', 'IfNotPresent'],
      ['registry.example.com:5000/nginx', 'Always'],
      ['registry.example.com:5000/nginx:1.25', 'IfNotPresent'],
      ['registry.example.com:5000/team/nginx:latest', 'Always'],
      ['nginx@sha256:0123abcd', 'IfNotPresent'],
      ['nginx:1.25@sha256:0123abcd', 'IfNotPresent'],
      ['nginx:latest@sha256:0123abcd', 'Always'],
    ];
    for (const [image, policy] of cases) assert.equal(imagePullPolicyFor(image), policy, image);
  });

  it('defaults Deployments and ReplicaSets', () => {
    const template = { metadata: { labels: { app: 'web' } }, spec: podSpec([{ name: 'c', image: 'i:1' }]) };
    const d = applyDefaults({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { selector: { matchLabels: { app: 'web' } }, template } }) as Deployment;
    assert.equal(d.spec.replicas, 1);
    assert.deepEqual(d.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } });
    assert.equal(d.spec.revisionHistoryLimit, 10);
    assert.equal(d.spec.progressDeadlineSeconds, 600);
    assert.equal(d.spec.minReadySeconds, 0);
    assert.equal(d.spec.template.spec.restartPolicy, 'Always');
    assert.equal(d.spec.template.spec.containers[0]!.imagePullPolicy, 'IfNotPresent');
    assert.equal(d.spec.template.metadata?.namespace, undefined);

    const partial = applyDefaults({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd' },
      spec: { replicas: 0, selector: { matchLabels: { app: 'web' } }, template, strategy: { rollingUpdate: { maxSurge: 2 } } },
    }) as Deployment;
    assert.equal(partial.spec.replicas, 0);
    assert.deepEqual(partial.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 2, maxUnavailable: '25%' } });
    const recreate = applyDefaults({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd' },
      spec: { selector: { matchLabels: { app: 'web' } }, template, strategy: { type: 'Recreate' } },
    }) as Deployment;
    assert.deepEqual(recreate.spec.strategy, { type: 'Recreate' });

    const rs = applyDefaults({ apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'r' }, spec: { selector: { matchLabels: { app: 'web' } }, template } }) as ReplicaSet;
    assert.equal(rs.spec.replicas, 1);
    assert.equal(rs.spec.template.spec.terminationGracePeriodSeconds, 30);
  });

  it('defaults Services and Endpoints', () => {
    const svc = applyDefaults({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 's' },
      spec: { ports: [{ name: 'a', port: 80 }, { name: 'b', port: 53, protocol: 'UDP', targetPort: 'dns' }] },
    }) as Service;
    assert.equal(svc.spec.type, 'ClusterIP');
    assert.equal(svc.spec.sessionAffinity, 'None');
    assert.equal(svc.spec.clusterIPs, undefined, 'no clusterIPs before an address is allocated');
    const sticky = applyDefaults({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 's' },
      spec: { clusterIP: '10.96.0.7', sessionAffinity: 'ClientIP', ports: [{ port: 80 }] },
    }) as Service;
    assert.deepEqual(sticky.spec.sessionAffinityConfig, { clientIP: { timeoutSeconds: 10800 } });
    assert.deepEqual(sticky.spec.clusterIPs, ['10.96.0.7']);
    assert.deepEqual(svc.spec.ports, [
      { name: 'a', port: 80, protocol: 'TCP', targetPort: 80 },
      { name: 'b', port: 53, protocol: 'UDP', targetPort: 'dns' },
    ]);
    const ep = applyDefaults({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 's' }, subsets: [{ ports: [{ port: 80 }] }] }) as Endpoints;
    assert.equal(ep.subsets?.[0]?.ports?.[0]?.protocol, 'TCP');
  });

  it('folds Secret stringData into base64 data, stringData winning', () => {
    const s = applyDefaults({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's' },
      data: { user: Buffer.from('admin').toString('base64'), password: Buffer.from('old').toString('base64') },
      stringData: { password: 'pässword', 'config.json': '{"a": 1}' },
    }) as Secret;
    assert.equal(s.type, 'Opaque');
    assert.equal(s.stringData, undefined);
    assert.deepEqual(
      Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])),
      { user: 'admin', password: 'pässword', 'config.json': '{"a": 1}' },
    );
    const typed = applyDefaults({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, type: 'kubernetes.io/tls' }) as Secret;
    assert.equal(typed.type, 'kubernetes.io/tls');
  });

  it('drops null fields and turns numeric quantities into strings', () => {
    const pod = applyDefaults({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', creationTimestamp: null },
      spec: podSpec([{ name: 'c', image: 'i:1', resources: { requests: { cpu: 0.5, memory: 1024 }, limits: { cpu: 2 } } }]),
      status: null,
    }) as unknown as Pod;
    assert.equal('creationTimestamp' in pod.metadata, false);
    assert.equal('status' in pod, false);
    assert.deepEqual(pod.spec.containers[0]!.resources, { requests: { cpu: '0.5', memory: '1024' }, limits: { cpu: '2' } });
  });

  it('leaves badly shaped parts for validation and does not throw', () => {
    const weird = [
      null,
      'x',
      [],
      { kind: 'Unknown', spec: 1 },
      { apiVersion: 'v1', kind: 'Pod' },
      { apiVersion: 'v1', kind: 'Pod', metadata: 'x', spec: { containers: 'x', volumes: [1, null] } },
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: {}, spec: { strategy: 'fast', template: 3 } },
      { apiVersion: 'v1', kind: 'Secret', metadata: {}, stringData: { a: 1 } },
      { apiVersion: 'v1', kind: 'Service', metadata: {}, spec: { ports: [{ name: 'x' }] } },
    ];
    for (const w of weird) assert.doesNotThrow(() => applyDefaults(w), JSON.stringify(w));
    const secret = applyDefaults({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { a: 1 } });
    assert.deepEqual(validate(secret).map((i) => `${i.path}: ${i.message}`), ['stringData.a: expected string, got number']);
    const svc = applyDefaults({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ name: 'x' }] } }) as Service;
    assert.equal('targetPort' in svc.spec.ports![0]!, false);
  });
});
