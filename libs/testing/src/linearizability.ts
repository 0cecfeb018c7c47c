// linearizability.ts: is a history of concurrent operations on the object store linearizable?
//
// A HistoryRecorder takes what clients saw: each operation's invocation, then its outcome:
// ok (with what it answered, which may be a refusal such as a CAS conflict: that tells the
// state too), fail (it certainly did not take effect: dropped from the history), or unknown
// (it timed out: it may or may not have taken effect, so it may be placed anywhere after its
// invocation, and its answer is not checked). Times are real-time order (performance.now).
//
// checkHistory checks the history against a sequential model of the store, one key (object)
// at a time (P-compositionality: the operations on different objects are independent, so the
// history is linearizable if each object's is; a list is split into one read per object it
// could have held). Per object it runs the Wing & Gong search with Lowe's cache of visited
// (linearized set, state) pairs, as Porcupine does. Values written are unique, so a
// compare-and-swap names the value it expects rather than a resourceVersion.
//
// A history that is not linearizable yields a counterexample: the operations of the failing
// object, made 1-minimal by removing one operation at a time while the rest still fails.

/** StoreInput is one operation on one object. `expect` makes update and delete a CAS. */
export type StoreInput =
  | { readonly op: 'create'; readonly key: string; readonly value: string }
  | { readonly op: 'update'; readonly key: string; readonly value: string; readonly expect?: string }
  | { readonly op: 'delete'; readonly key: string; readonly expect?: string }
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'list'; readonly keys: readonly string[] };

/** StoreOutput is what an operation answered: done, or the refusal; a get's (or list's) values. */
export type StoreOutput =
  | { readonly result: 'ok' }
  | { readonly result: 'alreadyExists' }
  | { readonly result: 'notFound' }
  | { readonly result: 'conflict' }
  | { readonly result: 'value'; readonly value: string | null }
  | { readonly result: 'values'; readonly values: Readonly<Record<string, string>> };

/** Operation is a recorded operation: invoked at `call`, answered at `ret` (Infinity: unknown). */
export interface Operation {
  readonly id: number;
  readonly client: string;
  readonly input: StoreInput;
  readonly call: number;
  readonly ret: number;
  /** output: undefined when the outcome is unknown. */
  readonly output: StoreOutput | undefined;
}

/** HistoryRecorder records operations as clients invoke them and see their outcomes. */
export class HistoryRecorder {
  readonly #ops = new Map<number, { client: string; input: StoreInput; call: number; ret?: number; output?: StoreOutput; failed?: boolean }>();
  readonly #now: () => number;
  #next = 0;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** invoke records the start of an operation; call one of the returned functions once when it ends. */
  invoke(client: string, input: StoreInput): { ok(output: StoreOutput): void; fail(): void; unknown(): void } {
    const id = this.#next++;
    const rec: { client: string; input: StoreInput; call: number; ret?: number; output?: StoreOutput; failed?: boolean } = { client, input, call: this.#now() };
    this.#ops.set(id, rec);
    return {
      ok: (output) => {
        rec.ret = this.#now();
        rec.output = output;
      },
      fail: () => {
        rec.failed = true;
      },
      unknown: () => undefined,
    };
  }

  /** history is the operations so far: failed ones left out, unfinished ones as unknown. */
  history(): Operation[] {
    const out: Operation[] = [];
    for (const [id, r] of this.#ops) {
      if (r.failed === true) continue;
      out.push({ id, client: r.client, input: r.input, call: r.call, ret: r.ret ?? Infinity, output: r.output });
    }
    return out;
  }
}

/** KeyOp is an operation as seen by one object (a list becomes a read of that object). */
interface KeyOp {
  readonly op: Operation;
  readonly kind: 'create' | 'update' | 'delete' | 'get';
  readonly value?: string;
  readonly expect?: string;
  /** seen: what a read saw of this object (null: absent); undefined for writes. */
  readonly output: StoreOutput | undefined;
}

/** State of one object: its value, or null when it does not exist. */
type State = string | null;

/** step applies one operation to the model: the state after, and whether its answer fits. */
function step(state: State, o: KeyOp): { state: State; fits: boolean } {
  const out = o.output;
  const is = (result: StoreOutput['result']): boolean => out === undefined || out.result === result;
  switch (o.kind) {
    case 'create':
      return state === null ? { state: o.value ?? '', fits: is('ok') } : { state, fits: is('alreadyExists') };
    case 'update':
      if (state === null) return { state, fits: is('notFound') };
      if (o.expect !== undefined && state !== o.expect) return { state, fits: is('conflict') };
      return { state: o.value ?? '', fits: is('ok') };
    case 'delete':
      if (state === null) return { state, fits: is('notFound') };
      if (o.expect !== undefined && state !== o.expect) return { state, fits: is('conflict') };
      return { state: null, fits: is('ok') };
    case 'get':
      if (out === undefined) return { state, fits: true };
      return { state, fits: out.result === 'value' && out.value === state };
  }
}

/** byKey splits a history into each object's operations. */
function byKey(history: readonly Operation[]): Map<string, KeyOp[]> {
  const keys = new Map<string, KeyOp[]>();
  const add = (key: string, k: KeyOp): void => {
    let list = keys.get(key);
    if (list === undefined) keys.set(key, (list = []));
    list.push(k);
  };
  for (const op of history) {
    const i = op.input;
    if (i.op === 'list') {
      for (const key of i.keys) {
        const out = op.output;
        const seen: StoreOutput | undefined = out?.result === 'values' ? { result: 'value', value: out.values[key] ?? null } : undefined;
        add(key, { op, kind: 'get', output: seen });
      }
      continue;
    }
    if (i.op === 'get') add(i.key, { op, kind: 'get', output: op.output });
    else if (i.op === 'create') add(i.key, { op, kind: 'create', value: i.value, output: op.output });
    else if (i.op === 'update') add(i.key, { op, kind: 'update', value: i.value, ...(i.expect === undefined ? {} : { expect: i.expect }), output: op.output });
    else add(i.key, { op, kind: 'delete', ...(i.expect === undefined ? {} : { expect: i.expect }), output: op.output });
  }
  return keys;
}

/** Entry of the search's doubly linked list of calls and returns, in time order. */
interface Node {
  readonly k: number;
  readonly isCall: boolean;
  /** match: a call's return entry (null for a return). */
  match: Node | null;
  prev: Node | null;
  next: Node | null;
}

/**
 * linearizableKey runs the Wing & Gong search with Lowe's cache over one object's operations,
 * from an absent object; it gives up after `budget` steps (undefined: not decided).
 */
function linearizableKey(ops: readonly KeyOp[], budget: number): boolean | undefined {
  // Calls before returns at equal times: operations that touch are concurrent.
  const events = ops.flatMap((o, k) => [
    { k, isCall: true, t: o.op.call },
    { k, isCall: false, t: o.op.ret },
  ]);
  events.sort((a, b) => a.t - b.t || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));
  const head: Node = { k: -1, isCall: false, match: null, prev: null, next: null };
  let tail = head;
  const calls = new Map<number, Node>();
  for (const e of events) {
    const n: Node = { k: e.k, isCall: e.isCall, match: null, prev: tail, next: null };
    tail.next = n;
    tail = n;
    if (e.isCall) calls.set(e.k, n);
    else calls.get(e.k)!.match = n;
  }
  const lift = (n: Node): void => {
    n.prev!.next = n.next;
    if (n.next !== null) n.next.prev = n.prev;
    const m = n.match!;
    m.prev!.next = m.next;
    if (m.next !== null) m.next.prev = m.prev;
  };
  const unlift = (n: Node): void => {
    const m = n.match!;
    m.prev!.next = m;
    if (m.next !== null) m.next.prev = m;
    n.prev!.next = n;
    if (n.next !== null) n.next.prev = n;
  };

  const linearized = new Uint8Array(ops.length);
  const cache = new Set<string>();
  const key = (state: State): string => `${state === null ? '\u0000' : state}\u0001${Buffer.from(linearized).toString('base64')}`;
  const stack: { node: Node; state: State }[] = [];
  let state: State = null;
  let entry = head.next;
  for (let steps = 0; entry !== null; steps++) {
    if (steps > budget) return undefined;
    if (entry.isCall) {
      const next = step(state, ops[entry.k]!);
      if (next.fits) {
        linearized[entry.k] = 1;
        const seen = key(next.state);
        if (!cache.has(seen)) {
          cache.add(seen);
          stack.push({ node: entry, state });
          state = next.state;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized[entry.k] = 0;
      }
      entry = entry.next;
      continue;
    }
    // A return whose call cannot be placed: undo the last choice and try the next one.
    const top = stack.pop();
    if (top === undefined) return false;
    state = top.state;
    linearized[top.node.k] = 0;
    unlift(top.node);
    entry = top.node.next;
  }
  return true;
}

/** CheckResult says whether a history is linearizable, and why not. */
export type CheckResult =
  | { readonly ok: true; readonly keys: number; readonly operations: number }
  | { readonly ok: false; readonly key: string; readonly counterexample: readonly Operation[]; readonly message: string }
  | { readonly ok: 'unknown'; readonly key: string; readonly message: string };

/** checkHistory checks every object's operations (see the module comment). `budget` bounds the
 *  search steps per object. */
export function checkHistory(history: readonly Operation[], opts: { budget?: number } = {}): CheckResult {
  const budget = opts.budget ?? 5_000_000;
  const keys = byKey(history);
  for (const [key, ops] of [...keys].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const verdict = linearizableKey(ops, budget);
    if (verdict === true) continue;
    if (verdict === undefined) return { ok: 'unknown', key, message: `${key}: the search gave up after ${budget} steps over ${ops.length} operations` };
    const failing = shortestFailingPrefix(ops, budget);
    if (failing.length > MINIMIZE_MAX) {
      const counterexample = failing.slice(-COUNTEREXAMPLE_TAIL).map((o) => o.op);
      return {
        ok: false,
        key,
        counterexample,
        message: `${key}: not linearizable; the first ${failing.length} operations cannot be linearized (too many to minimize), the last ${counterexample.length} of them:\n${counterexample.map(describeOperation).join('\n')}`,
      };
    }
    const counterexample = minimize(failing, budget).map((o) => o.op);
    return { ok: false, key, counterexample, message: `${key}: not linearizable; a minimal counterexample:\n${counterexample.map(describeOperation).join('\n')}` };
  }
  return { ok: true, keys: keys.size, operations: history.length };
}

/** Failing histories longer than this are not minimized (minimizing is quadratic in their length); their tail is shown. */
const MINIMIZE_MAX = 400;
const COUNTEREXAMPLE_TAIL = 20;

/**
 * shortestFailingPrefix returns the shortest prefix of a failing history that already fails:
 * the operations called up to some moment T, those still running at T taken as unknown (as a
 * history cut at T shows them). A history cut earlier is linearizable whenever a later cut is, so
 * the first failing moment can be found by bisection over the calls.
 */
function shortestFailingPrefix(ops: readonly KeyOp[], budget: number): KeyOp[] {
  const byCall = [...ops].sort((a, b) => a.op.call - b.op.call);
  const cut = (n: number): KeyOp[] => {
    const t = byCall[n - 1]!.op.call;
    return byCall.slice(0, n).map((o) => (o.op.ret <= t ? o : { ...o, op: { ...o.op, ret: Infinity, output: undefined }, output: undefined }));
  };
  // A history that fails only through the answers of its last operations has no shorter failing cut.
  if (linearizableKey(cut(byCall.length), budget) !== false) return byCall;
  let lo = 1;
  let hi = byCall.length;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (linearizableKey(cut(mid), budget) === false) hi = mid;
    else lo = mid + 1;
  }
  // With the answers of the operations still running at the cut, the prefix fails too (an
  // answered operation has fewer places than an unknown one), and shows what they answered.
  return byCall.slice(0, hi);
}

/** minimize removes operations one at a time while the rest is still not linearizable. */
function minimize(ops: readonly KeyOp[], budget: number): KeyOp[] {
  let kept = [...ops];
  for (let i = kept.length - 1; i >= 0; i--) {
    const without = kept.filter((_, j) => j !== i);
    if (linearizableKey(without, budget) === false) kept = without;
  }
  return kept;
}

/** describeOperation is one line of a counterexample: who, what, when, what it answered. */
export function describeOperation(o: Operation): string {
  const i = o.input;
  const what =
    i.op === 'list'
      ? `list ${i.keys.join(',')}`
      : i.op === 'get' || i.op === 'delete'
        ? `${i.op} ${i.key}${'expect' in i && i.expect !== undefined ? ` if ${i.expect}` : ''}`
        : `${i.op} ${i.key}=${i.value}${'expect' in i && i.expect !== undefined ? ` if ${i.expect}` : ''}`;
  const out = o.output;
  const answer =
    out === undefined
      ? 'unknown'
      : out.result === 'value'
        ? (out.value ?? 'absent')
        : out.result === 'values'
          ? JSON.stringify(out.values)
          : out.result;
  const end = Number.isFinite(o.ret) ? o.ret.toFixed(1) : '∞';
  return `  [${o.call.toFixed(1)}, ${end}] ${o.client}: ${what} -> ${answer}`;
}
