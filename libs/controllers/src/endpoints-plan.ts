// endpoints-plan.ts: what the Endpoints of a Service should hold, as a pure function of the
// Service and the pods of its namespace (Kubernetes' endpoints controller rules):
//
// - Only Services with a non-empty selector are managed; the rest keep hand-made Endpoints.
// - A pod counts when its labels match the selector, it is bound (spec.nodeName), has an IP,
//   has not finished (Succeeded/Failed) and is not terminating: a pod marked for deletion
//   leaves the Endpoints in the same reconcile, before its containers get the stop signal,
//   which is what lets traffic drain away from it. With publishNotReadyAddresses it stays
//   while terminating, as ready.
// - Its address is ready when the pod's Ready condition is True (or publishNotReadyAddresses),
//   else it goes to notReadyAddresses. A pod with spec.hostname whose spec.subdomain is the
//   Service's name carries that hostname (its DNS name under the service).
// - Each service port's targetPort resolves per pod: a number as it is, a name through the
//   container port of that name and protocol. A pod without the named port is left out of that
//   port only. Pods whose resolved ports are the same share one subset.
// - Everything is sorted (subsets by their ports, addresses by IP), so the same pods give the
//   same object and an unchanged set writes nothing.
import type { EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Pod, Service, ServicePort } from '@tugboat/api';
import { isPodReady, isPodTerminating } from './pod-readiness.ts';

/** isManagedService: the Service has a selector, so the controller keeps its Endpoints. */
export function isManagedService(svc: Service): boolean {
  return Object.keys(svc.spec.selector ?? {}).length > 0;
}

/** selects: every label of the Service's selector is on the pod. */
export function selects(svc: Service, pod: Pod): boolean {
  const labels = pod.metadata.labels ?? {};
  const selector = svc.spec.selector ?? {};
  const keys = Object.keys(selector);
  return keys.length > 0 && keys.every((k) => labels[k] === selector[k]);
}

/** resolveTargetPort returns the pod's port for a service port, or undefined when the pod has no port of that name. */
export function resolveTargetPort(port: ServicePort, pod: Pod): number | undefined {
  const target = port.targetPort ?? port.port;
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  const protocol = port.protocol ?? 'TCP';
  for (const c of pod.spec.containers) {
    for (const p of c.ports ?? []) if (p.name === target && (p.protocol ?? 'TCP') === protocol) return p.containerPort;
  }
  return undefined;
}

function addressOf(svc: Service, pod: Pod): EndpointAddress {
  const { name = '', namespace = '', uid = '' } = pod.metadata;
  const named = pod.spec.hostname !== undefined && pod.spec.hostname !== '' && pod.spec.subdomain === svc.metadata.name;
  return {
    ip: pod.status?.podIP ?? '',
    ...(named ? { hostname: pod.spec.hostname } : {}),
    ...(pod.spec.nodeName === undefined ? {} : { nodeName: pod.spec.nodeName }),
    targetRef: { kind: 'Pod', namespace, name, uid },
  };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byIP(a: EndpointAddress, b: EndpointAddress): number {
  return compareText(a.ip, b.ip) || compareText(a.targetRef?.name ?? '', b.targetRef?.name ?? '');
}

/** endpointSubsets computes the subsets of a managed Service from the pods of its namespace. */
export function endpointSubsets(svc: Service, pods: readonly Pod[]): EndpointSubset[] {
  const publishNotReady = svc.spec.publishNotReadyAddresses === true;
  const groups = new Map<string, { ports: EndpointPort[]; ready: EndpointAddress[]; notReady: EndpointAddress[] }>();
  for (const pod of pods) {
    if (!selects(svc, pod) || pod.spec.nodeName === undefined || (pod.status?.podIP ?? '') === '') continue;
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    if (isPodTerminating(pod) && !publishNotReady) continue;
    const ports: EndpointPort[] = [];
    for (const p of svc.spec.ports ?? []) {
      const port = resolveTargetPort(p, pod);
      if (port === undefined) continue;
      ports.push({ ...(p.name === undefined || p.name === '' ? {} : { name: p.name }), port, protocol: p.protocol ?? 'TCP' });
    }
    // A pod that resolves none of several ports serves nothing here; with no ports at all (a
    // headless Service) the addresses alone are the point.
    if (ports.length === 0 && (svc.spec.ports ?? []).length > 0) continue;
    ports.sort((a, b) => compareText(a.name ?? '', b.name ?? '') || a.port - b.port);
    const key = JSON.stringify(ports);
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = { ports, ready: [], notReady: [] }));
    (publishNotReady || isPodReady(pod) ? g.ready : g.notReady).push(addressOf(svc, pod));
  }
  return [...groups.entries()]
    .sort(([a], [b]) => compareText(a, b))
    .map(([, g]) => ({
      ...(g.ready.length === 0 ? {} : { addresses: g.ready.sort(byIP) }),
      ...(g.notReady.length === 0 ? {} : { notReadyAddresses: g.notReady.sort(byIP) }),
      ...(g.ports.length === 0 ? {} : { ports: g.ports }),
    }));
}

/**
 * desiredEndpoints is the Endpoints object a managed Service should have: its name,
 * namespace and labels, with the computed subsets.
 */
export function desiredEndpoints(svc: Service, pods: readonly Pod[]): Endpoints {
  const { name = '', namespace = '', labels } = svc.metadata;
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name, namespace, ...(labels === undefined ? {} : { labels: { ...labels } }) },
    subsets: endpointSubsets(svc, pods),
  };
}

/** sameEndpoints tells whether stored Endpoints already hold what is desired (subsets and labels). */
export function sameEndpoints(stored: Endpoints, desired: Endpoints): boolean {
  return (
    JSON.stringify(normalize(stored.subsets)) === JSON.stringify(normalize(desired.subsets)) &&
    sameLabels(stored.metadata.labels ?? {}, desired.metadata.labels ?? {})
  );
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/** normalize drops what the API adds or leaves out (empty lists, default protocol) so stored and computed compare equal. */
function normalize(subsets: readonly EndpointSubset[] | undefined): unknown {
  return (subsets ?? []).map((s) => ({
    addresses: (s.addresses ?? []).map(normalAddress),
    notReadyAddresses: (s.notReadyAddresses ?? []).map(normalAddress),
    ports: (s.ports ?? []).map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
  }));
}

function normalAddress(a: EndpointAddress): unknown {
  const r = a.targetRef;
  return { ip: a.ip, hostname: a.hostname ?? '', nodeName: a.nodeName ?? '', ref: [r?.kind ?? '', r?.namespace ?? '', r?.name ?? '', r?.uid ?? ''] };
}
