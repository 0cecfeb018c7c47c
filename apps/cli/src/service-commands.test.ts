// service-commands.test.ts: what users of Services see: the Service and Endpoints tables (and
// -o wide), `tug get` of several kinds at once, `tug describe svc|ep`, and `tug expose` from
// each kind it takes and for each way it refuses, against the fake API on 127.0.0.1. The fake
// API allocates no cluster IPs or node ports: the objects seeded here carry their own.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoints, Service } from '@tugboat/api';
import { renderTable, runCaptured } from '@tugboat/cli';
import { TestApi, TestApiServer } from '@tugboat/apiserver/testing';

const DAY_MS = 86_400_000;

let api: TestApi;
let server: TestApiServer;

/** tug runs in-process ten days after now, so every AGE reads "10d" whatever the second. */
const tug = (args: string[]) => runCaptured(args, { env: { TUG_ENDPOINTS: server.address }, now: () => Date.now() + 10 * DAY_MS });

before(async () => {
  api = new TestApi();
  server = await TestApiServer.start(api);
  for (const name of ['shop', 'expo']) api.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  api.seed({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default', labels: { app: 'web' }, annotations: { team: 'storefront' } },
    spec: {
      clusterIP: '10.96.0.10',
      selector: { app: 'web' },
      sessionAffinity: 'ClientIP',
      ports: [
        { name: 'http', port: 80, targetPort: 8080 },
        { name: 'metrics', port: 9090, targetPort: 'metrics' },
      ],
    },
  });
  api.seed({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'lb', namespace: 'default' },
    spec: { type: 'LoadBalancer', clusterIP: '10.96.0.11', selector: { app: 'lb', tier: 'edge' }, ports: [{ port: 443, nodePort: 31443 }] },
  });
  api.seed({
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: 'web', namespace: 'default' },
    subsets: [
      {
        addresses: [{ ip: '10.244.1.2' }, { ip: '10.244.2.3' }, { ip: '10.244.3.4' }, { ip: '10.244.4.5' }],
        notReadyAddresses: [{ ip: '10.244.9.9' }],
        ports: [
          { name: 'http', port: 8080 },
          { name: 'metrics', port: 9100 },
        ],
      },
    ],
  });
  api.seed({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'api', namespace: 'shop', labels: { app: 'api' } },
    spec: { type: 'LoadBalancer', clusterIP: '10.96.5.5', selector: { app: 'api' }, ports: [{ name: 'https', port: 443, targetPort: 8443, nodePort: 31444 }] },
    status: { loadBalancer: { ingress: [{ ip: '192.168.1.240' }, { hostname: 'api.example' }] } },
  });
  api.seed({
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: 'api', namespace: 'shop', labels: { app: 'api' } },
    subsets: [{ addresses: [{ ip: '10.244.1.9' }], ports: [{ name: 'https', port: 8443 }] }],
  });
});

after(async () => {
  await server.stop();
});

// ---------------------------------------------------------------------------------------------
// tables

describe('Service and Endpoints tables', () => {
  const now = Date.parse('2025-01-01T00:05:00Z');
  const meta = (name: string) => ({ name, namespace: 'default', creationTimestamp: '2025-01-01T00:00:00Z' });
  const svc = (name: string, spec: Service['spec'], status?: Service['status']): Service => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(name),
    spec,
    ...(status === undefined ? {} : { status }),
  });
  const ep = (name: string, subsets: Endpoints['subsets']): Endpoints => ({ apiVersion: 'v1', kind: 'Endpoints', metadata: meta(name), ...(subsets === undefined ? {} : { subsets }) });

  test('EXTERNAL-IP: <none>, the ingress of a LoadBalancer or <pending>; PORT(S) with node ports; -o wide adds SELECTOR', () => {
    const services = [
      svc('plain', { type: 'ClusterIP', clusterIP: '10.96.0.10', selector: { app: 'web' }, ports: [{ port: 80, protocol: 'TCP' }] }),
      svc('np', {
        type: 'NodePort',
        clusterIP: '10.96.0.11',
        ports: [
          { name: 'http', port: 80, nodePort: 30080 },
          { name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 },
        ],
      }),
      svc('waiting', { type: 'LoadBalancer', clusterIP: '10.96.0.12', selector: { app: 'lb', tier: 'edge' }, ports: [{ port: 443, nodePort: 31443 }] }),
      svc('served', { type: 'LoadBalancer', clusterIP: '10.96.0.13', ports: [{ port: 443 }] }, { loadBalancer: { ingress: [{ ip: '192.168.1.240' }, { ip: '192.168.1.241' }] } }),
      svc('headless', { clusterIP: 'None', selector: { app: 'db' } }),
    ];
    assert.equal(
      renderTable('Service', services, { wide: false, withNamespace: false, now }),
      [
        'NAME       TYPE           CLUSTER-IP   EXTERNAL-IP                   PORT(S)                     AGE',
        'plain      ClusterIP      10.96.0.10   <none>                        80/TCP                      5m',
        'np         NodePort       10.96.0.11   <none>                        80:30080/TCP,53:30053/UDP   5m',
        'waiting    LoadBalancer   10.96.0.12   <pending>                     443:31443/TCP               5m',
        'served     LoadBalancer   10.96.0.13   192.168.1.240,192.168.1.241   443/TCP                     5m',
        'headless   ClusterIP      None         <none>                        <none>                      5m',
        '',
      ].join('\n'),
    );
    const wide = renderTable('Service', services, { wide: true, withNamespace: false, now }).split('\n');
    assert.match(wide[0]!, /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\s+SELECTOR$/);
    assert.deepEqual(
      wide.slice(1, -1).map((l) => l.split(/\s+/).at(-1)),
      ['app=web', '<none>', 'app=lb,tier=edge', '<none>', 'app=db'],
    );
  });

  test('ENDPOINTS: the first three ready ip:port pairs, then "+ N more..."; <none> without ready addresses', () => {
    const table = renderTable(
      'Endpoints',
      [
        ep('two', [{ addresses: [{ ip: '10.244.1.2' }, { ip: '10.244.2.3' }], ports: [{ port: 8080 }] }]),
        ep('five', [{ addresses: ['1', '2', '3', '4', '5'].map((i) => ({ ip: `10.244.${i}.2` })), notReadyAddresses: [{ ip: '10.244.9.9' }], ports: [{ port: 8080 }] }]),
        ep('ports', [
          {
            addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }],
            ports: [
              { name: 'a', port: 80 },
              { name: 'b', port: 443 },
            ],
          },
        ]),
        ep('unready', [{ notReadyAddresses: [{ ip: '10.244.9.9' }], ports: [{ port: 8080 }] }]),
        ep('empty', undefined),
      ],
      { wide: false, withNamespace: false, now },
    );
    assert.equal(
      table,
      [
        'NAME      ENDPOINTS                                                     AGE',
        'two       10.244.1.2:8080,10.244.2.3:8080                               5m',
        'five      10.244.1.2:8080,10.244.2.2:8080,10.244.3.2:8080 + 2 more...   5m',
        'ports     10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...              5m',
        'unready   <none>                                                        5m',
        'empty     <none>                                                        5m',
        '',
      ].join('\n'),
    );
  });

  test('withKind writes NAME as KIND/NAME', () => {
    const table = renderTable('Service', [svc('web', { clusterIP: '10.96.0.10', ports: [{ port: 80 }] })], { wide: false, withNamespace: true, withKind: true, now });
    assert.match(table, /^NAMESPACE\s+NAME\s+TYPE.*\ndefault\s+service\/web\s+ClusterIP\s/);
  });
});

// ---------------------------------------------------------------------------------------------
// get of several kinds

const SVC_TABLE = [
  'NAME          TYPE           CLUSTER-IP   EXTERNAL-IP   PORT(S)           AGE',
  'service/lb    LoadBalancer   10.96.0.11   <pending>     443:31443/TCP     10d',
  'service/web   ClusterIP      10.96.0.10   <none>        80/TCP,9090/TCP   10d',
];
const EP_TABLE = [
  'NAME            ENDPOINTS                                                     AGE',
  'endpoints/web   10.244.1.2:8080,10.244.2.3:8080,10.244.3.4:8080 + 5 more...   10d',
];

describe('tug get with several kinds', () => {
  test('svc,ep: one table per kind, a blank line between, NAME as KIND/NAME', async () => {
    const r = await tug(['get', 'svc,ep']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${SVC_TABLE.join('\n')}\n\n${EP_TABLE.join('\n')}\n`);
    assert.equal(r.stderr, '');
  });

  test('-o wide gives each kind its wide columns', async () => {
    const r = await tug(['get', 'services,endpoints', '-o', 'wide']);
    assert.equal(r.code, 0, r.stderr);
    const [svcs, eps] = r.stdout.split('\n\n');
    assert.match(svcs!, /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\s+SELECTOR\nservice\/lb\s.*\s+app=lb,tier=edge\nservice\/web\s.*\s+app=web$/);
    assert.equal(eps, `${EP_TABLE.join('\n')}\n`);
  });

  test('-A adds NAMESPACE to each table; -n and -l select in every kind', async () => {
    let r = await tug(['get', 'svc,ep', '-A']);
    assert.equal(r.code, 0, r.stderr);
    const [svcs, eps] = r.stdout.split('\n\n');
    assert.match(svcs!, /^NAMESPACE\s+NAME\s+TYPE\s/);
    assert.match(svcs!, /\nshop\s+service\/api\s+LoadBalancer\s+10\.96\.5\.5\s+192\.168\.1\.240,api\.example\s+443:31444\/TCP\s+10d$/);
    assert.match(svcs!, /\ndefault\s+service\/web\s+ClusterIP\s/);
    assert.match(eps!, /^NAMESPACE\s+NAME\s+ENDPOINTS\s+AGE\n/);
    assert.match(eps!, /\nshop\s+endpoints\/api\s+10\.244\.1\.9:8443\s+10d\n/);

    r = await tug(['get', 'svc,ep', '-n', 'shop', '-l', 'app=api', '-o', 'name']);
    assert.equal(r.stdout, 'service/api\nendpoints/api\n');
    r = await tug(['get', 'svc,ep', '-n', 'shop', '-l', 'app=none']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'No resources found in shop namespace.\n');
  });

  test('a kind with nothing to show prints no table', async () => {
    const r = await tug(['get', 'svc,cm,ep']);
    assert.equal(r.stdout, `${SVC_TABLE.join('\n')}\n\n${EP_TABLE.join('\n')}\n`);
  });

  test('-o yaml and json: one List of every kind; NAMEs are looked up in every kind', async () => {
    let r = await tug(['get', 'svc,ep', 'web', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as { kind: string; items: { kind: string; metadata: { name: string } }[] };
    assert.equal(list.kind, 'List');
    assert.deepEqual(
      list.items.map((i) => `${i.kind}/${i.metadata.name}`),
      ['Service/web', 'Endpoints/web'],
    );
    r = await tug(['get', 'svc,ep', 'web', '-o', 'yaml']);
    assert.match(r.stdout, /^apiVersion: v1\nkind: List\n/);
    assert.match(r.stdout, /\nitems:\n {2}- apiVersion: v1\n {4}kind: Service\n[^]*\n {2}- apiVersion: v1\n {4}kind: Endpoints\n/);
  });

  test('KIND/NAME for each object is the same as several kinds and a NAME', async () => {
    const a = await tug(['get', 'svc/web', 'ep/web']);
    const b = await tug(['get', 'svc,ep', 'web']);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
    assert.match(a.stdout, /^NAME\s+TYPE\s.*\nservice\/web\s+ClusterIP\s.*\n\nNAME\s+ENDPOINTS\s+AGE\nendpoints\/web\s/);
  });

  test('a missing NAME is reported per kind, the rest is shown, and the exit code is 1', async () => {
    const r = await tug(['get', 'svc,ep', 'lb']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^NAME\s+TYPE\s.*\nservice\/lb\s+LoadBalancer\s/);
    assert.doesNotMatch(r.stdout, /ENDPOINTS/);
    assert.equal(r.stderr, 'Error from server (NotFound): endpoints "lb" in namespace "default" not found\n');
  });

  test('one kind is as before: no KIND/ in NAME, a single object for one NAME', async () => {
    let r = await tug(['get', 'svc']);
    assert.match(r.stdout, /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\nlb\s+LoadBalancer\s+10\.96\.0\.11\s+<pending>\s+443:31443\/TCP\s+10d\nweb\s+ClusterIP\s+10\.96\.0\.10\s+<none>\s+80\/TCP,9090\/TCP\s+10d\n$/);
    r = await tug(['get', 'svc', 'web', '-o', 'json']);
    assert.equal((JSON.parse(r.stdout) as { kind: string }).kind, 'Service');
    r = await tug(['get', 'svc,services', 'web', '-o', 'json']);
    assert.equal((JSON.parse(r.stdout) as { kind: string }).kind, 'Service', 'the same kind twice is one kind');
  });

  test('mixes that are not supported are usage errors saying what to write', async () => {
    const cases: [string[], RegExp][] = [
      [['get', 'svc/web,ep/web'], /"svc\/web,ep\/web": several kinds take no \/NAME; give the kinds, then the names \(tug get svc,ep web\), or KIND\/NAME for each object \(tug get svc\/web ep\/web\)/],
      [['get', 'svc,ep', 'ep/web'], /"ep\/web": after several kinds, give plain NAMEs/],
      [['get', 'svc', 'ep/web'], /"ep\/web": after a KIND, give plain NAMEs; or give KIND\/NAME for each object/],
      [['get', 'svc,,ep'], /"svc,,ep": an empty kind between the commas/],
      [['get', 'svc,widgets'], /unknown kind or resource "widgets"/],
      [['get', 'svc,ep', '-w'], /-w follows one kind: give a single KIND/],
      [['get', 'svc,events', '--for', 'svc/web'], /--for picks events/],
      [['get', 'svc,ep', 'web', '-A'], /-A lists every namespace: give no NAME with it/],
    ];
    for (const [args, want] of cases) {
      const r = await tug(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, want, args.join(' '));
      assert.equal(r.stdout, '');
    }
  });
});

// ---------------------------------------------------------------------------------------------
// describe

describe('tug describe svc and ep', () => {
  test('a ClusterIP service: selector, IPs, one block per port with its ready endpoints, session affinity', async () => {
    const r = await tug(['describe', 'svc', 'web']);
    assert.equal(r.code, 0, r.stderr);
    const text = r.stdout.replace(/\nCreated: .*\n/, '\n');
    assert.equal(
      text,
      [
        'Name:              web',
        'Namespace:         default',
        'Labels:            app=web',
        'Annotations:       team: storefront',
        'Selector:          app=web',
        'Type:              ClusterIP',
        'IP:                10.96.0.10',
        'IPs:               10.96.0.10',
        'Port:              http  80/TCP',
        'TargetPort:        8080/TCP',
        'Endpoints:         10.244.1.2:8080,10.244.2.3:8080,10.244.3.4:8080,10.244.4.5:8080',
        'Port:              metrics  9090/TCP',
        'TargetPort:        metrics/TCP',
        'Endpoints:         10.244.1.2:9100,10.244.2.3:9100,10.244.3.4:9100,10.244.4.5:9100',
        'Session Affinity:  ClientIP (timeout 10800s)',
        'Events:            <none>',
        '',
      ].join('\n'),
    );
  });

  test('a LoadBalancer: its ingress (or <pending>), node ports, <none> without an Endpoints object', async () => {
    let r = await tug(['describe', 'svc/api', '-n', 'shop']);
    assert.equal(r.code, 0, r.stderr);
    for (const want of [
      /\nType:\s+LoadBalancer\n/,
      /\nLoadBalancer Ingress:\s+192\.168\.1\.240, api\.example\n/,
      /\nPort:\s+https {2}443\/TCP\nTargetPort:\s+8443\/TCP\nNodePort:\s+https {2}31444\/TCP\nEndpoints:\s+10\.244\.1\.9:8443\nSession Affinity:\s+None\n/,
    ]) {
      assert.match(r.stdout, want);
    }
    r = await tug(['describe', 'svc', 'lb']);
    for (const want of [/\nSelector:\s+app=lb,tier=edge\n/, /\nLoadBalancer Ingress:\s+<pending>\n/, /\nPort:\s+<unset> {2}443\/TCP\nTargetPort:\s+443\/TCP\nNodePort:\s+<unset> {2}31443\/TCP\nEndpoints:\s+<none>\n/]) {
      assert.match(r.stdout, want);
    }
    r = await tug(['describe', 'svc', 'web']);
    assert.doesNotMatch(r.stdout, /LoadBalancer Ingress|NodePort/, 'a ClusterIP service has neither');
  });

  test('endpoints: per subset the ready and not-ready addresses and a table of ports', async () => {
    const r = await tug(['describe', 'ep', 'web']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        [
          '\\nSubsets:',
          ' {2}Addresses: {10}10\\.244\\.1\\.2,10\\.244\\.2\\.3,10\\.244\\.3\\.4,10\\.244\\.4\\.5',
          ' {2}NotReadyAddresses: {2}10\\.244\\.9\\.9',
          ' {2}Ports:',
          ' {4}Name {6}Port   Protocol',
          ' {4}---- {6}---- {3}--------',
          ' {4}http {6}8080   TCP',
          ' {4}metrics   9100   TCP',
          'Events: {2}<none>\\n$',
        ].join('\\n'),
      ),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// expose

describe('tug expose', () => {
  const NS = 'expo';
  const template = (labels: Record<string, string>) => ({ metadata: { labels }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } });
  const stored = (name: string) => api.object('Service', NS, name) as unknown as Service | undefined;
  const services = () =>
    api.store
      .list({ kind: 'Service', namespace: NS })
      .items.map((o) => o.metadata.name)
      .sort();

  before(() => {
    api.seed({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: NS, labels: { app: 'web', team: 'a' } },
      spec: { selector: { matchLabels: { app: 'web' } }, template: template({ app: 'web' }) },
    });
    api.seed({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web.v2', namespace: NS },
      spec: { selector: { matchLabels: { app: 'web2' } }, template: template({ app: 'web2' }) },
    });
    api.seed({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'fancy', namespace: NS },
      spec: { selector: { matchLabels: { app: 'fancy' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }] }, template: template({ app: 'fancy', tier: 'a' }) },
    });
    api.seed({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'bare', namespace: NS }, spec: { selector: {}, template: template({}) } });
    api.seed({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'web-5d8f', namespace: NS, labels: { app: 'web', 'pod-template-hash': '5d8f' } },
      spec: { selector: { matchLabels: { app: 'web', 'pod-template-hash': '5d8f' } }, template: template({ app: 'web', 'pod-template-hash': '5d8f' }) },
    });
    api.seed({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-5d8f-x1', namespace: NS, labels: { app: 'web', 'pod-template-hash': '5d8f' } },
      spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
    });
    api.seed({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'lonely', namespace: NS }, spec: { containers: [{ name: 'c', image: 'busybox:1.36' }] } });
    api.seed({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'front', namespace: NS }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } });
    api.seed({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'manual', namespace: NS }, spec: { ports: [{ port: 80 }] } });
  });

  test('deploy/NAME: the selector is its matchLabels, the target port the port, the name and labels its own', async () => {
    const r = await tug(['expose', 'deploy/web', '--port', '80', '-n', NS]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'service/web exposed\n');
    const s = stored('web')!;
    assert.deepEqual(s.metadata.labels, { app: 'web', team: 'a' });
    assert.equal(s.spec.type, 'ClusterIP');
    assert.deepEqual(s.spec.selector, { app: 'web' });
    assert.deepEqual(s.spec.ports, [{ protocol: 'TCP', port: 80, targetPort: 80 }]);
  });

  test('every flag: --target-port, --type, --node-port, --protocol, --port-name, --name; TYPE NAME', async () => {
    const r = await tug(['expose', 'deployment', 'web', '--port', '53', '--target-port', '5353', '--type', 'nodeport', '--node-port', '30053', '--protocol', 'udp', '--port-name', 'dns', '--name', 'web-dns', '-n', NS]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'service/web-dns exposed\n');
    const s = stored('web-dns')!;
    assert.equal(s.spec.type, 'NodePort');
    assert.deepEqual(s.spec.ports, [{ name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353, nodePort: 30053 }]);
  });

  test('rs/NAME and pod/NAME: the replica set\'s matchLabels, the pod\'s labels', async () => {
    let r = await tug(['expose', 'rs/web-5d8f', '--port', '80', '--type', 'LoadBalancer', '-n', NS]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'service/web-5d8f exposed\n');
    assert.equal(stored('web-5d8f')!.spec.type, 'LoadBalancer');
    assert.deepEqual(stored('web-5d8f')!.spec.selector, { app: 'web', 'pod-template-hash': '5d8f' });

    r = await tug(['expose', 'pod/web-5d8f-x1', '--port', '8080', '--name', 'one-pod', '-o', 'name', '-n', NS]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'service/one-pod\n');
    assert.deepEqual(stored('one-pod')!.spec.selector, { app: 'web', 'pod-template-hash': '5d8f' });
  });

  test('svc/NAME copies the selector; a named target port; -o json prints the service as created', async () => {
    const r = await tug(['expose', 'svc/front', '--port', '443', '--target-port', 'https', '--port-name', 'https', '--name', 'front-tls', '-o', 'json', '-n', NS]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as Service;
    assert.equal(s.kind, 'Service');
    assert.equal(s.metadata.name, 'front-tls');
    assert.deepEqual(s.spec.selector, { app: 'web' });
    assert.deepEqual(s.spec.ports, [{ name: 'https', protocol: 'TCP', port: 443, targetPort: 'https' }]);
    assert.deepEqual(stored('front-tls')!.spec.selector, { app: 'web' });
  });

  test('bad input is refused with a message naming the problem, and changes nothing', async () => {
    const before = services();
    const cases: [string[], number, RegExp][] = [
      [['expose', 'widgets/web', '--port', '80'], 2, /unknown kind or resource "widgets"/],
      [['expose', 'cm/web', '--port', '80'], 2, /expose works on deployments, replicasets, pods and services, not configmaps/],
      [['expose', 'deploy', '--port', '80'], 2, /give the NAME of the deploy to expose, or TYPE\/NAME/],
      [['expose', 'deploy/web', 'rs/web-5d8f', '--port', '80'], 2, /give one object to expose, not 2/],
      [['expose', 'deploy/web'], 2, /required option '--port <port>' not specified/],
      [['expose', 'deploy/web', '--port', '0'], 2, /--port: "0" is not a port number \(1 to 65535\)/],
      [['expose', 'deploy/web', '--port', '70000'], 2, /--port: "70000" is not a port number \(1 to 65535\)/],
      [['expose', 'deploy/web', '--port', 'http'], 2, /--port: "http" is not a port number/],
      [['expose', 'deploy/web', '--port', '80', '--target-port', '65536'], 2, /--target-port: "65536" is not a port number/],
      [['expose', 'deploy/web', '--port', '80', '--target-port', 'Not_A-Name'], 2, /--target-port: invalid value "Not_A-Name": must be a port name/],
      [['expose', 'deploy/web', '--port', '80', '--type', 'ExternalName'], 2, /--type: "ExternalName" is not one of ClusterIP, NodePort, LoadBalancer/],
      [['expose', 'deploy/web', '--port', '80', '--node-port', '30080'], 2, /--node-port needs --type NodePort or LoadBalancer: a ClusterIP service has no node port/],
      [['expose', 'deploy/web', '--port', '80', '--type', 'ClusterIP', '--node-port', '30080'], 2, /--node-port needs --type NodePort or LoadBalancer/],
      [['expose', 'deploy/web', '--port', '80', '--type', 'NodePort', '--node-port', '8080'], 2, /--node-port: "8080" is not a node port \(30000 to 32767\)/],
      [['expose', 'deploy/web', '--port', '80', '--protocol', 'SCTP'], 2, /--protocol: "SCTP" is not one of TCP, UDP/],
      [['expose', 'deploy/web', '--port', '80', '--port-name', 'Web_Port'], 2, /--port-name: invalid value "Web_Port": must be a DNS-1123 label/],
      [['expose', 'deploy/web', '--port', '80', '--name', '9lives'], 2, /--name: invalid value "9lives": must be a DNS-1035 label/],
      [['expose', 'deploy/web.v2', '--port', '80'], 2, /the service name \(the name of deployment\.apps\/web\.v2\): invalid value "web\.v2": must be a DNS-1035 label .*; choose another with --name/],
      [['expose', 'deploy/nope', '--port', '80'], 1, /^Error from server \(NotFound\): deployments "nope" in namespace "expo" not found\n$/],
      [['expose', 'deploy/fancy', '--port', '80'], 1, /deployment\.apps\/fancy selects its pods with matchExpressions \(app=fancy,tier in \(a,b\)\), which a service selector \(labels only\) cannot express/],
      [['expose', 'deploy/bare', '--port', '80'], 1, /deployment\.apps\/bare has an empty selector: there are no labels to select its pods by/],
      [['expose', 'pod/lonely', '--port', '80'], 1, /pod\/lonely has no labels: a service selects pods by their labels/],
      [['expose', 'svc/manual', '--port', '80', '--name', 'manual2'], 1, /service\/manual has no selector to copy/],
      [['expose', 'deploy/web', '--port', '8080'], 1, /^Error from server \(AlreadyExists\): services "web" in namespace "expo" already exists\n$/],
    ];
    for (const [args, code, want] of cases) {
      const r = await tug([...args, '-n', NS]);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, want, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
    }
    assert.deepEqual(services(), before);
  });

  test('flags are checked before the cluster is asked anything', async () => {
    const r = await runCaptured(['expose', 'deploy/web', '--port', '99999', '--endpoints', '127.0.0.1:1'], {});
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--port: "99999" is not a port number/);
  });

  test('help: tug --help lists expose; expose --help has examples; get --help shows several kinds', async () => {
    let r = await tug(['--help']);
    assert.match(r.stdout, /\n {2}expose \[options\] <object\.\.\.>\s+create a service for the pods of a\s+deployment, replica set, pod or service\n/);
    r = await tug(['expose', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: tug expose TYPE\/NAME --port PORT \[options\]\n/);
    assert.match(r.stdout, /\nExamples:\n {2}tug expose deploy\/web --port 80 --target-port 8080\n/);
    for (const flag of ['--port', '--target-port', '--type', '--name', '--protocol', '--port-name', '--node-port']) assert.match(r.stdout, new RegExp(`\\n {2}${flag} <`));
    r = await tug(['get', '--help']);
    assert.match(r.stdout, /tug get svc,ep -n shop/);
  });
});
