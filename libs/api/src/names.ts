// names.ts: string formats of the API (Kubernetes rules): DNS-1123 names, label keys and values,
// port names, configuration keys, environment variable names, base64, timestamps, addresses.
//
// Each format is a function that returns undefined for a valid value, or a description of the
// rule ("must be a DNS-1123 label (...)") for an invalid one.

import { isIPv4, isIP } from 'node:net';

/** FormatCheck returns undefined when `value` is valid, else what the value must be. */
export type FormatCheck = (value: string) => string | undefined;

const DNS1123_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL_RE = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME_PART_RE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const IANA_SVC_NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const CONFIG_KEY_RE = /^[-._a-zA-Z0-9]+$/;
const ENV_VAR_NAME_RE = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

export const DNS1123_LABEL_LENGTH_MAX = 63;
export const DNS1123_SUBDOMAIN_LENGTH_MAX = 253;
export const LABEL_VALUE_LENGTH_MAX = 63;

/** isDns1123Label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters. */
export function isDns1123Label(s: string): boolean {
  return s.length <= DNS1123_LABEL_LENGTH_MAX && DNS1123_LABEL_RE.test(s);
}

/** isDns1123Subdomain: DNS-1123 labels joined by '.', at most 253 characters. */
export function isDns1123Subdomain(s: string): boolean {
  return s.length <= DNS1123_SUBDOMAIN_LENGTH_MAX && DNS1123_SUBDOMAIN_RE.test(s);
}

/** isDns1035Label: a DNS-1123 label that starts with a letter (Service names). */
export function isDns1035Label(s: string): boolean {
  return s.length <= DNS1123_LABEL_LENGTH_MAX && DNS1035_LABEL_RE.test(s);
}

/** isQualifiedName: a label key: optional DNS-1123 subdomain prefix and '/', then a name of at most 63 characters. */
export function isQualifiedName(s: string): boolean {
  return qualifiedName(s) === undefined;
}

/** isLabelValue: empty, or at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit. */
export function isLabelValue(s: string): boolean {
  return labelValue(s) === undefined;
}

export const dns1123Label: FormatCheck = (s) =>
  isDns1123Label(s)
    ? undefined
    : `must be a DNS-1123 label (lowercase letters, digits and '-'; starting and ending with a letter or digit; at most ${DNS1123_LABEL_LENGTH_MAX} characters)`;

export const dns1123Subdomain: FormatCheck = (s) =>
  isDns1123Subdomain(s)
    ? undefined
    : `must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.'; starting and ending with a letter or digit; at most ${DNS1123_SUBDOMAIN_LENGTH_MAX} characters)`;

export const dns1035Label: FormatCheck = (s) =>
  isDns1035Label(s)
    ? undefined
    : `must be a DNS-1035 label (lowercase letters, digits and '-'; starting with a letter and ending with a letter or digit; at most ${DNS1123_LABEL_LENGTH_MAX} characters)`;

export const qualifiedName: FormatCheck = (s) => {
  const slash = s.indexOf('/');
  const prefix = slash < 0 ? undefined : s.slice(0, slash);
  const name = slash < 0 ? s : s.slice(slash + 1);
  if (prefix !== undefined && !isDns1123Subdomain(prefix)) {
    return "must be a qualified name: the prefix before '/' must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.')";
  }
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME_PART_RE.test(name)) {
    return "must be a qualified name (an optional DNS-1123 subdomain prefix and '/', then at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit)";
  }
  return undefined;
};

export const labelValue: FormatCheck = (s) =>
  s === '' || (s.length <= LABEL_VALUE_LENGTH_MAX && QUALIFIED_NAME_PART_RE.test(s))
    ? undefined
    : `must be a label value (empty, or at most ${LABEL_VALUE_LENGTH_MAX} letters, digits, '-', '_' and '.', starting and ending with a letter or digit)`;

export const portName: FormatCheck = (s) =>
  s.length <= 15 && IANA_SVC_NAME_RE.test(s) && /[a-z]/.test(s) && !s.includes('--')
    ? undefined
    : "must be a port name (at most 15 lowercase letters, digits and '-'; at least one letter; starting and ending with a letter or digit; no '--')";

export const configKey: FormatCheck = (s) =>
  s.length <= DNS1123_SUBDOMAIN_LENGTH_MAX && CONFIG_KEY_RE.test(s) && s !== '.' && s !== '..'
    ? undefined
    : "must be a key of letters, digits, '-', '_' and '.' (not '.' or '..', at most 253 characters)";

export const envVarName: FormatCheck = (s) =>
  ENV_VAR_NAME_RE.test(s) ? undefined : "must be an environment variable name (letters, digits, '_', '-' and '.', not starting with a digit)";

export const base64: FormatCheck = (s) => (BASE64_RE.test(s) ? undefined : 'must be base64-encoded (standard alphabet, with padding)');

export const rfc3339: FormatCheck = (s) =>
  RFC3339_RE.test(s) && !Number.isNaN(Date.parse(s)) ? undefined : 'must be an RFC 3339 timestamp such as 2024-01-02T15:04:05Z';

export const ipv4: FormatCheck = (s) => (isIPv4(s) ? undefined : 'must be an IPv4 address');

export const ip: FormatCheck = (s) => (isIP(s) !== 0 ? undefined : 'must be an IP address');

export const cidr: FormatCheck = (s) => {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  const addr = m?.[1] ?? '';
  const bits = Number(m?.[2] ?? '-1');
  const family = isIP(addr);
  if (family === 0 || bits < 0 || bits > (family === 4 ? 32 : 128)) return 'must be a CIDR such as 10.244.1.0/24';
  return undefined;
};

export const absolutePath: FormatCheck = (s) =>
  s.startsWith('/') && !s.split('/').includes('..') ? undefined : "must be an absolute path without '..'";

export const relativePath: FormatCheck = (s) =>
  s !== '' && !s.startsWith('/') && !s.split('/').includes('..') ? undefined : "must be a relative path without '..'";

export const image: FormatCheck = (s) => (s.trim() === s && s !== '' && !/\s/.test(s) ? undefined : 'must be an image reference without spaces');

export const percent: FormatCheck = (s) => (/^\d+%$/.test(s) ? undefined : 'must be an integer or a percentage such as 25%');

/** generateName is valid when the name made from it (prefix + random suffix) can be valid. */
export function generateNameCheck(nameCheck: FormatCheck): FormatCheck {
  return (s) => {
    const problem = nameCheck(`${s.replace(/-+$/, '')}-x`);
    return problem === undefined ? undefined : `must be a prefix of a valid name: ${problem.replace(/^must be /, '')}`;
  };
}
