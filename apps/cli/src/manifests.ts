// manifests.ts: reading -f sources (files, directories, stdin), checking them, and the
// three-way merge behind `tug apply`.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ANNOTATIONS_BYTES_MAX, applyDefaults, findKind, isManifestError, parseManifestDocuments, validate } from '@tugboat/api';
import type { ValidationIssue } from '@tugboat/api';
import { CliError } from './errors.ts';

/** LAST_APPLIED is the annotation where apply keeps the manifest it last applied, to tell the
 *  fields a user removed from the ones the cluster filled in. */
export const LAST_APPLIED = 'tugboat.io/last-applied-configuration';

/** SERVER_METADATA are the metadata fields the server owns; apply never sends them. */
const SERVER_METADATA = ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'managedFields'];

export type Json = Record<string, unknown>;

/** Source is one manifest text and where it came from. */
export interface Source {
  readonly name: string;
  readonly text: string;
}

/** ManifestObject is one object read from a source. */
export interface SourcedObject {
  readonly object: Json;
  readonly source: string;
  readonly document: number;
  readonly line: number;
}

const manifestExtensions = ['.yaml', '.yml', '.json'];

/** readSources reads -f arguments: "-" is stdin (read once), a directory gives its .yaml, .yml
 *  and .json files in name order (not recursing), anything else is a file. */
export async function readSources(paths: readonly string[], stdin: () => Promise<string>): Promise<Source[]> {
  const out: Source[] = [];
  let stdinUsed = false;
  for (const p of paths) {
    if (p === '-') {
      if (stdinUsed) throw new CliError('-f -: standard input can be read only once');
      stdinUsed = true;
      out.push({ name: '<stdin>', text: await stdin() });
      continue;
    }
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new CliError(`-f ${p}: ${code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
    }
    if (isDir) {
      const names = readdirSync(p)
        .filter((n) => manifestExtensions.some((e) => n.toLowerCase().endsWith(e)))
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const n of names) {
        const f = join(p, n);
        if (statSync(f).isFile()) out.push({ name: f, text: readText(f) });
      }
      continue;
    }
    out.push({ name: p, text: readText(p) });
  }
  return out;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliError(`-f ${path}: ${(err as Error).message}`);
  }
}

/** Problem is what is wrong with one object (or one source that does not parse). */
export interface Problem {
  /** where: "app.yaml: document 2 (line 14): Pod/web". */
  readonly where: string;
  /** source: the whole source does not parse (else one object is invalid). */
  readonly source: boolean;
  readonly issues: readonly ValidationIssue[];
}

function label(o: Json): string {
  const meta = (typeof o['metadata'] === 'object' && o['metadata'] !== null ? o['metadata'] : {}) as Json;
  const kind = typeof o['kind'] === 'string' && o['kind'] !== '' ? o['kind'] : '<no kind>';
  const name = typeof meta['name'] === 'string' && meta['name'] !== '' ? meta['name'] : '<no name>';
  return `${kind}/${name}`;
}

/**
 * loadObjects parses every source and checks every object: well-formed, valid by @tugboat/api,
 * named, and in the namespace given (-n) when one was given explicitly. Objects of namespaced
 * kinds without a namespace get `namespace`. Returns the objects, or every problem found.
 */
export function loadObjects(
  sources: readonly Source[],
  namespace: string,
  explicitNamespace: boolean,
  opts: { validate: boolean } = { validate: true },
): { objects: SourcedObject[]; problems: Problem[] } {
  const objects: SourcedObject[] = [];
  const problems: Problem[] = [];
  for (const src of sources) {
    let docs;
    try {
      docs = parseManifestDocuments(src.text);
    } catch (err) {
      if (!isManifestError(err)) throw err;
      problems.push({ where: src.name, source: true, issues: [{ path: '', message: err.message }] });
      continue;
    }
    for (const d of docs) {
      const object = structuredClone(d.object);
      const where = `${src.name}: document ${d.document} (line ${d.line}): ${label(object)}`;
      const issues: ValidationIssue[] = [];
      const info = typeof object['kind'] === 'string' ? findKind(object['kind']) : undefined;
      const meta = object['metadata'];
      if (info !== undefined && info.kind === object['kind'] && typeof meta === 'object' && meta !== null && !Array.isArray(meta)) {
        const m = meta as Json;
        if (info.namespaced) {
          const ns = m['namespace'];
          if (ns === undefined || ns === null || ns === '') m['namespace'] = namespace;
          else if (explicitNamespace && ns !== namespace) {
            issues.push({ path: 'metadata.namespace', message: `${JSON.stringify(ns)} does not match the namespace ${JSON.stringify(namespace)} given with -n` });
          }
        }
        if (typeof m['name'] !== 'string' || m['name'] === '') {
          if (m['generateName'] !== undefined) issues.push({ path: 'metadata.name', message: 'required (generateName is not supported here)' });
        }
      }
      if (opts.validate) issues.push(...validate(object));
      else {
        if (info === undefined || info.kind !== object['kind']) issues.push({ path: 'kind', message: `unknown kind ${JSON.stringify(object['kind'])}` });
        if (typeof (meta as Json | undefined)?.['name'] !== 'string') issues.push({ path: 'metadata.name', message: 'required' });
      }
      if (issues.length > 0) problems.push({ where, source: false, issues });
      else objects.push({ object, source: src.name, document: d.document, line: d.line });
    }
  }
  return { objects, problems };
}

/** summarizeProblems counts problems: "1 manifest does not parse; 2 objects are invalid". */
export function summarizeProblems(problems: readonly Problem[]): string {
  const sources = problems.filter((p) => p.source).length;
  const objects = problems.length - sources;
  const parts: string[] = [];
  if (sources > 0) parts.push(sources === 1 ? '1 manifest does not parse' : `${sources} manifests do not parse`);
  if (objects > 0) parts.push(objects === 1 ? '1 object is invalid' : `${objects} objects are invalid`);
  return parts.join('; ');
}

/** formatProblems writes problems for stderr, one object per paragraph, one issue per line. */
export function formatProblems(problems: readonly Problem[]): string {
  return problems
    .map((p) => `error: ${p.where}:\n${p.issues.map((i) => `  ${i.path === '' ? '' : `${i.path}: `}${i.message}`).join('\n')}\n`)
    .join('');
}

// ---------------------------------------------------------------------------------------------
// Three-way merge

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** sameJson compares JSON values; key order does not matter. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameJson(a[k], b[k]));
  }
  return false;
}

/**
 * merge3 merges what the user wants (`desired`) into what is stored (`live`), knowing what the
 * user asked for last time (`last`): a field in desired wins; a field only in live is kept
 * (the cluster filled it in) unless last had it (the user removed it). Maps merge key by key;
 * lists of the same length merge element by element (so a nodePort the cluster allocated
 * survives); other lists and scalars are replaced.
 */
export function merge3(live: unknown, desired: unknown, last: unknown): unknown {
  if (isObj(desired) && isObj(live)) {
    const out: Json = {};
    const lastObj = isObj(last) ? last : undefined;
    for (const [k, v] of Object.entries(live)) {
      if (Object.hasOwn(desired, k)) out[k] = merge3(v, desired[k], lastObj?.[k]);
      else if (lastObj === undefined || !Object.hasOwn(lastObj, k)) out[k] = v;
    }
    for (const [k, v] of Object.entries(desired)) if (!Object.hasOwn(live, k)) out[k] = v;
    return out;
  }
  if (Array.isArray(desired) && Array.isArray(live) && desired.length === live.length) {
    return desired.map((d, i) => merge3(live[i], d, Array.isArray(last) ? last[i] : undefined));
  }
  return structuredClone(desired);
}

/** manifestForApply is the manifest as apply sends and records it: without status and server
 *  metadata, with the last-applied annotation holding that same manifest (unless it would make
 *  the annotations too large, in which case a later apply cannot tell removed fields). */
export function manifestForApply(object: Json): Json {
  const m = structuredClone(object);
  delete m['status'];
  const meta: Json = isObj(m['metadata']) ? m['metadata'] : {};
  m['metadata'] = meta;
  for (const f of SERVER_METADATA) delete meta[f];
  const annotations: Json = isObj(meta['annotations']) ? meta['annotations'] : {};
  delete annotations[LAST_APPLIED];
  if (Object.keys(annotations).length === 0) delete meta['annotations'];
  else meta['annotations'] = annotations;
  const recorded = canonicalJson(m['kind'] === 'Secret' ? redacted(m) : m);
  const size = Object.entries(annotations).reduce((n, [k, v]) => n + k.length + String(v).length, 0);
  if (size + LAST_APPLIED.length + Buffer.byteLength(recorded) <= ANNOTATIONS_BYTES_MAX) {
    meta['annotations'] = { ...annotations, [LAST_APPLIED]: recorded };
  }
  return m;
}

/** canonicalJson is JSON with every map's keys in sorted order, so that the record of a
 *  manifest does not depend on the order its file wrote them in. */
function canonicalJson(v: unknown): string {
  const sorted = (x: unknown): unknown =>
    Array.isArray(x) ? x.map(sorted) : isObj(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, sorted(x[k])])) : x;
  return JSON.stringify(sorted(v));
}

/** redacted is a Secret with its values blanked: the merge needs only the keys, and secret
 *  values must not be copied into an annotation anyone who can read the object sees. */
function redacted(secret: Json): Json {
  const out = { ...secret };
  for (const f of ['data', 'stringData']) {
    const v = secret[f];
    if (isObj(v)) out[f] = Object.fromEntries(Object.keys(v).map((k) => [k, '']));
  }
  return out;
}

/** lastApplied reads the manifest a stored object was last applied with, if any. */
export function lastApplied(live: Json): Json | undefined {
  const meta = isObj(live['metadata']) ? live['metadata'] : {};
  const text = isObj(meta['annotations']) ? meta['annotations'][LAST_APPLIED] : undefined;
  if (typeof text !== 'string') return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return isObj(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * planApply decides what apply does with one object given the stored one: undefined when
 * nothing changes ("unchanged"), else the object to update with (carrying the stored
 * resourceVersion, so the update is a compare-and-swap). `status` and server metadata are
 * always kept as stored.
 */
export function planApply(live: Json, manifest: Json): Json | undefined {
  const desired = applyDefaults(manifestForApply(manifest));
  const merged = merge3(live, desired, lastApplied(live)) as Json;
  const liveMeta = (isObj(live['metadata']) ? live['metadata'] : {}) as Json;
  const mergedMeta = (isObj(merged['metadata']) ? merged['metadata'] : {}) as Json;
  for (const f of SERVER_METADATA) {
    if (liveMeta[f] === undefined) delete mergedMeta[f];
    else mergedMeta[f] = liveMeta[f];
  }
  if (live['status'] === undefined) delete merged['status'];
  else merged['status'] = live['status'];
  // A record that says the same as the stored one (an object last applied by an older tug,
  // which kept the file's key order) is left as stored.
  const recorded = lastApplied(merged);
  const stored = lastApplied(live);
  const mergedAnnotations = mergedMeta['annotations'];
  if (recorded !== undefined && stored !== undefined && sameJson(recorded, stored) && isObj(mergedAnnotations)) {
    mergedAnnotations[LAST_APPLIED] = (liveMeta['annotations'] as Json)[LAST_APPLIED];
  }
  return sameJson(merged, live) ? undefined : merged;
}
