// crilog.test.ts: CRI log parsing, and reading a log file: tail, follow, rotation, a file that
// appears late, and the end of a follow when the container has exited.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CriLogDecoder, formatLogLine, parseCriLine, readCriLog } from './crilog.ts';

const dir = mkdtempSync(join(tmpdir(), 'tug-crilog-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const tempPath = (): string => join(dir, `${++files}.log`);

const T1 = '2024-05-01T10:00:00.000000001Z';
const T2 = '2024-05-01T10:00:01.500000000Z';
const T3 = '2024-05-01T10:00:02.000000000Z';

async function collect(gen: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const b of gen) parts.push(b);
  return Buffer.concat(parts).toString('utf8');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('parseCriLine', () => {
  test('reads time, stream, tag and content', () => {
    const p = parseCriLine(Buffer.from(`${T1} stdout F hello world`));
    assert.ok(p);
    assert.equal(p.time, T1);
    assert.equal(p.stream, 'stdout');
    assert.equal(p.partial, false);
    assert.equal(p.content.toString(), 'hello world');
  });

  test('a P piece is partial; extra tags after ":" are ignored', () => {
    const p = parseCriLine(Buffer.from(`${T1} stderr P:x part`));
    assert.equal(p?.stream, 'stderr');
    assert.equal(p?.partial, true);
    assert.equal(p?.content.toString(), 'part');
  });

  test('empty content, with or without the space after the tag', () => {
    assert.equal(parseCriLine(Buffer.from(`${T1} stdout F `))?.content.length, 0);
    assert.equal(parseCriLine(Buffer.from(`${T1} stdout F`))?.content.length, 0);
  });

  test('content keeps its spaces and bytes', () => {
    const raw = Buffer.concat([Buffer.from(`${T1} stdout F  a  b `), Buffer.from([0xff, 0x00])]);
    assert.deepEqual(parseCriLine(raw)?.content, Buffer.concat([Buffer.from(' a  b '), Buffer.from([0xff, 0x00])]));
  });

  test('lines not in the format are refused', () => {
    for (const bad of ['', 'plain text', `${T1} stdin F x`, `${T1} stdout X x`, `${T1}`, `${T1} stdout`]) {
      assert.equal(parseCriLine(Buffer.from(bad)), undefined, bad);
    }
  });
});

describe('CriLogDecoder', () => {
  const text = (lines: { content: Buffer }[]) => lines.map((l) => l.content.toString());

  test('joins P pieces with the following F piece of the same stream, with the first time', () => {
    const d = new CriLogDecoder();
    const lines = d.push(Buffer.from(`${T1} stdout P hel\n${T2} stderr F oops\n${T2} stdout P lo \n${T3} stdout F world\n`));
    assert.deepEqual(text(lines), ['oops', 'hello world']);
    assert.equal(lines[1]?.time, T1);
    assert.equal(lines[1]?.stream, 'stdout');
  });

  test('chunks split anywhere give the same lines', () => {
    const whole = Buffer.from(`${T1} stdout F one\n${T2} stdout P tw\n${T2} stdout F o\n${T3} stderr F three\n`);
    for (let size = 1; size < 12; size++) {
      const d = new CriLogDecoder();
      const out: string[] = [];
      for (let i = 0; i < whole.length; i += size) out.push(...text(d.push(whole.subarray(i, i + size))));
      assert.deepEqual(out, ['one', 'two', 'three'], `chunk size ${size}`);
    }
  });

  test('end returns an unterminated last line and unclosed pieces', () => {
    const d = new CriLogDecoder();
    assert.deepEqual(d.push(Buffer.from(`${T1} stderr P half\n${T2} stdout F no newline`)), []);
    assert.deepEqual(text(d.end()), ['no newline', 'half']);
    assert.deepEqual(d.end(), []);
  });

  test('skips malformed lines', () => {
    const d = new CriLogDecoder();
    assert.deepEqual(text(d.push(Buffer.from(`garbage\n${T1} stdout F ok\n`))), ['ok']);
  });
});

test('formatLogLine adds the newline, and the time when asked', () => {
  const line = { time: T1, stream: 'stdout' as const, content: Buffer.from('hi') };
  assert.equal(formatLogLine(line, false).toString(), 'hi\n');
  assert.equal(formatLogLine(line, true).toString(), `${T1} hi\n`);
});

describe('readCriLog', () => {
  const log = (n: number, from = 1) =>
    Array.from({ length: n }, (_, i) => `${T1} ${i % 2 === 0 ? 'stdout' : 'stderr'} F line ${from + i}\n`).join('');

  test('reads the whole file, with timestamps on request', async () => {
    const path = tempPath();
    writeFileSync(path, log(3));
    assert.equal(await collect(readCriLog(path)), 'line 1\nline 2\nline 3\n');
    assert.equal(await collect(readCriLog(path, { timestamps: true })), `${T1} line 1\n${T1} line 2\n${T1} line 3\n`);
  });

  test('tail keeps the last lines, also of a file larger than one read', async () => {
    const path = tempPath();
    writeFileSync(path, log(5000));
    assert.equal(await collect(readCriLog(path, { tailLines: 2 })), 'line 4999\nline 5000\n');
    assert.equal(await collect(readCriLog(path, { tailLines: 10_000 })).then((s) => s.split('\n').length - 1), 5000);
  });

  test('a missing file reads as empty without follow', async () => {
    assert.equal(await collect(readCriLog(join(dir, 'missing.log'))), '');
  });

  test('follow reads new lines until the container exits and the file is drained', async () => {
    const path = tempPath();
    writeFileSync(path, log(2));
    let exited = false;
    const got: string[] = [];
    const reading = (async () => {
      for await (const b of readCriLog(path, { follow: true, tailLines: 1, pollMs: 10, exited: () => exited })) got.push(b.toString());
    })();
    await sleep(50);
    appendFileSync(path, `${T2} stdout P par`);
    await sleep(50);
    appendFileSync(path, `tial\n${T2} stdout F  done\n`);
    await sleep(50);
    appendFileSync(path, `${T3} stderr F last words\n`);
    exited = true;
    await reading;
    assert.equal(got.join(''), 'line 2\npartial done\nlast words\n');
  });

  test('follow waits for the file to appear', async () => {
    const path = tempPath();
    let exited = false;
    const reading = collect(readCriLog(path, { follow: true, pollMs: 10, exited: () => exited }));
    await sleep(50);
    writeFileSync(path, log(1));
    await sleep(50);
    exited = true;
    assert.equal(await reading, 'line 1\n');
  });

  test('follow of a file that never appears ends when the container has exited', async () => {
    assert.equal(await collect(readCriLog(tempPath(), { follow: true, pollMs: 10, exited: () => true })), '');
  });

  test('follow moves to the new file after a rotation', async () => {
    const path = tempPath();
    writeFileSync(path, log(1));
    let exited = false;
    const reading = collect(readCriLog(path, { follow: true, pollMs: 10, exited: () => exited }));
    await sleep(50);
    appendFileSync(path, log(1, 2));
    renameSync(path, `${path}.1`);
    writeFileSync(path, log(1, 3));
    await sleep(80);
    exited = true;
    assert.equal(await reading, 'line 1\nline 2\nline 3\n');
  });

  test('follow starts over when the file is truncated', async () => {
    const path = tempPath();
    writeFileSync(path, log(2));
    let exited = false;
    const reading = collect(readCriLog(path, { follow: true, pollMs: 10, exited: () => exited }));
    await sleep(50);
    writeFileSync(path, log(1, 7));
    await sleep(80);
    exited = true;
    assert.equal(await reading, 'line 1\nline 2\nline 7\n');
  });

  test('abort ends a follow', async () => {
    const path = tempPath();
    writeFileSync(path, log(1));
    const ac = new AbortController();
    const reading = collect(readCriLog(path, { follow: true, pollMs: 10, signal: ac.signal }));
    await sleep(30);
    ac.abort();
    assert.equal(await reading, 'line 1\n');
  });
});
