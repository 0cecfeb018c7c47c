import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  fieldValue,
  formatFieldSelector,
  formatSelector,
  isEmptySelector,
  isSelectorError,
  matches,
  matchesFields,
  parseFieldSelector,
  parseSelector,
} from '@tugboat/api';
import type { LabelSelector } from '@tugboat/api';

describe('label selectors: string form', () => {
  it('parses every requirement form into a LabelSelector', () => {
    assert.deepEqual(parseSelector('app=web,tier!=db,env in (a,b),env notin (c),has,!missing'), {
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'NotIn', values: ['db'] },
        { key: 'env', operator: 'In', values: ['a', 'b'] },
        { key: 'env', operator: 'NotIn', values: ['c'] },
        { key: 'has', operator: 'Exists' },
        { key: 'missing', operator: 'DoesNotExist' },
      ],
    });
  });

  it('accepts ==, spaces, prefixed keys, empty values and repeated keys', () => {
    assert.deepEqual(parseSelector('  app == web ,  app.kubernetes.io/name=shop,  env in ( a , b ) , x='), {
      matchLabels: { app: 'web', 'app.kubernetes.io/name': 'shop', x: '' },
      matchExpressions: [{ key: 'env', operator: 'In', values: ['a', 'b'] }],
    });
    assert.deepEqual(parseSelector('a=1,a=2'), {
      matchLabels: { a: '1' },
      matchExpressions: [{ key: 'a', operator: 'In', values: ['2'] }],
    });
    assert.deepEqual(parseSelector(''), {});
    assert.deepEqual(parseSelector('   '), {});
  });

  it('rejects malformed selectors with the position', () => {
    const cases: [string, string][] = [
      ['app=web,', 'expected a label key at position 9'],
      [',app', 'expected a label key, got "," at position 1'],
      ['app web', 'expected "=", "==", "!=", "in", "notin", "," or the end after key "app" at position 5'],
      ['env in a', 'expected "(" after in at position 8'],
      ['env in ()', 'the set of values after in must not be empty at position 9'],
      ['env in (a', 'expected "," or ")" in the set of values at position 10'],
      ['env in (a b)', 'expected "," or ")" in the set of values at position 11'],
      ['Bad Key=1', 'expected "=", "==", "!=", "in", "notin", "," or the end after key "Bad" at position 5'],
      ['-bad=1', 'key "-bad" must be a qualified name'],
      ['app=we b', 'expected "," or the end at position 8'],
      ['app=-x', 'value "-x" must be a label value'],
      ['a>1', 'operator ">" is not supported in label selectors at position 2'],
      ['!a=b', 'expected "," or the end at position 3'],
      ['a=(b)', 'expected "," or the end at position 3'],
    ];
    for (const [text, message] of cases) {
      assert.throws(
        () => parseSelector(text),
        (e: unknown) => isSelectorError(e) && e.message.startsWith(`invalid label selector ${JSON.stringify(text)}: `) && e.message.includes(message),
        text,
      );
    }
  });

  it('formats back to a string that parses to the same selector', () => {
    for (const text of ['app=web,tier!=db,env in (a,b),env notin (c,d),has,!missing', 'a=1', '']) {
      const sel = parseSelector(text);
      assert.deepEqual(parseSelector(formatSelector(sel)), sel);
    }
    assert.equal(formatSelector(parseSelector('app = web, !gone')), 'app=web,!gone');
  });
});

describe('label selectors: matching', () => {
  const web = { app: 'web', tier: 'frontend', env: 'prod' };

  it('matches equality, inequality, sets and existence as Kubernetes does', () => {
    const cases: [string, Record<string, string>, boolean][] = [
      ['app=web', web, true],
      ['app=api', web, false],
      ['app=web,tier=frontend', web, true],
      ['app=web,tier=backend', web, false],
      ['tier!=db', web, true],
      ['tier!=frontend', web, false],
      ['tier!=db', {}, true], // != holds when the label is absent
      ['env in (prod,staging)', web, true],
      ['env in (dev)', web, false],
      ['env in (prod)', {}, false],
      ['env notin (dev)', web, true],
      ['env notin (prod)', web, false],
      ['env notin (prod)', {}, true], // notin holds when the label is absent
      ['tier', web, true],
      ['owner', web, false],
      ['!owner', web, true],
      ['!tier', web, false],
      ['', web, true],
      ['', {}, true],
      ['x=', { x: '' }, true],
      ['x=', {}, false],
    ];
    for (const [text, labels, expected] of cases) assert.equal(matches(parseSelector(text), labels), expected, `${text} on ${JSON.stringify(labels)}`);
  });

  it('matches LabelSelector objects with matchLabels and matchExpressions together', () => {
    const sel: LabelSelector = {
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'env', operator: 'In', values: ['prod', 'staging'] },
        { key: 'canary', operator: 'DoesNotExist' },
      ],
    };
    assert.equal(matches(sel, web), true);
    assert.equal(matches(sel, { ...web, canary: 'true' }), false);
    assert.equal(matches(sel, { ...web, env: 'dev' }), false);
    assert.equal(matches(sel, undefined), false);
    assert.equal(matches({}, undefined), true);
    assert.equal(isEmptySelector({}), true);
    assert.equal(isEmptySelector({ matchLabels: {}, matchExpressions: [] }), true);
    assert.equal(isEmptySelector(sel), false);
  });

  it('does not treat inherited properties as labels', () => {
    assert.equal(matches(parseSelector('constructor'), {}), false);
    assert.equal(matches(parseSelector('!toString'), {}), true);
  });

  it('matches nothing for an unknown operator', () => {
    const bad = { matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] } as unknown as LabelSelector;
    assert.equal(matches(bad, { a: '2' }), false);
  });
});

describe('field selectors', () => {
  const pod = { kind: 'Pod', metadata: { name: 'web-1', namespace: 'shop' }, spec: { nodeName: 'n1' }, status: { phase: 'Running' } };

  it('parses and matches the supported fields', () => {
    assert.deepEqual(parseFieldSelector('spec.nodeName=n1'), [{ field: 'spec.nodeName', operator: '=', value: 'n1' }]);
    assert.equal(matchesFields(parseFieldSelector('spec.nodeName=n1'), pod), true);
    assert.equal(matchesFields(parseFieldSelector('spec.nodeName==n2'), pod), false);
    assert.equal(matchesFields(parseFieldSelector('metadata.name=web-1,metadata.namespace=shop'), pod), true);
    assert.equal(matchesFields(parseFieldSelector('status.phase!=Running'), pod), false);
    assert.equal(matchesFields(parseFieldSelector('status.phase!=Succeeded'), pod), true);
    assert.equal(matchesFields(parseFieldSelector(''), pod), true);
  });

  it('reads absent fields as empty (unscheduled pods have spec.nodeName=)', () => {
    const pending = { metadata: { name: 'p' }, spec: {} };
    assert.equal(fieldValue(pending, 'spec.nodeName'), '');
    assert.equal(matchesFields(parseFieldSelector('spec.nodeName='), pending), true);
    assert.equal(matchesFields(parseFieldSelector('spec.nodeName='), pod), false);
  });

  it('refuses unsupported fields, listing the supported ones, and malformed requirements', () => {
    assert.throws(
      () => parseFieldSelector('spec.hostname=x'),
      (e: unknown) =>
        isSelectorError(e) &&
        e.message.includes('field "spec.hostname" is not supported') &&
        e.message.includes('metadata.name, metadata.namespace, spec.nodeName, status.phase'),
    );
    for (const bad of ['spec.nodeName', 'spec.nodeName=a=b', '=x', 'spec.nodeName=n1,']) {
      assert.throws(() => parseFieldSelector(bad), (e: unknown) => isSelectorError(e) && e.message.includes('invalid field selector'), bad);
    }
  });

  it('formats back to the string form', () => {
    const text = 'spec.nodeName=n1,status.phase!=Failed';
    assert.equal(formatFieldSelector(parseFieldSelector(text)), text);
  });
});
