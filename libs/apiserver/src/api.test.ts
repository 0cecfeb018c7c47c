// api.test.ts: the pure parts of the API: how store and Raft errors map to gRPC statuses and
// messages, and how a watch with selectors turns store events into what it delivers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFieldSelector, parseSelector } from '@tugboat/api';
import { Status } from '@tugboat/proto';
import { NotLeaderError, ProposalDroppedError, RaftStoppedError, RaftTimeoutError } from '@tugboat/raft';
import { AlreadyExistsError, ConflictError, ExpiredError, InvalidError, NotFoundError } from '@tugboat/store';
import type { StoredObject, WatchEvent } from '@tugboat/store';
import { filterEvent } from './objects.ts';
import { toGrpcError } from './errors.ts';

const ref = { kind: 'ConfigMap', namespace: 'default', name: 'web' };

test('store errors map to the status api.proto names, with messages a user can read', () => {
  const cases: [Error, 'create' | 'update' | 'delete' | 'txn', number, RegExp][] = [
    [new AlreadyExistsError('create ConfigMap default/web: it already exists', { ref, opIndex: 0 }), 'create', Status.ALREADY_EXISTS, /^configmaps "web" in namespace "default" already exists$/],
    [new NotFoundError('create ConfigMap nope/web: namespace nope not found', { ref: { ...ref, namespace: 'nope' }, opIndex: 0 }), 'create', Status.NOT_FOUND, /^namespaces "nope" not found/],
    [new NotFoundError('update ConfigMap default/web: not found', { ref, opIndex: 0 }), 'update', Status.NOT_FOUND, /^configmaps "web" in namespace "default" not found$/],
    [new ConflictError('update ...', { ref, opIndex: 0, expected: '5', actual: '7' }), 'update', Status.ABORTED, /expected resourceVersion 5, stored 7/],
    [new ConflictError('delete ...', { ref, opIndex: 2, expected: '5', actual: '7' }), 'txn', Status.ABORTED, /^ops\[2\]: Operation cannot be fulfilled on configmaps "web"/],
    [new ConflictError('delete ...', { ref, opIndex: 0, expected: 'u1', actual: 'u2', field: 'uid' }), 'delete', Status.ABORTED, /^Precondition failed on configmaps "web" in namespace "default": expected uid u1, stored u2/],
    [new InvalidError('ops[0]: metadata.uid must be filled by the proposer', {}), 'create', Status.INVALID_ARGUMENT, /metadata\.uid/],
    [new ExpiredError('watch from revision 3: history starts after revision 9', {}), 'create', Status.OUT_OF_RANGE, /history starts/],
  ];
  for (const [err, verb, code, message] of cases) {
    const g = toGrpcError(err, verb, verb);
    assert.equal(g.code, code, `${err.name} -> ${g.codeName}`);
    assert.match(g.message, message);
  }
});

test('Raft driver errors map to UNAVAILABLE (retry with the same request id) or DEADLINE_EXCEEDED', () => {
  assert.equal(toGrpcError(new NotLeaderError('not the leader', 'c2', '127.0.0.2:7401'), 'create').code, Status.UNAVAILABLE);
  assert.equal(toGrpcError(new ProposalDroppedError('entry 7 overwritten', 7), 'create').code, Status.UNAVAILABLE);
  assert.equal(toGrpcError(new RaftStoppedError('closed'), 'create').code, Status.UNAVAILABLE);
  assert.equal(toGrpcError(new RaftTimeoutError('no outcome'), 'create').code, Status.DEADLINE_EXCEEDED);
  assert.equal(toGrpcError(new Error('boom'), 'create').code, Status.INTERNAL);
});

function obj(name: string, rv: number, labels: Record<string, string>): StoredObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: String(rv), generation: 1, creationTimestamp: '2025-01-01T00:00:00Z', labels },
    spec: { nodeName: 'n1' },
  };
}

test('filtered watch: starts matching -> ADDED, stops matching -> DELETED at the change, else as stored', () => {
  const sel = { labels: parseSelector('tier=web'), fields: parseFieldSelector('') };
  const web1 = obj('a', 1, { tier: 'web' });
  const db2 = obj('a', 2, { tier: 'db' });
  const web3 = obj('a', 3, { tier: 'web', v: '2' });
  const web4 = obj('a', 4, { tier: 'web', v: '3' });
  const ev = (type: WatchEvent['type'], o: StoredObject, rev: number, prev?: StoredObject): WatchEvent =>
    prev === undefined ? { type, object: o, revision: rev } : { type, object: o, revision: rev, prevObject: prev };

  assert.deepEqual(filterEvent(sel, ev('ADDED', web1, 1)), ev('ADDED', web1, 1));
  const left = filterEvent(sel, ev('MODIFIED', db2, 2, web1));
  assert.equal(left?.type, 'DELETED');
  assert.deepEqual(left?.object.metadata.labels, { tier: 'web' }, 'DELETED carries the last matching state');
  assert.equal(left?.object.metadata.resourceVersion, '2', '... with the revision of the change');
  assert.equal(filterEvent(sel, ev('MODIFIED', web3, 3, db2))?.type, 'ADDED');
  assert.equal(filterEvent(sel, ev('MODIFIED', web4, 4, web3))?.type, 'MODIFIED');
  assert.equal(filterEvent(sel, ev('ADDED', db2, 2)), undefined);
  assert.equal(filterEvent(sel, ev('DELETED', db2, 5)), undefined);
  assert.equal(filterEvent(sel, ev('DELETED', web4, 5))?.type, 'DELETED');
  assert.equal(filterEvent(undefined, ev('MODIFIED', db2, 2, web1))?.type, 'MODIFIED', 'no selector: every event as stored');

  const byNode = { labels: parseSelector(''), fields: parseFieldSelector('spec.nodeName=n2') };
  const moved = { ...web1, spec: { nodeName: 'n2' }, metadata: { ...web1.metadata, resourceVersion: '6' } };
  assert.equal(filterEvent(byNode, ev('MODIFIED', moved, 6, web1))?.type, 'ADDED', 'field selectors count too');
});
