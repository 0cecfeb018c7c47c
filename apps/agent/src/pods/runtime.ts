// runtime.ts: what the pod manager needs of the container runtime (RuntimeClient: the CriClient
// methods it calls, so a CriClient is one and tests pass a fake), and what it reads back: the
// sandboxes and containers of one pod as plain values (PodObservation), newest first.
import type { ContainerConfigInit, ContainerFilterInit, PodSandboxConfigInit, PodSandboxFilterInit } from '@tugboat/cri';
import { isCriError } from '@tugboat/cri';
import { cri, Status } from '@tugboat/proto';
import {
  CONTAINER_HASH_ANNOTATION,
  CONTAINER_NAME_LABEL,
  GRACE_PERIOD_ANNOTATION,
  MANAGED_LABEL,
  POD_NAME_LABEL,
  POD_NAMESPACE_LABEL,
  POD_UID_LABEL,
} from '@tugboat/cri';

/** RuntimeClient is the part of CriClient the pod manager uses. */
export interface RuntimeClient {
  runPodSandbox(config: PodSandboxConfigInit): Promise<string>;
  stopPodSandbox(podSandboxId: string): Promise<void>;
  removePodSandbox(podSandboxId: string): Promise<void>;
  podSandboxStatus(podSandboxId: string): Promise<cri.PodSandboxStatusResponse>;
  listPodSandbox(filter?: PodSandboxFilterInit): Promise<cri.PodSandbox[]>;
  createContainer(podSandboxId: string, config: ContainerConfigInit, sandboxConfig: PodSandboxConfigInit): Promise<string>;
  startContainer(containerId: string): Promise<void>;
  /** stopContainer stops a container, killing it after timeoutSeconds. */
  stopContainer(containerId: string, timeoutSeconds: number): Promise<void>;
  removeContainer(containerId: string): Promise<void>;
  listContainers(filter?: ContainerFilterInit): Promise<cri.Container[]>;
  containerStatus(containerId: string): Promise<cri.ContainerStatusResponse>;
  /** pullImage pulls an image and returns its image id. */
  pullImage(image: string): Promise<string>;
  /** imageStatus returns the image, or undefined when the runtime does not have it. */
  imageStatus(image: string): Promise<cri.Image | undefined>;
}

export type ContainerRunState = 'created' | 'running' | 'exited' | 'unknown';

/** ObservedSandbox is one CRI sandbox of a pod. */
export interface ObservedSandbox {
  id: string;
  attempt: number;
  ready: boolean;
  createdAtMs: number;
  namespace: string;
  name: string;
  /** ip is the pod IP while the sandbox is ready ("" otherwise). */
  ip: string;
  additionalIps: string[];
  /** graceSeconds is the GRACE_PERIOD annotation, if it has one. */
  graceSeconds: number | undefined;
}

/** ObservedContainer is one CRI container of a pod. Times are ms since the epoch, 0 if not yet. */
export interface ObservedContainer {
  id: string;
  sandboxId: string;
  /** name is the container's name in the pod spec. */
  name: string;
  attempt: number;
  state: ContainerRunState;
  createdAtMs: number;
  startedAtMs: number;
  finishedAtMs: number;
  exitCode: number;
  /** reason and message are the runtime's (Completed, Error, OOMKilled). */
  reason: string;
  message: string;
  /** hash is the CONTAINER_HASH annotation ("" if absent). */
  hash: string;
  image: string;
  imageRef: string;
  /** logPath is the full path of the container's CRI log. */
  logPath: string;
  graceSeconds: number | undefined;
}

/** PodObservation is everything the runtime has of one pod uid, newest first. */
export interface PodObservation {
  uid: string;
  sandboxes: ObservedSandbox[];
  containers: ObservedContainer[];
}

/** managedSelector selects the sandboxes and containers tug-agent made (of one pod, given its uid). */
export function managedSelector(podUid?: string): Record<string, string> {
  return podUid === undefined ? { [MANAGED_LABEL]: 'true' } : { [MANAGED_LABEL]: 'true', [POD_UID_LABEL]: podUid };
}

const nsToMs = (ns: bigint): number => Number(ns / 1_000_000n);

function runState(state: cri.ContainerState): ContainerRunState {
  switch (state) {
    case cri.ContainerState.CONTAINER_CREATED:
      return 'created';
    case cri.ContainerState.CONTAINER_RUNNING:
      return 'running';
    case cri.ContainerState.CONTAINER_EXITED:
      return 'exited';
    default:
      return 'unknown';
  }
}

function graceOf(annotations: Record<string, string>): number | undefined {
  const text = annotations[GRACE_PERIOD_ANNOTATION];
  if (text === undefined) return undefined;
  const seconds = Number(text);
  return Number.isInteger(seconds) && seconds >= 0 ? seconds : undefined;
}

/** newestFirst orders by attempt, then creation time, newest first. */
function newestFirst<T extends { attempt: number; createdAtMs: number }>(a: T, b: T): number {
  return b.attempt - a.attempt || b.createdAtMs - a.createdAtMs;
}

const isNotFound = (err: unknown): boolean => isCriError(err, Status.NOT_FOUND);

/**
 * RuntimeObserver reads PodObservations. It remembers, per pod, what cannot change any more
 * (the status of an exited container, the IP of a ready sandbox), so a sync costs a few calls.
 */
export class RuntimeObserver {
  readonly #runtime: RuntimeClient;
  readonly #exited = new Map<string, Map<string, ObservedContainer>>();
  readonly #sandboxIps = new Map<string, Map<string, Network>>();

  constructor(runtime: RuntimeClient) {
    this.#runtime = runtime;
  }

  /** observe lists the managed sandboxes and containers of a pod uid. */
  async observe(podUid: string): Promise<PodObservation> {
    const selector = { labelSelector: managedSelector(podUid) };
    const [sandboxList, containerList] = await Promise.all([
      this.#runtime.listPodSandbox(selector),
      this.#runtime.listContainers(selector),
    ]);
    const knownIps = this.#sandboxIps.get(podUid);
    const knownExited = this.#exited.get(podUid);
    const ips = new Map<string, Network>();
    const exited = new Map<string, ObservedContainer>();
    const sandboxes = (await Promise.all(sandboxList.map((s) => this.#sandbox(s, knownIps, ips)))).filter(
      (s) => s !== undefined,
    );
    const containers = (await Promise.all(containerList.map((c) => this.#container(c, knownExited, exited)))).filter(
      (c) => c !== undefined,
    );
    this.#sandboxIps.set(podUid, ips);
    this.#exited.set(podUid, exited);
    return { uid: podUid, sandboxes: sandboxes.sort(newestFirst), containers: containers.sort(newestFirst) };
  }

  /** rememberNetwork records the network of a sandbox just started (its PodSandboxStatus, read
   *  by the caller), so the next observe does not ask again. */
  rememberNetwork(podUid: string, sandboxId: string, ip: string, additionalIps: string[]): void {
    if (ip === '') return;
    let ips = this.#sandboxIps.get(podUid);
    if (ips === undefined) this.#sandboxIps.set(podUid, (ips = new Map()));
    ips.set(sandboxId, { ip, additionalIps });
  }

  /** forget drops what is remembered of a pod. */
  forget(podUid: string): void {
    this.#sandboxIps.delete(podUid);
    this.#exited.delete(podUid);
  }

  async #sandbox(
    s: cri.PodSandbox,
    known: ReadonlyMap<string, Network> | undefined,
    keep: Map<string, Network>,
  ): Promise<ObservedSandbox | undefined> {
    const ready = s.state === cri.PodSandboxState.SANDBOX_READY;
    let network = ready ? known?.get(s.id) : undefined;
    if (ready && network === undefined) {
      try {
        const status = (await this.#runtime.podSandboxStatus(s.id)).status;
        network = { ip: status?.network?.ip ?? '', additionalIps: status?.network?.additionalIps.map((p) => p.ip) ?? [] };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    }
    if (ready && network !== undefined && network.ip !== '') keep.set(s.id, network);
    return {
      id: s.id,
      attempt: s.metadata?.attempt ?? 0,
      ready,
      createdAtMs: nsToMs(s.createdAt),
      namespace: s.metadata?.namespace ?? s.labels[POD_NAMESPACE_LABEL] ?? '',
      name: s.metadata?.name ?? s.labels[POD_NAME_LABEL] ?? '',
      ip: network?.ip ?? '',
      additionalIps: network?.additionalIps ?? [],
      graceSeconds: graceOf(s.annotations),
    };
  }

  async #container(
    c: cri.Container,
    known: ReadonlyMap<string, ObservedContainer> | undefined,
    keep: Map<string, ObservedContainer>,
  ): Promise<ObservedContainer | undefined> {
    let observed = known?.get(c.id);
    if (observed === undefined) {
      let status: cri.ContainerStatus | undefined;
      try {
        status = (await this.#runtime.containerStatus(c.id)).status;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
      if (status === undefined) return undefined;
      observed = {
        id: c.id,
        sandboxId: c.podSandboxId,
        name: c.labels[CONTAINER_NAME_LABEL] ?? c.metadata?.name ?? '',
        attempt: c.metadata?.attempt ?? 0,
        state: runState(status.state),
        createdAtMs: nsToMs(status.createdAt),
        startedAtMs: nsToMs(status.startedAt),
        finishedAtMs: nsToMs(status.finishedAt),
        exitCode: status.exitCode,
        reason: status.reason,
        message: status.message,
        hash: c.annotations[CONTAINER_HASH_ANNOTATION] ?? '',
        image: status.image?.image ?? c.image?.image ?? '',
        imageRef: status.imageRef,
        logPath: status.logPath,
        graceSeconds: graceOf(c.annotations),
      };
    }
    if (observed.state === 'exited') keep.set(c.id, observed);
    return observed;
  }
}

interface Network {
  ip: string;
  additionalIps: string[];
}

/** ManagedObject is one managed sandbox or container as a relist sees it. */
export interface ManagedObject {
  podUid: string;
  /** state is "sandbox:ready", "sandbox:notready" or "container:<run state>". */
  state: string;
}

const sandboxState = (ready: boolean): string => (ready ? 'sandbox:ready' : 'sandbox:notready');
const containerState = (state: ContainerRunState): string => `container:${state}`;

/** hasEnded tells a sandbox that is not ready or a container that exited: nothing more can
 *  happen to it but removal. */
export function hasEnded(o: ManagedObject): boolean {
  return o.state === sandboxState(false) || o.state === containerState('exited');
}

/** observedObjects are a pod's sandboxes and containers by id, as listManaged would list them. */
export function observedObjects(observation: PodObservation): Map<string, ManagedObject> {
  const podUid = observation.uid;
  const objects = new Map<string, ManagedObject>();
  for (const s of observation.sandboxes) objects.set(s.id, { podUid, state: sandboxState(s.ready) });
  for (const c of observation.containers) objects.set(c.id, { podUid, state: containerState(c.state) });
  return objects;
}

/** listManaged lists every managed sandbox and container by id (one call each), for noticing
 *  changes (a container that exited) and pods the agent does not know yet. */
export async function listManaged(runtime: RuntimeClient): Promise<Map<string, ManagedObject>> {
  const selector = { labelSelector: managedSelector() };
  const [sandboxes, containers] = await Promise.all([runtime.listPodSandbox(selector), runtime.listContainers(selector)]);
  const objects = new Map<string, ManagedObject>();
  for (const s of sandboxes) {
    const podUid = s.labels[POD_UID_LABEL] ?? s.metadata?.uid;
    if (podUid === undefined || podUid === '') continue;
    objects.set(s.id, { podUid, state: sandboxState(s.state === cri.PodSandboxState.SANDBOX_READY) });
  }
  for (const c of containers) {
    const podUid = c.labels[POD_UID_LABEL];
    if (podUid === undefined || podUid === '') continue;
    objects.set(c.id, { podUid, state: containerState(runState(c.state)) });
  }
  return objects;
}
