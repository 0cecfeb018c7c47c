// cli.test.ts: the real `tug` binary (node apps/cli/src/main.ts) against the in-process fake
// API on 127.0.0.1: apply, get, describe, delete, cluster, config contexts and exit codes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCaptured } from '@tugboat/cli';
import { issueCertificate, makeCa, newEncryptionKey } from '@tugboat/pki';
import { Server, bindServer, serverCredentials, shutdownServer } from '@tugboat/proto';
import { TestApi, TestApiServer } from '@tugboat/apiserver/testing';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let api: TestApi;
let server: TestApiServer;
let home: string;
let dead: string;

function baseEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('TUG_') && !k.startsWith('NODE_TEST')) env[k] = v;
  }
  return { ...env, HOME: home, TUG_ENDPOINTS: server.address, ...extra };
}

/** tug runs the binary; `onStdout` sees output as it comes (for -w). */
function tug(
  args: string[],
  opts: { env?: Record<string, string>; stdin?: string; onStdout?: (text: string, child: ReturnType<typeof spawn>) => void } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: baseEnv(opts.env ?? {}), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      opts.onStdout?.(stdout, child);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.stdin ?? '');
  });
}

/** tugIn runs tug in this process (same code as the binary, without main.ts), for the many
 *  small checks that need no separate process. */
const tugIn = (args: string[], env: Record<string, string> = {}): Promise<Result> => runCaptured(args, { env: { TUG_ENDPOINTS: server.address, ...env }, homedir: home });

async function deadAddress(): Promise<string> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

function file(name: string, text: string): string {
  const p = join(home, name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  return p;
}

const deployment = (replicas: number) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.25
`;

const service = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
    - port: 80
`;

before(async () => {
  api = new TestApi();
  server = await TestApiServer.start(api);
  home = mkdtempSync(join(tmpdir(), 'tug-cli-test-'));
  dead = await deadAddress();
});

after(async () => {
  await server.stop();
  rmSync(home, { recursive: true, force: true });
});

describe('tug apply', () => {
  test('created, then unchanged, then configured; a directory in name order; stdin', async () => {
    const dir = join(home, 'app');
    file('app/20-service.yaml', service);
    file('app/10-deployment.yml', deployment(2));
    file('app/README.md', 'not a manifest');

    let r = await tug(['apply', '-f', dir]);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'deployment.apps/web created\nservice/web created\n');
    assert.equal(r.code, 0);

    r = await tug(['apply', '-f', dir]);
    assert.equal(r.stdout, 'deployment.apps/web unchanged\nservice/web unchanged\n');
    assert.equal(r.code, 0);

    file('app/10-deployment.yml', deployment(3));
    r = await tug(['apply', '-f', dir]);
    assert.equal(r.stdout, 'deployment.apps/web configured\nservice/web unchanged\n');
    assert.equal(api.object('Deployment', 'default', 'web')?.['spec'] && (api.object('Deployment', 'default', 'web')!['spec'] as { replicas: number }).replicas, 3);

    r = await tug(['apply', '-f', '-'], { stdin: '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"a":"1"}}' });
    assert.equal(r.stdout, 'configmap/cfg created\n');
    assert.equal(r.code, 0);
  });

  test('keeps what the cluster filled in and removes what the user removed', async () => {
    // The cluster allocated a clusterIP when the service was created; a controller adds an annotation of its own.
    const svc = api.object('Service', 'default', 'web')!;
    const clusterIP = (svc.spec as { clusterIP: string }).clusterIP;
    assert.match(clusterIP, /^10\.96\./);
    api.write([
      {
        op: 'update',
        object: { ...svc, metadata: { ...svc.metadata, annotations: { ...svc.metadata.annotations, 'controller/seen': 'yes' } } },
      },
    ]);
    const path = file('svc.yaml', service.replace('  selector: {app: web}\n', '  selector: {app: web}\n  type: NodePort\n'));
    let r = await tug(['apply', '-f', path]);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'service/web configured\n');
    let stored = api.object('Service', 'default', 'web')!;
    assert.equal((stored['spec'] as { clusterIP: string }).clusterIP, clusterIP);
    assert.equal((stored['spec'] as { type: string }).type, 'NodePort');
    assert.equal((stored.metadata['annotations'] as Record<string, string>)['controller/seen'], 'yes');

    writeFileSync(path, service); // the user removes `type: NodePort` again
    r = await tug(['apply', '-f', path]);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'service/web configured\n');
    stored = api.object('Service', 'default', 'web')!;
    assert.equal((stored['spec'] as { type: string }).type, 'ClusterIP', 'back to the default');
    r = await tug(['apply', '-f', path]);
    assert.equal(r.stdout, 'service/web unchanged\n');
  });

  test('an invalid manifest: exit 1, every problem with its path, nothing written', async () => {
    const path = file(
      'bad.yaml',
      `apiVersion: v1
kind: ConfigMap
metadata: {name: fine}
---
apiVersion: v1
kind: Pod
metadata: {name: Bad_Name}
spec:
  containers:
    - name: c
      image: ""
      bogus: 1
---
apiVersion: v1
kind: Widget
metadata: {name: w}
`,
    );
    const rev = api.revision;
    const r = await tug(['apply', '-f', path]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /bad\.yaml: document 2 \(line 5\): Pod\/Bad_Name:\n {2}metadata\.name: .*DNS-1123/);
    assert.match(r.stderr, /\n {2}spec\.containers\[0\]\.image: /);
    assert.match(r.stderr, /\n {2}spec\.containers\[0\]\.bogus: unknown field/);
    assert.match(r.stderr, /document 3 \(line 14\): Widget\/w:\n {2}kind: unknown kind "Widget"/);
    assert.match(r.stderr, /nothing was applied: 2 objects are invalid/);
    assert.equal(api.revision, rev, 'nothing written');
    assert.equal(api.object('ConfigMap', 'default', 'fine'), undefined);
  });

  test('malformed YAML and a missing file exit 1; no -f exits 2', async () => {
    let r = await tugIn(['apply', '-f', file('broken.yaml', 'kind: [unclosed\n')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /broken\.yaml:\n {2}document 1 \(line \d+\): invalid YAML/);
    assert.match(r.stderr, /nothing was applied: 1 manifest does not parse\n$/);
    r = await tugIn(['apply', '-f', join(home, 'missing.yaml')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /missing\.yaml: no such file or directory/);
    r = await tugIn(['apply']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /required option '-f, --filename <path>' not specified/);
  });

  test('a request the server refuses exits 1 with its message', async () => {
    const r = await tug(['apply', '-f', '-'], {
      stdin: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: nowhere}\n',
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error from server \(NotFound\): namespaces "nowhere" not found \(create the Namespace first\) \(applying configmap\/x from <stdin>\)\n$/);
  });
});

describe('tug replace', () => {
  after(() => {
    // The other tests list the default namespace: leave nothing of ours in it.
    for (const [kind, name] of [['ConfigMap', 'rep'], ['Secret', 's1'], ['Secret', 's2']] as const) {
      if (api.object(kind, 'default', name) !== undefined) api.write([{ op: 'delete', ref: { kind, namespace: 'default', name } }]);
    }
  });
  const stdinOf = (text: string) => ({ readStdin: () => Promise.resolve(text) });
  const replace = (args: string[], stdin = ''): Promise<Result> =>
    runCaptured(['replace', ...args], { env: { TUG_ENDPOINTS: server.address }, homedir: home, ...stdinOf(stdin) });

  test('writes each object as written, also when nothing differs; a missing object fails it', async () => {
    api.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'rep', namespace: 'default' }, data: { a: '1' } });
    let r = await replace(['-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: rep}\ndata: {b: "2"}\n');
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'configmap/rep replaced\n');
    assert.deepEqual(api.object('ConfigMap', 'default', 'rep')!['data' as never], { b: '2' }, 'the whole object replaced, not merged');
    r = await replace(['-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nope}\n');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error from server \(NotFound\): configmaps "nope" in namespace "default" not found \(replacing configmap\/nope from <stdin>\)\n$/);
    r = await replace(['-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n');
    assert.match(r.stderr, /nothing was replaced: 1 object is invalid/);
  });

  test('get secrets -o yaml | replace -f - re-seals every Secret with the key the server seals with now', async () => {
    const [k1, k2] = [newEncryptionKey('k1'), newEncryptionKey('k2')];
    api.secretKeys = [k1];
    try {
      for (const name of ['s1', 's2']) {
        assert.equal((await tugIn(['apply', '-f', file(`${name}.yaml`, `apiVersion: v1\nkind: Secret\nmetadata: {name: ${name}}\nstringData: {password: pw-${name}}\n`)])).code, 0);
      }
      const sealedWith = (name: string): unknown => String(api.object('Secret', 'default', name)!['sealed' as never]).split(':')[3];
      assert.deepEqual([sealedWith('s1'), sealedWith('s2')], ['k1', 'k1']);
      api.secretKeys = [k2, k1];
      const listed = await tugIn(['get', 'secrets', '-o', 'yaml']);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, /password: cHctczE=/, 'get -o yaml shows the values');
      const r = await replace(['-f', '-'], listed.stdout);
      assert.equal(r.stderr, '');
      assert.equal(r.stdout, 'secret/s1 replaced\nsecret/s2 replaced\n');
      assert.deepEqual([sealedWith('s1'), sealedWith('s2')], ['k2', 'k2']);
      api.secretKeys = [k2];
      assert.match((await tugIn(['get', 'secret', 's2', '-o', 'yaml'])).stdout, /password: cHctczI=/);
      const shown = await tugIn(['describe', 'secret', 's1']);
      assert.match(shown.stdout, /password:\s+5 bytes/, shown.stderr);
      assert.ok(!shown.stdout.includes('cHctczE=') && !shown.stdout.includes('pw-s1'), 'describe shows sizes, not values');
    } finally {
      api.secretKeys = [];
    }
  });
});

describe('tug get', () => {
  before(() => {
    api.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });
    api.seed({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'api-1', namespace: 'team', labels: { app: 'api' } },
      spec: { nodeName: 'node-a', containers: [{ name: 'a', image: 'api:1' }, { name: 'b', image: 'side:1' }] },
      status: {
        phase: 'Running',
        podIP: '10.244.1.7',
        containerStatuses: [
          { name: 'a', ready: true, restartCount: 2, image: 'api:1', imageID: '', state: { running: {} } },
          { name: 'b', ready: false, restartCount: 1, image: 'side:1', imageID: '', state: { waiting: { reason: 'CrashLoopBackOff' } } },
        ],
      },
    });
    api.seed({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a', labels: { 'node-role.kubernetes.io/control': '' } }, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
    api.seed({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'node-a', namespace: 'tug-node-lease' },
      spec: { holderIdentity: 'node-a', leaseDurationSeconds: 8, renewTime: new Date(Date.now() - 3_000).toISOString() },
    });
  });

  test('pods as a table; -o wide adds IP and NODE; -A adds NAMESPACE', async () => {
    let r = await tug(['get', 'po', '-n', 'team']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\napi-1\s+1\/2\s+CrashLoopBackOff\s+3\s+\d+s\n$/);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0]!.indexOf('STATUS'), lines[1]!.indexOf('CrashLoopBackOff'), 'columns line up');

    r = await tug(['get', 'pods', 'api-1', '-n', 'team', '-o', 'wide']);
    assert.match(r.stdout, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\napi-1\s+1\/2\s+CrashLoopBackOff\s+3\s+\d+s\s+10\.244\.1\.7\s+node-a\n$/);

    r = await tug(['get', 'pods', '-A']);
    assert.match(r.stdout, /^NAMESPACE\s+NAME\s+READY/);
    assert.match(r.stdout, /\nteam\s+api-1\s+1\/2/);

    r = await tug(['get', 'pods']);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'No resources found in default namespace.\n');
    assert.equal(r.code, 0);
  });

  test('short names and per-kind columns', async () => {
    const heads: Record<string, RegExp> = {
      deploy: /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\nweb\s+0\/3\s+0\s+0\s+\d+s\n$/,
      svc: /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\nweb\s+ClusterIP\s+10\.96\.\d+\.\d+\s+<none>\s+80\/TCP\s+\d+s\n$/,
      cm: /^NAME\s+DATA\s+AGE\ncfg\s+1\s+\d+s\n$/,
      ns: /^NAME\s+STATUS\s+AGE\ndefault\s+Active\s+\d+s\nteam\s+Active\s+\d+s\ntug-node-lease\s+Active\s+\d+s\n$/,
      no: /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\nnode-a\s+Ready\s+control\s+\d+s\s+<none>\n$/,
    };
    for (const [kind, want] of Object.entries(heads)) {
      const r = await tugIn(['get', kind]);
      assert.equal(r.code, 0, `${kind}: ${r.stderr}`);
      assert.match(r.stdout, want, kind);
    }
    const r = await tugIn(['get', 'leases', '-n', 'tug-node-lease']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NAME\s+HOLDER\s+RENEWED\s+AGE\nnode-a\s+node-a\s+\d+s\s+\d+s\n$/, 'leases');
  });

  test('get nodes: a heartbeat is the later of the Lease renewal and the status; 40 s without one reads NotReady', async () => {
    const old = new Date(Date.now() - 120_000).toISOString();
    const node = (name: string) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name }, status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: old }] } });
    const lease = (name: string, renewTime: string) => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'tug-node-lease' }, spec: { holderIdentity: name, renewTime } });
    api.seed(node('hb-leased'));
    api.seed(lease('hb-leased', new Date().toISOString()));
    api.seed(node('hb-lapsed'));
    api.seed(lease('hb-lapsed', old));
    api.seed(node('hb-old-agent'));
    try {
      const r = await tugIn(['get', 'nodes']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /\nhb-leased\s+Ready\s/, 'the Lease is renewed: Ready though the status is 2 minutes old');
      assert.match(r.stdout, /\nhb-lapsed\s+NotReady\s/, 'neither renewed for 2 minutes');
      assert.match(r.stdout, /\nhb-old-agent\s+NotReady\s/, 'no Lease: the status alone');
    } finally {
      for (const name of ['hb-leased', 'hb-lapsed', 'hb-old-agent']) {
        api.write([{ op: 'delete', ref: { kind: 'Node', name } }]);
        if (name !== 'hb-old-agent') api.write([{ op: 'delete', ref: { kind: 'Lease', namespace: 'tug-node-lease', name } }]);
      }
    }
  });

  test('-o yaml, json and name; -l selects', async () => {
    let r = await tug(['get', 'deploy', 'web', '-o', 'yaml']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^apiVersion: apps\/v1\nkind: Deployment\nmetadata:\n {2}name: web\n/);
    assert.match(r.stdout, /\n {2}replicas: 3\n/);

    r = await tug(['get', 'deployment/web', '-o', 'json']);
    const obj = JSON.parse(r.stdout) as { kind: string; metadata: { name: string } };
    assert.equal(obj.kind, 'Deployment');
    assert.equal(obj.metadata.name, 'web');

    r = await tug(['get', 'pods', '-A', '-o', 'json']);
    const list = JSON.parse(r.stdout) as { kind: string; items: { metadata: { name: string } }[] };
    assert.equal(list.kind, 'List');
    assert.deepEqual(
      list.items.map((i) => i.metadata.name),
      ['api-1'],
    );


    r = await tug(['get', 'pods', '-A', '-o', 'name', '-l', 'app=api']);
    assert.equal(r.stdout, 'pod/api-1\n');
    r = await tugIn(['get', 'pods', '-A', '-o', 'name', '-l', 'app=other']);
    assert.equal(r.stdout, '');
    r = await tugIn(['get', 'deploy,svc', '-o', 'name']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'deployment.apps/web\nservice/web\n', 'several kinds, comma-separated');
  });

  test('a missing object exits 1 with the server message', async () => {
    const r = await tug(['get', 'pod', 'nope']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'Error from server (NotFound): pods "nope" in namespace "default" not found\n');
  });

  test('usage errors exit 2 and name the problem', async () => {
    let r = await tug(['get', 'widgets']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown kind or resource "widgets"; known kinds: Namespace \(namespaces, ns\), Node \(nodes, no\), Pod \(pods, po\)/);
    r = await tugIn(['get', 'pods', '--bogus']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option '--bogus'/);
    r = await tugIn(['get']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing required argument 'kind'/);
    r = await tugIn(['get', 'pods', '-o', 'table']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown output format "table" for get; use one of: wide, yaml, json, name/);
    r = await tugIn(['get', 'pods', '-n', 'x', '-A']);
    assert.equal(r.code, 2);
    r = await tugIn(['get', 'pods', '-l', 'a in (']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /invalid label selector/);
    r = await tugIn(['frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
    r = await tugIn([]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Usage: tug/);
  });

  test('-w prints the current rows, then each change as it arrives', async () => {
    let saw = '';
    let changed = false;
    const r = await tug(['get', 'cm', '-w'], {
      onStdout: (text, child) => {
        saw = text;
        if (!changed && /cfg/.test(text)) {
          changed = true;
          api.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'live', namespace: 'default' }, data: { a: '1', b: '2' } });
        }
        if (/live/.test(text)) child.kill('SIGINT');
      },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(saw, /^NAME\s+DATA\s+AGE\ncfg\s+1\s+\d+s\nlive\s+2\s+\d+s\n$/);
  });
});

describe('tug describe and delete', () => {
  test('describe shows sections and the events about the object', async () => {
    api.seed({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'api-1.1', namespace: 'team' },
      involvedObject: { kind: 'Pod', name: 'api-1', namespace: 'team' },
      reason: 'BackOff',
      message: 'Back-off restarting failed container b',
      type: 'Warning',
      source: { component: 'agent' },
      lastTimestamp: new Date().toISOString(),
    });
    const r = await tug(['describe', 'pod', 'api-1', '-n', 'team']);
    assert.equal(r.code, 0, r.stderr);
    for (const want of [
      /^Name:\s+api-1\nNamespace:\s+team\nLabels:\s+app=api\n/,
      /\nNode:\s+node-a\n/,
      /\nStatus:\s+CrashLoopBackOff\n/,
      /\nIP:\s+10\.244\.1\.7\n/,
      /\nContainers:\n {2}a:\n {4}Image:\s+api:1\n/,
      /\n {4}State:\s+Waiting\n\s+Reason: CrashLoopBackOff\n/,
      /\nEvents:\n {2}Type\s+Reason\s+Age\s+From\s+Message\n {2}----\s+------\s+---\s+----\s+-------\n {2}Warning\s+BackOff\s+\d+s\s+agent\s+Back-off restarting failed container b\n$/,
    ]) {
      assert.match(r.stdout, want);
    }
  });

  test('describe node shows the heartbeat and its age, pod CIDR, capacity, addresses and agent endpoint', async () => {
    const beat = new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
    api.seed({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'node-d' },
      spec: { podCIDR: '10.244.4.0/24' },
      status: {
        capacity: { cpu: '2', memory: '2048Mi', pods: '110' },
        allocatable: { cpu: '2', memory: '1948Mi', pods: '110' },
        conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady', lastHeartbeatTime: beat }],
        addresses: [{ type: 'InternalIP', address: '172.30.0.14' }, { type: 'Hostname', address: 'node-d' }],
        daemonEndpoints: { agentEndpoint: { port: 7402 } },
      },
    });
    const r = await tug(['describe', 'node', 'node-d']);
    assert.equal(r.code, 0, r.stderr);
    for (const want of [
      /\nStatus:\s+NotReady\n/,
      new RegExp(`\\nHeartbeat:\\s+${beat} \\(6\\ds ago\\) \\(stale\\)\\n`),
      /\nPodCIDR:\s+10\.244\.4\.0\/24\n/,
      /\nAddresses:\n {2}InternalIP: 172\.30\.0\.14\n {2}Hostname: node-d\n/,
      /\nAgent Endpoint:\s+172\.30\.0\.14:7402\n/,
      /\nCapacity:\s+cpu: 2\n\s+memory: 2048Mi\n\s+pods: 110\n/,
      /\nAllocatable:\s+cpu: 2\n\s+memory: 1948Mi\n/,
    ]) {
      assert.match(r.stdout, want);
    }
    assert.doesNotMatch(r.stdout, /\nLease:/, 'a Node without a Lease (an older agent) has no Lease section');
  });

  test('describe node shows its Lease as kubectl does, and the renewal as the heartbeat', async () => {
    const statusBeat = new Date(Date.now() - 600_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const renewed = new Date(Date.now() - 2_000).toISOString();
    api.seed({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-l' }, status: { conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady', lastHeartbeatTime: statusBeat }] } });
    api.seed({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'node-l', namespace: 'tug-node-lease' }, spec: { holderIdentity: 'node-l', leaseDurationSeconds: 8, renewTime: renewed } });
    const r = await tugIn(['describe', 'node', 'node-l']);
    assert.equal(r.code, 0, r.stderr);
    for (const want of [
      /\nStatus:\s+Ready\n/,
      new RegExp(`\\nHeartbeat:\\s+${renewed.replace(/\./g, '\\.')} \\([23]s ago\\)\\n`),
      new RegExp(`\\nLease:\\n {2}HolderIdentity:\\s+node-l\\n {2}AcquireTime:\\s+<unset>\\n {2}RenewTime:\\s+${renewed.replace(/\./g, '\\.')} \\([23]s ago\\)\\n`),
    ]) {
      assert.match(r.stdout, want);
    }
    const lease = await tugIn(['describe', 'lease', 'node-l', '-n', 'tug-node-lease']);
    assert.equal(lease.code, 0, lease.stderr);
    assert.match(lease.stdout, /\nHolder Identity:\s+node-l\nLease Duration Seconds:\s+8\nAcquire Time:\s+<none>\nRenew Time:\s+\S+ \([23]s ago\)\nLease Transitions:\s+<none>\n/);
  });

  test('delete by name, by manifest, and a missing one', async () => {
    let r = await tug(['delete', 'cm', 'cfg', 'live']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'configmap "cfg" deleted\nconfigmap "live" deleted\n');
    assert.equal(api.object('ConfigMap', 'default', 'cfg'), undefined);

    r = await tug(['delete', '-f', join(home, 'app')]);
    assert.equal(r.stdout, 'deployment.apps "web" deleted\nservice "web" deleted\n');
    assert.equal(r.code, 0);

    r = await tug(['delete', 'svc', 'web']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'Error from server (NotFound): services "web" in namespace "default" not found\n');
    r = await tugIn(['delete', 'svc', 'web', '--ignore-not-found']);
    assert.equal(r.code, 0);
    r = await tugIn(['delete', 'svc']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /give the NAME of the Service to delete/);
  });
});

describe('tug cluster and endpoints', () => {
  before(() => {
    api.members = [
      { name: 'c1', peerAddress: '127.0.0.1:7401', apiAddress: server.address, role: 'leader', term: 4, commit: 120, applied: 119, leader: 'c1', reachable: true, error: '', rssBytes: 150 * 2 ** 20, heapUsedBytes: 64.5 * 2 ** 20 },
      { name: 'c2', peerAddress: '127.0.0.2:7401', apiAddress: '127.0.0.2:7400', role: 'unknown', term: 0, commit: 0, applied: 0, leader: '', reachable: false, error: 'connection refused' },
    ];
  });

  test('cluster status: a table, and -o json', async () => {
    let r = await tug(['cluster', 'status', '--endpoints', `${dead},${server.address}`]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME\s+ADDRESS\s+ROLE\s+TERM\s+COMMIT\s+APPLIED\s+REACHABLE\s+ERROR$/);
    assert.match(lines[1]!, new RegExp(`^c1\\s+${server.address}\\s+leader\\s+4\\s+120\\s+119\\s+yes$`));
    assert.match(lines[2]!, /^c2\s+127\.0\.0\.2:7400\s+unknown\s+0\s+0\s+0\s+no\s+connection refused$/);

    r = await tug(['cluster', 'status', '-o', 'wide']);
    const wide = r.stdout.trimEnd().split('\n');
    assert.match(wide[0]!, /\sPEER-ADDRESS\s+LEADER\s+RSS\s+HEAP\s+ERROR$/);
    assert.match(wide[1]!, /\s127\.0\.0\.1:7401\s+c1\s+150Mi\s+64Mi$/);
    assert.match(wide[2]!, /\s127\.0\.0\.2:7401\s+<none>\s+<unknown>\s+<unknown>\s+connection refused$/);

    r = await tug(['cluster', 'status', '-o', 'json']);
    const doc = JSON.parse(r.stdout) as { clusterId: string; members: { name: string; role: string; term: number; commit: number; applied: number; reachable: boolean }[] };
    assert.equal(doc.clusterId, 'test-cluster');
    assert.deepEqual(
      doc.members.map((m) => [m.name, m.role, m.term, m.commit, m.applied, m.reachable]),
      [
        ['c1', 'leader', 4, 120, 119, true],
        ['c2', 'unknown', 0, 0, 0, false],
      ],
    );
  });

  test('cluster member add and remove', async () => {
    let r = await tug(['cluster', 'member', 'add', 'c3', '--peer-address', '127.0.0.3:7401', '--api-address', '127.0.0.3:7400']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^member "c3" added\nNAME/);
    assert.deepEqual(
      api.members.map((m) => m.name),
      ['c1', 'c2', 'c3'],
    );
    r = await tugIn(['cluster', 'member', 'remove', 'c3']);
    assert.match(r.stdout, /^member "c3" removed\n/);
    r = await tug(['cluster', 'member', 'remove', 'c3']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'Error from server (NotFound): member "c3" not found\n');
    r = await tugIn(['cluster', 'member', 'add', 'c4', '--peer-address', 'nope']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--api-address/);
  });

  test('no endpoint reachable: exit 1 naming each endpoint and why', async () => {
    const other = await deadAddress();
    const r = await tug(['cluster', 'status', '--endpoints', `${dead},${other}`]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `error: cannot reach the cluster at any endpoint:\n  ${dead}: unreachable (connect ECONNREFUSED ${dead})\n  ${other}: unreachable (connect ECONNREFUSED ${other})\n`,
    );
  });

  test('a cluster with TLS dialled in plain text: the error says how to give certificates', async () => {
    const ca = await makeCa('t');
    const pair = await issueCertificate(ca, { role: 'member', commonName: 'c1', ipAddresses: ['127.0.0.1'] });
    const tlsServer = new Server();
    const port = await bindServer(tlsServer, '127.0.0.1:0', serverCredentials({ tls: { ca: Buffer.from(ca.certPem), cert: Buffer.from(pair.certPem), key: Buffer.from(pair.keyPem) } }, () => undefined));
    try {
      const r = await tug(['get', 'nodes', '--endpoints', `127.0.0.1:${port}`, '--request-timeout', '2s']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error: cannot reach the cluster at any endpoint:\n/);
      assert.match(r.stderr, /\(tug dialled in plain text, which a cluster with TLS drops: give --certificate-authority, --client-certificate and --client-key, or use a context that has them\)\n$/);
    } finally {
      await shutdownServer(tlsServer, 100);
    }
  });

  test('config file contexts; --context, TUG_ENDPOINTS and --endpoints win in that order', async () => {
    const cfg = `current-context: live
contexts:
  - name: live
    endpoints: [${server.address}]
    namespace: team
  - name: gone
    endpoints: [${dead}]
`;
    file('.tug/config', cfg);
    const noEnv = { TUG_ENDPOINTS: '' };
    let r = await tug(['get', 'pods', '-o', 'name'], { env: noEnv });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'pod/api-1\n', 'the current context and its namespace');

    r = await tug(['get', 'pods', '--context', 'gone'], { env: noEnv });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${dead}: unreachable`));

    r = await tug(['get', 'pods', '--context', 'gone', '--endpoints', server.address, '-n', 'team', '-o', 'name'], { env: noEnv });
    assert.equal(r.stdout, 'pod/api-1\n');

    r = await tug(['get', 'ns', '-o', 'name'], { env: { TUG_ENDPOINTS: dead } });
    assert.equal(r.code, 1, 'TUG_ENDPOINTS wins over the current context');

    r = await tugIn(['get', 'pods', '--context', 'nope'], noEnv);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no context "nope" in .*config; known contexts: live, gone/);

    const other = file('other-config', `contexts:\n  - name: x\n    endpoints: not-an-address\n`);
    r = await tugIn(['get', 'ns', '--config', other], noEnv);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /contexts\[0\]\.endpoints: "not-an-address" is not HOST:PORT/);

    r = await tugIn(['get', 'ns', '-o', 'name'], { ...noEnv, TUG_CONFIG: join(home, '.tug', 'config') });
    assert.equal(r.stdout, 'namespace/default\nnamespace/team\nnamespace/tug-node-lease\n');
    rmSync(join(home, '.tug'), { recursive: true });
  });

  test('--help on every command, and version', async () => {
    const bin = await tug(['--help']);
    assert.equal(bin.code, 0);
    assert.match(bin.stdout, /^Usage: tug \[options\] COMMAND\n/);
    for (const args of [['get', '--help'], ['describe', '--help'], ['apply', '--help'], ['replace', '--help'], ['delete', '--help'], ['cluster', 'status', '--help'], ['cluster', 'member', 'add', '--help'], ['expose', '--help'], ['version', '--help']]) {
      const r = await tugIn(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.stdout, /^Usage: tug /);
    }
    const r = await tugIn(['version']);
    assert.equal(r.stdout, 'Client Version: 0.1.0\n');
  });
});
