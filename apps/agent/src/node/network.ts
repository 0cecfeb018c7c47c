/**
 * NodeNetwork: the node's side of pod networking.
 *
 * - Waits until the control plane has given this node a pod CIDR (spec.podCIDR), then writes
 *   the CNI config (libs/netconf renderCniConfig) into the CNI conf dir, atomically (a temp
 *   file, then rename) and only when its content changed; containerd's CRI plugin reads it.
 * - Keeps one route per other node: its pod CIDR via its InternalIP (host-gw), stamped with
 *   protocol 201 so that only our own routes are ever read or changed. It syncs when a Node's
 *   pod CIDR or InternalIP changes (not on heartbeats), every `resyncMs` (30 s), and retries a
 *   failed sync sooner.
 * - Turns on IPv4 forwarding, and bridge traffic through iptables when the br_netfilter sysctl
 *   exists (service VIPs need it for pod-to-pod traffic on one bridge).
 *
 * The `ip` commands run through `runIp`, so tests can run them inside a network namespace of
 * their own (ipRunner(['-n', NETNS])) or record them.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Node } from '@tugboat/api';
import type { Informer, TugClient } from '@tugboat/client';
import { ROUTE_PROTO, desiredRoutes, diffRoutes, nodeRouteInfos, renderCniConfig } from '@tugboat/netconf';
import type { IpRouteJson, RouteCommand } from '@tugboat/netconf';

/** RunIp runs `ip ARGS...` and resolves with its stdout; rejects with an Error naming the command and its stderr. */
export type RunIp = (args: readonly string[]) => Promise<string>;

/** ipRunner runs `ip PREFIX... ARGS...` (PREFIX such as ['-n', 'tug-test'] picks a network namespace). */
export function ipRunner(prefix: readonly string[] = []): RunIp {
  return (args) =>
    new Promise((resolve, reject) => {
      const argv = [...prefix, ...args];
      execFile('ip', argv, { timeout: 10_000 }, (err, stdout, stderr) => {
        if (err === null) resolve(stdout);
        else reject(new Error(`ip ${argv.join(' ')} failed: ${stderr.trim() || err.message}`, { cause: err }));
      });
    });
}

/** routeArgv is how a route change is applied: replace for add and replace (idempotent), del for delete. */
export function routeArgv(c: RouteCommand): string[] {
  if (c.op === 'delete') return c.argv;
  return ['route', 'replace', c.dst, 'via', c.gateway ?? '', 'proto', String(ROUTE_PROTO)];
}

export interface NodeNetworkOptions {
  readonly client: TugClient;
  readonly nodeName: string;
  readonly cniConfDir: string;
  /** host-local IPAM's state dir, written into the CNI config. */
  readonly cniDataDir: string;
  readonly log: Logger;
  /** Default: ipRunner() (the `ip` of this network namespace). */
  readonly runIp?: RunIp;
  /** Root of the sysctl files. Default /proc/sys. */
  readonly procSysDir?: string;
  /** Full resync period, ms. Default 30,000. */
  readonly resyncMs?: number;
}

const sysctls: readonly { path: string; required: boolean }[] = [
  { path: 'net/ipv4/ip_forward', required: true },
  { path: 'net/bridge/bridge-nf-call-iptables', required: false },
];

export class NodeNetwork {
  private readonly opts: NodeNetworkOptions;
  private readonly runIp: RunIp;
  private readonly resyncMs: number;
  private readonly informer: Informer<Node>;
  private readonly stopController = new AbortController();
  private podCIDR: string | undefined;
  /** What routing and the CNI config depend on, as of the last sync (heartbeats change nothing here). */
  private syncedInputs = '';
  private writtenConfig: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  private again = false;
  private failures = 0;
  private lastError = '';
  private readonly cidrWaiters: { resolve: (cidr: string) => void; reject: (err: Error) => void }[] = [];

  constructor(opts: NodeNetworkOptions) {
    this.opts = opts;
    this.runIp = opts.runIp ?? ipRunner();
    this.resyncMs = opts.resyncMs ?? 30_000;
    this.informer = opts.client.nodes.informer({
      onError: (err) => opts.log.debug({ err: err instanceof Error ? err.message : String(err) }, 'node network: Node watch interrupted; resuming'),
    });
  }

  /**
   * start sets the sysctls, begins following Nodes and resolves with this node's pod CIDR once
   * the CNI config for it is written. Rejects if stop() comes first.
   */
  async start(): Promise<string> {
    await this.setSysctls();
    const cidr = new Promise<string>((resolve, reject) => this.cidrWaiters.push({ resolve, reject }));
    this.informer.addHandler(() => {
      if (this.inputs() !== this.syncedInputs) this.kick();
    });
    this.informer.start();
    void this.informer.waitForSync().then(
      () => this.kick(),
      () => undefined,
    );
    return cidr;
  }

  /** storedNode is this node's Node as the watch last saw it (undefined before the first list, or once it is deleted). */
  storedNode(): Node | undefined {
    return this.informer.getByName('', this.opts.nodeName);
  }

  /** stop ends the watch and the syncs (routes and the CNI config stay as they are). */
  async stop(): Promise<void> {
    this.stopController.abort();
    clearTimeout(this.timer);
    for (const w of this.cidrWaiters.splice(0)) w.reject(new Error(`node network of ${this.opts.nodeName} stopped before the Node had a pod CIDR`));
    await this.informer.stop();
    await this.syncing;
  }

  private get stopped(): boolean {
    return this.stopController.signal.aborted;
  }

  private async setSysctls(): Promise<void> {
    const root = this.opts.procSysDir ?? '/proc/sys';
    for (const s of sysctls) {
      const file = join(root, s.path);
      if (!s.required && !existsSync(file)) continue;
      try {
        const cur = (await readFile(file, 'utf8')).trim();
        if (cur === '1') continue;
        await writeFile(file, '1\n');
        this.opts.log.info({ sysctl: s.path.replaceAll('/', '.') }, 'node network: sysctl set to 1');
      } catch (err) {
        this.opts.log.error({ sysctl: s.path.replaceAll('/', '.'), err: (err as Error).message }, 'node network: cannot set sysctl; pod traffic between nodes may not flow');
      }
    }
  }

  /** inputs is the part of the Nodes a sync depends on: this node's pod CIDR, and every node's pod CIDR and InternalIP. */
  private inputs(): string {
    const nodes = this.informer.list();
    const self = nodes.find((n) => n.metadata.name === this.opts.nodeName)?.spec?.podCIDR ?? '';
    const routing = nodeRouteInfos(nodes).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return JSON.stringify([self, routing]);
  }

  /** kick runs a sync now, or once more after the one under way. */
  private kick(): void {
    if (this.stopped || !this.informer.hasSynced) return;
    if (this.syncing !== undefined) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.syncing = this.sync().finally(() => {
      this.syncing = undefined;
      if (this.stopped) return;
      if (this.again) {
        this.again = false;
        this.kick();
        return;
      }
      const wait = this.failures === 0 ? this.resyncMs : Math.min(this.resyncMs, 500 * 2 ** Math.min(this.failures - 1, 6));
      this.timer = setTimeout(() => this.kick(), wait);
    });
  }

  private async sync(): Promise<void> {
    const { log, nodeName } = this.opts;
    const nodes = this.informer.list();
    this.syncedInputs = this.inputs();
    const cidr = nodes.find((n) => n.metadata.name === nodeName)?.spec?.podCIDR;
    // The CNI config and the routes are independent: one failing does not hold up the other.
    const problems: string[] = [];
    for (const step of [
      () => (cidr === undefined || cidr === '' ? Promise.resolve() : this.writeCniConfig(cidr)),
      () => this.syncRoutes(nodes),
    ]) {
      try {
        await step();
      } catch (err) {
        problems.push(err instanceof Error ? err.message : String(err));
      }
    }
    if (this.stopped) return;
    if (problems.length === 0) {
      if (this.failures > 0) log.info({ failures: this.failures }, 'node network: in sync again');
      this.failures = 0;
      this.lastError = '';
      return;
    }
    this.failures++;
    const message = problems.join('; ');
    // The same failure over and over is logged once, then every 20th time.
    if (message !== this.lastError || this.failures % 20 === 0) log.error({ err: message, failures: this.failures }, 'node network: sync failed; retrying');
    this.lastError = message;
  }

  private async writeCniConfig(cidr: string): Promise<void> {
    const { cniConfDir, cniDataDir, log, nodeName } = this.opts;
    const conf = renderCniConfig({ podCIDR: cidr, dataDir: cniDataDir });
    if (this.writtenConfig !== conf.json) {
      const path = join(cniConfDir, conf.fileName);
      let onDisk: string | undefined;
      try {
        onDisk = await readFile(path, 'utf8');
      } catch {
        onDisk = undefined;
      }
      if (onDisk !== conf.json) {
        await mkdir(cniConfDir, { recursive: true });
        // A dot name with a .tmp suffix: the CNI loader reads only *.conf, *.conflist and *.json.
        const tmp = join(cniConfDir, `.${conf.fileName}.${process.pid}.tmp`);
        try {
          await writeFile(tmp, conf.json, { mode: 0o644 });
          await rename(tmp, path);
        } catch (err) {
          await rm(tmp, { force: true });
          throw new Error(`cannot write the CNI config ${path}: ${(err as Error).message}`, { cause: err });
        }
        log.info({ node: nodeName, podCIDR: cidr, path }, 'node network: CNI config written');
      }
      this.writtenConfig = conf.json;
    }
    if (this.podCIDR !== cidr) {
      if (this.podCIDR !== undefined) log.warn({ node: nodeName, was: this.podCIDR, now: cidr }, 'node network: the pod CIDR of this node changed');
      this.podCIDR = cidr;
      for (const w of this.cidrWaiters.splice(0)) w.resolve(cidr);
    }
  }

  private async syncRoutes(nodes: readonly Node[]): Promise<void> {
    const desired = desiredRoutes(this.opts.nodeName, nodeRouteInfos(nodes));
    const out = await this.runIp(['-j', 'route', 'show', 'proto', String(ROUTE_PROTO)]);
    const current = out.trim() === '' ? [] : (JSON.parse(out) as IpRouteJson[]);
    for (const c of diffRoutes(current, desired)) {
      if (this.stopped) return;
      await this.runIp(routeArgv(c));
      this.opts.log.info({ op: c.op, dst: c.dst, via: c.gateway }, 'node network: route changed');
    }
  }
}
