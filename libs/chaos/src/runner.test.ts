// runner.test.ts: how a round finds the one-replica set's pod when it is between nodes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '@tugboat/api';
import { soloForRound } from './runner.ts';

const pod = { metadata: { name: 'solo-x' }, spec: { nodeName: 'node-2', containers: [] }, status: { phase: 'Running' } } as unknown as Pod;

describe('soloForRound', () => {
  it('waits for the pod when the round targets it and it runs nowhere yet (its replacement starting)', async () => {
    let calls = 0;
    const running = async (): Promise<Pod | undefined> => (++calls < 3 ? undefined : pod);
    assert.equal(await soloForRound(running, true, 5_000), pod);
    assert.equal(calls, 3);
  });

  it('does not wait for a round that targets something else, and gives up after the bound', async () => {
    let calls = 0;
    const never = async (): Promise<Pod | undefined> => {
      calls++;
      return undefined;
    };
    assert.equal(await soloForRound(never, false, 5_000), undefined);
    assert.equal(calls, 1);
    const t = Date.now();
    assert.equal(await soloForRound(never, true, 600), undefined);
    assert.ok(Date.now() - t >= 600);
  });
});
