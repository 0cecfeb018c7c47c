// forward.ts: relaying the queries for names outside the cluster to the node's upstream
// resolvers, byte for byte.
//
// A query goes to the upstreams in order, over the transport the client used. UDP: from a
// fresh socket, so every query leaves from a new random port (RFC 5452), connected to the
// upstream so that only its datagrams come in; a datagram counts as the reply when it is a
// response with the query's id (others are ignored and the wait goes on). TCP: a fresh
// connection, one length-prefixed query, one reply. Each try is bounded by timeoutMs and closes
// its socket however it ends.
//
// Failure policy: a timeout, a socket error or a reply over TCP that is not the response to
// the query moves on to the next upstream; so does a reply with SERVFAIL, REFUSED or NOTIMP,
// which is still relayed when no upstream does better (the way stub resolvers treat a list of
// nameservers). When every upstream failed, forwardQuery resolves undefined and the caller
// answers SERVFAIL. Each failure goes to onFailure; this module logs nothing itself. An abort
// (the server stopping) ends the try in progress and resolves undefined.
import { createSocket } from 'node:dgram';
import { connect, isIPv4 } from 'node:net';
import { FrameReader, frameMessage, isReplyTo, messageId, rcodeOf } from './wire.ts';

/** Transport is how a client reached the server, and how its query is forwarded. */
export type Transport = 'udp' | 'tcp';

/** Upstream is one resolver to forward to. */
export interface Upstream {
  readonly host: string;
  readonly port: number;
}

/** DEFAULT_DNS_PORT is the port of an upstream given without one. */
export const DEFAULT_DNS_PORT = 53;
/** DEFAULT_FORWARD_TIMEOUT_MS bounds one try at one upstream unless configured. */
export const DEFAULT_FORWARD_TIMEOUT_MS = 2000;

/** parseUpstream reads "IP" or "IP:PORT" (IPv4; port default 53). */
export function parseUpstream(text: string): Upstream {
  const colon = text.lastIndexOf(':');
  const host = colon < 0 ? text : text.slice(0, colon);
  const portText = colon < 0 ? String(DEFAULT_DNS_PORT) : text.slice(colon + 1);
  if (!isIPv4(host)) throw new Error(`upstream ${JSON.stringify(text)}: ${JSON.stringify(host)} is not an IPv4 address`);
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65_535) {
    throw new Error(`upstream ${JSON.stringify(text)}: port ${JSON.stringify(portText)} is not a number from 1 to 65535`);
  }
  return { host, port: Number(portText) };
}

/** formatUpstream writes an upstream as "IP:PORT". */
export function formatUpstream(u: Upstream): string {
  return `${u.host}:${u.port}`;
}

/** ForwardFailure is one failed try at one upstream. */
export interface ForwardFailure {
  readonly upstream: Upstream;
  readonly transport: Transport;
  /** reason: no reply in time, a socket error or a bad reply, or a reply with an error rcode. */
  readonly reason: 'timeout' | 'error' | 'rcode';
  readonly message: string;
}

/** ForwardOptions say where and how long to try. */
export interface ForwardOptions {
  readonly upstreams: readonly Upstream[];
  /** timeoutMs bounds each try. Default 2000. */
  readonly timeoutMs?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly onFailure?: ((f: ForwardFailure) => void) | undefined;
}

/** UpstreamTimeoutError: an upstream gave no reply in time. */
export class UpstreamTimeoutError extends Error {
  override readonly name = 'UpstreamTimeoutError';
}

/** isUpstreamTimeout tells whether err is an UpstreamTimeoutError. */
export function isUpstreamTimeout(err: unknown): err is UpstreamTimeoutError {
  return err instanceof Error && err.name === 'UpstreamTimeoutError';
}

const RETRY_RCODES = new Set([2, 4, 5]); // SERVFAIL, NOTIMP, REFUSED

/** forwardQuery sends query to the upstreams in turn and resolves the reply to relay, or
 *  undefined when every upstream failed or signal aborted (see the module comment). */
export async function forwardQuery(query: Buffer, transport: Transport, opts: ForwardOptions): Promise<Buffer | undefined> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS;
  const aborted = (): boolean => opts.signal?.aborted === true;
  let fallback: Buffer | undefined;
  for (const upstream of opts.upstreams) {
    if (aborted()) return undefined;
    try {
      const reply = await exchange(upstream, transport, query, timeoutMs, opts.signal);
      if (!RETRY_RCODES.has(rcodeOf(reply))) return reply;
      fallback = reply;
      opts.onFailure?.({ upstream, transport, reason: 'rcode', message: `${formatUpstream(upstream)} answered rcode ${rcodeOf(reply)}` });
    } catch (err) {
      if (aborted()) return undefined;
      opts.onFailure?.({ upstream, transport, reason: isUpstreamTimeout(err) ? 'timeout' : 'error', message: (err as Error).message });
    }
  }
  return fallback;
}

/** exchange sends query to one upstream and resolves its reply; it rejects on timeout (an
 *  UpstreamTimeoutError), on a socket error, or when signal aborts. */
export function exchange(upstream: Upstream, transport: Transport, query: Buffer, timeoutMs: number, signal?: AbortSignal): Promise<Buffer> {
  const id = messageId(query);
  if (id === undefined) return Promise.reject(new Error('forwarding a message without an id'));
  const where = `${formatUpstream(upstream)} over ${transport}`;
  return new Promise<Buffer>((resolve, reject) => {
    let close = (): void => {};
    let settled = false;
    const settle = (err: Error | undefined, reply?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      close();
      if (err !== undefined) reject(err);
      else resolve(reply!);
    };
    const onAbort = (): void => settle(new Error(`forwarding to ${where} aborted`));
    const timer = setTimeout(() => settle(new UpstreamTimeoutError(`no reply from ${where} within ${timeoutMs} ms`)), timeoutMs);
    const failed = (err: Error): void => settle(new Error(`forwarding to ${where}: ${err.message}`, { cause: err }));
    if (signal?.aborted === true) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });

    if (transport === 'udp') {
      const socket = createSocket('udp4');
      close = () => {
        try {
          socket.close();
        } catch {
          // Already closed after an error.
        }
      };
      socket.on('error', failed);
      socket.on('message', (msg) => {
        if (isReplyTo(msg, id)) settle(undefined, msg);
      });
      socket.connect(upstream.port, upstream.host, () => {
        socket.send(query, (err) => {
          if (err) failed(err);
        });
      });
      return;
    }
    const socket = connect({ host: upstream.host, port: upstream.port });
    close = () => socket.destroy();
    const reader = new FrameReader();
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(frameMessage(query)));
    socket.on('error', failed);
    socket.on('close', () => settle(new Error(`${where} closed the connection without a reply`)));
    socket.on('data', (chunk: Buffer) => {
      const [reply] = reader.push(chunk);
      if (reply === undefined) return;
      if (isReplyTo(reply, id)) settle(undefined, reply);
      else settle(new Error(`${where} sent a message that is not the reply to the query`));
    });
  });
}
