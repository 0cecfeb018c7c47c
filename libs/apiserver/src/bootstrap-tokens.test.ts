import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isGrpcError } from '@tugboat/proto';
import { hashSecret, newToken, parseToken, tokenObject, tokenRecord, whyNotBearer, whyRefused } from './bootstrap-tokens.ts';
import type { StoredObject } from '@tugboat/store';

const request = (over: object = {}) => ({ $typeName: 'tug.v1.CreateTokenRequest' as const, ttlSeconds: 3600, role: '', description: 'lab', maxUses: 0, user: '', ...over });

describe('bootstrap tokens', () => {
  const now = new Date('2026-12-07T12:00:00Z');

  it('makes ID.SECRET and keeps only the hash of the secret, for an hour from now', () => {
    const { record, token } = newToken(request(), now);
    const { id, secret } = parseToken(token);
    assert.equal(record.id, id);
    assert.equal(record.secretHash, hashSecret(secret));
    assert.ok(!JSON.stringify(tokenObject(record)).includes(secret), 'the stored object has no secret');
    assert.deepEqual({ role: record.role, expires: record.expires, used: record.used }, { role: 'agent', expires: '2026-12-07T13:00:00.000Z', used: 0 });
    const stored = { ...tokenObject(record), metadata: { name: id, resourceVersion: '7' } } as unknown as StoredObject;
    assert.deepEqual(tokenRecord(stored), { ...record, resourceVersion: '7' });
  });

  it('refuses bad requests and malformed tokens with the field, never echoing a token', () => {
    for (const [over, re] of [
      [{ ttlSeconds: 59 }, /ttl_seconds: 59 is not from 60/],
      [{ ttlSeconds: 31 * 86_400 }, /30 days/],
      [{ role: 'root' }, /role: "root" is not one of agent, member, admin, viewer/],
      [{ role: 'admin' }, /user: "" is not a user name/],
      [{ role: 'viewer', user: 'ann', maxUses: 1 }, /max_uses: counts joins/],
      [{ role: 'agent', user: 'ann' }, /only admin and viewer tokens name a user/],
      [{ role: 'viewer', user: 'ann', ttlSeconds: 366 * 86_400 }, /a year/],
      [{ description: 'x'.repeat(257) }, /description: 257 characters/],
    ] as const) {
      assert.throws(() => newToken(request(over), now), (err: unknown) => isGrpcError(err) && re.test(err.message));
    }
    assert.throws(() => parseToken('abcdef.QQQQQQQQQQQQQQQQ'), (err: unknown) => isGrpcError(err) && !err.message.includes('QQQQ') && /ID\.SECRET/.test(err.message));
  });

  it('allows a join until the token is used up, expired, or asked for more than its role', () => {
    const { record, token } = newToken(request({ maxUses: 2, role: 'agent' }), now);
    const { id, secret } = parseToken(token);
    assert.equal(whyRefused(record, id, secret, ['agent'], now), undefined);
    assert.match(whyRefused(record, id, 'x'.repeat(16), ['agent'], now) ?? '', /secret does not match/);
    assert.match(whyRefused({ ...record, used: 2 }, id, secret, ['agent'], now) ?? '', /used up \(2 of 2 joins\)/);
    assert.match(whyRefused(record, id, secret, ['agent'], new Date('2026-12-07T13:00:00Z')) ?? '', /expired at 2026-12-07T13:00:00.000Z/);
    assert.match(whyRefused(record, id, secret, ['member'], now) ?? '', /is for agents: it may not sign a member certificate/);
    assert.equal(whyRefused({ ...record, role: 'member' }, id, secret, ['member', 'agent'], now), undefined);
    assert.match(whyRefused(undefined, id, secret, ['agent'], now) ?? '', /does not exist/);
  });

  it('an admin or viewer token authenticates API calls as its user and joins nothing; a join token calls nothing', () => {
    const api = newToken(request({ role: 'viewer', user: 'ann', ttlSeconds: 90 * 86_400 }), now);
    const { id, secret } = parseToken(api.token);
    assert.equal(api.record.user, 'ann');
    assert.equal(whyNotBearer(api.record, id, secret, now), undefined);
    assert.match(whyNotBearer(api.record, id, 'y'.repeat(16), now) ?? '', /secret does not match/);
    assert.match(whyRefused(api.record, id, secret, ['agent'], now) ?? '', /is a viewer token for calling the API; it does not join nodes/);
    const join = newToken(request(), now);
    const j = parseToken(join.token);
    assert.match(whyNotBearer(join.record, j.id, j.secret, now) ?? '', /is for joining a node as an agent; it does not call the API/);
  });
});
