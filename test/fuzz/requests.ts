// requests.ts: fast-check arbitraries for the fuzz tests: valid objects of every served kind to
// start from, mutations of them (a field removed, replaced by any JSON value, the kind or name
// changed), raw bytes, and the requests of every ObjectService method built from them.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KINDS } from '@tugboat/api';
import { Status, isGrpcError, statusName } from '@tugboat/proto';

/** ANSWER_MS: every fuzzed call answers within this. */
export const ANSWER_MS = 1_000;

/** ABOUT_THE_REQUEST: statuses that say what is wrong with a request (or that the object is not there). */
export const ABOUT_THE_REQUEST: ReadonlySet<number> = new Set<number>([
  Status.INVALID_ARGUMENT,
  Status.NOT_FOUND,
  Status.ALREADY_EXISTS,
  Status.FAILED_PRECONDITION,
  Status.ABORTED,
  Status.RESOURCE_EXHAUSTED,
  Status.OUT_OF_RANGE,
]);

/**
 * answeredWithin runs call and checks how it ended: within ANSWER_MS, with a result or a status
 * of `allowed` that says why; when `state` is given (a write), a refusal leaves it as it was.
 */
export async function answeredWithin(allowed: ReadonlySet<number>, state: (() => string) | undefined, call: () => Promise<unknown>): Promise<void> {
  const before = state?.();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ANSWER_MS)));
  try {
    const outcome = await Promise.race([call().then(() => 'ok' as const, (err: unknown) => err), late]);
    assert.notEqual(outcome, 'late', `no answer within ${ANSWER_MS} ms`);
    if (outcome === 'ok') return;
    assert.ok(isGrpcError(outcome), `a gRPC status, got ${String(outcome)}`);
    assert.ok(allowed.has(outcome.code), `${statusName(outcome.code)}: ${outcome.message}`);
    assert.ok(outcome.message.length > 0, 'a refusal says why');
    if (state !== undefined) assert.equal(state(), before, `a refused write changed state: ${outcome.message}`);
  } finally {
    clearTimeout(timer);
  }
}

/** SEEDS are valid objects, one or more per kind, that mutations start from. */
export const SEEDS: readonly Record<string, unknown>[] = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fz' } },
  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'default', labels: { app: 'a' } }, data: { k: 'v' } },
  { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'default' }, stringData: { password: 'p' } },
  {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', labels: { app: 'a' } },
    spec: { containers: [{ name: 'c', image: 'busybox', ports: [{ containerPort: 80 }], env: [{ name: 'A', value: '1' }] }], volumes: [{ name: 'v', emptyDir: {} }] },
  },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', namespace: 'default' }, spec: { selector: { app: 'a' }, ports: [{ port: 80, targetPort: 8080 }] } },
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'd', namespace: 'default' },
    spec: { replicas: 2, selector: { matchLabels: { app: 'a' } }, template: { metadata: { labels: { app: 'a' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
  },
  { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { zone: 'a' } }, spec: { podCIDR: '10.244.9.0/24' } },
];

/** SERVED_KINDS: the kinds the API serves (requests name them, and other strings). */
export const SERVED_KINDS: readonly string[] = KINDS.map((k) => k.kind);

/** text is a string that is often a plausible name and sometimes anything. */
export const text = (): fc.Arbitrary<string> =>
  fc.oneof(fc.constantFrom('', 'default', 'cm', 'p', 'svc', 'd', 'n1', 'fz', 'a'.repeat(300)), fc.string({ maxLength: 40 }), fc.stringMatching(/^[a-z0-9-]{1,20}$/));

/** kind is a served kind most of the time, and sometimes not. */
export const kind = (): fc.Arbitrary<string> => fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...SERVED_KINDS) }, { weight: 1, arbitrary: text() });

type Path = (string | number)[];

/** pathsOf lists every path to a value inside o. */
function pathsOf(o: unknown, at: Path = []): Path[] {
  if (typeof o !== 'object' || o === null) return [at];
  const out: Path[] = [at];
  for (const [k, v] of Array.isArray(o) ? o.entries() : Object.entries(o)) out.push(...pathsOf(v, [...at, k]));
  return out;
}

/** setAt returns o with the value at path replaced (or removed when value is undefined). */
function setAt(o: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = (Array.isArray(o) ? [...(o as unknown[])] : { ...(o as object) }) as Record<string | number, unknown>;
  const [head, ...rest] = path as [string | number, ...Path];
  if (rest.length === 0 && value === undefined) delete copy[head];
  else copy[head] = setAt(copy[head], rest, value);
  return copy;
}

/** mutant is a seed object with up to three of its values replaced, removed or retyped. */
export const mutant = (): fc.Arbitrary<unknown> =>
  fc.constantFrom(...SEEDS).chain((seed) => {
    const paths = pathsOf(seed);
    const change = fc.tuple(fc.constantFrom(...paths), fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 3 }), text(), fc.integer(), kind()));
    return fc.array(change, { minLength: 0, maxLength: 3 }).map((changes) => changes.reduce<unknown>((o, [path, value]) => setAt(o, path, value), seed));
  });

/** objectBytes are what a client may send as an object: mostly JSON of a mutant, sometimes any
 *  JSON, sometimes not JSON at all. */
export const objectBytes = (): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    { weight: 6, arbitrary: mutant().map((o) => new TextEncoder().encode(JSON.stringify(o) ?? 'null')) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((o) => new TextEncoder().encode(JSON.stringify(o) ?? 'null')) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  );

/** ref is an object reference, often of a seed. */
export const ref = (): fc.Arbitrary<{ kind: string; namespace: string; name: string }> => fc.record({ kind: kind(), namespace: text(), name: text() });

/** selector is a label or field selector, plausible or not. */
export const selector = (): fc.Arbitrary<string> =>
  fc.oneof(fc.constantFrom('', 'app=a', 'app!=a', 'app in (a,b)', 'metadata.name=p', 'spec.nodeName=n1', 'status.phase!=Running', '!app', 'a=b,c'), fc.string({ maxLength: 30 }));
