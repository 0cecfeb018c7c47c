// plan.ts: the layout of a local cluster, computed from its name and sizes and nothing else:
// names of the bridge, network namespaces and veths, IP addresses, ports and file paths.
//
//   bridge tug-NAME             host side, SUBNET.1/24
//   netns  tug-NAME-node-I      node I: eth0 = SUBNET.(10+I), default route via SUBNET.1
//   veth   tv-NAME-I            host end of node I's eth0, on the bridge
//   BASE = ROOT/clusters/NAME   ROOT is /var/lib/tugboat
//   BASE/node-I/containerd/{root,state,runc,config.toml,containerd.sock}
//   BASE/node-I/cni/{conf,data}  BASE/node-I/{agent,control}  BASE/node-I/logs/ROLE.log
//   BASE/state.json             what `up` made (state.ts)
import { join } from 'node:path';
import { AGENT_PORT, API_PORT, PEER_PORT } from '@tugboat/nodeconfig';
import type { TlsFiles } from '@tugboat/pki';

export const DEFAULT_CLUSTER_NAME = 'local';
export const DEFAULT_STATE_ROOT = '/var/lib/tugboat';
export const MAX_NODES = 9;
/** The /16 every cluster's /24 comes from; the default cluster has its first /24. */
export const CLUSTER_NETWORK = '172.29.0.0/16';

/** PlanError: a bad name, size or subnet; the message names the option. */
export class PlanError extends Error {
  override readonly name = 'PlanError';
}

export function isPlanError(e: unknown): e is PlanError {
  return e instanceof Error && e.name === 'PlanError';
}

export interface PlanOptions {
  /** 1-8 characters [a-z0-9]. Default "local". */
  readonly name?: string | undefined;
  /** Nodes, 1-9. Default 3. */
  readonly nodes?: number | undefined;
  /** Control nodes (node-1 .. node-N), odd, at most `nodes`. Default min(3, nodes), made odd. */
  readonly control?: number | undefined;
  /** The cluster's /24, "A.B.C.0/24". Default: subnetForName(name). */
  readonly subnet?: string | undefined;
  /** Default /var/lib/tugboat. */
  readonly stateRoot?: string | undefined;
}

export interface NodePaths {
  readonly dir: string;
  readonly containerdRoot: string;
  readonly containerdState: string;
  readonly runcRoot: string;
  readonly containerdConfig: string;
  readonly containerdSocket: string;
  readonly cniConfDir: string;
  readonly cniDataDir: string;
  readonly agentDir: string;
  readonly controlDir: string;
  readonly logDir: string;
  /** tug-control's certificate and key (control nodes) and tug-agent's, with the cluster CA. */
  readonly controlTls: TlsFiles;
  readonly agentTls: TlsFiles;
}

export interface NodePlan {
  /** node-I */
  readonly name: string;
  /** I, from 1 */
  readonly index: number;
  readonly ip: string;
  readonly control: boolean;
  readonly netns: string;
  /** /run/netns/NETNS, what nsenter --net takes. */
  readonly netnsPath: string;
  /** The host end of the node's veth pair (on the bridge). */
  readonly hostVeth: string;
  /** IP:7400 on control nodes. */
  readonly apiAddress: string | undefined;
  /** IP:7401 on control nodes. */
  readonly peerAddress: string | undefined;
  /** IP:7402 */
  readonly agentAddress: string;
  /** The cgroupfs parent of the node's pods. */
  readonly cgroupParent: string;
  readonly paths: NodePaths;
}

export interface ClusterPlan {
  readonly name: string;
  /** "A.B.C.0/24" */
  readonly subnet: string;
  readonly hostIp: string;
  readonly bridge: string;
  readonly stateRoot: string;
  readonly baseDir: string;
  readonly stateFile: string;
  /** The cgroup dir (below each hierarchy's root) holding every pod of the cluster. */
  readonly cgroupDir: string;
  /** The comment on every iptables rule the cluster adds in the root netns. */
  readonly iptablesComment: string;
  readonly nodes: readonly NodePlan[];
  /** API addresses of the control nodes. */
  readonly apiEndpoints: readonly string[];
  /** The cluster CA's files (its key stays in this host's cluster dir, 0600). */
  readonly pki: ClusterPkiPaths;
}

/** ClusterPkiPaths: where a cluster keeps its CA and the admin certificate of `tug`. */
export interface ClusterPkiPaths {
  readonly dir: string;
  readonly caFile: string;
  readonly caKeyFile: string;
  /** admin: the CA, certificate and key `tug` dials with (the cluster's context names them). */
  readonly admin: TlsFiles;
  /** encryptionKeyFile: every tug-control's --encryption-key-file (0600), the key Secrets are sealed with at rest. */
  readonly encryptionKeyFile: string;
}

/** clusterPkiPaths are the PKI files of the cluster whose dir is baseDir. */
export function clusterPkiPaths(baseDir: string): ClusterPkiPaths {
  const dir = join(baseDir, 'pki');
  const caFile = join(dir, 'ca.crt');
  return {
    dir,
    caFile,
    caKeyFile: join(dir, 'ca.key'),
    admin: { caFile, certFile: join(dir, 'admin.crt'), keyFile: join(dir, 'admin.key') },
    encryptionKeyFile: join(dir, 'encryption-keys.yaml'),
  };
}

const nameRe = /^[a-z0-9]{1,8}$/;

/** checkClusterName throws a PlanError unless name is 1-8 characters of [a-z0-9]. */
export function checkClusterName(name: string): void {
  if (!nameRe.test(name)) {
    throw new PlanError(`--name: ${JSON.stringify(name)} must be 1 to 8 lower-case letters or digits (it is part of interface names, at most 15 characters)`);
  }
}

/** baseDirOf is where the cluster of that name keeps everything. */
export function baseDirOf(name: string, stateRoot: string = DEFAULT_STATE_ROOT): string {
  return join(stateRoot, 'clusters', name);
}

/** ClusterNames are the names of what a cluster makes on the host: they follow from its name
 *  alone, so `down` and `leftovers` find everything even without a state file. */
export interface ClusterNames {
  readonly name: string;
  readonly baseDir: string;
  readonly stateFile: string;
  readonly bridge: string;
  /** Every node netns starts with it: tug-NAME-node- (names have no '-', so no other cluster's does). */
  readonly netnsPrefix: string;
  /** Every host veth end starts with it: tv-NAME- */
  readonly vethPrefix: string;
  readonly cgroupDir: string;
  readonly iptablesComment: string;
}

export function clusterNames(name: string, stateRoot: string = DEFAULT_STATE_ROOT): ClusterNames {
  checkClusterName(name);
  const baseDir = baseDirOf(name, stateRoot);
  return {
    name,
    baseDir,
    stateFile: join(baseDir, 'state.json'),
    bridge: `tug-${name}`,
    netnsPrefix: `tug-${name}-node-`,
    vethPrefix: `tv-${name}-`,
    cgroupDir: `tugboat-${name}`,
    iptablesComment: `tugboat:${name}`,
  };
}

/** subnetForName gives the default cluster 172.29.0.0/24 and every other name a /24 of
 *  172.29.0.0/16 from a hash of the name (never the default cluster's). */
export function subnetForName(name: string): string {
  if (name === DEFAULT_CLUSTER_NAME) return '172.29.0.0/24';
  let h = 0x811c9dc5; // FNV-1a, 32 bits
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `172.29.${1 + (h % 255)}.0/24`;
}

/** parseSubnet reads "A.B.C.0/24" into its first three octets; throws a PlanError otherwise. */
export function parseSubnet(subnet: string): [number, number, number] {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0\/24$/.exec(subnet);
  const octets = m === null ? [] : [Number(m[1]), Number(m[2]), Number(m[3])];
  if (octets.length !== 3 || octets.some((o) => o > 255)) {
    throw new PlanError(`--subnet: ${JSON.stringify(subnet)} is not an IPv4 /24 like 172.29.7.0/24`);
  }
  const [a, b] = octets as [number, number, number];
  const privateRange = a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  if (!privateRange) throw new PlanError(`--subnet: ${subnet} is not in a private range (10/8, 172.16/12, 192.168/16)`);
  if (a === 10 && b === 244) throw new PlanError(`--subnet: ${subnet} is inside the pod network 10.244.0.0/16`);
  return octets as [number, number, number];
}

function wholeNumber(flag: string, v: number, min: number, max: number): number {
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new PlanError(`${flag}: must be a whole number from ${min} to ${max}, got ${v}`);
  return v;
}

/** planCluster computes the whole layout; throws a PlanError naming a bad option. */
export function planCluster(opts: PlanOptions = {}): ClusterPlan {
  const name = opts.name ?? DEFAULT_CLUSTER_NAME;
  checkClusterName(name);
  const nodeCount = wholeNumber('--nodes', opts.nodes ?? 3, 1, MAX_NODES);
  const defaultControl = Math.min(3, nodeCount) % 2 === 0 ? Math.min(3, nodeCount) - 1 : Math.min(3, nodeCount);
  const control = wholeNumber('--control', opts.control ?? defaultControl, 1, nodeCount);
  if (control % 2 === 0) throw new PlanError(`--control: must be odd (a Raft majority of an even count tolerates no more failures), got ${control}`);
  const subnet = opts.subnet ?? subnetForName(name);
  const [a, b, c] = parseSubnet(subnet);
  const prefix = `${a}.${b}.${c}`;
  const stateRoot = opts.stateRoot ?? DEFAULT_STATE_ROOT;
  const names = clusterNames(name, stateRoot);
  const { baseDir, cgroupDir } = names;
  const pki = clusterPkiPaths(baseDir);
  const nodeTls = (dir: string, role: string): TlsFiles => ({ caFile: pki.caFile, certFile: join(dir, 'tls', `${role}.crt`), keyFile: join(dir, 'tls', `${role}.key`) });
  const nodes: NodePlan[] = [];
  for (let i = 1; i <= nodeCount; i++) {
    const nodeName = `node-${i}`;
    const ip = `${prefix}.${10 + i}`;
    const dir = join(baseDir, nodeName);
    const isControl = i <= control;
    const netns = `${names.netnsPrefix}${i}`;
    nodes.push({
      name: nodeName,
      index: i,
      ip,
      control: isControl,
      netns,
      netnsPath: `/run/netns/${netns}`,
      hostVeth: `${names.vethPrefix}${i}`,
      apiAddress: isControl ? `${ip}:${API_PORT}` : undefined,
      peerAddress: isControl ? `${ip}:${PEER_PORT}` : undefined,
      agentAddress: `${ip}:${AGENT_PORT}`,
      cgroupParent: `/${cgroupDir}/${nodeName}`,
      paths: {
        dir,
        containerdRoot: join(dir, 'containerd', 'root'),
        containerdState: join(dir, 'containerd', 'state'),
        runcRoot: join(dir, 'containerd', 'runc'),
        containerdConfig: join(dir, 'containerd', 'config.toml'),
        containerdSocket: join(dir, 'containerd', 'containerd.sock'),
        cniConfDir: join(dir, 'cni', 'conf'),
        cniDataDir: join(dir, 'cni', 'data'),
        agentDir: join(dir, 'agent'),
        controlDir: join(dir, 'control'),
        logDir: join(dir, 'logs'),
        controlTls: nodeTls(dir, 'control'),
        agentTls: nodeTls(dir, 'agent'),
      },
    });
  }
  return {
    name,
    subnet,
    hostIp: `${prefix}.1`,
    bridge: names.bridge,
    stateRoot,
    baseDir,
    stateFile: names.stateFile,
    cgroupDir,
    iptablesComment: names.iptablesComment,
    nodes,
    apiEndpoints: nodes.flatMap((n) => (n.apiAddress === undefined ? [] : [n.apiAddress])),
    pki,
  };
}

function ipToInt(ip: string): number | undefined {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/** subnetOverlaps says whether the cluster's /24 and the network of address/prefixlen share addresses. */
export function subnetOverlaps(subnet: string, address: string, prefixlen: number): boolean {
  const [a, b, c] = parseSubnet(subnet);
  const net = ipToInt(`${a}.${b}.${c}.0`)!;
  const addr = ipToInt(address);
  if (addr === undefined) return false;
  const len = Math.min(24, prefixlen);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return ((net & mask) >>> 0) === ((addr & mask) >>> 0);
}
