// grpc.test.ts: the grpc-js adapter serves and calls EchoService (proto/tug/v1/testing.proto)
// over 127.0.0.1 with every call shape, maps errors to statuses and enforces deadlines.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  EchoService,
  GrpcError,
  Server,
  Status,
  addService,
  bindServer,
  createClient,
  inProcessClient,
  isGrpcError,
  shutdownServer,
  statusName,
  toStatusCode,
} from '@tugboat/proto';
import type { ServiceClient, ServiceImpl } from '@tugboat/proto';

/** Observations the handlers record for the tests to check. */
const seen = {
  echoAborted: [] as string[],
  streamFinished: [] as string[],
  internalErrors: [] as string[],
};

const impl: ServiceImpl<typeof EchoService> = {
  async echo(req, ctx) {
    if (req.delayMs > 0) {
      try {
        await sleep(req.delayMs, undefined, { signal: ctx.signal });
      } catch (err) {
        seen.echoAborted.push(req.message);
        throw err;
      }
    }
    if (req.failCode !== 0) throw new GrpcError(toStatusCode(req.failCode), `failing ${req.message}`);
    if (req.message === 'crash') throw new Error('handler crashed');
    const header = ctx.metadata.get('x-echo')[0];
    return { message: req.message, metadataValue: typeof header === 'string' ? header : '' };
  },
  async *echoStream(req, ctx) {
    try {
      for (let i = 0; i < req.count; i++) {
        if (req.failAfter !== 0 && i === req.failAfter) {
          throw new GrpcError(Status.RESOURCE_EXHAUSTED, `stopped after ${i}`);
        }
        yield { message: req.message, index: i };
        if (req.message === 'slow') await sleep(20, undefined, { signal: ctx.signal });
      }
    } finally {
      seen.streamFinished.push(req.message);
    }
  },
  async echoCollect(reqs) {
    const messages: string[] = [];
    for await (const r of reqs) messages.push(r.message);
    if (messages.includes('fail')) throw new GrpcError(Status.INVALID_ARGUMENT, 'fail was sent');
    return { messages };
  },
  async *echoChat(reqs) {
    let index = 0;
    for await (const r of reqs) yield { message: r.message.toUpperCase(), index: index++ };
  },
};

async function rejectsWith(p: Promise<unknown>, code: number, message?: RegExp): Promise<GrpcError> {
  try {
    await p;
  } catch (err) {
    assert.ok(isGrpcError(err), `expected a GrpcError, got ${String(err)}`);
    assert.equal(statusName(err.code), statusName(code), `status of: ${err.message}`);
    if (message !== undefined) assert.match(err.message, message);
    return err;
  }
  assert.fail(`expected the call to fail with ${statusName(code)}`);
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** callShapes are the tests every transport passes: createClient over 127.0.0.1, and
 *  inProcessClient straight to the handlers. */
function callShapes(c: () => ServiceClient<typeof EchoService>): void {
  test('unary call returns the response, and request metadata reaches the handler', async () => {
    const res = await c().echo({ message: 'hello' }, { metadata: { 'x-echo': 'meta' } });
    assert.equal(res.$typeName, 'tug.v1.EchoResponse');
    assert.equal(res.message, 'hello');
    assert.equal(res.metadataValue, 'meta');
  });

  test('server streaming yields every response in order', async () => {
    const got = await collect(c().echoStream({ message: 'm', count: 5 }));
    assert.deepEqual(
      got.map((r) => [r.message, r.index]),
      [0, 1, 2, 3, 4].map((i) => ['m', i]),
    );
  });

  test('client streaming sends every request, from an async or a plain iterable', async () => {
    async function* reqs() {
      yield { message: 'a' };
      await sleep(5);
      yield { message: 'b' };
    }
    assert.deepEqual((await c().echoCollect(reqs())).messages, ['a', 'b']);
    assert.deepEqual((await c().echoCollect([{ message: 'x' }, { message: 'y' }, { message: 'z' }])).messages, [
      'x',
      'y',
      'z',
    ]);
    assert.deepEqual((await c().echoCollect([])).messages, []);
  });

  test('bidi streaming answers each request in order', async () => {
    const got = await collect(c().echoChat([{ message: 'one' }, { message: 'two' }, { message: 'three' }]));
    assert.deepEqual(
      got.map((r) => `${r.index}:${r.message}`),
      ['0:ONE', '1:TWO', '2:THREE'],
    );
  });

  test('a GrpcError thrown by a handler reaches the client with its status and message', async () => {
    await rejectsWith(c().echo({ message: 'x', failCode: Status.NOT_FOUND }), Status.NOT_FOUND, /^failing x$/);
    await rejectsWith(
      c().echo({ message: 'y', failCode: Status.FAILED_PRECONDITION }),
      Status.FAILED_PRECONDITION,
      /^failing y$/,
    );
    await rejectsWith(c().echoCollect([{ message: 'fail' }]), Status.INVALID_ARGUMENT, /fail was sent/);
  });

  test('any other error becomes INTERNAL with its message, and is reported to the server', async () => {
    const before = seen.internalErrors.length;
    await rejectsWith(c().echo({ message: 'crash' }), Status.INTERNAL, /handler crashed/);
    assert.deepEqual(seen.internalErrors.slice(before), ['handler crashed']);
  });

  test('a server stream that fails delivers what came before, then the status', async () => {
    const got: number[] = [];
    const err = await rejectsWith(
      (async () => {
        for await (const r of c().echoStream({ message: 'f', count: 10, failAfter: 3 })) got.push(r.index);
      })(),
      Status.RESOURCE_EXHAUSTED,
      /stopped after 3/,
    );
    assert.equal(err.name, 'GrpcError');
    assert.deepEqual(got, [0, 1, 2]);
  });

  test('a deadline that passes fails the call with DEADLINE_EXCEEDED and aborts the handler', async () => {
    const before = seen.echoAborted.length;
    const started = Date.now();
    await rejectsWith(c().echo({ message: 'late', delayMs: 5_000 }, { timeoutMs: 100 }), Status.DEADLINE_EXCEEDED);
    assert.ok(Date.now() - started < 2_000, 'the call waited for the handler instead of the deadline');
    await rejectsWith(
      c().echo({ message: 'late2', delayMs: 5_000 }, { deadline: Date.now() + 100 }),
      Status.DEADLINE_EXCEEDED,
    );
    for (let i = 0; i < 100 && seen.echoAborted.length < before + 2; i++) await sleep(10);
    assert.deepEqual(seen.echoAborted.slice(before).sort(), ['late', 'late2']);
  });

  test('aborting the signal cancels the call', async () => {
    const ac = new AbortController();
    const p = c().echo({ message: 'cancel-me', delayMs: 5_000 }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await rejectsWith(p, Status.CANCELLED);
  });

  test('stopping a server stream early cancels it on the server', async () => {
    const got: number[] = [];
    for await (const r of c().echoStream({ message: 'slow', count: 1_000 })) {
      got.push(r.index);
      if (got.length === 3) break;
    }
    assert.deepEqual(got, [0, 1, 2]);
    for (let i = 0; i < 100 && !seen.streamFinished.includes('slow'); i++) await sleep(10);
    assert.ok(seen.streamFinished.includes('slow'), 'the server handler was not stopped');
  });

  test('a server stream past its deadline ends with DEADLINE_EXCEEDED after what came before', async () => {
    const got: number[] = [];
    await rejectsWith(
      (async () => {
        for await (const r of c().echoStream({ message: 'slow', count: 1_000 }, { timeoutMs: 150 })) got.push(r.index);
      })(),
      Status.DEADLINE_EXCEEDED,
    );
    assert.ok(got.length >= 1 && got.length < 100, `got ${got.length} responses`);
  });

  test('a client stream whose requests fail rejects with that error', async () => {
    async function* reqs() {
      yield { message: 'a' };
      throw new Error('source broke');
    }
    await assert.rejects(c().echoCollect(reqs()), /source broke/);
  });
}

describe('grpc adapter over 127.0.0.1', () => {
  let server: Server | undefined;
  let client: ServiceClient<typeof EchoService> | undefined;
  let port = 0;

  before(async () => {
    server = new Server();
    addService(server, EchoService, impl, {
      onInternalError: (err) => seen.internalErrors.push(err instanceof Error ? err.message : String(err)),
    });
    port = await bindServer(server, '127.0.0.1:0');
    client = createClient(EchoService, `127.0.0.1:${port}`, { defaultTimeoutMs: 10_000 });
  });

  after(async () => {
    client?.close();
    if (server !== undefined) await shutdownServer(server, 500);
  });

  const c = (): ServiceClient<typeof EchoService> => {
    assert.ok(client !== undefined, 'client not created');
    return client;
  };

  callShapes(c);

  test('waitForReady queues a call until the server comes up', async () => {
    const probe = new Server();
    const laterPort = await bindServer(probe, '127.0.0.1:0');
    await shutdownServer(probe, 0);
    const later = new Server();
    addService(later, EchoService, impl);
    const waiting = createClient(EchoService, `127.0.0.1:${laterPort}`);
    try {
      const call = waiting.echo({ message: 'patient' }, { waitForReady: true, timeoutMs: 5_000 });
      await sleep(200);
      await bindServer(later, `127.0.0.1:${laterPort}`);
      assert.equal((await call).message, 'patient');
    } finally {
      waiting.close();
      await shutdownServer(later, 0);
    }
  });

  test('a server that is not there gives UNAVAILABLE', async () => {
    const probe = new Server();
    const freePort = await bindServer(probe, '127.0.0.1:0');
    await shutdownServer(probe, 0);
    const lonely = createClient(EchoService, `127.0.0.1:${freePort}`);
    try {
      await rejectsWith(lonely.echo({ message: 'anyone?' }, { timeoutMs: 2_000 }), Status.UNAVAILABLE);
    } finally {
      lonely.close();
    }
  });

  test('GrpcError has a stable name, a guard, and names its status', () => {
    const err = new GrpcError(Status.ABORTED, 'conflict');
    assert.equal(err.name, 'GrpcError');
    assert.equal(err.codeName, 'ABORTED');
    assert.ok(isGrpcError(err));
    assert.ok(isGrpcError(err, Status.ABORTED));
    assert.ok(!isGrpcError(err, Status.NOT_FOUND));
    assert.ok(!isGrpcError(new Error('conflict')));
    assert.equal(toStatusCode(99), Status.UNKNOWN);
    assert.equal(statusName(99), 'CODE_99');
  });

  test('types come from the descriptor', () => {
    // Compile-time checks: `npm run typecheck` fails if any of these lines stops being an error.
    const typed = (cl: ServiceClient<typeof EchoService>): void => {
      // @ts-expect-error: no method named ecko
      void cl.ecko({ message: 'x' });
      // @ts-expect-error: no field named mesage
      void cl.echo({ mesage: 'x' });
      // @ts-expect-error: a server stream is not a promise
      void cl.echoStream({ message: 'x' }).then;
    };
    const badImpl = {
      ...impl,
      // @ts-expect-error: the response has no field named text
      echo: async () => ({ text: 'x' }),
    } satisfies ServiceImpl<typeof EchoService>;
    assert.equal(typeof typed, 'function');
    assert.equal(typeof badImpl.echo, 'function');
  });
});

describe('grpc adapter in process', () => {
  const client = inProcessClient(EchoService, impl, {
    onInternalError: (err) => seen.internalErrors.push(err instanceof Error ? err.message : String(err)),
  });

  callShapes(() => client);

  test('a handler that throws at once fails the call as one that rejected', async () => {
    const throwing = inProcessClient(EchoService, {
      ...impl,
      echo: () => {
        throw new GrpcError(Status.PERMISSION_DENIED, 'no');
      },
    });
    await rejectsWith(throwing.echo({ message: 'x' }), Status.PERMISSION_DENIED, /^no$/);
  });

  test('every method needs a handler', () => {
    const { echoChat: _, ...partial } = impl;
    assert.throws(() => inProcessClient(EchoService, partial as unknown as ServiceImpl<typeof EchoService>), /no handler for method echoChat/);
  });
});
