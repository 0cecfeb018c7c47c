// manifests.test.ts: what `tug apply -f` reads, random and mutated: YAML and JSON documents made
// from valid objects with values removed, retyped or replaced, and arbitrary text. Reading never
// throws; every document is either an object to send or a problem that names where it is and
// says what is wrong. Bounded in `npm test` (TUG_FUZZ_RUNS), long in `npm run fuzz`.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { loadObjects } from '@tugboat/cli';
import { mutant } from './requests.ts';

const RUNS = Number(process.env['TUG_FUZZ_RUNS'] ?? 300);

const document = (): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 4, arbitrary: mutant().map((o) => stringify(o)) },
    { weight: 2, arbitrary: mutant().map((o) => JSON.stringify(o) ?? 'null') },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.constantFrom('---', '- a\n- b', 'a: [', '{', '&a [*a]', 'kind: Pod\nmetadata: !!binary x', '? a\n: b', '\t- x') },
  );

describe('fuzz: manifests', () => {
  it('every document is an object to send or a problem that says what and where', () => {
    fc.assert(
      fc.property(fc.array(document(), { minLength: 1, maxLength: 4 }), fc.boolean(), (docs, explicit) => {
        const text = docs.join('\n---\n');
        const { objects, problems } = loadObjects([{ name: 'fuzz.yaml', text }], 'default', explicit);
        for (const p of problems) {
          assert.ok(p.where.startsWith('fuzz.yaml'), `a problem names its source: ${p.where}`);
          assert.ok(p.issues.length > 0 && p.issues.every((i) => i.message.length > 0), `${p.where}: a problem says what is wrong`);
        }
        for (const o of objects) assert.equal(typeof o.object['kind'], 'string');
      }),
      { numRuns: RUNS },
    );
  });
});
