// schemas.ts: the schema of every kind, with the semantic checks that go beyond shape
// (uniqueness, cross-field rules, selector matches template). Field names and rules follow
// Kubernetes; the supported subset is exactly what is written here.

import {
  absolutePath,
  base64,
  cidr,
  configKey,
  dns1035Label,
  dns1123Label,
  dns1123Subdomain,
  envVarName,
  generateNameCheck,
  image,
  ip,
  labelValue,
  portName,
  qualifiedName,
  relativePath,
  rfc3339,
} from './names.ts';
import type { FormatCheck } from './names.ts';
import { compareQuantities } from './quantity.ts';
import type { Check, ObjectSchema, Reporter, Schema } from './schema.ts';
import { array, boolean, checkValue, integer, intOrPercent, intOrString, map, object, quantity, quote, required, string, withCheck } from './schema.ts';
import { isEmptySelector, matches } from './selectors.ts';
import type {
  Container,
  DeploymentSpec,
  DeploymentStrategy,
  Kind,
  PodSpec,
  ReplicaSetSpec,
  ServiceSpec,
} from './types.ts';

/** NODE_PORT_MIN and NODE_PORT_MAX bound a Service's nodePort (as Kubernetes' default range). */
export const NODE_PORT_MIN = 30000;
export const NODE_PORT_MAX = 32767;

/** CONFIG_DATA_BYTES_MAX: a ConfigMap's or Secret's data may hold at most 1 MiB. */
export const CONFIG_DATA_BYTES_MAX = 1024 * 1024;

/** ANNOTATIONS_BYTES_MAX: an object's annotations (keys and values) may hold at most 256 KiB. */
export const ANNOTATIONS_BYTES_MAX = 256 * 1024;

const SAFE_MAX = Number.MAX_SAFE_INTEGER;
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
const CONDITION_STATUS = ['True', 'False', 'Unknown'] as const;

// ---------------------------------------------------------------------------------------------
// Helpers

function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

function emptyOr(check: FormatCheck): FormatCheck {
  return (s) => (s === '' ? undefined : check(s));
}

/** oneOf: the check that at most (or exactly) one of `fields` is set, naming them in the message. */
function oneOf(fields: readonly string[], what: string, exactly: boolean): Check {
  return (v: Record<string, unknown>, r: Reporter) => {
    const set = fields.filter((f) => present(v[f]));
    if (set.length > 1) r.error(`must set only one ${what}; got ${set.join(' and ')}`);
    else if (exactly && set.length === 0) r.error(`must set one ${what}: ${fields.join(', ')}`);
  };
}

function duplicates<T>(items: readonly T[] | undefined | null, key: (item: T) => unknown, report: (index: number, k: unknown) => void): void {
  const seen = new Set<unknown>();
  (items ?? []).forEach((item, i) => {
    const k = key(item);
    if (k === undefined || k === null) return;
    if (seen.has(k)) report(i, k);
    seen.add(k);
  });
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

const resourceName: FormatCheck = (s) =>
  s === 'cpu' || s === 'memory' || s === 'ephemeral-storage' || /^hugepages-.+/.test(s) || (s.includes('/') && qualifiedName(s) === undefined)
    ? undefined
    : 'must be cpu, memory, ephemeral-storage, hugepages-<size> or a domain-prefixed extended resource (example.com/gpu)';

const nodeResourceName: FormatCheck = (s) => (s === 'pods' ? undefined : resourceName(s));

const clusterIP: FormatCheck = (s) => (s === '' || s === 'None' || ip(s) === undefined ? undefined : 'must be an IP address, "None" or empty');

const fieldPath: FormatCheck = (s) =>
  /^(metadata\.(name|namespace|uid)|spec\.(nodeName|serviceAccountName)|status\.(hostIP|podIP|podIPs))$/.test(s) ||
  /^metadata\.(labels|annotations)\['[^']+'\]$/.test(s)
    ? undefined
    : "must be one of metadata.name, metadata.namespace, metadata.uid, metadata.labels['KEY'], metadata.annotations['KEY'], spec.nodeName, status.hostIP, status.podIP, status.podIPs";

const secretType: FormatCheck = (s) => (/^[A-Za-z0-9./_-]{1,253}$/.test(s) ? undefined : "must be a secret type such as Opaque or kubernetes.io/tls");

// ---------------------------------------------------------------------------------------------
// Metadata

const ownerReference = object({
  apiVersion: required(string({ minLength: 1 })),
  kind: required(string({ minLength: 1 })),
  name: required(string({ minLength: 1 })),
  uid: required(string({ minLength: 1 })),
  controller: boolean(),
  blockOwnerDeletion: boolean(),
});

const labels = map(string({ format: labelValue }), { keys: qualifiedName });

function objectMeta(nameFormat: FormatCheck): ObjectSchema {
  return object({
    // An empty name is "no name": validate then asks for name or generateName.
    name: string({ format: emptyOr(nameFormat) }),
    generateName: string({ format: generateNameCheck(nameFormat) }),
    // An empty namespace is "no namespace": defaulting sets "default" on namespaced kinds.
    namespace: string({ format: emptyOr(dns1123Label) }),
    uid: string(),
    resourceVersion: string(),
    generation: integer({ min: 0, max: SAFE_MAX }),
    creationTimestamp: string({ format: rfc3339 }),
    deletionTimestamp: string({ format: rfc3339 }),
    deletionGracePeriodSeconds: integer({ min: 0, max: SAFE_MAX }),
    labels,
    annotations: map(string(), {
      keys: qualifiedName,
      check: (v: Record<string, string>, r) => {
        let bytes = 0;
        for (const [k, val] of Object.entries(v)) bytes += utf8Length(k) + utf8Length(val);
        if (bytes > ANNOTATIONS_BYTES_MAX) r.error(`must hold at most ${ANNOTATIONS_BYTES_MAX} bytes; got ${bytes}`);
      },
    }),
    ownerReferences: array(ownerReference, {
      check: (refs: { controller?: boolean }[], r) => {
        if (refs.filter((o) => o.controller === true).length > 1) r.error('at most one owner reference may have controller: true');
      },
    }),
    finalizers: array(string({ format: qualifiedName })),
  });
}

const objectReference = object({
  apiVersion: string(),
  kind: string(),
  namespace: string({ format: emptyOr(dns1123Label) }),
  name: string(),
  uid: string(),
  resourceVersion: string(),
  fieldPath: string(),
});

// ---------------------------------------------------------------------------------------------
// Label selectors

const labelSelectorRequirement = object(
  {
    key: required(string({ format: qualifiedName })),
    operator: required(string({ enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] })),
    values: array(string({ format: labelValue })),
  },
  (v: { operator: string; values?: string[] }, r) => {
    const n = v.values?.length ?? 0;
    if ((v.operator === 'In' || v.operator === 'NotIn') && n === 0) r.at('values').error(`must not be empty for operator ${v.operator}`);
    if ((v.operator === 'Exists' || v.operator === 'DoesNotExist') && n > 0) r.at('values').error(`must be empty for operator ${v.operator}`);
  },
);

/** The schema of a LabelSelector (matchLabels and matchExpressions). */
export const labelSelectorSchema = object({
  matchLabels: labels,
  matchExpressions: array(labelSelectorRequirement),
});

// ---------------------------------------------------------------------------------------------
// Containers

const containerPort = object({
  name: string({ format: portName }),
  containerPort: required(integer({ min: 1, max: 65535 })),
  protocol: string({ enum: PROTOCOLS }),
  hostPort: integer({ min: 1, max: 65535 }),
  hostIP: string({ format: ip }),
});

const keySelector = (nameField: string) =>
  object({
    [nameField]: required(string({ format: dns1123Subdomain })),
    key: required(string({ format: configKey })),
    optional: boolean(),
  });

const envVarSourceFields = ['configMapKeyRef', 'secretKeyRef', 'fieldRef'] as const;

const envVar = object(
  {
    name: required(string({ format: envVarName })),
    value: string(),
    valueFrom: object(
      {
        configMapKeyRef: keySelector('name'),
        secretKeyRef: keySelector('name'),
        fieldRef: object({ apiVersion: string({ enum: ['v1'] }), fieldPath: required(string({ format: fieldPath })) }),
      },
      oneOf(envVarSourceFields, 'source', true),
    ),
  },
  (v: { value?: string; valueFrom?: unknown }, r) => {
    if (v.value && present(v.valueFrom)) r.at('valueFrom').error('must not be set when value is not empty');
  },
);

const envRef = object({ name: required(string({ format: dns1123Subdomain })), optional: boolean() });

const envFromSource = object(
  { prefix: string({ format: envVarName }), configMapRef: envRef, secretRef: envRef },
  oneOf(['configMapRef', 'secretRef'], 'source', true),
);

const resourceList = map(quantity(), { keys: resourceName });

const resourceRequirements = object(
  { limits: resourceList, requests: resourceList },
  (v: { limits?: Record<string, string>; requests?: Record<string, string> }, r) => {
    for (const [name, request] of Object.entries(v.requests ?? {})) {
      const limit = v.limits?.[name];
      if (present(limit) && compareQuantities(request, limit as string) > 0) {
        r.at('requests', name).error(`must be less than or equal to the limit ${limit}`);
      }
    }
  },
);

const volumeMount = object({
  name: required(string({ format: dns1123Label })),
  mountPath: required(string({ format: absolutePath })),
  readOnly: boolean(),
  subPath: string({ format: relativePath }),
});

const port1to65535 = intOrString(portName, { min: 1, max: 65535 });

const probeHandlers = ['exec', 'httpGet', 'tcpSocket'] as const;

const execAction = object({ command: array(string()) });

const httpGetAction = object({
  path: string(),
  port: required(port1to65535),
  host: string(),
  scheme: string({ enum: ['HTTP', 'HTTPS'] }),
  httpHeaders: array(object({ name: required(string({ minLength: 1 })), value: required(string()) })),
});

const probe = object(
  {
    exec: execAction,
    httpGet: httpGetAction,
    tcpSocket: object({ port: required(port1to65535), host: string() }),
    initialDelaySeconds: integer({ min: 0 }),
    timeoutSeconds: integer({ min: 1 }),
    periodSeconds: integer({ min: 1 }),
    successThreshold: integer({ min: 1 }),
    failureThreshold: integer({ min: 1 }),
  },
  oneOf(probeHandlers, 'handler', true),
);

const lifecycleHandler = object(
  {
    exec: execAction,
    httpGet: httpGetAction,
    sleep: object({ seconds: required(integer({ min: 0, max: 3600 })) }),
  },
  oneOf(['exec', 'httpGet', 'sleep'], 'handler', true),
);

const livenessProbe = withCheck(probe, (v: { successThreshold?: number }, r) => {
  if (present(v.successThreshold) && v.successThreshold !== 1) r.at('successThreshold').error('must be 1 for a liveness probe');
});

const container = object(
  {
    name: required(string({ format: dns1123Label })),
    image: required(string({ format: image })),
    imagePullPolicy: string({ enum: ['Always', 'IfNotPresent', 'Never'] }),
    command: array(string()),
    args: array(string()),
    workingDir: string({ format: absolutePath }),
    ports: array(containerPort),
    env: array(envVar),
    envFrom: array(envFromSource),
    resources: resourceRequirements,
    volumeMounts: array(volumeMount),
    livenessProbe,
    readinessProbe: probe,
    lifecycle: object({ postStart: lifecycleHandler, preStop: lifecycleHandler }),
  },
  (c: Container, r) => {
    duplicates(c.ports, (p) => p.name || undefined, (i, k) => r.at('ports', i, 'name').error(`duplicate port name ${quote(String(k))}`));
    duplicates(
      c.ports,
      (p) => `${p.containerPort}/${p.protocol ?? 'TCP'}`,
      (i, k) => r.at('ports', i).error(`duplicate port ${String(k)}`),
    );
    duplicates(c.volumeMounts, (m) => m.mountPath, (i, k) => r.at('volumeMounts', i, 'mountPath').error(`duplicate mount path ${quote(String(k))}`));
  },
);

// ---------------------------------------------------------------------------------------------
// Volumes

const keyToPath = object({
  key: required(string({ format: configKey })),
  path: required(string({ format: relativePath })),
  mode: integer({ min: 0, max: 0o777 }),
});

const volumeSources = ['emptyDir', 'hostPath', 'configMap', 'secret'] as const;

const volume = object(
  {
    name: required(string({ format: dns1123Label })),
    emptyDir: object({ medium: string({ enum: ['', 'Memory'] }), sizeLimit: quantity() }),
    hostPath: object({
      path: required(string({ format: absolutePath })),
      type: string({ enum: ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'] }),
    }),
    configMap: object({
      name: required(string({ format: dns1123Subdomain })),
      items: array(keyToPath),
      defaultMode: integer({ min: 0, max: 0o777 }),
      optional: boolean(),
    }),
    secret: object({
      secretName: required(string({ format: dns1123Subdomain })),
      items: array(keyToPath),
      defaultMode: integer({ min: 0, max: 0o777 }),
      optional: boolean(),
    }),
  },
  // No source at all is allowed: defaulting makes it an emptyDir, as Kubernetes does.
  oneOf(volumeSources, 'volume source', false),
);

// ---------------------------------------------------------------------------------------------
// Scheduling

const nodeSelectorRequirement = object(
  {
    key: required(string({ format: qualifiedName })),
    operator: required(string({ enum: ['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt'] })),
    values: array(string()),
  },
  (v: { operator: string; values?: string[] }, r) => {
    const values = v.values ?? [];
    switch (v.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) r.at('values').error(`must not be empty for operator ${v.operator}`);
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) r.at('values').error(`must be empty for operator ${v.operator}`);
        break;
      default:
        if (values.length !== 1 || !/^-?\d+$/.test(values[0] ?? '')) {
          r.at('values').error(`must be a single integer for operator ${v.operator}`);
        }
    }
  },
);

const nodeFieldRequirement = object(
  {
    key: required(string({ enum: ['metadata.name'] })),
    operator: required(string({ enum: ['In', 'NotIn'] })),
    values: required(array(string())),
  },
  (v: { values: string[] }, r) => {
    if (v.values.length !== 1) r.at('values').error('must have exactly one value');
  },
);

const nodeSelectorTerm = object({
  matchExpressions: array(nodeSelectorRequirement),
  matchFields: array(nodeFieldRequirement),
});

const podAffinityTerm = object({
  labelSelector: labelSelectorSchema,
  namespaces: array(string({ format: dns1123Label })),
  topologyKey: required(string({ format: qualifiedName })),
});

const weight = required(integer({ min: 1, max: 100 }));

const affinity = object({
  nodeAffinity: object({
    requiredDuringSchedulingIgnoredDuringExecution: object({
      nodeSelectorTerms: required(array(nodeSelectorTerm, { minItems: 1 })),
    }),
    preferredDuringSchedulingIgnoredDuringExecution: array(object({ weight, preference: required(nodeSelectorTerm) })),
  }),
  podAntiAffinity: object({
    requiredDuringSchedulingIgnoredDuringExecution: array(podAffinityTerm),
    preferredDuringSchedulingIgnoredDuringExecution: array(object({ weight, podAffinityTerm: required(podAffinityTerm) })),
  }),
});

const taintEffects = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;

const toleration = object(
  {
    key: string({ format: emptyOr(qualifiedName) }),
    operator: string({ enum: ['Exists', 'Equal'] }),
    value: string({ format: labelValue }),
    effect: string({ enum: ['', ...taintEffects] }),
    tolerationSeconds: integer({ min: -SAFE_MAX, max: SAFE_MAX }),
  },
  (t: { key?: string; operator?: string; value?: string; effect?: string; tolerationSeconds?: number }, r) => {
    if (!t.key && t.operator !== 'Exists') r.at('operator').error('must be Exists when key is empty');
    if (t.operator === 'Exists' && t.value) r.at('value').error('must be empty when operator is Exists');
    if (present(t.tolerationSeconds) && t.effect !== 'NoExecute') r.at('tolerationSeconds').error('only allowed with effect NoExecute');
  },
);

const topologySpreadConstraint = object(
  {
    maxSkew: required(integer({ min: 1 })),
    topologyKey: required(string({ format: qualifiedName })),
    whenUnsatisfiable: required(string({ enum: ['DoNotSchedule', 'ScheduleAnyway'] })),
    labelSelector: labelSelectorSchema,
    minDomains: integer({ min: 1 }),
  },
  (c: { whenUnsatisfiable: string; minDomains?: number }, r) => {
    if (present(c.minDomains) && c.whenUnsatisfiable !== 'DoNotSchedule') {
      r.at('minDomains').error('only allowed with whenUnsatisfiable DoNotSchedule');
    }
  },
);

// ---------------------------------------------------------------------------------------------
// Pods

const podSpec = object(
  {
    containers: required(array(container, { minItems: 1, minItemsMessage: 'must have at least one container' })),
    volumes: array(volume),
    restartPolicy: string({ enum: ['Always', 'OnFailure', 'Never'] }),
    terminationGracePeriodSeconds: integer({ min: 0, max: SAFE_MAX }),
    nodeName: string({ format: dns1123Subdomain }),
    nodeSelector: labels,
    affinity,
    tolerations: array(toleration),
    topologySpreadConstraints: array(topologySpreadConstraint),
    hostname: string({ format: dns1123Label }),
    subdomain: string({ format: dns1123Label }),
  },
  (spec: PodSpec, r) => {
    duplicates(spec.containers, (c) => c.name, (i, k) => r.at('containers', i, 'name').error(`duplicate container name ${quote(String(k))}`));
    duplicates(spec.volumes, (v) => v.name, (i, k) => r.at('volumes', i, 'name').error(`duplicate volume name ${quote(String(k))}`));
    const volumes = new Set((spec.volumes ?? []).map((v) => v.name));
    spec.containers.forEach((c, ci) => {
      (c.volumeMounts ?? []).forEach((m, mi) => {
        if (!volumes.has(m.name)) r.at('containers', ci, 'volumeMounts', mi, 'name').error(`no volume named ${quote(m.name)} in spec.volumes`);
      });
    });
    duplicates(
      spec.topologySpreadConstraints,
      (c) => `${c.topologyKey}/${c.whenUnsatisfiable}`,
      (i) => r.at('topologySpreadConstraints', i).error('duplicate topologyKey and whenUnsatisfiable'),
    );
  },
);

const podCondition = object({
  type: required(string({ minLength: 1 })),
  status: required(string({ enum: CONDITION_STATUS })),
  lastProbeTime: string({ format: rfc3339 }),
  lastTransitionTime: string({ format: rfc3339 }),
  reason: string(),
  message: string(),
});

const containerState = object(
  {
    waiting: object({ reason: string(), message: string() }),
    running: object({ startedAt: string({ format: rfc3339 }) }),
    terminated: object({
      exitCode: required(integer({ min: -2147483648 })),
      signal: integer({ min: 0 }),
      reason: string(),
      message: string(),
      startedAt: string({ format: rfc3339 }),
      finishedAt: string({ format: rfc3339 }),
      containerID: string(),
    }),
  },
  oneOf(['waiting', 'running', 'terminated'], 'state', false),
);

const podStatus = object({
  phase: string({ enum: ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] }),
  conditions: array(podCondition),
  message: string(),
  reason: string(),
  hostIP: string({ format: ip }),
  podIP: string({ format: ip }),
  podIPs: array(object({ ip: required(string({ format: ip })) })),
  startTime: string({ format: rfc3339 }),
  containerStatuses: array(
    object({
      name: required(string({ format: dns1123Label })),
      state: containerState,
      lastState: containerState,
      ready: required(boolean()),
      restartCount: required(integer({ min: 0 })),
      image: required(string()),
      imageID: required(string()),
      containerID: string(),
      started: boolean(),
    }),
  ),
  qosClass: string({ enum: ['Guaranteed', 'Burstable', 'BestEffort'] }),
});

const podTemplate = object({
  metadata: objectMeta(dns1123Subdomain),
  spec: required(podSpec),
});

// ---------------------------------------------------------------------------------------------
// ReplicaSet and Deployment

/** Checks shared by ReplicaSet and Deployment specs. */
function checkWorkloadSpec(spec: ReplicaSetSpec | DeploymentSpec, r: Reporter): void {
  if (isEmptySelector(spec.selector)) {
    r.at('selector').error('must not be empty');
  } else if (checkValue(labelSelectorSchema, spec.selector, [], []) && !matches(spec.selector, spec.template.metadata?.labels ?? {})) {
    r.at('template', 'metadata', 'labels').error('must match spec.selector');
  }
  const restart = spec.template.spec.restartPolicy;
  if (present(restart) && restart !== 'Always') {
    r.at('template', 'spec', 'restartPolicy').error(`invalid value ${quote(restart as string)}: must be Always here`);
  }
}

const replicaSetCondition = object({
  type: required(string({ minLength: 1 })),
  status: required(string({ enum: CONDITION_STATUS })),
  lastTransitionTime: string({ format: rfc3339 }),
  reason: string(),
  message: string(),
});

const replicaCount = integer({ min: 0 });

const strategy = object(
  {
    type: string({ enum: ['RollingUpdate', 'Recreate'] }),
    rollingUpdate: object({ maxSurge: intOrPercent(), maxUnavailable: intOrPercent() }),
  },
  (s: DeploymentStrategy, r) => {
    if (s.type === 'Recreate' && present(s.rollingUpdate)) r.at('rollingUpdate').error('must not be set when type is Recreate');
    const ru = s.rollingUpdate;
    if (!ru) return;
    if (typeof ru.maxUnavailable === 'string' && parseInt(ru.maxUnavailable, 10) > 100) {
      r.at('rollingUpdate', 'maxUnavailable').error('must not be greater than 100%');
    }
    const zero = (x: unknown) => x === 0 || x === '0%';
    if (zero(ru.maxSurge) && zero(ru.maxUnavailable)) {
      r.at('rollingUpdate', 'maxUnavailable').error('must not be 0 when maxSurge is 0');
    }
  },
);

// ---------------------------------------------------------------------------------------------
// Service and Endpoints

const servicePort = object({
  name: string({ format: dns1123Label }),
  protocol: string({ enum: PROTOCOLS }),
  port: required(integer({ min: 1, max: 65535 })),
  targetPort: port1to65535,
  nodePort: integer({ min: 1, max: 65535 }),
});

/** SERVICE_TYPES_WITH_NODE_PORTS: the Service types that get a nodePort on every port. */
export const SERVICE_TYPES_WITH_NODE_PORTS: readonly string[] = ['NodePort', 'LoadBalancer'];

function checkServiceSpec(spec: ServiceSpec, r: Reporter): void {
  const ports = spec.ports ?? [];
  const headless = spec.clusterIP === 'None';
  const nodePorts = SERVICE_TYPES_WITH_NODE_PORTS.includes(spec.type ?? 'ClusterIP');
  if (ports.length === 0 && !headless) r.at('ports').error('must have at least one port');
  if (headless && (spec.type ?? 'ClusterIP') !== 'ClusterIP') r.at('clusterIP').error(`"None" (headless) is only allowed for type ClusterIP, not ${spec.type}`);
  if (present(spec.sessionAffinityConfig) && spec.sessionAffinity !== 'ClientIP') {
    r.at('sessionAffinityConfig').error('only allowed with sessionAffinity "ClientIP"');
  }
  if (present(spec.clusterIP) && spec.clusterIP !== '' && spec.clusterIPs?.[0] !== undefined && spec.clusterIPs[0] !== spec.clusterIP) {
    r.at('clusterIPs', 0).error('must equal spec.clusterIP');
  }
  ports.forEach((p, i) => {
    if (ports.length > 1 && !p.name) r.at('ports', i, 'name').error('required when the service has more than one port');
    if (present(p.nodePort)) {
      if (!nodePorts) r.at('ports', i, 'nodePort').error(`only allowed for type NodePort or LoadBalancer, not ${spec.type ?? 'ClusterIP'}`);
      else if ((p.nodePort as number) < NODE_PORT_MIN || (p.nodePort as number) > NODE_PORT_MAX) {
        r.at('ports', i, 'nodePort').error(`must be between ${NODE_PORT_MIN} and ${NODE_PORT_MAX}`);
      }
    }
  });
  duplicates(ports, (p) => p.name || undefined, (i, k) => r.at('ports', i, 'name').error(`duplicate port name ${quote(String(k))}`));
  duplicates(ports, (p) => `${p.port}/${p.protocol ?? 'TCP'}`, (i, k) => r.at('ports', i).error(`duplicate port ${String(k)}`));
  duplicates(ports, (p) => p.nodePort, (i, k) => r.at('ports', i, 'nodePort').error(`duplicate nodePort ${String(k)}`));
}

const endpointAddress = object({
  ip: required(string({ format: ip })),
  hostname: string({ format: dns1123Label }),
  nodeName: string({ format: dns1123Subdomain }),
  targetRef: objectReference,
});

const endpointSubset = object(
  {
    addresses: array(endpointAddress),
    notReadyAddresses: array(endpointAddress),
    ports: array(
      object({
        name: string({ format: dns1123Label }),
        port: required(integer({ min: 1, max: 65535 })),
        protocol: string({ enum: PROTOCOLS }),
      }),
    ),
  },
  (s: { ports?: { name?: string }[] }, r) => {
    const ports = s.ports ?? [];
    ports.forEach((p, i) => {
      if (ports.length > 1 && !p.name) r.at('ports', i, 'name').error('required when the subset has more than one port');
    });
    duplicates(ports, (p) => p.name || undefined, (i, k) => r.at('ports', i, 'name').error(`duplicate port name ${quote(String(k))}`));
  },
);

// ---------------------------------------------------------------------------------------------
// ConfigMap and Secret

function checkConfigSize(maps: readonly (Record<string, string> | undefined)[], r: Reporter): void {
  let bytes = 0;
  for (const m of maps) for (const [k, v] of Object.entries(m ?? {})) bytes += utf8Length(k) + utf8Length(v);
  if (bytes > CONFIG_DATA_BYTES_MAX) r.error(`data must hold at most ${CONFIG_DATA_BYTES_MAX} bytes; got ${bytes}`);
}

const SECRET_TYPE_KEYS: Readonly<Record<string, readonly string[]>> = {
  'kubernetes.io/tls': ['tls.crt', 'tls.key'],
  'kubernetes.io/dockerconfigjson': ['.dockerconfigjson'],
  'kubernetes.io/basic-auth': [],
  'kubernetes.io/ssh-auth': ['ssh-privatekey'],
};

// ---------------------------------------------------------------------------------------------
// Kinds

const typeMeta = { apiVersion: string(), kind: string() };

const meta = (nameFormat: FormatCheck) => required(objectMeta(nameFormat));

/** KIND_SCHEMAS: the schema of every kind, checked by `validate`. */
export const KIND_SCHEMAS: Readonly<Record<Kind, Schema>> = {
  Namespace: object({
    ...typeMeta,
    metadata: meta(dns1123Label),
    spec: object({ finalizers: array(string({ format: qualifiedName })) }),
    status: object({ phase: string({ enum: ['Active', 'Terminating'] }) }),
  }),

  Node: object({
    ...typeMeta,
    metadata: meta(dns1123Subdomain),
    spec: object({
      podCIDR: string({ format: cidr }),
      podCIDRs: array(string({ format: cidr })),
      providerID: string(),
      unschedulable: boolean(),
      taints: array(
        object({
          key: required(string({ format: qualifiedName })),
          value: string({ format: labelValue }),
          effect: required(string({ enum: taintEffects })),
          timeAdded: string({ format: rfc3339 }),
        }),
        {
          check: (taints: { key: string; effect: string }[], r) =>
            duplicates(taints, (t) => `${t.key}:${t.effect}`, (i, k) => r.at(i).error(`duplicate taint ${String(k)}`)),
        },
      ),
    }),
    status: object({
      capacity: map(quantity(), { keys: nodeResourceName }),
      allocatable: map(quantity(), { keys: nodeResourceName }),
      conditions: array(
        object({
          type: required(string({ minLength: 1 })),
          status: required(string({ enum: CONDITION_STATUS })),
          lastHeartbeatTime: string({ format: rfc3339 }),
          lastTransitionTime: string({ format: rfc3339 }),
          reason: string(),
          message: string(),
        }),
      ),
      addresses: array(
        object({
          type: required(string({ enum: ['Hostname', 'InternalIP', 'ExternalIP', 'InternalDNS', 'ExternalDNS'] })),
          address: required(string({ minLength: 1 })),
        }),
      ),
      nodeInfo: object({
        machineID: string(),
        systemUUID: string(),
        bootID: string(),
        kernelVersion: string(),
        osImage: string(),
        containerRuntimeVersion: string(),
        kubeletVersion: string(),
        kubeProxyVersion: string(),
        operatingSystem: string(),
        architecture: string(),
      }),
      daemonEndpoints: object({
        agentEndpoint: object({ port: required(integer({ min: 1, max: 65535 })) }),
      }),
    }),
  }),

  Pod: object({
    ...typeMeta,
    metadata: meta(dns1123Subdomain),
    spec: required(podSpec),
    status: podStatus,
  }),

  ReplicaSet: object({
    ...typeMeta,
    metadata: meta(dns1123Subdomain),
    spec: required(
      object(
        {
          replicas: replicaCount,
          minReadySeconds: integer({ min: 0 }),
          selector: required(labelSelectorSchema),
          template: required(podTemplate),
        },
        checkWorkloadSpec,
      ),
    ),
    status: object({
      replicas: required(replicaCount),
      fullyLabeledReplicas: replicaCount,
      readyReplicas: replicaCount,
      availableReplicas: replicaCount,
      observedGeneration: integer({ min: 0, max: SAFE_MAX }),
      conditions: array(replicaSetCondition),
    }),
  }),

  Deployment: object({
    ...typeMeta,
    metadata: meta(dns1123Subdomain),
    spec: required(
      object(
        {
          replicas: replicaCount,
          selector: required(labelSelectorSchema),
          template: required(podTemplate),
          strategy,
          minReadySeconds: integer({ min: 0 }),
          revisionHistoryLimit: integer({ min: 0 }),
          paused: boolean(),
          progressDeadlineSeconds: integer({ min: 1 }),
        },
        (spec: DeploymentSpec, r) => {
          checkWorkloadSpec(spec, r);
          if (present(spec.progressDeadlineSeconds) && (spec.progressDeadlineSeconds as number) <= (spec.minReadySeconds ?? 0)) {
            r.at('progressDeadlineSeconds').error('must be greater than minReadySeconds');
          }
        },
      ),
    ),
    status: object({
      observedGeneration: integer({ min: 0, max: SAFE_MAX }),
      replicas: replicaCount,
      updatedReplicas: replicaCount,
      readyReplicas: replicaCount,
      availableReplicas: replicaCount,
      unavailableReplicas: replicaCount,
      conditions: array(
        object({
          type: required(string({ minLength: 1 })),
          status: required(string({ enum: CONDITION_STATUS })),
          lastUpdateTime: string({ format: rfc3339 }),
          lastTransitionTime: string({ format: rfc3339 }),
          reason: string(),
          message: string(),
        }),
      ),
      collisionCount: integer({ min: 0 }),
    }),
  }),

  Service: object({
    ...typeMeta,
    metadata: meta(dns1035Label),
    spec: required(
      object(
        {
          type: string({ enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] }),
          clusterIP: string({ format: clusterIP }),
          clusterIPs: array(string({ format: clusterIP })),
          selector: labels,
          ports: array(servicePort),
          sessionAffinity: string({ enum: ['None', 'ClientIP'] }),
          sessionAffinityConfig: object({ clientIP: object({ timeoutSeconds: integer({ min: 1, max: 86400 }) }) }),
          publishNotReadyAddresses: boolean(),
        },
        checkServiceSpec,
      ),
    ),
    status: object({
      loadBalancer: object({ ingress: array(object({ ip: string({ format: ip }), hostname: string({ format: dns1123Subdomain }) })) }),
    }),
  }),

  Endpoints: object({
    ...typeMeta,
    metadata: meta(dns1123Subdomain),
    subsets: array(endpointSubset),
  }),

  ConfigMap: object(
    {
      ...typeMeta,
      metadata: meta(dns1123Subdomain),
      data: map(string(), { keys: configKey }),
      binaryData: map(string({ format: base64 }), { keys: configKey }),
      immutable: boolean(),
    },
    (cm: { data?: Record<string, string>; binaryData?: Record<string, string> }, r) => {
      for (const k of Object.keys(cm.binaryData ?? {})) {
        if (cm.data && Object.hasOwn(cm.data, k)) r.at('binaryData', k).error('key is also in data');
      }
      checkConfigSize([cm.data, cm.binaryData], r);
    },
  ),

  Secret: object(
    {
      ...typeMeta,
      metadata: meta(dns1123Subdomain),
      data: map(string({ format: base64, sensitive: true }), { keys: configKey }),
      stringData: map(string({ sensitive: true }), { keys: configKey }),
      type: string({ format: secretType }),
      immutable: boolean(),
    },
    (s: { data?: Record<string, string>; stringData?: Record<string, string>; type?: string }, r) => {
      checkConfigSize([s.data, s.stringData], r);
      const needed = SECRET_TYPE_KEYS[s.type ?? ''] ?? [];
      for (const key of needed) {
        if (!Object.hasOwn(s.data ?? {}, key) && !Object.hasOwn(s.stringData ?? {}, key)) {
          r.at('data').error(`must have key ${quote(key)} for type ${s.type}`);
        }
      }
    },
  ),

  Event: object(
    {
      ...typeMeta,
      metadata: meta(dns1123Subdomain),
      involvedObject: required(objectReference),
      reason: string({ maxLength: 128 }),
      message: string({ maxLength: 16384 }),
      source: object({ component: string(), host: string() }),
      firstTimestamp: string({ format: rfc3339 }),
      lastTimestamp: string({ format: rfc3339 }),
      count: integer({ min: 0 }),
      type: string({ enum: ['Normal', 'Warning'] }),
    },
    (e: { metadata: { namespace?: string }; involvedObject: { namespace?: string } }, r) => {
      const ns = e.involvedObject.namespace;
      if (ns && e.metadata.namespace && ns !== e.metadata.namespace) {
        r.at('involvedObject', 'namespace').error(`must equal metadata.namespace ${quote(e.metadata.namespace)}`);
      }
    },
  ),

  Lease: object({
    ...typeMeta,
    metadata: meta(dns1123Subdomain),
    spec: object({
      holderIdentity: string(),
      leaseDurationSeconds: integer({ min: 1 }),
      acquireTime: string({ format: rfc3339 }),
      renewTime: string({ format: rfc3339 }),
      leaseTransitions: integer({ min: 0 }),
    }),
  }),
};
