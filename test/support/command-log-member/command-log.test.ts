import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Entry } from '@tugboat/raft';
import { CommandLog, decodeRecord, encodeCommand, encodeMember } from './command-log.ts';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const entry = (index: number, data: Uint8Array): Entry => ({ index, term: 1, kind: 'normal', data });

test('commands get consecutive positions in apply order', () => {
  const log = new CommandLog();
  assert.deepEqual(log.apply(entry(3, encodeCommand('a', bytes('x')))), { kind: 'command', position: 1, index: 3, duplicate: false });
  assert.deepEqual(log.apply(entry(5, encodeCommand('b', bytes('y')))), { kind: 'command', position: 2, index: 5, duplicate: false });
  assert.equal(log.length, 2);
  assert.deepEqual(log.read(2, 10).map((c) => c.id), ['b']);
});

test('an id applied before is not applied again and answers the first result (§6.3)', () => {
  const log = new CommandLog();
  log.apply(entry(1, encodeCommand('a', bytes('x'))));
  log.apply(entry(2, encodeCommand('b', bytes('y'))));
  assert.deepEqual(log.apply(entry(3, encodeCommand('a', bytes('other')))), { kind: 'command', position: 1, index: 1, duplicate: true });
  assert.equal(log.length, 2);
  assert.deepEqual(log.lookup('a')?.payload, bytes('x'));
});

test('member records publish API addresses and are not commands', () => {
  const log = new CommandLog();
  assert.equal(log.apply(entry(1, encodeMember('c1', '127.0.0.1:7400'))).kind, 'member');
  assert.equal(log.apiAddress('c1'), '127.0.0.1:7400');
  assert.equal(log.length, 0);
});

test('malformed records are skipped the same way everywhere', () => {
  const log = new CommandLog();
  assert.equal(log.apply(entry(1, Uint8Array.of(9, 0, 1, 65))).kind, 'skipped');
  assert.equal(log.apply(entry(2, Uint8Array.of(1))).kind, 'skipped');
  assert.equal(typeof decodeRecord(Uint8Array.of(1, 0, 5, 65)), 'string');
  assert.equal(log.length, 0);
  assert.equal(log.applied, 2);
});

test('snapshot and restore round-trip the whole state, and restore discards the old one', () => {
  const log = new CommandLog();
  for (let i = 1; i <= 50; i++) log.apply(entry(i * 2, encodeCommand(`id-${i}`, bytes(`payload ${i}`))));
  log.apply(entry(101, encodeMember('c2', '127.0.0.2:7400')));
  const snap = log.snapshot();

  const other = new CommandLog();
  other.apply(entry(1, encodeCommand('gone', bytes('z'))));
  other.restore(snap);
  assert.equal(other.length, 50);
  assert.equal(other.lookup('gone'), undefined);
  assert.deepEqual(other.read(1, 100), log.read(1, 100));
  assert.equal(other.apiAddress('c2'), '127.0.0.2:7400');
  assert.equal(other.applied, 101);
  const again = other.apply(entry(102, encodeCommand('id-7', bytes('again'))));
  assert.deepEqual(again, { kind: 'command', position: 7, index: 14, duplicate: true });
  assert.equal(other.length, 50);

  other.restore(new Uint8Array(0));
  assert.equal(other.length, 0);
  assert.throws(() => other.restore(snap.subarray(0, snap.length - 3)), /truncated/);
});

test('ids must be 1 to 128 bytes', () => {
  assert.throws(() => encodeCommand('', bytes('x')), RangeError);
  assert.throws(() => encodeCommand('x'.repeat(129), bytes('x')), RangeError);
});

test('the command region grows without corrupting earlier commands or views read before', () => {
  const log = new CommandLog();
  const payload = (i: number): Uint8Array => bytes(`${i}:`.padEnd(200 + (i % 13), String.fromCharCode(97 + (i % 26))));
  const early = (): ReturnType<CommandLog['read']> => log.read(1, 3);
  log.apply(entry(1, encodeCommand('c-1', payload(1))));
  const before = early();
  for (let i = 2; i <= 2_000; i++) log.apply(entry(i, encodeCommand(`c-${i}`, payload(i))));
  assert.deepEqual(before[0]?.payload, payload(1));
  const all = log.read(1, 5_000);
  assert.equal(all.length, 2_000);
  for (const c of all) assert.deepEqual(c.payload, payload(c.position), `payload of ${c.id}`);
  const copy = new CommandLog();
  copy.restore(log.snapshot());
  assert.deepEqual(copy.read(1, 5_000), all);
  copy.apply(entry(2_001, encodeCommand('c-2001', payload(2_001))));
  assert.deepEqual(copy.lookup('c-2001')?.payload, payload(2_001));
  assert.equal(copy.lookup('c-1999')?.position, 1_999);
});
