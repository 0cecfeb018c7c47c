// tls.ts: how tugboat's gRPC servers and clients secure their connections. Every connection
// between components is mutual TLS under the cluster CA; plain text exists only when a process
// is started with a flag saying --insecure, and then the process says so in its log.
//
// Servers ask every client for a certificate but let the TLS handshake finish without a good
// one, and refuse each call of such a connection with UNAUTHENTICATED, naming what is missing
// (as Kubernetes' API server does), instead of cutting the handshake: the client then reads a
// clear status rather than a reset connection, and the server logs the refusal with the peer's
// address. A client certificate counts only if it chains to the cluster CA and is valid now
// (Node's TLS checks that during the handshake, with the CA as the only root).
import { checkServerIdentity } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { loadTls } from '@tugboat/pki';
import type { TlsMaterial, TransportChoice } from '@tugboat/pki';
import { Status } from './grpc.ts';
import { LogLimiter } from './log-limiter.ts';

/** Security is how a server listens or a client dials: mutual TLS with this material; for a
 *  client of the API only, TLS trusting `ca` with a bearer token instead of a certificate; or
 *  plain text (only behind a flag with --insecure in its name). */
export type Security = { readonly tls: TlsMaterial } | { readonly bearer: BearerCredentials } | { readonly insecurePlaintext: true };

/** BearerCredentials: the CA a client trusts and the API token it calls with (ID.SECRET). */
export interface BearerCredentials {
  readonly ca: Buffer;
  readonly token: string;
}

/** BEARER_METADATA is the metadata key of a bearer token: `authorization: Bearer ID.SECRET`. */
export const BEARER_METADATA = 'authorization';

export const INSECURE_PLAINTEXT: Security = Object.freeze({ insecurePlaintext: true as const });

/** loadSecurity loads what a process's TLS flags chose (a PkiError names a bad file) and warns
 *  in log when they chose plain text. */
export function loadSecurity(choice: TransportChoice, log: { warn(msg: string): void }): Security {
  if ('insecurePlaintext' in choice) {
    log.warn('--insecure-plaintext: serving and dialling without TLS; anyone who reaches these ports can read and change everything');
    return INSECURE_PLAINTEXT;
  }
  return { tls: loadTls(choice.tls) };
}

/** hasCertificate: the security is mutual TLS with a certificate of its own (a server's, a member's, an agent's). */
export const hasCertificate = (s: Security): s is { readonly tls: TlsMaterial } => 'tls' in s;

/** isPlaintext: the security is plain text (--insecure-plaintext). */
export const isPlaintext = (s: Security): s is { readonly insecurePlaintext: true } => 'insecurePlaintext' in s;

/** Refusal is a call refused for want of a client certificate from the cluster CA. */
export interface Refusal {
  /** peer is the client's address, "ip:port". */
  readonly peer: string;
  /** method is the gRPC path called. */
  readonly method: string;
  readonly reason: string;
}

/** REFUSAL_REASON is what a refused client is told (TLS does not say which check failed). */
export const REFUSAL_REASON = 'the connection has no client certificate signed by the cluster CA and valid now (none was sent, it is of another CA, or it expired), and the call no bearer token';

/** logRefusals logs refused calls as warnings, at most one line per client host every 10 s
 *  with a count of those left out; `what` names the server (the API, raft transport, ...). */
export function logRefusals(log: { warn(fields: object, msg: string): void }, what: string): (r: Refusal) => void {
  const limiter = new LogLimiter(10_000);
  return (r) => {
    const suppressed = limiter.check(r.peer.slice(0, r.peer.lastIndexOf(':')));
    if (suppressed === undefined) return;
    log.warn({ peer: r.peer, method: r.method, reason: r.reason, suppressed }, `${what}: call refused: no client certificate of the cluster`);
  };
}

/**
 * CertificateSource hands grpc-js the CA and a process's certificate and key, and hands out a
 * renewed pair (replace) to every server and client of the process: connections made after
 * that show the new certificate; open ones keep theirs. There is one per Security object
 * (sourceOf), so all the servers and clients built from one share it.
 */
export class CertificateSource implements grpc.experimental.CertificateProvider {
  #tls: TlsMaterial;
  readonly #listeners = new Set<grpc.experimental.IdentityCertificateUpdateListener>();
  constructor(tls: TlsMaterial) {
    this.#tls = tls;
  }
  /** current is the material connections are made with now. */
  get current(): TlsMaterial {
    return this.#tls;
  }
  /** replace puts a renewed certificate and key in place (the CA stays). */
  replace(cert: Buffer, key: Buffer): void {
    this.#tls = { ca: this.#tls.ca, cert, key };
    for (const l of this.#listeners) l({ certificate: cert, privateKey: key });
  }
  addCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    process.nextTick(listener, { caCertificate: this.#tls.ca });
  }
  removeCaCertificateListener(): void {}
  addIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.#listeners.add(listener);
    process.nextTick(listener, { certificate: this.#tls.cert, privateKey: this.#tls.key });
  }
  removeIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.#listeners.delete(listener);
  }
}

const sources = new WeakMap<Security, CertificateSource>();

/** sourceOf is the certificate source of a TLS security (made on first use). */
export function sourceOf(security: { readonly tls: TlsMaterial }): CertificateSource {
  let source = sources.get(security);
  if (source === undefined) {
    source = new CertificateSource(security.tls);
    sources.set(security, source);
  }
  return source;
}

/** OpenCalls are the calls a server takes without a client certificate: methods (gRPC paths)
 *  that authenticate their caller otherwise (a joining node's bootstrap token), and calls of
 *  services (full names) that carry a bearer token, which the service checks. */
export interface OpenCalls {
  readonly methods?: readonly string[];
  readonly bearerServices?: readonly string[];
}

/** authenticating refuses every call of a connection without a verified client certificate,
 *  but the open calls: it lets a bearer call through once its metadata shows the token. */
function authenticating(onRefused: (r: Refusal) => void, open: OpenCalls): grpc.ServerInterceptor {
  const methods = new Set(open.methods ?? []);
  const bearerServices = new Set(open.bearerServices ?? []);
  return (method, call) => {
    const refuse = (): void => {
      const info = call.getConnectionInfo();
      onRefused({ peer: `${info.remoteAddress ?? '?'}:${info.remotePort ?? '?'}`, method: method.path, reason: REFUSAL_REASON });
      call.sendStatus({ code: Status.UNAUTHENTICATED, details: `unauthenticated: ${REFUSAL_REASON}`, metadata: new grpc.Metadata() });
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        if (call.getAuthContext()?.sslPeerCertificate !== undefined || methods.has(method.path)) {
          next();
          return;
        }
        if (!bearerServices.has(method.path.split('/')[1] ?? '')) {
          refuse();
          return;
        }
        next({
          onReceiveMetadata: (metadata, passOn) => {
            if (String(metadata.get(BEARER_METADATA)[0] ?? '').startsWith('Bearer ')) passOn(metadata);
            else refuse();
          },
        });
      },
    });
  };
}

/** serverCredentials are a server's credentials for security; onRefused hears every call
 *  refused for want of a client certificate (the caller logs it, rate-limited). The open calls
 *  are served without one: their handlers authenticate the caller otherwise. */
export function serverCredentials(security: Security, onRefused: (r: Refusal) => void, open: OpenCalls = {}): grpc.ServerCredentials {
  if (isPlaintext(security)) return grpc.ServerCredentials.createInsecure();
  if (!('tls' in security)) throw new TypeError('serverCredentials: a server needs a certificate, not a bearer token');
  const certificates = sourceOf(security);
  const tls = grpc.experimental.createCertificateProviderServerCredentials(certificates, certificates, false);
  return grpc.experimental.createServerCredentialsWithInterceptors(tls, [authenticating(onRefused, open)]);
}

/** SERVER_NAME is the TLS server name clients send: Node warns about an IP address there (RFC
 *  6066 allows only host names), and tugboat dials members and agents by IP address. Which
 *  address the server's certificate must name is checked apart (clientTransport). */
const SERVER_NAME = 'tugboat';

/** ClientTransport is what a gRPC client to one address takes for a security. */
export interface ClientTransport {
  readonly credentials: grpc.ChannelCredentials;
  readonly channelOptions: grpc.ChannelOptions;
}

/** clientTransport secures a client of address ("host:port"): it trusts only the cluster CA,
 *  shows its own certificate, and wants the server's certificate to name the host dialled. */
export function clientTransport(security: Security, address: string): ClientTransport {
  if (isPlaintext(security)) return { credentials: grpc.credentials.createInsecure(), channelOptions: {} };
  const host = hostOf(address);
  if ('bearer' in security) {
    const { ca, token } = security.bearer;
    const bearer = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
      const metadata = new grpc.Metadata();
      metadata.set(BEARER_METADATA, `Bearer ${token}`);
      callback(null, metadata);
    });
    const anonymous = anonymousTransport(address, ca);
    return { ...anonymous, credentials: anonymous.credentials.compose(bearer) };
  }
  const certificates = sourceOf(security);
  const credentials = grpc.experimental.createCertificateProviderChannelCredentials(certificates, certificates, {
    checkServerIdentity: (_name, cert) => checkServerIdentity(host, cert),
  });
  return { credentials, channelOptions: { 'grpc.ssl_target_name_override': SERVER_NAME } };
}

/**
 * anonymousTransport dials address with TLS and no certificate of its own: trusting only `ca`
 * and wanting the server's certificate to name the host dialled (a bearer-token client, a
 * joining node once it holds the CA); or, without `ca`, checking nothing (a joining node
 * fetching the CA, which it then checks against the hash it was given).
 */
export function anonymousTransport(address: string, ca: Buffer | undefined): ClientTransport {
  const host = hostOf(address);
  const credentials =
    ca === undefined
      ? grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false, checkServerIdentity: () => undefined })
      : grpc.credentials.createSsl(ca, null, null, { checkServerIdentity: (_name, cert) => checkServerIdentity(host, cert) });
  return { credentials, channelOptions: { 'grpc.ssl_target_name_override': SERVER_NAME } };
}

/** hostOf is the host of "host:port" or "[v6]:port", without brackets. */
export function hostOf(address: string): string {
  const at = address.lastIndexOf(':');
  const host = at < 0 ? address : address.slice(0, at);
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
