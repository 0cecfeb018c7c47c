import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConfigMap, Container, Pod, Secret } from '@tugboat/api';
import { ContainerConfigError, expandEnvReferences, isContainerConfigError, resolveEnv } from './env.ts';
import type { ObjectSource, PodFieldValues } from './env.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function configMap(name: string, data: Record<string, string>): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'shop' }, data };
}

function secret(name: string, data: Record<string, string>): Secret {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'shop' }, data };
}

/** fakeSource serves objects of namespace "shop" and counts reads. */
function fakeSource(objects: (ConfigMap | Secret)[]): ObjectSource & { reads: number } {
  const find = (kind: string, ns: string, name: string) =>
    objects.find((o) => o.kind === kind && o.metadata.namespace === ns && o.metadata.name === name);
  const source = {
    reads: 0,
    async configMap(ns: string, name: string) {
      source.reads++;
      return find('ConfigMap', ns, name) as ConfigMap | undefined;
    },
    async secret(ns: string, name: string) {
      source.reads++;
      return find('Secret', ns, name) as Secret | undefined;
    },
  };
  return source;
}

function pod(container: Container): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'web-1',
      namespace: 'shop',
      uid: 'u-123',
      labels: { app: 'web' },
      annotations: { 'example.com/owner': 'team-a' },
    },
    spec: { containers: [container], nodeName: 'n1' },
  };
}

const fields: PodFieldValues = { podIP: '10.244.1.7', hostIP: '192.168.5.2', nodeName: 'n1' };

async function envOf(c: Container, objects: (ConfigMap | Secret)[] = []): Promise<[string, string][]> {
  const env = await resolveEnv(pod(c), c, fakeSource(objects), fields);
  return env.map((e) => [e.key, e.value]);
}

describe('expandEnvReferences', () => {
  const vars: Record<string, string> = { A: 'x', B: 'y' };
  const lookup = (n: string): string | undefined => vars[n];
  const cases: [string, string][] = [
    ['$(A)', 'x'],
    ['pre-$(A)-$(B)-post', 'pre-x-y-post'],
    ['$(MISSING)', '$(MISSING)'],
    ['$$(A)', '$(A)'],
    ['$$$(A)', '$x'],
    ['$$', '$'],
    ['cost $5', 'cost $5'],
    ['$(A', '$(A'],
    ['end$', 'end$'],
    ['$()', '$()'],
    ['no refs', 'no refs'],
  ];
  for (const [input, want] of cases) {
    it(`expands ${JSON.stringify(input)} to ${JSON.stringify(want)}`, () => {
      assert.equal(expandEnvReferences(input, lookup), want);
    });
  }
});

describe('resolveEnv', () => {
  it('puts envFrom first (prefix, sorted keys, invalid names skipped), then env, later values winning in place', async () => {
    const c: Container = {
      name: 'app',
      image: 'web',
      envFrom: [{ configMapRef: { name: 'cfg' } }, { prefix: 'S_', secretRef: { name: 'creds' } }],
      env: [
        { name: 'MODE', value: 'override' },
        { name: 'URL', value: 'http://$(HOST):$(PORT)/$(NOPE)' },
      ],
    };
    const env = await envOf(c, [
      configMap('cfg', { PORT: '8080', MODE: 'dev', HOST: 'db', '1BAD': 'skip', 'dotted.name': 'ok' }),
      secret('creds', { password: b64('hunter2') }),
    ]);
    assert.deepEqual(env, [
      ['HOST', 'db'],
      ['MODE', 'override'],
      ['PORT', '8080'],
      ['dotted.name', 'ok'],
      ['S_password', 'hunter2'],
      ['URL', 'http://db:8080/$(NOPE)'],
    ]);
  });

  it('expands only names defined before the entry', async () => {
    const env = await envOf({
      name: 'app',
      image: 'web',
      env: [
        { name: 'A', value: '$(B)' },
        { name: 'B', value: 'b' },
        { name: 'C', value: '$(B)$(A)' },
      ],
    });
    assert.deepEqual(env, [
      ['A', '$(B)'],
      ['B', 'b'],
      ['C', 'b$(B)'],
    ]);
  });

  it('reads configMapKeyRef and secretKeyRef (stringData too), each object once', async () => {
    const c: Container = {
      name: 'app',
      image: 'web',
      env: [
        { name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'level' } } },
        { name: 'LEVEL2', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'level' } } },
        { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'creds', key: 'token' } } },
        { name: 'PLAIN', valueFrom: { secretKeyRef: { name: 'creds', key: 'plain' } } },
        { name: 'EMPTY', value: '' },
      ],
    };
    const s = secret('creds', { token: b64('t0k') });
    s.stringData = { plain: 'text' };
    const source = fakeSource([configMap('cfg', { level: 'debug' }), s]);
    const env = await resolveEnv(pod(c), c, source, fields);
    assert.deepEqual(env, [
      { key: 'LEVEL', value: 'debug' },
      { key: 'LEVEL2', value: 'debug' },
      { key: 'TOKEN', value: 't0k' },
      { key: 'PLAIN', value: 'text' },
      { key: 'EMPTY', value: '' },
    ]);
    assert.equal(source.reads, 2);
  });

  it('leaves out optional references to missing objects and keys', async () => {
    const env = await envOf(
      {
        name: 'app',
        image: 'web',
        envFrom: [{ configMapRef: { name: 'absent', optional: true } }, { secretRef: { name: 'gone', optional: true } }],
        env: [
          { name: 'A', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'nope', optional: true } } },
          { name: 'B', valueFrom: { secretKeyRef: { name: 'gone', key: 'k', optional: true } } },
          { name: 'C', value: 'c' },
        ],
      },
      [configMap('cfg', {})],
    );
    assert.deepEqual(env, [['C', 'c']]);
  });

  it('resolves fieldRef paths', async () => {
    const paths = {
      NAME: 'metadata.name',
      NS: 'metadata.namespace',
      UID: 'metadata.uid',
      APP: "metadata.labels['app']",
      NOLABEL: "metadata.labels['missing']",
      OWNER: "metadata.annotations['example.com/owner']",
      NODE: 'spec.nodeName',
      SA: 'spec.serviceAccountName',
      POD_IP: 'status.podIP',
      HOST_IP: 'status.hostIP',
    };
    const env = await envOf({
      name: 'app',
      image: 'web',
      env: Object.entries(paths).map(([name, fieldPath]) => ({ name, valueFrom: { fieldRef: { fieldPath } } })),
    });
    assert.deepEqual(Object.fromEntries(env), {
      NAME: 'web-1',
      NS: 'shop',
      UID: 'u-123',
      APP: 'web',
      NOLABEL: '',
      OWNER: 'team-a',
      NODE: 'n1',
      SA: '',
      POD_IP: '10.244.1.7',
      HOST_IP: '192.168.5.2',
    });
  });

  const failures: [string, Container, (ConfigMap | Secret)[], RegExp][] = [
    [
      'a missing configmap',
      { name: 'app', image: 'web', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } }] },
      [],
      /pod shop\/web-1: container "app": env X: configmap "shop\/cfg" not found/,
    ],
    [
      'a missing configmap key',
      { name: 'app', image: 'web', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } }] },
      [configMap('cfg', { other: '1' })],
      /pod shop\/web-1: container "app": env X: key "k" not found in configmap "shop\/cfg"/,
    ],
    [
      'a missing secret key',
      { name: 'app', image: 'web', env: [{ name: 'Y', valueFrom: { secretKeyRef: { name: 's', key: 'pw' } } }] },
      [secret('s', {})],
      /env Y: key "pw" not found in secret "shop\/s"/,
    ],
    [
      'a missing envFrom secret',
      { name: 'app', image: 'web', envFrom: [{ configMapRef: { name: 'cfg', optional: true } }, { secretRef: { name: 's' } }] },
      [],
      /container "app": envFrom\[1\]: secret "shop\/s" not found/,
    ],
    [
      'an unsupported fieldRef',
      { name: 'app', image: 'web', env: [{ name: 'Z', valueFrom: { fieldRef: { fieldPath: 'spec.bogus' } } }] },
      [],
      /env Z: fieldRef path "spec.bogus" is not supported/,
    ],
  ];
  for (const [what, c, objects, message] of failures) {
    it(`throws ContainerConfigError for ${what}`, async () => {
      await assert.rejects(envOf(c, objects), (e: unknown) => {
        assert.ok(e instanceof ContainerConfigError);
        assert.ok(isContainerConfigError(e));
        assert.equal(e.reason, 'CreateContainerConfigError');
        assert.match(e.message, message);
        return true;
      });
    });
  }
});
