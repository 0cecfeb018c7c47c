// config-commands.ts: `tug config`: the contexts of the config file (see config.ts): list them,
// choose the current one, show the file, and give a context the certificates `tug` dials with.
// Only paths are kept in the file; a key's contents are never read into it or printed.
import type { Command } from 'commander';
import { loadTls } from '@tugboat/pki';
import { configPath, loadConfig, renderConfig, saveConfig, withContext } from './config.ts';
import type { Config, Context, TargetInputs } from './config.ts';
import { CliError, UsageError } from './errors.ts';
import type { Io } from './session.ts';
import { Table } from './table.ts';

interface ConfigGlobals {
  config?: string;
  certificateAuthority?: string;
  clientCertificate?: string;
  clientKey?: string;
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
  const rows = config.contexts.map((c) => [c.name === config.currentContext ? '*' : '', c.name, c.endpoints.join(','), c.namespace ?? '', c.tls?.certFile ?? '<none: plain text>']);
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
  io.stdout.write(config.contexts.length === 0 && config.currentContext === '' ? `# ${configPath(inputs).path}: empty\n` : renderConfig(config));
}

function setCredentials(io: Io, cmd: Command, name: string): void {
  const g = cmd.optsWithGlobals<ConfigGlobals>();
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
  saveConfig(withContext(config, { ...ctx, tls }, false));
  io.stdout.write(`context "${name}" now dials with certificate ${tls.certFile}\n`);
}

export function addConfigCommands(program: Command, io: Io): void {
  const config = program
    .command('config')
    .summary('list, choose and show the contexts of the config file')
    .description('The contexts of the config file (--config, else $TUG_CONFIG, else ~/.tug/config): where each cluster is, its default namespace, and the certificates tug dials it with (paths only; keys are never printed).')
    .usage('COMMAND');
  config.command('get-contexts').summary('list the contexts; * marks the current one').action((_: unknown, cmd: Command) => getContexts(io, cmd));
  config
    .command('use-context')
    .summary('make a context the current one')
    .argument('<name>', 'the context')
    .action((name: string, _: unknown, cmd: Command) => useContext(io, cmd, name));
  config.command('view').summary('print the config file').action((_: unknown, cmd: Command) => view(io, cmd));
  config
    .command('set-credentials')
    .summary("give a context the certificates tug dials it with (checked before they are written)")
    .argument('<name>', 'the context')
    .addHelpText('after', '\nExample:\n  tug config set-credentials lab --certificate-authority ca.crt --client-certificate me.crt --client-key me.key')
    .action((name: string, _: unknown, cmd: Command) => setCredentials(io, cmd, name));
}
