// server.test.ts: ClusterDnsServer on 127.0.0.1 (a free port), asked over real UDP and TCP
// sockets with dns-packet messages, forwarding to a FakeUpstream on 127.0.0.2. All traffic
// stays on loopback; every server and socket is closed by the hooks, also after a failure.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import type { Socket as TcpSocket } from 'node:net';
import { Writable } from 'node:stream';
import dnsPacket from 'dns-packet';
import type { DecodedPacket, Packet, RecordType } from 'dns-packet';
import { pino } from 'pino';
import type { Endpoints, Service } from '@tugboat/api';
import { RCODE } from './answer.ts';
import { staticCatalog } from './catalog.ts';
import { FAKE_UPSTREAM_ADDRESS, FakeUpstream } from './fake-upstream.ts';
import { ClusterDnsServer } from './server.ts';
import type { ClusterDnsServerOptions } from './server.ts';
import { FrameReader, frameMessage } from './wire.ts';

const HOST = '127.0.0.1';
const MANY = 100;

const catalog = staticCatalog(
  [
    { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'shop', name: 'web' }, spec: { clusterIP: '10.96.3.7', ports: [{ name: 'http', port: 80 }] } },
    { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'shop', name: 'many' }, spec: { clusterIP: 'None' } },
  ] satisfies Service[],
  [
    {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { namespace: 'shop', name: 'many' },
      subsets: [{ addresses: Array.from({ length: MANY }, (_, i) => ({ ip: `10.244.${Math.floor(i / 50)}.${(i % 50) + 1}` })) }],
    },
  ] satisfies Endpoints[],
);

const question = (name: string, type = 'A', id = 1): Packet => ({
  type: 'query',
  id,
  flags: dnsPacket.RECURSION_DESIRED,
  questions: [{ name, type: type as RecordType, class: 'IN' }],
});
const rcode = (p: DecodedPacket): number => (p.flags ?? 0) & 0x0f;
const addresses = (p: DecodedPacket): string[] => (p.answers ?? []).map((a) => (a.type === 'OPT' ? '' : String(a.data)));

/** udpExchange sends one datagram to the server and returns the reply's bytes. */
async function udpExchange(port: number, message: Buffer, timeoutMs = 3000): Promise<Buffer> {
  const socket = createSocket('udp4');
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no UDP reply from ${HOST}:${port} within ${timeoutMs} ms`)), timeoutMs);
      socket.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.on('message', (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      socket.send(message, port, HOST);
    });
  } finally {
    socket.close();
  }
}

const udpAsk = async (port: number, packet: Packet): Promise<DecodedPacket> => dnsPacket.decode(await udpExchange(port, dnsPacket.encode(packet)));

/** tcpConnect opens a connection that the test closes (or the hooks destroy). */
const clients = new Set<TcpSocket>();
async function tcpConnect(port: number): Promise<TcpSocket> {
  const socket = connect({ host: HOST, port });
  clients.add(socket);
  socket.on('close', () => clients.delete(socket));
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** tcpAsk writes every query at once on one connection and reads as many answers. */
async function tcpAsk(port: number, packets: Packet[], socket?: TcpSocket): Promise<DecodedPacket[]> {
  const s = socket ?? (await tcpConnect(port));
  try {
    const reader = new FrameReader();
    const got: DecodedPacket[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${got.length} of ${packets.length} TCP answers within 3 s`)), 3000);
      s.on('data', (chunk: Buffer) => {
        for (const m of reader.push(chunk)) got.push(dnsPacket.decode(m));
        if (got.length >= packets.length) {
          clearTimeout(timer);
          resolve();
        }
      });
      s.on('close', () => {
        clearTimeout(timer);
        reject(new Error('the server closed the connection'));
      });
    });
    s.write(Buffer.concat(packets.map((p) => frameMessage(dnsPacket.encode(p)))));
    await done;
    return got;
  } finally {
    if (socket === undefined) s.destroy();
    s.removeAllListeners('data');
    s.removeAllListeners('close');
  }
}

const closed = (s: TcpSocket): Promise<void> => (s.destroyed ? Promise.resolve() : new Promise((resolve) => s.once('close', () => resolve())));

/** logs: every line the servers wrote, parsed. */
const logs: { level: number; msg: string; kind?: string }[] = [];
const log = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l !== '') logs.push(JSON.parse(l) as { level: number; msg: string });
      done();
    },
  }),
);

describe('ClusterDnsServer', () => {
  let upstream: FakeUpstream;
  const servers: ClusterDnsServer[] = [];

  async function serve(extra: Partial<ClusterDnsServerOptions> = {}): Promise<ClusterDnsServer> {
    const s = new ClusterDnsServer({ address: HOST, port: 0, catalog, upstreams: [upstream.address], log, ...extra });
    servers.push(s);
    await s.start();
    return s;
  }

  before(async () => {
    upstream = await FakeUpstream.start('127.0.0.2');
  });
  after(async () => {
    await upstream.stop();
  });
  afterEach(async () => {
    for (const c of clients) c.destroy();
    await Promise.all(servers.splice(0).map((s) => s.stop()));
    upstream.mode = 'answer';
    upstream.queries.length = 0;
    logs.length = 0;
  });

  it('answers cluster names over UDP, and several queries on one TCP connection', async () => {
    const dns = await serve();
    assert.notEqual(dns.port, 0);
    const p = await udpAsk(dns.port, question('web.shop.svc.cluster.local', 'A', 11));
    assert.equal(p.id, 11);
    assert.ok(p.flag_aa);
    assert.deepEqual(addresses(p), ['10.96.3.7']);

    const answers = await tcpAsk(dns.port, [
      question('web.shop.svc.cluster.local', 'A', 21),
      question('7.3.96.10.in-addr.arpa', 'PTR', 22),
      question('nope.shop.svc.cluster.local', 'A', 23),
    ]);
    const byId = new Map(answers.map((a) => [a.id, a]));
    assert.deepEqual(addresses(byId.get(21)!), ['10.96.3.7']);
    assert.deepEqual(addresses(byId.get(22)!), ['web.shop.svc.cluster.local']);
    assert.equal(rcode(byId.get(23)!), RCODE.NXDOMAIN);
    assert.equal(upstream.queries.length, 0, 'cluster names never go upstream');
  });

  it('forwards other names to the upstream over the transport the client used, and relays its answer', async () => {
    const dns = await serve();
    const overUdp = await udpAsk(dns.port, question('example.com', 'A', 31));
    assert.equal(overUdp.id, 31);
    assert.deepEqual(addresses(overUdp), [FAKE_UPSTREAM_ADDRESS]);
    const [overTcp] = await tcpAsk(dns.port, [question('Example.COM', 'A', 32)]);
    assert.equal(overTcp?.id, 32);
    assert.deepEqual(addresses(overTcp!), [FAKE_UPSTREAM_ADDRESS]);
    assert.deepEqual(upstream.queries.map((q) => `${q.transport} ${q.name}`), ['udp example.com', 'tcp Example.COM']);
  });

  it('truncates a big answer over UDP, and gives it whole over TCP', async () => {
    const dns = await serve();
    const bytes = await udpExchange(dns.port, dnsPacket.encode(question('many.shop.svc.cluster.local', 'A', 41)));
    assert.ok(bytes.length <= 512, `${bytes.length} bytes over UDP`);
    const truncated = dnsPacket.decode(bytes);
    assert.equal(truncated.flag_tc, true);
    assert.equal(truncated.id, 41);
    assert.deepEqual(truncated.answers, []);
    assert.deepEqual(truncated.questions?.map((q) => q.name), ['many.shop.svc.cluster.local']);

    const [whole] = await tcpAsk(dns.port, [question('many.shop.svc.cluster.local', 'A', 42)]);
    assert.equal(whole?.flag_tc, false);
    assert.equal(whole?.answers?.length, MANY);
    assert.equal(addresses(whole!)[0], '10.244.0.1');
  });

  it('answers SERVFAIL, with the question, when the upstream does not answer', async () => {
    upstream.mode = 'silent';
    const dns = await serve({ forwardTimeoutMs: 100 });
    const overUdp = await udpAsk(dns.port, question('example.com', 'A', 51));
    assert.equal(rcode(overUdp), RCODE.SERVFAIL);
    assert.deepEqual(overUdp.questions, [{ name: 'example.com', type: 'A', class: 'IN' }]);
    const [overTcp] = await tcpAsk(dns.port, [question('example.org', 'A', 52)]);
    assert.equal(overTcp && rcode(overTcp), RCODE.SERVFAIL);
    assert.equal(overTcp?.id, 52);
  });

  it('answers SERVFAIL for other names without upstreams', async () => {
    const dns = await serve({ upstreams: [] });
    assert.equal(rcode(await udpAsk(dns.port, question('example.com'))), RCODE.SERVFAIL);
  });

  it('writes failures once per kind as warnings, and nothing per query at info', async () => {
    upstream.mode = 'silent';
    const dns = await serve({ forwardTimeoutMs: 50 });
    for (let i = 0; i < 3; i++) await udpAsk(dns.port, question('example.com', 'A', 60 + i));
    for (let i = 0; i < 5; i++) await udpAsk(dns.port, question('web.shop.svc.cluster.local', 'A', 70 + i));
    const warn = logs.filter((l) => l.level === 40).map((l) => l.kind);
    assert.deepEqual(warn, [`upstream timeout ${upstream.address}/udp`, 'all upstreams failed']);
    assert.deepEqual(logs.filter((l) => l.level === 30).map((l) => l.msg), ['cluster DNS serving']);
  });

  it('closes an idle TCP connection, and connections above the limit', async () => {
    const dns = await serve({ tcpIdleTimeoutMs: 150, tcpConnectionsMax: 1 });
    const first = await tcpConnect(dns.port);
    const second = await tcpConnect(dns.port);
    await closed(second);
    const [answer] = await tcpAsk(dns.port, [question('web.shop.svc.cluster.local')], first);
    assert.deepEqual(addresses(answer!), ['10.96.3.7'], 'the first connection still works');
    const began = Date.now();
    await closed(first);
    assert.ok(Date.now() - began >= 100, 'closed after being idle');
  });

  it('answers what a client sent before it half-closed its connection', async () => {
    const dns = await serve();
    const socket = await tcpConnect(dns.port);
    const reader = new FrameReader();
    const got: DecodedPacket[] = [];
    socket.on('data', (chunk: Buffer) => got.push(...reader.push(chunk).map((m) => dnsPacket.decode(m))));
    socket.end(frameMessage(dnsPacket.encode(question('example.com', 'A', 81))));
    await closed(socket);
    assert.deepEqual(got.map((p) => addresses(p)), [[FAKE_UPSTREAM_ADDRESS]]);
  });

  it('fails to start on a port in use, leaving nothing open, and can start later', async () => {
    const first = await serve();
    const second = new ClusterDnsServer({ address: HOST, port: first.port, catalog, log });
    servers.push(second);
    await assert.rejects(second.start(), new RegExp(`cannot serve UDP on 127\\.0\\.0\\.1:${first.port}`));
    await first.stop();
    await second.start();
    assert.deepEqual(addresses(await udpAsk(second.port, question('web.shop.svc.cluster.local'))), ['10.96.3.7']);
  });

  it('closes its sockets and connections on stop', async () => {
    const dns = await serve();
    const port = dns.port;
    const socket = await tcpConnect(port);
    await dns.stop();
    await closed(socket);
    await assert.rejects(tcpConnect(port), /ECONNREFUSED/);
    await assert.rejects(udpExchange(port, dnsPacket.encode(question('web.shop.svc.cluster.local')), 200));
    assert.deepEqual(logs.filter((l) => l.level === 30).map((l) => l.msg), ['cluster DNS serving', 'cluster DNS stopped']);
  });

  it('stopped while starting, it closes what it bound before stop resolves', async () => {
    const dns = new ClusterDnsServer({ address: HOST, port: 0, catalog, log });
    servers.push(dns);
    const starting = dns.start();
    await dns.stop();
    await starting;
    await assert.rejects(dns.start(), /start\(\) while stopped/);
    assert.deepEqual(logs.filter((l) => l.level === 30).map((l) => l.msg), [], 'it never served');
  });

  it('refuses bad options, naming the field', () => {
    const base = { address: HOST, catalog, log };
    assert.throws(() => new ClusterDnsServer({ ...base, address: 'localhost' }), /address:/);
    assert.throws(() => new ClusterDnsServer({ ...base, port: 70_000 }), /port:/);
    assert.throws(() => new ClusterDnsServer({ ...base, upstreams: ['8.8.8.8', 'dns.google'] }), /upstreams\[1\]:/);
    assert.throws(() => new ClusterDnsServer({ ...base, upstreams: [`${HOST}:53`] }), /upstreams\[0\]:.*loop/);
    assert.throws(() => new ClusterDnsServer({ ...base, domain: 'bad domain' }), /domain:/);
    assert.throws(() => new ClusterDnsServer({ ...base, forwardTimeoutMs: 0 }), /forwardTimeoutMs:/);
  });
});
