import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  ApiValidationError,
  applyDefaults,
  isApiValidationError,
  parseManifests,
  validate,
  validateLabelSelector,
  validateOrThrow,
  validateUpdate,
} from '@tugboat/api';
import type { ApiObject, Deployment, Pod } from '@tugboat/api';

// Tests edit objects freely to make them invalid.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

const fixture = (name: string) => readFileSync(new URL(`../testdata/${name}`, import.meta.url), 'utf8');

/** Issues as `path: message` lines. */
function problems(obj: unknown): string[] {
  return validate(obj).map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

function deployment(): Loose {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'web', image: 'nginx:1.25', ports: [{ containerPort: 80, name: 'http' }] }] },
      },
    },
  };
}

function pod(): Loose {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p' },
    spec: { containers: [{ name: 'c', image: 'busybox:1.36' }] },
  };
}

function service(): Loose {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web' },
    spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
  };
}

/** Applies `change` to a fresh object and returns its problems. */
function after(make: () => Loose, change: (o: Loose) => void): string[] {
  const o = make();
  change(o);
  return problems(o);
}

describe('validate: real Kubernetes manifests', () => {
  for (const file of ['app.yaml', 'cluster.yaml', 'kubectl-generated.yaml']) {
    it(`accepts ${file} as written and after defaulting`, () => {
      const objects = parseManifests(fixture(file));
      assert.ok(objects.length > 0);
      for (const o of objects) {
        assert.deepEqual(problems(o), [], `${String(o['kind'])} as written`);
        assert.deepEqual(problems(applyDefaults(o)), [], `${String(o['kind'])} defaulted`);
      }
    });
  }

  it('accepts every kind in one manifest', () => {
    const kinds = new Set([...parseManifests(fixture('app.yaml')), ...parseManifests(fixture('cluster.yaml'))].map((o) => o['kind']));
    assert.deepEqual([...kinds].sort(), ['ConfigMap', 'Deployment', 'Endpoints', 'Event', 'Lease', 'Namespace', 'Node', 'Pod', 'ReplicaSet', 'Secret', 'Service']);
  });

  it('does not change its input', () => {
    for (const o of parseManifests(fixture('app.yaml'))) {
      const frozen = deepFreeze(structuredClone(o));
      validate(frozen);
      assert.deepEqual(frozen, o);
    }
  });
});

describe('validate: kind and apiVersion', () => {
  it('refuses unknown kinds, listing the known ones', () => {
    const [issue, ...rest] = problems({ apiVersion: 'v1', kind: 'Ingress', metadata: { name: 'x' } });
    assert.equal(rest.length, 0);
    assert.match(issue ?? '', /^kind: unknown kind "Ingress"; known kinds: Namespace \(namespaces, ns\), .*Event \(events, ev\), Lease \(leases\)$/);
    assert.match(problems({ apiVersion: 'apps/v1', kind: 'deployment' })[0] ?? '', /^kind: unknown kind "deployment" \(did you mean "Deployment"\?\)/);
  });

  it('requires kind and apiVersion, and the right apiVersion for the kind', () => {
    assert.deepEqual(problems({ metadata: { name: 'x' } }), ['kind: required', 'apiVersion: required']);
    assert.deepEqual(after(deployment, (d) => (d['apiVersion'] = 'extensions/v1beta1')), [
      'apiVersion: invalid value "extensions/v1beta1": Deployment is served as apps/v1',
    ]);
    assert.deepEqual(after(pod, (p) => delete p['apiVersion']), ['apiVersion: required (Pod is v1)']);
    assert.deepEqual(after(pod, (p) => (p['apiVersion'] = 'apps/v1')), ['apiVersion: invalid value "apps/v1": Pod is served as v1']);
    assert.deepEqual(after(pod, (p) => (p['kind'] = 7)), ['kind: expected string, got number']);
  });

  it('refuses things that are not objects', () => {
    assert.deepEqual(problems('apiVersion: v1'), ['expected an object, got string']);
    assert.deepEqual(problems([pod()]), ['expected an object, got array']);
    assert.deepEqual(problems(null), ['expected an object, got null']);
  });
});

describe('validate: shape', () => {
  it('reports unknown fields with their path, suggesting a near name', () => {
    assert.deepEqual(
      after(deployment, (d) => (d['spec'].template.spec.containers[0].imagee = 'x')),
      ['spec.template.spec.containers[0].imagee: unknown field (did you mean "image"?)'],
    );
    assert.deepEqual(after(deployment, (d) => (d['spec'].frobnicate = true)), ['spec.frobnicate: unknown field']);
    assert.deepEqual(after(pod, (p) => (p['metadata'].managedFields = [])), [
      'metadata.managedFields: unknown field (a Kubernetes field that tugboat does not support)',
    ]);
    assert.deepEqual(after(pod, (p) => (p['spec'].securityContext = {})), [
      'spec.securityContext: unknown field (a Kubernetes field that tugboat does not support)',
    ]);
    assert.deepEqual(after(pod, (p) => (p['extra'] = 1)), ['extra: unknown field']);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].Image = 'x')), ['spec.containers[0].Image: unknown field (did you mean "image"?)']);
  });

  it('reports wrong types', () => {
    assert.deepEqual(after(deployment, (d) => (d['spec'].replicas = '3')), ['spec.replicas: expected integer, got string']);
    assert.deepEqual(after(deployment, (d) => (d['spec'].replicas = 1.5)), ['spec.replicas: expected integer, got 1.5']);
    assert.deepEqual(after(deployment, (d) => (d['spec'].paused = 'yes')), ['spec.paused: expected boolean, got string']);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers = { name: 'c' })), ['spec.containers: expected array, got object']);
    assert.deepEqual(after(pod, (p) => (p['metadata'].labels = { version: 2 })), ['metadata.labels.version: expected string, got number']);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].args = ['a', 1])), ['spec.containers[0].args[1]: expected string, got number']);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].ports = [{ containerPort: true }])), [
      'spec.containers[0].ports[0].containerPort: expected integer, got boolean',
    ]);
    assert.deepEqual(after(pod, (p) => (p['spec'] = 'x')), ['spec: expected object, got string']);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].resources = { limits: { cpu: true } })), [
      'spec.containers[0].resources.limits.cpu: expected quantity (string or number), got boolean',
    ]);
    assert.deepEqual(after(service, (s) => (s['spec'].ports[0].targetPort = 80.5)), ['spec.ports[0].targetPort: expected integer or string, got 80.5']);
  });

  it('reports missing required fields', () => {
    assert.deepEqual(after(pod, (p) => delete p['spec'].containers[0].image), ['spec.containers[0].image: required']);
    assert.deepEqual(after(pod, (p) => delete p['metadata'].name), ['metadata.name: required (or set metadata.generateName)']);
    assert.deepEqual(after(pod, (p) => delete p['spec']), ['spec: required']);
    assert.deepEqual(after(pod, (p) => delete p['metadata']), ['metadata: required']);
    assert.deepEqual(after(deployment, (d) => delete d['spec'].selector), ['spec.selector: required']);
    assert.deepEqual(after(service, (s) => (s['spec'].ports[0] = { name: 'http' })), ['spec.ports[0].port: required']);
    assert.deepEqual(problems({ apiVersion: 'v1', kind: 'Event', metadata: { name: 'e' } }), ['involvedObject: required']);
  });

  it('treats null fields as absent, as kubectl output needs', () => {
    assert.deepEqual(after(pod, (p) => (p['metadata'].creationTimestamp = null)), []);
    assert.deepEqual(after(pod, (p) => (p['status'] = null)), []);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].image = null)), ['spec.containers[0].image: required']);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].args = [null])), ['spec.containers[0].args[0]: expected string, got null']);
  });

  it('accepts generateName instead of name, and checks it', () => {
    assert.deepEqual(
      after(pod, (p) => (p['metadata'] = { generateName: 'web-' })),
      [],
    );
    assert.match(after(pod, (p) => (p['metadata'] = { generateName: 'Web_' })).join(), /^metadata.generateName: invalid value "Web_": must be a prefix of a valid name: a DNS-1123 subdomain/);
  });
});

describe('validate: values', () => {
  it('checks ranges', () => {
    assert.deepEqual(after(deployment, (d) => (d['spec'].replicas = -1)), ['spec.replicas: must be >= 0']);
    assert.deepEqual(after(deployment, (d) => (d['spec'].template.spec.containers[0].ports[0].containerPort = 70000)), [
      'spec.template.spec.containers[0].ports[0].containerPort: must be between 1 and 65535',
    ]);
    assert.deepEqual(after(service, (s) => (s['spec'].ports[0].port = 0)), ['spec.ports[0].port: must be between 1 and 65535']);
    assert.deepEqual(after(deployment, (d) => (d['spec'].replicas = 2 ** 31)), ['spec.replicas: must be <= 2147483647']);
    assert.deepEqual(after(pod, (p) => (p['spec'].terminationGracePeriodSeconds = -5)), ['spec.terminationGracePeriodSeconds: must be >= 0']);
    assert.deepEqual(
      after(pod, (p) => (p['spec'].containers[0].readinessProbe = { tcpSocket: { port: 80 }, periodSeconds: 0 })),
      ['spec.containers[0].readinessProbe.periodSeconds: must be >= 1'],
    );
    assert.deepEqual(
      after(pod, (p) => (p['spec'].volumes = [{ name: 'v', secret: { secretName: 's', defaultMode: 0o1777 } }])),
      ['spec.volumes[0].secret.defaultMode: must be between 0 and 511'],
    );
  });

  it('checks enums', () => {
    assert.deepEqual(after(pod, (p) => (p['spec'].restartPolicy = 'Sometimes')), [
      'spec.restartPolicy: invalid value "Sometimes": must be one of Always, OnFailure, Never',
    ]);
    assert.deepEqual(after(service, (s) => (s['spec'].type = 'Loadbalancer')), [
      'spec.type: invalid value "Loadbalancer": must be one of ClusterIP, NodePort, LoadBalancer',
    ]);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].imagePullPolicy = 'always')), [
      'spec.containers[0].imagePullPolicy: invalid value "always": must be one of Always, IfNotPresent, Never',
    ]);
    assert.deepEqual(after(service, (s) => (s['spec'].ports[0].protocol = 'tcp')), ['spec.ports[0].protocol: invalid value "tcp": must be one of TCP, UDP, SCTP']);
  });

  it('checks DNS-1123 subdomain names for most kinds', () => {
    for (const bad of ['Web', 'web_1', '-web', 'web-', 'a'.repeat(254), '']) {
      const got = after(deployment, (d) => (d['metadata'].name = bad));
      assert.equal(got.length, 1, bad);
      if (bad === '') assert.equal(got[0], 'metadata.name: required (or set metadata.generateName)');
      else assert.match(got[0] ?? '', /^metadata\.name: invalid value ".*": must be a DNS-1123 subdomain/, bad);
    }
    for (const good of ['web', 'web.example.com', 'a-b.c-d', '1web', 'a'.repeat(253)]) assert.deepEqual(after(deployment, (d) => (d['metadata'].name = good)), [], good);
  });

  it('checks DNS-1123 labels for namespaces, containers, volumes and service ports; DNS-1035 for services', () => {
    assert.match(after(pod, (p) => (p['metadata'].namespace = 'my.ns')).join(), /^metadata\.namespace: invalid value "my\.ns": must be a DNS-1123 label/);
    assert.match(problems({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a.b' } }).join(), /^metadata\.name: invalid value "a\.b": must be a DNS-1123 label/);
    assert.match(after(pod, (p) => (p['spec'].containers[0].name = 'Web')).join(), /^spec\.containers\[0\]\.name: invalid value "Web": must be a DNS-1123 label/);
    assert.match(after(pod, (p) => (p['spec'].volumes = [{ name: 'my_vol', emptyDir: {} }])).join(), /^spec\.volumes\[0\]\.name: invalid value "my_vol": must be a DNS-1123 label/);
    assert.match(after(service, (s) => (s['spec'].ports[0].name = 'HTTP')).join(), /^spec\.ports\[0\]\.name: invalid value "HTTP": must be a DNS-1123 label/);
    assert.match(after(service, (s) => (s['metadata'].name = '1web')).join(), /^metadata\.name: invalid value "1web": must be a DNS-1035 label/);
    assert.match(after(service, (s) => (s['metadata'].name = 'web.svc')).join(), /^metadata\.name: invalid value "web\.svc": must be a DNS-1035 label/);
    assert.match(
      after(pod, (p) => (p['spec'].containers[0].ports = [{ containerPort: 80, name: 'a-very-long-port-name' }])).join(),
      /^spec\.containers\[0\]\.ports\[0\]\.name: invalid value "a-very-long-port-name": must be a port name/,
    );
    assert.match(after(pod, (p) => (p['spec'].containers[0].ports = [{ containerPort: 80, name: '8080' }])).join(), /must be a port name/);
  });

  it('checks label keys (with optional prefix) and values', () => {
    const good = { 'app.kubernetes.io/name': 'web', app: '', 'x_y.z-1': 'A.b_c-1', [`${'a'.repeat(63)}`]: 'v'.repeat(63) };
    assert.deepEqual(after(pod, (p) => (p['metadata'].labels = good)), []);
    const badKeys = ['-app', 'app-', 'Example.com/app', 'example.com/', '/app', 'a/b/c', 'a'.repeat(64), 'app name'];
    for (const key of badKeys) {
      assert.match(
        after(pod, (p) => (p['metadata'].labels = { [key]: 'v' })).join(),
        /^metadata\.labels(\[".*"\]|\.[-\w]+): invalid key ".*": must be a qualified name/,
        key,
      );
    }
    for (const value of ['-v', 'v-', 'a b', 'v'.repeat(64), 'a/b']) {
      assert.match(after(pod, (p) => (p['metadata'].labels = { app: value })).join(), /^metadata\.labels\.app: invalid value ".*": must be a label value/, value);
    }
    assert.match(after(pod, (p) => (p['metadata'].annotations = { 'bad key': 'x' })).join(), /invalid key "bad key": must be a qualified name/);
    assert.deepEqual(after(pod, (p) => (p['metadata'].annotations = { 'example.com/any': 'any text at all: {"json": true}' })), []);
    assert.match(after(pod, (p) => (p['spec'].nodeSelector = { 'kubernetes.io/os': 'linux os' })).join(), /^spec\.nodeSelector\["kubernetes\.io\/os"\]: invalid value/);
  });

  it('checks quantities, int-or-percent, base64, timestamps, addresses and paths', () => {
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].resources = { requests: { cpu: '100m', memory: '1x' } })), [
      'spec.containers[0].resources.requests.memory: invalid quantity "1x": expected a number with an optional suffix (m, k, M, G, T, Ki, Mi, Gi, Ti, e3), such as 100m, 0.5, 128Mi or 1G',
    ]);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].resources = { requests: { cpu: '-1' } })), [
      'spec.containers[0].resources.requests.cpu: invalid quantity "-1": must not be negative',
    ]);
    assert.match(after(pod, (p) => (p['spec'].containers[0].resources = { requests: { gpu: '1' } })).join(), /requests\.gpu: invalid key "gpu": must be cpu, memory/);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].resources = { requests: { 'example.com/gpu': 1, cpu: 0.5 } })), []);
    assert.deepEqual(after(deployment, (d) => (d['spec'].strategy = { rollingUpdate: { maxSurge: '25 %' } })), [
      'spec.strategy.rollingUpdate.maxSurge: invalid value "25 %": must be an integer or a percentage such as 25%',
    ]);
    assert.deepEqual(after(deployment, (d) => (d['spec'].strategy = { rollingUpdate: { maxSurge: '1' } })), [
      'spec.strategy.rollingUpdate.maxSurge: invalid value "1": must be an integer or a percentage such as 25%',
    ]);
    assert.deepEqual(after(deployment, (d) => (d['spec'].strategy = { rollingUpdate: { maxSurge: 2, maxUnavailable: '50%' } })), []);
    assert.deepEqual(after(pod, (p) => (p['metadata'].creationTimestamp = '2024-13-01')), [
      'metadata.creationTimestamp: invalid value "2024-13-01": must be an RFC 3339 timestamp such as 2024-01-02T15:04:05Z',
    ]);
    assert.deepEqual(after(pod, (p) => (p['status'] = { podIP: '10.244.1.300' })), ['status.podIP: invalid value "10.244.1.300": must be an IP address']);
    assert.deepEqual(after(service, (s) => (s['spec'].clusterIP = '10.96.0.1/16')), [
      'spec.clusterIP: invalid value "10.96.0.1/16": must be an IP address, "None" or empty',
    ]);
    assert.deepEqual(problems({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' }, spec: { podCIDR: '10.244.1.0' } }), [
      'spec.podCIDR: invalid value "10.244.1.0": must be a CIDR such as 10.244.1.0/24',
    ]);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].volumeMounts = [{ name: 'v', mountPath: 'data' }])).slice(0, 1), [
      `spec.containers[0].volumeMounts[0].mountPath: invalid value "data": must be an absolute path without '..'`,
    ]);
    assert.match(after(pod, (p) => (p['spec'].containers[0].env = [{ name: '1BAD', value: 'x' }])).join(), /env\[0\]\.name: invalid value "1BAD": must be an environment variable name/);
  });

  it('accepts status and checks its shape', () => {
    assert.deepEqual(after(pod, (p) => (p['status'] = { phase: 'Running', podIP: '10.244.0.5' })), []);
    assert.deepEqual(after(pod, (p) => (p['status'] = { phase: 'Bogus' })), [
      'status.phase: invalid value "Bogus": must be one of Pending, Running, Succeeded, Failed, Unknown',
    ]);
    assert.deepEqual(after(pod, (p) => (p['status'] = { containerStatuses: [{ name: 'c', ready: 'yes' }] })), [
      'status.containerStatuses[0].ready: expected boolean, got string',
      'status.containerStatuses[0].restartCount: required',
      'status.containerStatuses[0].image: required',
      'status.containerStatuses[0].imageID: required',
    ]);
    assert.deepEqual(after(deployment, (d) => (d['status'] = { replicas: 2, readyReplicas: -1, foo: 1 })), [
      'status.readyReplicas: must be >= 0',
      'status.foo: unknown field',
    ]);
    assert.deepEqual(after(pod, (p) => (p['status'] = { containerStatuses: [{ name: 'c', ready: true, restartCount: 0, image: 'i', imageID: 'i', state: { running: {}, waiting: {} } }] })), [
      'status.containerStatuses[0].state: must set only one state; got waiting and running',
    ]);
  });

  it('refuses a namespace on cluster-scoped kinds', () => {
    assert.deepEqual(problems({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', namespace: 'default' } }), [
      'metadata.namespace: not allowed: Node is cluster-scoped',
    ]);
    assert.deepEqual(problems({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a', namespace: 'a' } }), [
      'metadata.namespace: not allowed: Namespace is cluster-scoped',
    ]);
  });
});

describe('validate: semantic rules', () => {
  it('requires Deployment and ReplicaSet selectors to be non-empty and match the template labels', () => {
    assert.deepEqual(after(deployment, (d) => (d['spec'].template.metadata.labels = { app: 'api' })), ['spec.template.metadata.labels: must match spec.selector']);
    assert.deepEqual(after(deployment, (d) => delete d['spec'].template.metadata), ['spec.template.metadata.labels: must match spec.selector']);
    assert.deepEqual(after(deployment, (d) => (d['spec'].selector = {})), ['spec.selector: must not be empty']);
    assert.deepEqual(after(deployment, (d) => (d['spec'].selector = { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] })), [
      'spec.template.metadata.labels: must match spec.selector',
    ]);
    const rs: Loose = { ...deployment(), apiVersion: 'apps/v1', kind: 'ReplicaSet' };
    delete rs['spec'].strategy;
    rs['spec'].template.metadata.labels = { app: 'other' };
    assert.deepEqual(problems(rs), ['spec.template.metadata.labels: must match spec.selector']);
  });

  it('reports semantic problems together with shape problems elsewhere', () => {
    assert.deepEqual(
      after(deployment, (d) => {
        d['spec'].replicas = 'two';
        d['spec'].template.metadata.labels = { app: 'api' };
      }),
      ['spec.replicas: expected integer, got string', 'spec.template.metadata.labels: must match spec.selector'],
    );
  });

  it('requires restartPolicy Always in workload templates', () => {
    assert.deepEqual(after(deployment, (d) => (d['spec'].template.spec.restartPolicy = 'Never')), [
      'spec.template.spec.restartPolicy: invalid value "Never": must be Always here',
    ]);
    assert.deepEqual(after(pod, (p) => (p['spec'].restartPolicy = 'Never')), []);
  });

  it('checks label selector requirements', () => {
    assert.deepEqual(after(deployment, (d) => (d['spec'].selector = { matchExpressions: [{ key: 'app', operator: 'In' }] })), [
      'spec.selector.matchExpressions[0].values: must not be empty for operator In',
    ]);
    assert.deepEqual(after(deployment, (d) => (d['spec'].selector = { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'x', operator: 'Exists', values: ['a'] }] })), [
      'spec.selector.matchExpressions[0].values: must be empty for operator Exists',
    ]);
    assert.deepEqual(after(deployment, (d) => (d['spec'].selector = { matchExpressions: [{ key: 'app', operator: 'Equals', values: ['web'] }] })), [
      'spec.selector.matchExpressions[0].operator: invalid value "Equals": must be one of In, NotIn, Exists, DoesNotExist',
    ]);
    assert.deepEqual(validateLabelSelector({ matchLabels: { 'a b': 'c' } }).map((i) => i.path), ['matchLabels["a b"]']);
    assert.deepEqual(validateLabelSelector({ matchLabels: { a: 'b' } }), []);
  });

  it('requires at least one container, unique container names and known volumes', () => {
    assert.deepEqual(after(pod, (p) => (p['spec'].containers = [])), ['spec.containers: must have at least one container']);
    assert.deepEqual(after(pod, (p) => p['spec'].containers.push({ name: 'c', image: 'x' })), ['spec.containers[1].name: duplicate container name "c"']);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].volumeMounts = [{ name: 'data', mountPath: '/data' }])), [
      'spec.containers[0].volumeMounts[0].name: no volume named "data" in spec.volumes',
    ]);
    assert.deepEqual(
      after(pod, (p) => {
        p['spec'].volumes = [{ name: 'data' }, { name: 'data', emptyDir: {} }];
        p['spec'].containers[0].volumeMounts = [
          { name: 'data', mountPath: '/data' },
          { name: 'data', mountPath: '/data' },
        ];
      }),
      ['spec.containers[0].volumeMounts[1].mountPath: duplicate mount path "/data"', 'spec.volumes[1].name: duplicate volume name "data"'],
    );
    assert.deepEqual(after(pod, (p) => (p['spec'].volumes = [{ name: 'v', emptyDir: {}, hostPath: { path: '/x' } }])), [
      'spec.volumes[0]: must set only one volume source; got emptyDir and hostPath',
    ]);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].ports = [{ containerPort: 80, name: 'http' }, { containerPort: 81, name: 'http' }])), [
      'spec.containers[0].ports[1].name: duplicate port name "http"',
    ]);
  });

  it('checks lifecycle hooks', () => {
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].lifecycle = { preStop: { sleep: { seconds: 5 } }, postStart: { exec: { command: ['/warm'] } } })), []);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].lifecycle = { preStop: { httpGet: { port: 8080, path: '/drain' } } })), []);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].lifecycle = { preStop: { sleep: { seconds: 5 }, exec: { command: ['x'] } } })), [
      'spec.containers[0].lifecycle.preStop: must set only one handler; got exec and sleep',
    ]);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].lifecycle = { preStop: { tcpSocket: { port: 80 } } })), [
      'spec.containers[0].lifecycle.preStop.tcpSocket: unknown field',
      'spec.containers[0].lifecycle.preStop: must set one handler: exec, httpGet, sleep',
    ]);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].lifecycle = { postStart: { sleep: { seconds: -1 } } })), [
      'spec.containers[0].lifecycle.postStart.sleep.seconds: must be between 0 and 3600',
    ]);
  });

  it('checks probes', () => {
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].livenessProbe = { periodSeconds: 5 })), [
      'spec.containers[0].livenessProbe: must set one handler: exec, httpGet, tcpSocket',
    ]);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].readinessProbe = { exec: { command: ['true'] }, tcpSocket: { port: 80 } })), [
      'spec.containers[0].readinessProbe: must set only one handler; got exec and tcpSocket',
    ]);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].livenessProbe = { tcpSocket: { port: 80 }, successThreshold: 2 })), [
      'spec.containers[0].livenessProbe.successThreshold: must be 1 for a liveness probe',
    ]);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].readinessProbe = { tcpSocket: { port: 80 }, successThreshold: 2 })), []);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].readinessProbe = { httpGet: { port: 'Web' } })), [
      `spec.containers[0].readinessProbe.httpGet.port: invalid value "Web": must be a port name (at most 15 lowercase letters, digits and '-'; at least one letter; starting and ending with a letter or digit; no '--')`,
    ]);
  });

  it('checks resources and env', () => {
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].resources = { requests: { cpu: '2' }, limits: { cpu: '1500m' } })), [
      'spec.containers[0].resources.requests.cpu: must be less than or equal to the limit 1500m',
    ]);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].resources = { requests: { memory: '1Gi' }, limits: { memory: '1G' } })), [
      'spec.containers[0].resources.requests.memory: must be less than or equal to the limit 1G',
    ]);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].resources = { requests: { memory: '1G' }, limits: { memory: '1Gi' } })), []);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].env = [{ name: 'A', value: 'x', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }])), [
      'spec.containers[0].env[0].valueFrom: must not be set when value is not empty',
    ]);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].env = [{ name: 'A', valueFrom: {} }])), [
      'spec.containers[0].env[0].valueFrom: must set one source: configMapKeyRef, secretKeyRef, fieldRef',
    ]);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].env = [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'spec.containers' } } }])).length, 1);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].env = [{ name: 'A', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } }])), []);
    assert.deepEqual(after(pod, (p) => (p['spec'].containers[0].envFrom = [{ configMapRef: { name: 'a' }, secretRef: { name: 'b' } }])), [
      'spec.containers[0].envFrom[0]: must set only one source; got configMapRef and secretRef',
    ]);
  });

  it('checks scheduling fields', () => {
    assert.deepEqual(after(pod, (p) => (p['spec'].tolerations = [{ operator: 'Equal', value: 'x' }])), ['spec.tolerations[0].operator: must be Exists when key is empty']);
    assert.deepEqual(after(pod, (p) => (p['spec'].tolerations = [{ operator: 'Exists' }])), []);
    assert.deepEqual(after(pod, (p) => (p['spec'].tolerations = [{ key: 'k', operator: 'Exists', value: 'v' }])), ['spec.tolerations[0].value: must be empty when operator is Exists']);
    assert.deepEqual(after(pod, (p) => (p['spec'].tolerations = [{ key: 'k', effect: 'NoSchedule', tolerationSeconds: 5 }])), [
      'spec.tolerations[0].tolerationSeconds: only allowed with effect NoExecute',
    ]);
    const term = (expr: object) => ({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [expr] }] } } });
    assert.deepEqual(after(pod, (p) => (p['spec'].affinity = term({ key: 'cpu', operator: 'Gt', values: ['4'] }))), []);
    assert.deepEqual(after(pod, (p) => (p['spec'].affinity = term({ key: 'cpu', operator: 'Gt', values: ['four'] }))), [
      'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: must be a single integer for operator Gt',
    ]);
    assert.deepEqual(after(pod, (p) => (p['spec'].affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } })), [
      'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: must not be empty',
    ]);
    assert.deepEqual(
      after(pod, (p) => (p['spec'].affinity = { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 101, podAffinityTerm: { topologyKey: 'zone' } }] } })),
      ['spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: must be between 1 and 100'],
    );
    assert.deepEqual(after(pod, (p) => (p['spec'].affinity = { podAffinity: {} })), [
      'spec.affinity.podAffinity: unknown field (a Kubernetes field that tugboat does not support)',
    ]);
    const spread = { maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'ScheduleAnyway' };
    assert.deepEqual(after(pod, (p) => (p['spec'].topologySpreadConstraints = [{ ...spread, minDomains: 2 }])), [
      'spec.topologySpreadConstraints[0].minDomains: only allowed with whenUnsatisfiable DoNotSchedule',
    ]);
    assert.deepEqual(after(pod, (p) => (p['spec'].topologySpreadConstraints = [spread, spread])), [
      'spec.topologySpreadConstraints[1]: duplicate topologyKey and whenUnsatisfiable',
    ]);
    assert.deepEqual(after(pod, (p) => (p['spec'].topologySpreadConstraints = [{ ...spread, maxSkew: 0 }])), ['spec.topologySpreadConstraints[0].maxSkew: must be >= 1']);
  });

  it('checks the Deployment strategy and timing', () => {
    assert.deepEqual(after(deployment, (d) => (d['spec'].strategy = { type: 'Recreate', rollingUpdate: { maxSurge: 1 } })), [
      'spec.strategy.rollingUpdate: must not be set when type is Recreate',
    ]);
    assert.deepEqual(after(deployment, (d) => (d['spec'].strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: '0%' } })), [
      'spec.strategy.rollingUpdate.maxUnavailable: must not be 0 when maxSurge is 0',
    ]);
    assert.deepEqual(after(deployment, (d) => (d['spec'].strategy = { rollingUpdate: { maxUnavailable: '150%' } })), [
      'spec.strategy.rollingUpdate.maxUnavailable: must not be greater than 100%',
    ]);
    assert.deepEqual(after(deployment, (d) => Object.assign(d['spec'], { minReadySeconds: 30, progressDeadlineSeconds: 30 })), [
      'spec.progressDeadlineSeconds: must be greater than minReadySeconds',
    ]);
  });

  it('checks Service selector and ports', () => {
    assert.deepEqual(after(service, (s) => delete s['spec'].ports), ['spec.ports: must have at least one port']);
    assert.deepEqual(after(service, (s) => Object.assign(s['spec'], { clusterIP: 'None', ports: [] })), []);
    assert.deepEqual(after(service, (s) => s['spec'].ports.push({ port: 443 })), ['spec.ports[1].name: required when the service has more than one port']);
    assert.deepEqual(after(service, (s) => s['spec'].ports.push({ name: 'http', port: 81 })), ['spec.ports[1].name: duplicate port name "http"']);
    assert.deepEqual(after(service, (s) => s['spec'].ports.push({ name: 'alt', port: 80 })), ['spec.ports[1]: duplicate port 80/TCP']);
    assert.deepEqual(after(service, (s) => s['spec'].ports.push({ name: 'dns', port: 80, protocol: 'UDP' })), []);
    assert.deepEqual(after(service, (s) => (s['spec'].ports[0].nodePort = 30080)), [
      'spec.ports[0].nodePort: only allowed for type NodePort or LoadBalancer, not ClusterIP',
    ]);
    assert.deepEqual(after(service, (s) => Object.assign(s['spec'], { type: 'LoadBalancer', ports: [{ port: 80, nodePort: 30080 }] })), []);
    assert.deepEqual(after(service, (s) => Object.assign(s['spec'], { type: 'NodePort', ports: [{ port: 80, nodePort: 8080 }] })), [
      'spec.ports[0].nodePort: must be between 30000 and 32767',
    ]);
    assert.deepEqual(after(service, (s) => Object.assign(s['spec'], { type: 'NodePort', clusterIP: 'None' })), [
      'spec.clusterIP: "None" (headless) is only allowed for type ClusterIP, not NodePort',
    ]);
    assert.deepEqual(after(service, (s) => Object.assign(s['spec'], { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } })), []);
    assert.deepEqual(after(service, (s) => Object.assign(s['spec'], { sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } })), [
      'spec.sessionAffinityConfig: only allowed with sessionAffinity "ClientIP"',
    ]);
    assert.deepEqual(after(service, (s) => Object.assign(s['spec'], { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } } })), [
      'spec.sessionAffinityConfig.clientIP.timeoutSeconds: must be between 1 and 86400',
    ]);
    assert.match(after(service, (s) => (s['spec'].selector = { App: 'web!' })).join(), /^spec\.selector\.App: invalid value "web!": must be a label value/);
    assert.deepEqual(after(service, (s) => (s['spec'].ports[0].targetPort = 0)), ['spec.ports[0].targetPort: must be between 1 and 65535']);
  });

  it('checks ConfigMap and Secret data, never quoting a Secret value', () => {
    const secret = () => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { token: 'c2VjcmV0' } }) as Loose;
    assert.deepEqual(problems(secret()), []);
    assert.deepEqual(after(secret, (s) => (s['data'].token = 'secret!')), [
      'data.token: invalid value: must be base64-encoded (standard alphabet, with padding)',
    ]);
    assert.deepEqual(after(secret, (s) => (s['data'].token = 'c2VjcmV0LQ')), ['data.token: invalid value: must be base64-encoded (standard alphabet, with padding)']);
    assert.deepEqual(after(secret, (s) => (s['data'] = { 'bad/key': 'eA==' })), [
      `data["bad/key"]: invalid key "bad/key": must be a key of letters, digits, '-', '_' and '.' (not '.' or '..', at most 253 characters)`,
    ]);
    assert.deepEqual(after(secret, (s) => Object.assign(s, { type: 'kubernetes.io/tls', stringData: { 'tls.crt': 'x' } })), ['data: must have key "tls.key" for type kubernetes.io/tls']);
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: 'x' }, binaryData: { a: 'eA==' } };
    assert.deepEqual(problems(cm), ['binaryData.a: key is also in data']);
    assert.deepEqual(problems({ ...cm, binaryData: undefined, data: { big: 'x'.repeat(1024 * 1024) } }), ['data must hold at most 1048576 bytes; got 1048579']);
  });

  it('checks Node taints, Endpoints and Events', () => {
    const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' }, spec: { taints: [{ key: 'a', effect: 'NoSchedule' }, { key: 'a', effect: 'NoSchedule' }] } };
    assert.deepEqual(problems(node), ['spec.taints[1]: duplicate taint a:NoSchedule']);
    assert.deepEqual(problems({ ...node, spec: { taints: [{ key: 'a', effect: 'Sometimes' }] } }), [
      'spec.taints[0].effect: invalid value "Sometimes": must be one of NoSchedule, PreferNoSchedule, NoExecute',
    ]);
    const endpoints = (agentEndpoint: unknown) => ({ ...node, spec: {}, status: { daemonEndpoints: { agentEndpoint } } });
    assert.deepEqual(problems(endpoints({ port: 7402 })), []);
    assert.deepEqual(problems(endpoints({ port: 0 })), ['status.daemonEndpoints.agentEndpoint.port: must be between 1 and 65535']);
    assert.deepEqual(problems(endpoints({ port: 65536 })), ['status.daemonEndpoints.agentEndpoint.port: must be between 1 and 65535']);
    assert.deepEqual(problems(endpoints({})), ['status.daemonEndpoints.agentEndpoint.port: required']);
    assert.deepEqual(problems({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'e' }, subsets: [{ addresses: [{ ip: 'x' }], ports: [{ port: 80 }, { port: 81 }] }] }), [
      'subsets[0].addresses[0].ip: invalid value "x": must be an IP address',
      'subsets[0].ports[0].name: required when the subset has more than one port',
      'subsets[0].ports[1].name: required when the subset has more than one port',
    ]);
    const event = { apiVersion: 'v1', kind: 'Event', metadata: { name: 'e', namespace: 'a' }, involvedObject: { kind: 'Pod', name: 'p', namespace: 'b' }, type: 'Normal' };
    assert.deepEqual(problems(event), ['involvedObject.namespace: must equal metadata.namespace "a"']);
    assert.deepEqual(problems({ ...event, type: 'Info', involvedObject: { kind: 'Node', name: 'n' } }), ['type: invalid value "Info": must be one of Normal, Warning']);
  });

  it('checks Leases: integer duration and transitions, RFC 3339 times with fractional seconds', () => {
    const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'node-1', namespace: 'tug-node-lease' } };
    const spec = { holderIdentity: 'node-1', leaseDurationSeconds: 8, acquireTime: '2025-03-01T10:00:00Z', renewTime: '2025-03-01T10:00:02.123456Z', leaseTransitions: 0 };
    assert.deepEqual(problems({ ...lease, spec }), []);
    assert.deepEqual(problems(lease), [], 'the spec is optional');
    assert.deepEqual(problems({ ...lease, apiVersion: 'v1' }), ['apiVersion: invalid value "v1": Lease is served as coordination.k8s.io/v1']);
    assert.deepEqual(problems({ ...lease, spec: { leaseDurationSeconds: 0, leaseTransitions: -1, renewTime: 'yesterday', acquireTime: 5 } }), [
      'spec.leaseDurationSeconds: must be >= 1',
      'spec.leaseTransitions: must be >= 0',
      'spec.renewTime: invalid value "yesterday": must be an RFC 3339 timestamp such as 2024-01-02T15:04:05Z',
      'spec.acquireTime: expected string, got number',
    ]);
    assert.deepEqual(problems({ ...lease, spec: { leaseDurationSeconds: 1.5 } }), ['spec.leaseDurationSeconds: expected integer, got 1.5']);
    assert.deepEqual(problems({ ...lease, spec: { holder: 'x' } }), ['spec.holder: unknown field']);
  });

  it('checks owner references', () => {
    const ref = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u1', controller: true };
    assert.deepEqual(after(pod, (p) => (p['metadata'].ownerReferences = [ref])), []);
    assert.deepEqual(after(pod, (p) => (p['metadata'].ownerReferences = [ref, { ...ref, uid: 'u2' }])), [
      'metadata.ownerReferences: at most one owner reference may have controller: true',
    ]);
    assert.deepEqual(after(pod, (p) => (p['metadata'].ownerReferences = [{ kind: 'ReplicaSet', name: 'rs' }])), [
      'metadata.ownerReferences[0].apiVersion: required',
      'metadata.ownerReferences[0].uid: required',
    ]);
  });
});

describe('validateOrThrow', () => {
  it('returns the object typed when valid', () => {
    const d = validateOrThrow(deployment());
    assert.equal(d.kind, 'Deployment');
    assert.equal((d as Deployment).spec.replicas, 2);
  });

  it('throws an ApiValidationError listing every problem as kind/name: path: message', () => {
    const bad = deployment();
    bad['spec'].replicas = -1;
    bad['spec'].template.spec.containers[0].imagee = 'x';
    try {
      validateOrThrow(bad);
      assert.fail('expected an error');
    } catch (e) {
      assert.ok(isApiValidationError(e));
      assert.ok(e instanceof ApiValidationError);
      assert.equal(e.name, 'ApiValidationError');
      assert.equal(e.kind, 'Deployment');
      assert.equal(e.objectName, 'web');
      assert.equal(e.issues.length, 2);
      assert.equal(
        e.message,
        'Deployment/web: spec.replicas: must be >= 0\nDeployment/web: spec.template.spec.containers[0].imagee: unknown field (did you mean "image"?)',
      );
    }
    assert.throws(() => validateOrThrow({ kind: 'Pod', apiVersion: 'v1', metadata: { generateName: 'web-' } }), {
      name: 'ApiValidationError',
      message: 'Pod/web-*: spec: required',
    });
    assert.throws(() => validateOrThrow({ kind: 'Nope' }), (e: unknown) => isApiValidationError(e) && e.message.startsWith('Nope/<no name>: kind: unknown kind "Nope"'));
    assert.equal(isApiValidationError(new Error('x')), false);
    assert.equal(isApiValidationError('ApiValidationError'), false);
  });
});

describe('validateUpdate', () => {
  const stored = (o: Loose) => applyDefaults({ ...o, metadata: { ...o['metadata'], uid: 'u1', resourceVersion: '5' } }) as ApiObject;

  it('accepts an update that changes mutable fields', () => {
    const prev = stored(deployment());
    const next = structuredClone(prev) as Deployment;
    next.spec.replicas = 5;
    next.spec.template.spec.containers[0]!.image = 'nginx:1.26';
    assert.deepEqual(validateUpdate(prev, next), []);
  });

  it('refuses changes to identity and immutable fields', () => {
    const prev = stored(deployment());
    const next = structuredClone(prev) as Deployment;
    next.metadata.name = 'other';
    next.metadata.uid = 'u2';
    next.spec.selector = { matchLabels: { app: 'web', v: '2' } };
    next.spec.template.metadata = { labels: { app: 'web', v: '2' } };
    assert.deepEqual(
      validateUpdate(prev, next).map((i) => `${i.path}: ${i.message}`),
      ['metadata.name: field is immutable', 'metadata.uid: field is immutable', 'spec.selector: field is immutable'],
    );
    assert.deepEqual(
      validateUpdate(prev, { ...structuredClone(prev), kind: 'ReplicaSet' }).map((i) => i.path),
      ['spec.strategy', 'spec.revisionHistoryLimit', 'spec.progressDeadlineSeconds', 'kind'],
    );
  });

  it('lets a pod change only images, add tolerations and be bound once', () => {
    const prev = stored(pod()) as Pod;
    const bound = structuredClone(prev);
    bound.spec.nodeName = 'n1';
    bound.spec.containers[0]!.image = 'busybox:1.37';
    bound.spec.tolerations = [{ key: 'k', operator: 'Exists' }];
    assert.deepEqual(validateUpdate(prev, bound), []);
    const moved = structuredClone(bound);
    moved.spec.nodeName = 'n2';
    moved.spec.tolerations = [];
    moved.spec.containers[0]!.command = ['sh'];
    assert.deepEqual(
      validateUpdate(bound, moved).map((i) => i.path),
      ['spec.nodeName', 'spec.tolerations', 'spec.containers'],
    );
  });

  it('keeps a Service clusterIP and an immutable Secret', () => {
    const prev = stored({ ...service(), spec: { ...service()['spec'], clusterIP: '10.96.0.10' } });
    const next = structuredClone(prev) as Loose;
    next['spec'].clusterIP = '10.96.0.11';
    next['spec'].clusterIPs = ['10.96.0.11'];
    assert.deepEqual(validateUpdate(prev, next).map((i) => i.path), ['spec.clusterIP']);
    const secret = stored({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { a: 'eA==' }, immutable: true });
    const changed = { ...structuredClone(secret), data: { a: 'eQ==' } };
    assert.deepEqual(validateUpdate(secret, changed).map((i) => i.path), ['data']);
  });
});
