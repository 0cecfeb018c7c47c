import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectStore, isExpiredError, isStoreError } from '@tugboat/store';
import type { Watch, WatchEvent } from '@tugboat/store';
import { Feeder, filled, namespace, node, pod } from './testutil.ts';

type Brief = [string, string, string, number];

/** brief: [type, kind, namespace/name, revision]. */
function brief(e: WatchEvent): Brief {
  const m = e.object.metadata;
  return [e.type, e.object.kind, m.namespace === undefined ? m.name : `${m.namespace}/${m.name}`, e.revision];
}

/** stashed holds a next() that quiet() started and take() has not consumed yet. */
const stashed = new WeakMap<Watch, Promise<IteratorResult<WatchEvent>>>();

function nextOf(w: Watch): Promise<IteratorResult<WatchEvent>> {
  const p = stashed.get(w);
  stashed.delete(w);
  return p ?? w.next();
}

/** take reads n events, failing if they do not come within a second. */
async function take(w: Watch, n: number): Promise<Brief[]> {
  const out: Brief[] = [];
  for (let i = 0; i < n; i++) {
    const r = await Promise.race([nextOf(w), new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 1000))]);
    assert.notEqual(r, 'timeout', `event ${i + 1} of ${n} did not come; got ${JSON.stringify(out)}`);
    const res = r as IteratorResult<WatchEvent>;
    assert.equal(res.done, false, `watch ended after ${JSON.stringify(out)}`);
    out.push(brief(res.value as WatchEvent));
  }
  return out;
}

/** quiet tells whether the watch has nothing to deliver within 20 ms (a late event is kept for take). */
async function quiet(w: Watch): Promise<boolean> {
  const p = nextOf(w);
  const r = await Promise.race([p.then(() => 'event' as const), new Promise<'quiet'>((resolve) => setTimeout(() => resolve('quiet'), 20))]);
  stashed.set(w, p);
  return r === 'quiet';
}

/** history: ns default (1), pods a (2), b (3), a updated (4), b deleted (5), node n1 (6). */
function history(opts: ConstructorParameters<typeof ObjectStore>[0] = {}): Feeder {
  const f = new Feeder(new ObjectStore(opts));
  f.create(namespace('default'));
  const a = f.create(pod('a'));
  f.create(pod('b'));
  f.update({ ...a, status: { phase: 'Running' } });
  f.delete('Pod', 'default', 'b');
  f.create(node('n1'));
  return f;
}

const all: Brief[] = [
  ['ADDED', 'Namespace', 'default', 1],
  ['ADDED', 'Pod', 'default/a', 2],
  ['ADDED', 'Pod', 'default/b', 3],
  ['MODIFIED', 'Pod', 'default/a', 4],
  ['DELETED', 'Pod', 'default/b', 5],
  ['ADDED', 'Node', 'n1', 6],
];

test('watch from 0 delivers every change in order, then live ones', async () => {
  const f = history();
  const w = f.store.watch({ fromRevision: 0 });
  assert.deepEqual(await take(w, 6), all);
  assert.ok(await quiet(w));
  f.create(pod('c'));
  assert.deepEqual(await take(w, 1), [['ADDED', 'Pod', 'default/c', 7]]);
  w.cancel();
});

test('watch from mid-history delivers only later changes', async () => {
  const f = history();
  const w = f.store.watch({ fromRevision: 3 });
  assert.deepEqual(await take(w, 3), all.slice(3));
  assert.ok(await quiet(w));
  w.cancel();
  const w2 = f.store.watch({ fromRevision: f.store.revision });
  assert.ok(await quiet(w2), 'watching from the current revision waits for the next change');
  w2.cancel();
});

test('the seam between history and live: nothing lost or repeated while a watcher catches up', async () => {
  const f = history();
  const w = f.store.watch({ fromRevision: 0 });
  const got = await take(w, 2);
  // New changes land while the watcher is still reading history.
  f.create(pod('c'));
  got.push(...(await take(w, 3)));
  f.create(pod('d'));
  got.push(...(await take(w, 3)));
  // Caught up: the watcher waits; changes applied while it waits are delivered.
  const pending = w.next();
  f.txn([
    { op: 'create', object: pod('e') },
    { op: 'create', object: pod('f') },
  ]);
  got.push(brief((await pending).value as WatchEvent));
  got.push(...(await take(w, 1)));
  assert.deepEqual(got, [
    ...all,
    ['ADDED', 'Pod', 'default/c', 7],
    ['ADDED', 'Pod', 'default/d', 8],
    ['ADDED', 'Pod', 'default/e', 9],
    ['ADDED', 'Pod', 'default/f', 9],
  ]);
  assert.ok(await quiet(w));
  w.cancel();

  // A list at revision R then a watch from R sees exactly what the list did not.
  const { items, revision } = f.store.list({ kind: 'Pod' });
  f.delete('Pod', 'default', 'c');
  const w2 = f.store.watch({ fromRevision: revision, kind: 'Pod' });
  assert.deepEqual(await take(w2, 1), [['DELETED', 'Pod', 'default/c', revision + 1]]);
  assert.equal(items.length, 5);
  w2.cancel();
});

test('a revision older than the kept history answers ExpiredError with the oldest available revision', () => {
  const f = history({ historyMaxEvents: 3 });
  assert.equal(f.store.compactRevision, 3);
  const e = (() => {
    try {
      f.store.watch({ fromRevision: 2 });
    } catch (err) {
      return err;
    }
    return undefined;
  })();
  assert.ok(isExpiredError(e));
  assert.ok(isStoreError(e, 'Expired'));
  assert.equal(e.name, 'ExpiredError');
  assert.equal(e.details.oldestRevision, 3);
  assert.equal(e.details.requested, 2);
  assert.match(e.message, /list again/);
  // The oldest available revision itself is fine.
  const w = f.store.watch({ fromRevision: 3 });
  w.cancel();
});

test('a watcher that falls behind the history ends with ExpiredError; memory stays bounded', async () => {
  const f = history({ historyMaxEvents: 4 });
  const w = f.store.watch({ fromRevision: f.store.revision });
  f.create(pod('c'));
  assert.deepEqual(await take(w, 1), [['ADDED', 'Pod', 'default/c', 7]]);
  for (const n of ['d', 'e', 'f', 'g', 'h']) f.create(pod(n));
  assert.equal(f.store.stats().historyEvents, 4);
  await assert.rejects(w.next(), (e) => isExpiredError(e) && /fell behind/.test((e as Error).message));
  assert.equal(w.done, true);
  assert.deepEqual(await w.next(), { done: true, value: undefined });
});

test('history is also bounded by bytes', () => {
  const f = new Feeder(new ObjectStore({ historyMaxBytes: 10_000 }));
  f.create(namespace('default'));
  for (let i = 0; i < 20; i++) f.create(pod(`p${i}`, 'default', { padBytes: 1000 }));
  const s = f.store.stats();
  assert.ok(s.historyBytes <= 10_000, `historyBytes ${s.historyBytes}`);
  assert.ok(s.historyEvents < 21 && s.historyEvents >= 5, `historyEvents ${s.historyEvents}`);
  assert.equal(s.compactRevision, 21 - s.historyEvents);
});

test('a revision in the future waits for it', async () => {
  const f = history();
  const w = f.store.watch({ fromRevision: 8 });
  f.create(pod('c')); // 7
  f.create(pod('d')); // 8
  assert.ok(await quiet(w));
  f.create(pod('e')); // 9
  assert.deepEqual(await take(w, 1), [['ADDED', 'Pod', 'default/e', 9]]);
  w.cancel();
});

test('filters: kind, namespace, custom', async () => {
  const f = history();
  f.create(namespace('other'));
  f.create(pod('x', 'other'));
  f.create(filled({ kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'other' } }));
  const pods = f.store.watch({ fromRevision: 0, kind: 'Pod' });
  assert.deepEqual(await take(pods, 4), [
    ['ADDED', 'Pod', 'default/a', 2],
    ['ADDED', 'Pod', 'default/b', 3],
    ['MODIFIED', 'Pod', 'default/a', 4],
    ['DELETED', 'Pod', 'default/b', 5],
  ]);
  assert.deepEqual(await take(pods, 1), [['ADDED', 'Pod', 'other/x', 8]]);
  assert.ok(await quiet(pods));
  pods.cancel();
  const inOther = f.store.watch({ fromRevision: 0, namespace: 'other' });
  assert.deepEqual(await take(inOther, 2), [
    ['ADDED', 'Pod', 'other/x', 8],
    ['ADDED', 'ConfigMap', 'other/cm', 9],
  ]);
  inOther.cancel();
  const cluster = f.store.watch({ fromRevision: 0, namespace: '' });
  assert.deepEqual((await take(cluster, 3)).map((b) => b[2]), ['default', 'n1', 'other']);
  cluster.cancel();
  const deletes = f.store.watch({ fromRevision: 0, filter: (e) => e.type === 'DELETED' });
  assert.deepEqual(await take(deletes, 1), [['DELETED', 'Pod', 'default/b', 5]]);
  deletes.cancel();
});

test('ending a watch: cancel, break in for-await, abort signal; a pending next resolves done', async () => {
  const f = history();
  const w = f.store.watch({ fromRevision: f.store.revision });
  const pending = w.next();
  w.cancel();
  assert.deepEqual(await pending, { done: true, value: undefined });
  assert.equal(f.store.stats().waitingWatchers, 0);

  const seen: number[] = [];
  for await (const ev of f.store.watch({ fromRevision: 0 })) {
    seen.push(ev.revision);
    if (seen.length === 2) break;
  }
  assert.deepEqual(seen, [1, 2]);

  const ac = new AbortController();
  const w3 = f.store.watch({ fromRevision: f.store.revision, signal: ac.signal });
  const p3 = w3.next();
  ac.abort();
  assert.deepEqual(await p3, { done: true, value: undefined });
  assert.equal(f.store.stats().waitingWatchers, 0);
});

test('next() called again before the previous one settled still delivers in order', async () => {
  const f = history();
  const w = f.store.watch({ fromRevision: f.store.revision });
  const p1 = w.next();
  const p2 = w.next();
  f.create(pod('c'));
  f.create(pod('d'));
  assert.equal(((await p1).value as WatchEvent).object.metadata.name, 'c');
  assert.equal(((await p2).value as WatchEvent).object.metadata.name, 'd');
  w.cancel();
});

test('progressRevision tells how far a filtered watcher has seen, for bookmarks', async () => {
  const f = history();
  const w = f.store.watch({ fromRevision: 0, kind: 'Node' });
  assert.equal(w.progressRevision, 0);
  assert.deepEqual(await take(w, 1), [['ADDED', 'Node', 'n1', 6]]);
  assert.equal(w.progressRevision, 6);
  f.create(pod('c'));
  assert.ok(await quiet(w));
  assert.equal(w.progressRevision, 7, 'the pod event was seen and skipped');
  w.cancel();
});

test('after restore, history restarts at the snapshot revision: behind watchers expire, caught-up ones continue', async () => {
  const leader = history();
  const snap6 = leader.store.snapshot();
  leader.create(pod('c')); // 7
  const snap7 = leader.store.snapshot();

  // A follower at revision 6 with a caught-up watcher and a behind one.
  const follower = history();
  const caughtUp = follower.store.watch({ fromRevision: 6 });
  const waiting = caughtUp.next();
  const behind = follower.store.watch({ fromRevision: 4 });
  assert.deepEqual(await take(behind, 1), [['DELETED', 'Pod', 'default/b', 5]]);
  // Restoring the snapshot at 6 (nothing skipped): both can continue.
  follower.store.restore(snap6);
  assert.equal(follower.store.compactRevision, 6);
  assert.throws(() => follower.store.watch({ fromRevision: 5 }), (e) => isExpiredError(e) && e.details.oldestRevision === 6);
  // Restoring the one at 7 skips revision 7: the behind watcher has not seen 6 in full either.
  follower.store.restore(snap7);
  await assert.rejects(waiting, (e) => isExpiredError(e) && /restored from a snapshot at revision 7/.test((e as Error).message));
  await assert.rejects(behind.next(), isExpiredError);
  // A watch from the snapshot's revision sees what comes after.
  const w = follower.store.watch({ fromRevision: 7 });
  new Feeder(follower.store).create(pod('d'));
  assert.deepEqual(await take(w, 1), [['ADDED', 'Pod', 'default/d', 8]]);
  w.cancel();

  // A caught-up watcher whose revision the snapshot does not pass continues without a gap.
  const other = history();
  const w2 = other.store.watch({ fromRevision: 6 });
  const p2 = w2.next();
  other.store.restore(snap6);
  new Feeder(other.store).create(pod('z'));
  assert.deepEqual(brief((await p2).value as WatchEvent), ['ADDED', 'Pod', 'default/z', 7]);
  w2.cancel();
});

test('many watchers share one history: each gets every event', async () => {
  const f = history();
  const ws = Array.from({ length: 50 }, () => f.store.watch({ fromRevision: 6 }));
  const reads = ws.map((w) => take(w, 20));
  for (let i = 0; i < 20; i++) f.create(pod(`w${i}`));
  const got = await Promise.all(reads);
  for (const g of got) assert.deepEqual(g.map((b) => b[3]), Array.from({ length: 20 }, (_, i) => 7 + i));
  for (const w of ws) w.cancel();
  assert.equal(f.store.stats().waitingWatchers, 0);
});

test('evicting part of a transaction\'s events: the revision counts as compacted; later revisions stay watchable', async () => {
  const f = new Feeder(new ObjectStore({ historyMaxEvents: 3 }));
  f.create(namespace('default')); // 1
  f.txn([
    { op: 'create', object: pod('a') },
    { op: 'create', object: pod('b') },
  ]); // 2
  f.create(pod('c')); // 3
  f.create(pod('d')); // 4: evicts the namespace event and pod a
  assert.equal(f.store.compactRevision, 2);
  assert.throws(() => f.store.watch({ fromRevision: 1 }), isExpiredError);
  const w = f.store.watch({ fromRevision: 2 });
  assert.deepEqual(await take(w, 2), [
    ['ADDED', 'Pod', 'default/c', 3],
    ['ADDED', 'Pod', 'default/d', 4],
  ]);
  w.cancel();
});

test('a MODIFIED event carries the object it replaced; ADDED and DELETED carry none', async () => {
  const f = history();
  const w = f.store.watch({ fromRevision: 0, kind: 'Pod' });
  const events: WatchEvent[] = [];
  for (let i = 0; i < 4; i++) events.push((await w.next()).value as WatchEvent);
  w.cancel();
  assert.deepEqual(events.map(brief), [
    ['ADDED', 'Pod', 'default/a', 2],
    ['ADDED', 'Pod', 'default/b', 3],
    ['MODIFIED', 'Pod', 'default/a', 4],
    ['DELETED', 'Pod', 'default/b', 5],
  ]);
  assert.equal(events[0]!.prevObject, undefined);
  assert.equal(events[3]!.prevObject, undefined);
  const prev = events[2]!.prevObject;
  assert.equal(prev?.metadata.resourceVersion, '2');
  assert.deepEqual(prev?.status, { phase: 'Pending' });
  assert.deepEqual(events[2]!.object.status, { phase: 'Running' });
});
