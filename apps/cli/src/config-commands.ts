// config-commands.ts: `tug config`: the contexts of the config file (see config.ts): list them,
// choose the current one, show the file, make a context or change its endpoints, and give a
// context the certificates (or the API token) `tug` dials with. Only paths are kept of certificates; a key's contents are never read into
// the file or printed, and a token is shown by its ID only.
import type { Command } from 'commander';
import { TOKEN_FORM, TOKEN_RE, loadTls, readCaFile } from '@tugboat/pki';
import { configForWrite, configPath, loadConfig, redactToken, renderConfig, saveConfig, splitEndpoints, withContext } from './config.ts';
import type { Config, Context, TargetInputs } from './config.ts';
import { CliError, UsageError } from './errors.ts';
import type { Io } from './session.ts';
import { Table } from './table.ts';

interface ConfigGlobals {
  config?: string;
  endpoints?: string;
  namespace?: string;
  certificateAuthority?: string;
  clientCertificate?: string;
  clientKey?: string;
  token?: string;
}

function inputsOf(cmd: Command, io: Io): TargetInputs {
  return { config: cmd.optsWithGlobals<ConfigGlobals>().config, env: io.env, homedir: io.homedir };
}

/** contextOf finds a context by name, or says which there are. */
function contextOf(config: Config, name: string, command: string): Context {
  const ctx = config.contexts.find((c) => c.name === name);
  if (ctx !== undefined) return ctx;
  const known = config.contexts.map((c) => c.name);
  throw new UsageError(`no context ${JSON.stringify(name)} in ${config.path}${known.length > 0 ? `; known contexts: ${known.join(', ')}` : ' (it has no contexts; tug cluster up writes one)'}`, command);
}

function getContexts(io: Io, cmd: Command): void {
  const config = loadConfig(inputsOf(cmd, io));
  if (config.contexts.length === 0) {
    io.stdout.write(`no contexts in ${config.path}\n`);
    return;
  }
  const t = new Table(['CURRENT', 'NAME', 'ENDPOINTS', 'NAMESPACE', 'CERTIFICATE'].map((h) => ({ header: h, value: () => '' })), 0);
  const credential = (c: Context): string => c.tls?.certFile ?? (c.bearer === undefined ? '<none: plain text>' : `token ${redactToken(c.bearer.token)}`);
  const rows = config.contexts.map((c) => [c.name === config.currentContext ? '*' : '', c.name, c.endpoints.join(','), c.namespace ?? '', credential(c)]);
  io.stdout.write(t.render(rows, true));
}

function useContext(io: Io, cmd: Command, name: string): void {
  const config = loadConfig(inputsOf(cmd, io));
  contextOf(config, name, 'config use-context');
  saveConfig({ ...config, currentContext: name });
  io.stdout.write(`switched to context "${name}"\n`);
}

function view(io: Io, cmd: Command): void {
  const inputs = inputsOf(cmd, io);
  const config = loadConfig(inputs);
  io.stdout.write(config.contexts.length === 0 && config.currentContext === '' ? `# ${configPath(inputs).path}: empty\n` : renderConfig(config, { redacted: true }));
}

/** setContext makes a context, or changes an existing one's endpoints or namespace (its
 *  credentials stay; set-credentials gives them). */
function setContext(io: Io, cmd: Command, name: string): void {
  const g = cmd.optsWithGlobals<ConfigGlobals>();
  if (!/^[A-Za-z0-9._-]{1,63}$/.test(name)) throw new UsageError(`context name ${JSON.stringify(name)}: use 1 to 63 letters, digits, '.', '_' or '-'`, 'config set-context');
  const config = configForWrite(inputsOf(cmd, io));
  const existing = config.contexts.find((c) => c.name === name);
  if (g.endpoints === undefined && existing === undefined) throw new UsageError(`--endpoints: context ${JSON.stringify(name)} is new: give its endpoints, HOST:PORT,...`, 'config set-context');
  if (g.endpoints === undefined && g.namespace === undefined) throw new UsageError('give --endpoints or --namespace to change', 'config set-context');
  const endpoints = g.endpoints === undefined ? existing!.endpoints : splitEndpoints(g.endpoints, '--endpoints');
  const namespace = g.namespace ?? existing?.namespace;
  saveConfig(withContext(config, { ...existing, name, endpoints, ...(namespace === undefined ? {} : { namespace }) }, false));
  io.stdout.write(`context "${name}" ${existing === undefined ? 'created' : 'changed'}: endpoints ${endpoints.join(',')}${namespace === undefined ? '' : `, namespace ${namespace}`}\n`);
}

function setCredentials(io: Io, cmd: Command, name: string): void {
  const g = cmd.optsWithGlobals<ConfigGlobals>();
  if (g.token !== undefined) return setToken(io, cmd, name, g);
  const files = { caFile: g.certificateAuthority, certFile: g.clientCertificate, keyFile: g.clientKey };
  if (files.caFile === undefined || files.certFile === undefined || files.keyFile === undefined) {
    throw new UsageError('give --certificate-authority, --client-certificate and --client-key', 'config set-credentials');
  }
  const tls = { caFile: files.caFile, certFile: files.certFile, keyFile: files.keyFile };
  try {
    loadTls(tls);
  } catch (err) {
    throw new CliError(`context ${name}: ${(err as Error).message}`);
  }
  const config = loadConfig(inputsOf(cmd, io));
  const ctx = contextOf(config, name, 'config set-credentials');
  const { bearer: _token, ...rest } = ctx;
  saveConfig(withContext(config, { ...rest, tls }, false));
  io.stdout.write(`context "${name}" now dials with certificate ${tls.certFile}\n`);
}

/** setToken gives a context an API token and the CA to check the cluster against. */
function setToken(io: Io, cmd: Command, name: string, g: ConfigGlobals): void {
  const token = g.token ?? '';
  if (g.clientCertificate !== undefined || g.clientKey !== undefined) throw new UsageError('--token cannot be combined with --client-certificate and --client-key (one credential or the other)', 'config set-credentials');
  if (g.certificateAuthority === undefined) throw new UsageError('--token needs --certificate-authority: the CA the cluster is checked against', 'config set-credentials');
  if (!TOKEN_RE.test(token)) throw new UsageError(`--token: not an API token: ${TOKEN_FORM}`, 'config set-credentials');
  try {
    readCaFile(g.certificateAuthority);
  } catch (err) {
    throw new CliError(`context ${name}: ${(err as Error).message}`);
  }
  const config = loadConfig(inputsOf(cmd, io));
  const ctx = contextOf(config, name, 'config set-credentials');
  const { tls: _certificate, ...rest } = ctx;
  saveConfig(withContext(config, { ...rest, bearer: { caFile: g.certificateAuthority, token } }, false));
  io.stdout.write(`context "${name}" now dials with token ${redactToken(token)}\n`);
}

export function addConfigCommands(program: Command, io: Io): void {
  const config = program
    .command('config')
    .summary('list, choose, show and make the contexts of the config file')
    .description('The contexts of the config file (--config, else $TUG_CONFIG, else ~/.tug/config): where each cluster is, its default namespace, and the certificates or API token tug dials it with (paths only; keys are never printed, tokens only by their ID).')
    .usage('COMMAND');
  config.command('get-contexts').summary('list the contexts; * marks the current one').action((_: unknown, cmd: Command) => getContexts(io, cmd));
  config
    .command('use-context')
    .summary('make a context the current one')
    .argument('<name>', 'the context')
    .action((name: string, _: unknown, cmd: Command) => useContext(io, cmd, name));
  config.command('view').summary('print the config file').action((_: unknown, cmd: Command) => view(io, cmd));
  config
    .command('set-context')
    .summary('make a context with its endpoints (and namespace), or change them; its credentials stay')
    .argument('<name>', 'the context')
    .addHelpText('after', '\nExample:\n  tug config set-context lab --endpoints 192.168.56.11:7400,192.168.56.12:7400\n  tug config set-credentials lab --certificate-authority ca.crt --client-certificate admin.crt --client-key admin.key')
    .action((name: string, _: unknown, cmd: Command) => setContext(io, cmd, name));
  config
    .command('set-credentials')
    .summary('give a context the certificates, or the API token, tug dials it with (checked before they are written)')
    .argument('<name>', 'the context')
    .addHelpText(
      'after',
      '\nExamples:\n  tug config set-credentials lab --certificate-authority ca.crt --client-certificate me.crt --client-key me.key\n  tug config set-credentials lab --certificate-authority ca.crt --token k2x9qa.8c0tj3vw5m1r7ypd',
    )
    .action((name: string, _: unknown, cmd: Command) => setCredentials(io, cmd, name));
}
