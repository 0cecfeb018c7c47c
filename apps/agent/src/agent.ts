/**
 * tug-agent: the node agent. It wires the parts together and runs until SIGTERM/SIGINT:
 *
 *   containerd (CRI) <- PodManager <- pods informer (spec.nodeName = this node) <- API
 *                          |  ^
 *                ProbeManager  statuses -> API (status-only updates, uid-checked), and the
 *                              final delete of a terminating pod once it is stopped (grace 0, uid-checked)
 *   RuntimeEventFeed: containerd's task exits -> PodManager (the pod is synced at once)
 *   ServiceProxy <- Services + Endpoints informers (every namespace) <- API: iptables rules
 *   ClusterDnsServer <- the same informers: DNS for the pods, on --cluster-dns (on loopback)
 *   LifecycleHooks: postStart and preStop; a terminating pod is stopped once the proxy no
 *                   longer sends it traffic
 *   NodeRegistration: the Node object, its heartbeat (a Lease in tug-node-lease) and its
 *                     status (Ready condition), written when it changes
 *   NodeNetwork: waits for the pod CIDR, writes the CNI config, keeps host-gw routes
 *   AgentServer: logs, exec and usage for `tug logs` / `tug exec` / `tug top`
 *
 * Nothing here stops containers or removes rules on its own: when the control plane is
 * unreachable the informers keep their last view, the pods keep running and the service rules
 * stay; on shutdown the agent leaves both, and a restarted agent adopts them.
 *
 * Exit status: 0 after SIGTERM/SIGINT, 1 on a startup error, 2 on bad flags.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { Logger } from 'pino';
import type { ConfigMap, Endpoints, Pod, PodStatus, Secret, Service } from '@tugboat/api';
import { CertificateRenewal, TugClient, isConflict, isNotFound, joinUnlessCertified, servedOn } from '@tugboat/client';
import type { Informer, JoinIdentity } from '@tugboat/client';
import { ContainerdEvents, CriClient } from '@tugboat/cri';
import { hasCertificate, loadSecurity } from '@tugboat/proto';
import type { Security } from '@tugboat/proto';
import { isFlagError, parseFlags, usage } from './flags.ts';
import type { AgentFlags } from './flags.ts';
import { informerCatalog } from './dns/catalog.ts';
import { upstreamsFromResolvConf } from './dns/resolv-conf.ts';
import { ClusterDnsServer } from './dns/server.ts';
import { NodeNetwork, ipRunner } from './node/network.ts';
import { NodeRegistration, healthOfRuntime } from './node/registration.ts';
import type { ObjectSource } from './pods/env.ts';
import { LifecycleHooks } from './pods/lifecycle.ts';
import { PodManager } from './pods/manager.ts';
import { RuntimeEventFeed } from './pods/runtime-events.ts';
import { ProbeManager } from './probes/prober.ts';
import { hostCommands } from './proxy/commands.ts';
import { ServiceProxy } from './proxy/proxier.ts';
import { AgentServer } from './server.ts';
import { UsageSampler } from './stats/sampler.ts';
import { agentUsageSources } from './stats/sources.ts';
import agentPackage from '../package.json' with { type: 'json' };

export const VERSION: string = agentPackage.version;

/** agentSecurity loads the agent's TLS files, first joining with --token for them when its
 *  certificate does not exist yet (the node's certificate, naming its IP and listen address). */
async function agentSecurity(flags: AgentFlags, log: Logger): Promise<Security> {
  const t = flags.transport;
  if ('tls' in t && t.bootstrap !== undefined) {
    const identity: JoinIdentity = { role: 'agent', commonName: flags.nodeName, ...servedOn([`${flags.nodeIP}:0`, flags.listen]) };
    const via = await joinUnlessCertified(t.tls, { ...t.bootstrap, addresses: flags.api }, identity, log);
    if (via !== undefined) log.info({ via, certFile: t.tls.certFile }, 'joined with a bootstrap token: certificate written');
  }
  return loadSecurity(t, log);
}

/** clientSource reads ConfigMaps and Secrets through the API (not found: undefined). */
function clientSource(client: TugClient): ObjectSource {
  const orUndefined = async <T>(read: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await read();
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  };
  return {
    configMap: (ns, name) => orUndefined<ConfigMap>(() => client.configMaps.get(ns, name)),
    secret: (ns, name) => orUndefined<Secret>(() => client.secrets.get(ns, name)),
  };
}

/** waitForRuntime waits until containerd answers the CRI Version call; returns its version. */
async function waitForRuntime(cri: CriClient, log: Logger, stopped: () => boolean): Promise<string> {
  let logged = false;
  for (;;) {
    try {
      const v = await cri.version();
      log.info({ runtime: v.runtimeName, version: v.runtimeVersion, address: cri.address }, 'container runtime answers');
      return v.runtimeVersion;
    } catch (err) {
      if (stopped()) throw err;
      if (!logged) log.warn({ err: (err as Error).message, address: cri.address }, 'container runtime not answering yet; retrying');
      logged = true;
      await sleep(500);
    }
  }
}

/** nodeResolvers are the nameservers of the node's /etc/resolv.conf (none when it cannot be read: outside names then fail). */
function nodeResolvers(clusterDNS: string, log: Logger): string[] {
  try {
    return upstreamsFromResolvConf(readFileSync('/etc/resolv.conf', 'utf8'), [clusterDNS]);
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'cannot read /etc/resolv.conf: names outside the cluster will not resolve (see --dns-upstreams)');
    return [];
  }
}

/** Agent is one running tug-agent. */
export class Agent {
  readonly #parts: { stop(): Promise<void> | void }[] = [];
  readonly #log: Logger;

  private constructor(log: Logger) {
    this.#log = log;
  }

  /** start brings every part up; resolves once pods are being synced. */
  static async start(flags: AgentFlags, log: Logger, stopped: () => boolean = () => false): Promise<Agent> {
    const agent = new Agent(log);
    try {
      await agent.#start(flags, stopped);
    } catch (err) {
      await agent.stop();
      throw err;
    }
    return agent;
  }

  async #start(flags: AgentFlags, stopped: () => boolean): Promise<void> {
    const log = this.#log;
    // Before waiting for the runtime: a wrong certificate file is named at once.
    const security = await agentSecurity(flags, log);
    const cri = new CriClient(flags.containerd, { timeoutMs: 120_000 });
    this.#parts.push({ stop: () => cri.close() });
    const runtimeVersion = await waitForRuntime(cri, log, stopped);

    const client = new TugClient({ endpoints: flags.api, security });
    this.#parts.push({ stop: () => client.close() });
    if ('tls' in flags.transport && hasCertificate(security)) {
      const renewal = new CertificateRenewal({ security, files: flags.transport.tls, renew: (csr) => client.cluster.renewCertificate(csr), log });
      renewal.start();
      this.#parts.push({ stop: () => renewal.stop() });
    }
    const source = clientSource(client);

    // Services and Endpoints of every namespace: the service proxy, the cluster DNS and the
    // drain of terminating pods read them.
    const onWatchError = (kind: string) => (err: unknown) => log.debug({ kind, err: (err as Error).message }, 'watch interrupted; resuming');
    const services: Informer<Service> = client.services.informer({ onError: onWatchError('Service') });
    const endpoints: Informer<Endpoints> = client.endpoints.informer({ onError: onWatchError('Endpoints') });
    this.#parts.push({ stop: () => services.stop() }, { stop: () => endpoints.stop() });
    const proxy = new ServiceProxy({ services, endpoints, commands: hostCommands(), log: log.child({ part: 'proxy' }), checkMs: flags.proxyCheckSeconds * 1000 });
    this.#parts.push({ stop: () => proxy.stop() });
    proxy.start();
    services.start();
    endpoints.start();
    this.#startDns(flags, services, endpoints, stopped);
    const hooks = new LifecycleHooks((id, cmd, timeoutSeconds) => cri.execSync(id, cmd, timeoutSeconds));
    this.#parts.push({ stop: () => hooks.close() });

    // The prober's callbacks reach the pod manager made below (they fire only once pods run).
    const prober = new ProbeManager({
      exec: (id, cmd, timeoutSeconds) => cri.execSync(id, cmd, timeoutSeconds),
      log: log.child({ part: 'prober' }),
      onLivenessFailure: (t, message) => pods.livenessFailed(t, message),
      onReadinessChange: (podUid) => pods.resync(podUid),
    });
    this.#parts.push({ stop: () => prober.stop() });

    const pods: PodManager = new PodManager({
      runtime: cri,
      source,
      statusWriter: async (pod: Pod, status: PodStatus) => {
        // Status-only, and checked against the pod's uid: a pod deleted and created again
        // under the same name is another pod.
        const { name = '', namespace = '', uid = '' } = pod.metadata;
        await client.pods.updateStatus({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, uid }, spec: pod.spec, status });
      },
      podDeleter: async (pod: Pod) => {
        // The end of a graceful deletion: at once, and only this pod (not one made again under
        // its name). Gone already, or another uid: someone else finished it.
        const { name = '', namespace = '', uid = '' } = pod.metadata;
        try {
          await client.pods.delete(namespace, name, { gracePeriodSeconds: 0, expectedUid: uid });
        } catch (err) {
          if (!isNotFound(err) && !isConflict(err)) throw err;
        }
      },
      prober,
      lifecycle: {
        runHook: (handler, target, timeoutSeconds) => hooks.runHook(handler, target, timeoutSeconds),
        drain: async (_pod, podIP, timeoutMs) => {
          await proxy.waitUntilUnserved(podIP, timeoutMs);
        },
      },
      settings: {
        dataDir: flags.dataDir,
        cgroupParent: flags.cgroupParent,
        cgroupDriver: flags.cgroupDriver,
        nodeName: flags.nodeName,
        nodeIP: flags.nodeIP,
        clusterDNS: { server: flags.clusterDNS, domain: flags.clusterDomain },
      },
      log: log.child({ part: 'pods' }),
    });
    this.#parts.push({ stop: () => pods.stop() });
    await pods.start();
    // containerd's task exits wake the pods at once; the runtime is relisted rarely meanwhile.
    const runtimeEvents = new ContainerdEvents(flags.containerd);
    this.#parts.push({ stop: () => runtimeEvents.close() });
    const feed = new RuntimeEventFeed({ source: runtimeEvents, sink: pods, log: log.child({ part: 'pods' }) });
    this.#parts.push({ stop: () => feed.stop() });
    feed.start();

    const usage = new UsageSampler(agentUsageSources(cri));
    const server = new AgentServer({
      listen: flags.listen,
      lookup: pods,
      exec: (id, cmd, timeoutSeconds) => cri.execSync(id, cmd, timeoutSeconds),
      stats: (namespace) => usage.sample(namespace),
      log: log.child({ part: 'server' }),
      security,
    });
    const served = await server.start();
    this.#parts.push({ stop: () => server.stop() });
    log.info({ address: served.address }, 'serving logs, exec and stats');

    // The network's watch of the Nodes also tells the heartbeat what the Node holds as stored.
    const network = new NodeNetwork({
      client,
      nodeName: flags.nodeName,
      cniConfDir: flags.cniConfDir,
      cniDataDir: flags.cniDataDir,
      log: log.child({ part: 'network' }),
    });
    this.#parts.push({ stop: () => network.stop() });

    const registration = new NodeRegistration({
      client,
      nodeName: flags.nodeName,
      nodeIP: flags.nodeIP,
      labels: flags.labels,
      taints: flags.taints,
      agentPort: served.port,
      heartbeatSeconds: flags.heartbeatSeconds,
      nodeStatusReportSeconds: flags.nodeStatusReportSeconds,
      storedNode: () => network.storedNode(),
      runtimeVersion,
      agentVersion: VERSION,
      health: async () => healthOfRuntime((await cri.status()).status?.conditions ?? []),
      log: log.child({ part: 'node' }),
    });
    this.#parts.push({ stop: () => registration.stop() });
    registration.start();

    // The CNI config must exist before a sandbox can get an IP; pods already running (an
    // agent restart) are adopted above whatever happens here.
    void network.start().then(
      (podCIDR) => log.info({ podCIDR }, 'pod network configured'),
      (err: unknown) => log.error({ err }, 'pod network setup failed'),
    );

    const informer: Informer<Pod> = client.pods.informer({
      fieldSelector: `spec.nodeName=${flags.nodeName}`,
      onError: (err) => log.warn({ err: (err as Error).message }, 'pods watch interrupted; retrying'),
    });
    informer.addHandler(() => pods.setPods(informer.list()));
    this.#parts.push({ stop: () => informer.stop() });
    informer.start();
    // An empty first list calls no handler, yet it is what lets the manager remove the
    // containers of pods deleted while this agent was down.
    void informer.waitForSync().then(
      () => pods.setPods(informer.list()),
      (err: unknown) => log.error({ err }, 'pods informer failed'),
    );
  }

  /**
   * #startDns serves the cluster DNS once the Services and Endpoints caches hold their first
   * list (before that every cluster name would read as missing, and resolvers cache that). The
   * address goes on the loopback interface first (`ip addr replace`, so a restart finds it in
   * place); a failure is retried every few seconds, in the background.
   */
  #startDns(flags: AgentFlags, services: Informer<Service>, endpoints: Informer<Endpoints>, stopped: () => boolean): void {
    const log = this.#log.child({ part: 'dns' });
    const catalog = informerCatalog(services, endpoints);
    const upstreams = flags.dnsUpstreams ?? nodeResolvers(flags.clusterDNS, log);
    const server = new ClusterDnsServer({ address: flags.clusterDNS, catalog, domain: flags.clusterDomain, upstreams, log });
    let ending = false;
    this.#parts.push({
      stop: async () => {
        ending = true;
        await server.stop();
        catalog.close();
      },
    });
    const run = async (): Promise<void> => {
      await Promise.all([services.waitForSync(), endpoints.waitForSync()]);
      for (let failures = 0; !ending && !stopped(); failures++) {
        try {
          await ipRunner()(['addr', 'replace', `${flags.clusterDNS}/32`, 'dev', 'lo']);
          await server.start();
          return;
        } catch (err) {
          if (failures === 0) log.warn({ err: (err as Error).message }, 'cannot serve the cluster DNS yet; retrying');
          await sleep(3_000);
        }
      }
    };
    void run().catch((err: unknown) => log.error({ err }, 'cluster DNS failed'));
  }

  /** stop ends every part, newest first, and leaves the pods running. */
  async stop(): Promise<void> {
    for (const part of this.#parts.splice(0).reverse()) {
      try {
        await part.stop();
      } catch (err) {
        this.#log.warn({ err }, 'stopping a part failed');
      }
    }
  }
}

/** main runs tug-agent with argv; resolves to the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  let flags: AgentFlags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    if (!isFlagError(err)) throw err;
    process.stderr.write(`tug-agent: ${err.message}\n(see tug-agent --help)\n`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const log = pino({ name: 'tug-agent', level: flags.logLevel, base: { node: flags.nodeName, pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
  let stopRequested: string | undefined;
  let wake: () => void = () => {};
  const stopping = new Promise<void>((resolve) => (wake = resolve));
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      if (stopRequested !== undefined) process.exit(1);
      stopRequested = sig;
      wake();
    });
  }
  let agent: Agent;
  try {
    agent = await Agent.start(flags, log, () => stopRequested !== undefined);
  } catch (err) {
    if (stopRequested !== undefined) return 0;
    log.fatal({ err }, 'agent failed to start');
    return 1;
  }
  log.info({ version: VERSION, api: flags.api, containerd: flags.containerd, nodeIP: flags.nodeIP }, 'agent started');
  await stopping;
  log.info({ signal: stopRequested }, 'stopping (pods keep running)');
  await agent.stop();
  log.info('stopped');
  return 0;
}

/** run is main with the process exit. */
export function run(argv: readonly string[]): void {
  main(argv).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`tug-agent: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
