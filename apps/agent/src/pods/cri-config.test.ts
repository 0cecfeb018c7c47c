import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import type { Container, Pod } from '@tugboat/api';
import { cri } from '@tugboat/proto';
import {
  CONTAINER_HASH_ANNOTATION,
  CONTAINER_NAME_LABEL,
  GRACE_PERIOD_ANNOTATION,
  MANAGED_LABEL,
  POD_NAME_LABEL,
  POD_NAMESPACE_LABEL,
  POD_UID_LABEL,
} from '@tugboat/cri';
import { containerConfig, containerHash, containerResources, qosClass, sandboxConfig } from './cri-config.ts';
import type { RuntimeSettings } from './cri-config.ts';

const settings: RuntimeSettings = { dataDir: '/var/lib/tug-agent', cgroupParent: '/tugboat', nodeName: 'n1' };
const GiB = 1024 ** 3;

function pod(containers: Container[], extra: Partial<Pod['spec']> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-1', namespace: 'shop', uid: 'u-1', labels: { app: 'web', [MANAGED_LABEL]: 'spoofed' } },
    spec: { containers, terminationGracePeriodSeconds: 12, ...extra },
  };
}

const c = (name: string, resources?: Container['resources']): Container =>
  resources === undefined ? { name, image: 'web' } : { name, image: 'web', resources };

describe('sandboxConfig', () => {
  it('names the pod, its hostname, log dir, labels, annotations, cgroup parent and host ports', () => {
    const p = pod([
      { name: 'a', image: 'web', ports: [{ containerPort: 8080, hostPort: 80, protocol: 'TCP' }, { containerPort: 9000 }] },
      { name: 'b', image: 'web', ports: [{ containerPort: 53, hostPort: 5353, protocol: 'UDP', hostIP: '127.0.0.1' }] },
    ]);
    const cfg = sandboxConfig(p, settings, 2);
    assert.deepEqual(cfg.metadata, { name: 'web-1', namespace: 'shop', uid: 'u-1', attempt: 2 });
    assert.equal(cfg.hostname, 'web-1');
    assert.equal(cfg.logDirectory, '/var/lib/tug-agent/logs/shop_web-1_u-1');
    assert.deepEqual(cfg.labels, {
      app: 'web',
      [MANAGED_LABEL]: 'true',
      [POD_UID_LABEL]: 'u-1',
      [POD_NAME_LABEL]: 'web-1',
      [POD_NAMESPACE_LABEL]: 'shop',
    });
    assert.deepEqual(cfg.annotations, { [GRACE_PERIOD_ANNOTATION]: '12' });
    assert.deepEqual(cfg.linux, { cgroupParent: '/tugboat/podu-1' });
    assert.deepEqual(cfg.portMappings, [
      { protocol: cri.Protocol.TCP, containerPort: 8080, hostPort: 80, hostIp: '' },
      { protocol: cri.Protocol.UDP, containerPort: 53, hostPort: 5353, hostIp: '127.0.0.1' },
    ]);
    assert.equal(cfg.dnsConfig, undefined);
    // The init object builds a valid message.
    assert.equal(create(cri.PodSandboxConfigSchema, cfg).portMappings.length, 2);
  });

  it('gives pods the cluster DNS with the Kubernetes search path and ndots 5', () => {
    const cfg = sandboxConfig(pod([c('a')]), { ...settings, clusterDNS: { server: '10.96.0.10', domain: 'cluster.local' } }, 0);
    assert.deepEqual(cfg.dnsConfig, { servers: ['10.96.0.10'], searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local'], options: ['ndots:5'] });
    assert.deepEqual(create(cri.PodSandboxConfigSchema, cfg).dnsConfig?.searches.length, 3);
  });

  it('uses spec.hostname and the default grace period', () => {
    const p = pod([c('a')], { hostname: 'db-0' });
    delete p.spec.terminationGracePeriodSeconds;
    const cfg = sandboxConfig(p, { ...settings, cgroupParent: '/tugboat/' }, 0);
    assert.equal(cfg.hostname, 'db-0');
    assert.equal(cfg.annotations?.[GRACE_PERIOD_ANNOTATION], '30');
    assert.equal(cfg.linux?.cgroupParent, '/tugboat/podu-1');
  });

  it('names a systemd slice for the pod under the systemd cgroup driver', () => {
    const p = pod([c('a')]);
    p.metadata.uid = '3f2a-77b1';
    const cfg = sandboxConfig(p, { ...settings, cgroupParent: 'tugboat.slice', cgroupDriver: 'systemd' }, 0);
    assert.equal(cfg.linux?.cgroupParent, 'tugboat-pod3f2a_77b1.slice');
  });
});

describe('containerConfig', () => {
  it('carries image, command, args, env, mounts, log path, labels and annotations', () => {
    const container: Container = {
      name: 'app',
      image: 'tugboat.local/web:latest',
      command: ['sh', '-c'],
      args: ['echo $X'],
      workingDir: '/srv',
    };
    const p = pod([container]);
    const mounts = [{ containerPath: '/data', hostPath: '/x/data', readonly: false }];
    const cfg = containerConfig(p, container, 3, { env: [{ key: 'X', value: '1' }], mounts, nodeMemoryBytes: 4 * GiB });
    assert.deepEqual(cfg.metadata, { name: 'app', attempt: 3 });
    assert.deepEqual(cfg.image, { image: 'tugboat.local/web:latest' });
    assert.deepEqual(cfg.command, ['sh', '-c']);
    assert.deepEqual(cfg.args, ['echo $X']);
    assert.equal(cfg.workingDir, '/srv');
    assert.deepEqual(cfg.envs, [{ key: 'X', value: '1' }]);
    assert.deepEqual(cfg.mounts, mounts);
    assert.equal(cfg.logPath, 'app/3.log');
    assert.deepEqual(cfg.labels, {
      [MANAGED_LABEL]: 'true',
      [POD_UID_LABEL]: 'u-1',
      [POD_NAME_LABEL]: 'web-1',
      [POD_NAMESPACE_LABEL]: 'shop',
      [CONTAINER_NAME_LABEL]: 'app',
    });
    assert.deepEqual(cfg.annotations, {
      [CONTAINER_HASH_ANNOTATION]: containerHash(container),
      [GRACE_PERIOD_ANNOTATION]: '12',
    });
    assert.equal(cfg.tty, false);
    assert.equal(cfg.stdin, false);
    assert.equal(create(cri.ContainerConfigSchema, cfg).linux?.resources?.oomScoreAdj, 1000n);
  });

  it('defaults command, args and working dir to empty', () => {
    const container = c('app');
    const cfg = containerConfig(pod([container]), container, 0, { env: [], mounts: [] });
    assert.deepEqual([cfg.command, cfg.args, cfg.workingDir], [[], [], '']);
  });
});

describe('containerResources', () => {
  const res = (container: Container, p: Pod = pod([container])) => containerResources(p, container, 4 * GiB);

  it('gives a BestEffort container minimal shares, no quota, no memory limit, oom 1000', () => {
    assert.deepEqual(res(c('a')), { cpuShares: 2n, cpuPeriod: 0n, cpuQuota: 0n, memoryLimitInBytes: 0n, oomScoreAdj: 1000n });
  });

  it('maps a Guaranteed container: shares from request, quota from limit, memory limit, oom -998', () => {
    const a = c('a', { requests: { cpu: '500m', memory: '256Mi' }, limits: { cpu: '500m', memory: '256Mi' } });
    assert.deepEqual(res(a), {
      cpuShares: 512n,
      cpuPeriod: 100000n,
      cpuQuota: 50000n,
      memoryLimitInBytes: 268435456n,
      oomScoreAdj: -998n,
    });
  });

  it('uses the limit as the request when only a limit is set; small values hit the minimums', () => {
    const a = c('a', { limits: { cpu: '1m', memory: '1Gi' } });
    const r = res(a);
    assert.equal(r.cpuShares, 2n); // 1m * 1024 / 1000 rounds to 1, minimum 2
    assert.equal(r.cpuQuota, 1000n); // 1m * 100 = 100 µs, minimum 1000
    // Only-limits on both resources: requests default to limits, so the pod is Guaranteed.
    assert.equal(r.oomScoreAdj, -998n);
  });

  it('scales a Burstable oom_score_adj with the memory request and keeps it within 2..999', () => {
    const half = c('a', { requests: { memory: '2Gi' } });
    assert.equal(res(half).oomScoreAdj, 500n);
    const none = c('a', { requests: { cpu: '100m' } });
    assert.equal(res(none).oomScoreAdj, 999n);
    const huge = c('a', { requests: { memory: '64Gi' } });
    assert.equal(res(huge).oomScoreAdj, 2n);
    const shares = res(c('a', { requests: { cpu: '2' } }));
    assert.equal(shares.cpuShares, 2048n);
  });
});

describe('qosClass', () => {
  const cases: [string, Container[], string][] = [
    ['no resources', [c('a'), c('b')], 'BestEffort'],
    ['zero quantities', [c('a', { requests: { cpu: '0', memory: '0' } })], 'BestEffort'],
    ['requests equal limits', [c('a', { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1000m', memory: '1Gi' } })], 'Guaranteed'],
    ['limits only', [c('a', { limits: { cpu: '1', memory: '1Gi' } })], 'Guaranteed'],
    ['a request below its limit', [c('a', { requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } })], 'Burstable'],
    ['a cpu limit without a memory limit', [c('a', { limits: { cpu: '1' } })], 'Burstable'],
    ['one container without limits', [c('a', { limits: { cpu: '1', memory: '1Gi' } }), c('b')], 'Burstable'],
    ['ephemeral-storage only', [c('a', { requests: { 'ephemeral-storage': '1Gi' } })], 'BestEffort'],
  ];
  for (const [what, containers, want] of cases) {
    it(`${what}: ${want}`, () => assert.equal(qosClass(pod(containers)), want));
  }
});

describe('containerHash', () => {
  const base: Container = {
    name: 'app',
    image: 'web:1',
    command: ['sh'],
    env: [{ name: 'A', value: '1' }],
    resources: { limits: { cpu: '1', memory: '1Gi' } },
  };

  it('is stable across key order and empty fields', () => {
    const reordered: Container = {
      resources: { limits: { memory: '1Gi', cpu: '1' } },
      env: [{ value: '1', name: 'A' }],
      command: ['sh'],
      image: 'web:1',
      name: 'app',
      args: [],
      ports: [],
    };
    assert.equal(containerHash(reordered), containerHash(base));
    assert.match(containerHash(base), /^[0-9a-f]{16}$/);
  });

  it('ignores probes and pull policy', () => {
    const probed: Container = {
      ...base,
      imagePullPolicy: 'Always',
      livenessProbe: { httpGet: { port: 8080 } },
      readinessProbe: { tcpSocket: { port: 8080 } },
    };
    assert.equal(containerHash(probed), containerHash(base));
  });

  const changes: [string, Partial<Container>][] = [
    ['image', { image: 'web:2' }],
    ['command', { command: ['bash'] }],
    ['args', { args: ['-x'] }],
    ['env', { env: [{ name: 'A', value: '2' }] }],
    ['envFrom', { envFrom: [{ configMapRef: { name: 'cfg' } }] }],
    ['ports', { ports: [{ containerPort: 80 }] }],
    ['resources', { resources: { limits: { cpu: '2', memory: '1Gi' } } }],
    ['volumeMounts', { volumeMounts: [{ name: 'v', mountPath: '/v' }] }],
    ['workingDir', { workingDir: '/w' }],
  ];
  for (const [field, change] of changes) {
    it(`changes with ${field}`, () => assert.notEqual(containerHash({ ...base, ...change }), containerHash(base)));
  }
});
