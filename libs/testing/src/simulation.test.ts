import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import type { Message, Ready } from '@tugboat/raft';
import {
  DEFAULT_STEPS,
  LogState,
  SafetyChecker,
  SimViolation,
  isSimViolation,
  realCore,
  runSeeds,
  runSimulation,
  type CoreFactory,
  type SeedOutcome,
  type SimCore,
  type SimResult,
} from '@tugboat/testing';

const jobs = availableParallelism();

function describeFailures(outcomes: readonly SeedOutcome[]): string {
  return outcomes
    .filter((o) => !o.ok)
    .map((o) => `seed ${o.seed}: ${o.violation!.property} at step ${o.violation!.step}: ${o.violation!.message.split('\n')[0]}`)
    .join('\n');
}

/** wrap builds a core factory whose members named in `ids` have their Ready rewritten by `edit`. */
function wrapReady(ids: readonly string[], edit: (rd: Ready, core: SimCore) => Ready): CoreFactory {
  return (config, initial) => {
    const core = realCore(config, initial);
    if (!ids.includes(config.id)) return core;
    return {
      tick: () => core.tick(),
      step: (m) => core.step(m),
      propose: (d) => core.propose(d),
      proposeConfChange: (cc) => core.proposeConfChange(cc),
      transferLeadership: (to) => core.transferLeadership(to),
      readIndex: (c) => core.readIndex(c),
      campaign: () => core.campaign(),
      hasReady: () => core.hasReady(),
      ready: () => edit(core.ready(), core),
      advance: (rd) => core.advance(rd),
      compact: (i, d) => core.compact(i, d),
      status: () => core.status(),
    };
  };
}

/** firstFailure runs seeds from `from` until one fails (at most `count`) and answers its result. */
function firstFailure(from: number, count: number, factory: CoreFactory, nodes = 3): SimResult | undefined {
  for (let seed = from; seed < from + count; seed++) {
    const r = runSimulation({ seed, nodes, steps: 6000, coreFactory: factory });
    if (!r.ok) return r;
  }
  return undefined;
}

describe('deterministic simulation', () => {
  it('1000 seeds (500 of 3 members, 500 of 5) run with no violation', async () => {
    const three = await runSeeds(
      Array.from({ length: 500 }, (_, i) => 10_000 + i),
      { nodes: 3, steps: DEFAULT_STEPS },
      jobs,
    );
    const five = await runSeeds(
      Array.from({ length: 500 }, (_, i) => 20_000 + i),
      { nodes: 5, steps: DEFAULT_STEPS },
      jobs,
    );
    const all = [...three, ...five];
    assert.equal(all.length, 1000);
    assert.equal(describeFailures(all), '');
    // The runs did exercise what they are meant to.
    const total = (k: keyof SeedOutcome['stats']): number => all.reduce((n, o) => n + Math.max(0, o.stats[k]), 0);
    for (const k of ['crashes', 'partitions', 'snapshotsInstalled', 'confChangesCommitted', 'transfersStarted', 'readsReleased'] as const) {
      assert.ok(total(k) > all.length, `${k}: only ${total(k)} over ${all.length} seeds`);
    }
  });

  it('replays a seed identically: same trace hash twice, in this thread and in a worker', async () => {
    const a = runSimulation({ seed: 4242, nodes: 5 });
    const b = runSimulation({ seed: 4242, nodes: 5 });
    assert.ok(a.traceLines > 1000);
    assert.equal(a.traceHash, b.traceHash);
    assert.equal(a.traceLines, b.traceLines);
    assert.deepEqual(a.stats, b.stats);
    // Two seeds on two workers, so 4242 certainly runs in a worker thread.
    const [w] = await runSeeds([4242, 4243], { nodes: 5, steps: DEFAULT_STEPS }, 2);
    assert.equal(w!.seed, 4242);
    assert.equal(w!.traceHash, a.traceHash);
  });

  it('different seeds give different runs', () => {
    const hashes = new Set<string>();
    for (let seed = 1; seed <= 20; seed++) hashes.add(runSimulation({ seed, steps: 2000 }).traceHash);
    assert.equal(hashes.size, 20);
    assert.notEqual(runSimulation({ seed: 7, nodes: 3, steps: 2000 }).traceHash, runSimulation({ seed: 7, nodes: 5, steps: 2000 }).traceHash);
  });

  it('reports a failing run with property, step and trace tail', () => {
    const r = firstFailure(
      1,
      50,
      wrapReady(['n2'], (rd) => ({
        ...rd,
        committedEntries: rd.committedEntries.map((e) =>
          e.kind === 'normal' && e.data.length > 0 ? { ...e, data: new TextEncoder().encode(`corrupt-${e.index}`) } : e,
        ),
      })),
    );
    assert.ok(r !== undefined, 'a member applying corrupted entries went unnoticed');
    assert.equal(r.violation!.property, 'state-machine-safety');
    assert.ok(r.violation!.step >= 0);
    assert.ok(r.violation!.traceTail.length > 10);
    assert.match(r.violation!.traceTail.at(-1)!, /VIOLATION state-machine-safety/);
  });
});

describe('deliberately broken members are caught', () => {
  it('a member that grants every vote (votes twice in a term)', () => {
    const r = firstFailure(
      1,
      100,
      wrapReady(['n1', 'n2', 'n3'], (rd) => ({
        ...rd,
        messages: rd.messages.map((m): Message => (m.type === 'voteResp' && m.reject ? { ...m, reject: false } : m)),
      })),
    );
    assert.ok(r !== undefined, 'double voting went unnoticed');
    assert.ok(['persist-before-send', 'election-safety'].includes(r.violation!.property), r.violation!.message);
  });

  it('a member that sends before it persists (drops mustSync)', () => {
    const r = firstFailure(1, 20, wrapReady(['n3'], (rd) => ({ ...rd, mustSync: false })));
    assert.ok(r !== undefined);
    assert.equal(r.violation!.property, 'ready-contract');
  });

  it('a member that acknowledges entries it never stored', () => {
    // Entries are dropped from the Ready (never written), but acknowledged as usual.
    const r = firstFailure(1, 20, wrapReady(['n2'], (rd) => ({ ...rd, entries: [] })));
    assert.ok(r !== undefined);
    assert.ok(['persist-before-send', 'driver-view'].includes(r.violation!.property), r.violation!.message);
  });

  it('a member whose commit index goes backwards', () => {
    let calls = 0;
    const factory: CoreFactory = (config, initial) => {
      const core = realCore(config, initial);
      if (config.id !== 'n1') return core;
      return Object.assign(Object.create(null) as SimCore, {
        ...Object.fromEntries(
          (['tick', 'step', 'propose', 'proposeConfChange', 'transferLeadership', 'readIndex', 'campaign', 'hasReady', 'ready', 'advance', 'compact'] as const).map(
            (k) => [k, (...args: unknown[]) => (core[k] as (...a: unknown[]) => unknown)(...args)],
          ),
        ),
        status: () => {
          const st = core.status();
          return ++calls % 50 === 0 && st.commit > 0 ? { ...st, commit: st.commit - 1, applied: Math.min(st.applied, st.commit - 1) } : st;
        },
      });
    };
    const r = firstFailure(1, 20, factory);
    assert.ok(r !== undefined);
    assert.ok(['monotonic-commit', 'apply-beyond-commit', 'driver-view'].includes(r.violation!.property), r.violation!.message);
  });
});

describe('SafetyChecker', () => {
  const entry = (index: number, term: number, data = `c${index}`) => ({ index, term, kind: 'normal' as const, data: new TextEncoder().encode(data) });
  const expectViolation = (property: string, f: () => void): void => {
    assert.throws(f, (e: unknown) => isSimViolation(e) && e.property === property);
  };

  it('election safety: two leaders in one term', () => {
    const c = new SafetyChecker();
    assert.equal(c.observeLeader('n1', 3), true);
    assert.equal(c.observeLeader('n1', 3), false);
    assert.equal(c.observeLeader('n2', 4), true);
    expectViolation('election-safety', () => c.observeLeader('n2', 3));
  });

  it('log matching: same index and term, different data or different predecessor', () => {
    const c = new SafetyChecker();
    c.checkWritten('n1', [entry(1, 1), entry(2, 2)], 0);
    c.checkWritten('n2', [entry(2, 2)], 1);
    expectViolation('log-matching', () => c.checkWritten('n3', [entry(2, 2, 'other')], 1));
    expectViolation('log-matching', () => c.checkWritten('n3', [entry(2, 2)], 0));
    expectViolation('log-matching', () => c.checkWritten('n3', [entry(3, 1)], 2));
  });

  it('leader completeness: a later leader lacks a committed entry', () => {
    const c = new SafetyChecker();
    const log = new LogState({ term: 2, vote: 'n1', commit: 2 }, { meta: { index: 0, term: 0, membership: { voters: [], contexts: {} } }, data: new Uint8Array() }, [entry(1, 1), entry(2, 2)]);
    c.recordCommit('n1', log, 0, 2, 2);
    const later = new LogState({ term: 3, vote: 'n3', commit: 1 }, log.snapshot, [entry(1, 1)]);
    c.checkLeaderLog('n3', 2, later, 0, Infinity); // same term: nothing required yet
    expectViolation('leader-completeness', () => c.checkLeaderLog('n3', 3, later, 0, Infinity));
  });

  it('state machine safety: two different entries applied at one index, or one command twice', () => {
    const c = new SafetyChecker();
    assert.equal(c.recordApply('n1', entry(1, 1), 11, 12), true);
    assert.equal(c.recordApply('n2', entry(1, 1), 11, 12), false);
    expectViolation('state-machine-safety', () => c.recordApply('n3', entry(1, 2), 11, 12));
    expectViolation('state-machine-safety', () => c.recordApply('n3', entry(1, 1), 99, 12));
    expectViolation('state-machine-safety', () => c.recordApply('n3', entry(2, 1, 'c1'), 21, 22));
  });

  it('SimViolation carries its property', () => {
    const v = new SimViolation('liveness', 'stuck');
    assert.equal(v.property, 'liveness');
    assert.equal(v.name, 'SimViolation');
    assert.ok(isSimViolation(v));
  });
});
