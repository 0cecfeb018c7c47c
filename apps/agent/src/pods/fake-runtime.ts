// fake-runtime.ts: an in-memory RuntimeClient for tests, with containerd's CRI semantics as the
// pod manager relies on them: sandboxes READY/NOTREADY (a stopped sandbox keeps its containers
// until it is removed; removing one removes its containers), containers CREATED -> RUNNING ->
// EXITED with exit code, reason (Completed, Error, OOMKilled) and times, names reserved per
// (container, sandbox, attempt), labels and annotations kept, NOT_FOUND for unknown ids where
// containerd gives it. Tests drive containers with exit(), crashSandbox() and failNext().
// Only for tests.
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { CriError } from '@tugboat/cri';
import type { ContainerConfigInit, ContainerFilterInit, PodSandboxConfigInit, PodSandboxFilterInit } from '@tugboat/cri';
import { cri, Status } from '@tugboat/proto';
import type { StatusCode } from '@tugboat/proto';
import { POD_UID_LABEL } from '@tugboat/cri';
import type { RuntimeClient } from './runtime.ts';

interface FakeSandbox {
  id: string;
  config: PodSandboxConfigInit;
  state: cri.PodSandboxState;
  createdAtNs: bigint;
  ip: string;
}

interface FakeContainer {
  id: string;
  sandboxId: string;
  config: ContainerConfigInit;
  reservedName: string;
  state: cri.ContainerState;
  createdAtNs: bigint;
  startedAtNs: bigint;
  finishedAtNs: bigint;
  exitCode: number;
  reason: string;
  message: string;
  imageRef: string;
  logPath: string;
}

/** FakeCall is one call the fake received (method and its main argument). */
export interface FakeCall {
  method: string;
  arg: string;
}

const msToNs = (ms: number): bigint => BigInt(Math.round(ms)) * 1_000_000n;

function labelsMatch(labels: Record<string, string> | undefined, selector: Record<string, string> | undefined): boolean {
  for (const [k, v] of Object.entries(selector ?? {})) if (labels?.[k] !== v) return false;
  return true;
}

/** FakeRuntime is an in-memory container runtime. */
export class FakeRuntime implements RuntimeClient {
  readonly calls: FakeCall[] = [];
  /** images the runtime has (name -> image id). */
  readonly images = new Map<string, string>();
  /** pullable are the images a pull can fetch (name -> image id). */
  readonly pullable = new Map<string, string>();
  /** stopExitCode is the exit code a stopped container gets (137: it ignored SIGTERM). */
  stopExitCode = 137;
  readonly #sandboxes = new Map<string, FakeSandbox>();
  readonly #containers = new Map<string, FakeContainer>();
  readonly #failures = new Map<string, Error[]>();
  readonly #now: () => number;
  #nextId = 1;
  #nextIp = 2;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  // ---- test controls ----

  /** addImage makes an image present (and pullable). */
  addImage(name: string): void {
    const id = `sha256:${Buffer.from(name).toString('hex').padEnd(64, '0').slice(0, 64)}`;
    this.images.set(name, id);
    this.pullable.set(name, id);
  }

  /** failNext makes the next call of method (such as "startContainer") reject with err. */
  failNext(method: string, err: Error): void {
    const list = this.#failures.get(method) ?? [];
    list.push(err);
    this.#failures.set(method, list);
  }

  /** exit ends a running container as its process would. */
  exit(containerId: string, exitCode: number, reason?: string): void {
    const c = this.#container('Exit', containerId);
    if (c.state !== cri.ContainerState.CONTAINER_RUNNING) throw new Error(`fake: container ${containerId} is not running`);
    this.#finish(c, exitCode, reason);
  }

  /** crashSandbox is what a node reboot leaves: the sandbox not ready, its containers exited
   *  (255, Unknown), its IP gone. */
  crashSandbox(sandboxId: string): void {
    const s = this.#sandbox('Crash', sandboxId);
    s.state = cri.PodSandboxState.SANDBOX_NOTREADY;
    s.ip = '';
    for (const c of this.#containers.values()) {
      if (c.sandboxId === sandboxId && c.state === cri.ContainerState.CONTAINER_RUNNING) this.#finish(c, 255, 'Unknown');
    }
  }

  /** callsOf lists the main argument of every call of method. */
  callsOf(method: string): string[] {
    return this.calls.filter((c) => c.method === method).map((c) => c.arg);
  }

  // ---- RuntimeClient ----

  async runPodSandbox(config: PodSandboxConfigInit): Promise<string> {
    this.#enter('runPodSandbox', `${config.metadata?.namespace ?? ''}/${config.metadata?.name ?? ''}`);
    const m = config.metadata;
    const reserved = `${m?.name ?? ''}_${m?.namespace ?? ''}_${m?.uid ?? ''}_${m?.attempt ?? 0}`;
    for (const s of this.#sandboxes.values()) {
      if (this.#sandboxName(s) === reserved) throw this.#error('RunPodSandbox', Status.UNKNOWN, `name "${reserved}" is reserved`);
    }
    const id = this.#id('sb');
    this.#sandboxes.set(id, {
      id,
      config: structuredClone(config),
      state: cri.PodSandboxState.SANDBOX_READY,
      createdAtNs: msToNs(this.#now()),
      ip: `10.244.0.${this.#nextIp++}`,
    });
    return id;
  }

  async stopPodSandbox(podSandboxId: string): Promise<void> {
    this.#enter('stopPodSandbox', podSandboxId);
    const s = this.#sandbox('StopPodSandbox', podSandboxId);
    for (const c of this.#containers.values()) {
      if (c.sandboxId === s.id && c.state === cri.ContainerState.CONTAINER_RUNNING) this.#finish(c, 137, 'Error');
    }
    s.state = cri.PodSandboxState.SANDBOX_NOTREADY;
    s.ip = '';
  }

  async removePodSandbox(podSandboxId: string): Promise<void> {
    this.#enter('removePodSandbox', podSandboxId);
    const s = this.#sandboxes.get(podSandboxId);
    if (s === undefined) return;
    if (s.state === cri.PodSandboxState.SANDBOX_READY) {
      throw this.#error('RemovePodSandbox', Status.UNKNOWN, `sandbox container "${podSandboxId}" is not fully stopped`);
    }
    for (const c of [...this.#containers.values()]) if (c.sandboxId === s.id) this.#containers.delete(c.id);
    this.#sandboxes.delete(s.id);
  }

  async podSandboxStatus(podSandboxId: string): Promise<cri.PodSandboxStatusResponse> {
    this.#enter('podSandboxStatus', podSandboxId);
    const s = this.#sandbox('PodSandboxStatus', podSandboxId);
    return create(cri.PodSandboxStatusResponseSchema, {
      status: {
        id: s.id,
        metadata: s.config.metadata ?? {},
        state: s.state,
        createdAt: s.createdAtNs,
        network: { ip: s.ip },
        labels: { ...s.config.labels },
        annotations: { ...s.config.annotations },
      },
    });
  }

  async listPodSandbox(filter?: PodSandboxFilterInit): Promise<cri.PodSandbox[]> {
    this.#enter('listPodSandbox', filter?.labelSelector?.[POD_UID_LABEL] ?? '');
    return [...this.#sandboxes.values()]
      .filter(
        (s) =>
          (filter?.id === undefined || filter.id === '' || filter.id === s.id) &&
          (filter?.state === undefined || filter.state.state === s.state) &&
          labelsMatch(s.config.labels, filter?.labelSelector),
      )
      .map((s) =>
        create(cri.PodSandboxSchema, {
          id: s.id,
          metadata: s.config.metadata ?? {},
          state: s.state,
          createdAt: s.createdAtNs,
          labels: { ...s.config.labels },
          annotations: { ...s.config.annotations },
        }),
      );
  }

  async createContainer(podSandboxId: string, config: ContainerConfigInit, sandboxConfig: PodSandboxConfigInit): Promise<string> {
    this.#enter('createContainer', `${podSandboxId}/${config.metadata?.name ?? ''}`);
    const s = this.#sandbox('CreateContainer', podSandboxId);
    if (s.state !== cri.PodSandboxState.SANDBOX_READY) {
      throw this.#error('CreateContainer', Status.UNKNOWN, `sandbox ${podSandboxId} is not ready`);
    }
    const image = config.image?.image ?? '';
    const imageRef = this.images.get(image);
    if (imageRef === undefined) throw this.#error('CreateContainer', Status.NOT_FOUND, `image "${image}" not found`);
    const reservedName = `${config.metadata?.name ?? ''}_${this.#sandboxName(s)}_${config.metadata?.attempt ?? 0}`;
    for (const c of this.#containers.values()) {
      if (c.reservedName === reservedName) throw this.#error('CreateContainer', Status.UNKNOWN, `name "${reservedName}" is reserved`);
    }
    const id = this.#id('ct');
    this.#containers.set(id, {
      id,
      sandboxId: s.id,
      config: structuredClone(config),
      reservedName,
      state: cri.ContainerState.CONTAINER_CREATED,
      createdAtNs: msToNs(this.#now()),
      startedAtNs: 0n,
      finishedAtNs: 0n,
      exitCode: 0,
      reason: '',
      message: '',
      imageRef,
      logPath: join(sandboxConfig.logDirectory ?? s.config.logDirectory ?? '', config.logPath ?? ''),
    });
    return id;
  }

  async startContainer(containerId: string): Promise<void> {
    this.#enter('startContainer', containerId);
    const c = this.#container('StartContainer', containerId);
    if (c.state !== cri.ContainerState.CONTAINER_CREATED) {
      throw this.#error('StartContainer', Status.UNKNOWN, `container ${containerId} is not in created state`);
    }
    c.state = cri.ContainerState.CONTAINER_RUNNING;
    c.startedAtNs = msToNs(this.#now());
  }

  async stopContainer(containerId: string, timeoutSeconds: number): Promise<void> {
    this.#enter('stopContainer', `${containerId}:${timeoutSeconds}`);
    const c = this.#container('StopContainer', containerId);
    if (c.state === cri.ContainerState.CONTAINER_RUNNING) this.#finish(c, this.stopExitCode);
  }

  async removeContainer(containerId: string): Promise<void> {
    this.#enter('removeContainer', containerId);
    const c = this.#containers.get(containerId);
    if (c === undefined) return;
    if (c.state === cri.ContainerState.CONTAINER_RUNNING) this.#finish(c, 137, 'Error');
    this.#containers.delete(containerId);
  }

  async listContainers(filter?: ContainerFilterInit): Promise<cri.Container[]> {
    this.#enter('listContainers', filter?.labelSelector?.[POD_UID_LABEL] ?? '');
    return [...this.#containers.values()]
      .filter(
        (c) =>
          (filter?.id === undefined || filter.id === '' || filter.id === c.id) &&
          (filter?.state === undefined || filter.state.state === c.state) &&
          (filter?.podSandboxId === undefined || filter.podSandboxId === '' || filter.podSandboxId === c.sandboxId) &&
          labelsMatch(c.config.labels, filter?.labelSelector),
      )
      .map((c) =>
        create(cri.ContainerSchema, {
          id: c.id,
          podSandboxId: c.sandboxId,
          metadata: c.config.metadata ?? {},
          image: { image: c.config.image?.image ?? '' },
          imageRef: c.imageRef,
          state: c.state,
          createdAt: c.createdAtNs,
          labels: { ...c.config.labels },
          annotations: { ...c.config.annotations },
        }),
      );
  }

  async containerStatus(containerId: string): Promise<cri.ContainerStatusResponse> {
    this.#enter('containerStatus', containerId);
    const c = this.#container('ContainerStatus', containerId);
    return create(cri.ContainerStatusResponseSchema, {
      status: {
        id: c.id,
        metadata: c.config.metadata ?? {},
        state: c.state,
        createdAt: c.createdAtNs,
        startedAt: c.startedAtNs,
        finishedAt: c.finishedAtNs,
        exitCode: c.exitCode,
        image: { image: c.config.image?.image ?? '' },
        imageRef: c.imageRef,
        reason: c.reason,
        message: c.message,
        labels: { ...c.config.labels },
        annotations: { ...c.config.annotations },
        logPath: c.logPath,
      },
    });
  }

  async pullImage(image: string): Promise<string> {
    this.#enter('pullImage', image);
    const id = this.pullable.get(image);
    if (id === undefined) {
      throw this.#error('PullImage', Status.UNKNOWN, `failed to pull and unpack image "${image}": not found`);
    }
    this.images.set(image, id);
    return id;
  }

  async imageStatus(image: string): Promise<cri.Image | undefined> {
    this.#enter('imageStatus', image);
    const id = this.images.get(image);
    return id === undefined ? undefined : create(cri.ImageSchema, { id, repoTags: [image], size: 1000n });
  }

  // ---- internals ----

  #enter(method: string, arg: string): void {
    this.calls.push({ method, arg });
    const err = this.#failures.get(method)?.shift();
    if (err !== undefined) throw err;
  }

  #error(op: string, code: StatusCode, detail: string): CriError {
    return new CriError(op, '', code, detail);
  }

  #id(prefix: string): string {
    return `${prefix}${String(this.#nextId++).padStart(6, '0')}`;
  }

  #sandbox(op: string, id: string): FakeSandbox {
    const s = this.#sandboxes.get(id);
    if (s === undefined) throw this.#error(op, Status.NOT_FOUND, `an error occurred when try to find sandbox "${id}": not found`);
    return s;
  }

  #container(op: string, id: string): FakeContainer {
    const c = this.#containers.get(id);
    if (c === undefined) throw this.#error(op, Status.NOT_FOUND, `an error occurred when try to find container "${id}": not found`);
    return c;
  }

  #sandboxName(s: FakeSandbox): string {
    const m = s.config.metadata;
    return `${m?.name ?? ''}_${m?.namespace ?? ''}_${m?.uid ?? ''}_${m?.attempt ?? 0}`;
  }

  #finish(c: FakeContainer, exitCode: number, reason?: string): void {
    c.state = cri.ContainerState.CONTAINER_EXITED;
    c.finishedAtNs = msToNs(this.#now());
    c.exitCode = exitCode;
    c.reason = reason ?? (exitCode === 0 ? 'Completed' : 'Error');
  }
}
