import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { applyDefaults, isManifestError, parseManifestDocuments, parseManifests, toJson, toYaml } from '@tugboat/api';

const fixture = (name: string) => readFileSync(new URL(`../testdata/${name}`, import.meta.url), 'utf8');

function manifestError(text: string, document: number, line: number, detail: RegExp): void {
  assert.throws(
    () => parseManifests(text),
    (e: unknown) =>
      isManifestError(e) &&
      e.name === 'ManifestError' &&
      e.document === document &&
      e.line === line &&
      e.message.startsWith(`document ${document} (line ${line}): `) &&
      detail.test(e.message),
  );
}

describe('parseManifests', () => {
  it('reads multi-document YAML, skipping empty documents, with document numbers and lines', () => {
    const text = [
      '# leading comment',
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata: {name: a}',
      '---',
      '---',
      '# only a comment',
      '---',
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata: {name: b}',
      '...',
      '',
    ].join('\n');
    const docs = parseManifestDocuments(text);
    assert.deepEqual(
      docs.map((d) => [d.document, d.line, (d.object['metadata'] as { name: string }).name]),
      [
        [1, 2, 'a'],
        [4, 9, 'b'],
      ],
    );
    assert.deepEqual(parseManifests(''), []);
    assert.deepEqual(parseManifests('---\n---\n'), []);
  });

  it('reads YAML 1.1 as Kubernetes does: octal modes, yes/no booleans, timestamps as strings', () => {
    const [o] = parseManifests('a: 0644\nb: yes\nc: 2024-05-01T10:00:00Z\nd: "0644"\ne: 1.10\nf: 2024-05-01\n');
    assert.deepEqual(o, { a: 420, b: true, c: '2024-05-01T10:00:00Z', d: '0644', e: 1.1, f: '2024-05-01' });
  });

  it('expands List items with their lines, and typed lists fill kind and apiVersion', () => {
    const text = [
      'apiVersion: v1',
      'kind: List',
      'items:',
      '- apiVersion: v1',
      '  kind: ConfigMap',
      '  metadata: {name: a}',
      '- apiVersion: v1',
      '  kind: Secret',
      '  metadata: {name: b}',
      '---',
      'apiVersion: v1',
      'kind: PodList',
      'items:',
      '- metadata: {name: p}',
      '  spec: {containers: [{name: c, image: i}]}',
      '---',
      'kind: List',
      'items: []',
    ].join('\n');
    const docs = parseManifestDocuments(text);
    assert.deepEqual(
      docs.map((d) => [d.document, d.line, d.object['kind'], d.object['apiVersion']]),
      [
        [1, 4, 'ConfigMap', 'v1'],
        [1, 7, 'Secret', 'v1'],
        [2, 14, 'Pod', 'v1'],
      ],
    );
  });

  it('reads JSON, a single object or an array', () => {
    const obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' }, data: { n: '1e5' } };
    assert.deepEqual(parseManifests(JSON.stringify(obj)), [obj]);
    assert.deepEqual(parseManifests(`  ${JSON.stringify(obj, null, 2)}\n`), [obj]);
    assert.deepEqual(parseManifests(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [obj, obj] })), [obj, obj]);
    assert.deepEqual(parseManifests(JSON.stringify([obj])), [obj]);
    assert.deepEqual(parseManifests('{"a": 1e5}'), [{ a: 100000 }]);
  });

  it('names the document and line of malformed YAML', () => {
    manifestError('apiVersion: v1\nkind: Pod\n---\napiVersion: v1\nkind: [Pod\nmetadata: {}\n', 2, 6, /invalid YAML: /);
    manifestError('a: 1\n---\nb: 1\nb: 2\n', 2, 4, /invalid YAML: Map keys must be unique \(column 1\)/);
    manifestError('a: 1\n  b: 2\n', 1, 1, /invalid YAML: Nested mappings are not allowed in compact mappings \(column 4\)/);
    manifestError('a: *nope\n', 1, 1, /invalid YAML: Unresolved alias/);
  });

  it('names the document and line of malformed JSON', () => {
    manifestError('{\n  "apiVersion": "v1",\n  "kind": "Pod"\n  "x": 1\n}\n', 1, 4, /invalid JSON: /);
  });

  it('refuses documents that are not mappings', () => {
    manifestError('a: 1\n---\n- a\n- b\n', 2, 3, /expected a mapping with apiVersion and kind, got a list/);
    manifestError('just text\n', 1, 1, /expected a mapping with apiVersion and kind, got a string/);
    manifestError('kind: List\nitems: {a: 1}\n', 1, 1, /List: items must be a list, got a object/);
    manifestError('kind: List\nitems:\n- a: 1\n- 5\n', 1, 4, /items\[1\]: expected a mapping, got a number/);
    manifestError('[1]', 1, 1, /items\[0\]: expected a mapping, got a number/);
  });

  it('bounds the size of what it reads, alias expansions included', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++) levels.push(`l${i}: &l${i} [${Array(10).fill(i === 1 ? '*a' : `*l${i - 1}`).join(', ')}]`);
    manifestError(`${levels.join('\n')}\n`, 1, 1, /invalid YAML: .*alias/i);
    assert.throws(() => parseManifests(' '.repeat(16 * 1024 * 1024 + 1)), (e: unknown) => isManifestError(e) && /longer than/.test(e.message));
  });
});

describe('toYaml and toJson', () => {
  it('round-trips real manifests, as written and defaulted', () => {
    for (const file of ['app.yaml', 'cluster.yaml', 'kubectl-generated.yaml']) {
      const objects = parseManifests(fixture(file));
      assert.deepEqual(parseManifests(toYaml(objects)), objects, file);
      const defaulted = objects.map((o) => applyDefaults(o));
      assert.deepEqual(parseManifests(toYaml(defaulted)), defaulted, `${file} defaulted`);
      assert.deepEqual(parseManifests(toJson(defaulted)), defaulted, `${file} JSON`);
    }
  });

  it('quotes strings that YAML 1.1 would read as something else', () => {
    const tricky = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'tricky', labels: { enabled: 'yes', off: 'off', y: 'n' } },
      data: {
        mode: '0644',
        number: '123',
        float: '1.10',
        empty: '',
        nil: 'null',
        tilde: '~',
        date: '2024-05-01',
        when: '2024-05-01T10:00:00Z',
        colon: 'a: b',
        multi: 'line 1\nline 2\n',
        long: 'x'.repeat(300),
        hash: '# not a comment',
        lead: ' spaced ',
      },
    };
    assert.deepEqual(parseManifests(toYaml(tricky)), [tricky]);
    assert.deepEqual(parseManifests(toYaml([tricky, tricky])), [tricky, tricky]);
  });

  it('writes documents separated by ---, and JSON as an object or a List', () => {
    const a = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } };
    const b = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'b' } };
    assert.equal(toYaml(a), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n');
    assert.equal(toYaml([a, b]), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n');
    assert.equal(toYaml([]), '');
    assert.deepEqual(JSON.parse(toJson(a)), a);
    assert.deepEqual(JSON.parse(toJson([a])), a);
    assert.deepEqual(JSON.parse(toJson([a, b])), { apiVersion: 'v1', kind: 'List', items: [a, b] });
  });

  it('writes shared sub-objects in full, without YAML aliases', () => {
    const labels = { app: 'web' };
    const d = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels }, spec: { nodeSelector: labels } };
    const text = toYaml(d);
    assert.equal(text.includes('&'), false);
    assert.deepEqual(parseManifests(text), [d]);
  });
});
