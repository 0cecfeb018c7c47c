// client-limits.ts: what one client may take of a member, so that one busy or broken client
// cannot starve the others. A client is the identity of its certificate (organization and
// common name); calls without one (a member's own loops, or plain text, which has no
// authentication) and other members are not limited.
//
// - Request rate: a token bucket per client whose role does not allow everything (node agents,
//   viewers; admins are exempt, as Kubernetes exempts its masters group from flow control). A
//   call beyond it is refused before it runs with RESOURCE_EXHAUSTED, naming the client and the
//   rate, and trailing metadata saying how long to wait (RETRY_AFTER_METADATA): tugboat's
//   clients wait and send it again.
// - Watches: at most `watchesPerClient` open at once per client (admins included); beyond,
//   RESOURCE_EXHAUSTED naming the client and the bound. The member's bound on all its watches
//   (WatchSlots) still holds on top.
import type { DescMethod } from '@bufbuild/protobuf';
import { ROLE_ORGANIZATIONS } from '@tugboat/pki';
import { GrpcError, Metadata, RETRY_AFTER_METADATA, Status } from '@tugboat/proto';
import type { AnyService, CallContext, Identity, ServiceImpl } from '@tugboat/proto';
import { describeIdentity, isRestricted } from './authorization.ts';

export interface ClientLimitsOptions {
  /** requestsPerSecond each limited client may send, sustained. */
  readonly requestsPerSecond: number;
  /** burst: how many it may send at once after being idle. */
  readonly burst: number;
  /** watchesPerClient: open watches per client. */
  readonly watchesPerClient: number;
  /** now: the clock, ms (tests). Default performance.now. */
  readonly now?: () => number;
}

/** DEFAULT_CLIENT_LIMITS (tug-control's flag defaults): an agent with 110 pods starting sends
 *  about 300 requests in its first seconds. */
export const DEFAULT_CLIENT_LIMITS: ClientLimitsOptions = { requestsPerSecond: 200, burst: 400, watchesPerClient: 500 };

interface Bucket {
  tokens: number;
  at: number;
}

/** clientOf names the limited client of a call; undefined: not limited (no identity, or a member). */
function clientOf(who: Identity | undefined): string | undefined {
  if (who === undefined || who.organization === ROLE_ORGANIZATIONS.member) return undefined;
  return `${who.organization}/${who.commonName}`;
}

export class ClientLimits {
  readonly #opts: ClientLimitsOptions;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();
  readonly #watches = new Map<string, number>();

  constructor(opts: ClientLimitsOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** admit takes one request of the caller's rate, or throws RESOURCE_EXHAUSTED with the wait. */
  admit(ctx: CallContext): void {
    const who = ctx.identity;
    const client = clientOf(who);
    if (client === undefined || !isRestricted(who)) return;
    const { requestsPerSecond: rate, burst } = this.#opts;
    const now = this.#now();
    const b = this.#buckets.get(client) ?? { tokens: burst, at: now };
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) * rate) / 1000);
    b.at = now;
    this.#buckets.set(client, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return;
    }
    const waitMs = Math.ceil(((1 - b.tokens) * 1000) / rate);
    const metadata = new Metadata();
    metadata.set(RETRY_AFTER_METADATA, String(waitMs));
    throw new GrpcError(Status.RESOURCE_EXHAUSTED, `${describeIdentity(who)} sends more than ${rate} requests/s (bursts of ${burst}); wait ${waitMs} ms and send it again`, { metadata });
  }

  /** takeWatch counts an open watch of the caller (throws RESOURCE_EXHAUSTED beyond the bound);
   *  call the returned function once when it ends. */
  takeWatch(ctx: CallContext): () => void {
    const client = clientOf(ctx.identity);
    if (client === undefined) return () => undefined;
    const open = this.#watches.get(client) ?? 0;
    if (open >= this.#opts.watchesPerClient) {
      throw new GrpcError(Status.RESOURCE_EXHAUSTED, `${describeIdentity(ctx.identity!)} has ${open} watches open, the most one client may; end some first`);
    }
    this.#watches.set(client, open + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const left = (this.#watches.get(client) ?? 1) - 1;
      if (left <= 0) this.#watches.delete(client);
      else this.#watches.set(client, left);
    };
  }
}

/** withCallGuard wraps every handler of impl so that `guard` sees each call first: it throws
 *  (or rejects) to refuse it, or gives the context the handler gets (an identity added, for a
 *  bearer token). */
export function withCallGuard<S extends AnyService>(service: S, impl: ServiceImpl<S>, guard: (ctx: CallContext) => Promise<CallContext>): ServiceImpl<S> {
  const table = impl as unknown as Record<string, (req: unknown, ctx: CallContext) => unknown>;
  const wrapped: Record<string, (req: unknown, ctx: CallContext) => unknown> = {};
  for (const method of service.methods as readonly DescMethod[]) {
    const fn = table[method.localName]!.bind(impl);
    wrapped[method.localName] =
      method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming'
        ? async function* (req: unknown, ctx: CallContext) {
            yield* fn(req, await guard(ctx)) as AsyncIterable<unknown>;
          }
        : async (req: unknown, ctx: CallContext) => fn(req, await guard(ctx));
  }
  return wrapped as unknown as ServiceImpl<S>;
}
