// server.ts: ClusterDnsServer, the DNS server tug-agent runs for the pods of its node.
//
// It listens on one IPv4 address (the cluster DNS address, 10.96.0.10, which the agent puts on
// a local interface) over UDP and TCP on the same port. Every message goes through the
// answering core (answer.ts): the names of the cluster domain and of the service network's
// reverse zone are answered from the catalog, in memory; everything else is relayed to the
// node's upstream resolvers (forward.ts) and their reply passed back unchanged.
//
// Rules:
// - UDP: each datagram is answered to its sender, from the bound address. An answer larger
//   than the client takes (512 bytes, or its EDNS0 size up to 1232) goes out truncated (TC
//   set, no records), and the client asks again over TCP (wire.ts).
// - TCP: length-prefixed messages, several per connection, each answered as soon as it is
//   ready (answers may come out of order, RFC 7766). At most tcpPipelineMax queries of one
//   connection are in progress, and a connection whose client does not read its answers is not
//   read either. A connection is closed after tcpIdleTimeoutMs without traffic and nothing in
//   progress. At most tcpConnectionsMax connections are open; further ones are closed at once.
// - Forwarding: at most forwardsInFlightMax queries are forwarded at once. Above that, without
//   upstreams, and when every upstream failed, the answer is SERVFAIL.
// - Messages the core drops (no id, a response) get nothing back.
//
// Failure policy: nothing a client or an upstream does stops the server. Failures of the
// server's own doing (an upstream down, a limit reached, a send failing) are written through a
// FailureLog: one warn line per kind per minute, the others at debug. What clients send wrong
// is written at debug only. A query is never logged at info. start() fails, leaving nothing
// open, when either socket cannot be bound; it may be called again later. stop() closes both
// sockets and every connection, abandons forwarded queries and resolves when all is closed.
import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv4 } from 'node:net';
import type { Server as TcpServer, Socket as TcpSocket } from 'node:net';
import type { Logger } from 'pino';
import { answerMessage, dnsZone, errorResponse, errorResponseTo, RCODE } from './answer.ts';
import type { DnsOutcome, DnsZone } from './answer.ts';
import type { DnsCatalog } from './catalog.ts';
import { FailureLog } from './failure-log.ts';
import { DEFAULT_FORWARD_TIMEOUT_MS, formatUpstream, forwardQuery, parseUpstream } from './forward.ts';
import type { ForwardFailure, Transport, Upstream } from './forward.ts';
import { encodeResponse, FrameReader, frameMessage, TCP_MESSAGE_MAX_BYTES } from './wire.ts';

/** ClusterDnsServerOptions configure a ClusterDnsServer. */
export interface ClusterDnsServerOptions {
  /** address is the IPv4 address to bind, such as 10.96.0.10 (@tugboat/netconf DNS_CLUSTER_IP). */
  address: string;
  /** port for UDP and TCP alike. Default 53. 0 picks a port free for both (tests); read it
   *  from `port` after start(). */
  port?: number | undefined;
  catalog: DnsCatalog;
  /** domain is the cluster domain. Default "cluster.local". */
  domain?: string | undefined;
  /** upstreams are the resolvers for every other name, "IP" or "IP:PORT" (default port 53),
   *  tried in order. Default none: such names get SERVFAIL. See resolv-conf.ts. */
  upstreams?: readonly string[] | undefined;
  /** ttlSeconds of the answers from the catalog. Default 5. */
  ttlSeconds?: number | undefined;
  log: Logger;
  /** serviceNetwork is the ClusterIP CIDR whose reverse zone is answered. Default 10.96.0.0/16. */
  serviceNetwork?: string | undefined;
  /** forwardTimeoutMs bounds one try at one upstream. Default 2000. */
  forwardTimeoutMs?: number | undefined;
  /** forwardsInFlightMax bounds the queries being forwarded at once. Default 256. */
  forwardsInFlightMax?: number | undefined;
  /** tcpConnectionsMax bounds the open TCP connections. Default 128. */
  tcpConnectionsMax?: number | undefined;
  /** tcpPipelineMax bounds the queries of one connection in progress at once. Default 16. */
  tcpPipelineMax?: number | undefined;
  /** tcpIdleTimeoutMs: a connection without traffic and nothing in progress for this long is
   *  closed. Default 10 s. */
  tcpIdleTimeoutMs?: number | undefined;
}

const DEFAULT_PORT = 53;
const DEFAULT_FORWARDS_IN_FLIGHT_MAX = 256;
const DEFAULT_TCP_CONNECTIONS_MAX = 128;
const DEFAULT_TCP_PIPELINE_MAX = 16;
const DEFAULT_TCP_IDLE_TIMEOUT_MS = 10_000;
/** EPHEMERAL_BIND_ATTEMPTS: with port 0, how often to pick again when the UDP port is taken for TCP. */
const EPHEMERAL_BIND_ATTEMPTS = 5;

type State = 'new' | 'starting' | 'running' | 'stopped';

function wholeNumber(field: string, value: number | undefined, def: number, min: number, max: number): number {
  const v = value ?? def;
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new Error(`ClusterDnsServer: ${field}: must be a whole number from ${min} to ${max}, got ${v}`);
  }
  return v;
}

/** ClusterDnsServer serves the cluster's names over UDP and TCP (see the module comment). */
export class ClusterDnsServer {
  readonly #address: string;
  readonly #requestedPort: number;
  readonly #catalog: DnsCatalog;
  readonly #zone: DnsZone;
  readonly #upstreams: readonly Upstream[];
  readonly #log: Logger;
  readonly #failures: FailureLog;
  readonly #forwardTimeoutMs: number;
  readonly #forwardsMax: number;
  readonly #tcpConnectionsMax: number;
  readonly #tcpPipelineMax: number;
  readonly #tcpIdleTimeoutMs: number;

  #state: State = 'new';
  #port = 0;
  #udp: UdpSocket | undefined;
  #tcp: TcpServer | undefined;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #forwarding = 0;
  readonly #abort = new AbortController();
  readonly #connections = new Set<TcpSocket>();
  /** #inFlight: every message being answered; stop() waits for them. */
  readonly #inFlight = new Set<Promise<void>>();

  constructor(opts: ClusterDnsServerOptions) {
    if (!isIPv4(opts.address)) throw new Error(`ClusterDnsServer: address: ${JSON.stringify(opts.address)} is not an IPv4 address`);
    this.#address = opts.address;
    this.#requestedPort = wholeNumber('port', opts.port, DEFAULT_PORT, 0, 65_535);
    this.#catalog = opts.catalog;
    this.#zone = dnsZone({ domain: opts.domain, ttlSeconds: opts.ttlSeconds, serviceNetwork: opts.serviceNetwork });
    this.#upstreams = (opts.upstreams ?? []).map((text, i) => {
      let u: Upstream;
      try {
        u = parseUpstream(text);
      } catch (err) {
        throw new Error(`ClusterDnsServer: upstreams[${i}]: ${(err as Error).message}`, { cause: err });
      }
      if (u.host === this.#address && u.port === this.#requestedPort) {
        throw new Error(`ClusterDnsServer: upstreams[${i}]: ${formatUpstream(u)} is this server itself; forwarding there would loop`);
      }
      return u;
    });
    this.#log = opts.log;
    this.#failures = new FailureLog(opts.log);
    this.#forwardTimeoutMs = wholeNumber('forwardTimeoutMs', opts.forwardTimeoutMs, DEFAULT_FORWARD_TIMEOUT_MS, 1, 60_000);
    this.#forwardsMax = wholeNumber('forwardsInFlightMax', opts.forwardsInFlightMax, DEFAULT_FORWARDS_IN_FLIGHT_MAX, 1, 65_536);
    this.#tcpConnectionsMax = wholeNumber('tcpConnectionsMax', opts.tcpConnectionsMax, DEFAULT_TCP_CONNECTIONS_MAX, 1, 65_536);
    this.#tcpPipelineMax = wholeNumber('tcpPipelineMax', opts.tcpPipelineMax, DEFAULT_TCP_PIPELINE_MAX, 1, 1024);
    this.#tcpIdleTimeoutMs = wholeNumber('tcpIdleTimeoutMs', opts.tcpIdleTimeoutMs, DEFAULT_TCP_IDLE_TIMEOUT_MS, 1, 600_000);
  }

  /** address is the bound IPv4 address. */
  get address(): string {
    return this.#address;
  }

  /** port is the port served (UDP and TCP) once started; before, the one asked for. */
  get port(): number {
    return this.#state === 'running' ? this.#port : this.#requestedPort;
  }

  /** start binds UDP and TCP and begins answering. It rejects, with nothing left open, when a
   *  socket cannot be bound (then it may be called again), and when called while running. */
  start(): Promise<void> {
    if (this.#state !== 'new') return Promise.reject(new Error(`ClusterDnsServer: start() while ${this.#state}`));
    this.#state = 'starting';
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    const attempts = this.#requestedPort === 0 ? EPHEMERAL_BIND_ATTEMPTS : 1;
    try {
      for (let attempt = 1; ; attempt++) {
        const udp = await this.#bindUdp(this.#requestedPort);
        const port = udp.address().port;
        try {
          this.#tcp = await this.#listenTcp(port);
          this.#udp = udp;
          this.#port = port;
          break;
        } catch (err) {
          udp.close();
          const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
          if (attempt >= attempts || code !== 'EADDRINUSE') throw err;
        }
      }
    } catch (err) {
      if (this.#state === 'starting') this.#state = 'new';
      throw err;
    }
    if (this.#state !== 'starting') {
      // stop() came while binding, and waits for this: close what was bound.
      await this.#closeSockets();
      return;
    }
    this.#state = 'running';
    this.#log.info(
      { address: this.#address, port: this.#port, domain: this.#zone.domain, upstreams: this.#upstreams.map(formatUpstream) },
      'cluster DNS serving',
    );
  }

  /** stop closes both sockets and every connection, abandons forwarded queries, and resolves
   *  once everything is closed. Calling it again returns the same promise. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const wasRunning = this.#state === 'running';
    this.#state = 'stopped';
    this.#abort.abort();
    // A start() in progress sees the state when its sockets are bound, and closes them.
    await this.#starting?.catch(() => {});
    for (const c of this.#connections) c.destroy();
    await this.#closeSockets();
    await Promise.all([...this.#inFlight]);
    if (wasRunning) this.#log.info({ address: this.#address, port: this.#port }, 'cluster DNS stopped');
  }

  async #closeSockets(): Promise<void> {
    const udp = this.#udp;
    const tcp = this.#tcp;
    this.#udp = undefined;
    this.#tcp = undefined;
    await Promise.all([
      udp === undefined ? undefined : new Promise<void>((resolve) => udp.close(() => resolve())),
      tcp === undefined ? undefined : new Promise<void>((resolve) => tcp.close(() => resolve())),
    ]);
  }

  #bindUdp(port: number): Promise<UdpSocket> {
    return new Promise((resolve, reject) => {
      const socket = createSocket('udp4');
      const onError = (err: Error): void => {
        socket.close();
        reject(this.#bindError('UDP', port, err));
      };
      socket.once('error', onError);
      socket.bind({ address: this.#address, port }, () => {
        socket.off('error', onError);
        socket.on('error', (err) => this.#failures.report('udp socket', { err }, 'cluster DNS: UDP socket error'));
        socket.on('message', (msg, rinfo) => this.#onDatagram(socket, msg, rinfo));
        resolve(socket);
      });
    });
  }

  #listenTcp(port: number): Promise<TcpServer> {
    return new Promise((resolve, reject) => {
      const server = createServer({ allowHalfOpen: true }, (socket) => this.#onConnection(socket));
      server.maxConnections = this.#tcpConnectionsMax;
      const onError = (err: Error): void => {
        server.close();
        reject(this.#bindError('TCP', port, err));
      };
      server.once('error', onError);
      server.listen({ host: this.#address, port, exclusive: true }, () => {
        server.off('error', onError);
        server.on('error', (err) => this.#failures.report('tcp server', { err }, 'cluster DNS: TCP server error'));
        server.on('drop', (d) =>
          this.#failures.report('tcp connections limit', { client: d?.remoteAddress, limit: this.#tcpConnectionsMax }, 'cluster DNS: TCP connection refused: too many open'),
        );
        resolve(server);
      });
    });
  }

  #bindError(transport: string, port: number, err: Error): Error {
    return new Error(`cluster DNS: cannot serve ${transport} on ${this.#address}:${port}: ${err.message}`, { cause: err });
  }

  #onDatagram(socket: UdpSocket, msg: Buffer, rinfo: RemoteInfo): void {
    if (this.#state !== 'running') return;
    this.#track(
      this.#reply(msg, 'udp').then((reply) => {
        if (reply === undefined || this.#udp !== socket) return;
        socket.send(reply, rinfo.port, rinfo.address, (err) => {
          if (err) this.#failures.report('udp send', { err, client: rinfo.address }, 'cluster DNS: sending a UDP answer failed');
        });
      }),
    );
  }

  #onConnection(socket: TcpSocket): void {
    if (this.#state !== 'running') {
      socket.destroy();
      return;
    }
    this.#connections.add(socket);
    const client = socket.remoteAddress;
    const reader = new FrameReader();
    let inProgress = 0;
    let ended = false;
    // Read while the pipeline has room and the client reads what it is sent.
    const flow = (): void => {
      if (socket.destroyed) return;
      if (ended && inProgress === 0) {
        if (!socket.writableEnded) socket.end();
      } else if (inProgress >= this.#tcpPipelineMax || socket.writableNeedDrain) {
        socket.pause();
      } else {
        socket.resume();
      }
    };
    socket.setNoDelay(true);
    socket.setTimeout(this.#tcpIdleTimeoutMs, () => {
      // Writing an answer counts as traffic and starts the wait again.
      if (inProgress === 0) socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      for (const msg of reader.push(chunk)) {
        inProgress++;
        this.#track(
          this.#reply(msg, 'tcp')
            .then((reply) => {
              if (reply !== undefined && socket.writable) socket.write(frameMessage(reply));
            })
            .finally(() => {
              inProgress--;
              flow();
            }),
        );
      }
      flow();
    });
    socket.on('end', () => {
      ended = true;
      flow();
    });
    socket.on('drain', flow);
    socket.on('error', (err) => this.#log.debug({ err, client }, 'cluster DNS: TCP connection failed'));
    socket.on('close', () => this.#connections.delete(socket));
  }

  #track(work: Promise<void>): void {
    const tracked = work.catch((err: unknown) => this.#failures.report('internal', { err }, 'cluster DNS: answering a query failed'));
    this.#inFlight.add(tracked);
    void tracked.finally(() => this.#inFlight.delete(tracked));
  }

  /** #reply is the encoded answer to one message that came over transport, or undefined to
   *  send nothing. It does not throw. */
  async #reply(msg: Buffer, transport: Transport): Promise<Buffer | undefined> {
    let outcome: DnsOutcome;
    try {
      outcome = answerMessage(msg, this.#catalog, this.#zone);
    } catch (err) {
      this.#failures.report('catalog', { err }, 'cluster DNS: answering from the catalog failed; answering SERVFAIL');
      const failure = errorResponseTo(msg, RCODE.SERVFAIL);
      return failure === undefined ? undefined : encodeResponse(failure, TCP_MESSAGE_MAX_BYTES);
    }
    switch (outcome.kind) {
      case 'drop':
        this.#log.debug({ transport, bytes: msg.length, reason: outcome.reason }, 'cluster DNS: message dropped');
        return undefined;
      case 'answer':
        return encodeResponse(outcome.response, transport === 'udp' ? outcome.udpPayloadBytes : TCP_MESSAGE_MAX_BYTES);
      case 'forward': {
        const reply = await this.#forward(msg, transport);
        if (reply !== undefined || this.#abort.signal.aborted) return reply;
        return encodeResponse(errorResponse(outcome.query, RCODE.SERVFAIL), TCP_MESSAGE_MAX_BYTES);
      }
    }
  }

  /** #forward relays msg upstream; undefined when that failed, no upstream is configured, too
   *  many queries are being forwarded, or the server is stopping. */
  async #forward(msg: Buffer, transport: Transport): Promise<Buffer | undefined> {
    if (this.#upstreams.length === 0) {
      this.#failures.report('no upstreams', {}, 'cluster DNS: a name outside the cluster was asked and no upstream resolver is configured; answering SERVFAIL');
      return undefined;
    }
    if (this.#forwarding >= this.#forwardsMax) {
      this.#failures.report('forward limit', { limit: this.#forwardsMax }, 'cluster DNS: too many queries being forwarded; answering SERVFAIL');
      return undefined;
    }
    this.#forwarding++;
    try {
      const reply = await forwardQuery(msg, transport, {
        upstreams: this.#upstreams,
        timeoutMs: this.#forwardTimeoutMs,
        signal: this.#abort.signal,
        onFailure: (f: ForwardFailure) =>
          this.#failures.report(
            `upstream ${f.reason} ${formatUpstream(f.upstream)}/${f.transport}`,
            { upstream: formatUpstream(f.upstream), transport: f.transport, reason: f.reason, error: f.message },
            'cluster DNS: upstream resolver failed',
          ),
      });
      if (reply === undefined && !this.#abort.signal.aborted) {
        this.#failures.report('all upstreams failed', { upstreams: this.#upstreams.map(formatUpstream), transport }, 'cluster DNS: no upstream resolver answered; answering SERVFAIL');
      }
      return reply;
    } finally {
      this.#forwarding--;
    }
  }
}
