import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { ForwardRequestSchema, Metadata, Status } from '@tugboat/proto';
import type { CallContext } from '@tugboat/proto';
import { forwardService } from './forward.ts';
import { objectService } from './objects.ts';
import { TestApi } from './test-server.ts';

const ctx: CallContext = { method: {} as CallContext['method'], metadata: new Metadata(), peer: 'test', deadline: Infinity, signal: new AbortController().signal };
const cm = (name: string): Uint8Array => new TextEncoder().encode(JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } }));

test('the leader runs each forwarded write as ObjectService would and answers each outcome in order', async () => {
  const api = new TestApi();
  const forward = forwardService(objectService(api));
  const res = await forward.forward(
    create(ForwardRequestSchema, {
      writes: [
        { call: { case: 'create', value: { object: cm('a'), requestId: 'r-a' } }, timeoutMs: 1_000 },
        { call: { case: 'create', value: { object: cm('a') } }, timeoutMs: 1_000 },
        { call: { case: 'create', value: { object: cm('Bad_Name') } }, timeoutMs: 1_000 },
        { call: { case: 'delete', value: { ref: { kind: 'ConfigMap', namespace: 'default', name: 'a' } } }, timeoutMs: 1_000 },
        { timeoutMs: 1_000 },
      ],
    }),
    ctx,
  );
  const results = res.results ?? [];
  assert.equal(results.length, 5);
  assert.equal(results[0]!.outcome?.case, 'create');
  assert.deepEqual([results[1]!.code, results[1]!.message], [Status.ALREADY_EXISTS, 'configmaps "a" in namespace "default" already exists']);
  assert.equal(results[2]!.code, Status.INVALID_ARGUMENT);
  assert.equal(results[3]!.outcome?.case, 'delete');
  assert.equal(results[4]!.code, Status.INVALID_ARGUMENT);
  assert.equal(api.object('ConfigMap', 'default', 'a'), undefined, 'the create, then the delete, were applied');
});
