// raft.test.ts: malformed and hostile Raft messages from an authenticated peer. A member's Raft
// core is stepped with random messages "from" the other members (any type, term, index,
// commit, entries of either kind with random or valid data, snapshots of random bytes), as a peer with
// a certificate of the cluster could send them; and the transport's decoder gets random wire
// messages. Whatever comes in: nothing throws; a message the core refuses says why; the commit
// index never goes back, and an entry once committed never changes (a "leader" of a newer term
// cannot rewrite it).
//
// Bounded in `npm test` (TUG_FUZZ_RUNS, default 300 runs of 30 messages); `npm run fuzz` runs
// 20,000 of each.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { create } from '@bufbuild/protobuf';
import { RaftEntryKind, RaftMessageSchema, RaftMessageType } from '@tugboat/proto';
import { RaftCore, bootstrapState, encodeConfChange, messageFromProto, newMessage } from '@tugboat/raft';
import type { Entry, Message, MessageType, RaftConfig } from '@tugboat/raft';
import { ObjectStore } from '@tugboat/store';

const RUNS = Number(process.env['TUG_FUZZ_RUNS'] ?? 300);
const IDS = ['a', 'b', 'c'];
const TYPES: MessageType[] = ['append', 'appendResp', 'heartbeat', 'heartbeatResp', 'preVote', 'preVoteResp', 'vote', 'voteResp', 'snapshot', 'snapshotResp', 'timeoutNow', 'readIndex', 'readIndexResp'];
const encoder = new TextEncoder();

/** settled is member `self` of a 3-member cluster that elected a and committed a few entries. */
function settled(self: string): RaftCore {
  const init = bootstrapState(IDS.map((id) => ({ id, context: `${id}:7401` })));
  let seed = 7;
  // Snapshots are checked as tug-control checks them: by the object store that would restore them.
  const checkSnapshot = (data: Uint8Array): string | undefined => new ObjectStore().checkSnapshot(data);
  const cores = new Map(IDS.map((id) => [id, new RaftCore({ id, electionTicks: 10, checkSnapshot, randomInt: (n) => (seed = (seed * 48271) % 2147483647) % n } satisfies RaftConfig, init)]));
  const pump = (): void => {
    for (let round = 0; round < 200; round++) {
      const out: Message[] = [];
      for (const c of cores.values()) {
        while (c.hasReady()) {
          const rd = c.ready();
          out.push(...rd.messages);
          c.advance(rd);
        }
      }
      if (out.length === 0) return;
      for (const m of out) cores.get(m.to)?.step(m);
    }
  };
  cores.get('a')!.campaign();
  pump();
  for (let i = 0; i < 5; i++) cores.get('a')!.propose(encoder.encode(`cmd-${i}`));
  pump();
  return cores.get(self)!;
}

/** index is mostly a plausible index or term, sometimes one no member would send. */
const index = (): fc.Arbitrary<number> =>
  fc.oneof(
    { weight: 12, arbitrary: fc.nat({ max: 10 }) },
    { weight: 1, arbitrary: fc.constantFrom(Number.MAX_SAFE_INTEGER, -1, 2 ** 53, 0.5) },
    { weight: 1, arbitrary: fc.double() },
  );
const data = (): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    fc.uint8Array({ maxLength: 24 }),
    fc.constantFrom(...IDS, 'd').map((id) => encodeConfChange({ type: 'add', nodeId: id, context: `${id}:7401` })),
    fc.constant(encoder.encode('{"type":"add"}')),
  );

/** message is a random message to `to` from another member (or a stranger). */
const message = (to: string): fc.Arbitrary<Message> =>
  fc
    .record({
      type: fc.constantFrom(...TYPES),
      from: fc.constantFrom(...IDS.filter((id) => id !== to), 'zz'),
      term: fc.oneof(fc.nat({ max: 3 }), index()),
      logTerm: index(),
      index: index(),
      commit: index(),
      reject: fc.boolean(),
      rejectHint: index(),
      context: fc.string({ maxLength: 8 }),
      offset: index(),
      done: fc.boolean(),
      entries: fc.array(fc.record({ term: fc.nat({ max: 3 }), kind: fc.constantFrom<Entry['kind']>('normal', 'conf'), data: data() }), { maxLength: 4 }),
      meta: fc.option(fc.record({ index: index(), term: fc.nat({ max: 6 }), voters: fc.subarray([...IDS, 'd']) })),
      data: fc.uint8Array({ maxLength: 16 }),
    })
    .map((r) =>
      newMessage({
        type: r.type,
        from: r.from,
        to,
        term: r.term,
        logTerm: r.logTerm,
        index: r.index,
        commit: r.commit,
        reject: r.reject,
        rejectHint: r.rejectHint,
        context: r.context,
        offset: r.offset,
        done: r.done,
        data: r.data,
        // Mostly in sequence after `index`, so that appends get past the first checks.
        entries: r.entries.map((e, i) => ({ index: r.index + 1 + i, term: e.term, kind: e.kind, data: e.data })),
        snapshotMeta: r.meta === null ? null : { index: r.meta.index, term: r.meta.term, membership: { voters: r.meta.voters, contexts: Object.fromEntries(r.meta.voters.map((v) => [v, `${v}:7401`])) } },
      }),
    );

/**
 * alignedAppend turns every other append into one that follows the member's log (from its last
 * index and term, in its term or a newer one), so that the entries it carries, good or bad, get
 * past the log-matching check and are taken in; the others stay as random as they came.
 */
function alignedAppend(m: Message, core: RaftCore, lastTerm: number): Message {
  if (m.type !== 'append' || m.from === 'zz' || m.commit % 2 === 1) return m;
  const st = core.status();
  const term = Math.max(st.term, Number.isSafeInteger(m.term) ? Math.min(m.term, st.term + 2) : st.term);
  return { ...m, term, index: st.lastIndex, logTerm: lastTerm, entries: m.entries.map((e, i) => ({ ...e, index: st.lastIndex + 1 + i, term })) };
}

describe('fuzz: malformed and hostile Raft messages from an authenticated peer', () => {
  it('a member steps any message without throwing, and never loses or rewrites a committed entry', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('a', 'b').chain((self) => fc.tuple(fc.constant(self), fc.array(message(self), { minLength: 1, maxLength: 30 }))),
        ([self, messages]) => {
        const core = settled(self);
        const committed = new Map<number, string>();
        const record = (): void => {
          while (core.hasReady()) {
            const rd = core.ready();
            for (const e of rd.committedEntries) {
              const key = `${e.term}/${e.kind}/${Buffer.from(e.data).toString('hex')}`;
              const had = committed.get(e.index);
              assert.ok(had === undefined || had === key, `entry ${e.index} committed twice, differently`);
              committed.set(e.index, key);
            }
            core.advance(rd);
          }
        };
        record();
        let commit = core.status().commit;
        // The term of the last entry, as far as the appends this test made in line know it.
        let lastTerm = core.status().term;
        for (const raw of messages) {
          const m = alignedAppend(raw, core, lastTerm);
          const refused = core.step(m);
          if (refused === undefined && m !== raw && m.entries.length > 0) lastTerm = m.term;
          if (refused !== undefined) assert.ok(refused.length > 0);
          record();
          const st = core.status();
          assert.ok(st.commit >= commit, `commit went back from ${commit} to ${st.commit}`);
          assert.ok(st.commit <= st.lastIndex, `commit ${st.commit} beyond the last index ${st.lastIndex}`);
          commit = st.commit;
        }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("the transport's decoder answers a message or why it is malformed, whatever the wire holds", () => {
    const big = fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.constant(0n), fc.constant(2n ** 53n));
    fc.assert(
      fc.property(
        fc.record({
          type: fc.integer({ min: -1, max: 20 }),
          from: fc.string({ maxLength: 4 }),
          to: fc.string({ maxLength: 4 }),
          term: big,
          logTerm: big,
          index: big,
          commit: big,
          rejectHint: big,
          offset: big,
          entries: fc.array(fc.record({ index: big, term: big, kind: fc.integer({ min: -1, max: 4 }), data: fc.uint8Array({ maxLength: 8 }) }), { maxLength: 3 }),
        }),
        (r) => {
          const p = create(RaftMessageSchema, { ...r, type: r.type as RaftMessageType, entries: r.entries.map((e) => ({ ...e, kind: e.kind as RaftEntryKind })) });
          const m = messageFromProto(p);
          assert.ok(typeof m === 'string' ? m.length > 0 : typeof m.type === 'string');
        },
      ),
      { numRuns: RUNS * 10 },
    );
  });
});
