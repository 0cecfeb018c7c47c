// runtime-events.test.ts: RuntimeEventFeed with a scripted event source.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { RuntimeExit } from '@tugboat/cri';
import { RuntimeEventFeed } from './runtime-events.ts';
import type { RuntimeEventSink, RuntimeEventSource } from './runtime-events.ts';

/** ScriptedSource plays one script per subscription: exits to yield, then how it ends
 *  ('break': throws; 'hold': stays open until aborted). */
class ScriptedSource implements RuntimeEventSource {
  subscriptions = 0;
  readonly scripts: { exits: string[]; end: 'break' | 'hold' }[];
  constructor(scripts: { exits: string[]; end: 'break' | 'hold' }[]) {
    this.scripts = scripts;
  }
  async *exits(signal: AbortSignal): AsyncGenerator<RuntimeExit> {
    const script = this.scripts[this.subscriptions++] ?? { exits: [], end: 'hold' as const };
    for (const id of script.exits) yield { id, atMs: Date.now() };
    if (script.end === 'break') throw new Error('cri Subscribe containerd events: UNAVAILABLE: socket closed');
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  }
}

class RecordingSink implements RuntimeEventSink {
  readonly seen: string[] = [];
  runtimeExit(id: string): void {
    this.seen.push(`exit ${id}`);
  }
  runtimeEventsLive(live: boolean): void {
    this.seen.push(live ? 'up' : 'down');
  }
}

async function waitFor(what: string, ok: () => boolean, timeoutMs = 3000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !ok(); await new Promise((r) => setTimeout(r, 5))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

describe('RuntimeEventFeed', () => {
  it('hands exits to the manager, says when the stream is down, and subscribes again', async () => {
    const source = new ScriptedSource([
      { exits: ['c1', 's1'], end: 'break' },
      { exits: [], end: 'break' },
      { exits: ['c2'], end: 'hold' },
    ]);
    const sink = new RecordingSink();
    const feed = new RuntimeEventFeed({ source, sink, log: pino({ level: 'silent' }), retryMs: 5, maxRetryMs: 20 });
    feed.start();
    await waitFor('the third subscription', () => sink.seen.includes('exit c2'));
    await feed.stop();
    assert.deepEqual(sink.seen, ['up', 'exit c1', 'exit s1', 'down', 'up', 'down', 'up', 'exit c2']);
    assert.equal(source.subscriptions, 3);
  });

  it('stops while waiting to subscribe again', async () => {
    const source = new ScriptedSource([{ exits: [], end: 'break' }]);
    const sink = new RecordingSink();
    const feed = new RuntimeEventFeed({ source, sink, log: pino({ level: 'silent' }), retryMs: 60_000 });
    feed.start();
    await waitFor('the break', () => sink.seen.includes('down'));
    const t0 = Date.now();
    await feed.stop();
    assert.ok(Date.now() - t0 < 1000, 'stop does not wait out the back-off');
    assert.equal(source.subscriptions, 1);
  });
});
