// endpoints.ts: a list of API endpoints with failover, and the retry loop every unary call
// goes through.
//
// Failover: a call goes first to the endpoint that last answered; when it fails with a status
// that says "this member cannot serve you now" (UNAVAILABLE, DEADLINE_EXCEEDED, or CANCELLED
// that the caller did not ask for) the call moves on to the next endpoint at once. After a
// round in which every endpoint failed, it waits a jittered back-off (doubling from backoffMs
// up to backoffMsMax, each pause drawn from [half, whole]) and goes round again, until the
// retry budget is spent or, when no endpoint could even be connected to, after
// unreachableRoundsMax rounds. Then it throws an UnavailableError naming each endpoint and why.
//
// Safety: a call is retried only if repeating it cannot apply it twice. Reads are always safe;
// writes carry a request id that the server applies at most once, so they are safe too. Calls
// without such an id ('once') are retried only on UNAVAILABLE. No call is ever retried on an
// answer about the request itself (INVALID_ARGUMENT, ALREADY_EXISTS, NOT_FOUND, ABORTED,
// OUT_OF_RANGE, ...): that answer is thrown as its ApiError at once.
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { ClusterService, INSECURE_PLAINTEXT, ObjectService, Status, clientTransport, createClient, isGrpcError, retryAfterMs } from '@tugboat/proto';
import type { CallOptions, Security, ServiceClient, StatusCode } from '@tugboat/proto';
import { UnavailableError, fromGrpcError } from './errors.ts';
import type { EndpointFailure } from './errors.ts';

/** RetryOptions shape the retry loop. Units are milliseconds. */
export interface RetryOptions {
  /** attemptTimeoutMs bounds one attempt at one endpoint. Default 5,000. */
  readonly attemptTimeoutMs?: number;
  /** retryBudgetMs bounds a whole call, retries and pauses included. Default 15,000. */
  readonly retryBudgetMs?: number;
  /** backoffMs is the first pause after a round in which every endpoint failed. Default 50. */
  readonly backoffMs?: number;
  /** backoffMsMax caps the pause. Default 1,000. */
  readonly backoffMsMax?: number;
  /** unreachableRoundsMax: give up after this many consecutive rounds in which no endpoint
   *  could be connected to at all. Default 3. */
  readonly unreachableRoundsMax?: number;
  /** random returns a number in [0, 1); used for jitter. Default Math.random. */
  readonly random?: () => number;
}

/** EndpointPoolOptions configure an EndpointPool. */
export interface EndpointPoolOptions extends RetryOptions {
  /** endpoints are the API addresses ("host:port") of some or all control members. At least one. */
  readonly endpoints: readonly string[];
  /** security: mutual TLS under the cluster CA, or plain text (the default, for servers that
   *  listen so behind an --insecure flag, and tests). */
  readonly security?: Security;
  /** channelOptions are merged over the defaults (fast reconnect, keepalive, 256 MiB messages). */
  readonly channelOptions?: grpc.ChannelOptions;
}

/** InProcessApi is the API served by the process the client runs in (a control member's own
 *  loops): calls go straight to its handlers (inProcessClient of @tugboat/proto), with no
 *  channel, HTTP/2 or protobuf encoding in between. */
export interface InProcessApi {
  /** address is where the same API is served on the network; it names the endpoint in errors. */
  readonly address: string;
  readonly objects: ServiceClient<typeof ObjectService>;
  readonly cluster: ServiceClient<typeof ClusterService>;
}

/** InProcessPoolOptions configure an EndpointPool of one in-process endpoint. */
export interface InProcessPoolOptions extends RetryOptions {
  readonly inProcess: InProcessApi;
}

/** Safety says when a call may be retried: 'idempotent' (reads, writes with a request id) or
 *  'once' (retried only on UNAVAILABLE). */
export type Safety = 'idempotent' | 'once';

/** CallSettings are the per-call knobs of EndpointPool.call. */
export interface CallSettings {
  readonly safety: Safety;
  /** signal cancels the call; the signal's reason is thrown. */
  readonly signal?: AbortSignal | undefined;
  /** budgetMs overrides retryBudgetMs for this call. */
  readonly budgetMs?: number | undefined;
  /** attemptTimeoutMs overrides the pool's attemptTimeoutMs for this call. */
  readonly attemptTimeoutMs?: number | undefined;
  /** endpoint sends the call to this one endpoint only (no failover). */
  readonly endpoint?: string | undefined;
}

/** Endpoint is one API address and its clients (one channel shared by both services). */
export interface Endpoint {
  readonly address: string;
  readonly objects: ServiceClient<typeof ObjectService>;
  readonly cluster: ServiceClient<typeof ClusterService>;
  /** reachable tells whether the channel is connected right now. */
  reachable(): boolean;
}

const defaultChannelOptions: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2_000,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.max_receive_message_length': 256 * 1024 * 1024,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
};

/** isRetryable tells whether a failed attempt may be repeated elsewhere under `safety`. */
export function isRetryable(code: StatusCode, safety: Safety): boolean {
  if (code === Status.UNAVAILABLE) return true;
  if (safety === 'once') return false;
  return code === Status.DEADLINE_EXCEEDED || code === Status.CANCELLED;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

/**
 * EndpointPool holds one channel per endpoint and runs calls with failover and retries. It
 * remembers the endpoint that last answered and tries it first.
 */
export class EndpointPool {
  readonly addresses: readonly string[];
  readonly attemptTimeoutMs: number;
  readonly retryBudgetMs: number;
  readonly backoffMs: number;
  readonly backoffMsMax: number;
  readonly unreachableRoundsMax: number;
  private readonly endpoints: Endpoint[];
  private readonly channels: grpc.Channel[] = [];
  private readonly random: () => number;
  private preferred = 0;
  private closed = false;

  constructor(opts: EndpointPoolOptions | InProcessPoolOptions) {
    this.attemptTimeoutMs = positive('attemptTimeoutMs', opts.attemptTimeoutMs, 5_000);
    this.retryBudgetMs = positive('retryBudgetMs', opts.retryBudgetMs, 15_000);
    this.backoffMs = positive('backoffMs', opts.backoffMs, 50);
    this.backoffMsMax = Math.max(this.backoffMs, positive('backoffMsMax', opts.backoffMsMax, 1_000));
    this.unreachableRoundsMax = positive('unreachableRoundsMax', opts.unreachableRoundsMax, 3);
    this.random = opts.random ?? Math.random;
    if ('inProcess' in opts) {
      const { address, objects, cluster } = opts.inProcess;
      this.addresses = Object.freeze([address]);
      this.endpoints = [{ address, objects, cluster, reachable: () => true }];
      return;
    }
    const addresses = opts.endpoints.map((e) => e.trim()).filter((e) => e !== '');
    if (addresses.length === 0) throw new TypeError('EndpointPool: endpoints: give at least one API address');
    for (const a of addresses) {
      if (!/^[^\s/]+:\d{1,5}$/.test(a)) throw new TypeError(`EndpointPool: endpoints: ${JSON.stringify(a)} is not host:port`);
    }
    this.addresses = Object.freeze([...new Set(addresses)]);
    const security = opts.security ?? INSECURE_PLAINTEXT;
    this.endpoints = this.addresses.map((address) => {
      const transport = clientTransport(security, address);
      const channel = new grpc.Channel(address, transport.credentials, { ...defaultChannelOptions, ...transport.channelOptions, ...opts.channelOptions });
      this.channels.push(channel);
      const shared = { channelOptions: { channelOverride: channel } };
      return {
        address,
        objects: createClient(ObjectService, address, shared),
        cluster: createClient(ClusterService, address, shared),
        reachable: () => channel.getConnectivityState(false) === grpc.connectivityState.READY,
      };
    });
  }

  /** endpoint returns the endpoint with this address; throws if it is not in the pool. */
  endpoint(address: string): Endpoint {
    const ep = this.endpoints.find((e) => e.address === address);
    if (ep === undefined) throw new TypeError(`EndpointPool: ${address} is not one of the endpoints (${this.addresses.join(', ')})`);
    return ep;
  }

  /** current is the endpoint calls try first: the one that last answered. */
  current(): Endpoint {
    return this.endpoints[this.preferred % this.endpoints.length]!;
  }

  /** markGood makes ep the endpoint tried first. */
  markGood(ep: Endpoint): void {
    const i = this.endpoints.indexOf(ep);
    if (i >= 0) this.preferred = i;
  }

  /** markFailed moves the preference past ep when it is the preferred one. */
  markFailed(ep: Endpoint): void {
    const i = this.endpoints.indexOf(ep);
    if (i >= 0 && i === this.preferred % this.endpoints.length) this.preferred = (i + 1) % this.endpoints.length;
  }

  /** backoff returns the jittered pause after `round` (1-based) failed rounds. */
  backoff(round: number): number {
    const whole = Math.min(this.backoffMsMax, this.backoffMs * 2 ** Math.min(30, Math.max(0, round - 1)));
    return whole / 2 + (this.random() * whole) / 2;
  }

  /**
   * call runs fn against endpoints, with failover and retries as the module comment says, and
   * returns its first success. fn gets the endpoint and the options for its one attempt.
   */
  async call<T>(fn: (ep: Endpoint, opts: CallOptions) => Promise<T>, settings: CallSettings): Promise<T> {
    if (this.closed) throw new UnavailableError([], 'client is closed');
    const { signal } = settings;
    if (signal?.aborted) throw abortReason(signal);
    const budgetMs = settings.budgetMs ?? this.retryBudgetMs;
    const attemptMs = settings.attemptTimeoutMs ?? this.attemptTimeoutMs;
    const deadline = Date.now() + budgetMs;
    const failures = new Map<string, EndpointFailure>();
    const giveUp = (summary: string): UnavailableError =>
      new UnavailableError(
        this.addresses.filter((a) => failures.has(a)).map((a) => failures.get(a)!),
        summary,
      );
    let unreachableRounds = 0;
    for (let round = 1; ; round++) {
      const order =
        settings.endpoint !== undefined
          ? [this.endpoint(settings.endpoint)]
          : this.endpoints.map((_, k) => this.endpoints[(this.preferred + k) % this.endpoints.length]!);
      let anyReached = false;
      for (let k = 0; k < order.length; k++) {
        const ep = order[k]!;
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw giveUp(`no endpoint answered within ${budgetMs} ms`);
        // Leave time for the endpoints still to try this round, so one silent endpoint cannot
        // spend the whole budget.
        const share = Math.max(remaining / (order.length - k), Math.min(remaining, 1_000));
        const timeoutMs = Math.max(1, Math.floor(Math.min(attemptMs, share)));
        try {
          const res = await fn(ep, { timeoutMs, signal });
          if (settings.endpoint === undefined) this.markGood(ep);
          return res;
        } catch (err) {
          if (signal?.aborted) throw abortReason(signal);
          if (!isGrpcError(err)) throw err;
          // Refused for the client's request rate, before anything ran: send it again after the
          // wait the server asks for, whatever the call's safety, while the budget lasts.
          const wait = retryAfterMs(err);
          if (wait !== undefined && wait < deadline - Date.now()) {
            await sleep(wait, undefined, signal === undefined ? undefined : { signal }).catch(() => undefined);
            if (signal?.aborted) throw abortReason(signal);
            k--;
            continue;
          }
          if (!isRetryable(err.code, settings.safety)) {
            if (settings.endpoint === undefined && err.code !== Status.DEADLINE_EXCEEDED) this.markGood(ep); // it answered
            throw fromGrpcError(err, ep.address);
          }
          const reachable = ep.reachable();
          if (reachable) anyReached = true;
          failures.set(ep.address, { endpoint: ep.address, code: err.code, message: err.message, reachable });
        }
      }
      unreachableRounds = anyReached ? 0 : unreachableRounds + 1;
      if (unreachableRounds >= this.unreachableRoundsMax) {
        throw giveUp(order.length === 1 ? 'cannot reach the endpoint' : 'cannot reach any endpoint');
      }
      const pause = Math.min(this.backoff(round), deadline - Date.now());
      if (pause <= 0) throw giveUp(`no endpoint answered within ${budgetMs} ms`);
      try {
        await sleep(pause, undefined, signal === undefined ? undefined : { signal });
      } catch (err) {
        if (signal?.aborted) throw abortReason(signal);
        throw err;
      }
    }
  }

  /** close closes every channel; calls still running fail. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.channels) c.close();
  }
}

function positive(field: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!(typeof v === 'number' && v > 0)) throw new TypeError(`EndpointPool: ${field} must be a positive number, got ${String(v)}`);
  return v;
}
