// selectors.ts: label selectors (string form and LabelSelector objects) and field selectors.
//
// String form of a label selector, requirements joined by ",", all of which must hold:
//   app=web  app==web   equality (also: the label is present with this value)
//   tier!=db            inequality (holds when the label is absent too)
//   env in (a,b)        set membership
//   env notin (c)       set exclusion (holds when the label is absent too)
//   has                 the label is present
//   !missing            the label is absent
// The empty string selects everything.

import { SelectorError } from './errors.ts';
import { labelValue, qualifiedName } from './names.ts';
import type { LabelSelector, LabelSelectorRequirement } from './types.ts';

function quote(s: string): string {
  return JSON.stringify(s);
}

function isSpace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r';
}

function isSpecial(c: string): boolean {
  return c === ',' || c === '=' || c === '!' || c === '(' || c === ')' || c === '<' || c === '>' || isSpace(c);
}

/**
 * parseSelector parses the string form of a label selector into a LabelSelector: equality
 * requirements go to matchLabels (a repeated key to matchExpressions), the others to
 * matchExpressions, in order. Throws a SelectorError naming the problem and its position.
 */
export function parseSelector(text: string): LabelSelector {
  const n = text.length;
  let i = 0;
  const fail = (message: string, at: number): never => {
    throw new SelectorError(`invalid label selector ${quote(text)}: ${message} at position ${at + 1}`);
  };
  const skipSpace = () => {
    while (i < n && isSpace(text[i] ?? '')) i++;
  };
  const word = (): string => {
    const start = i;
    while (i < n && !isSpecial(text[i] ?? '')) i++;
    return text.slice(start, i);
  };
  const key = (): string => {
    const at = i;
    const k = word();
    if (k === '') fail(`expected a label key${i < n ? `, got ${quote(text[i] ?? '')}` : ''}`, at);
    const problem = qualifiedName(k);
    if (problem !== undefined) fail(`key ${quote(k)} ${problem}`, at);
    return k;
  };
  const value = (): string => {
    const at = i;
    const v = word();
    const problem = labelValue(v);
    if (problem !== undefined) fail(`value ${quote(v)} ${problem}`, at);
    return v;
  };

  const matchLabels: Record<string, string> = {};
  const matchExpressions: LabelSelectorRequirement[] = [];
  skipSpace();
  if (i === n) return {};
  for (;;) {
    skipSpace();
    if (text[i] === '!' && text[i + 1] !== '=') {
      i++;
      skipSpace();
      matchExpressions.push({ key: key(), operator: 'DoesNotExist' });
    } else {
      const k = key();
      skipSpace();
      const c = text[i];
      if (i === n || c === ',') {
        matchExpressions.push({ key: k, operator: 'Exists' });
      } else if (c === '=') {
        i += text[i + 1] === '=' ? 2 : 1;
        skipSpace();
        const v = value();
        if (Object.hasOwn(matchLabels, k)) matchExpressions.push({ key: k, operator: 'In', values: [v] });
        else matchLabels[k] = v;
      } else if (c === '!' && text[i + 1] === '=') {
        i += 2;
        skipSpace();
        matchExpressions.push({ key: k, operator: 'NotIn', values: [value()] });
      } else if (c === '<' || c === '>') {
        fail(`operator ${quote(c)} is not supported in label selectors`, i);
      } else {
        const at = i;
        const op = word();
        if (op !== 'in' && op !== 'notin') {
          fail(`expected "=", "==", "!=", "in", "notin", "," or the end after key ${quote(k)}`, at);
        }
        skipSpace();
        if (text[i] !== '(') fail(`expected "(" after ${op}`, i);
        i++;
        skipSpace();
        if (text[i] === ')') fail(`the set of values after ${op} must not be empty`, i);
        const values: string[] = [];
        for (;;) {
          skipSpace();
          values.push(value());
          skipSpace();
          if (text[i] === ',') {
            i++;
          } else if (text[i] === ')') {
            i++;
            break;
          } else {
            fail(`expected "," or ")" in the set of values`, i);
          }
        }
        matchExpressions.push({ key: k, operator: op === 'in' ? 'In' : 'NotIn', values });
      }
    }
    skipSpace();
    if (i === n) break;
    if (text[i] !== ',') fail(`expected "," or the end`, i);
    i++;
  }
  const out: LabelSelector = {};
  if (Object.keys(matchLabels).length > 0) out.matchLabels = matchLabels;
  if (matchExpressions.length > 0) out.matchExpressions = matchExpressions;
  return out;
}

/** formatSelector writes a LabelSelector in the string form that parseSelector reads. */
export function formatSelector(selector: LabelSelector): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) parts.push(`${k}=${v}`);
  for (const e of selector.matchExpressions ?? []) {
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        parts.push(`${e.key} in (${values.join(',')})`);
        break;
      case 'NotIn':
        parts.push(values.length === 1 ? `${e.key}!=${values[0]}` : `${e.key} notin (${values.join(',')})`);
        break;
      case 'Exists':
        parts.push(e.key);
        break;
      case 'DoesNotExist':
        parts.push(`!${e.key}`);
        break;
    }
  }
  return parts.join(',');
}

/** selectorFromLabels returns the LabelSelector that Service.spec.selector and nodeSelector maps mean. */
export function selectorFromLabels(labels: Record<string, string>): LabelSelector {
  return { matchLabels: { ...labels } };
}

/** isEmptySelector tells whether a selector has no requirements (it then matches every object). */
export function isEmptySelector(selector: LabelSelector): boolean {
  return Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0;
}

/**
 * matches tells whether `labels` satisfy every requirement of `selector`. An empty selector
 * matches everything; NotIn and "!=" hold when the label is absent. A requirement with an
 * unknown operator matches nothing.
 */
export function matches(selector: LabelSelector, labels: Readonly<Record<string, string>> | undefined): boolean {
  const has = (k: string) => labels !== undefined && Object.hasOwn(labels, k);
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (!has(k) || labels?.[k] !== v) return false;
  }
  for (const e of selector.matchExpressions ?? []) {
    const present = has(e.key);
    const value = present ? labels?.[e.key] : undefined;
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!present || !values.includes(value as string)) return false;
        break;
      case 'NotIn':
        if (present && values.includes(value as string)) return false;
        break;
      case 'Exists':
        if (!present) return false;
        break;
      case 'DoesNotExist':
        if (present) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Field selectors

/** SELECTABLE_FIELDS: the fields a field selector can name. */
export const SELECTABLE_FIELDS = ['metadata.name', 'metadata.namespace', 'spec.nodeName', 'status.phase'] as const;

export type SelectableField = (typeof SELECTABLE_FIELDS)[number];

export interface FieldRequirement {
  readonly field: SelectableField;
  readonly operator: '=' | '!=';
  readonly value: string;
}

/** FieldSelector: requirements on fields, all of which must hold. Empty selects everything. */
export type FieldSelector = readonly FieldRequirement[];

function isSelectableField(s: string): s is SelectableField {
  return (SELECTABLE_FIELDS as readonly string[]).includes(s);
}

/**
 * parseFieldSelector parses `field=value`, `field==value` and `field!=value` requirements joined
 * by ",", e.g. "spec.nodeName=n1,status.phase!=Running". Throws a SelectorError for an
 * unsupported field (listing the supported ones) or a malformed requirement.
 */
export function parseFieldSelector(text: string): FieldSelector {
  if (text.trim() === '') return [];
  return text.split(',').map((part) => {
    const m = /^\s*([^=!\s]+)\s*(==|=|!=)\s*([^=!]*?)\s*$/.exec(part);
    if (m === null) {
      throw new SelectorError(`invalid field selector ${quote(text)}: expected field=value or field!=value, got ${quote(part.trim())}`);
    }
    const field = m[1] ?? '';
    if (!isSelectableField(field)) {
      throw new SelectorError(
        `invalid field selector ${quote(text)}: field ${quote(field)} is not supported; supported fields: ${SELECTABLE_FIELDS.join(', ')}`,
      );
    }
    return { field, operator: m[2] === '!=' ? '!=' : '=', value: m[3] ?? '' };
  });
}

/** formatFieldSelector writes a FieldSelector in the string form parseFieldSelector reads. */
export function formatFieldSelector(selector: FieldSelector): string {
  return selector.map((r) => `${r.field}${r.operator}${r.value}`).join(',');
}

/** fieldValue reads a selectable field of an object; absent fields read as "". */
export function fieldValue(obj: unknown, field: SelectableField): string {
  let cur: unknown = obj;
  for (const part of field.split('.')) {
    if (typeof cur !== 'object' || cur === null) return '';
    cur = (cur as Record<string, unknown>)[part];
  }
  return typeof cur === 'string' ? cur : '';
}

/** matchesFields tells whether `obj` satisfies every requirement of a field selector. */
export function matchesFields(selector: FieldSelector, obj: unknown): boolean {
  return selector.every((r) => (fieldValue(obj, r.field) === r.value) === (r.operator === '='));
}
