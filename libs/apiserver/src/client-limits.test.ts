import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GrpcError, Metadata, retryAfterMs } from '@tugboat/proto';
import type { CallContext, Identity } from '@tugboat/proto';
import { ClientLimits } from './client-limits.ts';

const ctxOf = (identity: Identity | undefined): CallContext => ({ identity, metadata: new Metadata(), peer: '127.0.0.1:1', signal: new AbortController().signal }) as unknown as CallContext;
const node = ctxOf({ commonName: 'node-1', organization: 'tugboat:nodes' });
const admin = ctxOf({ commonName: 'admin', organization: 'tugboat:admins' });
const member = ctxOf({ commonName: 'c1', organization: 'tugboat:members' });

describe('client limits', () => {
  it("bounds a node's request rate in a token bucket, telling how long to wait, and leaves admins, members and in-process calls alone", () => {
    let now = 0;
    const limits = new ClientLimits({ requestsPerSecond: 10, burst: 3, watchesPerClient: 2, now: () => now });
    for (let i = 0; i < 3; i++) limits.admit(node);
    let refused: unknown;
    try {
      limits.admit(node);
    } catch (err) {
      refused = err;
    }
    assert.ok(refused instanceof GrpcError);
    assert.match(refused.message, /node "node-1" \(tugboat:nodes\) sends more than 10 requests\/s \(bursts of 3\); wait 100 ms/);
    assert.equal(retryAfterMs(refused), 100);
    now = 100;
    limits.admit(node);
    assert.throws(() => limits.admit(node), /wait 100 ms/);
    limits.admit(ctxOf({ commonName: 'node-2', organization: 'tugboat:nodes' }));
    for (let i = 0; i < 100; i++) {
      limits.admit(admin);
      limits.admit(member);
      limits.admit(ctxOf(undefined));
    }
  });

  it('bounds the open watches of each client, members and in-process calls excepted', () => {
    const limits = new ClientLimits({ requestsPerSecond: 10, burst: 3, watchesPerClient: 2 });
    const first = limits.takeWatch(admin);
    limits.takeWatch(admin);
    assert.throws(() => limits.takeWatch(admin), /admin "admin" \(tugboat:admins\) has 2 watches open, the most one client may/);
    limits.takeWatch(node);
    first();
    first();
    limits.takeWatch(admin);
    assert.throws(() => limits.takeWatch(admin), /has 2 watches open/);
    for (let i = 0; i < 10; i++) {
      limits.takeWatch(member);
      limits.takeWatch(ctxOf(undefined));
    }
  });
});
