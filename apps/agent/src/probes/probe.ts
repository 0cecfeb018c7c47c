// probe.ts: one run of one container probe: an HTTP GET, a TCP connect or a command in the
// container. Each check returns success or failure with a message that says what failed; the
// probe's timeoutSeconds bounds it. The timing around the checks is prober.ts's.
import { connect } from 'node:net';
import { Agent, request } from 'undici';
import type { ContainerPort, IntOrString, Probe } from '@tugboat/api';

/** ExecInContainer runs a command in a container (CRI ExecSync). */
export type ExecInContainer = (
  containerId: string,
  cmd: string[],
  timeoutSeconds: number,
) => Promise<{ exitCode: number; stdout: Buffer; stderr: Buffer }>;

/** ProbeResult is the outcome of one check; message says why it failed ("" on success). */
export interface ProbeResult {
  readonly ok: boolean;
  readonly message: string;
}

/** ProbeSubject is the container a check runs against. */
export interface ProbeSubject {
  readonly podIP: string;
  readonly containerId: string;
  readonly containerName: string;
  /** ports are the container's declared ports, for probes that name a port. */
  readonly ports: readonly ContainerPort[];
}

/** MESSAGE_OUTPUT_MAX bounds how much of a failed command's output goes into a message. */
const MESSAGE_OUTPUT_MAX = 256;
const DEFAULT_TIMEOUT_SECONDS = 1;

const ok: ProbeResult = { ok: true, message: '' };
const fail = (message: string): ProbeResult => ({ ok: false, message });

/** resolvePort turns a probe's port (a number, or the name of one of the container's ports)
 *  into a port number; a string message says why it cannot. */
export function resolvePort(port: IntOrString, subject: ProbeSubject): number | string {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const found = subject.ports.find((p) => p.name === port);
  if (found !== undefined) return found.containerPort;
  const names = subject.ports.flatMap((p) => (p.name === undefined ? [] : [p.name]));
  return `container ${subject.containerName} has no port named ${JSON.stringify(port)}${names.length > 0 ? `; its named ports: ${names.join(', ')}` : ''}`;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** errorText is an error's message, and its code when the message does not say it. */
function errorText(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown };
  const msg = typeof e.message === 'string' && e.message !== '' ? e.message : String(err);
  return typeof e.code === 'string' && !msg.includes(e.code) ? `${e.code}: ${msg}` : msg;
}

function clip(b: Buffer): string {
  const s = b.toString('utf8').trim();
  return s.length > MESSAGE_OUTPUT_MAX ? `${s.slice(0, MESSAGE_OUTPUT_MAX)}...` : s;
}

/**
 * Prober runs single checks. HTTPS probes do not verify the certificate (a container's serving
 * certificate is rarely issued for its pod IP); HTTP connections are not kept between probes.
 */
export class Prober {
  readonly #exec: ExecInContainer;
  readonly #dispatcher = new Agent({ connect: { rejectUnauthorized: false } });

  constructor(exec: ExecInContainer) {
    this.#exec = exec;
  }

  /** run runs probe once against subject. It never throws: every problem is a failure. */
  async run(probe: Probe, subject: ProbeSubject): Promise<ProbeResult> {
    const timeoutSeconds = probe.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
    try {
      if (probe.exec !== undefined) return await this.#runExec(probe.exec.command ?? [], subject, timeoutSeconds);
      if (probe.httpGet !== undefined) {
        const port = resolvePort(probe.httpGet.port, subject);
        if (typeof port === 'string') return fail(port);
        return await this.#runHttp(probe.httpGet, probe.httpGet.host ?? subject.podIP, port, timeoutSeconds);
      }
      if (probe.tcpSocket !== undefined) {
        const port = resolvePort(probe.tcpSocket.port, subject);
        if (typeof port === 'string') return fail(port);
        return await this.#runTcp(probe.tcpSocket.host ?? subject.podIP, port, timeoutSeconds);
      }
      return fail('the probe has no exec, httpGet or tcpSocket');
    } catch (err) {
      return fail(errorText(err));
    }
  }

  /** close releases the HTTP connection pool. */
  async close(): Promise<void> {
    await this.#dispatcher.close();
  }

  async #runHttp(get: NonNullable<Probe['httpGet']>, host: string, port: number, timeoutSeconds: number): Promise<ProbeResult> {
    const scheme = get.scheme === 'HTTPS' ? 'https' : 'http';
    const path = get.path === undefined || get.path === '' ? '/' : get.path.startsWith('/') ? get.path : `/${get.path}`;
    const url = `${scheme}://${hostPort(host, port)}${path}`;
    const headers: Record<string, string> = { 'user-agent': 'tug-agent-probe', accept: '*/*' };
    for (const h of get.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value;
    try {
      const res = await request(url, {
        method: 'GET',
        headers,
        dispatcher: this.#dispatcher,
        reset: true,
        signal: AbortSignal.timeout(timeoutSeconds * 1000),
      });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 400) return ok;
      return fail(`HTTP GET ${url}: status ${res.statusCode}`);
    } catch (err) {
      const e = err as { name?: string };
      if (e.name === 'TimeoutError' || e.name === 'AbortError') return fail(`HTTP GET ${url}: no answer within ${timeoutSeconds}s`);
      return fail(`HTTP GET ${url}: ${errorText(err)}`);
    }
  }

  #runTcp(host: string, port: number, timeoutSeconds: number): Promise<ProbeResult> {
    const where = hostPort(host, port);
    return new Promise((resolve) => {
      const socket = connect({ host, port });
      const finish = (result: ProbeResult): void => {
        clearTimeout(timer);
        socket.destroy();
        resolve(result);
      };
      const timer = setTimeout(() => finish(fail(`TCP connect ${where}: no answer within ${timeoutSeconds}s`)), timeoutSeconds * 1000);
      socket.once('connect', () => finish(ok));
      socket.once('error', (err) => finish(fail(`TCP connect ${where}: ${errorText(err)}`)));
    });
  }

  async #runExec(command: string[], subject: ProbeSubject, timeoutSeconds: number): Promise<ProbeResult> {
    if (command.length === 0) return fail('exec probe has no command');
    const res = await this.#exec(subject.containerId, command, timeoutSeconds);
    if (res.exitCode === 0) return ok;
    const output = clip(Buffer.concat([res.stdout, res.stderr]));
    return fail(`command ${JSON.stringify(command)} exited with ${res.exitCode}${output === '' ? '' : `: ${output}`}`);
  }
}
