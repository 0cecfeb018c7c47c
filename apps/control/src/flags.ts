/**
 * Command-line flags of tug-control (and of the command-log member of the Raft-level tests,
 * test/support/command-log-member/main.ts), parsed and validated once, up front. Every problem
 * is a FlagError naming the flag; the program prints it and exits with status 2.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_CERT_DAYS, tlsFlags, tlsFlagsUsage } from '@tugboat/pki';
import type { TransportChoice } from '@tugboat/pki';
import { LOOP_NAMES } from './controllers.ts';

export const defaultPeerPort = 7401;
export const defaultApiPort = 7400;
export const defaultHost = '127.0.0.1';
/** Default tick length, ms, and election timeout, ticks: elections start 0.5 to 1 s after the leader is lost. */
export const defaultTickMs = 50;
export const defaultElectionTicks = 10;
/** Defaults of the node lifecycle controller: with the agents' 2 s heartbeat, the pods of a
 *  dead node are deleted about 7 s after it died. */
export const defaultNodeMonitorGraceSeconds = 5;
export const defaultEvictionSeconds = 1;
/** Defaults of the bounds on what one client or namespace may take. */
export const defaultMaxObjectsPerNamespace = 100_000;
export const defaultMaxRequestsPerClient = 200;
export const defaultMaxWatchesPerClient = 500;

export const usage = `usage: tug-control --name NAME --data-dir DIR [--initial-cluster N=ADDR,... | --join APIADDR] [options]

A control-plane member: a Raft member holding the replicated object store and serving the tug
API (proto/tug/v1/api.proto). Every member serves reads and watches; writes go to the leader.
SIGTERM or SIGINT shuts it down gracefully. Logs (JSON lines, pino) go to stderr.

  --name NAME                 this member's name (DNS-1123 label), e.g. c1
  --data-dir DIR              where the member keeps its state (created if missing)
  --listen-peer HOST:PORT     Raft traffic (default ${defaultHost}:${defaultPeerPort}, or this
                              member's address in --initial-cluster)
  --listen-api HOST:PORT      the API for tug, agents and the other members
                              (default ${defaultHost}:${defaultApiPort})
  --advertise-peer HOST:PORT  peer address others dial (default: --listen-peer)
  --advertise-api HOST:PORT   API address the other members forward to (default: --listen-api)
  --initial-cluster N=ADDR,.. founding members and their peer addresses (new cluster; the
                              same list on every founding member)
  --join APIADDR              join a running cluster through any member's API
  --tick-ms MS                Raft tick (default ${defaultTickMs})
  --election-ticks N          election timeout in ticks, drawn from [N, 2N) (default ${defaultElectionTicks})
  --snapshot-entries N        snapshot and compact every N applied entries (default 10000)
  --node-monitor-grace SECONDS
                              a Node whose heartbeat is older than this becomes Ready=Unknown
                              and gets the node.kubernetes.io/unreachable taints (default ${defaultNodeMonitorGraceSeconds})
  --default-eviction-seconds SECONDS
                              how long pods without a toleration of their own stay on a Node
                              tainted unreachable or not-ready before they are deleted
                              (default ${defaultEvictionSeconds}; 0: at once)
  --max-objects-per-namespace N
                              creates beyond N objects in a namespace are refused, Events not
                              counted (default ${defaultMaxObjectsPerNamespace})
  --max-requests-per-client N requests/s a node agent or viewer may send, in bursts of 2N; beyond,
                              calls are refused with the wait, which tug's clients honour
                              (admins and members: no limit) (default ${defaultMaxRequestsPerClient})
  --max-watches-per-client N  open watches per client certificate (default ${defaultMaxWatchesPerClient})
  --controllers LIST          which leader-only loops run, comma-separated: '*' for all,
                              NAME to add one, -NAME to leave one out (default '*'); loops:
                              ${LOOP_NAMES.join(', ')}
${tlsFlagsUsage(30)}
  --ca-key-file FILE          the CA's key: this member signs the certificates of joining nodes
                              (and, joining with a member token, writes the key it is given here)
  --certificate-days N        how long the certificates it signs last, for joins and renewals
                              (default ${DEFAULT_CERT_DAYS})
  --encryption-key-file FILE  keys that seal Secrets in the Raft log and snapshots (AES-256-GCM):
                              YAML {keys: [{name, secret: base64 of 32 bytes}]}, the first
                              seals, every one opens; mode 0600 (docs/security.md). Without it
                              Secrets are stored in clear (logged as a warning at start)
  --log-level LEVEL           trace, debug, info, warn, error (default info)
  --help                      print this and exit

Every connection (the API, Raft, calls to the other members) is mutual TLS under the cluster
CA; a client without a certificate of it is refused and logged. The certificate must name the
advertised addresses (IP SANs); one that joins with --token asks for them. Certificates are
renewed by the member itself when two thirds of their time has passed. On restart with an existing data dir, --initial-cluster and --join are ignored.`;

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

export interface Flags {
  readonly name: string;
  readonly dataDir: string;
  readonly listenPeer: string;
  readonly listenApi: string;
  readonly advertisePeer: string;
  readonly advertiseApi: string;
  readonly initialCluster: readonly { readonly name: string; readonly peerAddress: string }[] | undefined;
  readonly join: string | undefined;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly snapshotEntries: number;
  readonly nodeMonitorGraceSeconds: number;
  readonly defaultEvictionSeconds: number;
  /** controllers are the names of the leader-only loops that run. */
  readonly controllers: ReadonlySet<string>;
  readonly logLevel: string;
  readonly maxObjectsPerNamespace: number;
  /** maxRequestsPerClient: requests/s of a node agent or viewer (bursts of twice as many). */
  readonly maxRequestsPerClient: number;
  readonly maxWatchesPerClient: number;
  /** certificateDays: how long the certificates this member signs (joins, renewals) last. */
  readonly certificateDays: number;
  /** caKeyFile: the CA key (--ca-key-file), with which the member signs joins and renewals. */
  readonly caKeyFile: string | undefined;
  /** transport: the TLS files, or --insecure-plaintext. */
  readonly transport: TransportChoice;
  /** encryptionKeyFile: the keys Secrets are sealed with at rest; undefined: stored in clear. */
  readonly encryptionKeyFile: string | undefined;
  readonly help: boolean;
}

const nameRe = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const logLevels = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

/** parseHostPort accepts "HOST:PORT", "HOST" or ":PORT"; a missing part takes the default. */
export function parseHostPort(flag: string, value: string, defaultPort: number): string {
  let host = value;
  let port = String(defaultPort);
  const at = value.lastIndexOf(':');
  if (at >= 0 && !value.endsWith(']')) {
    host = value.slice(0, at);
    port = value.slice(at + 1);
  }
  if (host === '') host = defaultHost;
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new FlagError(flag, `port ${JSON.stringify(port)} in ${JSON.stringify(value)} is not a number from 1 to 65535`);
  }
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)$/.test(host)) {
    throw new FlagError(flag, `host ${JSON.stringify(host)} in ${JSON.stringify(value)} is not a hostname or IP address`);
  }
  return `${host}:${port}`;
}

function positiveInt(flag: string, value: string | undefined, def: number, max: number): number {
  if (value === undefined) return def;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
    throw new FlagError(flag, `must be a whole number from 1 to ${max}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

function wholeSeconds(flag: string, value: string | undefined, def: number, min: number): number {
  if (value === undefined) return def;
  const max = 86_400;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new FlagError(flag, `must be a whole number of seconds from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** parseControllers reads --controllers as kube-controller-manager does: '*' is every loop,
 *  NAME adds one, -NAME leaves one out; later items win. */
export function parseControllers(value: string | undefined): ReadonlySet<string> {
  const on = new Set<string>();
  for (const raw of (value ?? '*').split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    if (item === '*') {
      for (const n of LOOP_NAMES) on.add(n);
      continue;
    }
    const name = item.startsWith('-') ? item.slice(1) : item;
    if (!LOOP_NAMES.includes(name)) throw new FlagError('controllers', `unknown loop ${JSON.stringify(name)}; the loops are ${LOOP_NAMES.join(', ')}`);
    if (item.startsWith('-')) on.delete(name);
    else on.add(name);
  }
  return on;
}

function isWildcard(hostPort: string): boolean {
  const host = hostPort.slice(0, hostPort.lastIndexOf(':'));
  return host === '0.0.0.0' || host === '[::]' || host === '::';
}

/** parseFlags parses argv (without the node and script paths). Throws FlagError. */
export function parseFlags(argv: readonly string[]): Flags {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        name: { type: 'string' },
        'data-dir': { type: 'string' },
        'listen-peer': { type: 'string' },
        'listen-api': { type: 'string' },
        'advertise-peer': { type: 'string' },
        'advertise-api': { type: 'string' },
        'initial-cluster': { type: 'string' },
        join: { type: 'string' },
        'tick-ms': { type: 'string' },
        'election-ticks': { type: 'string' },
        'snapshot-entries': { type: 'string' },
        'node-monitor-grace': { type: 'string' },
        'default-eviction-seconds': { type: 'string' },
        controllers: { type: 'string' },
        'max-objects-per-namespace': { type: 'string' },
        'max-requests-per-client': { type: 'string' },
        'max-watches-per-client': { type: 'string' },
        'certificate-days': { type: 'string' },
        'log-level': { type: 'string' },
        'ca-file': { type: 'string' },
        'cert-file': { type: 'string' },
        'key-file': { type: 'string' },
        token: { type: 'string' },
        'ca-hash': { type: 'string' },
        'ca-key-file': { type: 'string' },
        'insecure-plaintext': { type: 'boolean' },
        'encryption-key-file': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    // parseArgs names the flag in its message ("Unknown option '--foo'", "Option '--name <value>' argument missing").
    const m = /'(-{1,2}[^' <]+)/.exec((err as Error).message);
    throw new FlagError(m?.[1]?.replace(/^-+/, '') ?? 'flags', (err as Error).message);
  }
  const v = parsed.values;
  const help = v.help === true;
  const name = v.name ?? '';
  if (!help) {
    if (name === '') throw new FlagError('name', 'is required');
    if (!nameRe.test(name)) throw new FlagError('name', `${JSON.stringify(name)} is not a DNS-1123 label (lower-case letters, digits, '-')`);
    if ((v['data-dir'] ?? '') === '') throw new FlagError('data-dir', 'is required');
  }
  const transport = help
    ? ({ insecurePlaintext: true } as const)
    : tlsFlags(v, (flag, message) => {
        throw new FlagError(flag, message);
      });

  let initialCluster: { name: string; peerAddress: string }[] | undefined;
  if (v['initial-cluster'] !== undefined) {
    initialCluster = [];
    const seen = new Set<string>();
    for (const part of v['initial-cluster'].split(',')) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw new FlagError('initial-cluster', `${JSON.stringify(part)} is not NAME=HOST:PORT`);
      const n = part.slice(0, eq);
      if (!nameRe.test(n)) throw new FlagError('initial-cluster', `member name ${JSON.stringify(n)} is not a DNS-1123 label`);
      if (seen.has(n)) throw new FlagError('initial-cluster', `member ${n} is listed twice`);
      seen.add(n);
      initialCluster.push({ name: n, peerAddress: parseHostPort('initial-cluster', part.slice(eq + 1), defaultPeerPort) });
    }
    if (!help && !seen.has(name)) throw new FlagError('initial-cluster', `does not list this member (--name ${name})`);
  }
  if (initialCluster !== undefined && v.join !== undefined) {
    throw new FlagError('join', 'cannot be combined with --initial-cluster (one founds a cluster, the other joins one)');
  }
  const join = v.join === undefined ? undefined : parseHostPort('join', v.join, defaultApiPort);
  if ('tls' in transport && transport.bootstrap !== undefined && join === undefined) throw new FlagError('token', 'needs --join APIADDR: the member to join through');
  const caKeyFile = v['ca-key-file'];
  if (caKeyFile !== undefined && !('tls' in transport)) throw new FlagError('ca-key-file', 'cannot be combined with --insecure-plaintext (there is no CA)');
  if (caKeyFile === '') throw new FlagError('ca-key-file', 'is empty: give the CA key file');

  const own = initialCluster?.find((m) => m.name === name)?.peerAddress;
  const listenPeer = v['listen-peer'] === undefined ? (own ?? `${defaultHost}:${defaultPeerPort}`) : parseHostPort('listen-peer', v['listen-peer'], defaultPeerPort);
  const listenApi = parseHostPort('listen-api', v['listen-api'] ?? `${defaultHost}:${defaultApiPort}`, defaultApiPort);
  const advertisePeer = v['advertise-peer'] === undefined ? (own ?? listenPeer) : parseHostPort('advertise-peer', v['advertise-peer'], defaultPeerPort);
  const advertiseApi = v['advertise-api'] === undefined ? listenApi : parseHostPort('advertise-api', v['advertise-api'], defaultApiPort);
  if (isWildcard(advertisePeer)) throw new FlagError('advertise-peer', `${advertisePeer} cannot be dialled; give the address others should use`);
  if (isWildcard(advertiseApi)) throw new FlagError('advertise-api', `${advertiseApi} cannot be dialled; give the address clients should use`);
  if (own !== undefined && v['advertise-peer'] !== undefined && own !== advertisePeer) {
    throw new FlagError('advertise-peer', `${advertisePeer} differs from this member's address in --initial-cluster (${own})`);
  }
  if (listenPeer === listenApi) throw new FlagError('listen-api', `must differ from --listen-peer (both ${listenApi})`);

  const tickMs = positiveInt('tick-ms', v['tick-ms'], defaultTickMs, 10_000);
  const electionTicks = positiveInt('election-ticks', v['election-ticks'], defaultElectionTicks, 1_000);
  if (electionTicks < 2) throw new FlagError('election-ticks', 'must be at least 2 (the heartbeat is 1 tick)');
  const snapshotEntries = positiveInt('snapshot-entries', v['snapshot-entries'], 10_000, 100_000_000);
  const nodeMonitorGraceSeconds = wholeSeconds('node-monitor-grace', v['node-monitor-grace'], defaultNodeMonitorGraceSeconds, 1);
  const defaultEviction = wholeSeconds('default-eviction-seconds', v['default-eviction-seconds'], defaultEvictionSeconds, 0);
  const controllers = parseControllers(v.controllers);
  const maxObjectsPerNamespace = positiveInt('max-objects-per-namespace', v['max-objects-per-namespace'], defaultMaxObjectsPerNamespace, 10_000_000);
  const maxRequestsPerClient = positiveInt('max-requests-per-client', v['max-requests-per-client'], defaultMaxRequestsPerClient, 1_000_000);
  const certificateDays = positiveInt('certificate-days', v['certificate-days'], DEFAULT_CERT_DAYS, 3650);
  const maxWatchesPerClient = positiveInt('max-watches-per-client', v['max-watches-per-client'], defaultMaxWatchesPerClient, 1_000_000);
  const encryptionKeyFile = v['encryption-key-file'];
  if (encryptionKeyFile === '') throw new FlagError('encryption-key-file', 'is empty: give the path of the key file, or leave the flag out');
  const logLevel = v['log-level'] ?? 'info';
  if (!logLevels.has(logLevel)) throw new FlagError('log-level', `${JSON.stringify(logLevel)} is not one of ${[...logLevels].join(', ')}`);

  return {
    name,
    dataDir: v['data-dir'] ?? '',
    listenPeer,
    listenApi,
    advertisePeer,
    advertiseApi,
    initialCluster,
    join,
    tickMs,
    electionTicks,
    snapshotEntries,
    nodeMonitorGraceSeconds,
    defaultEvictionSeconds: defaultEviction,
    controllers,
    maxObjectsPerNamespace,
    maxRequestsPerClient,
    maxWatchesPerClient,
    certificateDays,
    logLevel,
    transport,
    caKeyFile,
    encryptionKeyFile,
    help,
  };
}
