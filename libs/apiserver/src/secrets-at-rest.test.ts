// secrets-at-rest.test.ts: Secrets through the real ObjectService over gRPC (TestApiServer, its
// in-memory store) with encryption keys: what is proposed, stored and snapshotted holds no
// value in clear, while create, get, list, watch and txn answer the values; an update that
// changes nothing stays a no-op; Secrets written in clear are read and sealed by their next
// write; a key rotation; a Secret sealed with a key the member lacks is named, and deletable.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newEncryptionKey } from '@tugboat/pki';
import { ObjectService, Status, createClient, isGrpcError } from '@tugboat/proto';
import type { CallContext, ServiceClient } from '@tugboat/proto';
import type { Op, StoredObject } from '@tugboat/store';
import type { WriteVerb } from './errors.ts';
import { SEALED_FIELD, sealedWith } from './secret-encryption.ts';
import { TestApi, TestApiServer } from './test-server.ts';

/** RecordingApi keeps every command proposed: what the Raft log would hold. */
class RecordingApi extends TestApi {
  readonly proposed: (readonly Op[])[] = [];
  override propose(ops: readonly Op[], requestId: string, ctx: CallContext, verb: WriteVerb): Promise<readonly (StoredObject | null)[]> {
    this.proposed.push(ops);
    return super.propose(ops, requestId, ctx, verb);
  }
}

const k1 = newEncryptionKey('k1');
const k2 = newEncryptionKey('k2');
const clearValue = 'open-sesame-4711';
const b64 = Buffer.from(clearValue).toString('base64');
const enc = new TextEncoder();
const dec = new TextDecoder();

type Json = Record<string, unknown>;
const bytes = (o: unknown): Uint8Array => enc.encode(JSON.stringify(o));
const parsed = (b: Uint8Array): Json => JSON.parse(dec.decode(b)) as Json;
const secret = (name: string, extra: Json = {}): Json => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'default', labels: { app: 'db' } }, stringData: { password: clearValue }, ...extra });
const ref = (name: string) => ({ kind: 'Secret', namespace: 'default', name });

function assertNoValue(what: string, text: string): void {
  assert.ok(!text.includes(clearValue), `${what} holds the value in clear`);
  assert.ok(!text.includes(b64), `${what} holds the value's base64`);
}

describe('Secrets at rest, through the API', () => {
  const api = new RecordingApi({ secretKeys: [k1] });
  let server: TestApiServer;
  let client: ServiceClient<typeof ObjectService>;
  before(async () => {
    server = await TestApiServer.start(api);
    client = createClient(ObjectService, server.address);
  });
  after(async () => {
    client.close();
    await server.stop();
  });

  it('stores, proposes and snapshots only sealed values; create, get, list, watch and txn answer the values', async () => {
    const from = api.revision;
    const created = parsed((await client.create({ object: bytes(secret('db')) })).object);
    assert.deepEqual(created['data'], { password: b64 }, 'the answer holds the value (stringData folded into data)');

    const stored = api.object('Secret', 'default', 'db')!;
    assert.equal(sealedWith(stored), 'k1');
    assert.equal((stored as unknown as Json)['data'], undefined);
    assert.deepEqual(stored.metadata.labels, { app: 'db' }, 'metadata stays in clear');
    assertNoValue('the stored object', JSON.stringify(stored));
    assertNoValue('the proposed commands', JSON.stringify(api.proposed));
    assertNoValue('the snapshot', dec.decode(api.store.snapshot()));

    const got = parsed((await client.get({ ref: ref('db') })).object);
    assert.deepEqual(got['data'], { password: b64 });
    assert.equal(got[SEALED_FIELD], undefined);
    const listed = (await client.list({ kind: 'Secret', namespace: 'default', labelSelector: 'app=db' })).items.map(parsed);
    assert.deepEqual(listed.map((o) => o['data']), [{ password: b64 }], 'list, with a label selector on the clear metadata');

    const txn = await client.txn({ ops: [{ op: { case: 'create', value: bytes(secret('in-txn')) }, expectedResourceVersion: '' }] });
    assert.deepEqual(parsed(txn.objects[0]!)['data'], { password: b64 });
    assertNoValue('a Secret made by a txn', JSON.stringify(api.object('Secret', 'default', 'in-txn')));

    const events: [string, unknown][] = [];
    for await (const ev of client.watch({ kind: 'Secret', namespace: 'default', fromRevision: BigInt(from) })) {
      events.push([ev.type, parsed(ev.object)['data']]);
      if (events.length === 2) break;
    }
    assert.deepEqual(events, [['ADDED', { password: b64 }], ['ADDED', { password: b64 }]]);
  });

  it('an update that changes nothing stays a no-op; a change is sealed anew', async () => {
    const cur = parsed((await client.get({ ref: ref('db') })).object);
    const before = api.object('Secret', 'default', 'db')!;
    const revision = api.revision;
    const same = parsed((await client.update({ object: bytes(cur) })).object);
    assert.equal((same['metadata'] as Json)['resourceVersion'], before.metadata.resourceVersion, 'no new resourceVersion');
    assert.equal(api.revision, revision + 1, 'the entry only advanced the revision');
    assert.deepEqual(api.object('Secret', 'default', 'db'), before, 'the stored object is as it was, sealed value and all');
    assert.deepEqual(same['data'], { password: b64 });

    const changed = parsed((await client.update({ object: bytes({ ...cur, data: { password: b64, user: Buffer.from('admin').toString('base64') } }) })).object);
    assert.notEqual((changed['metadata'] as Json)['resourceVersion'], before.metadata.resourceVersion);
    const after = api.object('Secret', 'default', 'db')!;
    assert.notEqual((after as unknown as Json)[SEALED_FIELD], (before as unknown as Json)[SEALED_FIELD]);
    assertNoValue('the updated object', JSON.stringify(after));
  });

  it('an immutable Secret is checked against its opened values', async () => {
    await client.create({ object: bytes(secret('frozen', { immutable: true })) });
    const cur = parsed((await client.get({ ref: ref('frozen') })).object);
    await client.update({ object: bytes(cur) });
    await assert.rejects(client.update({ object: bytes({ ...cur, data: { password: 'b3RoZXI=' } }) }), (e: unknown) =>
      isGrpcError(e, Status.INVALID_ARGUMENT) && /data: field is immutable/.test((e as Error).message),
    );
  });

  it('a Secret written in clear (before encryption) is read, and sealed by its next write even when nothing changes', async () => {
    api.seed({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'legacy', namespace: 'default' }, data: { password: b64 } });
    assert.equal(sealedWith(api.object('Secret', 'default', 'legacy')!), undefined);
    const cur = parsed((await client.get({ ref: ref('legacy') })).object);
    assert.deepEqual(cur['data'], { password: b64 });
    await client.update({ object: bytes(cur) });
    assert.equal(sealedWith(api.object('Secret', 'default', 'legacy')!), 'k1');
    assert.deepEqual(parsed((await client.get({ ref: ref('legacy') })).object)['data'], { password: b64 });
  });

  it('rotation: new key second, then first (old values read, an unchanged write re-seals), then the old key removed', async () => {
    await client.create({ object: bytes(secret('rot-a')) });
    await client.create({ object: bytes(secret('rot-b')) });
    api.secretKeys = [k1, k2];
    const a = parsed((await client.get({ ref: ref('rot-a') })).object);
    const rv = api.object('Secret', 'default', 'rot-a')!.metadata.resourceVersion;
    await client.update({ object: bytes(a) });
    assert.equal(api.object('Secret', 'default', 'rot-a')!.metadata.resourceVersion, rv, 'the new key second: still a no-op');

    api.secretKeys = [k2, k1];
    assert.deepEqual(parsed((await client.get({ ref: ref('rot-a') })).object)['data'], { password: b64 }, 'sealed with k1, read with k2 first');
    await client.update({ object: bytes(a) });
    assert.equal(sealedWith(api.object('Secret', 'default', 'rot-a')!), 'k2', 'the same values written again: re-sealed with k2');
    assert.notEqual(api.object('Secret', 'default', 'rot-a')!.metadata.resourceVersion, rv);

    api.secretKeys = [k2];
    assert.deepEqual(parsed((await client.get({ ref: ref('rot-a') })).object)['data'], { password: b64 });
    const refused = (e: unknown): boolean =>
      isGrpcError(e, Status.FAILED_PRECONDITION) &&
      e.message === `secrets "rot-b" in namespace "default" cannot be read on member test-api: sealed with encryption key "k1", which this member does not have (this member's keys are "k2"); add key "k1" to its --encryption-key-file (docs/security.md, Secrets at rest)`;
    await assert.rejects(client.get({ ref: ref('rot-b') }), refused);
    await assert.rejects(client.list({ kind: 'Secret', namespace: 'default' }), (e: unknown) =>
      isGrpcError(e, Status.FAILED_PRECONDITION) && /^secrets "db" in namespace "default" cannot be read on member test-api: sealed with encryption key "k1"/.test(e.message),
    );
    const b = { ...secret('rot-b'), metadata: { name: 'rot-b', namespace: 'default' } };
    await assert.rejects(client.update({ object: bytes(b) }), refused);

    // The way out without the key: delete it (the answer and the DELETED event carry no values) and create it again.
    const from = api.revision;
    const gone = parsed((await client.delete({ ref: ref('rot-b') })).object);
    assert.deepEqual([gone['data'], gone[SEALED_FIELD], (gone['metadata'] as Json)['name']], [undefined, undefined, 'rot-b']);
    for await (const ev of client.watch({ kind: 'Secret', namespace: 'default', fromRevision: BigInt(from) })) {
      assert.deepEqual([ev.type, (parsed(ev.object)['metadata'] as Json)['name']], ['DELETED', 'rot-b']);
      break;
    }
    api.secretKeys = [k1];
  });
});
