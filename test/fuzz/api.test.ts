// api.test.ts: random and mutated requests of every ObjectService method against the real
// object service over an in-memory store (the same handlers tug-control serves). Whatever comes
// in, a call answers within a second, either with a result or with a status that is about the
// request (never INTERNAL or UNKNOWN) and a message; a refused write changes no object (the
// store's revision may move: every applied entry advances it, a failed one too).
//
// Bounded in `npm test` (TUG_FUZZ_RUNS, default 300 per method); `npm run fuzz` runs the long
// form (20,000 per method, 120,000 in all), printing the seed of a failure to replay it.
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { objectService } from '@tugboat/apiserver';
import { TestApi } from '@tugboat/apiserver/testing';
import { ObjectService, inProcessClient } from '@tugboat/proto';
import type { ServiceClient } from '@tugboat/proto';
import { ABOUT_THE_REQUEST, SERVED_KINDS, answeredWithin, kind, objectBytes, ref, selector, text } from './requests.ts';

const RUNS = Number(process.env['TUG_FUZZ_RUNS'] ?? 300);

function fixture(): { api: TestApi; client: ServiceClient<typeof ObjectService> } {
  const api = new TestApi();
  return { api, client: inProcessClient(ObjectService, objectService(api)) };
}

/** objectsOf fingerprints every object of every kind: name and resourceVersion. */
function objectsOf(api: TestApi): string {
  return SERVED_KINDS.flatMap((k) => api.list(k, undefined).items.map((o) => `${k}/${o.metadata.namespace ?? ''}/${o.metadata.name}@${o.metadata.resourceVersion}`)).join('\n');
}

/** answered runs call and checks how it ended; `write` says a refusal must change no object. */
const answered = (api: TestApi, write: boolean, call: () => Promise<unknown>): Promise<void> => answeredWithin(ABOUT_THE_REQUEST, write ? () => objectsOf(api) : undefined, call);

const requestId = (): fc.Arbitrary<string> => fc.oneof(fc.uuid(), fc.string({ maxLength: 10 }), fc.constant('x'.repeat(200)));

describe('fuzz: every ObjectService request, random and mutated', () => {
  it('create', async () => {
    const { api, client } = fixture();
    await fc.assert(fc.asyncProperty(objectBytes(), requestId(), (object, id) => answered(api, true, () => client.create({ object, requestId: id }))), { numRuns: RUNS });
  });

  it('update, whole and status only', async () => {
    const { api, client } = fixture();
    await fc.assert(
      fc.asyncProperty(objectBytes(), fc.boolean(), requestId(), async (object, statusOnly, id) => {
        // Create first, so that updates also meet objects that exist.
        await answered(api, true, () => client.create({ object, requestId: `${id}-c` }));
        await answered(api, true, () => client.update({ object, statusOnly, requestId: id }));
      }),
      { numRuns: RUNS },
    );
  });

  it('delete', async () => {
    const { api, client } = fixture();
    await fc.assert(
      fc.asyncProperty(ref(), fc.option(fc.bigInt({ min: -10n, max: 1n << 40n })), fc.constantFrom('', 'Foreground', 'Background', 'Orphan', 'bogus'), text(), text(), requestId(), (r, grace, propagationPolicy, expectedUid, expectedResourceVersion, id) =>
        answered(api, true, () =>
          client.delete({ ref: r, propagationPolicy, expectedUid, expectedResourceVersion, requestId: id, ...(grace === null ? {} : { gracePeriodSeconds: grace }) }),
        ),
      ),
      { numRuns: RUNS },
    );
  });

  it('txn', async () => {
    const { api, client } = fixture();
    const op = fc.oneof(
      objectBytes().map((v) => ({ op: { case: 'create' as const, value: v } })),
      fc.tuple(objectBytes(), text()).map(([v, rv]) => ({ op: { case: 'update' as const, value: v }, expectedResourceVersion: rv })),
      fc.tuple(ref(), text()).map(([r, rv]) => ({ op: { case: 'delete' as const, value: r }, expectedResourceVersion: rv })),
      fc.constant({}),
    );
    await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 6 }), requestId(), (ops, id) => answered(api, true, () => client.txn({ ops, requestId: id }))), { numRuns: RUNS });
  });

  it('get and list', async () => {
    const { api, client } = fixture();
    await fc.assert(
      fc.asyncProperty(ref(), kind(), text(), selector(), selector(), fc.boolean(), async (r, k, namespace, labelSelector, fieldSelector, staleOk) => {
        await answered(api, false, () => client.get({ ref: r, staleOk }));
        await answered(api, false, () => client.list({ kind: k, namespace, labelSelector, fieldSelector, staleOk }));
      }),
      { numRuns: RUNS },
    );
  });

  it('watch', async () => {
    const { api, client } = fixture();
    await fc.assert(
      fc.asyncProperty(kind(), text(), selector(), selector(), fc.bigInt({ min: 0n, max: 1n << 60n }), fc.boolean(), (k, namespace, labelSelector, fieldSelector, fromRevision, progressNotify) =>
        answered(api, false, async () => {
          const abort = new AbortController();
          const stream = client.watch({ kind: k, namespace, labelSelector, fieldSelector, fromRevision, progressNotify }, { signal: abort.signal });
          setTimeout(() => abort.abort(), 20);
          try {
            for await (const _ of stream) break;
          } catch (err) {
            if (!abort.signal.aborted) throw err;
          }
        }),
      ),
      { numRuns: RUNS },
    );
  });
});
