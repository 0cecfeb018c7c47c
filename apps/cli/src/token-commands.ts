// token-commands.ts: `tug token create | list | delete`, the tokens with which nodes join and
// people call the API without a certificate (ClusterService; admins only), and `tug cluster
// init`, the certificates of a new hand-run or installed cluster. A token's secret is printed
// once, by create; list shows IDs.
import { isIP } from 'node:net';
import type { Command } from 'commander';
import { toYaml } from '@tugboat/api';
import { caHash, initPkiFolder } from '@tugboat/pki';
import type { BootstrapToken } from '@tugboat/proto';
import { parseDuration } from './config.ts';
import { CliError, UsageError } from './errors.ts';
import type { Io, Session } from './session.ts';
import { Table, humanAge } from './table.ts';

interface CreateFlags {
  ttl: string;
  uses: string;
  role: string;
  user?: string;
  description?: string;
}

const ROLES = ['agent', 'member', 'admin', 'viewer'];

/** tokenState says whether a token still lets a node join. */
function tokenState(t: BootstrapToken, now: number): string {
  if (Date.parse(t.expires) <= now) return 'expired';
  if (t.maxUses > 0 && t.used >= t.maxUses) return 'used up';
  return 'valid';
}

async function create(s: Session, flags: CreateFlags): Promise<void> {
  const ttlMs = parseDuration(flags.ttl, '--ttl');
  if (ttlMs === undefined) throw new UsageError('--ttl: a token must expire: give 1m to 720h', 'token create');
  if (!/^\d+$/.test(flags.uses)) throw new UsageError(`--uses: ${JSON.stringify(flags.uses)} is not a whole number (0: any number of joins)`, 'token create');
  if (!ROLES.includes(flags.role)) throw new UsageError(`--role: ${JSON.stringify(flags.role)} is not one of ${ROLES.join(', ')}`, 'token create');
  const api = flags.role === 'admin' || flags.role === 'viewer';
  if (api && flags.user === undefined) throw new UsageError(`--user: an ${flags.role} token names the user it authenticates as`, 'token create');
  if (!api && flags.user !== undefined) throw new UsageError(`--user: only admin and viewer tokens name a user; a ${flags.role} token joins a node`, 'token create');
  const output = s.output(['json', 'yaml'], 'token create');
  const made = await s.client().cluster.createToken({
    ttlSeconds: Math.round(ttlMs / 1000),
    role: flags.role,
    description: flags.description ?? '',
    maxUses: Number(flags.uses),
    user: flags.user ?? '',
  });
  const doc = { token: made.token, caHash: made.caHash, role: made.info.role, expires: made.info.expires, maxUses: made.info.maxUses, ...(api ? { user: made.info.user } : {}) };
  if (output === 'json') return void s.io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  if (output === 'yaml') return void s.io.stdout.write(toYaml(doc));
  if (api) {
    s.io.stdout.write(
      `token:   ${made.token}\nca-hash: ${made.caHash}\n` +
        `calls the API as ${made.info.role} "${made.info.user}" until ${made.info.expires}; the secret is not shown again\n` +
        `use with: tug config set-credentials CONTEXT --certificate-authority CA-FILE --token ${made.token}\n`,
    );
    return;
  }
  const uses = made.info.maxUses === 0 ? 'any number of joins' : `${made.info.maxUses} join${made.info.maxUses === 1 ? '' : 's'}`;
  s.io.stdout.write(
    `token:   ${made.token}\nca-hash: ${made.caHash}\n` +
      `for ${made.info.role === 'member' ? 'control members (and their agents)' : 'node agents'}, ${uses}, until ${made.info.expires}; the secret is not shown again\n` +
      `join with: --token ${made.token} --ca-hash ${made.caHash}\n`,
  );
}

async function list(s: Session): Promise<void> {
  const output = s.output(['json', 'yaml'], 'token list');
  const tokens = await s.client().cluster.listTokens();
  const docs = tokens.map((t) => ({ id: t.id, role: t.role, user: t.user, description: t.description, created: t.created, expires: t.expires, maxUses: t.maxUses, used: t.used }));
  if (output === 'json') return void s.io.stdout.write(`${JSON.stringify({ tokens: docs }, null, 2)}\n`);
  if (output === 'yaml') return void s.io.stdout.write(toYaml({ tokens: docs }));
  if (tokens.length === 0) return void s.io.stdout.write('no bootstrap tokens\n');
  const now = Date.now();
  const rows = tokens.map((t) => {
    const left = Date.parse(t.expires) - now;
    const used = t.user !== '' ? '-' : `${t.used}/${t.maxUses === 0 ? 'any' : t.maxUses}`;
    return [t.id, t.role, t.user === '' ? '-' : t.user, used, left > 0 ? `in ${humanAge(left)}` : `${humanAge(-left)} ago`, tokenState(t, now), t.description];
  });
  const t = new Table(['ID', 'ROLE', 'USER', 'USED', 'EXPIRES', 'STATE', 'DESCRIPTION'].map((h) => ({ header: h, value: () => '' })), 0);
  s.io.stdout.write(t.render(rows, true));
}

async function remove(s: Session, ids: readonly string[]): Promise<void> {
  const client = s.client();
  for (const id of ids) {
    // A whole token given by mistake: only its ID is used, and never printed back whole.
    const only = id.split('.')[0] ?? id;
    await client.cluster.deleteToken(only);
    s.io.stdout.write(`token ${only} deleted\n`);
  }
}

interface InitFlags {
  dir: string;
  node: string;
  address: string[];
  clusterName: string;
  certificateDays: string;
}

async function init(io: Io, flags: InitFlags): Promise<void> {
  const addresses = flags.address.flatMap((a) => a.split(',')).map((a) => a.trim()).filter((a) => a !== '');
  if (addresses.length === 0) throw new UsageError('--address: give the node\'s IP address (repeatable): its certificates name it', 'cluster init');
  const bad = addresses.find((a) => isIP(a) === 0);
  if (bad !== undefined) throw new UsageError(`--address: ${JSON.stringify(bad)} is not an IP address`, 'cluster init');
  const days = Number(flags.certificateDays);
  if (!/^\d+$/.test(flags.certificateDays) || days < 1 || days > 3650) throw new UsageError(`--certificate-days: ${JSON.stringify(flags.certificateDays)} is not a whole number of days from 1 to 3650`, 'cluster init');
  let made;
  try {
    made = await initPkiFolder(flags.dir, { clusterName: flags.clusterName, node: { name: flags.node, ipAddresses: addresses }, validDays: days });
  } catch (err) {
    throw new CliError(`cluster init: ${(err as Error).message}`);
  }
  if (made === undefined) throw new CliError(`${flags.dir} holds a cluster CA already; nothing was written (a second CA would split the cluster: remove the folder first to start over)`);
  io.stdout.write(
    `cluster CA and certificates written to ${flags.dir} (keys mode 0600):\n` +
      `  CA         ${made.caFile}, key ${made.caKeyFile} (keep it on control nodes only)\n` +
      `  tug-control --ca-file ${made.caFile} --cert-file ${made.member.certFile} --key-file ${made.member.keyFile} --ca-key-file ${made.caKeyFile} --encryption-key-file ${made.encryptionKeyFile}\n` +
      `  (every tug-control needs the same --encryption-key-file: copy it to each control node, mode 0600)\n` +
      `  tug-agent   --ca-file ${made.caFile} --cert-file ${made.agent.certFile} --key-file ${made.agent.keyFile}\n` +
      `  tug         --certificate-authority ${made.caFile} --client-certificate ${made.admin.certFile} --client-key ${made.admin.keyFile}\n` +
      `ca-hash: ${caHash(made.caPem)} (other nodes join with a token: tug token create)\n`,
  );
}

/** addTokenCommands adds `tug token` to the program and `init` to `tug cluster`. */
export function addTokenCommands(program: Command, cluster: Command, s: Session): void {
  const token = program
    .command('token')
    .summary('make, list and revoke the tokens nodes join with and people call the API with')
    .description(
      'Join tokens (--role agent or member) let a new node join: with --token and --ca-hash, tug-agent (or tug-control with --join) that has no certificate yet checks the CA, sends a signing request and gets its certificate. ' +
        'API tokens (--role admin or viewer, --user NAME) let tug call the API without a client certificate (tug config set-credentials CONTEXT --certificate-authority CA --token TOKEN, or --token). ' +
        'The cluster keeps only a hash of each token; it expires, a join token may be limited in uses, and any can be revoked. Admins only.',
    )
    .usage('COMMAND');
  token
    .command('create')
    .description('Make a token and print it with the CA hash; its secret is shown this once.')
    .option('--ttl <duration>', 'how long it lasts: 1m to 720h for a join token, to 8760h for an API token', '24h')
    .option('--uses <n>', 'how many joins it allows; 0 for any number until it expires (join tokens)', '0')
    .option('--role <role>', "agent (joins a node's agent), member (joins a control member, which also gets the CA key), admin or viewer (calls the API)", 'agent')
    .option('--user <name>', 'who an admin or viewer token authenticates as')
    .option('--description <text>', 'what it is for, shown by list')
    .action(async (flags: CreateFlags, cmd: Command) => create(s.use(cmd), flags));
  token
    .command('list')
    .description('List the tokens (IDs, never secrets): role, user, joins used, expiry, and whether they are still valid. Expired tokens are deleted an hour after they expire.')
    .action(async (_flags: unknown, cmd: Command) => list(s.use(cmd)));
  token
    .command('delete')
    .description('Revoke tokens by ID: no node joins with them, and no call is made with them, any more.')
    .argument('<id...>', 'token IDs (the part before the dot)')
    .action(async (ids: string[], _flags: unknown, cmd: Command) => remove(s.use(cmd), ids));

  cluster
    .command('init')
    .summary('make a new cluster CA and the first node\'s certificates')
    .description(
      "Make a cluster CA (ECDSA P-256, ten years) in --dir and the certificates of the cluster's first node, a control node (tug-control's and tug-agent's, naming its addresses; one year) and of its administrator (tug's). The other nodes join with a token. A folder that holds a CA already is not touched.",
    )
    .requiredOption('--dir <folder>', 'where to write ca.crt, ca.key, control.*, agent.* and admin.*')
    .requiredOption('--node <name>', "the first node's name (its member and Node name)")
    .requiredOption('--address <ip>', "the node's IP address; repeatable", (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--cluster-name <name>', 'named in the CA certificate', 'tugboat')
    .option('--certificate-days <n>', 'how long the certificates last (the CA: ten years); renewed by their owners after two thirds of it', '365')
    .action(async (flags: InitFlags) => init(s.io, flags));
}
