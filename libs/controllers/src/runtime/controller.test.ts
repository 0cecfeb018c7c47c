import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { TugClient } from '@tugboat/client';
import { LeaderLoops } from './controller.ts';
import type { Controller, ControllerContext } from './controller.ts';

/** Leadership a test flips by hand. */
class FakeLeadership {
  leader = false;
  readonly listeners = new Set<() => void>();
  set(leader: boolean): void {
    this.leader = leader;
    for (const l of this.listeners) l();
  }
}

/** A controller that records its runs and waits for its signal. */
class Recording implements Controller {
  readonly name = 'recording';
  runs = 0;
  active = 0;
  failFirst: boolean;
  constructor(failFirst = false) {
    this.failFirst = failFirst;
  }
  async run(ctx: ControllerContext): Promise<void> {
    this.runs++;
    if (this.failFirst && this.runs === 1) throw new Error('first run fails');
    this.active++;
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    this.active--;
  }
}

function loopsFor(c: Controller, lead: FakeLeadership): { loops: LeaderLoops; client: TugClient } {
  const client = new TugClient({ endpoints: ['127.0.0.1:1'] });
  const loops = new LeaderLoops({
    controllers: [c],
    isLeader: () => lead.leader,
    onLeadershipChange: (l) => {
      lead.listeners.add(l);
      return () => lead.listeners.delete(l);
    },
    client,
    log: pino({ level: 'silent' }),
    restartMs: 10,
  });
  return { loops, client };
}

describe('LeaderLoops', () => {
  it('runs the controllers only while leading, with a fresh term each time', async () => {
    const lead = new FakeLeadership();
    const c = new Recording();
    const { loops, client } = loopsFor(c, lead);
    loops.start();
    await sleep(20);
    assert.equal(c.runs, 0, 'not leading: nothing runs');
    lead.set(true);
    await sleep(20);
    assert.equal(c.active, 1);
    assert.ok(loops.leading);
    lead.set(false);
    await sleep(20);
    assert.equal(c.active, 0, 'stopped when leadership is lost');
    lead.set(true);
    await sleep(20);
    assert.equal(c.runs, 2);
    assert.equal(loops.terms, 2);
    await loops.stop();
    assert.equal(c.active, 0);
    client.close();
  });

  it('restarts a controller that fails while leading', async () => {
    const lead = new FakeLeadership();
    lead.leader = true;
    const c = new Recording(true);
    const { loops, client } = loopsFor(c, lead);
    loops.start();
    await sleep(50);
    assert.equal(c.runs, 2);
    assert.equal(c.active, 1);
    await loops.stop();
    client.close();
  });
});
