// grpc.ts: serves and calls protobuf-es v2 services over @grpc/grpc-js.
//
// A generated service descriptor (`GenService`) is all it takes: `addService` registers typed
// async handlers on a grpc-js Server, `createClient` returns a typed client. Method names,
// request fields and response fields all come from the descriptor, so a typo fails typecheck.
//
// Call shapes, server side (handler) and client side (method):
//   unary             (req, ctx) => Promise<Res>                 (req, opts?) => Promise<Res>
//   server streaming  (req, ctx) => AsyncIterable<Res>           (req, opts?) => AsyncIterable<Res>
//   client streaming  (reqs, ctx) => Promise<Res>                (reqs, opts?) => Promise<Res>
//   bidi streaming    (reqs, ctx) => AsyncIterable<Res>          (reqs, opts?) => AsyncIterable<Res>
// Handlers and callers may give plain init objects (MessageInitShape) wherever a message is
// sent; what is received is always a full message (MessageShape).
//
// Errors: a handler that throws a GrpcError fails the call with that status and message; any
// other error fails it with INTERNAL and the error's message. A failed call rejects (or throws
// from the iteration) on the client with a GrpcError carrying the status the server sent, or
// CANCELLED / DEADLINE_EXCEEDED / UNAVAILABLE from the client side.
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { DescMessage, DescMethod, Message, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';

export { Metadata, Server, ServerCredentials, credentials } from '@grpc/grpc-js';

/** Status holds the gRPC status codes (the numbers are fixed by the gRPC protocol). */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** StatusCode is one of the values of Status. */
export type StatusCode = (typeof Status)[keyof typeof Status];

const statusNames = new Map<number, string>(Object.entries(Status).map(([k, v]) => [v, k]));

/** statusName returns the name of a gRPC status code ("NOT_FOUND"), or "CODE_<n>" if unknown. */
export function statusName(code: number): string {
  return statusNames.get(code) ?? `CODE_${code}`;
}

/** toStatusCode returns code if it is a known gRPC status code, else UNKNOWN. */
export function toStatusCode(code: unknown): StatusCode {
  return typeof code === 'number' && statusNames.has(code) ? (code as StatusCode) : Status.UNKNOWN;
}

/** GrpcError is a failed gRPC call: its status code and message (the status details). A handler
 *  throws it to fail a call with that status; a client gets it for every failed call. */
export class GrpcError extends Error {
  override readonly name = 'GrpcError';
  /** code is the gRPC status code. */
  readonly code: StatusCode;
  /** metadata is the trailing metadata: sent with the status by a server, received by a client. */
  readonly metadata: grpc.Metadata;

  constructor(code: StatusCode, message: string, options: { cause?: unknown; metadata?: grpc.Metadata } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.metadata = options.metadata ?? new grpc.Metadata();
  }

  /** codeName is the name of the status code, such as "NOT_FOUND". */
  get codeName(): string {
    return statusName(this.code);
  }
}

/** RETRY_AFTER_METADATA: trailing metadata of a call refused for its client's request rate
 *  (RESOURCE_EXHAUSTED, not executed): how many ms to wait before sending it again. */
export const RETRY_AFTER_METADATA = 'tug-retry-after-ms';

/** retryAfterMs is the wait a rate-limited call's status asks for, undefined for other failures. */
export function retryAfterMs(err: GrpcError): number | undefined {
  if (err.code !== Status.RESOURCE_EXHAUSTED) return undefined;
  const v = err.metadata.get(RETRY_AFTER_METADATA)[0];
  const ms = typeof v === 'string' ? Number(v) : NaN;
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}

/** isGrpcError says whether err is a GrpcError, and when code is given, one with that code. */
export function isGrpcError(err: unknown, code?: StatusCode): err is GrpcError {
  const is =
    err instanceof GrpcError ||
    (err instanceof Error && err.name === 'GrpcError' && typeof (err as { code?: unknown }).code === 'number');
  return is && (code === undefined || (err as GrpcError).code === code);
}

// ---------------------------------------------------------------------------------------------
// Types derived from descriptors.

/** AnyService is any generated service descriptor. */
export type AnyService = GenService<GenServiceMethods>;

type Init<D extends DescMessage> = MessageInitShape<D>;
type Shape<D extends DescMessage> = MessageShape<D>;

/** CallContext is what a handler knows about the call it serves. */
export interface CallContext {
  /** method is the descriptor of the method called. */
  readonly method: DescMethod;
  /** metadata is the request metadata (headers) the client sent. */
  readonly metadata: grpc.Metadata;
  /** peer is the client's address. */
  readonly peer: string;
  /** identity is who the client's certificate names (mutual TLS); undefined on a plain-text
   *  connection and for calls made in the same process. */
  readonly identity?: Identity | undefined;
  /** deadline is when the client gives up: a Date or ms since the epoch; Infinity if never. */
  readonly deadline: grpc.Deadline;
  /** signal is aborted when the call ends early: the client cancelled it, its deadline passed
   *  or the server shut down. Pass it on to anything slow the handler waits for. */
  readonly signal: AbortSignal;
}

export type UnaryHandler<I extends DescMessage, O extends DescMessage> = (
  req: Shape<I>,
  ctx: CallContext,
) => Promise<Init<O>>;
export type ServerStreamingHandler<I extends DescMessage, O extends DescMessage> = (
  req: Shape<I>,
  ctx: CallContext,
) => AsyncIterable<Init<O>>;
export type ClientStreamingHandler<I extends DescMessage, O extends DescMessage> = (
  reqs: AsyncIterable<Shape<I>>,
  ctx: CallContext,
) => Promise<Init<O>>;
export type BidiStreamingHandler<I extends DescMessage, O extends DescMessage> = (
  reqs: AsyncIterable<Shape<I>>,
  ctx: CallContext,
) => AsyncIterable<Init<O>>;

type HandlerFor<M> = M extends { methodKind: infer K; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? K extends 'unary'
    ? UnaryHandler<I, O>
    : K extends 'server_streaming'
      ? ServerStreamingHandler<I, O>
      : K extends 'client_streaming'
        ? ClientStreamingHandler<I, O>
        : K extends 'bidi_streaming'
          ? BidiStreamingHandler<I, O>
          : never
  : never;

/** ServiceImpl is the implementation of service S: one handler per method, by local name. */
export type ServiceImpl<S extends AnyService> = { [K in keyof S['method']]: HandlerFor<S['method'][K]> };

/** CallOptions are the per-call options of a client method. All are optional. */
export interface CallOptions {
  /** timeoutMs fails the call with DEADLINE_EXCEEDED after this many milliseconds. */
  timeoutMs?: number | undefined;
  /** deadline is the same as an absolute time (a Date or ms since the epoch); wins over timeoutMs. */
  deadline?: Date | number | undefined;
  /** signal cancels the call (CANCELLED) when aborted. */
  signal?: AbortSignal | undefined;
  /** metadata is sent as request headers. */
  metadata?: grpc.Metadata | Record<string, string> | undefined;
  /** waitForReady queues the call until the channel connects (up to the deadline) instead of
   *  failing at once with UNAVAILABLE when the server is not reachable. Default false. */
  waitForReady?: boolean | undefined;
}

export type UnaryMethod<I extends DescMessage, O extends DescMessage> = (
  req: Init<I>,
  options?: CallOptions,
) => Promise<Shape<O>>;
export type ServerStreamingMethod<I extends DescMessage, O extends DescMessage> = (
  req: Init<I>,
  options?: CallOptions,
) => AsyncIterable<Shape<O>>;
export type ClientStreamingMethod<I extends DescMessage, O extends DescMessage> = (
  reqs: AsyncIterable<Init<I>> | Iterable<Init<I>>,
  options?: CallOptions,
) => Promise<Shape<O>>;
export type BidiStreamingMethod<I extends DescMessage, O extends DescMessage> = (
  reqs: AsyncIterable<Init<I>> | Iterable<Init<I>>,
  options?: CallOptions,
) => AsyncIterable<Shape<O>>;

type MethodFor<M> = M extends { methodKind: infer K; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? K extends 'unary'
    ? UnaryMethod<I, O>
    : K extends 'server_streaming'
      ? ServerStreamingMethod<I, O>
      : K extends 'client_streaming'
        ? ClientStreamingMethod<I, O>
        : K extends 'bidi_streaming'
          ? BidiStreamingMethod<I, O>
          : never
  : never;

/** ServiceClient is a client of service S: one method per RPC, by local name, and close(). */
export type ServiceClient<S extends AnyService> = { readonly [K in keyof S['method']]: MethodFor<S['method'][K]> } & {
  /** close closes the channel; calls still running fail with UNAVAILABLE or CANCELLED. */
  close(): void;
};

/** ClientOptions configure createClient. All are optional. */
export interface ClientOptions {
  /** credentials default to an insecure (plain-text) channel. */
  credentials?: grpc.ChannelCredentials | undefined;
  /** channelOptions are passed to grpc-js unchanged. */
  channelOptions?: grpc.ChannelOptions | undefined;
  /** defaultTimeoutMs applies to unary and client-streaming calls given neither timeoutMs nor
   *  deadline (never to calls that stream responses, such as watches). Default: none. */
  defaultTimeoutMs?: number | undefined;
}

/** AddServiceOptions configure addService. */
export interface AddServiceOptions {
  /** onInternalError is told of every error a handler threw that was not a GrpcError (the
   *  client gets INTERNAL). Default: nothing. */
  onInternalError?: ((err: unknown, method: DescMethod) => void) | undefined;
}

// ---------------------------------------------------------------------------------------------
// Service definition.

function encode(schema: DescMessage, msg: Message | Record<string, unknown>): Buffer {
  const bytes = toBinary(schema, create(schema, msg as MessageInitShape<DescMessage>));
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** methodPath is the gRPC path of a method: "/package.Service/Method". */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

function methodDefinition(method: DescMethod): grpc.MethodDefinition<Message, Message> {
  const kind = method.methodKind;
  return {
    path: methodPath(method),
    requestStream: kind === 'client_streaming' || kind === 'bidi_streaming',
    responseStream: kind === 'server_streaming' || kind === 'bidi_streaming',
    requestSerialize: (msg) => encode(method.input, msg),
    requestDeserialize: (buf) => fromBinary(method.input, buf),
    responseSerialize: (msg) => encode(method.output, msg),
    responseDeserialize: (buf) => fromBinary(method.output, buf),
  };
}

/** serviceDefinition turns a protobuf-es service descriptor into a grpc-js ServiceDefinition,
 *  keyed by each method's local name (as generated: "echoStream" for EchoStream). */
export function serviceDefinition(service: AnyService): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<Message, Message>> = {};
  for (const method of service.methods) def[method.localName] = methodDefinition(method);
  return def;
}

// ---------------------------------------------------------------------------------------------
// Server.

function toStatus(err: unknown, method: DescMethod, options: AddServiceOptions): grpc.StatusObject {
  if (isGrpcError(err)) return { code: err.code, details: err.message, metadata: err.metadata };
  options.onInternalError?.(err, method);
  const details = err instanceof Error ? err.message : String(err);
  return { code: Status.INTERNAL, details, metadata: new grpc.Metadata() };
}

type AnyServerCall =
  | grpc.ServerUnaryCall<Message, Message>
  | grpc.ServerReadableStream<Message, Message>
  | grpc.ServerWritableStream<Message, Message>
  | grpc.ServerDuplexStream<Message, Message>;

/** Identity is who a verified client certificate names: its subject's CN and O. */
export interface Identity {
  readonly commonName: string;
  readonly organization: string;
  /** certificateDer is the certificate itself (DER), for what CN and O do not say. */
  readonly certificateDer?: Uint8Array;
}

/** identityOf reads the identity of a call's client from its TLS connection. */
function identityOf(call: AnyServerCall): Identity | undefined {
  const cert = call.getAuthContext()?.sslPeerCertificate;
  if (cert === undefined) return undefined;
  const first = (v: string | string[] | undefined): string => (Array.isArray(v) ? (v[0] ?? '') : (v ?? ''));
  return { commonName: first(cert.subject.CN), organization: first(cert.subject.O), certificateDer: cert.raw };
}

/**
 * callContext builds a handler's context and returns it with `release`, to be called once the
 * call has been answered: grpc-js emits `cancelled` when any call's stream closes, also after a
 * successful reply, and aborting then would build an error for every call for nothing.
 */
function callContext(method: DescMethod, call: AnyServerCall): [CallContext, () => void] {
  const controller = new AbortController();
  const abort = (): void => controller.abort(new GrpcError(Status.CANCELLED, 'call cancelled'));
  const emitter = call as NodeJS.EventEmitter;
  if (call.cancelled) abort();
  else emitter.once('cancelled', abort);
  const ctx: CallContext = {
    method,
    metadata: call.metadata,
    peer: call.getPeer(),
    identity: identityOf(call),
    deadline: call.getDeadline(),
    signal: controller.signal,
  };
  return [ctx, () => emitter.removeListener('cancelled', abort)];
}

/** writeAll writes every message of out to call, waiting for the stream to drain when it asks
 *  to, then ends the call OK; a failure ends it with the failure's status. */
async function writeAll(
  call: grpc.ServerWritableStream<Message, Message> | grpc.ServerDuplexStream<Message, Message>,
  out: AsyncIterable<Message | Record<string, unknown>>,
  ctx: CallContext,
  options: AddServiceOptions,
): Promise<void> {
  const { method, signal } = ctx;
  try {
    for await (const msg of out) {
      if (signal.aborted) break;
      if (!call.write(create(method.output, msg as MessageInitShape<DescMessage>))) {
        await once(call, 'drain', { signal }).catch(() => undefined);
      }
    }
    if (!signal.aborted) call.end();
  } catch (err) {
    if (!signal.aborted) call.emit('error', toStatus(err, method, options));
  }
}

type AnyHandler = (arg: unknown, ctx: CallContext) => unknown;

function serverHandler(method: DescMethod, fn: AnyHandler, options: AddServiceOptions): grpc.UntypedHandleCall {
  const reply = (
    result: unknown,
    ctx: CallContext,
    release: () => void,
    callback: grpc.sendUnaryData<Message>,
  ): void => {
    Promise.resolve(result).then(
      (res) => {
        release();
        let msg: Message;
        try {
          msg = create(method.output, res as MessageInitShape<DescMessage>);
        } catch (err) {
          callback(toStatus(err, method, options));
          return;
        }
        callback(null, msg);
      },
      (err: unknown) => {
        release();
        if (!ctx.signal.aborted) callback(toStatus(err, method, options));
      },
    );
  };
  // A handler that throws synchronously is treated as one that returned a rejected promise.
  const invoke = (arg: unknown, ctx: CallContext): unknown => {
    try {
      return fn(arg, ctx);
    } catch (err) {
      return Promise.reject(err);
    }
  };
  const iterate = (arg: unknown, ctx: CallContext): AsyncIterable<Message> => {
    const out = invoke(arg, ctx);
    if (out instanceof Promise) {
      return (async function* () {
        yield* (await out) as AsyncIterable<Message>;
      })();
    }
    return out as AsyncIterable<Message>;
  };

  switch (method.methodKind) {
    case 'unary':
      return ((call: grpc.ServerUnaryCall<Message, Message>, callback: grpc.sendUnaryData<Message>) => {
        const [ctx, release] = callContext(method, call);
        reply(invoke(call.request, ctx), ctx, release, callback);
      }) as grpc.handleUnaryCall<Message, Message>;
    case 'client_streaming':
      return ((call: grpc.ServerReadableStream<Message, Message>, callback: grpc.sendUnaryData<Message>) => {
        const [ctx, release] = callContext(method, call);
        reply(invoke(call, ctx), ctx, release, callback);
      }) as grpc.handleClientStreamingCall<Message, Message>;
    case 'server_streaming':
      return ((call: grpc.ServerWritableStream<Message, Message>) => {
        const [ctx, release] = callContext(method, call);
        void writeAll(call, iterate(call.request, ctx), ctx, options).finally(release);
      }) as grpc.handleServerStreamingCall<Message, Message>;
    case 'bidi_streaming':
      return ((call: grpc.ServerDuplexStream<Message, Message>) => {
        const [ctx, release] = callContext(method, call);
        void writeAll(call, iterate(call, ctx), ctx, options).finally(release);
      }) as grpc.handleBidiStreamingCall<Message, Message>;
  }
}

/** addService registers impl, the handlers of service, on server. Every method of the service
 *  needs a handler; the handler's `this` is impl. */
export function addService<S extends AnyService>(
  server: grpc.Server,
  service: S,
  impl: ServiceImpl<S>,
  options: AddServiceOptions = {},
): void {
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const [method, fn] of boundHandlers('addService', service, impl)) handlers[method.localName] = serverHandler(method, fn, options);
  server.addService(serviceDefinition(service), handlers);
}

/** boundHandlers pairs every method of service with impl's handler for it, bound to impl;
 *  `who` names the caller in the error for a method without one. */
function boundHandlers<S extends AnyService>(who: string, service: S, impl: ServiceImpl<S>): [DescMethod, AnyHandler][] {
  const table = impl as unknown as Record<string, unknown>;
  return service.methods.map((method) => {
    const fn = table[method.localName];
    if (typeof fn !== 'function') throw new TypeError(`${who}: ${service.typeName}: no handler for method ${method.localName}`);
    return [method, (fn as AnyHandler).bind(impl)];
  });
}

/** bindServer binds server to address ("127.0.0.1:0" picks a free port) and resolves to the
 *  port bound. Credentials default to insecure (plain text). */
export function bindServer(
  server: grpc.Server,
  address: string,
  credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure(),
): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port)));
  });
}

/** shutdownServer stops server: it refuses new calls, lets running ones finish for up to
 *  graceMs (default 1000) milliseconds, then cancels what is left. */
export function shutdownServer(server: grpc.Server, graceMs = 1000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.forceShutdown(), graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Client.

function toClientError(err: unknown): unknown {
  if (isGrpcError(err)) return err;
  const e = err as Partial<grpc.ServiceError> | undefined;
  if (e !== undefined && e !== null && typeof e.code === 'number') {
    return new GrpcError(toStatusCode(e.code), e.details ?? e.message ?? '', {
      cause: err,
      ...(e.metadata === undefined ? {} : { metadata: e.metadata }),
    });
  }
  return err;
}

const ignore = (): void => undefined;

/** linkSignal calls cancel when signal aborts; returns a function that unlinks it. */
function linkSignal(signal: AbortSignal | undefined, cancel: () => void): () => void {
  if (signal === undefined) return ignore;
  if (signal.aborted) {
    cancel();
    return ignore;
  }
  signal.addEventListener('abort', cancel, { once: true });
  return () => signal.removeEventListener('abort', cancel);
}

/** pump writes every message of reqs to the call, waiting when it asks to drain, and then
 *  half-closes it. It stops early when stop aborts. A failing reqs rejects. */
async function pump(
  call: grpc.ClientWritableStream<Message> | grpc.ClientDuplexStream<Message, Message>,
  reqs: AsyncIterable<unknown> | Iterable<unknown>,
  schema: DescMessage,
  stop: AbortSignal,
): Promise<void> {
  for await (const req of reqs) {
    if (stop.aborted) return;
    if (!call.write(create(schema, req as MessageInitShape<DescMessage>))) {
      await once(call, 'drain', { signal: stop }).catch(() => undefined);
    }
  }
  if (!stop.aborted) call.end();
}

/** requestMetadata is a copy of the metadata a call sends (given as Metadata or as a record). */
function requestMetadata(opts: CallOptions | undefined): grpc.Metadata {
  if (opts?.metadata instanceof grpc.Metadata) return opts.metadata.clone();
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(opts?.metadata ?? {})) metadata.set(k, v);
  return metadata;
}

/** createClient returns a typed client of service at address ("127.0.0.1:7000"). */
export function createClient<S extends AnyService>(
  service: S,
  address: string,
  options: ClientOptions = {},
): ServiceClient<S> {
  const client = new grpc.Client(
    address,
    options.credentials ?? grpc.credentials.createInsecure(),
    options.channelOptions ?? {},
  );

  const prepare = (
    opts: CallOptions | undefined,
    useDefaultTimeout: boolean,
  ): { metadata: grpc.Metadata; callOptions: grpc.CallOptions } => {
    opts ??= {};
    const metadata = requestMetadata(opts);
    if (opts.waitForReady === true) metadata.setOptions({ waitForReady: true });
    const timeoutMs = opts.timeoutMs ?? (useDefaultTimeout ? options.defaultTimeoutMs : undefined);
    const deadline = opts.deadline ?? (timeoutMs === undefined ? undefined : Date.now() + timeoutMs);
    return { metadata, callOptions: deadline === undefined ? {} : { deadline } };
  };

  const methods: Record<string, unknown> = {};
  for (const method of service.methods) {
    if (method.localName === 'close') {
      throw new TypeError(`createClient: ${service.typeName} has a method named close, which the client needs`);
    }
    const def = methodDefinition(method);
    const { path } = def;
    const ser = def.requestSerialize;
    const deser = def.responseDeserialize;

    switch (method.methodKind) {
      case 'unary':
        methods[method.localName] = (req: unknown, opts?: CallOptions): Promise<Message> =>
          new Promise((resolve, reject) => {
            const { metadata, callOptions } = prepare(opts, true);
            const arg = create(method.input, req as MessageInitShape<DescMessage>);
            let unlink = ignore;
            const call = client.makeUnaryRequest(path, ser, deser, arg, metadata, callOptions, (err, res) => {
              unlink();
              if (err) reject(toClientError(err));
              else if (res === undefined) reject(new GrpcError(Status.INTERNAL, 'no response message'));
              else resolve(res);
            });
            unlink = linkSignal(opts?.signal, () => call.cancel());
          });
        break;

      case 'server_streaming':
        methods[method.localName] = (req: unknown, opts?: CallOptions): AsyncIterable<Message> =>
          (async function* () {
            const { metadata, callOptions } = prepare(opts, false);
            const arg = create(method.input, req as MessageInitShape<DescMessage>);
            const call = client.makeServerStreamRequest(path, ser, deser, arg, metadata, callOptions);
            call.on('error', ignore); // iteration below sees errors; this keeps late ones from crashing
            const unlink = linkSignal(opts?.signal, () => call.cancel());
            let done = false;
            try {
              for await (const msg of call) yield msg as Message;
              done = true;
            } catch (err) {
              done = true;
              throw toClientError(err);
            } finally {
              unlink();
              if (!done) call.cancel(); // the caller stopped iterating early
            }
          })();
        break;

      case 'client_streaming':
        methods[method.localName] = (reqs: AsyncIterable<unknown> | Iterable<unknown>, opts?: CallOptions): Promise<Message> =>
          new Promise((resolve, reject) => {
            const { metadata, callOptions } = prepare(opts, true);
            const stop = new AbortController();
            let unlink = ignore;
            const call = client.makeClientStreamRequest(path, ser, deser, metadata, callOptions, (err, res) => {
              stop.abort();
              unlink();
              if (err) reject(toClientError(err));
              else if (res === undefined) reject(new GrpcError(Status.INTERNAL, 'no response message'));
              else resolve(res);
            });
            call.on('error', ignore); // the callback gets every failure
            unlink = linkSignal(opts?.signal, () => call.cancel());
            pump(call, reqs, method.input, stop.signal).catch((err: unknown) => {
              reject(err); // the request stream failed: that is the caller's error, not the call's
              call.cancel();
            });
          });
        break;

      case 'bidi_streaming':
        methods[method.localName] = (reqs: AsyncIterable<unknown> | Iterable<unknown>, opts?: CallOptions): AsyncIterable<Message> =>
          (async function* () {
            const { metadata, callOptions } = prepare(opts, false);
            const call = client.makeBidiStreamRequest(path, ser, deser, metadata, callOptions);
            call.on('error', ignore);
            const unlink = linkSignal(opts?.signal, () => call.cancel());
            const stop = new AbortController();
            let reqsError: { err: unknown } | undefined;
            pump(call, reqs, method.input, stop.signal).catch((err: unknown) => {
              reqsError = { err };
              call.cancel();
            });
            let done = false;
            try {
              for await (const msg of call) yield msg as Message;
              done = true;
            } catch (err) {
              done = true;
              throw reqsError === undefined ? toClientError(err) : reqsError.err;
            } finally {
              stop.abort();
              unlink();
              if (!done) call.cancel();
            }
          })();
        break;
    }
  }
  methods['close'] = () => client.close();
  return methods as ServiceClient<S>;
}

// ---------------------------------------------------------------------------------------------
// In process.

/** InProcessClientOptions configure inProcessClient. */
export interface InProcessClientOptions extends AddServiceOptions {
  /** peer is what handlers see as the caller's address. Default "in-process". */
  peer?: string | undefined;
}

/** InProcessCall is the server side of one in-process call: its context, a promise that rejects
 *  when the call is cancelled or its deadline passes, and `end` to release its timer. */
interface InProcessCall {
  readonly ctx: CallContext;
  readonly stopped: Promise<never>;
  end(): void;
}

function startInProcessCall(method: DescMethod, opts: CallOptions | undefined, peer: string): InProcessCall {
  const controller = new AbortController();
  const metadata = requestMetadata(opts);
  const deadline = opts?.deadline ?? (opts?.timeoutMs === undefined ? undefined : Date.now() + opts.timeoutMs);
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  const timer =
    deadlineMs === undefined
      ? undefined
      : setTimeout(() => controller.abort(new GrpcError(Status.DEADLINE_EXCEEDED, 'Deadline exceeded')), Math.max(0, deadlineMs - Date.now()));
  const unlink = linkSignal(opts?.signal, () => controller.abort(new GrpcError(Status.CANCELLED, 'Cancelled on client')));
  const stopped = new Promise<never>((_, reject) => {
    const fail = (): void => reject(controller.signal.reason as Error);
    if (controller.signal.aborted) fail();
    else controller.signal.addEventListener('abort', fail, { once: true });
  });
  stopped.catch(ignore); // observed by whoever races it; a call that ends first never looks
  const ctx: CallContext = { method, metadata, peer, deadline: deadlineMs ?? Infinity, signal: controller.signal };
  return {
    ctx,
    stopped,
    end() {
      clearTimeout(timer);
      unlink();
      // Whatever the handler still waits for is of no use to anyone now.
      if (!controller.signal.aborted) controller.abort(new GrpcError(Status.CANCELLED, 'call ended'));
    },
  };
}

/** inProcessStatus is what a caller gets for a handler's failure: a GrpcError as thrown, anything
 *  else as INTERNAL (reported, as the server side of addService does). */
function inProcessStatus(err: unknown, method: DescMethod, options: AddServiceOptions): GrpcError {
  if (isGrpcError(err)) return err;
  options.onInternalError?.(err, method);
  return new GrpcError(Status.INTERNAL, err instanceof Error ? err.message : String(err), { cause: err });
}

/** RequestsOf turns what a caller streams into full messages for the handler, and keeps the
 *  caller's own failure apart: that is the caller's error, not the call's. */
class RequestsOf {
  failure: { err: unknown } | undefined;
  private readonly reqs: AsyncIterable<unknown> | Iterable<unknown>;
  private readonly schema: DescMessage;

  constructor(reqs: AsyncIterable<unknown> | Iterable<unknown>, schema: DescMessage) {
    this.reqs = reqs;
    this.schema = schema;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Message> {
    try {
      for await (const r of this.reqs) yield create(this.schema, r as MessageInitShape<DescMessage>);
    } catch (err) {
      this.failure = { err };
      throw err;
    }
  }
}

/**
 * inProcessClient returns a client of `service` that calls `impl`, the handlers of this very
 * process, directly: no channel, no HTTP/2, no serialization. What it does is what createClient
 * does over the network: requests and responses become full messages (`create`), deadlines and
 * the signal cancel the call (DEADLINE_EXCEEDED, CANCELLED) and abort the handler's context,
 * a GrpcError reaches the caller with its status and any other error becomes INTERNAL
 * (reported to options.onInternalError). Stopping a stream early aborts its handler.
 * Messages are not copied, so a handler must not change a request it was given, nor a caller a
 * response (bytes fields may be shared with the handler's own state).
 */
export function inProcessClient<S extends AnyService>(service: S, impl: ServiceImpl<S>, options: InProcessClientOptions = {}): ServiceClient<S> {
  const peer = options.peer ?? 'in-process';
  const methods: Record<string, unknown> = {};
  for (const [method, handler] of boundHandlers('inProcessClient', service, impl)) {
    if (method.localName === 'close') {
      throw new TypeError(`inProcessClient: ${service.typeName} has a method named close, which the client needs`);
    }
    const respond = (res: unknown): Message => create(method.output, res as MessageInitShape<DescMessage>);

    const unary = async (arg: () => unknown, opts: CallOptions | undefined, reqs?: RequestsOf): Promise<Message> => {
      const call = startInProcessCall(method, opts, peer);
      try {
        return respond(await Promise.race([Promise.resolve().then(() => handler(arg(), call.ctx)), call.stopped]));
      } catch (err) {
        if (reqs?.failure !== undefined) throw reqs.failure.err;
        throw inProcessStatus(err, method, options);
      } finally {
        call.end();
      }
    };

    const stream = async function* (arg: () => unknown, opts: CallOptions | undefined, reqs?: RequestsOf): AsyncGenerator<Message> {
      const call = startInProcessCall(method, opts, peer);
      let it: AsyncIterator<unknown> | undefined;
      try {
        const out = (await Promise.race([Promise.resolve().then(() => handler(arg(), call.ctx)), call.stopped])) as AsyncIterable<unknown>;
        it = out[Symbol.asyncIterator]();
        for (;;) {
          const r = await Promise.race([it.next(), call.stopped]);
          if (r.done === true) return;
          yield respond(r.value);
        }
      } catch (err) {
        if (reqs?.failure !== undefined) throw reqs.failure.err;
        throw inProcessStatus(err, method, options);
      } finally {
        call.end();
        it?.return?.().catch(ignore);
      }
    };

    switch (method.methodKind) {
      case 'unary':
        methods[method.localName] = (req: unknown, opts?: CallOptions) => unary(() => create(method.input, req as MessageInitShape<DescMessage>), opts);
        break;
      case 'server_streaming':
        methods[method.localName] = (req: unknown, opts?: CallOptions) => stream(() => create(method.input, req as MessageInitShape<DescMessage>), opts);
        break;
      case 'client_streaming':
        methods[method.localName] = (reqs: AsyncIterable<unknown> | Iterable<unknown>, opts?: CallOptions) => {
          const requests = new RequestsOf(reqs, method.input);
          return unary(() => requests, opts, requests);
        };
        break;
      case 'bidi_streaming':
        methods[method.localName] = (reqs: AsyncIterable<unknown> | Iterable<unknown>, opts?: CallOptions) => {
          const requests = new RequestsOf(reqs, method.input);
          return stream(() => requests, opts, requests);
        };
        break;
    }
  }
  methods['close'] = ignore;
  return methods as ServiceClient<S>;
}
