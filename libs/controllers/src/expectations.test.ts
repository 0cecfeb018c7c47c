// expectations.test.ts: a controller waits for its own creations and deletions to show in its
// cache, but not forever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Expectations } from '@tugboat/controllers';

test('creations and deletions are waited for until observed', () => {
  const e = new Expectations(60_000);
  assert.ok(e.satisfied('ns/rs', 0), 'nothing recorded');
  e.expectCreations('ns/rs', 2, 0);
  assert.ok(!e.satisfied('ns/rs', 0));
  e.creationObserved('ns/rs');
  assert.ok(!e.satisfied('ns/rs', 0));
  e.creationObserved('ns/rs');
  assert.ok(e.satisfied('ns/rs', 0));
  e.expectDeletions('ns/rs', ['ns/a', 'ns/b'], 0);
  e.deletionObserved('ns/a');
  e.deletionObserved('ns/zzz');
  assert.ok(!e.satisfied('ns/rs', 0));
  e.deletionObserved('ns/b');
  assert.ok(e.satisfied('ns/rs', 0));
  assert.ok(e.satisfied('ns/other', 0));
});

test('an old record expires and starts over; forget drops it', () => {
  const e = new Expectations(1_000);
  e.expectDeletions('k', ['ns/lost'], 0);
  assert.ok(!e.satisfied('k', 500));
  assert.ok(e.satisfied('k', 1_001), 'expired');
  e.expectCreations('k', 1, 2_000);
  e.creationObserved('k');
  assert.ok(e.satisfied('k', 2_000), 'the expired deletion no longer holds it back');
  e.expectCreations('k', 3, 3_000);
  e.forget('k');
  assert.ok(e.satisfied('k', 3_000));
});
