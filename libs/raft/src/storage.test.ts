import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ClassicLevel } from 'classic-level';
import {
  RaftStorage,
  encodeEntry,
  entryKey,
  isRaftStorageCorruptError,
  isRaftStorageMismatchError,
} from './storage.ts';
import type { Entry, Snapshot } from './types.ts';

const id = { nodeId: 'c1', clusterId: 'k1' };

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tug-raft-storage-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function entry(index: number, term: number, text = `e${index}`): Entry {
  return { index, term, kind: 'normal', data: new TextEncoder().encode(text) };
}

function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}

async function reopen(dir: string, fn: (s: RaftStorage) => Promise<void>): Promise<void> {
  const s = await RaftStorage.open(dir, id);
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

/** raw opens the LevelDB directly, to damage it the way a disk or a bug might. */
async function raw(dir: string, fn: (db: ClassicLevel<Uint8Array, Uint8Array>) => Promise<void>): Promise<void> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    await fn(db);
  } finally {
    await db.close();
  }
}

async function seed(dir: string, last = 5, commit = 3): Promise<void> {
  await reopen(dir, async (s) => {
    await s.load();
    await s.save({ entries: entries(1, last, 1), hardState: { term: 1, vote: 'c1', commit } }, { sync: true });
  });
}

test('a new store loads empty and round-trips hard state and entries across a reopen', async () => {
  await withDir(async (dir) => {
    await reopen(dir, async (s) => {
      const st = await s.load();
      assert.equal(st.empty, true);
      assert.deepEqual(st.hardState, { term: 0, vote: '', commit: 0 });
      assert.equal(st.snapshot.meta.index, 0);
      assert.deepEqual(st.entries, []);
      assert.equal(st.applied, 0);
      const conf: Entry = { index: 6, term: 2, kind: 'conf', data: Uint8Array.of(1, 2, 3) };
      await s.save({ entries: [...entries(1, 5, 1), conf], hardState: { term: 2, vote: 'c2', commit: 4 } }, { sync: true });
    });
    await reopen(dir, async (s) => {
      const st = await s.load();
      assert.equal(st.empty, false);
      assert.deepEqual(st.hardState, { term: 2, vote: 'c2', commit: 4 });
      assert.equal(st.entries.length, 6);
      assert.deepEqual(st.entries[5], { index: 6, term: 2, kind: 'conf', data: Uint8Array.of(1, 2, 3) });
      assert.deepEqual(st.entries[0], entry(1, 1));
      assert.equal(s.lastIndex, 6);
    });
  });
});

test('entries at index i replace stored entries >= i (log truncation on conflict)', async () => {
  await withDir(async (dir) => {
    await seed(dir, 5, 2);
    await reopen(dir, async (s) => {
      await s.load();
      await s.save({ entries: [entry(3, 2, 'new3')], hardState: { term: 2, vote: '', commit: 2 } }, { sync: true });
      assert.equal(s.lastIndex, 3);
      await assert.rejects(s.save({ entries: [entry(5, 2)] }, { sync: false }), /must be in/);
    });
    await reopen(dir, async (s) => {
      const st = await s.load();
      assert.deepEqual(st.entries.map((e) => [e.index, e.term]), [[1, 1], [2, 1], [3, 2]]);
      assert.equal(new TextDecoder().decode(st.entries[2]?.data), 'new3');
    });
  });
});

test('compact stores the snapshot and drops entries up to it; applied after restart is the snapshot index', async () => {
  await withDir(async (dir) => {
    await seed(dir, 10, 8);
    const snap: Snapshot = {
      meta: { index: 6, term: 1, membership: { voters: ['c1', 'c2'], contexts: { c1: '127.0.0.1:1', c2: '127.0.0.1:2' } } },
      data: Uint8Array.of(9, 9, 9),
    };
    await reopen(dir, async (s) => {
      await s.load();
      await s.compact(snap);
      await s.saveApplied(8);
    });
    await reopen(dir, async (s) => {
      const st = await s.load();
      assert.deepEqual(st.snapshot, snap);
      assert.deepEqual(st.entries.map((e) => e.index), [7, 8, 9, 10]);
      assert.equal(st.applied, 6);
      assert.equal(st.appliedOnDisk, 8);
    });
    await raw(dir, async (db) => {
      assert.equal(await db.get(entryKey(6)), undefined);
      assert.notEqual(await db.get(entryKey(7)), undefined);
    });
  });
});

test('a snapshot from the leader replaces the whole stored log, in the same batch as later entries', async () => {
  await withDir(async (dir) => {
    await seed(dir, 5, 3);
    const snap: Snapshot = { meta: { index: 20, term: 3, membership: { voters: ['c1'], contexts: { c1: 'a' } } }, data: Uint8Array.of(7) };
    await reopen(dir, async (s) => {
      await s.load();
      await s.save({ snapshot: snap, entries: [entry(21, 3)], hardState: { term: 3, vote: '', commit: 20 } }, { sync: true });
    });
    await reopen(dir, async (s) => {
      const st = await s.load();
      assert.equal(st.snapshot.meta.index, 20);
      assert.deepEqual(st.entries.map((e) => e.index), [21]);
      assert.equal(st.applied, 20);
    });
  });
});

test('a store written by another node or cluster refuses to open and names both', async () => {
  await withDir(async (dir) => {
    await seed(dir);
    await assert.rejects(RaftStorage.open(dir, { nodeId: 'c2', clusterId: 'k1' }), (e: unknown) => {
      assert.ok(isRaftStorageMismatchError(e));
      assert.match((e as Error).message, /node "c1" of cluster "k1", not node "c2" of cluster "k1"/);
      return true;
    });
    await assert.rejects(RaftStorage.open(dir, { nodeId: 'c1', clusterId: 'other' }), /cluster "k1", not node "c1" of cluster "other"/);
    // And the right identity still opens it (the failed opens released the lock).
    await reopen(dir, async (s) => {
      assert.equal((await s.load()).entries.length, 5);
    });
  });
});

async function expectCorrupt(dir: string, key: string, message: RegExp): Promise<void> {
  await reopen(dir, async (s) => {
    await assert.rejects(s.load(), (e: unknown) => {
      assert.ok(isRaftStorageCorruptError(e), `expected RaftStorageCorruptError, got ${String(e)}`);
      assert.equal(e.key, key);
      assert.match(e.message, message);
      return true;
    });
  });
}

test('a flipped bit in a record fails its checksum', async () => {
  await withDir(async (dir) => {
    await seed(dir);
    await raw(dir, async (db) => {
      const v = await db.get(entryKey(3));
      assert.ok(v);
      const bad = Uint8Array.from(v);
      bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 0x01;
      await db.put(entryKey(3), bad);
    });
    await expectCorrupt(dir, 'entry/3', /checksum mismatch/);
  });
});

test('damage to the database files on disk is detected (record checksum under LevelDB)', async () => {
  await withDir(async (dir) => {
    const marker = randomBytes(64);
    await reopen(dir, async (s) => {
      await s.load();
      await s.save(
        { entries: [entry(1, 1), { index: 2, term: 1, kind: 'normal', data: marker }, entry(3, 1)], hardState: { term: 1, vote: '', commit: 3 } },
        { sync: true },
      );
    });
    // Move everything from the write-ahead log into a table file, then flip one byte of the
    // entry's data inside that file.
    await raw(dir, async (db) => db.compactRange(entryKey(0), entryKey(1000)));
    let flipped = false;
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.ldb')) continue;
      const bytes = await readFile(join(dir, name));
      const at = bytes.indexOf(marker);
      if (at < 0) continue;
      bytes[at + 10] = (bytes[at + 10] ?? 0) ^ 0xff;
      await writeFile(join(dir, name), bytes);
      flipped = true;
    }
    assert.ok(flipped, 'entry data not found in any table file');
    await expectCorrupt(dir, 'entry/2', /checksum mismatch/);
  });
});

test('an entry stored under the wrong key is refused', async () => {
  await withDir(async (dir) => {
    await seed(dir);
    await raw(dir, async (db) => db.put(entryKey(3), encodeEntry(entry(4, 1))));
    await expectCorrupt(dir, 'entry/3', /record holds index 4, key says 3/);
  });
});

test('a gap in the log is refused', async () => {
  await withDir(async (dir) => {
    await seed(dir);
    await raw(dir, async (db) => db.del(entryKey(3)));
    await expectCorrupt(dir, 'entry/4', /gap in the log: expected index 3 after 2/);
  });
});

test('a term going backwards is refused', async () => {
  await withDir(async (dir) => {
    await reopen(dir, async (s) => {
      await s.load();
      await s.save({ entries: [entry(1, 1), entry(2, 2), entry(3, 2)], hardState: { term: 2, vote: '', commit: 1 } }, { sync: true });
    });
    await raw(dir, async (db) => db.put(entryKey(3), encodeEntry(entry(3, 1))));
    await expectCorrupt(dir, 'entry/3', /term goes backwards: 1 after 2/);
  });
});

test('a commit index beyond the last entry is refused', async () => {
  await withDir(async (dir) => {
    await seed(dir, 5, 5);
    await raw(dir, async (db) => db.del(entryKey(5)));
    await expectCorrupt(dir, 'hardstate', /commit 5 is beyond the last stored index 4/);
  });
});

test('data without a meta record is refused rather than adopted', async () => {
  await withDir(async (dir) => {
    await seed(dir);
    await raw(dir, async (db) => db.del(Uint8Array.of(0x6d)));
    await assert.rejects(RaftStorage.open(dir, id), (e: unknown) => isRaftStorageCorruptError(e) && e.key === 'meta');
  });
});

test('writes before load and writes after close are refused', async () => {
  await withDir(async (dir) => {
    const s = await RaftStorage.open(dir, id);
    await assert.rejects(s.save({ entries: [entry(1, 1)] }, { sync: false }), /load\(\) must be called/);
    await s.close();
    await assert.rejects(s.load(), /closed/);
  });
});
