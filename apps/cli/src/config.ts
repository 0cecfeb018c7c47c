// config.ts: where `tug` finds the cluster.
//
// The config file (default ~/.tug/config, or $TUG_CONFIG, or --config) is YAML:
//
//   current-context: lab
//   contexts:
//     - name: lab
//       endpoints: [10.0.0.11:7400, 10.0.0.12:7400, 10.0.0.13:7400]
//       namespace: web          # optional: the default for -n
//       certificate-authority: /etc/tugboat/pki/ca.crt   # mutual TLS: the cluster CA,
//       client-certificate: /etc/tugboat/pki/admin.crt  # this client's certificate
//       client-key: /etc/tugboat/pki/admin.key          # and its key (all three, or none)
//     - name: local
//       endpoints: [127.0.0.1:7400]
//
// Endpoints, first found wins: --endpoints a,b,c; the context named by --context; $TUG_ENDPOINTS
// (comma-separated); the config's current-context; 127.0.0.1:7400 (tug-control's default API
// address). Certificates: --certificate-authority, --client-certificate and --client-key, else
// those of the context the endpoints came from, else none (plain text, which a cluster refuses
// unless it runs with --insecure-plaintext).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TOKEN_FORM, TOKEN_RE } from '@tugboat/pki';
import type { TlsFiles } from '@tugboat/pki';
import { parse, stringify } from 'yaml';
import { CliError, UsageError } from './errors.ts';

/** DEFAULT_ENDPOINT is tug-control's default API address. */
export const DEFAULT_ENDPOINT = '127.0.0.1:7400';

/** Context is one named cluster of the config file. */
export interface Context {
  readonly name: string;
  readonly endpoints: readonly string[];
  readonly namespace?: string;
  /** tls: the files of mutual TLS with this cluster. */
  readonly tls?: TlsFiles;
  /** bearer: or the CA and an API token (`tug token create --role admin|viewer`). */
  readonly bearer?: BearerFiles;
}

/** BearerFiles: the CA file to trust and the API token to call with, ID.SECRET. */
export interface BearerFiles {
  readonly caFile: string;
  readonly token: string;
}

/** Config is the config file, as read. */
export interface Config {
  readonly path: string;
  readonly currentContext: string;
  readonly contexts: readonly Context[];
}

/** Target is where commands go. */
export interface Target {
  readonly endpoints: readonly string[];
  /** namespace is the context's default namespace ("" when it has none). */
  readonly namespace: string;
  /** source says where the endpoints came from, for messages. */
  readonly source: string;
  /** tls: the files to dial with; undefined for plain text (or a token). */
  readonly tls: TlsFiles | undefined;
  /** bearer: the CA and the API token to dial with instead of a certificate. */
  readonly bearer?: BearerFiles | undefined;
}

/** TLS_FIELDS: the context fields of TLS and the TlsFiles field each fills. */
const TLS_FIELDS = [
  ['certificate-authority', 'caFile'],
  ['client-certificate', 'certFile'],
  ['client-key', 'keyFile'],
] as const;

/** splitEndpoints reads "a:1, b:2" into ["a:1", "b:2"]; throws with `what` naming a bad one. */
export function splitEndpoints(text: string, what: string): string[] {
  const list = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (list.length === 0) throw new UsageError(`${what}: give at least one HOST:PORT`);
  for (const e of list) checkEndpoint(e, what);
  return list;
}

function checkEndpoint(e: string, what: string): void {
  const m = /^([^\s/:]+|\[[0-9a-fA-F:.]+\]):(\d{1,5})$/.exec(e);
  if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new UsageError(`${what}: ${JSON.stringify(e)} is not HOST:PORT`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** parseConfig reads config text; throws a CliError naming the field of any problem. */
export function parseConfig(text: string, path: string): Config {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new CliError(`config ${path}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return { path, currentContext: '', contexts: [] };
  const bad = (field: string, problem: string): never => {
    throw new CliError(`config ${path}: ${field}: ${problem}`);
  };
  if (!isObject(doc)) return bad('(top level)', 'must be a mapping with current-context and contexts');
  for (const k of Object.keys(doc)) if (k !== 'current-context' && k !== 'contexts') bad(k, 'unknown field (known: current-context, contexts)');
  const current = doc['current-context'] ?? '';
  if (typeof current !== 'string') bad('current-context', 'must be a string');
  const raw = doc['contexts'] ?? [];
  if (!Array.isArray(raw)) return bad('contexts', 'must be a list');
  const contexts: Context[] = raw.map((c: unknown, i): Context => {
    const at = `contexts[${i}]`;
    if (!isObject(c)) return bad(at, 'must be a mapping with name and endpoints');
    const known = ['name', 'endpoints', 'namespace', ...TLS_FIELDS.map(([f]) => f), 'token'];
    for (const k of Object.keys(c)) if (!known.includes(k)) bad(`${at}.${k}`, `unknown field (known: ${known.join(', ')})`);
    const name = c['name'];
    if (typeof name !== 'string' || name === '') bad(`${at}.name`, 'required');
    const eps = c['endpoints'];
    const list = typeof eps === 'string' ? eps.split(',').map((s) => s.trim()) : eps;
    if (!Array.isArray(list) || list.length === 0 || !list.every((e) => typeof e === 'string' && e !== '')) {
      bad(`${at}.endpoints`, 'must be a non-empty list of HOST:PORT');
    }
    for (const e of list as string[]) {
      try {
        checkEndpoint(e, `${at}.endpoints`);
      } catch (err) {
        bad(`${at}.endpoints`, (err as Error).message.slice(`${at}.endpoints: `.length));
      }
    }
    const ns = c['namespace'];
    if (ns !== undefined && typeof ns !== 'string') bad(`${at}.namespace`, 'must be a string');
    const creds = credentials((field) => {
      const v = c[field];
      if (v !== undefined && (typeof v !== 'string' || v === '')) bad(`${at}.${field}`, field === 'token' ? 'must be a token, ID.SECRET' : 'must be a file path');
      return v as string | undefined;
    }, (field, problem) => bad(`${at}.${field}`, problem));
    return { name: name as string, endpoints: list as string[], ...(typeof ns === 'string' && ns !== '' ? { namespace: ns } : {}), ...creds };
  });
  const names = new Set<string>();
  contexts.forEach((c, i) => {
    if (names.has(c.name)) bad(`contexts[${i}].name`, `duplicate context ${JSON.stringify(c.name)}`);
    names.add(c.name);
  });
  if (current !== '' && !names.has(current as string)) {
    bad('current-context', `${JSON.stringify(current)} is not one of the contexts (${[...names].join(', ') || 'none'})`);
  }
  return { path, currentContext: current as string, contexts };
}

/** credentials reads the credential settings by field name (get): the three TLS settings, or a
 *  token with certificate-authority, or none. */
function credentials(get: (field: string) => string | undefined, bad: (field: string, problem: string) => never): { tls?: TlsFiles; bearer?: BearerFiles } {
  const values = TLS_FIELDS.map(([field]) => get(field));
  const token = get('token');
  if (token !== undefined) {
    if (!TOKEN_RE.test(token)) bad('token', `is not an API token: ${TOKEN_FORM}`);
    if (values[1] !== undefined || values[2] !== undefined) bad('token', 'cannot be combined with client-certificate and client-key (one credential or the other)');
    if (values[0] === undefined) bad('certificate-authority', 'is required with token (the CA the cluster is checked against)');
    return { bearer: { caFile: values[0] ?? '', token } };
  }
  if (values.every((v) => v === undefined)) return {};
  const missing = TLS_FIELDS.find((_, i) => values[i] === undefined);
  if (missing !== undefined) bad(missing[0], `is required with ${TLS_FIELDS.filter((_, i) => values[i] !== undefined).map(([f]) => f).join(' and ')}`);
  return { tls: { caFile: values[0] ?? '', certFile: values[1] ?? '', keyFile: values[2] ?? '' } };
}

/** redactToken shows a token by its ID only: its secret is not printed. */
export function redactToken(token: string): string {
  return `${token.split('.')[0] ?? ''}.REDACTED`;
}

/** TargetInputs are the flags and environment that choose a Target. */
export interface TargetInputs {
  readonly endpoints?: string | undefined;
  readonly context?: string | undefined;
  readonly config?: string | undefined;
  /** The credential flags, by context field name (certificate-authority, ..., token). */
  readonly tls?: Readonly<Record<string, string | undefined>>;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly homedir: string;
}

/** configPath is the config file to read and whether the user named it. */
export function configPath(inputs: TargetInputs): { path: string; explicit: boolean } {
  if (inputs.config !== undefined && inputs.config !== '') return { path: inputs.config, explicit: true };
  const env = inputs.env['TUG_CONFIG'];
  if (env !== undefined && env !== '') return { path: env, explicit: true };
  return { path: join(inputs.homedir, '.tug', 'config'), explicit: false };
}

/** loadConfig reads the config file; a missing default file reads as empty. */
export function loadConfig(inputs: TargetInputs): Config {
  const { path, explicit } = configPath(inputs);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return { path, currentContext: '', contexts: [] };
    throw new CliError(`config ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  return parseConfig(text, path);
}

/** configForWrite reads the config file, or an empty one when the file does not exist yet
 *  (named or not): what a command that adds a context starts from. */
export function configForWrite(inputs: TargetInputs): Config {
  const { path } = configPath(inputs);
  return existsSync(path) ? loadConfig(inputs) : { path, currentContext: '', contexts: [] };
}

/** renderConfig writes a Config as the YAML parseConfig reads; `redacted` (to show it) leaves
 *  token secrets out. */
export function renderConfig(config: Omit<Config, 'path'>, opts: { redacted?: boolean } = {}): string {
  return stringify(
    {
      'current-context': config.currentContext,
      contexts: config.contexts.map((c) => ({
        name: c.name,
        endpoints: [...c.endpoints],
        ...(c.namespace === undefined ? {} : { namespace: c.namespace }),
        ...(c.tls === undefined ? {} : Object.fromEntries(TLS_FIELDS.map(([field, key]) => [field, c.tls?.[key]]))),
        ...(c.bearer === undefined ? {} : { 'certificate-authority': c.bearer.caFile, token: opts.redacted === true ? redactToken(c.bearer.token) : c.bearer.token }),
      })),
    },
    { flow: false },
  );
}

/** withContext returns the config with ctx added (or replacing the context of that name), current if asked. */
export function withContext(config: Config, ctx: Context, makeCurrent: boolean): Config {
  const contexts = config.contexts.some((c) => c.name === ctx.name) ? config.contexts.map((c) => (c.name === ctx.name ? ctx : c)) : [...config.contexts, ctx];
  return { ...config, contexts, currentContext: makeCurrent ? ctx.name : config.currentContext };
}

/** withoutContext returns the config without the named context (no current context if it was current). */
export function withoutContext(config: Config, name: string): Config {
  return {
    ...config,
    contexts: config.contexts.filter((c) => c.name !== name),
    currentContext: config.currentContext === name ? '' : config.currentContext,
  };
}

/** saveConfig replaces the config file atomically (creating its directory). */
export function saveConfig(config: Config): void {
  mkdirSync(dirname(config.path), { recursive: true });
  const tmp = `${config.path}.tmp`;
  writeFileSync(tmp, renderConfig(config), { mode: 0o600 });
  renameSync(tmp, config.path);
}

/** resolveTarget picks the endpoints and the certificates (see the module comment). */
export function resolveTarget(inputs: TargetInputs): Target {
  const flags = credentials(
    (field) => inputs.tls?.[field],
    (field, problem) => {
      throw new UsageError(`--${field}: ${problem.replace(/(certificate-authority|client-certificate|client-key|token)/g, '--$1')}`);
    },
  );
  const { target, context } = endpointsTarget(inputs);
  const given = flags.tls !== undefined || flags.bearer !== undefined;
  return { ...target, tls: given ? flags.tls : context?.tls, bearer: given ? flags.bearer : context?.bearer };
}

/** endpointsTarget picks the endpoints, and the context they came from. */
function endpointsTarget(inputs: TargetInputs): { target: Omit<Target, 'tls'>; context?: Context } {
  if (inputs.endpoints !== undefined) {
    return { target: { endpoints: splitEndpoints(inputs.endpoints, '--endpoints'), namespace: '', source: '--endpoints' } };
  }
  const needConfig = inputs.context !== undefined || inputs.env['TUG_ENDPOINTS'] === undefined || inputs.env['TUG_ENDPOINTS'] === '';
  const config = needConfig ? loadConfig(inputs) : undefined;
  if (inputs.context !== undefined) {
    const ctx = config?.contexts.find((c) => c.name === inputs.context);
    if (ctx === undefined) {
      const known = config?.contexts.map((c) => c.name) ?? [];
      throw new UsageError(
        `--context: no context ${JSON.stringify(inputs.context)} in ${config?.path ?? 'the config'}` +
          (known.length > 0 ? `; known contexts: ${known.join(', ')}` : ' (it has no contexts)'),
      );
    }
    return { target: { endpoints: ctx.endpoints, namespace: ctx.namespace ?? '', source: `context ${ctx.name}` }, context: ctx };
  }
  const env = inputs.env['TUG_ENDPOINTS'];
  if (env !== undefined && env !== '') return { target: { endpoints: splitEndpoints(env, 'TUG_ENDPOINTS'), namespace: '', source: 'TUG_ENDPOINTS' } };
  const current = config?.contexts.find((c) => c.name === config.currentContext);
  if (current !== undefined) return { target: { endpoints: current.endpoints, namespace: current.namespace ?? '', source: `context ${current.name}` }, context: current };
  return { target: { endpoints: [DEFAULT_ENDPOINT], namespace: '', source: 'default' } };
}

/**
 * parseDuration reads a --request-timeout value: "500ms", "10s", "2m", "1h", or a plain number
 * of seconds. "0" means no limit (returned as undefined).
 */
export function parseDuration(text: string, flag: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (m === null) throw new UsageError(`${flag}: ${JSON.stringify(text)} is not a duration (like 500ms, 10s, 2m)`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  const ms = Math.round(n * unit);
  return ms === 0 ? undefined : ms;
}
