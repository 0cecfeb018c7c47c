/**
 * Command-line flags of tug-agent, parsed and validated once, up front. Every problem is a
 * FlagError naming the flag; the program prints it and exits with status 2.
 */
import { networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import type { Taint } from '@tugboat/api';
import { DNS_CLUSTER_IP } from '@tugboat/netconf';
import { tlsFlags, tlsFlagsUsage } from '@tugboat/pki';
import type { TransportChoice } from '@tugboat/pki';
import { parseLabels, parseTaints } from './node/registration.ts';
import type { CgroupDriver } from './pods/cri-config.ts';

export const defaultAgentPort = 7402;
export const defaultContainerd = '/run/containerd/containerd.sock';
export const defaultDataDir = '/var/lib/tug-agent';
export const defaultCniConfDir = '/etc/cni/net.d';
export const defaultCniDataDir = '/var/lib/cni/networks';
export const defaultCgroupParent = '/tugboat';
export const defaultSystemdCgroupParent = 'tugboat.slice';
export const defaultHeartbeatSeconds = 2;
export const defaultNodeStatusReportSeconds = 60;
export const defaultClusterDomain = 'cluster.local';
export const defaultProxyCheckSeconds = 10;

export const usage = `usage: tug-agent --node-name NAME --api HOST:PORT,... [options]

The node agent: registers this machine as a Node, heartbeats, writes the node's CNI config and
routes to the other nodes' pod CIDRs, and runs the pods bound to the node through containerd's
CRI. It programs the node's iptables so every Service's ClusterIP, nodePort and LoadBalancer
address reaches its ready pods, and serves the cluster DNS to its pods on --cluster-dns (an
address it puts on the loopback interface). It serves container logs and exec
(proto/tug/v1/agent.proto) on --listen. Running pods and service rules stay as they are while
the control plane is unreachable and when the agent restarts. SIGTERM or SIGINT stops the
agent and leaves its pods running. Logs (JSON lines, pino) go to stderr.

  --node-name NAME        the Node's name (DNS-1123 subdomain), e.g. node-1
  --api HOST:PORT,...     tug-control API addresses (any members; failover between them)
  --containerd SOCKET     containerd's socket (default ${defaultContainerd})
  --node-ip IP            the node's IP (default: the first non-loopback IPv4 address)
  --data-dir DIR          pod volumes and logs (default ${defaultDataDir})
  --labels K=V,...        labels of the Node, added at registration
  --taints K=V:EFFECT,... taints of the Node (EFFECT: NoSchedule, PreferNoSchedule, NoExecute)
  --listen HOST:PORT      logs and exec service (default NODE-IP:${defaultAgentPort})
  --cni-conf-dir DIR      where containerd reads the CNI config (default ${defaultCniConfDir})
  --cni-data-dir DIR      host-local IP allocations (default ${defaultCniDataDir})
  --cgroup-driver DRIVER  cgroupfs or systemd: containerd's runc must use the same (its
                          SystemdCgroup setting) (default cgroupfs)
  --cgroup-parent PARENT  where pods' cgroups go: a cgroupfs path (default ${defaultCgroupParent}), or
                          with --cgroup-driver systemd a slice (default ${defaultSystemdCgroupParent})
  --heartbeat-seconds N   how often the node's Lease (tug-node-lease/NAME), its heartbeat, is renewed
                          (default ${defaultHeartbeatSeconds})
  --node-status-report-seconds N
                          the Node's status is written when it changes, and at least this often
                          (default ${defaultNodeStatusReportSeconds})
  --cluster-dns IP        where the agent serves DNS to its pods, and their nameserver (default ${DNS_CLUSTER_IP})
  --cluster-domain NAME   the cluster's DNS domain (default ${defaultClusterDomain})
  --dns-upstreams IP[:PORT],...
                          resolvers for names outside the cluster (default: the nameservers of /etc/resolv.conf)
  --proxy-check-seconds N how often the service rules are read back from the kernel and repaired
                          (default ${defaultProxyCheckSeconds})
${tlsFlagsUsage(26)}
  --log-level LEVEL       trace, debug, info, warn, error, fatal, silent (default info)
  --help                  print this and exit

The API is dialled and logs and exec served with mutual TLS under the cluster CA: the
certificate is the node's (CN = --node-name), with the node's IP as an IP SAN.`;

export class FlagError extends Error {
  override readonly name = 'FlagError';
  readonly flag: string;
  constructor(flag: string, message: string) {
    super(`--${flag}: ${message}`);
    this.flag = flag;
  }
}

export function isFlagError(e: unknown): e is FlagError {
  return e instanceof Error && e.name === 'FlagError';
}

export interface AgentFlags {
  readonly nodeName: string;
  readonly api: readonly string[];
  /** containerd's CRI address, `unix:///path`. */
  readonly containerd: string;
  readonly nodeIP: string;
  readonly dataDir: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly taints: readonly Taint[];
  readonly listen: string;
  readonly cniConfDir: string;
  readonly cniDataDir: string;
  readonly cgroupParent: string;
  readonly cgroupDriver: CgroupDriver;
  readonly heartbeatSeconds: number;
  readonly nodeStatusReportSeconds: number;
  readonly clusterDNS: string;
  readonly clusterDomain: string;
  /** undefined: the nameservers of /etc/resolv.conf. */
  readonly dnsUpstreams: readonly string[] | undefined;
  readonly proxyCheckSeconds: number;
  readonly logLevel: string;
  /** transport: the TLS files, or --insecure-plaintext. */
  readonly transport: TransportChoice;
  readonly help: boolean;
}

const subdomainRe = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const logLevels = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

function hostPort(flag: string, value: string): string {
  const m = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:.]+\]):(\d{1,5})$/.exec(value);
  if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new FlagError(flag, `${JSON.stringify(value)} is not HOST:PORT (port 1-65535)`);
  }
  return value;
}

/** firstIPv4 is the first non-internal IPv4 address of the machine, or undefined. */
export function firstIPv4(): string | undefined {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family === 'IPv4' && !a.internal) return a.address;
    }
  }
  return undefined;
}

/** slice checks a systemd slice name for --cgroup-parent under the systemd driver. */
function slice(value: string): string {
  if (!/^[A-Za-z0-9_:.-]+\.slice$/.test(value) || value.startsWith('-') || value.includes('--')) {
    throw new FlagError('cgroup-parent', `${JSON.stringify(value)} is not a systemd slice name such as ${defaultSystemdCgroupParent} (with --cgroup-driver systemd)`);
  }
  return value;
}

/** seconds reads a whole number of seconds from 1 to max (default when absent). */
function seconds(flag: string, text: string | undefined, def: number, max: number): number {
  if (text === undefined) return def;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) {
    throw new FlagError(flag, `must be a whole number from 1 to ${max}, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

function absolute(flag: string, value: string): string {
  if (!value.startsWith('/')) throw new FlagError(flag, `must be an absolute path, got ${JSON.stringify(value)}`);
  return value.length > 1 ? value.replace(/\/+$/, '') : value;
}

/** parseFlags parses argv (without the node and script paths). Throws FlagError. */
export function parseFlags(argv: readonly string[], detectIP: () => string | undefined = firstIPv4): AgentFlags {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        'node-name': { type: 'string' },
        api: { type: 'string' },
        containerd: { type: 'string' },
        'node-ip': { type: 'string' },
        'data-dir': { type: 'string' },
        labels: { type: 'string' },
        taints: { type: 'string' },
        listen: { type: 'string' },
        'cni-conf-dir': { type: 'string' },
        'cni-data-dir': { type: 'string' },
        'cgroup-parent': { type: 'string' },
        'cgroup-driver': { type: 'string' },
        'heartbeat-seconds': { type: 'string' },
        'node-status-report-seconds': { type: 'string' },
        'cluster-dns': { type: 'string' },
        'cluster-domain': { type: 'string' },
        'dns-upstreams': { type: 'string' },
        'proxy-check-seconds': { type: 'string' },
        'log-level': { type: 'string' },
        'ca-file': { type: 'string' },
        'cert-file': { type: 'string' },
        'key-file': { type: 'string' },
        token: { type: 'string' },
        'ca-hash': { type: 'string' },
        'insecure-plaintext': { type: 'boolean' },
        help: { type: 'boolean' },
      },
    });
  } catch (err) {
    const m = /'(--[a-z-]+)/.exec((err as Error).message);
    throw new FlagError(m?.[1]?.slice(2) ?? 'flags', (err as Error).message);
  }
  const v = parsed.values;
  const help = v.help === true;
  const empty: AgentFlags = {
    nodeName: '',
    api: [],
    containerd: '',
    nodeIP: '',
    dataDir: '',
    labels: {},
    taints: [],
    listen: '',
    cniConfDir: '',
    cniDataDir: '',
    cgroupParent: '',
    cgroupDriver: 'cgroupfs',
    heartbeatSeconds: 0,
    nodeStatusReportSeconds: 0,
    clusterDNS: '',
    clusterDomain: '',
    dnsUpstreams: undefined,
    proxyCheckSeconds: 0,
    logLevel: 'info',
    transport: { insecurePlaintext: true },
    help: true,
  };
  if (help) return empty;

  const nodeName = v['node-name'];
  if (nodeName === undefined || nodeName === '') throw new FlagError('node-name', 'required: the name of this Node, e.g. node-1');
  if (nodeName.length > 253 || !subdomainRe.test(nodeName)) {
    throw new FlagError('node-name', `${JSON.stringify(nodeName)} is not a DNS-1123 subdomain (lower-case letters, digits, '-' and '.')`);
  }
  if (v.api === undefined || v.api.trim() === '') throw new FlagError('api', 'required: one or more tug-control API addresses, HOST:PORT,...');
  const api = v.api
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => hostPort('api', s));

  let containerd = v.containerd ?? defaultContainerd;
  if (containerd.startsWith('unix://')) containerd = containerd.slice('unix://'.length);
  containerd = `unix://${absolute('containerd', containerd)}`;

  const nodeIP = v['node-ip'] ?? detectIP();
  if (nodeIP === undefined) throw new FlagError('node-ip', 'the machine has no non-loopback IPv4 address: give one');
  if (isIP(nodeIP) !== 4) throw new FlagError('node-ip', `${JSON.stringify(nodeIP)} is not an IPv4 address`);

  let labels: Record<string, string> = {};
  let taints: Taint[] = [];
  try {
    if (v.labels !== undefined) labels = parseLabels(v.labels);
  } catch (err) {
    throw new FlagError('labels', (err as Error).message);
  }
  try {
    if (v.taints !== undefined) taints = parseTaints(v.taints);
  } catch (err) {
    throw new FlagError('taints', (err as Error).message);
  }

  const cgroupDriver = v['cgroup-driver'] ?? 'cgroupfs';
  if (cgroupDriver !== 'cgroupfs' && cgroupDriver !== 'systemd') throw new FlagError('cgroup-driver', `must be cgroupfs or systemd, got ${JSON.stringify(cgroupDriver)}`);
  const cgroupParent = cgroupDriver === 'systemd' ? slice(v['cgroup-parent'] ?? defaultSystemdCgroupParent) : absolute('cgroup-parent', v['cgroup-parent'] ?? defaultCgroupParent);

  const heartbeatSeconds = seconds('heartbeat-seconds', v['heartbeat-seconds'], defaultHeartbeatSeconds, 300);
  const nodeStatusReportSeconds = seconds('node-status-report-seconds', v['node-status-report-seconds'], defaultNodeStatusReportSeconds, 3600);
  const proxyCheckSeconds = seconds('proxy-check-seconds', v['proxy-check-seconds'], defaultProxyCheckSeconds, 3600);
  const clusterDNS = v['cluster-dns'] ?? DNS_CLUSTER_IP;
  if (isIP(clusterDNS) !== 4) throw new FlagError('cluster-dns', `${JSON.stringify(clusterDNS)} is not an IPv4 address`);
  const clusterDomain = v['cluster-domain'] ?? defaultClusterDomain;
  if (clusterDomain.length > 253 || !subdomainRe.test(clusterDomain)) {
    throw new FlagError('cluster-domain', `${JSON.stringify(clusterDomain)} is not a DNS domain (lower-case letters, digits, '-' and '.')`);
  }
  const dnsUpstreams = v['dns-upstreams']?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const u of dnsUpstreams ?? []) {
    const m = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(u);
    if (m === null || isIP(m[1] ?? '') !== 4 || (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535))) {
      throw new FlagError('dns-upstreams', `${JSON.stringify(u)} is not IP or IP:PORT (IPv4, port 1-65535)`);
    }
  }
  const logLevel = v['log-level'] ?? 'info';
  if (!logLevels.has(logLevel)) throw new FlagError('log-level', `must be one of ${[...logLevels].join(', ')}, got ${JSON.stringify(logLevel)}`);

  return {
    nodeName,
    api,
    containerd,
    nodeIP,
    dataDir: absolute('data-dir', v['data-dir'] ?? defaultDataDir),
    labels,
    taints,
    listen: hostPort('listen', v.listen ?? `${nodeIP}:${defaultAgentPort}`),
    cniConfDir: absolute('cni-conf-dir', v['cni-conf-dir'] ?? defaultCniConfDir),
    cniDataDir: absolute('cni-data-dir', v['cni-data-dir'] ?? defaultCniDataDir),
    cgroupParent,
    cgroupDriver,
    heartbeatSeconds,
    nodeStatusReportSeconds,
    clusterDNS,
    clusterDomain,
    dnsUpstreams,
    proxyCheckSeconds,
    logLevel,
    // Last, so that the other flags' problems are named first.
    transport: tlsFlags(v, (flag, message) => {
      throw new FlagError(flag, message);
    }),
    help: false,
  };
}
