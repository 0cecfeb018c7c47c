import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  KINDS,
  NAMESPACED_KINDS,
  NODE_LEASE_NAMESPACE,
  PROTECTED_NAMESPACES,
  findKind,
  initialObjects,
  isNamespaced,
  isUnknownKindError,
  kindInfo,
  nodeLease,
  resolveKind,
  validate,
} from '@tugboat/api';

describe('kind registry', () => {
  it('serves exactly the eleven kinds with their Kubernetes API versions', () => {
    assert.deepEqual(
      KINDS.map((k) => `${k.apiVersion}/${k.kind}`),
      [
        'v1/Namespace',
        'v1/Node',
        'v1/Pod',
        'apps/v1/ReplicaSet',
        'apps/v1/Deployment',
        'v1/Service',
        'v1/Endpoints',
        'v1/ConfigMap',
        'v1/Secret',
        'v1/Event',
        'coordination.k8s.io/v1/Lease',
      ],
    );
  });

  it('has Kubernetes plural, singular and short names; Secret and Lease have no short name', () => {
    const short = Object.fromEntries(KINDS.map((k) => [k.kind, k.shortNames]));
    assert.deepEqual(short, {
      Namespace: ['ns'],
      Node: ['no'],
      Pod: ['po'],
      ReplicaSet: ['rs'],
      Deployment: ['deploy'],
      Service: ['svc'],
      Endpoints: ['ep'],
      ConfigMap: ['cm'],
      Secret: [],
      Event: ['ev'],
      Lease: [],
    });
    assert.equal(kindInfo('Endpoints').plural, 'endpoints');
    assert.equal(kindInfo('Endpoints').singular, 'endpoints');
    assert.equal(kindInfo('ConfigMap').plural, 'configmaps');
    assert.equal(kindInfo('Deployment').group, 'apps');
    assert.equal(kindInfo('Pod').group, '');
    assert.equal(kindInfo('Lease').group, 'coordination.k8s.io');
    assert.equal(kindInfo('Lease').plural, 'leases');
  });

  it('makes Namespace and Node cluster-scoped and everything else namespaced', () => {
    assert.equal(isNamespaced('Namespace'), false);
    assert.equal(isNamespaced('Node'), false);
    assert.deepEqual([...NAMESPACED_KINDS], ['Pod', 'ReplicaSet', 'Deployment', 'Service', 'Endpoints', 'ConfigMap', 'Secret', 'Event', 'Lease']);
  });

  it('resolves every spelling users type', () => {
    const cases: [string, string][] = [
      ['pods', 'Pod'],
      ['po', 'Pod'],
      ['Pod', 'Pod'],
      ['pod', 'Pod'],
      ['PODS', 'Pod'],
      ['deployments.apps', 'Deployment'],
      ['deployment.apps', 'Deployment'],
      ['deployments.v1.apps', 'Deployment'],
      ['deploy', 'Deployment'],
      ['rs', 'ReplicaSet'],
      ['replicasets.apps', 'ReplicaSet'],
      ['svc', 'Service'],
      ['ep', 'Endpoints'],
      ['endpoints', 'Endpoints'],
      ['cm', 'ConfigMap'],
      ['configmap', 'ConfigMap'],
      ['ns', 'Namespace'],
      ['no', 'Node'],
      ['nodes', 'Node'],
      ['ev', 'Event'],
      ['secrets', 'Secret'],
      [' secret ', 'Secret'],
      ['pods.core', 'Pod'],
      ['leases', 'Lease'],
      ['lease', 'Lease'],
      ['leases.coordination.k8s.io', 'Lease'],
      ['leases.v1.coordination.k8s.io', 'Lease'],
    ];
    for (const [name, kind] of cases) assert.equal(resolveKind(name).kind, kind, name);
  });

  it('refuses unknown names with an error listing the known kinds', () => {
    for (const name of ['foo', 'deployments.extensions', 'pods.apps', 'sec', 'leases.apps', '']) {
      assert.equal(findKind(name), undefined, name);
      assert.throws(
        () => resolveKind(name),
        (e: unknown) =>
          isUnknownKindError(e) &&
          e.name === 'UnknownKindError' &&
          e.requested === name &&
          e.message.includes(`unknown kind or resource "${name}"`) &&
          e.message.includes('Deployment (deployments, deploy)') &&
          e.message.includes('Secret (secrets)'),
      );
    }
  });

  it('starts a cluster with the default and node-lease Namespaces, valid, both protected from deletion', () => {
    const objects = initialObjects();
    assert.deepEqual(
      objects.map((o) => o.metadata.name),
      ['default', 'tug-node-lease'],
    );
    assert.equal(NODE_LEASE_NAMESPACE, 'tug-node-lease');
    assert.deepEqual([...PROTECTED_NAMESPACES], ['default', 'tug-node-lease']);
    for (const o of objects) assert.deepEqual(validate(o), []);
  });

  it('nodeLease: held by the node in tug-node-lease, renewed to the millisecond, lasting four beats; it validates', () => {
    const lease = nodeLease('node-1', 2, new Date('2025-03-01T10:00:00.123Z'));
    assert.deepEqual(validate(lease), []);
    assert.deepEqual(lease, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'node-1', namespace: 'tug-node-lease' },
      spec: { holderIdentity: 'node-1', leaseDurationSeconds: 8, renewTime: '2025-03-01T10:00:00.123Z' },
    });
    assert.equal(nodeLease('node-1', 0.05, new Date()).spec?.leaseDurationSeconds, 1, 'whole seconds, at least 1');
  });
});
