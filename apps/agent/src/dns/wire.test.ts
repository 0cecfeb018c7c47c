import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import type { Answer, Packet } from 'dns-packet';
import { encodeResponse, FrameReader, frameMessage, isReplyTo, udpPayloadLimit } from './wire.ts';

describe('FrameReader', () => {
  const a = Buffer.from('first message');
  const b = Buffer.from('second');

  it('cuts several framed messages out of one chunk', () => {
    const r = new FrameReader();
    assert.deepEqual(r.push(Buffer.concat([frameMessage(a), frameMessage(b)])), [a, b]);
    assert.equal(r.bufferedBytes, 0);
  });

  it('puts a message back together from single bytes, the length prefix split too', () => {
    const r = new FrameReader();
    const stream = Buffer.concat([frameMessage(a), frameMessage(b), frameMessage(a).subarray(0, 5)]);
    const got: Buffer[] = [];
    for (const byte of stream) got.push(...r.push(Buffer.from([byte])));
    assert.deepEqual(got, [a, b]);
    assert.equal(r.bufferedBytes, 5, 'the start of the third message waits');
    assert.deepEqual(r.push(frameMessage(a).subarray(5)), [a]);
  });

  it('gives an empty message for a 0-length frame', () => {
    assert.deepEqual(new FrameReader().push(Buffer.from([0, 0, 0, 1, 7])), [Buffer.alloc(0), Buffer.from([7])]);
  });

  it('refuses to frame more than 65,535 bytes', () => {
    assert.equal(frameMessage(Buffer.alloc(65_535)).length, 65_537);
    assert.throws(() => frameMessage(Buffer.alloc(65_536)), /65536 bytes/);
  });
});

describe('encodeResponse', () => {
  const opt: Answer = { type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
  const a = (i: number): Answer => ({ name: 'db.shop.svc.cluster.local', type: 'A', ttl: 5, data: `10.244.0.${i}` });
  const response = (answers: number, hints: number): Packet => ({
    type: 'response',
    id: 9,
    flags: dnsPacket.AUTHORITATIVE_ANSWER,
    questions: [{ name: 'db.shop.svc.cluster.local', type: 'A' }],
    answers: Array.from({ length: answers }, (_, i) => a(i)),
    additionals: [...Array.from({ length: hints }, (_, i) => a(100 + i)), opt],
  });

  it('sends a response that fits as it is', () => {
    const p = dnsPacket.decode(encodeResponse(response(3, 3), 512));
    assert.equal(p.answers?.length, 3);
    assert.equal(p.additionals?.length, 4);
    assert.equal(p.flag_tc, false);
  });

  it('leaves the hints out first, without TC', () => {
    const p = dnsPacket.decode(encodeResponse(response(8, 20), 512));
    assert.equal(p.answers?.length, 8);
    assert.deepEqual(p.additionals?.map((r) => r.type), ['OPT']);
    assert.equal(p.flag_tc, false);
  });

  it('truncates an answer that does not fit: TC, the question and OPT only', () => {
    const bytes = encodeResponse(response(100, 0), 512);
    assert.ok(bytes.length <= 512);
    const p = dnsPacket.decode(bytes);
    assert.equal(p.flag_tc, true);
    assert.equal(p.flag_aa, true);
    assert.equal(p.id, 9);
    assert.deepEqual(p.questions, [{ name: 'db.shop.svc.cluster.local', type: 'A', class: 'IN' }]);
    assert.deepEqual(p.answers, []);
    assert.deepEqual(p.additionals?.map((r) => r.type), ['OPT']);
    assert.equal(dnsPacket.decode(encodeResponse(response(100, 0), 65_535)).answers?.length, 100);
  });
});

describe('header checks', () => {
  it('limits UDP answers to 512 bytes, or the client size within 512..1232', () => {
    const opt = (udpPayloadSize: number) => ({ type: 'OPT' as const, name: '.', udpPayloadSize, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] });
    assert.equal(udpPayloadLimit(undefined), 512);
    assert.equal(udpPayloadLimit(opt(0)), 512);
    assert.equal(udpPayloadLimit(opt(1000)), 1000);
    assert.equal(udpPayloadLimit(opt(65_535)), 1232);
  });

  it('takes as a reply only a whole response header with the id', () => {
    const reply = dnsPacket.encode({ type: 'response', id: 77, questions: [] });
    assert.equal(isReplyTo(reply, 77), true);
    assert.equal(isReplyTo(reply, 78), false);
    assert.equal(isReplyTo(dnsPacket.encode({ type: 'query', id: 77, questions: [] }), 77), false);
    assert.equal(isReplyTo(reply.subarray(0, 11), 77), false);
  });
});
