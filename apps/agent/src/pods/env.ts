// env.ts: the environment of a container, resolved as Kubernetes does it: every envFrom source
// first (in order), then every env entry (in order), a later name replacing an earlier one in
// place. Literal values expand $(NAME) from the names defined before them; valueFrom reads a
// ConfigMap key, a Secret key or a field of the pod.
import type { ConfigMap, Container, EnvVar, Pod, Secret } from '@tugboat/api';

/** ObjectSource is where env and volumes read ConfigMaps and Secrets (the agent passes a
 *  client-backed one, tests a map). */
export interface ObjectSource {
  /** configMap returns the ConfigMap, or undefined when it does not exist. */
  configMap(namespace: string, name: string): Promise<ConfigMap | undefined>;
  /** secret returns the Secret, or undefined when it does not exist. */
  secret(namespace: string, name: string): Promise<Secret | undefined>;
}

/** PodFieldValues are the values of fieldRef env that are not in the pod object itself. */
export interface PodFieldValues {
  podIP: string;
  hostIP: string;
  nodeName: string;
}

/**
 * ContainerConfigError: the container cannot be configured yet (a missing ConfigMap, Secret or
 * key, a hostPath of the wrong kind...). The pod status shows waiting.reason
 * 'CreateContainerConfigError' with the message, and the agent retries later.
 */
export class ContainerConfigError extends Error {
  override readonly name = 'ContainerConfigError';
  readonly reason = 'CreateContainerConfigError';
}

/** isContainerConfigError tells a ContainerConfigError, also across module copies. */
export function isContainerConfigError(err: unknown): err is ContainerConfigError {
  return err instanceof ContainerConfigError || (err instanceof Error && err.name === 'ContainerConfigError');
}

/** EnvEntry is one variable of a container's environment. */
export interface EnvEntry {
  key: string;
  value: string;
}

const ENV_NAME_RE = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/** isEnvVarName tells a name Kubernetes accepts as an environment variable name. */
export function isEnvVarName(name: string): boolean {
  return ENV_NAME_RE.test(name);
}

/** podRef spells a pod for error messages: "namespace/name". */
export function podRef(pod: Pod): string {
  return `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name ?? ''}`;
}

/** configMapValues returns a ConfigMap's text and binary data, each as bytes. */
export function configMapValues(cm: ConfigMap): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(cm.data ?? {})) out.set(k, Buffer.from(v, 'utf8'));
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) out.set(k, Buffer.from(v, 'base64'));
  return out;
}

/** secretValues returns a Secret's data decoded from base64; stringData (when a Secret was
 *  not defaulted) wins over data, as defaulting would make it. */
export function secretValues(secret: Secret): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(secret.data ?? {})) out.set(k, Buffer.from(v, 'base64'));
  for (const [k, v] of Object.entries(secret.stringData ?? {})) out.set(k, Buffer.from(v, 'utf8'));
  return out;
}

/**
 * expandEnvReferences replaces $(NAME) in `text` with the value `lookup` gives; a name it does
 * not know stays as written. `$$` is a literal `$` (so `$$(X)` gives `$(X)`), an unclosed
 * `$(` and a `$` before any other character stay as written.
 */
export function expandEnvReferences(text: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0 || dollar === text.length - 1) break;
    out += text.slice(i, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      out += '$';
      i = dollar + 2;
    } else if (next === '(') {
      const close = text.indexOf(')', dollar + 2);
      if (close < 0) {
        out += '$(';
        i = dollar + 2;
      } else {
        const name = text.slice(dollar + 2, close);
        out += lookup(name) ?? `$(${name})`;
        i = close + 1;
      }
    } else {
      out += `$${next}`;
      i = dollar + 2;
    }
  }
  return out + text.slice(i);
}

const SUBSCRIPT_RE = /^metadata\.(labels|annotations)\['(.*)'\]$/;

/** fieldRefValue returns the value of a fieldRef path, or undefined for a path not supported. */
export function fieldRefValue(pod: Pod, fieldPath: string, fields: PodFieldValues): string | undefined {
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata.name ?? '';
    case 'metadata.namespace':
      return pod.metadata.namespace ?? 'default';
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
    case 'spec.nodeName':
      return fields.nodeName;
    case 'spec.serviceAccountName':
      // tugboat has no service accounts; the field exists so manifests that name it still run.
      return '';
    case 'status.podIP':
      return fields.podIP;
    case 'status.hostIP':
      return fields.hostIP;
  }
  const m = SUBSCRIPT_RE.exec(fieldPath);
  if (m === null) return undefined;
  const map = m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations;
  return map?.[m[2] ?? ''] ?? '';
}

/** EnvResolver reads each ConfigMap and Secret at most once per resolveEnv call. */
class EnvResolver {
  readonly #pod: Pod;
  readonly #container: Container;
  readonly #source: ObjectSource;
  readonly #namespace: string;
  readonly #configMaps = new Map<string, Promise<ConfigMap | undefined>>();
  readonly #secrets = new Map<string, Promise<Secret | undefined>>();

  constructor(pod: Pod, container: Container, source: ObjectSource) {
    this.#pod = pod;
    this.#container = container;
    this.#source = source;
    this.#namespace = pod.metadata.namespace ?? 'default';
  }

  configMap(name: string): Promise<ConfigMap | undefined> {
    let p = this.#configMaps.get(name);
    if (p === undefined) {
      p = this.#source.configMap(this.#namespace, name);
      this.#configMaps.set(name, p);
    }
    return p;
  }

  secret(name: string): Promise<Secret | undefined> {
    let p = this.#secrets.get(name);
    if (p === undefined) {
      p = this.#source.secret(this.#namespace, name);
      this.#secrets.set(name, p);
    }
    return p;
  }

  error(what: string, detail: string): ContainerConfigError {
    return new ContainerConfigError(`pod ${podRef(this.#pod)}: container "${this.#container.name}": ${what}: ${detail}`);
  }

  objectRef(kind: 'configmap' | 'secret', name: string): string {
    return `${kind} "${this.#namespace}/${name}"`;
  }

  /** fromKeyRef resolves a configMapKeyRef or secretKeyRef: undefined when optional and absent. */
  async fromKeyRef(env: EnvVar, kind: 'configmap' | 'secret', ref: { name: string; key: string; optional?: boolean }) {
    const obj = kind === 'configmap' ? await this.configMap(ref.name) : await this.secret(ref.name);
    const what = `env ${env.name}`;
    if (obj === undefined) {
      if (ref.optional === true) return undefined;
      throw this.error(what, `${this.objectRef(kind, ref.name)} not found`);
    }
    // Env takes a ConfigMap's text data only (binaryData is for volumes), a Secret's data decoded.
    const value =
      obj.kind === 'ConfigMap' ? obj.data?.[ref.key] : secretValues(obj).get(ref.key)?.toString('utf8');
    if (value === undefined) {
      if (ref.optional === true) return undefined;
      throw this.error(what, `key "${ref.key}" not found in ${this.objectRef(kind, ref.name)}`);
    }
    return value;
  }
}

/**
 * resolveEnv returns the environment of `container` in `pod`, in Kubernetes order: envFrom
 * sources first (each ConfigMap or Secret key, with the source's prefix, sorted by key; keys
 * that are not valid variable names are skipped), then env entries; a name set twice keeps
 * its first position and its last value. Throws a ContainerConfigError naming the pod,
 * container, variable, object and key when a non-optional ConfigMap, Secret or key is missing
 * or a fieldRef path is not supported.
 */
export async function resolveEnv(
  pod: Pod,
  container: Container,
  source: ObjectSource,
  fields: PodFieldValues,
): Promise<EnvEntry[]> {
  const r = new EnvResolver(pod, container, source);
  const env = new Map<string, string>();

  for (const [i, from] of (container.envFrom ?? []).entries()) {
    const prefix = from.prefix ?? '';
    let values: Map<string, string> | undefined;
    if (from.configMapRef !== undefined) {
      const ref = from.configMapRef;
      const cm = await r.configMap(ref.name);
      if (cm === undefined && ref.optional !== true) {
        throw r.error(`envFrom[${i}]`, `${r.objectRef('configmap', ref.name)} not found`);
      }
      values = cm === undefined ? undefined : new Map(Object.entries(cm.data ?? {}));
    } else if (from.secretRef !== undefined) {
      const ref = from.secretRef;
      const secret = await r.secret(ref.name);
      if (secret === undefined && ref.optional !== true) {
        throw r.error(`envFrom[${i}]`, `${r.objectRef('secret', ref.name)} not found`);
      }
      values = secret === undefined ? undefined : new Map([...secretValues(secret)].map(([k, v]) => [k, v.toString('utf8')]));
    }
    for (const key of [...(values?.keys() ?? [])].sort()) {
      const name = prefix + key;
      if (isEnvVarName(name)) env.set(name, values?.get(key) ?? '');
    }
  }

  for (const e of container.env ?? []) {
    let value: string | undefined;
    const from = e.valueFrom;
    if (e.value !== undefined && e.value !== '') {
      value = expandEnvReferences(e.value, (name) => env.get(name));
    } else if (from?.configMapKeyRef !== undefined) {
      value = await r.fromKeyRef(e, 'configmap', from.configMapKeyRef);
    } else if (from?.secretKeyRef !== undefined) {
      value = await r.fromKeyRef(e, 'secret', from.secretKeyRef);
    } else if (from?.fieldRef !== undefined) {
      value = fieldRefValue(pod, from.fieldRef.fieldPath, fields);
      if (value === undefined) throw r.error(`env ${e.name}`, `fieldRef path "${from.fieldRef.fieldPath}" is not supported`);
    } else {
      value = '';
    }
    // An optional reference to a missing object or key leaves the variable out.
    if (value !== undefined) env.set(e.name, value);
  }

  return [...env].map(([key, value]) => ({ key, value }));
}
