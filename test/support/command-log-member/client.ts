/**
 * MemberClient calls tug.v1.MemberService on a set of command-log members. It follows leader
 * redirects and retries what is safe to retry, so callers see one answer per call.
 *
 * Redirects: a member that is not the leader fails a Propose with FAILED_PRECONDITION and the
 * leader's API address in trailing metadata `tug-leader-api` (see proto/tug/v1/member.proto);
 * the client sends the same request there and remembers it as the leader.
 *
 * Retries: UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED (not by the caller), ABORTED and a redirect
 * without an address are retried after a pause (doubling from `backoffMs` up to `backoffMsMax`),
 * at the next endpoint, until `deadlineMs` has passed. A retried Propose carries the same id,
 * and a member never applies an id twice, so a command is applied at most once however often it
 * is retried; when the client gives up (`MemberClientError`), the command may or may not have
 * been applied, and retrying it later with the same id is still safe.
 */
import { INSECURE_PLAINTEXT, Status, clientTransport, createClient, isGrpcError } from '@tugboat/proto';
import type { CallOptions, Security, ServiceClient, StatusCode } from '@tugboat/proto';
import { MemberService } from './gen/tug/v1/member_pb.js';
import type { MemberServiceStatusResponse } from './gen/tug/v1/member_pb.js';

/** Metadata keys a non-leader sets when it refuses a leader-only call. */
export const leaderMetadataKey = 'tug-leader';
export const leaderApiMetadataKey = 'tug-leader-api';

export interface MemberClientOptions {
  /** API addresses ("host:port") of some or all members. At least one. */
  readonly endpoints: readonly string[];
  /** Deadline of one attempt, ms. Default 3,000. */
  readonly attemptTimeoutMs?: number;
  /** Total time a call may take, retries included, ms. Default 20,000. */
  readonly deadlineMs?: number;
  /** First pause between retries, ms; doubles per consecutive failure. Default 10. */
  readonly backoffMs?: number;
  /** Longest pause between retries, ms. Default 200. */
  readonly backoffMsMax?: number;
  /** Request metadata sent with every call. Default none. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** How the members are dialled. Default plain text. */
  readonly security?: Security;
}

/** ProposeResult is the answer to a Propose (see MemberServiceProposeResponse). */
export interface ProposeAnswer {
  readonly index: number;
  readonly position: number;
  readonly duplicate: boolean;
  /** Attempts it took, 1 when the first one succeeded. */
  readonly attempts: number;
  /** API address of the member that answered. */
  readonly endpoint: string;
}

export interface LoggedCommand {
  readonly position: number;
  readonly index: number;
  readonly id: string;
  readonly payload: Uint8Array;
}

/** MemberClientError: a call failed for good (not retryable, or out of time). `last` is the last failure. */
export class MemberClientError extends Error {
  override readonly name = 'MemberClientError';
  readonly attempts: number;
  readonly code: StatusCode | undefined;
  constructor(message: string, attempts: number, last: unknown) {
    super(message, { cause: last });
    this.attempts = attempts;
    this.code = isGrpcError(last) ? last.code : undefined;
  }
}

export function isMemberClientError(e: unknown): e is MemberClientError {
  return e instanceof Error && e.name === 'MemberClientError';
}

const retryable: ReadonlySet<number> = new Set([
  Status.UNAVAILABLE,
  Status.DEADLINE_EXCEEDED,
  Status.CANCELLED,
  Status.ABORTED,
  Status.FAILED_PRECONDITION,
]);

type Client = ServiceClient<typeof MemberService>;

const channelOptions = {
  // Reconnect to a restarted member quickly (grpc-js defaults to 1 s, doubling up to 120 s).
  'grpc.initial_reconnect_backoff_ms': 50,
  'grpc.max_reconnect_backoff_ms': 500,
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
};

function positive(name: string, v: number | undefined, def: number): number {
  const n = v ?? def;
  if (!(Number.isFinite(n) && n > 0)) throw new RangeError(`MemberClient: ${name} must be a positive number, got ${String(v)}`);
  return n;
}

export class MemberClient {
  readonly endpoints: readonly string[];
  private readonly attemptTimeoutMs: number;
  private readonly deadlineMs: number;
  private readonly backoffMs: number;
  private readonly backoffMsMax: number;
  private readonly metadata: Readonly<Record<string, string>> | undefined;
  private readonly security: Security;
  private readonly clients = new Map<string, Client>();
  /** Where leader-only calls go first: the last leader learned, or an endpoint. */
  private preferred: string;
  private next = 0;
  private closed = false;

  constructor(opts: MemberClientOptions) {
    if (opts.endpoints.length === 0) throw new RangeError('MemberClient: endpoints must not be empty');
    this.endpoints = [...opts.endpoints];
    this.attemptTimeoutMs = positive('attemptTimeoutMs', opts.attemptTimeoutMs, 3_000);
    this.deadlineMs = positive('deadlineMs', opts.deadlineMs, 20_000);
    this.backoffMs = positive('backoffMs', opts.backoffMs, 10);
    this.backoffMsMax = positive('backoffMsMax', opts.backoffMsMax, 200);
    this.metadata = opts.metadata;
    this.security = opts.security ?? INSECURE_PLAINTEXT;
    this.preferred = this.endpoints[0]!;
  }

  /** leaderHint is the API address leader-only calls go to first. */
  get leaderHint(): string {
    return this.preferred;
  }

  /** client returns the (cached) raw client of one member. */
  client(address: string): Client {
    let c = this.clients.get(address);
    if (c === undefined) {
      if (this.closed) throw new Error('MemberClient is closed');
      const transport = clientTransport(this.security, address);
      c = createClient(MemberService, address, { credentials: transport.credentials, channelOptions: { ...transport.channelOptions, ...channelOptions } });
      this.clients.set(address, c);
    }
    return c;
  }

  /** propose appends a command, retrying (with the same id) until it is applied or time runs out. */
  async propose(id: string, payload: Uint8Array, opts: { signal?: AbortSignal } = {}): Promise<ProposeAnswer> {
    return this.leaderCall('Propose', opts.signal, async (c, endpoint, attempts) => {
      const r = await c.propose({ id, payload }, this.callOpts(opts.signal));
      return { index: Number(r.index), position: Number(r.position), duplicate: r.duplicate, attempts, endpoint };
    });
  }

  /** transferLeadership asks for leadership to move to `to` ('' picks one). Any member forwards it. */
  async transferLeadership(to: string): Promise<{ leader: string; term: number }> {
    return this.leaderCall('TransferLeadership', undefined, async (c) => {
      const r = await c.transferLeadership({ to }, this.callOpts(undefined));
      return { leader: r.leader, term: Number(r.term) };
    });
  }

  /** addMember adds a voting member; resolves when the change is applied on the leader. */
  async addMember(name: string, peerAddress: string): Promise<MemberServiceStatusResponse['members']> {
    return this.leaderCall('AddMember', undefined, async (c) => (await c.addMember({ name, peerAddress }, this.callOpts(undefined))).members);
  }

  /** removeMember removes a voting member; resolves when the change is applied on the leader. */
  async removeMember(name: string): Promise<MemberServiceStatusResponse['members']> {
    return this.leaderCall('RemoveMember', undefined, async (c) => (await c.removeMember({ name }, this.callOpts(undefined))).members);
  }

  /** status asks one member (no retries): it describes the cluster as that member sees it. */
  async status(address: string, timeoutMs = this.attemptTimeoutMs): Promise<MemberServiceStatusResponse> {
    return this.client(address).status({}, { timeoutMs });
  }

  /**
   * readLog reads up to `limit` commands from position `from` at one member (default: the
   * preferred one), retrying elsewhere on failure. Linearizable unless `linearizable` is false.
   */
  async readLog(
    from: number,
    limit: number,
    opts: { linearizable?: boolean; address?: string } = {},
  ): Promise<{ entries: LoggedCommand[]; total: number; appliedIndex: number }> {
    const fixed = opts.address;
    return this.retrying('ReadLog', undefined, fixed ?? this.preferred, fixed !== undefined, async (c) => {
      const r = await c.readLog({ from: BigInt(from), limit, linearizable: opts.linearizable ?? true }, this.callOpts(undefined));
      return {
        entries: r.entries.map((e) => ({ position: Number(e.position), index: Number(e.index), id: e.id, payload: e.payload })),
        total: Number(r.total),
        appliedIndex: Number(r.appliedIndex),
      };
    });
  }

  /** readAll reads a member's whole command log, page by page. */
  async readAll(opts: { linearizable?: boolean; address?: string } = {}): Promise<LoggedCommand[]> {
    const out: LoggedCommand[] = [];
    for (;;) {
      const page = await this.readLog(out.length + 1, 10_000, opts);
      out.push(...page.entries);
      if (page.entries.length === 0 || out.length >= page.total) return out;
    }
  }

  /** close closes every channel. */
  close(): void {
    this.closed = true;
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  // -------------------------------------------------------------------------------------------

  private callOpts(signal: AbortSignal | undefined): CallOptions {
    const o: CallOptions = { timeoutMs: this.attemptTimeoutMs };
    if (signal !== undefined) o.signal = signal;
    if (this.metadata !== undefined) o.metadata = { ...this.metadata };
    return o;
  }

  private leaderCall<T>(what: string, signal: AbortSignal | undefined, fn: (c: Client, endpoint: string, attempts: number) => Promise<T>): Promise<T> {
    return this.retrying(what, signal, this.preferred, false, fn, true);
  }

  private async retrying<T>(
    what: string,
    signal: AbortSignal | undefined,
    first: string,
    fixed: boolean,
    fn: (c: Client, endpoint: string, attempts: number) => Promise<T>,
    leaderOnly = false,
  ): Promise<T> {
    const giveUpAt = performance.now() + this.deadlineMs;
    let target = first;
    let attempts = 0;
    let failures = 0;
    let redirects = 0;
    let last: unknown;
    for (;;) {
      if (signal?.aborted) throw new MemberClientError(`${what}: aborted after ${attempts} attempts`, attempts, signal.reason);
      if (attempts > 0 && performance.now() > giveUpAt) {
        throw new MemberClientError(`${what}: gave up after ${attempts} attempts in ${this.deadlineMs} ms: ${describe(last)}`, attempts, last);
      }
      attempts++;
      try {
        const out = await fn(this.client(target), target, attempts);
        if (leaderOnly) this.preferred = target;
        return out;
      } catch (err) {
        last = err;
        if (!isGrpcError(err) || !retryable.has(err.code) || signal?.aborted) {
          throw new MemberClientError(`${what} at ${target}: ${describe(err)}`, attempts, err);
        }
        if (err.code === Status.FAILED_PRECONDITION && !leaderOnly) {
          throw new MemberClientError(`${what} at ${target}: ${describe(err)}`, attempts, err);
        }
        const redirect = err.code === Status.FAILED_PRECONDITION ? firstValue(err, leaderApiMetadataKey) : '';
        if (fixed) {
          // Stay on the one member asked for.
        } else if (redirect !== '' && redirect !== target) {
          target = redirect;
          this.preferred = redirect;
          // A redirect is followed at once; only a run of them (leaders changing fast) pauses.
          if (++redirects % 4 !== 0) continue;
        } else {
          target = this.rotate(target);
        }
      }
      failures++;
      const pause = Math.min(this.backoffMsMax, this.backoffMs * 2 ** Math.min(failures - 1, 10));
      if (performance.now() + pause > giveUpAt) {
        throw new MemberClientError(`${what}: gave up after ${attempts} attempts in ${this.deadlineMs} ms: ${describe(last)}`, attempts, last);
      }
      await sleep(pause, signal);
    }
  }

  /** rotate picks the next endpoint after a failure at `failed`. */
  private rotate(failed: string): string {
    for (let i = 0; i < this.endpoints.length; i++) {
      const e = this.endpoints[this.next % this.endpoints.length]!;
      this.next++;
      if (e !== failed || this.endpoints.length === 1) return e;
    }
    return failed;
  }
}

function firstValue(err: { metadata: { get(key: string): (string | Buffer)[] } }, key: string): string {
  const v = err.metadata.get(key)[0];
  return typeof v === 'string' ? v : v === undefined ? '' : v.toString('utf8');
}

function describe(err: unknown): string {
  if (isGrpcError(err)) return `${err.codeName}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

