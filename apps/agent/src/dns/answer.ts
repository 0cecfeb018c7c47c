// answer.ts: the answering core of the cluster DNS server. Pure: it reads the catalog and
// returns a response, or says that the query goes upstream. No sockets, no clock.
//
// Zones. The server answers with authority (AA) for the cluster domain D (default
// cluster.local) and for the reverse zones of the service network (10.96.0.0/16:
// 96.10.in-addr.arpa). Every other name is forwarded to the node's upstream resolvers,
// including the reverse names of addresses outside the service network.
//
// Names under D (Kubernetes DNS-based service discovery):
//   SVC.NS.svc.D               A (AAAA for an IPv6 address): the service's ClusterIP; for a
//                              headless service (clusterIP "None") the ready addresses of its
//                              Endpoints (subsets[].addresses, never notReadyAddresses),
//                              deduplicated, in address order. A service with neither: none.
//   HOST.SVC.NS.svc.D          headless services only: the ready addresses whose hostname is
//                              HOST, or whose IP written with dashes (10-244-1-5) is HOST.
//   _PORT._PROTO.SVC.NS.svc.D  SRV for the named port PORT with protocol PROTO (tcp, udp,
//                              sctp). Normal service: one record, priority 0, weight 100, the
//                              service port, target SVC.NS.svc.D. Headless: one per ready
//                              address, with the endpoint port of that name, target
//                              HOST.SVC.NS.svc.D when the address has a hostname, else the
//                              dashed IP. The targets' addresses go in the additional section.
//   D (SOA), svc.D, NS.svc.D (when the namespace has a service), _PROTO.SVC.NS.svc.D (when a
//   named port has that protocol) exist without other records. Nothing else exists.
// Reverse names: the PTR of a ClusterIP is SVC.NS.svc.D; an address of the service network
// that no service has, or a malformed name in its reverse zone, is NXDOMAIN.
//
// Answers. A name that does not exist: NXDOMAIN. A name without records of the asked type:
// NOERROR and no answers (NODATA). Both carry the zone's SOA in the authority section so that
// resolvers cache them for ttlSeconds (RFC 2308). Names compare case-insensitively; records are
// owned by the question's name as it was asked. Type ANY gets every record of the name. Every
// record has the TTL ttlSeconds.
//
// Errors. A message too short to carry an id is dropped, and so is any response (QR set): a
// server never answers answers. A message that does not decode, or that has no question,
// several questions or several OPT records: FORMERR. An opcode other than QUERY, or a class
// other than IN: NOTIMP. EDNS version above 0: BADVERS. Zone transfers (AXFR, IXFR) of our
// zones: REFUSED. A query with an OPT record gets one back offering UDP_PAYLOAD_MAX_BYTES.
import { isIP } from 'node:net';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, OptAnswer, Packet, SoaData, SrvAnswer } from 'dns-packet';
import type { EndpointAddress, EndpointPort, Endpoints, Service, ServicePort } from '@tugboat/api';
import { cidrContains, parseCidr, parseIPv4, SERVICE_NETWORK } from '@tugboat/netconf';
import type { Cidr } from '@tugboat/netconf';
import { clusterIPsOf } from './catalog.ts';
import type { DnsCatalog } from './catalog.ts';
import { headerFlags, isOpt, isResponse, messageId, udpPayloadLimit, UDP_PAYLOAD_CLASSIC_BYTES, UDP_PAYLOAD_MAX_BYTES } from './wire.ts';

/** RCODE names the response codes this server sends (RFC 1035 4.1.1; BADVERS is an extended
 *  code, RFC 6891, carried partly in the OPT record). */
export const RCODE = Object.freeze({
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  BADVERS: 16,
} as const);

/** DEFAULT_CLUSTER_DOMAIN is the cluster domain unless configured. */
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';
/** DEFAULT_TTL_SECONDS is the TTL of every answer unless configured. */
export const DEFAULT_TTL_SECONDS = 5;

/** ZoneOptions configure what the core answers for. */
export interface ZoneOptions {
  /** domain is the cluster domain, any case, a final dot ignored. Default "cluster.local". */
  domain?: string | undefined;
  /** ttlSeconds is the TTL of every record and how long negative answers are cached
   *  (the SOA minimum). Default 5. */
  ttlSeconds?: number | undefined;
  /** serviceNetwork is the CIDR ClusterIPs come from; its reverse zone is answered here.
   *  Default 10.96.0.0/16 (@tugboat/netconf SERVICE_NETWORK). */
  serviceNetwork?: string | undefined;
}

/** DnsZone is the validated configuration of the core; make one with dnsZone. */
export interface DnsZone {
  /** domain is the cluster domain, lowercase, without a final dot. */
  readonly domain: string;
  readonly domainLabels: readonly string[];
  readonly ttlSeconds: number;
  readonly serviceNetwork: Cidr;
  /** reverseOctets is how many leading octets name a reverse zone of the service network:
   *  2 for a /16 (96.10.in-addr.arpa). */
  readonly reverseOctets: number;
  /** soa is the SOA data of every zone served here. */
  readonly soa: Readonly<SoaData>;
}

const LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const OCTET_RE = /^(0|[1-9][0-9]{0,2})$/;
const TTL_SECONDS_MAX = 2_147_483_647;

/** dnsZone validates options once, up front; errors name the field. */
export function dnsZone(opts: ZoneOptions = {}): DnsZone {
  const domain = (opts.domain ?? DEFAULT_CLUSTER_DOMAIN).toLowerCase().replace(/\.$/, '');
  const domainLabels = domain.split('.');
  if (domain.length > 253 || !domainLabels.every((l) => LABEL_RE.test(l))) {
    throw new Error(`cluster DNS: domain: ${JSON.stringify(opts.domain)} is not a DNS name of lowercase letters, digits and hyphens`);
  }
  const ttlSeconds = opts.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 0 || ttlSeconds > TTL_SECONDS_MAX) {
    throw new Error(`cluster DNS: ttlSeconds: must be a whole number from 0 to ${TTL_SECONDS_MAX}, got ${ttlSeconds}`);
  }
  let serviceNetwork: Cidr;
  try {
    serviceNetwork = parseCidr(opts.serviceNetwork ?? SERVICE_NETWORK);
  } catch (err) {
    throw new Error(`cluster DNS: serviceNetwork: ${(err as Error).message}`, { cause: err });
  }
  if (serviceNetwork.prefix < 8) {
    throw new Error(`cluster DNS: serviceNetwork: a /${serviceNetwork.prefix} is wider than the /8 the reverse zones allow`);
  }
  return {
    domain,
    domainLabels,
    ttlSeconds,
    serviceNetwork,
    reverseOctets: Math.ceil(serviceNetwork.prefix / 8),
    soa: Object.freeze({
      mname: `ns.dns.${domain}`,
      rname: `hostmaster.${domain}`,
      // The zones are never transferred, so the serial means nothing to anyone; it stays fixed
      // to keep answers a function of the catalog alone.
      serial: 1,
      refresh: 7200,
      retry: 1800,
      expire: 86_400,
      minimum: ttlSeconds,
    }),
  };
}

/** DnsOutcome is what to do with one message: send response (over UDP in at most
 *  udpPayloadBytes, see wire.ts encodeResponse), forward the message as it is, or drop it. */
export type DnsOutcome =
  | { readonly kind: 'answer'; readonly response: Packet; readonly udpPayloadBytes: number }
  | { readonly kind: 'forward'; readonly query: DecodedPacket }
  | { readonly kind: 'drop'; readonly reason: string };

/** answerMessage decides what to do with the bytes of one message a client sent. */
export function answerMessage(message: Buffer, catalog: DnsCatalog, zone: DnsZone): DnsOutcome {
  const id = messageId(message);
  if (id === undefined) return { kind: 'drop', reason: 'shorter than a message id' };
  if (isResponse(message)) return { kind: 'drop', reason: 'a response, not a query' };
  let query: DecodedPacket;
  try {
    query = dnsPacket.decode(message);
  } catch {
    const flags = responseFlags(headerFlags(message), RCODE.FORMERR, false);
    return {
      kind: 'answer',
      response: { type: 'response', id, flags, questions: [], answers: [], authorities: [], additionals: [] },
      udpPayloadBytes: UDP_PAYLOAD_CLASSIC_BYTES,
    };
  }
  return answerQuery(query, catalog, zone);
}

/** answerQuery decides what to do with a decoded query (see the module comment). */
export function answerQuery(query: DecodedPacket, catalog: DnsCatalog, zone: DnsZone): DnsOutcome {
  if (query.type === 'response') return { kind: 'drop', reason: 'a response, not a query' };
  const opts = (query.additionals ?? []).filter(isOpt);
  const udpPayloadBytes = udpPayloadLimit(opts[0]);
  const reply = (response: Packet): DnsOutcome => ({ kind: 'answer', response, udpPayloadBytes });
  const questions = query.questions ?? [];
  if (opts.length > 1 || questions.length !== 1) return reply(errorResponse(query, RCODE.FORMERR));
  if (opcodeOf(query) !== 0) return reply(errorResponse(query, RCODE.NOTIMP));
  if (opts[0] !== undefined && opts[0].ednsVersion !== 0) return reply(errorResponse(query, RCODE.BADVERS));
  const question = questions[0]!;
  if ((question.class ?? 'IN') !== 'IN') return reply(errorResponse(query, RCODE.NOTIMP));

  const name = question.name.toLowerCase().replace(/\.$/, '');
  const labels = name === '' ? [] : name.split('.');
  let apex: string;
  let found: Found | undefined;
  const inDomain = underSuffix(labels, zone.domainLabels);
  if (inDomain !== undefined) {
    apex = zone.domain;
    found = clusterName(inDomain, question.name, catalog, zone);
  } else {
    const reverse = reverseZoneOf(labels, zone);
    if (reverse === undefined) return { kind: 'forward', query };
    apex = reverse.apex;
    found = reverseName(reverse.inZone, question.name, catalog, zone);
  }

  const type = question.type.toUpperCase();
  if (type === 'AXFR' || type === 'IXFR') return reply(errorResponse(query, RCODE.REFUSED));
  const soa: Answer = { name: apex, type: 'SOA', class: 'IN', ttl: zone.ttlSeconds, data: zone.soa };
  if (found === undefined) return reply(response(query, RCODE.NXDOMAIN, { authorities: [soa] }));
  const answers = found.records.filter((r) => type === 'ANY' || r.type === type);
  if (answers.length === 0) return reply(response(query, RCODE.NOERROR, { authorities: [soa] }));
  return reply(response(query, RCODE.NOERROR, { answers, additionals: found.additionals }));
}

/** errorResponse is the answer with rcode and no records to query: not authoritative, the
 *  question echoed (except for FORMERR, whose questions may be the problem). */
export function errorResponse(query: DecodedPacket, rcode: number): Packet {
  return response(query, rcode, { authoritative: false, questions: rcode === RCODE.FORMERR ? [] : (query.questions ?? []) });
}

/** errorResponseTo is the answer with rcode to the bytes of a query, such as SERVFAIL when
 *  answering it failed: the question echoed when the message decodes (stub resolvers ignore
 *  replies whose question differs), else the header only; undefined without an id. */
export function errorResponseTo(message: Buffer, rcode: number): Packet | undefined {
  const id = messageId(message);
  if (id === undefined) return undefined;
  try {
    return errorResponse(dnsPacket.decode(message), rcode);
  } catch {
    const flags = responseFlags(headerFlags(message), rcode, false);
    return { type: 'response', id, flags, questions: [], answers: [], authorities: [], additionals: [] };
  }
}

/** Found is an existing name: its records (all types) and the hints that go with them. */
interface Found {
  readonly records: Answer[];
  readonly additionals: Answer[];
}

const EXISTS: Found = Object.freeze({ records: [], additionals: [] });

interface Sections {
  answers?: Answer[];
  authorities?: Answer[];
  additionals?: Answer[];
  questions?: Packet['questions'];
  authoritative?: boolean;
}

function response(query: DecodedPacket, rcode: number, s: Sections): Packet {
  const opt = (query.additionals ?? []).find(isOpt);
  const additionals = [...(s.additionals ?? [])];
  if (opt !== undefined) {
    const ours: OptAnswer = {
      type: 'OPT',
      name: '.',
      udpPayloadSize: UDP_PAYLOAD_MAX_BYTES,
      extendedRcode: rcode >> 4,
      ednsVersion: 0,
      flags: 0,
      flag_do: false,
      options: [],
    };
    additionals.push(ours);
  }
  return {
    type: 'response',
    id: query.id ?? 0,
    flags: responseFlags(query.flags ?? 0, rcode & 0x0f, s.authoritative ?? true),
    questions: s.questions ?? query.questions ?? [],
    answers: s.answers ?? [],
    authorities: s.authorities ?? [],
    additionals,
  };
}

const OPCODE_MASK = 0x7800;

function opcodeOf(query: DecodedPacket): number {
  return ((query.flags ?? 0) & OPCODE_MASK) >> 11;
}

/** responseFlags: the query's opcode, RD and CD echoed; RA set (names outside are resolved
 *  upstream); AA for answers from our zones. The QR bit comes from type 'response'. */
function responseFlags(queryFlags: number, rcode: number, authoritative: boolean): number {
  const echoed = queryFlags & (OPCODE_MASK | dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED);
  return echoed | dnsPacket.RECURSION_AVAILABLE | (authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0) | rcode;
}

/** underSuffix returns the labels before suffix when labels end with it, else undefined. */
function underSuffix(labels: readonly string[], suffix: readonly string[]): string[] | undefined {
  if (labels.length < suffix.length) return undefined;
  const at = labels.length - suffix.length;
  for (let i = 0; i < suffix.length; i++) if (labels[at + i] !== suffix[i]) return undefined;
  return labels.slice(0, at);
}

// ---------------------------------------------------------------------------------------------
// The cluster domain

/** clusterName finds the name of labels (lowercase, leftmost first, without the domain). */
function clusterName(rel: readonly string[], owner: string, catalog: DnsCatalog, zone: DnsZone): Found | undefined {
  const n = rel.length;
  if (n === 0) return { records: [{ name: owner, type: 'SOA', class: 'IN', ttl: zone.ttlSeconds, data: zone.soa }], additionals: [] };
  if (rel[n - 1] !== 'svc') return undefined;
  if (n === 1) return EXISTS;
  const namespace = rel[n - 2]!;
  if (n === 2) return catalog.hasNamespace(namespace) ? EXISTS : undefined;
  const name = rel[n - 3]!;
  const service = catalog.service(namespace, name);
  if (service === undefined || n > 5) return undefined;
  const svc = new ServiceNames(service, catalog.endpoints(namespace, name), `${name}.${namespace}.svc.${zone.domain}`, zone.ttlSeconds);
  if (n === 3) return { records: svc.addresses(owner), additionals: [] };
  const first = rel[0]!;
  if (n === 4) {
    if (first.startsWith('_')) return svc.hasProtocol(first.slice(1)) ? EXISTS : undefined;
    return svc.host(first, owner);
  }
  const second = rel[1]!;
  if (!first.startsWith('_') || !second.startsWith('_')) return undefined;
  return svc.srv(first.slice(1), second.slice(1), owner);
}

/** ReadyAddress is a ready endpoint address with the ports of its subset. */
interface ReadyAddress {
  readonly address: EndpointAddress;
  readonly ports: readonly EndpointPort[];
}

const protocolOf = (p: { protocol?: string }): string => (p.protocol ?? 'TCP').toLowerCase();
const portNamed = (p: { name?: string; protocol?: string }, name: string, protocol: string): boolean =>
  p.name !== undefined && p.name.toLowerCase() === name && protocolOf(p) === protocol;

/** dashed writes an IP as one DNS label: 10.244.1.5 -> 10-244-1-5. */
function dashed(ip: string): string {
  return ip.toLowerCase().replace(/[.:]/g, '-');
}

/** compareIPs orders IPv4 addresses numerically, before IPv6 ones (by text). */
function compareIPs(a: string, b: string): number {
  const a4 = isIP(a) === 4;
  const b4 = isIP(b) === 4;
  if (a4 && b4) return parseIPv4(a) - parseIPv4(b);
  if (a4 !== b4) return a4 ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function addressRecord(owner: string, ip: string, ttl: number): Answer | undefined {
  const family = isIP(ip);
  if (family === 4) return { name: owner, type: 'A', class: 'IN', ttl, data: ip };
  if (family === 6) return { name: owner, type: 'AAAA', class: 'IN', ttl, data: ip };
  return undefined;
}

function addressRecords(owner: string, ips: Iterable<string>, ttl: number): Answer[] {
  return [...new Set(ips)].sort(compareIPs).flatMap((ip) => addressRecord(owner, ip, ttl) ?? []);
}

/** ServiceNames answers the names of one service (SVC.NS.svc.D and below). */
class ServiceNames {
  readonly #service: Service;
  readonly #endpoints: Endpoints | undefined;
  /** #fqdn is SVC.NS.svc.D, lowercase. */
  readonly #fqdn: string;
  readonly #ttl: number;
  readonly #headless: boolean;

  constructor(service: Service, endpoints: Endpoints | undefined, fqdn: string, ttl: number) {
    this.#service = service;
    this.#endpoints = endpoints;
    this.#fqdn = fqdn;
    this.#ttl = ttl;
    this.#headless = service.spec.clusterIP === 'None';
  }

  /** addresses are the A/AAAA records of SVC.NS.svc.D. */
  addresses(owner: string): Answer[] {
    const ips = this.#headless ? this.#ready().map((r) => r.address.ip) : clusterIPsOf(this.#service);
    return addressRecords(owner, ips, this.#ttl);
  }

  /** host finds HOST.SVC.NS.svc.D: a hostname or dashed IP of a ready address (headless). */
  host(label: string, owner: string): Found | undefined {
    if (!this.#headless) return undefined;
    const ips = this.#ready()
      .map((r) => r.address)
      .filter((a) => a.hostname?.toLowerCase() === label || dashed(a.ip) === label)
      .map((a) => a.ip);
    return ips.length === 0 ? undefined : { records: addressRecords(owner, ips, this.#ttl), additionals: [] };
  }

  /** hasProtocol tells whether a named port has this protocol (then _PROTO.SVC... exists). */
  hasProtocol(protocol: string): boolean {
    return this.#namedPorts().some((p) => p.name !== undefined && protocolOf(p) === protocol);
  }

  /** srv finds _PORT._PROTO.SVC.NS.svc.D. */
  srv(port: string, protocol: string, owner: string): Found | undefined {
    if (!this.#namedPorts().some((p) => portNamed(p, port, protocol))) return undefined;
    const records: SrvAnswer[] = [];
    const targets = new Map<string, string[]>();
    const add = (portNumber: number, target: string, ips: readonly string[]): void => {
      if (records.some((r) => r.data.port === portNumber && r.data.target === target)) return;
      records.push({ name: owner, type: 'SRV', class: 'IN', ttl: this.#ttl, data: { priority: 0, weight: 100, port: portNumber, target } });
      targets.set(target, [...(targets.get(target) ?? []), ...ips]);
    };
    if (this.#headless) {
      for (const { address, ports } of this.#ready()) {
        const host = address.hostname !== undefined && address.hostname !== '' ? address.hostname.toLowerCase() : dashed(address.ip);
        for (const p of ports) if (portNamed(p, port, protocol)) add(p.port, `${host}.${this.#fqdn}`, [address.ip]);
      }
    } else {
      const ips = clusterIPsOf(this.#service);
      if (ips.length > 0) for (const p of this.#service.spec.ports ?? []) if (portNamed(p, port, protocol)) add(p.port, this.#fqdn, ips);
    }
    records.sort((a, b) => (a.data.target < b.data.target ? -1 : a.data.target > b.data.target ? 1 : a.data.port - b.data.port));
    const additionals = [...targets].sort(([a], [b]) => (a < b ? -1 : 1)).flatMap(([target, ips]) => addressRecords(target, ips, this.#ttl));
    return { records, additionals };
  }

  /** #ready lists the ready addresses of the service's endpoints with their subset's ports. */
  #ready(): ReadyAddress[] {
    return (this.#endpoints?.subsets ?? []).flatMap((s) => (s.addresses ?? []).map((address) => ({ address, ports: s.ports ?? [] })));
  }

  /** #namedPorts: the service's ports and, for a headless service, its endpoints' ports. */
  #namedPorts(): readonly (ServicePort | EndpointPort)[] {
    const own = this.#service.spec.ports ?? [];
    if (!this.#headless) return own;
    return [...own, ...(this.#endpoints?.subsets ?? []).flatMap((s) => s.ports ?? [])];
  }
}

// ---------------------------------------------------------------------------------------------
// The reverse zones of the service network

const IN_ADDR_ARPA = ['in-addr', 'arpa'];

/** reverseZoneOf: when labels name something in a reverse zone of the service network, that
 *  zone's apex and the labels below the "in-addr.arpa" suffix; else undefined (forward). */
function reverseZoneOf(labels: readonly string[], zone: DnsZone): { apex: string; inZone: string[] } | undefined {
  const rel = underSuffix(labels, IN_ADDR_ARPA);
  if (rel === undefined || rel.length < zone.reverseOctets) return undefined;
  const apexLabels = rel.slice(rel.length - zone.reverseOctets);
  const leading = [...apexLabels].reverse().map(octet);
  if (leading.some((o) => o === undefined)) return undefined;
  let value = 0;
  for (let i = 0; i < 4; i++) value = value * 256 + (leading[i] ?? 0);
  if (!cidrContains(zone.serviceNetwork, value)) return undefined;
  return { apex: [...apexLabels, ...IN_ADDR_ARPA].join('.'), inZone: rel };
}

function octet(label: string): number | undefined {
  if (!OCTET_RE.test(label)) return undefined;
  const n = Number(label);
  return n <= 255 ? n : undefined;
}

/** reverseName finds a name of a reverse zone of the service network; rel are its labels
 *  before in-addr.arpa (leftmost, least significant octet first). */
function reverseName(rel: readonly string[], owner: string, catalog: DnsCatalog, zone: DnsZone): Found | undefined {
  if (rel.length > 4 || rel.some((l) => octet(l) === undefined)) return undefined;
  if (rel.length === zone.reverseOctets) return { records: [{ name: owner, type: 'SOA', class: 'IN', ttl: zone.ttlSeconds, data: zone.soa }], additionals: [] };
  if (rel.length < 4) return EXISTS;
  const ip = [...rel].reverse().map((l) => String(octet(l))).join('.');
  const service = catalog.serviceByClusterIP(ip);
  if (service === undefined) return undefined;
  const target = `${service.metadata.name ?? ''}.${service.metadata.namespace ?? 'default'}.svc.${zone.domain}`;
  return { records: [{ name: owner, type: 'PTR', class: 'IN', ttl: zone.ttlSeconds, data: target }], additionals: [] };
}
