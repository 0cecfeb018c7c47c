// defaults.ts: the Kubernetes defaults of every kind. applyDefaults never mutates its input and
// never throws: parts of the object with the wrong shape are left for validation to report.

import { DEFAULT_NAMESPACE, isKind, kindInfo } from './kinds.ts';
import { normalizeValue } from './schema.ts';
import { KIND_SCHEMAS } from './schemas.ts';
import type { PullPolicy } from './types.ts';

/** DEFAULT_FILE_MODE: mode of files from configMap and secret volumes, 0644. */
export const DEFAULT_FILE_MODE = 0o644;

type Obj = Record<string, unknown>;

function asObj(v: unknown): Obj | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function objects(v: unknown): Obj[] {
  return asArray(v).flatMap((x): Obj[] => {
    const o = asObj(x);
    return o === undefined ? [] : [o];
  });
}

function setDefault(o: Obj, key: string, value: unknown): void {
  if (o[key] === undefined || o[key] === null) o[key] = value;
}

/**
 * imagePullPolicyFor returns the pull policy Kubernetes defaults for an image: "Always" when the
 * tag is "latest" or there is neither tag nor digest, else "IfNotPresent".
 */
export function imagePullPolicyFor(image: string): PullPolicy {
  const at = image.indexOf('@');
  const hasDigest = at >= 0;
  const name = hasDigest ? image.slice(0, at) : image;
  const lastSegment = name.slice(name.lastIndexOf('/') + 1);
  const colon = lastSegment.lastIndexOf(':');
  const tag = colon >= 0 ? lastSegment.slice(colon + 1) : hasDigest ? '' : 'latest';
  return tag === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultProbe(p: Obj | undefined): void {
  if (p === undefined) return;
  setDefault(p, 'timeoutSeconds', 1);
  setDefault(p, 'periodSeconds', 10);
  setDefault(p, 'successThreshold', 1);
  setDefault(p, 'failureThreshold', 3);
  const http = asObj(p['httpGet']);
  if (http !== undefined) {
    if (!http['path']) http['path'] = '/';
    setDefault(http, 'scheme', 'HTTP');
  }
}

function defaultContainer(c: Obj): void {
  if (typeof c['image'] === 'string') setDefault(c, 'imagePullPolicy', imagePullPolicyFor(c['image']));
  for (const p of objects(c['ports'])) setDefault(p, 'protocol', 'TCP');
  for (const e of objects(c['env'])) {
    const fieldRef = asObj(asObj(e['valueFrom'])?.['fieldRef']);
    if (fieldRef !== undefined) setDefault(fieldRef, 'apiVersion', 'v1');
  }
  defaultProbe(asObj(c['livenessProbe']));
  defaultProbe(asObj(c['readinessProbe']));
  const lifecycle = asObj(c['lifecycle']);
  for (const hook of ['postStart', 'preStop']) {
    const http = asObj(asObj(lifecycle?.[hook])?.['httpGet']);
    if (http === undefined) continue;
    if (!http['path']) http['path'] = '/';
    setDefault(http, 'scheme', 'HTTP');
  }
}

function defaultPodSpec(spec: Obj | undefined): void {
  if (spec === undefined) return;
  setDefault(spec, 'restartPolicy', 'Always');
  setDefault(spec, 'terminationGracePeriodSeconds', 30);
  for (const c of objects(spec['containers'])) defaultContainer(c);
  for (const v of objects(spec['volumes'])) {
    const sources = ['emptyDir', 'hostPath', 'configMap', 'secret'];
    if (sources.every((s) => v[s] === undefined)) v['emptyDir'] = {};
    const hostPath = asObj(v['hostPath']);
    if (hostPath !== undefined) setDefault(hostPath, 'type', '');
    const configMap = asObj(v['configMap']);
    if (configMap !== undefined) setDefault(configMap, 'defaultMode', DEFAULT_FILE_MODE);
    const secret = asObj(v['secret']);
    if (secret !== undefined) setDefault(secret, 'defaultMode', DEFAULT_FILE_MODE);
  }
}

function defaultTemplate(spec: Obj): void {
  defaultPodSpec(asObj(asObj(spec['template'])?.['spec']));
}

function defaultDeploymentSpec(spec: Obj): void {
  setDefault(spec, 'replicas', 1);
  setDefault(spec, 'strategy', {});
  const strategy = asObj(spec['strategy']);
  if (strategy !== undefined) {
    setDefault(strategy, 'type', 'RollingUpdate');
    if (strategy['type'] === 'RollingUpdate') {
      setDefault(strategy, 'rollingUpdate', {});
      const ru = asObj(strategy['rollingUpdate']);
      if (ru !== undefined) {
        setDefault(ru, 'maxUnavailable', '25%');
        setDefault(ru, 'maxSurge', '25%');
      }
    }
  }
  setDefault(spec, 'revisionHistoryLimit', 10);
  setDefault(spec, 'progressDeadlineSeconds', 600);
  setDefault(spec, 'minReadySeconds', 0);
  defaultTemplate(spec);
}

function foldStringData(secret: Obj): void {
  const stringData = asObj(secret['stringData']);
  if (stringData === undefined) return;
  const entries = Object.entries(stringData);
  if (!entries.every(([, v]) => typeof v === 'string')) return;
  const data = asObj(secret['data']) ?? {};
  for (const [k, v] of entries) data[k] = Buffer.from(v as string, 'utf8').toString('base64');
  secret['data'] = data;
  delete secret['stringData'];
}

/**
 * applyDefaults returns a defaulted copy of an object; the input is not changed. Null fields are
 * dropped and numeric quantities become strings. Defaults, as in Kubernetes:
 *
 * - every namespaced kind: metadata.namespace "default"
 * - Pod spec (and ReplicaSet/Deployment templates): restartPolicy Always,
 *   terminationGracePeriodSeconds 30; containers: imagePullPolicy Always for ":latest" or an
 *   untagged image, else IfNotPresent; ports protocol TCP; env fieldRef apiVersion v1; probes
 *   timeoutSeconds 1, periodSeconds 10, successThreshold 1, failureThreshold 3, httpGet path "/"
 *   and scheme HTTP (lifecycle httpGet handlers too); volumes without a source get emptyDir,
 *   configMap/secret defaultMode 0644, hostPath type ""
 * - ReplicaSet: replicas 1
 * - Deployment: replicas 1, strategy RollingUpdate with maxSurge 25% and maxUnavailable 25%,
 *   revisionHistoryLimit 10, progressDeadlineSeconds 600, minReadySeconds 0
 * - Service: type ClusterIP; sessionAffinity None (ClientIP: timeoutSeconds 10800); clusterIPs
 *   [clusterIP] once clusterIP is set; ports protocol TCP, targetPort = port
 * - Endpoints: ports protocol TCP
 * - Secret: type Opaque; stringData folded into base64 data (stringData wins) and removed
 * - Namespace: status.phase Active
 */
export function applyDefaults<T>(obj: T): T {
  const src = asObj(obj);
  const kind = src?.['kind'];
  if (src === undefined || !isKind(kind)) return structuredClone(obj);
  const o = normalizeValue(KIND_SCHEMAS[kind], src) as Obj;

  const meta = asObj(o['metadata']);
  if (meta !== undefined && kindInfo(kind).namespaced && !meta['namespace']) meta['namespace'] = DEFAULT_NAMESPACE;

  const spec = asObj(o['spec']);
  switch (kind) {
    case 'Pod':
      defaultPodSpec(spec);
      break;
    case 'ReplicaSet':
      if (spec !== undefined) {
        setDefault(spec, 'replicas', 1);
        defaultTemplate(spec);
      }
      break;
    case 'Deployment':
      if (spec !== undefined) defaultDeploymentSpec(spec);
      break;
    case 'Service':
      if (spec !== undefined) {
        setDefault(spec, 'type', 'ClusterIP');
        setDefault(spec, 'sessionAffinity', 'None');
        if (spec['sessionAffinity'] === 'ClientIP') {
          setDefault(spec, 'sessionAffinityConfig', {});
          const config = asObj(spec['sessionAffinityConfig']);
          if (config !== undefined) {
            setDefault(config, 'clientIP', {});
            const clientIP = asObj(config['clientIP']);
            if (clientIP !== undefined) setDefault(clientIP, 'timeoutSeconds', 10800);
          }
        }
        if (typeof spec['clusterIP'] === 'string' && spec['clusterIP'] !== '') setDefault(spec, 'clusterIPs', [spec['clusterIP']]);
        for (const p of objects(spec['ports'])) {
          setDefault(p, 'protocol', 'TCP');
          const unset = p['targetPort'] === undefined || p['targetPort'] === 0 || p['targetPort'] === '';
          if (unset && typeof p['port'] === 'number') p['targetPort'] = p['port'];
        }
      }
      break;
    case 'Endpoints':
      for (const s of objects(o['subsets'])) for (const p of objects(s['ports'])) setDefault(p, 'protocol', 'TCP');
      break;
    case 'Secret':
      setDefault(o, 'type', 'Opaque');
      foldStringData(o);
      break;
    case 'Namespace': {
      setDefault(o, 'status', {});
      const status = asObj(o['status']);
      if (status !== undefined) setDefault(status, 'phase', 'Active');
      break;
    }
    default:
      break;
  }
  return o as T;
}
