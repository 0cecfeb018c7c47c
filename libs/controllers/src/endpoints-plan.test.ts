// endpoints-plan.test.ts: what a Service's Endpoints hold (ready and not-ready addresses,
// target ports by number and by name, terminating and finished pods left out, subsets by
// resolved ports, a stable order), and the LoadBalancer ingress of ServiceLB.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Pod, Service } from '@tugboat/api';
import { desiredEndpoints, endpointSubsets, isManagedService, loadBalancerIngress, loadBalancerStatus, resolveTargetPort, sameEndpoints } from '@tugboat/controllers';

function service(spec: Partial<Service['spec']> = {}): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default', labels: { tier: 'front' } },
    spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }], ...spec },
  };
}

interface PodOpts {
  ip?: string;
  ready?: boolean;
  node?: string;
  labels?: Record<string, string>;
  terminating?: boolean;
  phase?: 'Running' | 'Succeeded';
  httpPort?: number;
}

function pod(name: string, o: PodOpts = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      uid: `${name}-uid`,
      labels: o.labels ?? { app: 'web' },
      ...(o.terminating === true ? { deletionTimestamp: '2026-01-01T00:00:30Z' } : {}),
    },
    spec: {
      ...(o.node === undefined && o.ip === '' ? {} : { nodeName: o.node ?? 'node-1' }),
      containers: [{ name: 'c', image: 'web', ports: [{ name: 'http', containerPort: o.httpPort ?? 8080, protocol: 'TCP' }] }],
    },
    status: {
      phase: o.phase ?? 'Running',
      ...(o.ip === '' ? {} : { podIP: o.ip ?? '10.244.1.2' }),
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
    },
  };
}

const ips = (addresses: { ip: string }[] | undefined): string[] => (addresses ?? []).map((a) => a.ip);

test('ready and not-ready pods, with the named target port resolved, sorted by IP', () => {
  const subsets = endpointSubsets(service(), [
    pod('b', { ip: '10.244.2.5' }),
    pod('a', { ip: '10.244.1.9' }),
    pod('c', { ip: '10.244.3.3', ready: false }),
  ]);
  assert.equal(subsets.length, 1);
  assert.deepEqual(ips(subsets[0]?.addresses), ['10.244.1.9', '10.244.2.5']);
  assert.deepEqual(ips(subsets[0]?.notReadyAddresses), ['10.244.3.3']);
  assert.deepEqual(subsets[0]?.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
  assert.deepEqual(subsets[0]?.addresses?.[0], { ip: '10.244.1.9', nodeName: 'node-1', targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'a-uid' } });
});

test('pods that are terminating, finished, unbound, without an IP or not selected are left out', () => {
  const subsets = endpointSubsets(service(), [
    pod('serving', { ip: '10.244.1.2' }),
    pod('leaving', { ip: '10.244.1.3', terminating: true }),
    pod('done', { ip: '10.244.1.4', phase: 'Succeeded' }),
    pod('starting', { ip: '' }),
    pod('other', { ip: '10.244.1.5', labels: { app: 'db' } }),
  ]);
  assert.deepEqual(ips(subsets[0]?.addresses), ['10.244.1.2']);
  assert.equal(subsets[0]?.notReadyAddresses, undefined);
  const publish = endpointSubsets(service({ publishNotReadyAddresses: true }), [pod('leaving', { ip: '10.244.1.3', terminating: true }), pod('cold', { ip: '10.244.1.6', ready: false })]);
  assert.deepEqual(ips(publish[0]?.addresses), ['10.244.1.3', '10.244.1.6'], 'publishNotReadyAddresses lists them all as ready');
});

test('pods resolving a named port differently go to separate subsets; numeric target ports are used as given', () => {
  const subsets = endpointSubsets(service(), [pod('old', { ip: '10.244.1.2', httpPort: 8080 }), pod('new', { ip: '10.244.1.3', httpPort: 9090 })]);
  assert.deepEqual(
    subsets.map((s) => [ips(s.addresses), s.ports?.[0]?.port]),
    [
      [['10.244.1.2'], 8080],
      [['10.244.1.3'], 9090],
    ],
  );
  const svc = service({ ports: [{ name: 'http', port: 80, targetPort: 7000 }] });
  assert.equal(resolveTargetPort(svc.spec.ports![0]!, pod('x')), 7000);
  assert.equal(resolveTargetPort({ port: 53, targetPort: 'http', protocol: 'UDP' }, pod('x')), undefined, 'the name must match the protocol too');
});

test('a headless Service without ports gets addresses only; a Service without selector is not managed', () => {
  const subsets = endpointSubsets(service({ clusterIP: 'None', ports: [] }), [pod('a', { ip: '10.244.1.2' })]);
  assert.deepEqual(subsets, [{ addresses: [{ ip: '10.244.1.2', nodeName: 'node-1', targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'a-uid' } }] }]);
  const named = pod('peer-0', { ip: '10.244.1.7' });
  named.spec.hostname = 'peer-0';
  named.spec.subdomain = 'web';
  assert.equal(endpointSubsets(service(), [named])[0]?.addresses?.[0]?.hostname, 'peer-0', 'hostname when the pod\'s subdomain is the service');
  named.spec.subdomain = 'other';
  assert.equal(endpointSubsets(service(), [named])[0]?.addresses?.[0]?.hostname, undefined);
  assert.equal(isManagedService(service({ selector: {} })), false);
  assert.equal(isManagedService(service()), true);
});

test('the desired object carries the Service labels and compares equal to its stored form', () => {
  const desired = desiredEndpoints(service(), [pod('a')]);
  assert.deepEqual(desired.metadata, { name: 'web', namespace: 'default', labels: { tier: 'front' } });
  const stored = JSON.parse(JSON.stringify({ ...desired, metadata: { ...desired.metadata, resourceVersion: '9', uid: 'u' } })) as typeof desired;
  assert.ok(sameEndpoints(stored, desired));
  assert.ok(!sameEndpoints(stored, desiredEndpoints(service(), [pod('a', { ready: false })])));
  assert.ok(sameEndpoints({ ...stored, subsets: [] }, desiredEndpoints(service(), [])));
});

test('LoadBalancer ingress lists the InternalIP of every Ready node', () => {
  const node = (name: string, ip: string, ready: 'True' | 'False' | 'Unknown'): Node => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    status: { addresses: [{ type: 'InternalIP', address: ip }], conditions: [{ type: 'Ready', status: ready }] },
  });
  const nodes = [node('n2', '172.29.0.12', 'True'), node('n1', '172.29.0.11', 'True'), node('n3', '172.29.0.13', 'Unknown')];
  assert.deepEqual(loadBalancerIngress(nodes), [{ ip: '172.29.0.11' }, { ip: '172.29.0.12' }]);
  assert.deepEqual(loadBalancerStatus(service({ type: 'LoadBalancer' }), nodes), { loadBalancer: { ingress: [{ ip: '172.29.0.11' }, { ip: '172.29.0.12' }] } });
  assert.deepEqual(loadBalancerStatus({ ...service(), status: { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } } }, nodes), {}, 'cleared when no longer a LoadBalancer');
});
