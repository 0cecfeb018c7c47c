// types.ts: the object kinds, shaped like their Kubernetes counterparts (same field names and
// nesting), so the supported subset of real Kubernetes manifests applies unchanged.
//
// Optional fields are optional in the types; `applyDefaults` fills the ones Kubernetes defaults
// (listed on each field as "Default: ..."). Every field here is accepted by the schema in
// `schemas.ts`; a field that is not here is refused as unknown.

/** Kind is the name of every kind tugboat serves. */
export type Kind =
  | 'Namespace'
  | 'Node'
  | 'Pod'
  | 'ReplicaSet'
  | 'Deployment'
  | 'Service'
  | 'Endpoints'
  | 'ConfigMap'
  | 'Secret'
  | 'Event'
  | 'Lease';

/** Quantity is a Kubernetes resource quantity as text ("100m", "0.5", "128Mi", "1G"). */
export type Quantity = string;

/** IntOrString is a value that is either an integer or a string (a port name or "25%"). */
export type IntOrString = number | string;

/** Time is an RFC 3339 timestamp in UTC ("2024-01-02T15:04:05Z"). */
export type Time = string;

/** MicroTime is an RFC 3339 timestamp that may carry fractional seconds ("2024-01-02T15:04:05.123Z"). */
export type MicroTime = string;

// ---------------------------------------------------------------------------------------------
// Metadata

/** OwnerReference names the object that owns this one (a ReplicaSet owns its Pods). */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  /** At most one owner reference of an object is its controller. */
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** ObjectMeta is the `metadata` of every object. */
export interface ObjectMeta {
  /** Unique within the kind (and namespace, for namespaced kinds). Required unless generateName is set. */
  name?: string;
  /** Prefix for a server-generated name, used when name is empty. */
  generateName?: string;
  /** Namespace of a namespaced object. Default: "default". Not allowed on cluster-scoped kinds. */
  namespace?: string;
  /** Set by the store on create. */
  uid?: string;
  /** Opaque version for compare-and-swap: the store's revision that last wrote the object. */
  resourceVersion?: string;
  /** Incremented by the store when the spec changes. */
  generation?: number;
  creationTimestamp?: Time;
  /** Set when deletion was requested and finalizers still hold the object. */
  deletionTimestamp?: Time;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
}

/** ObjectReference points at another object (Event.involvedObject, EndpointAddress.targetRef). */
export interface ObjectReference {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  resourceVersion?: string;
  fieldPath?: string;
}

/** LocalObjectReference names an object in the same namespace. */
export interface LocalObjectReference {
  name: string;
}

// ---------------------------------------------------------------------------------------------
// Label selectors

export type LabelSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface LabelSelectorRequirement {
  key: string;
  operator: LabelSelectorOperator;
  /** Non-empty for In and NotIn; empty or absent for Exists and DoesNotExist. */
  values?: string[];
}

/**
 * LabelSelector selects objects by labels: all of matchLabels and all of matchExpressions must
 * hold. An empty selector matches every object.
 */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

// ---------------------------------------------------------------------------------------------
// Shared status shapes

export type ConditionStatus = 'True' | 'False' | 'Unknown';

// ---------------------------------------------------------------------------------------------
// Namespace

export interface NamespaceSpec {
  finalizers?: string[];
}

export interface NamespaceStatus {
  /** Default: "Active". */
  phase?: 'Active' | 'Terminating';
}

export interface Namespace {
  apiVersion: 'v1';
  kind: 'Namespace';
  metadata: ObjectMeta;
  spec?: NamespaceSpec;
  status?: NamespaceStatus;
}

// ---------------------------------------------------------------------------------------------
// Node

export type TaintEffect = 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';

export interface Taint {
  key: string;
  value?: string;
  effect: TaintEffect;
  timeAdded?: Time;
}

export interface NodeSpec {
  /** The node's pod CIDR, e.g. "10.244.3.0/24". */
  podCIDR?: string;
  podCIDRs?: string[];
  providerID?: string;
  /** A cordoned node takes no new pods. Default: false. */
  unschedulable?: boolean;
  taints?: Taint[];
}

export type NodeAddressType = 'Hostname' | 'InternalIP' | 'ExternalIP' | 'InternalDNS' | 'ExternalDNS';

export interface NodeAddress {
  type: NodeAddressType;
  address: string;
}

export interface NodeCondition {
  /** Ready, MemoryPressure, DiskPressure, PIDPressure, NetworkUnavailable, ... */
  type: string;
  status: ConditionStatus;
  lastHeartbeatTime?: Time;
  lastTransitionTime?: Time;
  reason?: string;
  message?: string;
}

export interface NodeSystemInfo {
  machineID?: string;
  systemUUID?: string;
  bootID?: string;
  kernelVersion?: string;
  osImage?: string;
  containerRuntimeVersion?: string;
  kubeletVersion?: string;
  kubeProxyVersion?: string;
  operatingSystem?: string;
  architecture?: string;
}

export interface NodeStatus {
  /** Total resources of the node: cpu, memory, pods, ephemeral-storage. */
  capacity?: Record<string, Quantity>;
  /** Resources available to pods (capacity minus reservations). */
  allocatable?: Record<string, Quantity>;
  conditions?: NodeCondition[];
  addresses?: NodeAddress[];
  nodeInfo?: NodeSystemInfo;
  /** Where the node's daemons listen: agentEndpoint is tug-agent's gRPC (logs, exec). */
  daemonEndpoints?: NodeDaemonEndpoints;
}

export interface NodeDaemonEndpoints {
  agentEndpoint?: { port: number };
}

export interface Node {
  apiVersion: 'v1';
  kind: 'Node';
  metadata: ObjectMeta;
  spec?: NodeSpec;
  status?: NodeStatus;
}

// ---------------------------------------------------------------------------------------------
// Pod: containers

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';
export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

export interface ContainerPort {
  /** A port name (IANA service name: at most 15 characters) that services can target. */
  name?: string;
  containerPort: number;
  /** Default: "TCP". */
  protocol?: Protocol;
  hostPort?: number;
  hostIP?: string;
}

export interface ConfigMapKeySelector {
  name: string;
  key: string;
  optional?: boolean;
}

export interface SecretKeySelector {
  name: string;
  key: string;
  optional?: boolean;
}

export interface ObjectFieldSelector {
  /** Default: "v1". */
  apiVersion?: string;
  /** metadata.name, metadata.namespace, metadata.uid, spec.nodeName, status.podIP, status.hostIP, ... */
  fieldPath: string;
}

export interface EnvVarSource {
  configMapKeyRef?: ConfigMapKeySelector;
  secretKeyRef?: SecretKeySelector;
  fieldRef?: ObjectFieldSelector;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: EnvVarSource;
}

export interface ConfigMapEnvSource {
  name: string;
  optional?: boolean;
}

export interface SecretEnvSource {
  name: string;
  optional?: boolean;
}

export interface EnvFromSource {
  prefix?: string;
  configMapRef?: ConfigMapEnvSource;
  secretRef?: SecretEnvSource;
}

export interface ResourceRequirements {
  /** Resource name (cpu, memory, ephemeral-storage) to quantity. */
  limits?: Record<string, Quantity>;
  requests?: Record<string, Quantity>;
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  /** Default: false. */
  readOnly?: boolean;
  subPath?: string;
}

export interface HTTPHeader {
  name: string;
  value: string;
}

export interface HTTPGetAction {
  /** Default: "/". */
  path?: string;
  port: IntOrString;
  host?: string;
  /** Default: "HTTP". */
  scheme?: 'HTTP' | 'HTTPS';
  httpHeaders?: HTTPHeader[];
}

export interface TCPSocketAction {
  port: IntOrString;
  host?: string;
}

export interface ExecAction {
  command?: string[];
}

/** Probe: exactly one of exec, httpGet, tcpSocket. */
export interface Probe {
  exec?: ExecAction;
  httpGet?: HTTPGetAction;
  tcpSocket?: TCPSocketAction;
  /** Seconds after the container starts before the first probe. Zero when absent. */
  initialDelaySeconds?: number;
  /** Default: 1. */
  timeoutSeconds?: number;
  /** Default: 10. */
  periodSeconds?: number;
  /** Default: 1. Must be 1 for liveness probes. */
  successThreshold?: number;
  /** Default: 3. */
  failureThreshold?: number;
}

/** SleepAction pauses for a number of seconds (a preStop that lets clients move elsewhere). */
export interface SleepAction {
  /** At least 0. */
  seconds: number;
}

/** LifecycleHandler: exactly one of exec, httpGet, sleep. */
export interface LifecycleHandler {
  exec?: ExecAction;
  httpGet?: HTTPGetAction;
  sleep?: SleepAction;
}

/**
 * Lifecycle hooks of a container. postStart runs right after the container starts (a failure
 * kills it, and the restart policy decides what follows); preStop runs before the stop signal
 * whenever the container is stopped, within the pod's grace period.
 */
export interface Lifecycle {
  postStart?: LifecycleHandler;
  preStop?: LifecycleHandler;
}

export interface Container {
  /** A DNS-1123 label, unique within the pod. */
  name: string;
  image: string;
  /** Default: "Always" when the tag is latest or absent, else "IfNotPresent". */
  imagePullPolicy?: PullPolicy;
  command?: string[];
  args?: string[];
  workingDir?: string;
  ports?: ContainerPort[];
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  resources?: ResourceRequirements;
  volumeMounts?: VolumeMount[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: Lifecycle;
}

// ---------------------------------------------------------------------------------------------
// Pod: volumes

export interface EmptyDirVolumeSource {
  /** "" (node disk) or "Memory" (tmpfs). */
  medium?: '' | 'Memory';
  sizeLimit?: Quantity;
}

export type HostPathType =
  | ''
  | 'DirectoryOrCreate'
  | 'Directory'
  | 'FileOrCreate'
  | 'File'
  | 'Socket'
  | 'CharDevice'
  | 'BlockDevice';

export interface HostPathVolumeSource {
  path: string;
  /** Default: "" (no check before mounting). */
  type?: HostPathType;
}

export interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}

export interface ConfigMapVolumeSource {
  name: string;
  items?: KeyToPath[];
  /** File mode bits, 0 to 0777. Default: 0644 (420). */
  defaultMode?: number;
  optional?: boolean;
}

export interface SecretVolumeSource {
  secretName: string;
  items?: KeyToPath[];
  /** File mode bits, 0 to 0777. Default: 0644 (420). */
  defaultMode?: number;
  optional?: boolean;
}

/** Volume: a DNS-1123 label name and exactly one source. Default source: emptyDir. */
export interface Volume {
  name: string;
  emptyDir?: EmptyDirVolumeSource;
  hostPath?: HostPathVolumeSource;
  configMap?: ConfigMapVolumeSource;
  secret?: SecretVolumeSource;
}

// ---------------------------------------------------------------------------------------------
// Pod: scheduling

export type NodeSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';

export interface NodeSelectorRequirement {
  key: string;
  operator: NodeSelectorOperator;
  /** Non-empty for In and NotIn, empty for Exists and DoesNotExist, one integer for Gt and Lt. */
  values?: string[];
}

/** NodeSelectorTerm: all of its requirements must hold. */
export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  /** Requirements on node fields; only metadata.name is supported. */
  matchFields?: NodeSelectorRequirement[];
}

/** NodeSelector: any one of its terms must hold. */
export interface NodeSelector {
  nodeSelectorTerms: NodeSelectorTerm[];
}

export interface PreferredSchedulingTerm {
  /** 1 to 100. */
  weight: number;
  preference: NodeSelectorTerm;
}

export interface NodeAffinity {
  requiredDuringSchedulingIgnoredDuringExecution?: NodeSelector;
  preferredDuringSchedulingIgnoredDuringExecution?: PreferredSchedulingTerm[];
}

export interface PodAffinityTerm {
  labelSelector?: LabelSelector;
  /** Namespaces to look in; empty means the pod's own namespace. */
  namespaces?: string[];
  /** Node label whose value defines the topology domain, e.g. kubernetes.io/hostname. */
  topologyKey: string;
}

export interface WeightedPodAffinityTerm {
  /** 1 to 100. */
  weight: number;
  podAffinityTerm: PodAffinityTerm;
}

export interface PodAntiAffinity {
  requiredDuringSchedulingIgnoredDuringExecution?: PodAffinityTerm[];
  preferredDuringSchedulingIgnoredDuringExecution?: WeightedPodAffinityTerm[];
}

export interface Affinity {
  nodeAffinity?: NodeAffinity;
  podAntiAffinity?: PodAntiAffinity;
}

export interface Toleration {
  /** Empty key with operator Exists tolerates every taint. */
  key?: string;
  /** Empty means "Equal". */
  operator?: 'Exists' | 'Equal';
  value?: string;
  /** Empty matches every effect. */
  effect?: '' | TaintEffect;
  /** For NoExecute only: how long the pod stays bound after the taint appears. */
  tolerationSeconds?: number;
}

export interface TopologySpreadConstraint {
  /** At least 1. */
  maxSkew: number;
  topologyKey: string;
  whenUnsatisfiable: 'DoNotSchedule' | 'ScheduleAnyway';
  labelSelector?: LabelSelector;
  /** At least 1; only with whenUnsatisfiable DoNotSchedule. */
  minDomains?: number;
}

// ---------------------------------------------------------------------------------------------
// Pod

export interface PodSpec {
  containers: Container[];
  volumes?: Volume[];
  /** Default: "Always". Must be "Always" in ReplicaSet and Deployment templates. */
  restartPolicy?: RestartPolicy;
  /** Default: 30. */
  terminationGracePeriodSeconds?: number;
  /** The node this pod is bound to; set by the scheduler. */
  nodeName?: string;
  nodeSelector?: Record<string, string>;
  affinity?: Affinity;
  tolerations?: Toleration[];
  topologySpreadConstraints?: TopologySpreadConstraint[];
  /** The pod's hostname; default: the pod's name. */
  hostname?: string;
  /**
   * With hostname: the pod is also HOSTNAME.SUBDOMAIN.NS.svc.cluster.local when a headless
   * Service named SUBDOMAIN selects it.
   */
  subdomain?: string;
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface PodCondition {
  /** PodScheduled, Initialized, ContainersReady, Ready, ... */
  type: string;
  status: ConditionStatus;
  lastProbeTime?: Time;
  lastTransitionTime?: Time;
  reason?: string;
  message?: string;
}

export interface ContainerStateWaiting {
  reason?: string;
  message?: string;
}

export interface ContainerStateRunning {
  startedAt?: Time;
}

export interface ContainerStateTerminated {
  exitCode: number;
  signal?: number;
  reason?: string;
  message?: string;
  startedAt?: Time;
  finishedAt?: Time;
  containerID?: string;
}

/** ContainerState: at most one of waiting, running, terminated. */
export interface ContainerState {
  waiting?: ContainerStateWaiting;
  running?: ContainerStateRunning;
  terminated?: ContainerStateTerminated;
}

export interface ContainerStatus {
  name: string;
  state?: ContainerState;
  lastState?: ContainerState;
  ready: boolean;
  restartCount: number;
  image: string;
  imageID: string;
  containerID?: string;
  started?: boolean;
}

export interface PodIP {
  ip: string;
}

export interface PodStatus {
  phase?: PodPhase;
  conditions?: PodCondition[];
  message?: string;
  reason?: string;
  hostIP?: string;
  podIP?: string;
  podIPs?: PodIP[];
  startTime?: Time;
  containerStatuses?: ContainerStatus[];
  qosClass?: 'Guaranteed' | 'Burstable' | 'BestEffort';
}

export interface Pod {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: ObjectMeta;
  spec: PodSpec;
  status?: PodStatus;
}

/** PodTemplateSpec: the pod a ReplicaSet or Deployment makes (metadata without a name). */
export interface PodTemplateSpec {
  metadata?: ObjectMeta;
  spec: PodSpec;
}

// ---------------------------------------------------------------------------------------------
// ReplicaSet

export interface ReplicaSetSpec {
  /** Default: 1. */
  replicas?: number;
  /** Seconds a new pod must be ready before it counts as available. Zero when absent. */
  minReadySeconds?: number;
  /** Must be non-empty and match template.metadata.labels. */
  selector: LabelSelector;
  template: PodTemplateSpec;
}

export interface ReplicaSetCondition {
  type: string;
  status: ConditionStatus;
  lastTransitionTime?: Time;
  reason?: string;
  message?: string;
}

export interface ReplicaSetStatus {
  replicas: number;
  fullyLabeledReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  observedGeneration?: number;
  conditions?: ReplicaSetCondition[];
}

export interface ReplicaSet {
  apiVersion: 'apps/v1';
  kind: 'ReplicaSet';
  metadata: ObjectMeta;
  spec: ReplicaSetSpec;
  status?: ReplicaSetStatus;
}

// ---------------------------------------------------------------------------------------------
// Deployment

export interface RollingUpdateDeployment {
  /** Pods above replicas during an update: an integer or a percentage. Default: "25%". */
  maxSurge?: IntOrString;
  /** Pods that may be unavailable during an update: an integer or a percentage. Default: "25%". */
  maxUnavailable?: IntOrString;
}

export interface DeploymentStrategy {
  /** Default: "RollingUpdate". */
  type?: 'RollingUpdate' | 'Recreate';
  /** Only with type RollingUpdate. */
  rollingUpdate?: RollingUpdateDeployment;
}

export interface DeploymentSpec {
  /** Default: 1. */
  replicas?: number;
  /** Must be non-empty and match template.metadata.labels. */
  selector: LabelSelector;
  template: PodTemplateSpec;
  /** Default: RollingUpdate with maxSurge 25% and maxUnavailable 25%. */
  strategy?: DeploymentStrategy;
  /** Default: 0. */
  minReadySeconds?: number;
  /** Old ReplicaSets kept for rollback. Default: 10. */
  revisionHistoryLimit?: number;
  paused?: boolean;
  /** Seconds without progress before the rollout is reported failed. Default: 600. */
  progressDeadlineSeconds?: number;
}

export interface DeploymentCondition {
  /** Available, Progressing, ReplicaFailure. */
  type: string;
  status: ConditionStatus;
  lastUpdateTime?: Time;
  lastTransitionTime?: Time;
  reason?: string;
  message?: string;
}

export interface DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  unavailableReplicas?: number;
  conditions?: DeploymentCondition[];
  collisionCount?: number;
}

export interface Deployment {
  apiVersion: 'apps/v1';
  kind: 'Deployment';
  metadata: ObjectMeta;
  spec: DeploymentSpec;
  status?: DeploymentStatus;
}

// ---------------------------------------------------------------------------------------------
// Service

/**
 * ServiceType: ClusterIP (a virtual IP inside the cluster), NodePort (also a port on every
 * node's addresses), LoadBalancer (also the service's own port on every node's address, listed
 * in status.loadBalancer.ingress: the way k3s's ServiceLB serves it without a cloud).
 */
export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer';

export interface ServicePort {
  /** A DNS-1123 label; required when the service has more than one port. */
  name?: string;
  /** Default: "TCP". */
  protocol?: Protocol;
  port: number;
  /** A container port number or name. Default: port. */
  targetPort?: IntOrString;
  /** For types NodePort and LoadBalancer: 30000-32767; allocated when absent (an update keeps the one allocated). */
  nodePort?: number;
}

export interface ClientIPConfig {
  /** How long a client sticks to its endpoint after its last packet. 1 to 86400; default 10800. */
  timeoutSeconds?: number;
}

export interface SessionAffinityConfig {
  clientIP?: ClientIPConfig;
}

export interface ServiceSpec {
  /** Default: "ClusterIP". */
  type?: ServiceType;
  /** Allocated from the service CIDR when absent (an update keeps it); "None" makes a headless service. Immutable once set. */
  clusterIP?: string;
  /** Default: [clusterIP]. */
  clusterIPs?: string[];
  /** Pods with all these labels are the service's endpoints. No selector: endpoints are managed by hand. */
  selector?: Record<string, string>;
  ports?: ServicePort[];
  /** "ClientIP" sends every connection of one client to the same endpoint. Default: "None". */
  sessionAffinity?: 'None' | 'ClientIP';
  /** Only with sessionAffinity ClientIP. */
  sessionAffinityConfig?: SessionAffinityConfig;
  /** Endpoints list pods that are not ready as ready (headless services of sets that find their peers by DNS). Default: false. */
  publishNotReadyAddresses?: boolean;
}

export interface LoadBalancerIngress {
  ip?: string;
  hostname?: string;
}

export interface ServiceStatus {
  loadBalancer?: { ingress?: LoadBalancerIngress[] };
}

export interface Service {
  apiVersion: 'v1';
  kind: 'Service';
  metadata: ObjectMeta;
  spec: ServiceSpec;
  status?: ServiceStatus;
}

// ---------------------------------------------------------------------------------------------
// Endpoints

export interface EndpointAddress {
  ip: string;
  hostname?: string;
  nodeName?: string;
  targetRef?: ObjectReference;
}

export interface EndpointPort {
  name?: string;
  port: number;
  /** Default: "TCP". */
  protocol?: Protocol;
}

export interface EndpointSubset {
  addresses?: EndpointAddress[];
  notReadyAddresses?: EndpointAddress[];
  ports?: EndpointPort[];
}

/** Endpoints of a Service: same name and namespace as the Service. */
export interface Endpoints {
  apiVersion: 'v1';
  kind: 'Endpoints';
  metadata: ObjectMeta;
  subsets?: EndpointSubset[];
}

// ---------------------------------------------------------------------------------------------
// ConfigMap and Secret

export interface ConfigMap {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  metadata: ObjectMeta;
  data?: Record<string, string>;
  /** Values are base64. */
  binaryData?: Record<string, string>;
  immutable?: boolean;
}

export interface Secret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: ObjectMeta;
  /** Values are base64. */
  data?: Record<string, string>;
  /** Write-only plain text values; defaulting folds them into data (they win over data). */
  stringData?: Record<string, string>;
  /** Default: "Opaque". */
  type?: string;
  immutable?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Event

export interface EventSource {
  component?: string;
  host?: string;
}

export interface Event {
  apiVersion: 'v1';
  kind: 'Event';
  metadata: ObjectMeta;
  involvedObject: ObjectReference;
  reason?: string;
  message?: string;
  source?: EventSource;
  firstTimestamp?: Time;
  lastTimestamp?: Time;
  count?: number;
  type?: 'Normal' | 'Warning';
}

// ---------------------------------------------------------------------------------------------
// Lease (coordination.k8s.io/v1)

/**
 * LeaseSpec: who holds a lease and when it was last renewed. Each agent renews the Lease named
 * after its Node in the tug-node-lease namespace (NODE_LEASE_NAMESPACE) as its heartbeat.
 */
export interface LeaseSpec {
  holderIdentity?: string;
  /** How long a holder may go without renewing before others may take the lease. At least 1. */
  leaseDurationSeconds?: number;
  acquireTime?: MicroTime;
  renewTime?: MicroTime;
  /** How many times the lease changed holders. At least 0. */
  leaseTransitions?: number;
}

export interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: ObjectMeta;
  spec?: LeaseSpec;
}

// ---------------------------------------------------------------------------------------------

/** ApiObject is any object of a served kind, discriminated by `kind`. */
export type ApiObject =
  | Namespace
  | Node
  | Pod
  | ReplicaSet
  | Deployment
  | Service
  | Endpoints
  | ConfigMap
  | Secret
  | Event
  | Lease;

/** ObjectOfKind maps a kind name to its object type: ObjectOfKind<'Pod'> is Pod. */
export type ObjectOfKind<K extends Kind> = Extract<ApiObject, { kind: K }>;
