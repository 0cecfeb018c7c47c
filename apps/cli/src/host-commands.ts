// host-commands.ts: `tug host configure` and `tug host reset`, run as root on an installed node.
// configure makes this machine a tugboat node the way deploy/install.sh installs one (and the
// Vagrant machines run it): the node's certificates (a new cluster CA with --init, a join with a
// bootstrap token otherwise), the bundles of tug-control and tug-agent, the offline images,
// containerd's config and the systemd units, all rendered by @tugboat/nodeconfig with the flags
// `tug cluster up` gives its nodes. Every file is written only when its content differs, and
// each one written is named in a line `wrote PATH`, so a second run with the same input writes
// nothing and the installer knows which services to restart; starting them is the installer's
// part. reset removes what an agent leaves behind, for uninstalling.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { joinCluster } from '@tugboat/client';
import { CriClient, MANAGED_LABEL } from '@tugboat/cri';
import type { JoinIdentity } from '@tugboat/client';
import { bundlePrograms, ensureImageTars, PROGRAM_FILES, writeIfChanged } from '@tugboat/localcluster';
import { CNI_BRIDGE, CNI_CONF_FILE, renderTeardown, ROUTE_PROTO } from '@tugboat/netconf';
import { API_PORT, HOST_PATHS, hostFiles, PEER_PORT } from '@tugboat/nodeconfig';
import type { CgroupDriver, Founding } from '@tugboat/nodeconfig';
import { CA_HASH_RE, initPkiFolder, pkiFolderFiles, TOKEN_RE, writeCertificate, writeKeyPairFiles, writePrivateKey } from '@tugboat/pki';
import { configForWrite, configPath, saveConfig, splitEndpoints, withContext } from './config.ts';
import { CliError, UsageError } from './errors.ts';
import type { Io } from './session.ts';

interface ConfigureFlags {
  nodeName?: string;
  address?: string;
  init?: boolean;
  clusterName: string;
  join?: string;
  token?: string;
  caHash?: string;
  encryptionKeyFile?: string;
  workerOnly?: boolean;
  cgroupDriver: string;
  root?: string;
}

const COMMAND = 'host configure';
const labelRe = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** detectCgroupDriver: systemd where the unified (v2) hierarchy is mounted at /sys/fs/cgroup, as
 *  systemd-run hosts have it; cgroupfs on v1 and hybrid hosts. */
function detectCgroupDriver(): CgroupDriver {
  return existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'systemd' : 'cgroupfs';
}

interface Checked {
  readonly nodeName: string;
  readonly address: string;
  readonly control: boolean;
  readonly join: readonly string[] | undefined;
  readonly cgroupDriver: CgroupDriver;
  /** under maps a path to where it is written (below --root when given). */
  readonly under: (path: string) => string;
}

function check(flags: ConfigureFlags): Checked {
  const usage = (message: string): UsageError => new UsageError(message, COMMAND);
  const nodeName = flags.nodeName ?? '';
  if (!labelRe.test(nodeName)) throw usage(`--node-name: ${JSON.stringify(nodeName)} is not a DNS-1123 label (lower-case letters, digits and '-', at most 63)`);
  const address = flags.address ?? '';
  if (isIP(address) !== 4) throw usage(`--address: ${JSON.stringify(address)} is not an IPv4 address (the node is reached at it; its certificates name it)`);
  if ((flags.init === true) === (flags.join !== undefined)) throw usage('give --init (found a new cluster) or --join ADDR (join a running one), not both and not neither');
  if (flags.init === true && flags.workerOnly === true) throw usage('--worker-only: the node that founds a cluster is a control member; join workers to it');
  let members: string[] | undefined;
  if (flags.join !== undefined) {
    const withPorts = flags.join.split(',').map((a) => a.trim()).filter((a) => a !== '').map((a) => (a.includes(':') ? a : `${a}:${API_PORT}`));
    members = splitEndpoints(withPorts.join(','), '--join');
    if (flags.token === undefined || !TOKEN_RE.test(flags.token)) throw usage('--token: joining needs a bootstrap token ID.SECRET (tug token create on a control node)');
    if (flags.caHash === undefined || !CA_HASH_RE.test(flags.caHash)) throw usage('--ca-hash: joining needs the CA hash sha256:HEX that tug token create prints');
  }
  const driver = flags.cgroupDriver === 'auto' ? detectCgroupDriver() : flags.cgroupDriver;
  if (driver !== 'systemd' && driver !== 'cgroupfs') throw usage(`--cgroup-driver: must be auto, systemd or cgroupfs, got ${JSON.stringify(flags.cgroupDriver)}`);
  const root = flags.root;
  if (root === undefined && process.getuid?.() !== 0) throw new CliError(`${COMMAND} writes under /etc, /opt and /var/lib: run it as root (deploy/install.sh does)`);
  return {
    nodeName,
    address,
    control: flags.workerOnly !== true,
    join: members,
    cgroupDriver: driver,
    under: (path) => (root === undefined ? path : join(root, path)),
  };
}

/**
 * certificates makes the node's TLS files unless they exist: a new CA with --init, a join
 * otherwise (one token use for the agent's and, on a control node, the member's certificate;
 * a member token brings the CA key). A control node that joins also needs the cluster's
 * encryption key file, which no join hands out.
 */
async function certificates(c: Checked, flags: ConfigureFlags, out: (line: string) => void): Promise<void> {
  const files = pkiFolderFiles(c.under(HOST_PATHS.pkiDir));
  if (c.join === undefined) {
    const made = await initPkiFolder(c.under(HOST_PATHS.pkiDir), { clusterName: flags.clusterName, node: { name: c.nodeName, ipAddresses: [c.address] } });
    if (made !== undefined) out(`made a cluster CA and ${c.nodeName}'s certificates in ${HOST_PATHS.pkiDir}`);
    for (const path of made === undefined ? [] : [files.caFile, files.caKeyFile, files.member.certFile, files.member.keyFile, files.agent.certFile, files.agent.keyFile, files.admin.certFile, files.admin.keyFile, files.encryptionKeyFile]) {
      out(`wrote ${path}`);
    }
    return;
  }
  if (c.control && !existsSync(files.encryptionKeyFile)) {
    if (flags.encryptionKeyFile === undefined) {
      throw new UsageError(`--encryption-key-file: a control member needs the cluster's Secrets key: copy ${HOST_PATHS.pkiDir}/encryption-keys.yaml from a control node and name the copy here (or join with --worker-only)`, COMMAND);
    }
    let keys: Buffer;
    try {
      keys = readFileSync(flags.encryptionKeyFile);
    } catch (err) {
      throw new CliError(`--encryption-key-file: cannot read ${flags.encryptionKeyFile}: ${(err as Error).message}`);
    }
    if (writeIfChanged(files.encryptionKeyFile, keys, 0o600)) out(`wrote ${files.encryptionKeyFile}`);
  }
  const wanted: { role: JoinIdentity['role']; files: { certFile: string; keyFile: string } }[] = [{ role: 'agent', files: files.agent }];
  if (c.control) wanted.push({ role: 'member', files: files.member });
  if (wanted.every((w) => existsSync(w.files.certFile))) return;
  let joined;
  try {
    joined = await joinCluster({
      addresses: c.join,
      token: flags.token ?? '',
      caHash: flags.caHash ?? '',
      identities: wanted.map((w) => ({ role: w.role, commonName: c.nodeName, ipAddresses: [c.address] })),
    });
  } catch (err) {
    throw new CliError(`${COMMAND}: join failed, nothing written: ${(err as Error).message}`);
  }
  writeCertificate(files.caFile, joined.caPem);
  out(`wrote ${files.caFile}`);
  if (joined.caKeyPem !== undefined && c.control) {
    writePrivateKey(files.caKeyFile, joined.caKeyPem);
    out(`wrote ${files.caKeyFile}`);
  }
  wanted.forEach((w, i) => {
    writeKeyPairFiles(w.files, joined.pairs[i]!);
    out(`wrote ${w.files.certFile}`);
    out(`wrote ${w.files.keyFile}`);
  });
  out(`joined through ${joined.address} as ${wanted.map((w) => w.role).join(' and ')} ${c.nodeName}`);
}

async function configure(io: Io, flags: ConfigureFlags): Promise<void> {
  const c = check(flags);
  const out = (line: string): void => {
    io.stdout.write(`${line}\n`);
  };
  await certificates(c, flags, out);
  for (const path of await bundlePrograms(c.under(dirname(HOST_PATHS.programsDir)))) out(`wrote ${path}`);
  ensureImageTars(c.under(HOST_PATHS.imagesDir));
  const own = `${c.address}:${API_PORT}`;
  const founding: Founding | undefined = !c.control ? undefined : c.join === undefined ? { initialCluster: [{ name: c.nodeName, peerAddress: `${c.address}:${PEER_PORT}` }] } : { join: c.join[0]! };
  const files = hostFiles({
    nodeName: c.nodeName,
    address: c.address,
    founding,
    apiEndpoints: c.control ? [own, ...(c.join ?? []).filter((a) => a !== own)] : (c.join ?? []),
    cgroupDriver: c.cgroupDriver,
    programs: {
      node: process.execPath,
      controlMain: join(HOST_PATHS.programsDir, PROGRAM_FILES.control),
      agentMain: join(HOST_PATHS.programsDir, PROGRAM_FILES.agent),
    },
  });
  let unchanged = 0;
  for (const f of files) {
    if (writeIfChanged(c.under(f.path), f.content, f.mode)) out(`wrote ${c.under(f.path)}`);
    else unchanged++;
  }
  if (c.join === undefined) {
    const admin = pkiFolderFiles(c.under(HOST_PATHS.pkiDir)).admin;
    const inputs = { env: io.env, homedir: c.under(io.homedir) };
    const config = configForWrite(inputs);
    const context = { name: flags.clusterName, endpoints: [own], tls: admin };
    if (JSON.stringify(config.contexts.find((ctx) => ctx.name === context.name)) !== JSON.stringify(context) || config.currentContext !== context.name) {
      saveConfig(withContext(config, context, true));
      out(`wrote ${configPath(inputs).path}: context "${context.name}" dials ${own} as admin`);
    }
  }
  out(`${c.nodeName}: ${c.control ? 'control member and worker' : 'worker'}, cgroup driver ${c.cgroupDriver}; ${unchanged} of ${files.length} config files unchanged`);
}

/** runTool runs a host program, with text on its stdin; throws a CliError with its stderr. */
function runTool(argv: readonly string[], input = ''): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { input, encoding: 'utf8' });
  if (r.error !== undefined) throw new CliError(`${argv.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new CliError(`${argv.join(' ')} failed (exit ${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

/**
 * reset removes what a node's agent made and leaves behind when it stops (pods outlive it on
 * purpose): every pod sandbox tugboat runs in containerd, stopped and removed through the CRI
 * (which tears down each pod's network), the service rules (TUG-* chains and the jumps to them),
 * the routes to other nodes' pods, the pod bridge and the CNI config. deploy/install.sh
 * --uninstall runs it after stopping tug-agent.
 */
async function reset(io: Io): Promise<void> {
  if (process.getuid?.() !== 0) throw new CliError('host reset changes containerd, iptables and routes: run it as root');
  const out = (line: string): void => {
    io.stdout.write(`${line}\n`);
  };
  const cri = new CriClient(HOST_PATHS.containerdSocket);
  try {
    const sandboxes = await cri.listPodSandbox({ labelSelector: { [MANAGED_LABEL]: 'true' } });
    for (const sb of sandboxes) {
      await cri.stopPodSandbox(sb.id);
      await cri.removePodSandbox(sb.id);
    }
    out(`removed ${sandboxes.length} pod sandbox${sandboxes.length === 1 ? '' : 'es'} from containerd`);
  } finally {
    cri.close();
  }
  const teardown = renderTeardown(runTool(['iptables-save']));
  if (teardown !== '') runTool(['iptables-restore', '--noflush'], teardown);
  out(teardown === '' ? 'no service rules to remove' : 'removed the service rules (TUG-* chains)');
  runTool(['ip', 'route', 'flush', 'proto', String(ROUTE_PROTO)]);
  if (existsSync(`/sys/class/net/${CNI_BRIDGE}`)) {
    runTool(['ip', 'link', 'delete', CNI_BRIDGE]);
    out(`removed the pod bridge ${CNI_BRIDGE}`);
  }
  rmSync(join(HOST_PATHS.cniConfDir, CNI_CONF_FILE), { force: true });
}

/** addHostCommands adds `tug host configure` and `tug host reset`. */
export function addHostCommands(program: Command, io: Io): void {
  const host = program
    .command('host')
    .summary('configure this machine as a node of an installed cluster (deploy/install.sh runs it)')
    .description(
      'Commands run as root on a machine installed with deploy/install.sh (docs/install.md): configure writes what the node runs and is configured with; reset removes what its agent left behind, for uninstalling.',
    )
    .usage('COMMAND');
  host
    .command('configure')
    .summary('write this node\'s certificates, programs, containerd config and systemd units')
    .description(
      `Make this machine a node, as root: with --init a new cluster CA and this node's certificates in ${HOST_PATHS.pkiDir}, or with --join its certificates from the cluster through a bootstrap token; ` +
        `the bundles of tug-control and tug-agent in ${HOST_PATHS.programsDir}; the offline images in ${HOST_PATHS.imagesDir}; ${HOST_PATHS.containerdConfig}; and tug-agent.service and (unless --worker-only) tug-control.service in ${HOST_PATHS.unitDir}. ` +
        'A file is written only when it differs, and each written one is printed as "wrote PATH"; existing certificates are kept. It starts nothing: deploy/install.sh enables and (re)starts the services.',
    )
    .requiredOption('--node-name <name>', "this node's name (its Node and member name)")
    .requiredOption('--address <ip>', 'the IPv4 address the other nodes reach this one at')
    .option('--init', 'found a new cluster with this node as its first control member')
    .option('--cluster-name <name>', 'with --init: named in the CA certificate, and the name of the context written for tug', 'tugboat')
    .option('--join <addr,...>', "join a running cluster through these members' API addresses (port 7400 if not given)")
    .option('--token <token>', 'with --join: a bootstrap token (tug token create; --role member for a control node)')
    .option('--ca-hash <hash>', 'with --join: the CA hash tug token create prints')
    .option('--encryption-key-file <file>', "with --join, on a control node: a copy of the cluster's encryption-keys.yaml")
    .option('--worker-only', 'run tug-agent only (no control member)')
    .option('--cgroup-driver <driver>', 'auto (systemd on cgroup v2 hosts, cgroupfs on v1), systemd or cgroupfs', 'auto')
    .option('--root <dir>', 'write every file under this dir instead of / (to inspect what would be written)')
    // --token is tug's global option too (an API token); here it is the join token, wherever given.
    .action(async (_flags: unknown, cmd: Command) => configure(io, cmd.optsWithGlobals<ConfigureFlags>()));
  host
    .command('reset')
    .summary("remove the pods, service rules, routes and pod bridge a node's agent left")
    .description(
      "Remove, as root, what tug-agent leaves on its node when it stops (pods keep running without it): every tugboat pod in containerd (stopped and removed through the CRI, which tears down its network), the TUG-* iptables chains and the jumps to them, the agent's routes to other nodes' pods, the pod bridge " +
        `${CNI_BRIDGE} and ${join(HOST_PATHS.cniConfDir, CNI_CONF_FILE)}. Stop tug-agent first, or it makes them again. deploy/install.sh --uninstall runs it.`,
    )
    .action(async () => reset(io));
}
