// manifest.ts: manifests (multi-document YAML or JSON) <-> objects.
//
// YAML is read as YAML 1.1, as Kubernetes reads it (`defaultMode: 0644` is octal, `yes` is a
// boolean), except that timestamps stay strings. Text whose first character is "{" or "[" is
// read as JSON. Duplicate keys are errors.

import { LineCounter, parseAllDocuments, stringify } from 'yaml';
import type { Document, ParsedNode, Tags } from 'yaml';
import { ManifestError } from './errors.ts';
import { findKind } from './kinds.ts';

/** MANIFEST_TEXT_LENGTH_MAX: the longest manifest text parseManifests reads (16 Mi characters). */
export const MANIFEST_TEXT_LENGTH_MAX = 16 * 1024 * 1024;

/** MANIFEST_OBJECTS_MAX: the most objects one manifest may hold. */
export const MANIFEST_OBJECTS_MAX = 10_000;

/** ManifestObject: an object as read from a manifest, before validation. */
export type ManifestObject = Record<string, unknown>;

/** ManifestDocument: one object of a manifest and where it came from. */
export interface ManifestDocument {
  readonly object: ManifestObject;
  /** 1-based number of the YAML document (empty documents count). */
  readonly document: number;
  /** 1-based line where the object starts. */
  readonly line: number;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return `a ${typeof v}`;
}

const withoutTimestamps = (tags: Tags): Tags => tags.filter((t) => !(typeof t === 'object' && t.tag.endsWith(':timestamp')));

/**
 * parseManifestDocuments reads every object of a manifest with its document number and line.
 * Empty documents are skipped; a `List` (or `PodList`, ...) expands to its items. Throws a
 * ManifestError naming the document and line of the first problem: malformed YAML or JSON, a
 * document that is not a mapping, or a List without an `items` list.
 */
export function parseManifestDocuments(text: string): ManifestDocument[] {
  if (text.length > MANIFEST_TEXT_LENGTH_MAX) {
    throw new ManifestError(1, 1, `manifest is longer than ${MANIFEST_TEXT_LENGTH_MAX} characters`);
  }
  const lineCounter = new LineCounter();
  const json = /^\s*[[{]/.test(text);
  const docs = json
    ? parseAllDocuments(text, { schema: 'json', lineCounter })
    : parseAllDocuments(text, { version: '1.1', customTags: withoutTimestamps, lineCounter });
  const lineAt = (offset: number) => lineCounter.linePos(offset).line;
  const out: ManifestDocument[] = [];
  const docList: Document.Parsed[] = Array.isArray(docs) ? docs : [];

  docList.forEach((doc, i) => {
    const number = i + 1;
    const first = doc.errors[0];
    if (first !== undefined) {
      const pos = first.linePos?.[0] ?? lineCounter.linePos(first.pos[0]);
      const detail = (first.message.split('\n')[0] ?? first.message).replace(/ at line \d+, column \d+:?$/, '');
      throw new ManifestError(number, pos.line, `${json ? 'invalid JSON' : 'invalid YAML'}: ${detail} (column ${pos.col})`);
    }
    const contents: ParsedNode | null = doc.contents;
    if (contents === null) return;
    const line = lineAt(contents.range[0]);
    let value: unknown;
    try {
      // Unresolved aliases and alias bombs (more than maxAliasCount expansions) throw here.
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (e) {
      throw new ManifestError(number, line, `${json ? 'invalid JSON' : 'invalid YAML'}: ${(e as Error).message}`);
    }
    if (value === null || value === undefined) return;
    if (Array.isArray(value) && json) {
      // A JSON array of objects is read as a List.
      expandItems(value, contents, number, line, lineAt, out, undefined);
      return;
    }
    if (!isPlainObject(value)) {
      throw new ManifestError(number, line, `expected a mapping with apiVersion and kind, got ${typeName(value)}`);
    }
    const kind = value['kind'];
    if (typeof kind === 'string' && kind.endsWith('List') && (kind === 'List' || findKind(kind.slice(0, -4))?.kind === kind.slice(0, -4))) {
      const items = value['items'];
      if (items === undefined || items === null) return;
      if (!Array.isArray(items)) throw new ManifestError(number, line, `${kind}: items must be a list, got ${typeName(items)}`);
      const itemsNode = 'get' in contents ? (contents.get('items', true) as ParsedNode | undefined) : undefined;
      const itemKind = kind === 'List' ? undefined : findKind(kind.slice(0, -4));
      expandItems(items, itemsNode, number, line, lineAt, out, itemKind && { kind: itemKind.kind, apiVersion: itemKind.apiVersion });
      return;
    }
    out.push({ object: value, document: number, line });
  });
  if (out.length > MANIFEST_OBJECTS_MAX) throw new ManifestError(1, 1, `manifest holds more than ${MANIFEST_OBJECTS_MAX} objects`);
  return out;
}

function expandItems(
  items: unknown[],
  node: ParsedNode | undefined,
  number: number,
  line: number,
  lineAt: (offset: number) => number,
  out: ManifestDocument[],
  typeMeta: { kind: string; apiVersion: string } | undefined,
): void {
  items.forEach((item, j) => {
    const itemNode = node !== undefined && 'items' in node ? (node.items[j] as ParsedNode | undefined) : undefined;
    const itemLine = itemNode !== undefined && 'range' in itemNode && itemNode.range ? lineAt(itemNode.range[0]) : line;
    if (!isPlainObject(item)) throw new ManifestError(number, itemLine, `items[${j}]: expected a mapping, got ${typeName(item)}`);
    const object = typeMeta === undefined ? item : { apiVersion: typeMeta.apiVersion, kind: typeMeta.kind, ...item };
    out.push({ object, document: number, line: itemLine });
  });
}

/** parseManifests reads every object of a multi-document YAML or JSON manifest (see parseManifestDocuments). */
export function parseManifests(text: string): ManifestObject[] {
  return parseManifestDocuments(text).map((d) => d.object);
}

/**
 * toYaml writes objects as a multi-document YAML manifest ("---" between documents), one object
 * as a single document. Strings that YAML 1.1 would read as something else ("yes", "0644") are
 * quoted, so parseManifests reads back exactly what was written.
 */
export function toYaml(objects: unknown): string {
  const list: readonly unknown[] = Array.isArray(objects) ? objects : [objects];
  return list
    .map((o) => stringify(o, { version: '1.1', customTags: withoutTimestamps, lineWidth: 0, aliasDuplicateObjects: false }))
    .join('---\n');
}

/**
 * toJson writes objects as indented JSON: one object as itself, several as a `List` with the
 * objects in `items`, as kubectl does.
 */
export function toJson(objects: unknown): string {
  const value = Array.isArray(objects)
    ? objects.length === 1
      ? objects[0]
      : { apiVersion: 'v1', kind: 'List', items: objects }
    : objects;
  return `${JSON.stringify(value, null, 2)}\n`;
}
