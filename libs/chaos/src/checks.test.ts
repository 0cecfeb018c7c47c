import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HistoryRecorder } from '@tugboat/testing';
import {
  availabilityByPhase,
  availabilityHolds,
  linearizable,
  noOrphanContainers,
  nothingLeft,
  oneCopyOfSolo,
  oneLeaderPerTerm,
  perSecond,
  phaseAt,
  recoveredInTime,
} from './checks.ts';
import type { FaultSpan } from './record.ts';

const faults: FaultSpan[] = [{ action: 'kill-leader', target: 'node-1', startMs: 10_000, endMs: 16_000 }];
const recoveries = [{ fault: 'kill-leader node-1', healedAtMs: 16_000, recoveredAtMs: 18_000 }];

describe('chaos checks', () => {
  it('one leader per term, from the members\' own claims', () => {
    assert.equal(oneLeaderPerTerm([{ member: 'a', term: 2 }, { member: 'b', term: 3 }, { member: 'b', term: 3 }]).ok, true);
    const two = oneLeaderPerTerm([{ member: 'a', term: 2 }, { member: 'b', term: 4 }, { member: 'a', term: 4 }]);
    assert.deepEqual([two.ok, two.detail], [false, 'term 4 led by a and b']);
  });

  it('sorts requests into phases and judges each against its bound', () => {
    assert.equal(phaseAt(5_000, faults, recoveries), 'steady');
    assert.equal(phaseAt(12_000, faults, recoveries), 'kill-leader');
    assert.equal(phaseAt(17_000, faults, recoveries), 'recovering');
    assert.equal(phaseAt(18_000, faults, recoveries), 'steady');
    const requests = [
      ...Array.from({ length: 100 }, (_, i) => ({ atMs: i * 50, answered: true })),
      ...Array.from({ length: 10 }, (_, i) => ({ atMs: 11_000 + i * 100, answered: i % 2 === 0 })),
    ];
    const phases = availabilityByPhase(requests, faults, recoveries);
    assert.deepEqual(phases, [
      { phase: 'steady', requests: 100, answered: 100 },
      { phase: 'kill-leader', requests: 10, answered: 5 },
    ]);
    const least = { steady: 99, fault: 60, recovering: 90 };
    const verdict = availabilityHolds(phases, least);
    assert.equal(verdict.ok, false);
    assert.match(verdict.detail, /kill-leader 50\.0% of 10 \(least 60%\)/);
    assert.equal(availabilityHolds(phases, { ...least, fault: 50 }).ok, true);
    assert.equal(availabilityHolds([], least).ok, false, 'no request at all fails');
    // One request short of all is not shown as 100.0%, the same as the summary shows it.
    assert.match(availabilityHolds([{ phase: 'steady', requests: 7163, answered: 7162 }], least).detail, /^steady 99\.9% of 7163 /);
    assert.deepEqual(perSecond([{ atMs: 100, answered: true }, { atMs: 900, answered: false }, { atMs: 2_100, answered: true }]), [
      { atMs: 0, answered: 1, failed: 1 },
      { atMs: 2_000, answered: 1, failed: 0 },
    ]);
  });

  it('recovery within the bound after every heal', () => {
    assert.equal(recoveredInTime(recoveries, 5_000).ok, true);
    const late = recoveredInTime([...recoveries, { fault: 'partition node-2', healedAtMs: 30_000, recoveredAtMs: undefined }], 5_000);
    assert.deepEqual([late.ok, late.detail], [false, 'after partition node-2 healed at 30.0 s: never']);
    assert.equal(recoveredInTime([], 5_000).ok, false, 'a run that healed nothing proves nothing');
  });

  it('a container outliving its pod is a violation only past the grace and outside its node\'s faults', () => {
    const seen = (atMs: number, node = 'node-2') => ({ atMs, node, podUid: 'u1', pod: 'web-1' });
    assert.equal(noOrphanContainers([seen(1_000), seen(20_000)], [], 30_000).ok, true);
    const stale = noOrphanContainers([seen(1_000), seen(40_000)], [], 30_000);
    assert.equal(stale.ok, false);
    assert.match(stale.detail, /web-1 \(uid u1\) still running on node-2 at 40\.0 s, 39\.0 s after it was gone/);
    const cutOff: FaultSpan[] = [{ action: 'partition', target: 'node-2 from node-1,node-3', startMs: 0, endMs: 35_000 }];
    assert.equal(noOrphanContainers([seen(1_000), seen(40_000)], cutOff, 30_000).ok, true, 'its node was cut off until 5 s before');
  });

  it('two copies of the one-replica set only while the cluster is not whole', () => {
    const cut: FaultSpan[] = [{ action: 'partition', target: 'node-3', startMs: 10_000, endMs: 30_000 }];
    const samples = [
      { atMs: 5_000, copies: ['solo-a on node-3'] },
      { atMs: 25_000, copies: ['solo-a on node-3', 'solo-b on node-1'] },
      { atMs: 50_000, copies: ['solo-a on node-3', 'solo-b on node-1'] },
    ];
    assert.equal(oneCopyOfSolo(samples.slice(0, 2), cut, 15_000).ok, true);
    const twice = oneCopyOfSolo(samples, cut, 15_000);
    assert.deepEqual([twice.ok, twice.detail], [false, 'solo-a on node-3 and solo-b on node-1 running at 50.0 s']);
  });

  it('the API history: linearizable, or the lost write named', () => {
    let now = 0;
    const h = new HistoryRecorder(() => now++);
    h.invoke('c1', { op: 'create', key: 'k', value: 'a' }).ok({ result: 'ok' });
    h.invoke('c2', { op: 'update', key: 'k', value: 'b', expect: 'a' }).ok({ result: 'ok' });
    h.invoke('c1', { op: 'get', key: 'k' }).ok({ result: 'value', value: 'b' });
    assert.equal(linearizable(h.history()).ok, true);
    h.invoke('final-read', { op: 'get', key: 'k' }).ok({ result: 'value', value: 'a' });
    const lost = linearizable(h.history());
    assert.equal(lost.ok, false);
    assert.match(lost.detail, /k: not linearizable/);
  });

  it('nothing left', () => {
    assert.equal(nothingLeft([]).ok, true);
    assert.deepEqual(nothingLeft(['node-2 paused']), { name: 'nothing left running after the run', ok: false, detail: 'node-2 paused' });
  });
});
