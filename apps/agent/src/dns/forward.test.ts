// forward.test.ts: forwardQuery against fake upstreams on 127.0.0.2 and 127.0.0.3 (traffic
// stays on loopback).
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { FAKE_UPSTREAM_ADDRESS, FakeUpstream } from './fake-upstream.ts';
import { forwardQuery, parseUpstream } from './forward.ts';
import type { ForwardFailure, Upstream } from './forward.ts';

const query = (id: number, name = 'example.com'): Buffer =>
  dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: 'A', class: 'IN' }] });

describe('parseUpstream', () => {
  it('reads IP and IP:PORT, port 53 by default', () => {
    assert.deepEqual(parseUpstream('10.0.0.2'), { host: '10.0.0.2', port: 53 });
    assert.deepEqual(parseUpstream('127.0.0.53:5353'), { host: '127.0.0.53', port: 5353 });
  });

  it('refuses names, IPv6 and bad ports, quoting the value', () => {
    assert.throws(() => parseUpstream('dns.example'), /"dns\.example" is not an IPv4 address/);
    assert.throws(() => parseUpstream('::1'), /not an IPv4 address/);
    assert.throws(() => parseUpstream('10.0.0.2:0'), /port "0"/);
    assert.throws(() => parseUpstream('10.0.0.2:65536'), /port "65536"/);
    assert.throws(() => parseUpstream('10.0.0.2:'), /port ""/);
  });
});

describe('forwardQuery', () => {
  let first: FakeUpstream;
  let second: FakeUpstream;
  let failures: ForwardFailure[];
  const up = (u: FakeUpstream): Upstream => ({ host: u.host, port: u.port });
  const onFailure = (f: ForwardFailure): void => void failures.push(f);
  const reasons = (): string[] => failures.map((f) => `${f.upstream.host} ${f.transport} ${f.reason}`);

  before(async () => {
    first = await FakeUpstream.start('127.0.0.2');
    second = await FakeUpstream.start('127.0.0.3');
  });
  after(async () => {
    await first.stop();
    await second.stop();
  });
  afterEach(() => {
    first.mode = 'answer';
    second.mode = 'answer';
    first.queries.length = 0;
    second.queries.length = 0;
  });
  const reset = (): void => void (failures = []);

  for (const transport of ['udp', 'tcp'] as const) {
    it(`relays the reply of the first upstream over ${transport}, byte for byte`, async () => {
      reset();
      const reply = await forwardQuery(query(0x5151), transport, { upstreams: [up(first), up(second)], onFailure });
      assert.ok(reply !== undefined);
      const p = dnsPacket.decode(reply);
      assert.equal(p.id, 0x5151);
      assert.deepEqual(p.answers?.map((a) => (a.type === 'OPT' ? '' : String(a.data))), [FAKE_UPSTREAM_ADDRESS]);
      assert.deepEqual(first.queries.map((q) => `${q.transport} ${q.name}`), [`${transport} example.com`]);
      assert.equal(second.queries.length, 0);
      assert.deepEqual(failures, []);
    });

    it(`moves on to the next upstream over ${transport} when one does not answer in time`, async () => {
      reset();
      first.mode = 'silent';
      const began = Date.now();
      const reply = await forwardQuery(query(7), transport, { upstreams: [up(first), up(second)], timeoutMs: 150, onFailure });
      assert.ok(reply !== undefined);
      assert.ok(Date.now() - began >= 140, 'it waited for the first');
      assert.equal(dnsPacket.decode(reply).answers?.length, 1);
      assert.deepEqual(reasons(), [`127.0.0.2 ${transport} timeout`]);
    });
  }

  it('sends every UDP query from a fresh port', async () => {
    reset();
    await forwardQuery(query(1), 'udp', { upstreams: [up(first)] });
    await forwardQuery(query(2), 'udp', { upstreams: [up(first)] });
    const [a, b] = first.queries;
    assert.ok(a !== undefined && b !== undefined && a.sourcePort !== b.sourcePort);
  });

  it('ignores a UDP datagram with another id and waits for the reply', async () => {
    reset();
    first.mode = 'wrong-id-first';
    const reply = await forwardQuery(query(300), 'udp', { upstreams: [up(first)], timeoutMs: 1000, onFailure });
    assert.equal(reply !== undefined && dnsPacket.decode(reply).id, 300);
    assert.deepEqual(failures, []);
  });

  it('tries the next upstream after SERVFAIL, and relays the SERVFAIL when nobody does better', async () => {
    reset();
    first.mode = 'servfail';
    const better = await forwardQuery(query(8), 'udp', { upstreams: [up(first), up(second)], onFailure });
    assert.equal(better !== undefined && dnsPacket.decode(better).answers?.length, 1);
    second.mode = 'servfail';
    const worse = await forwardQuery(query(9), 'udp', { upstreams: [up(first), up(second)], onFailure });
    assert.equal(worse !== undefined && (dnsPacket.decode(worse).flags ?? 0) & 0x0f, 2);
    assert.deepEqual(reasons(), ['127.0.0.2 udp rcode', '127.0.0.2 udp rcode', '127.0.0.3 udp rcode']);
  });

  it('resolves undefined when every upstream fails: silent, or a port without a server', async () => {
    reset();
    first.mode = 'silent';
    const closed = { host: '127.0.0.4', port: 9 };
    for (const transport of ['udp', 'tcp'] as const) {
      const reply = await forwardQuery(query(10), transport, { upstreams: [closed, up(first)], timeoutMs: 100, onFailure });
      assert.equal(reply, undefined);
    }
    assert.deepEqual(reasons(), ['127.0.0.4 udp error', '127.0.0.2 udp timeout', '127.0.0.4 tcp error', '127.0.0.2 tcp timeout']);
  });

  it('stops at once when aborted, reporting nothing', async () => {
    reset();
    first.mode = 'silent';
    const abort = new AbortController();
    const began = Date.now();
    const pending = forwardQuery(query(11), 'udp', { upstreams: [up(first), up(second)], timeoutMs: 5000, signal: abort.signal, onFailure });
    setTimeout(() => abort.abort(), 20);
    assert.equal(await pending, undefined);
    assert.ok(Date.now() - began < 1000);
    assert.deepEqual(failures, []);
    assert.equal(second.queries.length, 0);
  });
});
