// server.ts: AgentServer, tug-agent's gRPC service (proto/tug/v1/agent.proto) for `tug logs`,
// `tug exec` and `tug top`: container logs read from the CRI log files, commands run through
// CRI ExecSync, and the usage of the node and its pods (stats/sampler.ts). Which container a
// request means is the ContainerLookup's business (the pod manager knows the pods of this node
// and their containers).
import type { Logger } from 'pino';
import { AgentService, GrpcError, INSECURE_PLAINTEXT, Server, Status, addService, bindServer, logRefusals, serverCredentials, shutdownServer } from '@tugboat/proto';
import type { CallContext, ExecRequest, LogsRequest, Security, ServiceImpl, StatsRequest } from '@tugboat/proto';
import { readCriLog } from './logs/crilog.ts';
import type { ExecInContainer } from './probes/probe.ts';
import type { UsageReport } from './stats/sampler.ts';

/** ContainerNotFoundError: the lookup knows no such pod on this node, container or previous
 *  instance; the message says which, and what there is instead. */
export class ContainerNotFoundError extends Error {
  override readonly name = 'ContainerNotFoundError';
}

export function isContainerNotFoundError(err: unknown): err is ContainerNotFoundError {
  return err instanceof Error && err.name === 'ContainerNotFoundError';
}

/** ContainerInstance is one instance (run) of a container. */
export interface ContainerInstance {
  containerId: string;
  /** logPath is the absolute path of its CRI log file. */
  logPath: string;
  /** running is true while it runs. */
  running: boolean;
}

/** ContainerLookup finds the container a logs or exec request names. */
export interface ContainerLookup {
  /**
   * find returns the current instance of container `container` of pod namespace/pod on this
   * node, or with previous the one before it (the one that last exited). An empty container
   * name means the pod's only container. Throws ContainerNotFoundError with a message such as
   * `pod default/web is not on this node`, `pod default/web has no container "x"; its
   * containers: a, b`, `pod default/web has several containers (a, b): name one`, or
   * `container web of pod default/web has no previous instance`.
   */
  find(namespace: string, pod: string, container: string, previous: boolean): Promise<ContainerInstance>;
}

/** AgentServerOptions configure an AgentServer. */
export interface AgentServerOptions {
  /** listen is the HOST:PORT to serve on (port 0: any free port). */
  listen: string;
  lookup: ContainerLookup;
  /** exec runs a command in a container (CRI ExecSync). */
  exec: ExecInContainer;
  /** stats measures the node and the pods of a namespace ("" for all), for Stats
   *  (UsageSampler.sample). */
  stats: (namespace: string) => Promise<UsageReport>;
  log: Logger;
  /** security: how the service is served (default plain text, for tests; tug-agent passes its flags'). */
  security?: Security;
  /** logPollMs is how often a followed log is checked for new lines (default 200). */
  logPollMs?: number;
}

/** EXEC_TIMEOUT_DEFAULT_SECONDS applies when an ExecRequest gives no timeout. */
export const EXEC_TIMEOUT_DEFAULT_SECONDS = 60;

/** LOGS_CHUNK_BYTES bounds the data of one LogsResponse (whole lines; a longer line goes alone). */
const LOGS_CHUNK_BYTES = 64 * 1024;

/** chunkLines splits data (whole lines) into pieces of at most max bytes, cut after newlines. */
export function chunkLines(data: Buffer, max: number): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  while (data.length - start > max) {
    const cut = data.lastIndexOf(0x0a, start + max - 1);
    const end = cut >= start ? cut + 1 : data.indexOf(0x0a, start + max) + 1 || data.length;
    out.push(data.subarray(start, end));
    start = end;
  }
  if (start < data.length) out.push(data.subarray(start));
  return out;
}

function required(field: string, value: string): void {
  if (value === '') throw new GrpcError(Status.INVALID_ARGUMENT, `${field}: required`);
}

function describeContainer(namespace: string, pod: string, container: string): string {
  return container === '' ? `pod ${namespace}/${pod}` : `container ${container} of pod ${namespace}/${pod}`;
}

/** errorCode reads a gRPC status code off an error (CriError, GrpcError), if it has one. */
function errorCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** AgentServer serves AgentService on one address. */
export class AgentServer {
  readonly #opts: AgentServerOptions;
  readonly #log: Logger;
  readonly #server = new Server();
  #started = false;

  constructor(opts: AgentServerOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    const impl: ServiceImpl<typeof AgentService> = {
      logs: (req, ctx) => this.#logs(req, ctx),
      exec: (req, ctx) => this.#exec(req, ctx),
      stats: (req) => this.#stats(req),
    };
    addService(this.#server, AgentService, impl, {
      onInternalError: (err, method) => this.#log.error({ err, method: method.name }, 'agent call failed'),
    });
  }

  /** start binds the listen address and serves; resolves to the address and port bound. */
  async start(): Promise<{ address: string; port: number }> {
    const credentials = serverCredentials(this.#opts.security ?? INSECURE_PLAINTEXT, logRefusals(this.#log, 'agent service'));
    const port = await bindServer(this.#server, this.#opts.listen, credentials);
    this.#started = true;
    const host = this.#opts.listen.slice(0, this.#opts.listen.lastIndexOf(':'));
    return { address: `${host}:${port}`, port };
  }

  /** stop ends the service: running calls get a second to finish (followed logs are cut). */
  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    await shutdownServer(this.#server, 1000);
  }

  /** #find asks the lookup; its NotFound becomes the call's NOT_FOUND. */
  async #find(namespace: string, pod: string, container: string, previous: boolean): Promise<ContainerInstance> {
    try {
      return await this.#opts.lookup.find(namespace, pod, container, previous);
    } catch (err) {
      if (isContainerNotFoundError(err)) throw new GrpcError(Status.NOT_FOUND, err.message);
      throw err;
    }
  }

  async *#logs(req: LogsRequest, ctx: CallContext): AsyncIterable<{ data: Buffer }> {
    required('namespace', req.namespace);
    required('pod', req.pod);
    if (req.tailLines < 0) throw new GrpcError(Status.INVALID_ARGUMENT, `tail_lines: must be 0 or more, not ${req.tailLines}`);
    const instance = await this.#find(req.namespace, req.pod, req.container, req.previous);
    // A followed log ends once its container instance is no longer the running one.
    const exited = async (): Promise<boolean> => {
      if (!instance.running) return true;
      try {
        const now = await this.#opts.lookup.find(req.namespace, req.pod, req.container, req.previous);
        return !now.running || now.containerId !== instance.containerId;
      } catch (err) {
        if (isContainerNotFoundError(err)) return true;
        throw err;
      }
    };
    const lines = readCriLog(instance.logPath, {
      tailLines: req.tailLines,
      timestamps: req.timestamps,
      follow: req.follow,
      exited,
      signal: ctx.signal,
      ...(this.#opts.logPollMs === undefined ? {} : { pollMs: this.#opts.logPollMs }),
    });
    for await (const data of lines) {
      for (const chunk of chunkLines(data, LOGS_CHUNK_BYTES)) yield { data: chunk };
    }
  }

  async #exec(req: ExecRequest, ctx: CallContext): Promise<{ stdout: Buffer; stderr: Buffer; exitCode: number }> {
    required('namespace', req.namespace);
    required('pod', req.pod);
    if (req.command.length === 0) throw new GrpcError(Status.INVALID_ARGUMENT, 'command: give the command to run');
    const instance = await this.#find(req.namespace, req.pod, req.container, false);
    const what = describeContainer(req.namespace, req.pod, req.container);
    if (!instance.running) throw new GrpcError(Status.FAILED_PRECONDITION, `${what} is not running`);
    const timeoutSeconds = req.timeoutSeconds === 0 ? EXEC_TIMEOUT_DEFAULT_SECONDS : req.timeoutSeconds;
    const ranPast = `the command ran past its timeout of ${timeoutSeconds}s in ${what}`;
    let timer: NodeJS.Timeout | undefined;
    // The runtime ends the command at the timeout; the timer here is in case it does not answer.
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new GrpcError(Status.DEADLINE_EXCEEDED, ranPast)), timeoutSeconds * 1000 + 1000);
    });
    const started = Date.now();
    try {
      const res = await Promise.race([this.#opts.exec(instance.containerId, req.command, timeoutSeconds), deadline]);
      this.#log.debug({ pod: `${req.namespace}/${req.pod}`, container: req.container, peer: ctx.peer, exitCode: res.exitCode }, 'exec done');
      return res;
    } catch (err) {
      const code = errorCode(err);
      if (code === Status.DEADLINE_EXCEEDED) throw new GrpcError(Status.DEADLINE_EXCEEDED, ranPast);
      if (code === Status.FAILED_PRECONDITION) throw new GrpcError(Status.FAILED_PRECONDITION, `${what} is not running`);
      if (code === Status.NOT_FOUND) throw new GrpcError(Status.NOT_FOUND, `${what}: the container is gone (${(err as Error).message})`);
      this.#log.warn({ err, pod: `${req.namespace}/${req.pod}`, container: req.container, ms: Date.now() - started }, 'exec failed');
      throw new GrpcError(Status.INTERNAL, `exec in ${what}: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** #stats answers Stats; a rate the sampler could not measure is left out (unset). */
  async #stats(req: StatsRequest) {
    let report: UsageReport;
    try {
      report = await this.#opts.stats(req.namespace);
    } catch (err) {
      this.#log.warn({ err, namespace: req.namespace }, 'reading usage failed');
      throw new GrpcError(Status.INTERNAL, `reading usage: ${(err as Error).message}`);
    }
    const nanoCores = (n: number | undefined) => (n === undefined ? {} : { cpuNanoCores: BigInt(n) });
    return {
      node: { ...nanoCores(report.node.cpuNanoCores), cpuWindowMs: report.node.cpuWindowMs, memoryUsedBytes: BigInt(report.node.memoryUsedBytes) },
      pods: report.pods.map((p) => ({
        namespace: p.namespace,
        name: p.name,
        uid: p.uid,
        containers: p.containers.map((c) => ({ name: c.name, ...nanoCores(c.cpuNanoCores), memoryWorkingSetBytes: BigInt(c.memoryWorkingSetBytes) })),
      })),
    };
  }
}
