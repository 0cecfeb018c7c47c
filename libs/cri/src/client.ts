// client.ts: CriClient, the CRI runtime and image services of one container runtime (here
// containerd's CRI plugin) over its gRPC socket, such as `unix:///run/tug/containerd.sock`.
//
// Every method is a typed async call that takes plain init objects and returns full messages
// of @tugboat/proto's `cri` module. A failed call rejects with a CriError that names the
// operation and the pod sandbox, container or image it concerned, and keeps the gRPC status.
import { create } from '@bufbuild/protobuf';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { createClient, cri, isGrpcError, Status, statusName } from '@tugboat/proto';
import type { CallOptions, ServiceClient, StatusCode } from '@tugboat/proto';

/** CRI_API_VERSION is the CRI version this client speaks. */
export const CRI_API_VERSION = 'v1';

/** CriError is a failed CRI call: which operation, on what, and the runtime's gRPC status. */
export class CriError extends Error {
  override readonly name = 'CriError';
  /** op is the CRI method, such as "StartContainer". */
  readonly op: string;
  /** subject names what the call concerned, such as `container 3f2a… (web)`; "" if nothing. */
  readonly subject: string;
  /** code is the gRPC status code the runtime (or the channel) gave. */
  readonly code: StatusCode;

  constructor(op: string, subject: string, code: StatusCode, detail: string, options?: { cause?: unknown }) {
    super(`cri ${op}${subject === '' ? '' : ` ${subject}`}: ${statusName(code)}: ${detail}`, options);
    this.op = op;
    this.subject = subject;
    this.code = code;
  }

  /** notFound is true when the runtime does not know the sandbox, container or image. */
  get notFound(): boolean {
    return this.code === Status.NOT_FOUND;
  }
}

/** isCriError tells a CriError (optionally of one status code), also across module copies. */
export function isCriError(err: unknown, code?: StatusCode): err is CriError {
  const is =
    err instanceof CriError ||
    (err instanceof Error && err.name === 'CriError' && typeof (err as { code?: unknown }).code === 'number');
  return is && (code === undefined || (err as CriError).code === code);
}

export type PodSandboxConfigInit = MessageInitShape<typeof cri.PodSandboxConfigSchema>;
export type ContainerConfigInit = MessageInitShape<typeof cri.ContainerConfigSchema>;
export type PodSandboxFilterInit = MessageInitShape<typeof cri.PodSandboxFilterSchema>;
export type ContainerFilterInit = MessageInitShape<typeof cri.ContainerFilterSchema>;
export type ContainerStatsFilterInit = MessageInitShape<typeof cri.ContainerStatsFilterSchema>;
export type ImageFilterInit = MessageInitShape<typeof cri.ImageFilterSchema>;
export type AuthConfigInit = MessageInitShape<typeof cri.AuthConfigSchema>;

/** ExecResult is the outcome of ExecSync. */
export interface ExecResult {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

/** CriClientOptions configure a CriClient. */
export interface CriClientOptions {
  /** timeoutMs is the default deadline of each call (default 2 minutes; image pulls and
   *  ExecSync take their own). */
  timeoutMs?: number;
}

const short = (id: string): string => (id.length > 13 ? id.slice(0, 13) : id);
const podName = (c: PodSandboxConfigInit | undefined): string => {
  const m = c?.metadata;
  return m === undefined ? '' : `${m.namespace ?? ''}/${m.name ?? ''}`;
};

/** CriClient calls a CRI runtime: RuntimeService and ImageService on one socket. */
export class CriClient {
  /** address is the gRPC address, such as unix:///run/containerd/containerd.sock. */
  readonly address: string;
  readonly #runtime: ServiceClient<typeof cri.RuntimeService>;
  readonly #images: ServiceClient<typeof cri.ImageService>;
  readonly #timeoutMs: number;
  /** #names remembers what we called sandboxes and containers, for error messages. */
  readonly #names = new Map<string, string>();

  constructor(address: string, options: CriClientOptions = {}) {
    this.address = address.startsWith('/') ? `unix://${address}` : address;
    this.#timeoutMs = options.timeoutMs ?? 120_000;
    // containerd can send large list answers; no keepalive needed on a local socket.
    const channelOptions = { 'grpc.max_receive_message_length': 16 * 1024 * 1024 };
    this.#runtime = createClient(cri.RuntimeService, this.address, { channelOptions });
    this.#images = createClient(cri.ImageService, this.address, { channelOptions });
  }

  close(): void {
    this.#runtime.close();
    this.#images.close();
  }

  async #call<T>(op: string, subject: string, fn: (opts: CallOptions) => Promise<T>, timeoutMs?: number): Promise<T> {
    try {
      return await fn({ timeoutMs: timeoutMs ?? this.#timeoutMs, waitForReady: true });
    } catch (err) {
      if (isGrpcError(err)) throw new CriError(op, subject, err.code, err.message, { cause: err });
      const msg = err instanceof Error ? err.message : String(err);
      throw new CriError(op, subject, Status.UNKNOWN, msg, { cause: err });
    }
  }

  /** #remember keeps a name for errors, also after removal (a late call still names it);
   *  the oldest names are dropped past 10,000. */
  #remember(id: string, name: string): void {
    this.#names.set(id, name);
    if (this.#names.size > 10_000) {
      const oldest = this.#names.keys().next();
      if (oldest.done !== true) this.#names.delete(oldest.value);
    }
  }

  #sandbox(id: string): string {
    const name = this.#names.get(id);
    return `pod sandbox ${short(id)}${name === undefined ? '' : ` (${name})`}`;
  }

  #container(id: string): string {
    const name = this.#names.get(id);
    return `container ${short(id)}${name === undefined ? '' : ` (${name})`}`;
  }

  // ---- runtime ----

  version(): Promise<cri.VersionResponse> {
    return this.#call('Version', '', (o) => this.#runtime.version({ version: CRI_API_VERSION }, o));
  }

  status(verbose = false): Promise<cri.StatusResponse> {
    return this.#call('Status', '', (o) => this.#runtime.status({ verbose }, o));
  }

  /** runPodSandbox creates and starts a sandbox and returns its id. */
  async runPodSandbox(config: PodSandboxConfigInit, runtimeHandler = ''): Promise<string> {
    const name = podName(config);
    const res = await this.#call('RunPodSandbox', `pod ${name}`, (o) =>
      this.#runtime.runPodSandbox({ config, runtimeHandler }, o),
    );
    this.#remember(res.podSandboxId, `pod ${name}`);
    return res.podSandboxId;
  }

  async stopPodSandbox(podSandboxId: string): Promise<void> {
    await this.#call('StopPodSandbox', this.#sandbox(podSandboxId), (o) =>
      this.#runtime.stopPodSandbox({ podSandboxId }, o),
    );
  }

  async removePodSandbox(podSandboxId: string): Promise<void> {
    await this.#call('RemovePodSandbox', this.#sandbox(podSandboxId), (o) =>
      this.#runtime.removePodSandbox({ podSandboxId }, o),
    );
  }

  podSandboxStatus(podSandboxId: string, verbose = false): Promise<cri.PodSandboxStatusResponse> {
    return this.#call('PodSandboxStatus', this.#sandbox(podSandboxId), (o) =>
      this.#runtime.podSandboxStatus({ podSandboxId, verbose }, o),
    );
  }

  async listPodSandbox(filter?: PodSandboxFilterInit): Promise<cri.PodSandbox[]> {
    const res = await this.#call('ListPodSandbox', '', (o) =>
      this.#runtime.listPodSandbox(filter === undefined ? {} : { filter }, o),
    );
    return res.items;
  }

  /** createContainer creates a container in a sandbox and returns its id. */
  async createContainer(
    podSandboxId: string,
    config: ContainerConfigInit,
    sandboxConfig: PodSandboxConfigInit,
  ): Promise<string> {
    const name = `${podName(sandboxConfig)}/${config.metadata?.name ?? ''}`;
    const res = await this.#call('CreateContainer', `container ${name} in ${this.#sandbox(podSandboxId)}`, (o) =>
      this.#runtime.createContainer({ podSandboxId, config, sandboxConfig }, o),
    );
    this.#remember(res.containerId, name);
    return res.containerId;
  }

  async startContainer(containerId: string): Promise<void> {
    await this.#call('StartContainer', this.#container(containerId), (o) =>
      this.#runtime.startContainer({ containerId }, o),
    );
  }

  /** stopContainer stops a container, killing it after timeoutSeconds (0: at once). */
  async stopContainer(containerId: string, timeoutSeconds: number): Promise<void> {
    await this.#call(
      'StopContainer',
      this.#container(containerId),
      (o) => this.#runtime.stopContainer({ containerId, timeout: BigInt(Math.ceil(timeoutSeconds)) }, o),
      this.#timeoutMs + timeoutSeconds * 1000,
    );
  }

  async removeContainer(containerId: string): Promise<void> {
    await this.#call('RemoveContainer', this.#container(containerId), (o) =>
      this.#runtime.removeContainer({ containerId }, o),
    );
  }

  async listContainers(filter?: ContainerFilterInit): Promise<cri.Container[]> {
    const res = await this.#call('ListContainers', '', (o) =>
      this.#runtime.listContainers(filter === undefined ? {} : { filter }, o),
    );
    return res.containers;
  }

  async containerStatus(containerId: string, verbose = false): Promise<cri.ContainerStatusResponse> {
    return this.#call('ContainerStatus', this.#container(containerId), (o) =>
      this.#runtime.containerStatus({ containerId, verbose }, o),
    );
  }

  /** execSync runs cmd in a container and waits for it (timeoutSeconds 0: no limit). */
  async execSync(containerId: string, cmd: string[], timeoutSeconds = 0): Promise<ExecResult> {
    const res = await this.#call(
      'ExecSync',
      this.#container(containerId),
      (o) => this.#runtime.execSync({ containerId, cmd, timeout: BigInt(Math.ceil(timeoutSeconds)) }, o),
      timeoutSeconds > 0 ? timeoutSeconds * 1000 + 10_000 : this.#timeoutMs,
    );
    return { stdout: Buffer.from(res.stdout), stderr: Buffer.from(res.stderr), exitCode: res.exitCode };
  }

  async containerStats(containerId: string): Promise<cri.ContainerStats> {
    const res = await this.#call('ContainerStats', this.#container(containerId), (o) =>
      this.#runtime.containerStats({ containerId }, o),
    );
    return res.stats ?? create(cri.ContainerStatsSchema);
  }

  /** listContainerStats returns the stats of the running containers the filter picks (all
   *  of them without one): cumulative CPU time and memory, each with its reading's time. */
  async listContainerStats(filter?: ContainerStatsFilterInit): Promise<cri.ContainerStats[]> {
    const res = await this.#call('ListContainerStats', '', (o) =>
      this.#runtime.listContainerStats(filter === undefined ? {} : { filter }, o),
    );
    return res.stats;
  }

  // ---- images ----

  /** pullImage pulls an image and returns its reference (image id). */
  async pullImage(image: string, auth?: AuthConfigInit, sandboxConfig?: PodSandboxConfigInit): Promise<string> {
    const res = await this.#call(
      'PullImage',
      `image ${image}`,
      (o) =>
        this.#images.pullImage(
          { image: { image }, ...(auth === undefined ? {} : { auth }), ...(sandboxConfig === undefined ? {} : { sandboxConfig }) },
          o,
        ),
      Math.max(this.#timeoutMs, 600_000),
    );
    return res.imageRef;
  }

  async listImages(filter?: ImageFilterInit): Promise<cri.Image[]> {
    const res = await this.#call('ListImages', '', (o) => this.#images.listImages(filter === undefined ? {} : { filter }, o));
    return res.images;
  }

  /** imageStatus returns the image, or undefined when the runtime does not have it. */
  async imageStatus(image: string): Promise<cri.Image | undefined> {
    const res = await this.#call('ImageStatus', `image ${image}`, (o) => this.#images.imageStatus({ image: { image } }, o));
    return res.image;
  }

  async removeImage(image: string): Promise<void> {
    await this.#call('RemoveImage', `image ${image}`, (o) => this.#images.removeImage({ image: { image } }, o));
  }
}

