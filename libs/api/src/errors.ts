// errors.ts: the errors @tugboat/api throws for bad input. Each has a stable `name` and an
// `isXError` guard, so callers can tell expected failures from bugs without instanceof across
// module copies.

/** ValidationIssue is one problem found in an object: the field's path and what is wrong. */
export interface ValidationIssue {
  /** Dotted path with indexes, e.g. "spec.template.spec.containers[0].image"; "" for the object itself. */
  readonly path: string;
  readonly message: string;
}

/**
 * ApiValidationError: an object was refused. `issues` lists every problem; the message has one
 * line per issue, `Kind/name: path: message`.
 */
export class ApiValidationError extends Error {
  override readonly name = 'ApiValidationError';
  /** The object's kind as written ("" when it has none). */
  readonly kind: string;
  /** The object's name as written ("" when it has none). */
  readonly objectName: string;
  readonly issues: readonly ValidationIssue[];

  constructor(kind: string, objectName: string, issues: readonly ValidationIssue[]) {
    const who = `${kind || '<no kind>'}/${objectName || '<no name>'}`;
    super(issues.map((i) => (i.path ? `${who}: ${i.path}: ${i.message}` : `${who}: ${i.message}`)).join('\n'));
    this.kind = kind;
    this.objectName = objectName;
    this.issues = issues;
  }
}

export function isApiValidationError(e: unknown): e is ApiValidationError {
  return e instanceof Error && e.name === 'ApiValidationError';
}

/** UnknownKindError: a kind or resource name that tugboat does not serve. The message lists the known kinds. */
export class UnknownKindError extends Error {
  override readonly name = 'UnknownKindError';
  readonly requested: string;

  constructor(requested: string, message: string) {
    super(message);
    this.requested = requested;
  }
}

export function isUnknownKindError(e: unknown): e is UnknownKindError {
  return e instanceof Error && e.name === 'UnknownKindError';
}

/** ManifestError: a manifest that is not well-formed YAML or JSON, or a document that is not an object. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  /** 1-based number of the document in the stream (empty documents count). */
  readonly document: number;
  /** 1-based line in the whole text. */
  readonly line: number;

  constructor(document: number, line: number, detail: string) {
    super(`document ${document} (line ${line}): ${detail}`);
    this.document = document;
    this.line = line;
  }
}

export function isManifestError(e: unknown): e is ManifestError {
  return e instanceof Error && e.name === 'ManifestError';
}

/** SelectorError: a label or field selector that does not parse or is invalid. */
export class SelectorError extends Error {
  override readonly name = 'SelectorError';
}

export function isSelectorError(e: unknown): e is SelectorError {
  return e instanceof Error && e.name === 'SelectorError';
}

/** QuantityError: a resource quantity that does not parse. The message quotes the bad value. */
export class QuantityError extends Error {
  override readonly name = 'QuantityError';
}

export function isQuantityError(e: unknown): e is QuantityError {
  return e instanceof Error && e.name === 'QuantityError';
}
