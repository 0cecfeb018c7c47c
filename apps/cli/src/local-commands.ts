// local-commands.ts: `tug cluster up`, `tug cluster down` and `tug cluster load-image`: a local
// multi-node cluster on this machine (@tugboat/localcluster), and its context in the config file.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import {
  DEFAULT_CLUSTER_NAME,
  MAX_NODES,
  checkClusterName,
  clusterNames,
  downCluster,
  existingPlan,
  isPlanError,
  loadImage,
  planCluster,
  upCluster,
} from '@tugboat/localcluster';
import type { ClusterInfo, DownSummary } from '@tugboat/localcluster';
import type { Io } from './session.ts';
import { configForWrite, parseDuration, saveConfig, withContext, withoutContext } from './config.ts';
import type { TargetInputs } from './config.ts';
import { CliError, UsageError } from './errors.ts';
import { Table } from './table.ts';

interface UpFlags {
  nodes?: string;
  control?: string;
  name?: string;
  subnet?: string;
  agents?: boolean;
  timeout?: string;
}

function configInputs(cmd: Command, io: Io): TargetInputs {
  const g = cmd.optsWithGlobals<{ config?: string }>();
  return { config: g.config, env: io.env, homedir: io.homedir };
}

function count(flag: string, v: string | undefined, command: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag}: ${JSON.stringify(v)} is not a whole number`, command);
  return Number(v);
}

/** clusterName is --name, checked (default: the default cluster's name). */
export function clusterName(v: string | undefined, command: string): string {
  const name = v ?? DEFAULT_CLUSTER_NAME;
  try {
    checkClusterName(name);
  } catch (err) {
    throw new UsageError((err as Error).message, command);
  }
  return name;
}

/** failure turns a local-cluster error into tug's: bad options are usage errors (exit 2), the rest say what went wrong (exit 1). */
export function failure(err: unknown, command: string): Error {
  if (isPlanError(err)) return new UsageError(err.message, command);
  if (err instanceof Error && ['HostError', 'ClusterExistsError', 'ReadinessError', 'NoClusterError'].includes(err.name)) return new CliError(err.message);
  return err instanceof Error ? err : new Error(String(err));
}

/** summary is what `up` prints: the nodes, where the API is, the logs and how to tear down. */
export function summary(info: ClusterInfo, contextNote: string): string {
  const t = new Table(
    ['NODE', 'IP', 'ROLES', 'POD-CIDR', 'NETNS'].map((h) => ({ header: h, value: () => '' })),
    0,
  );
  const rows = info.nodes.map((n) => [
    n.name,
    n.ip,
    [...(n.control ? ['control'] : []), ...(info.agents ? ['agent'] : [])].join(',') || '<none>',
    n.podCIDR ?? '<none>',
    n.netns,
  ]);
  return [
    `local cluster "${info.name}" is up: ${info.nodes.length} nodes on bridge ${info.bridge} (${info.subnet}, this host is ${info.hostIp})`,
    t.render(rows, true).trimEnd(),
    `API endpoints: ${info.endpoints.join(',')} (mutual TLS: CA ${info.tls.caFile}, tug's certificate ${info.tls.certFile})`,
    contextNote,
    `logs: ${info.baseDir}/node-*/logs/ (containerd.log, control.log, agent.log)`,
    `tear down: tug cluster down --name ${info.name}`,
    '',
  ].join('\n');
}

async function upCommand(io: Io, cmd: Command, flags: UpFlags): Promise<void> {
  const command = 'cluster up';
  const name = clusterName(flags.name, command);
  const timeoutMs = flags.timeout === undefined ? undefined : (parseDuration(flags.timeout, '--timeout') ?? 24 * 3_600_000);
  const inputs = configInputs(cmd, io);
  configForWrite(inputs); // a broken config file fails now, not after the cluster is up
  const stateFile = clusterNames(name).stateFile;
  const existed = existsSync(stateFile);
  let info: ClusterInfo;
  try {
    info = await upCluster({
      name,
      nodes: count('--nodes', flags.nodes, command),
      control: count('--control', flags.control, command),
      subnet: flags.subnet,
      agents: flags.agents !== false,
      timeoutMs,
      progress: (line) => {
        io.stderr.write(`${line}\n`);
      },
    });
  } catch (err) {
    const e = failure(err, command);
    if (e.name === 'CliError' && !existed && existsSync(stateFile)) {
      throw new CliError(`${e.message}\nWhat was made is left for inspection; remove it with: tug cluster down --name ${name}`);
    }
    throw e;
  }
  const config = configForWrite(inputs);
  saveConfig(withContext(config, { name, endpoints: info.endpoints, tls: info.tls }, true));
  io.stdout.write(summary(info, `context "${name}" written to ${config.path} and made current`));
}

/** noun is `1 mount`, `64 mounts` (plural: singular + s unless given). */
function noun(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

/** counted is [noun(...)], or [] when n is 0. */
function counted(n: number, singular: string, plural?: string): string[] {
  return n === 0 ? [] : [noun(n, singular, plural)];
}

/** listed joins `a`, `a and b`, `a, b and c`. */
function listed(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

const ROLE_NAMES = [['agent', 'tug-agent'], ['control', 'tug-control'], ['containerd', 'containerd']] as const;

/** downSummary is what `down` prints by default: one line counting what it stopped and removed
 *  per kind, kinds with nothing left out; empty when it did nothing. */
export function downSummary(s: DownSummary): string {
  const parts: string[] = [];
  const stopped = ROLE_NAMES.reduce((sum, [role]) => sum + s.stopped[role], 0);
  const roles = ROLE_NAMES.flatMap(([role, program]) => counted(s.stopped[role], program, program));
  if (stopped > 0) parts.push(`stopped ${noun(stopped, 'process', 'processes')} (${roles.join(', ')})`);
  if (s.thawedCgroups > 0) parts.push(`thawed ${noun(s.thawedCgroups, 'frozen cgroup')}`);
  const killed = [
    ...counted(s.containerProcesses, 'container process', 'container processes'),
    ...counted(s.shims, 'shim'),
    ...counted(s.otherProcesses, 'other process', 'other processes'),
  ];
  if (killed.length > 0) parts.push(`killed ${listed(killed)}`);
  if (s.mounts > 0) parts.push(`unmounted ${noun(s.mounts, 'mount')}`);
  const removed = [
    ...counted(s.shimSockets, 'shim socket'),
    ...counted(s.networkNamespaces, 'network namespace'),
    ...counted(s.veths, 'veth'),
    ...counted(s.bridges, 'bridge'),
    ...counted(s.iptablesRules, 'iptables rule'),
    ...(s.cgroupHierarchies > 0 ? ['cgroups'] : []),
    ...counted(s.cniCacheFiles, 'CNI cache file'),
    ...(s.baseDir === undefined ? [] : [s.baseDir]),
  ];
  if (removed.length > 0) parts.push(`removed ${listed(removed)}`);
  return parts.join('; ');
}

async function downCommand(io: Io, cmd: Command, flags: { name?: string; verbose?: boolean }): Promise<void> {
  const command = 'cluster down';
  const name = clusterName(flags.name, command);
  // The context goes only if it is the one `up` wrote (its endpoints are the cluster's), never
  // a user's own. Without a state file, any API address a cluster of that name could have.
  let endpoints: ReadonlySet<string>;
  try {
    endpoints = new Set(existingPlan(name).apiEndpoints);
  } catch {
    endpoints = new Set(planCluster({ name, nodes: MAX_NODES, control: MAX_NODES }).apiEndpoints);
  }
  let result;
  try {
    result = await downCluster(name, {
      ...(flags.verbose === true
        ? {
            progress: (line: string) => {
              io.stdout.write(`${line}\n`);
            },
          }
        : {}),
    });
  } catch (err) {
    throw failure(err, command);
  }
  if (flags.verbose !== true) for (const w of result.warnings) io.stderr.write(`warning: ${w}\n`);
  const done = downSummary(result.summary);
  if (done !== '') io.stdout.write(`${done}\n`);
  const inputs = configInputs(cmd, io);
  const config = configForWrite(inputs);
  const ctx = config.contexts.find((c) => c.name === name);
  if (ctx !== undefined && ctx.endpoints.every((e) => endpoints.has(e))) {
    saveConfig(withoutContext(config, name));
    io.stdout.write(`removed context "${name}" from ${config.path}\n`);
  }
  if (result.left.length > 0) throw new CliError(`local cluster "${name}": could not remove:\n  ${result.left.join('\n  ')}`);
  io.stdout.write(result.removed.length === 0 ? `no local cluster named "${name}": nothing to remove\n` : `local cluster "${name}" is down\n`);
}

async function loadImageCommand(io: Io, tar: string, flags: { name?: string }): Promise<void> {
  const name = clusterName(flags.name, 'cluster load-image');
  try {
    const nodes = await loadImage(tar, name);
    io.stdout.write(`loaded ${tar} into ${nodes.join(', ')} of local cluster "${name}"\n`);
  } catch (err) {
    throw err instanceof Error && err.name === 'Error' ? new CliError(err.message) : failure(err, 'cluster load-image');
  }
}

/** addLocalClusterCommands adds up, down and load-image under `tug cluster`. */
export function addLocalClusterCommands(cluster: Command, io: Io): void {
  cluster
    .command('up')
    .summary('start a local multi-node cluster on this machine (root)')
    .description(
      'Start a local cluster on this machine (as root): each node a network namespace on bridge tug-NAME with its own containerd, tug-agent and, on control nodes, tug-control (run as bundles made of this checkout at up, in NAME/bin). Loads the offline images (pause, web), waits until every node is Ready and writes a context NAME to the config file, made current. Everything lives under /var/lib/tugboat/clusters/NAME.',
    )
    .option('--nodes <n>', `number of nodes, 1 to ${MAX_NODES}`, '3')
    .option('--control <n>', 'number of control nodes (node-1 ...), odd, at most --nodes (default: 3, or 1 with fewer than 3 nodes)')
    .option('--name <name>', 'cluster name: 1 to 8 lower-case letters or digits', DEFAULT_CLUSTER_NAME)
    .option('--subnet <cidr>', 'the nodes\' /24 (default: 172.29.0.0/24 for "local", another 172.29.X.0/24 derived from the name otherwise)')
    .option('--no-agents', 'start containerd and tug-control only (no tug-agent, no Nodes)')
    .option('--timeout <duration>', 'how long each stage may take to be ready: 30s, 2m', '2m')
    .addHelpText('after', '\nExample:\n  sudo tug cluster up --nodes 3\n  tug get nodes\n  sudo tug cluster down')
    .action(async (flags: UpFlags, cmd: Command) => upCommand(io, cmd, flags));
  cluster
    .command('down')
    .summary('stop and remove a local cluster')
    .description(
      'Stop and remove a local cluster: its processes, containers (thawing frozen cgroups first), mounts, network namespaces, bridge, iptables rules, cgroups, files and its context in the config file. Prints one line counting what it stopped and removed per kind; --verbose prints each thing as it goes. Safe to run twice, after a crash or on a half-made cluster.',
    )
    .option('--name <name>', 'cluster name', DEFAULT_CLUSTER_NAME)
    .option('-v, --verbose', 'print one line per process, mount, network namespace, rule and file stopped or removed')
    .action(async (flags: { name?: string; verbose?: boolean }, cmd: Command) => downCommand(io, cmd, flags));
  cluster
    .command('load-image')
    .summary('import an image tarball into every node of a local cluster')
    .description('Import an image tarball (OCI or docker save) into the containerd of every node of a local cluster.')
    .argument('<tar>', 'the image tarball')
    .option('--name <name>', 'cluster name', DEFAULT_CLUSTER_NAME)
    .action(async (tar: string, flags: { name?: string }) => loadImageCommand(io, tar, flags));
}
