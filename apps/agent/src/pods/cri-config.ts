// cri-config.ts: the CRI sandbox and container configs of a pod, its QoS class, and the hash
// that says when a running container no longer matches its spec. Pure: no I/O.
import { createHash } from 'node:crypto';
import { totalmem } from 'node:os';
import { cpuMillis, memoryBytes } from '@tugboat/api';
import type { Container, Pod, Protocol } from '@tugboat/api';
import { cri } from '@tugboat/proto';
import type { ContainerConfigInit, PodSandboxConfigInit } from '@tugboat/cri';
import {
  CONTAINER_HASH_ANNOTATION,
  CONTAINER_NAME_LABEL,
  GRACE_PERIOD_ANNOTATION,
  MANAGED_LABEL,
  POD_NAME_LABEL,
  POD_NAMESPACE_LABEL,
  POD_UID_LABEL,
} from '@tugboat/cri';
import { containerLogPath, podLogDir } from '../paths.ts';
import type { MountInit } from './volumes.ts';

/** RuntimeSettings: the node settings the CRI configs depend on. */
export interface RuntimeSettings {
  /** The agent's --data-dir (log directories live under it). */
  dataDir: string;
  /** The parent of every pod sandbox's cgroup: a cgroupfs path such as "/tugboat", or with
   *  cgroupDriver systemd a slice such as "tugboat.slice". */
  cgroupParent: string;
  /** How the runtime places cgroups (containerd's SystemdCgroup). Default cgroupfs. */
  cgroupDriver?: CgroupDriver;
  nodeName: string;
  /** The cluster DNS the pods resolve with (the agent serves it); absent: the runtime's default (the node's resolv.conf). */
  clusterDNS?: { readonly server: string; readonly domain: string };
}

/** CgroupDriver: whether cgroups are cgroupfs paths or systemd slices. */
export type CgroupDriver = 'cgroupfs' | 'systemd';

/**
 * podCgroupParent is the cgroup parent of a pod's sandbox: PARENT/podUID under cgroupfs; under
 * systemd a slice nested in the parent slice by systemd's naming rule (each '-' a level, so the
 * dashes of the UID become '_'), as kubelet names its pod slices: tugboat.slice gives
 * tugboat-podUID.slice.
 */
export function podCgroupParent(settings: Pick<RuntimeSettings, 'cgroupParent' | 'cgroupDriver'>, uid: string): string {
  if (settings.cgroupDriver === 'systemd') {
    const stem = settings.cgroupParent.replace(/\.slice$/, '');
    return `${stem}-pod${uid.replace(/-/g, '_')}.slice`;
  }
  return `${settings.cgroupParent.replace(/\/+$/, '')}/pod${uid}`;
}

/** QosClass is a pod's quality-of-service class, as Kubernetes derives it from resources. */
export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

const DEFAULT_GRACE_PERIOD_SECONDS = 30;
const CPU_SHARES_MIN = 2;
const CPU_PERIOD_US = 100_000;
const CPU_QUOTA_MIN_US = 1000;
const OOM_SCORE_ADJ_GUARANTEED = -998;
const OOM_SCORE_ADJ_BEST_EFFORT = 1000;

const PROTOCOLS: Readonly<Record<Protocol, cri.Protocol>> = {
  TCP: cri.Protocol.TCP,
  UDP: cri.Protocol.UDP,
  SCTP: cri.Protocol.SCTP,
};

function gracePeriod(pod: Pod): string {
  return String(pod.spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_PERIOD_SECONDS);
}

function podIdentity(pod: Pod): { name: string; namespace: string; uid: string } {
  return { name: pod.metadata.name ?? '', namespace: pod.metadata.namespace ?? 'default', uid: pod.metadata.uid ?? '' };
}

/**
 * sandboxConfig returns the CRI sandbox config of a pod: metadata {name, namespace, uid,
 * attempt}, hostname (spec.hostname, else the pod name), log_directory (paths.podLogDir), a
 * port mapping per container port with a hostPort, the pod's labels plus MANAGED, POD_UID,
 * POD_NAME and POD_NAMESPACE (these win over the pod's own), the GRACE_PERIOD annotation, and
 * linux.cgroup_parent podCgroupParent, and with settings.clusterDNS the DNS config
 * Kubernetes gives a ClusterFirst pod: that server, search `NS.svc.DOMAIN svc.DOMAIN DOMAIN`,
 * ndots 5 (so `web` and `web.other` are tried as service names first).
 */
export function sandboxConfig(pod: Pod, settings: RuntimeSettings, attempt: number): PodSandboxConfigInit {
  const id = podIdentity(pod);
  const portMappings = pod.spec.containers.flatMap((c) =>
    (c.ports ?? [])
      .filter((p) => p.hostPort !== undefined && p.hostPort > 0)
      .map((p) => ({
        protocol: PROTOCOLS[p.protocol ?? 'TCP'],
        containerPort: p.containerPort,
        hostPort: p.hostPort ?? 0,
        hostIp: p.hostIP ?? '',
      })),
  );
  return {
    metadata: { ...id, attempt },
    hostname: pod.spec.hostname ?? id.name,
    logDirectory: podLogDir(settings.dataDir, id),
    portMappings,
    labels: {
      ...pod.metadata.labels,
      [MANAGED_LABEL]: 'true',
      [POD_UID_LABEL]: id.uid,
      [POD_NAME_LABEL]: id.name,
      [POD_NAMESPACE_LABEL]: id.namespace,
    },
    annotations: { [GRACE_PERIOD_ANNOTATION]: gracePeriod(pod) },
    linux: { cgroupParent: podCgroupParent(settings, id.uid) },
    ...(settings.clusterDNS === undefined ? {} : { dnsConfig: clusterDnsConfig(id.namespace, settings.clusterDNS) }),
  };
}

function clusterDnsConfig(namespace: string, dns: { server: string; domain: string }): { servers: string[]; searches: string[]; options: string[] } {
  return { servers: [dns.server], searches: [`${namespace}.svc.${dns.domain}`, `svc.${dns.domain}`, dns.domain], options: ['ndots:5'] };
}

/** ContainerConfigInput: what containerConfig takes besides the spec. */
export interface ContainerConfigInput {
  /** The resolved environment (resolveEnv). */
  env: { key: string; value: string }[];
  /** The CRI mounts (containerMounts). */
  mounts: MountInit[];
  /** Node memory for the Burstable oom_score_adj. Default: os.totalmem(). */
  nodeMemoryBytes?: number;
}

/**
 * containerConfig returns the CRI config of one container: metadata {name, attempt}, image,
 * command and args, working_dir, envs, mounts, log_path (paths.containerLogPath, relative to
 * the sandbox's log directory), labels MANAGED, POD_UID, POD_NAME, POD_NAMESPACE and
 * CONTAINER_NAME, annotations CONTAINER_HASH and GRACE_PERIOD, and linux resources
 * (containerResources). No tty, no stdin.
 */
export function containerConfig(pod: Pod, container: Container, attempt: number, input: ContainerConfigInput): ContainerConfigInit {
  const id = podIdentity(pod);
  return {
    metadata: { name: container.name, attempt },
    image: { image: container.image },
    command: container.command ?? [],
    args: container.args ?? [],
    workingDir: container.workingDir ?? '',
    envs: input.env.map((e) => ({ key: e.key, value: e.value })),
    mounts: input.mounts,
    logPath: containerLogPath(container.name, attempt),
    labels: {
      [MANAGED_LABEL]: 'true',
      [POD_UID_LABEL]: id.uid,
      [POD_NAME_LABEL]: id.name,
      [POD_NAMESPACE_LABEL]: id.namespace,
      [CONTAINER_NAME_LABEL]: container.name,
    },
    annotations: {
      [CONTAINER_HASH_ANNOTATION]: containerHash(container),
      [GRACE_PERIOD_ANNOTATION]: gracePeriod(pod),
    },
    stdin: false,
    stdinOnce: false,
    tty: false,
    linux: { resources: containerResources(pod, container, input.nodeMemoryBytes ?? totalmem()) },
  };
}

/** ContainerResourcesInit: CRI LinuxContainerResources as an init object. */
export type ContainerResourcesInit = NonNullable<NonNullable<ContainerConfigInit['linux']>['resources']>;

/** effectiveRequest: the request of a resource, which is its limit when only a limit is set. */
function effectiveRequest(container: Container, resource: 'cpu' | 'memory'): string | undefined {
  return container.resources?.requests?.[resource] ?? container.resources?.limits?.[resource];
}

/**
 * containerResources returns the cgroup settings of a container:
 * - cpu_shares: cpu request in millicores * 1024 / 1000 (the limit when no request), at least 2;
 * - cpu_period 100000 µs and cpu_quota = cpu limit in millicores * 100 µs (at least 1000) when
 *   there is a cpu limit, else both 0 (no quota);
 * - memory_limit_in_bytes: the memory limit, else 0 (no limit);
 * - oom_score_adj by the pod's QoS class: Guaranteed -998, BestEffort 1000, Burstable
 *   1000 - 1000 * memoryRequest / nodeMemoryBytes, kept within 2..999.
 */
export function containerResources(pod: Pod, container: Container, nodeMemoryBytes: number): ContainerResourcesInit {
  const cpuRequest = effectiveRequest(container, 'cpu');
  const cpuLimit = container.resources?.limits?.['cpu'];
  const memoryLimit = container.resources?.limits?.['memory'];
  const shares = cpuRequest === undefined ? CPU_SHARES_MIN : Math.max(CPU_SHARES_MIN, Math.floor((cpuMillis(cpuRequest) * 1024) / 1000));
  const quota = cpuLimit === undefined ? 0 : Math.max(CPU_QUOTA_MIN_US, (cpuMillis(cpuLimit) * CPU_PERIOD_US) / 1000);
  return {
    cpuShares: BigInt(shares),
    cpuPeriod: BigInt(cpuLimit === undefined ? 0 : CPU_PERIOD_US),
    cpuQuota: BigInt(quota),
    memoryLimitInBytes: BigInt(memoryLimit === undefined ? 0 : memoryBytes(memoryLimit)),
    oomScoreAdj: BigInt(oomScoreAdj(pod, container, nodeMemoryBytes)),
  };
}

/** oomScoreAdj: the container's oom_score_adj by its pod's QoS class (see containerResources). */
export function oomScoreAdj(pod: Pod, container: Container, nodeMemoryBytes: number): number {
  const qos = qosClass(pod);
  if (qos === 'Guaranteed') return OOM_SCORE_ADJ_GUARANTEED;
  if (qos === 'BestEffort') return OOM_SCORE_ADJ_BEST_EFFORT;
  const request = effectiveRequest(container, 'memory');
  const requestBytes = request === undefined ? 0 : memoryBytes(request);
  const adj = 1000 - Math.floor((1000 * requestBytes) / Math.max(1, nodeMemoryBytes));
  // Above Guaranteed, below BestEffort, whatever the request.
  return Math.min(OOM_SCORE_ADJ_BEST_EFFORT - 1, Math.max(1000 + OOM_SCORE_ADJ_GUARANTEED, adj));
}

function isPositive(q: string | undefined, parse: (q: string) => number): boolean {
  return q !== undefined && parse(q) > 0;
}

/**
 * qosClass returns the pod's QoS class, from the cpu and memory of its containers (zero
 * quantities count as unset): BestEffort when no container requests or limits either;
 * Guaranteed when every container has cpu and memory limits and its requests (where set)
 * equal them; Burstable otherwise.
 */
export function qosClass(pod: Pod): QosClass {
  let anySet = false;
  let guaranteed = true;
  for (const c of pod.spec.containers) {
    for (const [resource, parse] of [
      ['cpu', cpuMillis],
      ['memory', memoryBytes],
    ] as const) {
      const request = c.resources?.requests?.[resource];
      const limit = c.resources?.limits?.[resource];
      const hasRequest = isPositive(request, parse);
      const hasLimit = isPositive(limit, parse);
      if (hasRequest || hasLimit) anySet = true;
      if (!hasLimit || (hasRequest && parse(request ?? '0') !== parse(limit ?? '0'))) guaranteed = false;
    }
  }
  if (!anySet) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/** canonical returns `v` with object keys sorted and undefined, empty arrays and empty
 *  objects dropped, so equal specs hash equally however they were spelled. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) {
    const x = canonical((v as Record<string, unknown>)[k]);
    if (x === undefined) continue;
    if (Array.isArray(x) && x.length === 0) continue;
    if (typeof x === 'object' && x !== null && !Array.isArray(x) && Object.keys(x).length === 0) continue;
    out[k] = x;
  }
  return out;
}

/**
 * containerHash is a stable hash (16 hex digits) of what needs a new container when it
 * changes: name, image, command, args, workingDir, env, envFrom, ports, resources and
 * volumeMounts. Probes and imagePullPolicy are not part of it.
 */
export function containerHash(container: Container): string {
  const relevant = {
    name: container.name,
    image: container.image,
    command: container.command,
    args: container.args,
    workingDir: container.workingDir,
    env: container.env,
    envFrom: container.envFrom,
    ports: container.ports,
    resources: container.resources,
    volumeMounts: container.volumeMounts,
  };
  return createHash('sha256').update(JSON.stringify(canonical(relevant))).digest('hex').slice(0, 16);
}
