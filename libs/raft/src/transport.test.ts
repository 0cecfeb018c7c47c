import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, credentials } from '@grpc/grpc-js';
import pino from 'pino';
import type { Logger } from 'pino';
import { RaftTransportService, createClient, isGrpcError, Status } from '@tugboat/proto';
import { GrpcTransport, messageFromProto, messageToProto } from './transport.ts';
import { newMessage } from './core.ts';
import type { Message } from './types.ts';
import { create } from '@bufbuild/protobuf';
import { RaftMessageSchema } from '@tugboat/proto';
import type { RaftMessageType } from '@tugboat/proto';

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** pair starts transports c1 on 127.0.0.1 and c2 on 127.0.0.2 that know each other. */
async function withPair(
  fn: (a: GrpcTransport, b: GrpcTransport, got: Message[], bLog: LogLine[]) => Promise<void>,
  mode: 'stream' | 'unary' = 'stream',
): Promise<void> {
  const closers: (() => Promise<void>)[] = [];
  try {
    const a = await GrpcTransport.listen({ id: 'c1', clusterId: 'k', listen: '127.0.0.1:0', logger: pino({ level: 'silent' }), mode });
    closers.push(() => a.close());
    const bl = captureLogger();
    const b = await GrpcTransport.listen({ id: 'c2', clusterId: 'k', listen: '127.0.0.2:0', logger: bl.logger });
    closers.push(() => b.close());
    a.updatePeers({ c1: a.address, c2: b.address });
    b.updatePeers({ c1: a.address, c2: b.address });
    const got: Message[] = [];
    b.onMessage((msgs) => got.push(...msgs));
    await fn(a, b, got, bl.lines);
  } finally {
    for (const c of closers.reverse()) await c();
  }
}

const full: Message = newMessage({
  type: 'snapshot',
  from: 'c1',
  to: 'c2',
  term: 7,
  logTerm: 6,
  index: 2 ** 40,
  commit: 99,
  entries: [
    { index: 2 ** 40 + 1, term: 6, kind: 'normal', data: Uint8Array.of(1, 2) },
    { index: 2 ** 40 + 2, term: 7, kind: 'conf', data: Uint8Array.of(3) },
  ],
  reject: true,
  rejectHint: 5,
  context: 'ctx',
  snapshotMeta: { index: 50, term: 4, membership: { voters: ['c1', 'c2'], contexts: { c1: 'h:1', c2: 'h:2' } } },
  offset: 1024,
  data: Uint8Array.of(9, 8, 7),
  done: true,
});

test('messageToProto and messageFromProto round-trip every field', () => {
  const back = messageFromProto(create(RaftMessageSchema, messageToProto(full)));
  assert.deepEqual(back, full);
  const plain = newMessage({ type: 'heartbeat', from: 'c1', to: 'c2', term: 1 });
  assert.deepEqual(messageFromProto(create(RaftMessageSchema, messageToProto(plain))), plain);
});

test('messageFromProto names what is malformed', () => {
  const p = create(RaftMessageSchema, messageToProto(full));
  assert.match(messageFromProto({ ...p, type: 0 }) as string, /unknown message type 0/);
  assert.match(messageFromProto({ ...p, type: 99 as RaftMessageType }) as string, /unknown message type 99/);
  assert.match(messageFromProto({ ...p, term: 2n ** 60n }) as string, /term \d+ is above 2\^53-1/);
  assert.match(messageFromProto({ ...p, from: '' }) as string, /empty from/);
  assert.match(messageFromProto({ ...p, snapshotMeta: undefined }) as string, /snapshot message without snapshot_meta/);
  const badEntry = create(RaftMessageSchema, messageToProto(full));
  badEntry.entries[1]!.kind = 0;
  assert.match(messageFromProto(badEntry) as string, /entries\[1\] has kind 0/);
});

for (const mode of ['stream', 'unary'] as const) {
test(`two transports on 127.0.0.x deliver messages in order, every field intact (${mode})`, async () => {
  await withPair(async (a, b, got) => {
    const hb = (i: number): Message => newMessage({ type: 'heartbeat', from: 'c1', to: 'c2', term: 1, commit: i });
    const msgs = [full, ...Array.from({ length: 200 }, (_, i) => hb(i))];
    a.send(msgs.slice(0, 100));
    a.send(msgs.slice(100));
    await until('all messages', () => got.length === msgs.length);
    assert.deepEqual(got, msgs);
    await until('replies', () => a.stats().sentMessages === msgs.length);
    assert.equal(b.stats().receivedMessages, msgs.length);
  }, mode);
});
}

for (const mode of ['stream', 'unary'] as const) {
test(`messages for an unreachable peer are dropped and counted; send never throws or blocks (${mode})`, async () => {
  await withPair(async (a, b) => {
    const addr = b.address;
    await b.close();
    const m = newMessage({ type: 'heartbeat', from: 'c1', to: 'c2', term: 1 });
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) a.send([m]);
    a.send([newMessage({ type: 'heartbeat', from: 'c1', to: 'nobody', term: 1 })]);
    assert.ok(performance.now() - t0 < 200, 'send blocked');
    await until('the failed call', () => a.stats().failedCalls > 0);
    a.send([m]);
    const s = a.stats();
    assert.equal(s.droppedNoAddress, 1);
    assert.ok(s.droppedPeerDown >= 1, JSON.stringify(s));
    assert.ok(addr.startsWith('127.0.0.2:'));
  }, mode);
});
}

for (const mode of ['stream', 'unary'] as const) {
test(`a peer that comes back is reached again (${mode})`, async () => {
  const closers: (() => Promise<void>)[] = [];
  try {
    const silent = pino({ level: 'silent' });
    const a = await GrpcTransport.listen({ id: 'c1', clusterId: 'k', listen: '127.0.0.1:0', logger: silent, peerRetryMs: 20, mode });
    closers.push(() => a.close());
    let b = await GrpcTransport.listen({ id: 'c2', clusterId: 'k', listen: '127.0.0.2:0', logger: silent });
    const port = b.address.split(':')[1];
    a.updatePeers({ c2: b.address });
    await b.close();
    const m = newMessage({ type: 'heartbeat', from: 'c1', to: 'c2', term: 1 });
    a.send([m]);
    await until('a failure', () => a.stats().failedCalls > 0);
    b = await GrpcTransport.listen({ id: 'c2', clusterId: 'k', listen: `127.0.0.2:${port}`, logger: silent, peers: { c1: a.address } });
    const bb = b;
    closers.push(() => bb.close());
    let got = 0;
    b.onMessage((msgs) => (got += msgs.length));
    await until('delivery after restart', () => {
      a.send([m]);
      return got > 0;
    }, 10_000);
  } finally {
    for (const c of closers.reverse()) await c();
  }
});
}

for (const mode of ['stream', 'unary'] as const) {
test(`a batch from another cluster is refused whole and logged (${mode})`, async () => {
  await withPair(async (_a, b, got, bLog) => {
    const other = await GrpcTransport.listen({ id: 'c1', clusterId: 'other', listen: '127.0.0.3:0', logger: pino({ level: 'silent' }), mode });
    try {
      other.updatePeers({ c2: b.address });
      other.send([newMessage({ type: 'heartbeat', from: 'c1', to: 'c2', term: 1 })]);
      await until('refusal', () => b.stats().rejectedCluster > 0);
      await until('sender sees the failure', () => other.stats().failedCalls > 0);
      assert.equal(got.length, 0);
      assert.ok(bLog.some((l) => l.msg.includes('another cluster') && l['clusterId'] === 'other'));
    } finally {
      await other.close();
    }
  }, mode);
});
}

test('unknown senders, misaddressed and malformed messages are rejected with a log line, the rest delivered', async () => {
  await withPair(async (_a, b, got, bLog) => {
    const client = createClient(RaftTransportService, b.address);
    try {
      const ok = messageToProto(newMessage({ type: 'heartbeat', from: 'c1', to: 'c2', term: 3 }));
      const reply = await client.deliver({
        batch: {
          clusterId: 'k',
          messages: [
            { ...ok, from: 'stranger' },
            { ...ok, to: 'c3' },
            { ...ok, type: 42 as RaftMessageType },
            { ...ok, index: 2n ** 62n },
            ok,
          ],
        },
      });
      assert.deepEqual([reply.accepted, reply.rejected], [1, 4]);
      assert.equal(got.length, 1);
      assert.equal(got[0]?.term, 3);
      const reasons = bLog.filter((l) => l.msg === 'raft transport: rejected message').map((l) => String(l['reason']));
      assert.equal(reasons.length, 4);
      assert.match(reasons[0] ?? '', /unknown sender "stranger"/);
      assert.match(reasons[1] ?? '', /addressed to "c3"/);
      assert.match(reasons[2] ?? '', /malformed: unknown message type 42/);
      assert.match(reasons[3] ?? '', /malformed: index \d+ is above/);
      const s = b.stats();
      assert.deepEqual([s.rejectedUnknownSender, s.rejectedMisaddressed, s.rejectedMalformed], [1, 1, 2]);

      // A call without a batch is an error for the caller, not for the server.
      await assert.rejects(client.deliver({}), (e: unknown) => isGrpcError(e, Status.INVALID_ARGUMENT));
      // The client-streaming method validates the same way.
      const sr = await client.stream([{ batch: { clusterId: 'k', messages: [ok, { ...ok, from: 'stranger' }] } }, { batch: { clusterId: 'k', messages: [ok] } }]);
      assert.deepEqual([sr.accepted, sr.rejected], [2, 1]);
    } finally {
      client.close();
    }
  });
});

test('bytes that are not a protobuf message do not crash the receiver', async () => {
  await withPair(async (a, b, got) => {
    const raw = new Client(b.address, credentials.createInsecure());
    try {
      const err = await new Promise<unknown>((resolve) => {
        raw.makeUnaryRequest(
          '/tug.v1.RaftTransportService/Deliver',
          (x: Buffer) => x,
          (x: Buffer) => x,
          Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]),
          (e, _res) => resolve(e),
        );
      });
      assert.ok(err, 'garbage was accepted');
      const streamErr = await new Promise<unknown>((resolve) => {
        const call = raw.makeClientStreamRequest(
          '/tug.v1.RaftTransportService/Stream',
          (x: Buffer) => x,
          (x: Buffer) => x,
          (e, _res) => resolve(e),
        );
        call.write(Buffer.from([0x0a, 0xff, 0xff, 0xff]));
        call.end();
      });
      assert.ok(streamErr, 'garbage on the stream was accepted');
    } finally {
      raw.close();
    }
    // Still serving.
    a.send([newMessage({ type: 'heartbeat', from: 'c1', to: 'c2', term: 1 })]);
    await until('delivery after garbage', () => got.length === 1);
  });
});

test('a throwing handler is logged, not fatal', async () => {
  await withPair(async (a, b, _got, bLog) => {
    b.onMessage(() => {
      throw new Error('boom');
    });
    a.send([newMessage({ type: 'heartbeat', from: 'c1', to: 'c2', term: 1 })]);
    await until('handler error logged', () => bLog.some((l) => l.msg.includes('handler threw')));
  });
});
