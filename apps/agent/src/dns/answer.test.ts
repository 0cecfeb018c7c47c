// answer.test.ts: the answering core on real dns-packet messages: every query is encoded, every
// response encoded and decoded again, so a test passes only on what goes over the wire.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, RecordType } from 'dns-packet';
import type { Endpoints, Service } from '@tugboat/api';
import { answerMessage, dnsZone, errorResponseTo, RCODE } from './answer.ts';
import type { DnsZone } from './answer.ts';
import { staticCatalog } from './catalog.ts';

function service(namespace: string, name: string, spec: Service['spec']): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace, name }, spec };
}

function endpoints(namespace: string, name: string, subsets: Endpoints['subsets']): Endpoints {
  return { apiVersion: 'v1', kind: 'Endpoints', metadata: { namespace, name }, ...(subsets === undefined ? {} : { subsets }) };
}

const catalog = staticCatalog(
  [
    service('default', 'kubernetes', { clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443 }] }),
    service('shop', 'web', {
      clusterIP: '10.96.3.7',
      ports: [
        { name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 },
        { name: 'dns', port: 53, protocol: 'UDP' },
        { port: 9000 },
      ],
    }),
    service('shop', 'db', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] }),
    service('shop', 'pending', { ports: [{ name: 'http', port: 80 }] }),
  ],
  [
    endpoints('shop', 'web', [{ addresses: [{ ip: '10.244.1.5' }], ports: [{ name: 'http', port: 8080 }] }]),
    endpoints('shop', 'db', [
      {
        addresses: [{ ip: '10.244.1.10', hostname: 'db-0' }, { ip: '10.244.1.9' }],
        notReadyAddresses: [{ ip: '10.244.3.3', hostname: 'db-2' }],
        ports: [{ name: 'pg', port: 5433, protocol: 'TCP' }],
      },
      {
        addresses: [{ ip: '10.244.1.10', hostname: 'db-0' }, { ip: '10.244.0.200', hostname: 'db-1' }],
        ports: [{ name: 'pg', port: 5433 }, { name: 'metrics', port: 9187 }],
      },
    ]),
  ],
);

const zone = dnsZone();

function query(name: string, type = 'A', extra: Partial<Packet> = {}): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as RecordType, class: 'IN' }],
    ...extra,
  });
}

/** ask sends one query through the core and returns the response as a client decodes it. */
function ask(name: string, type = 'A', extra: Partial<Packet> = {}, z: DnsZone = zone): DecodedPacket {
  const outcome = answerMessage(query(name, type, extra), catalog, z);
  assert.equal(outcome.kind, 'answer', `${name} ${type} is answered here`);
  if (outcome.kind !== 'answer') throw new Error('unreachable');
  return dnsPacket.decode(dnsPacket.encode(outcome.response));
}

const rcode = (p: DecodedPacket): number => (p.flags ?? 0) & 0x0f;

/** rr writes a record the way a zone file would: "name ttl type data". */
function rr(a: Answer): string {
  switch (a.type) {
    case 'SRV':
      return `${a.name} ${a.ttl} SRV ${a.data.priority} ${a.data.weight} ${a.data.port} ${a.data.target}`;
    case 'SOA':
      return `${a.name} ${a.ttl} SOA ${a.data.mname} ${a.data.rname} ${a.data.minimum}`;
    case 'OPT':
      return `OPT ${a.udpPayloadSize}`;
    default:
      return `${a.name} ${'ttl' in a ? a.ttl : ''} ${a.type} ${String(a.data)}`;
  }
}
const answers = (p: DecodedPacket): string[] => (p.answers ?? []).map(rr);
const authorities = (p: DecodedPacket): string[] => (p.authorities ?? []).map(rr);
const additionals = (p: DecodedPacket): string[] => (p.additionals ?? []).map(rr);

const SOA = 'cluster.local 5 SOA ns.dns.cluster.local hostmaster.cluster.local 5';

describe('answerQuery: services', () => {
  it('answers the ClusterIP of a service by its full name, with authority', () => {
    const p = ask('web.shop.svc.cluster.local');
    assert.equal(rcode(p), RCODE.NOERROR);
    assert.equal(p.id, 4242);
    assert.equal(p.type, 'response');
    assert.ok(p.flag_aa && p.flag_rd && p.flag_ra);
    assert.deepEqual(p.questions, [{ name: 'web.shop.svc.cluster.local', type: 'A', class: 'IN' }]);
    assert.deepEqual(answers(p), ['web.shop.svc.cluster.local 5 A 10.96.3.7']);
    assert.deepEqual(authorities(p), []);
  });

  it('answers one A record per ready address of a headless service: deduplicated, in address order, not-ready ones left out', () => {
    const p = ask('db.shop.svc.cluster.local');
    assert.deepEqual(answers(p), [
      'db.shop.svc.cluster.local 5 A 10.244.0.200',
      'db.shop.svc.cluster.local 5 A 10.244.1.9',
      'db.shop.svc.cluster.local 5 A 10.244.1.10',
    ]);
  });

  it('answers the hostnames and dashed IPs of a headless service, but no not-ready address', () => {
    assert.deepEqual(answers(ask('db-0.db.shop.svc.cluster.local')), ['db-0.db.shop.svc.cluster.local 5 A 10.244.1.10']);
    assert.deepEqual(answers(ask('db-1.db.shop.svc.cluster.local')), ['db-1.db.shop.svc.cluster.local 5 A 10.244.0.200']);
    assert.deepEqual(answers(ask('10-244-1-9.db.shop.svc.cluster.local')), ['10-244-1-9.db.shop.svc.cluster.local 5 A 10.244.1.9']);
    for (const name of ['db-2.db.shop.svc.cluster.local', '10-244-3-3.db.shop.svc.cluster.local', 'db-9.db.shop.svc.cluster.local']) {
      const p = ask(name);
      assert.equal(rcode(p), RCODE.NXDOMAIN, name);
      assert.deepEqual(authorities(p), [SOA], name);
    }
    assert.equal(rcode(ask('10-244-1-5.web.shop.svc.cluster.local')), RCODE.NXDOMAIN, 'a normal service has no endpoint names');
  });

  it('answers SRV for a named port of a normal service, with the target address as a hint', () => {
    const p = ask('_http._tcp.web.shop.svc.cluster.local', 'SRV');
    assert.deepEqual(answers(p), ['_http._tcp.web.shop.svc.cluster.local 5 SRV 0 100 80 web.shop.svc.cluster.local']);
    assert.deepEqual(additionals(p), ['web.shop.svc.cluster.local 5 A 10.96.3.7']);
    assert.deepEqual(answers(ask('_dns._udp.web.shop.svc.cluster.local', 'SRV')), ['_dns._udp.web.shop.svc.cluster.local 5 SRV 0 100 53 web.shop.svc.cluster.local']);
  });

  it('answers SRV for a named port of a headless service: one record per ready address, with the endpoint port', () => {
    const p = ask('_pg._tcp.db.shop.svc.cluster.local', 'SRV');
    assert.deepEqual(answers(p), [
      '_pg._tcp.db.shop.svc.cluster.local 5 SRV 0 100 5433 10-244-1-9.db.shop.svc.cluster.local',
      '_pg._tcp.db.shop.svc.cluster.local 5 SRV 0 100 5433 db-0.db.shop.svc.cluster.local',
      '_pg._tcp.db.shop.svc.cluster.local 5 SRV 0 100 5433 db-1.db.shop.svc.cluster.local',
    ]);
    assert.deepEqual(additionals(p), [
      '10-244-1-9.db.shop.svc.cluster.local 5 A 10.244.1.9',
      'db-0.db.shop.svc.cluster.local 5 A 10.244.1.10',
      'db-1.db.shop.svc.cluster.local 5 A 10.244.0.200',
    ]);
    assert.deepEqual(answers(ask('_metrics._tcp.db.shop.svc.cluster.local', 'SRV')), [
      '_metrics._tcp.db.shop.svc.cluster.local 5 SRV 0 100 9187 db-0.db.shop.svc.cluster.local',
      '_metrics._tcp.db.shop.svc.cluster.local 5 SRV 0 100 9187 db-1.db.shop.svc.cluster.local',
    ]);
  });

  it('knows which SRV names exist: unknown ports and protocols are NXDOMAIN, _PROTO is NODATA', () => {
    for (const name of ['_http._udp.web.shop.svc.cluster.local', '_nope._tcp.web.shop.svc.cluster.local', '_udp.db.shop.svc.cluster.local', 'x._http._tcp.web.shop.svc.cluster.local']) {
      assert.equal(rcode(ask(name, 'SRV')), RCODE.NXDOMAIN, name);
    }
    const p = ask('_tcp.web.shop.svc.cluster.local', 'SRV');
    assert.equal(rcode(p), RCODE.NOERROR);
    assert.deepEqual(answers(p), []);
    assert.deepEqual(authorities(p), [SOA]);
    assert.deepEqual(answers(ask('_http._tcp.web.shop.svc.cluster.local', 'A')), [], 'an SRV name has no A record');
  });

  it('answers NODATA for a service without a ClusterIP that is not headless', () => {
    for (const [name, type] of [['pending.shop.svc.cluster.local', 'A'], ['_http._tcp.pending.shop.svc.cluster.local', 'SRV']] as const) {
      const p = ask(name, type);
      assert.equal(rcode(p), RCODE.NOERROR, name);
      assert.deepEqual(answers(p), [], name);
      assert.deepEqual(authorities(p), [SOA], name);
    }
  });

  it('answers NXDOMAIN with the SOA for an unknown service, an unknown namespace and names outside svc', () => {
    for (const name of [
      'nope.shop.svc.cluster.local',
      'web.nope.svc.cluster.local',
      'nope.svc.cluster.local',
      'web.shop.cluster.local',
      '10-244-1-5.shop.pod.cluster.local',
      'a.b.c.d.e.f.svc.cluster.local',
    ]) {
      const p = ask(name);
      assert.equal(rcode(p), RCODE.NXDOMAIN, name);
      assert.ok(p.flag_aa, name);
      assert.deepEqual(answers(p), [], name);
      assert.deepEqual(authorities(p), [SOA], name);
    }
  });

  it('answers NODATA for AAAA of a service, and for the names above services', () => {
    for (const [name, type] of [
      ['web.shop.svc.cluster.local', 'AAAA'],
      ['web.shop.svc.cluster.local', 'TXT'],
      ['web.shop.svc.cluster.local', 'UNKNOWN_65'],
      ['shop.svc.cluster.local', 'A'],
      ['svc.cluster.local', 'A'],
      ['cluster.local', 'A'],
    ] as const) {
      const p = ask(name, type);
      assert.equal(rcode(p), RCODE.NOERROR, `${name} ${type}`);
      assert.ok(p.flag_aa);
      assert.deepEqual(answers(p), [], `${name} ${type}`);
      assert.deepEqual(authorities(p), [SOA], `${name} ${type}`);
      assert.equal(p.questions?.[0]?.type, type, 'the question is echoed as asked');
    }
    assert.deepEqual(answers(ask('cluster.local', 'SOA')), [SOA]);
  });

  it('compares names case-insensitively and answers with the name as asked', () => {
    const p = ask('WEB.Shop.SVC.Cluster.Local');
    assert.deepEqual(p.questions, [{ name: 'WEB.Shop.SVC.Cluster.Local', type: 'A', class: 'IN' }]);
    assert.deepEqual(answers(p), ['WEB.Shop.SVC.Cluster.Local 5 A 10.96.3.7']);
    assert.deepEqual(answers(ask('DB-0.Db.SHOP.svc.cluster.LOCAL')), ['DB-0.Db.SHOP.svc.cluster.LOCAL 5 A 10.244.1.10']);
    assert.deepEqual(answers(ask('_HTTP._TCP.web.shop.svc.cluster.local', 'SRV')), ['_HTTP._TCP.web.shop.svc.cluster.local 5 SRV 0 100 80 web.shop.svc.cluster.local']);
    assert.deepEqual(answers(ask('7.3.96.10.IN-ADDR.ARPA', 'PTR')), ['7.3.96.10.IN-ADDR.ARPA 5 PTR web.shop.svc.cluster.local']);
  });

  it('answers every record of the name for ANY', () => {
    assert.deepEqual(answers(ask('db-0.db.shop.svc.cluster.local', 'ANY')), ['db-0.db.shop.svc.cluster.local 5 A 10.244.1.10']);
  });
});

describe('answerQuery: reverse names', () => {
  it('answers the PTR of a ClusterIP', () => {
    const p = ask('7.3.96.10.in-addr.arpa', 'PTR');
    assert.equal(rcode(p), RCODE.NOERROR);
    assert.ok(p.flag_aa);
    assert.deepEqual(answers(p), ['7.3.96.10.in-addr.arpa 5 PTR web.shop.svc.cluster.local']);
    assert.deepEqual(answers(ask('1.0.96.10.in-addr.arpa', 'PTR')), ['1.0.96.10.in-addr.arpa 5 PTR kubernetes.default.svc.cluster.local']);
  });

  it('answers NXDOMAIN, with the reverse zone SOA, for addresses of the service network that no service has', () => {
    const soa = '96.10.in-addr.arpa 5 SOA ns.dns.cluster.local hostmaster.cluster.local 5';
    for (const name of ['8.3.96.10.in-addr.arpa', '255.255.96.10.in-addr.arpa', '07.3.96.10.in-addr.arpa', 'x.7.3.96.10.in-addr.arpa']) {
      const p = ask(name, 'PTR');
      assert.equal(rcode(p), RCODE.NXDOMAIN, name);
      assert.deepEqual(authorities(p), [soa], name);
    }
    assert.equal(rcode(ask('3.96.10.in-addr.arpa', 'PTR')), RCODE.NOERROR, 'a /24 of the network exists');
    assert.deepEqual(answers(ask('96.10.in-addr.arpa', 'SOA')), [soa]);
    assert.deepEqual(answers(ask('7.3.96.10.in-addr.arpa', 'A')), [], 'NODATA for another type');
  });

  it('forwards reverse names outside the service network, and everything outside the cluster domain', () => {
    for (const [name, type] of [
      ['5.1.244.10.in-addr.arpa', 'PTR'],
      ['1.1.168.192.in-addr.arpa', 'PTR'],
      ['10.in-addr.arpa', 'PTR'],
      ['example.com', 'A'],
      ['web.shop.svc.cluster.local.example.com', 'A'],
      ['local', 'SOA'],
      ['.', 'NS'],
    ] as const) {
      const outcome = answerMessage(query(name, type), catalog, zone);
      assert.equal(outcome.kind, 'forward', `${name} ${type}`);
      if (outcome.kind === 'forward') assert.equal(outcome.query.questions?.[0]?.name, name);
    }
  });
});

describe('answerQuery: configuration', () => {
  it('serves the configured domain and TTL, and forwards cluster.local then', () => {
    const z = dnsZone({ domain: 'Tug.Example.', ttlSeconds: 30 });
    assert.equal(z.domain, 'tug.example');
    assert.deepEqual(answers(ask('web.shop.svc.tug.example', 'A', {}, z)), ['web.shop.svc.tug.example 30 A 10.96.3.7']);
    assert.deepEqual(answers(ask('7.3.96.10.in-addr.arpa', 'PTR', {}, z)), ['7.3.96.10.in-addr.arpa 30 PTR web.shop.svc.tug.example']);
    assert.deepEqual(authorities(ask('nope.svc.tug.example', 'A', {}, z)), ['tug.example 30 SOA ns.dns.tug.example hostmaster.tug.example 30']);
    assert.equal(answerMessage(query('web.shop.svc.cluster.local'), catalog, z).kind, 'forward');
  });

  it('answers the reverse zones of another service network', () => {
    const z = dnsZone({ serviceNetwork: '10.96.0.0/12' });
    assert.equal(answerMessage(query('7.3.96.10.in-addr.arpa', 'PTR'), catalog, z).kind, 'answer');
    assert.equal(rcode(ask('1.0.100.10.in-addr.arpa', 'PTR', {}, z)), RCODE.NXDOMAIN);
    assert.equal(answerMessage(query('1.0.112.10.in-addr.arpa', 'PTR'), catalog, z).kind, 'forward');
  });

  it('refuses bad options, naming the field', () => {
    assert.throws(() => dnsZone({ domain: 'cluster..local' }), /domain:/);
    assert.throws(() => dnsZone({ domain: 'under_score.local' }), /domain:/);
    assert.throws(() => dnsZone({ ttlSeconds: -1 }), /ttlSeconds:/);
    assert.throws(() => dnsZone({ ttlSeconds: 1.5 }), /ttlSeconds:/);
    assert.throws(() => dnsZone({ serviceNetwork: '10.96.0.1/16' }), /serviceNetwork:.*host bits/);
    assert.throws(() => dnsZone({ serviceNetwork: '10.0.0.0/7' }), /serviceNetwork:/);
  });
});

describe('answerMessage: errors', () => {
  it('answers FORMERR to a message that does not decode, when its id can be read', () => {
    const bad = Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 3, 0x77]);
    const outcome = answerMessage(bad, catalog, zone);
    assert.equal(outcome.kind, 'answer');
    if (outcome.kind !== 'answer') return;
    const p = dnsPacket.decode(dnsPacket.encode(outcome.response));
    assert.equal(p.id, 0x1234);
    assert.equal(rcode(p), RCODE.FORMERR);
    assert.ok(p.flag_rd && !p.flag_aa);
    assert.equal(rcode(ask('x', 'A', { questions: [] })), RCODE.FORMERR, 'no question');
  });

  it('answers FORMERR to several questions, and to several OPT records', () => {
    const two = ask('web.shop.svc.cluster.local', 'A', {
      questions: [
        { name: 'web.shop.svc.cluster.local', type: 'A' },
        { name: 'db.shop.svc.cluster.local', type: 'A' },
      ],
    });
    assert.equal(rcode(two), RCODE.FORMERR);
    assert.deepEqual(two.questions, []);
    const opt = { type: 'OPT' as const, name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
    assert.equal(rcode(ask('web.shop.svc.cluster.local', 'A', { additionals: [opt, opt] })), RCODE.FORMERR);
  });

  it('drops messages without an id, and responses', () => {
    assert.deepEqual(answerMessage(Buffer.from([7]), catalog, zone), { kind: 'drop', reason: 'shorter than a message id' });
    assert.equal(answerMessage(Buffer.alloc(0), catalog, zone).kind, 'drop');
    const response = dnsPacket.encode({ type: 'response', id: 1, questions: [{ name: 'example.com', type: 'A' }] });
    assert.equal(answerMessage(response, catalog, zone).kind, 'drop');
    assert.equal(errorResponseTo(Buffer.from([7]), RCODE.SERVFAIL), undefined);
  });

  it('answers NOTIMP to opcodes other than QUERY and classes other than IN', () => {
    for (const opcode of [1, 2, 4, 5]) {
      const p = ask('web.shop.svc.cluster.local', 'A', { flags: (opcode << 11) | dnsPacket.RECURSION_DESIRED });
      assert.equal(rcode(p), RCODE.NOTIMP, `opcode ${opcode}`);
      assert.equal(((p.flags ?? 0) >> 11) & 0x0f, opcode, 'the opcode is echoed');
      assert.deepEqual(answers(p), []);
    }
    const chaos = ask('version.bind', 'TXT', { questions: [{ name: 'version.bind', type: 'TXT', class: 'CH' }] });
    assert.equal(rcode(chaos), RCODE.NOTIMP);
    assert.deepEqual(chaos.questions, [{ name: 'version.bind', type: 'TXT', class: 'CH' }]);
  });

  it('refuses zone transfers of its zones', () => {
    assert.equal(rcode(ask('cluster.local', 'AXFR')), RCODE.REFUSED);
    assert.equal(answerMessage(query('example.com', 'AXFR'), catalog, zone).kind, 'forward');
  });

  it('answers SERVFAIL to raw bytes with the question echoed', () => {
    const p = dnsPacket.decode(dnsPacket.encode(errorResponseTo(query('example.com'), RCODE.SERVFAIL)!));
    assert.equal(rcode(p), RCODE.SERVFAIL);
    assert.equal(p.id, 4242);
    assert.deepEqual(p.questions, [{ name: 'example.com', type: 'A', class: 'IN' }]);
  });
});

describe('answerQuery: EDNS0', () => {
  const opt = (ednsVersion: number, udpPayloadSize: number) => ({
    type: 'OPT' as const,
    name: '.',
    udpPayloadSize,
    extendedRcode: 0,
    ednsVersion,
    flags: 0,
    flag_do: false,
    options: [],
  });

  it('answers an OPT record with an OPT record and takes the client size, within 512..1232', () => {
    const outcome = answerMessage(query('web.shop.svc.cluster.local', 'A', { additionals: [opt(0, 4096)] }), catalog, zone);
    assert.equal(outcome.kind === 'answer' && outcome.udpPayloadBytes, 1232);
    const small = answerMessage(query('web.shop.svc.cluster.local', 'A', { additionals: [opt(0, 100)] }), catalog, zone);
    assert.equal(small.kind === 'answer' && small.udpPayloadBytes, 512);
    const plain = answerMessage(query('web.shop.svc.cluster.local'), catalog, zone);
    assert.equal(plain.kind === 'answer' && plain.udpPayloadBytes, 512);
    assert.deepEqual(additionals(ask('web.shop.svc.cluster.local', 'A', { additionals: [opt(0, 4096)] })), ['OPT 1232']);
    assert.deepEqual(additionals(ask('web.shop.svc.cluster.local')), [], 'no OPT without one in the query');
  });

  it('answers a query laid out byte by byte as dig sends it: AD set, EDNS0 with a cookie', () => {
    const name = ['web', 'shop', 'svc', 'cluster', 'local'].flatMap((l) => [l.length, ...Buffer.from(l)]);
    const bytes = Buffer.from([
      0xbe, 0xef, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 1, // header: RD AD, 1 question, 1 additional
      ...name, 0, 0, 1, 0, 1, // web.shop.svc.cluster.local A IN
      0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, // OPT 1232, COOKIE
    ]);
    const outcome = answerMessage(bytes, catalog, zone);
    assert.equal(outcome.kind === 'answer' && outcome.udpPayloadBytes, 1232);
    if (outcome.kind !== 'answer') return;
    const p = dnsPacket.decode(dnsPacket.encode(outcome.response));
    assert.equal(p.id, 0xbeef);
    assert.deepEqual(answers(p), ['web.shop.svc.cluster.local 5 A 10.96.3.7']);
    assert.deepEqual(additionals(p), ['OPT 1232']);
  });

  it('answers BADVERS to an EDNS version above 0', () => {
    const p = ask('web.shop.svc.cluster.local', 'A', { additionals: [opt(1, 1232)] });
    const ours = p.additionals?.find((a) => a.type === 'OPT');
    assert.ok(ours !== undefined && ours.type === 'OPT');
    assert.equal((ours.extendedRcode << 4) | rcode(p), RCODE.BADVERS);
    assert.deepEqual(answers(p), []);
  });
});
