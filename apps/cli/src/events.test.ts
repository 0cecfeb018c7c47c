// events.test.ts: `tug get events` (oldest first by when last seen, --for KIND/NAME, -A, -w)
// and the Events section of `tug describe`, against the fake API on 127.0.0.1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCaptured } from '@tugboat/cli';
import { TestApi, TestApiServer } from '@tugboat/apiserver/testing';

const NOW = Date.parse('2024-05-01T10:00:00Z');
const ago = (s: number) => new Date(NOW - s * 1000).toISOString().replace(/\.000Z$/, 'Z');

let api: TestApi;
let server: TestApiServer;
let home: string;

const tug = (args: string[], signal?: AbortSignal, onOutput?: (out: string) => void) =>
  runCaptured(args, { env: { TUG_ENDPOINTS: server.address }, homedir: home, now: () => NOW, signal, onStdout: onOutput });

function event(name: string, namespace: string, about: { kind: string; name: string }, reason: string, lastAgo: number, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name, namespace },
    involvedObject: { ...about, namespace },
    reason,
    message: `${reason} of ${about.name}`,
    type: 'Normal',
    source: { component: 'deployment-controller' },
    firstTimestamp: ago(lastAgo),
    lastTimestamp: ago(lastAgo),
    count: 1,
    ...extra,
  };
}

before(async () => {
  api = new TestApi();
  server = await TestApiServer.start(api);
  home = mkdtempSync(join(tmpdir(), 'tug-events-test-'));
  api.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } });
  api.seed({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default' },
    spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'web:1' }] } } },
  });
  // Names in the opposite order of time, so that sorting by name would show.
  api.seed(event('a-newest', 'default', { kind: 'Pod', name: 'web-1' }, 'Started', 5));
  api.seed(event('b-middle', 'default', { kind: 'Deployment', name: 'web' }, 'ScalingReplicaSet', 60, { count: 3, firstTimestamp: ago(600) }));
  api.seed(event('c-oldest', 'default', { kind: 'Deployment', name: 'web' }, 'ScalingReplicaSet', 300));
  api.seed(event('d-elsewhere', 'other', { kind: 'Deployment', name: 'web' }, 'Killing', 30, { type: 'Warning' }));
});

after(async () => {
  await server.stop();
  rmSync(home, { recursive: true, force: true });
});

describe('tug get events', () => {
  test('oldest first by when last seen, with how often an event recurred', async () => {
    const r = await tug(['get', 'events']);
    assert.equal(r.stderr, '');
    assert.equal(
      r.stdout,
      [
        'LAST SEEN           TYPE     REASON              OBJECT           MESSAGE',
        '5m                  Normal   ScalingReplicaSet   deployment/web   ScalingReplicaSet of web',
        '60s (x3 over 10m)   Normal   ScalingReplicaSet   deployment/web   ScalingReplicaSet of web',
        '5s                  Normal   Started             pod/web-1        Started of web-1',
        '',
      ].join('\n'),
    );
  });

  test('--for KIND/NAME keeps the events about that object; -A every namespace', async () => {
    let r = await tug(['get', 'events', '--for', 'deploy/web']);
    assert.deepEqual(
      r.stdout.trim().split('\n').map((l) => l.split(/\s{3,}/)[0]),
      ['LAST SEEN', '5m', '60s (x3 over 10m)'],
    );
    r = await tug(['get', 'ev', '-A', '--for', 'deployment/web']);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /^NAMESPACE\s+LAST SEEN\s+TYPE/);
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(/\s+/)[0]),
      ['default', 'default', 'other'],
    );
    assert.match(lines[3]!, /^other\s+30s\s+Warning\s+Killing\s+deployment\/web\s+Killing of web$/);
    r = await tug(['get', 'events', '--for', 'pod/nothing']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'No resources found in default namespace.\n');
  });

  test('usage errors: --for with another kind, a malformed or unknown --for', async () => {
    for (const args of [
      ['get', 'pods', '--for', 'deploy/web'],
      ['get', 'events', '--for', 'web'],
      ['get', 'events', '--for', 'deploy/'],
      ['get', 'events', '--for', 'gizmo/web'],
    ]) {
      assert.equal((await tug(args)).code, 2, args.join(' '));
    }
  });

  test('-w --for prints the new events about the object only', async () => {
    const ac = new AbortController();
    let seen = 0;
    const watching = tug(['get', 'events', '-w', '--for', 'deploy/web'], ac.signal, (out) => {
      const lines = out.trim().split('\n').length;
      if (lines === 3 && seen === 0) {
        seen = 1;
        api.seed(event('e-pod', 'default', { kind: 'Pod', name: 'web-2' }, 'Pulled', 1));
        api.seed(event('f-deploy', 'default', { kind: 'Deployment', name: 'web' }, 'ScalingReplicaSet', 0, { message: 'Scaled up to 2' }));
      }
      if (lines === 4) ac.abort();
    });
    const r = await watching;
    assert.equal(r.code, 0);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 4);
    assert.match(lines[3]!, /^0s\s+Normal\s+ScalingReplicaSet\s+deployment\/web\s+Scaled up to 2$/);
  });
});

describe('tug describe', () => {
  test('shows the events about the object, oldest first', async () => {
    const r = await tug(['describe', 'deploy/web']);
    assert.equal(r.code, 0);
    const section = r.stdout.slice(r.stdout.indexOf('Events:'));
    assert.match(section, /^Events:\n {2}Type\s+Reason\s+Age\s+From\s+Message\n.*\n {2}Normal\s+ScalingReplicaSet\s+5m\s+deployment-controller\s+ScalingReplicaSet of web\n {2}Normal\s+ScalingReplicaSet\s+60s/);
    assert.doesNotMatch(section, /Killing|Started/);
  });
});
