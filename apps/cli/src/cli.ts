// cli.ts: the `tug` command line (commander). `run(argv, io)` runs one command and returns its
// exit code: 0 success, 1 a refused request (the server's message) or unreachable cluster
// (every endpoint and why), 2 a usage error. main.ts wires it to the process.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import {
  KINDS,
  NODE_LEASE_NAMESPACE,
  isSelectorError,
  isUnknownKindError,
  parseFieldSelector,
  parseSelector,
  resolveKind,
  toYaml,
} from '@tugboat/api';
import type { Event, KindInfo, Lease } from '@tugboat/api';
import { TugClient, isAlreadyExists, isConflict, isNotFound, isUnavailable } from '@tugboat/client';
import { loadTls, readCaFile } from '@tugboat/pki';
import { INSECURE_PLAINTEXT } from '@tugboat/proto';
import type { Security } from '@tugboat/proto';
import type { MemberInfo, ObjectLike, ObjectRef } from '@tugboat/client';
import { parseDuration, resolveTarget } from './config.ts';
import type { Target } from './config.ts';
import { addLocalClusterCommands } from './local-commands.ts';
import { addAgentCommands } from './agent-commands.ts';
import { addRolloutCommands } from './rollout-commands.ts';
import { addTopCommands, formatMemory } from './top-commands.ts';
import { addNodeCommands } from './node-commands.ts';
import { addChaosCommands } from './chaos-commands.ts';
import { addConfigCommands } from './config-commands.ts';
import { addTokenCommands } from './token-commands.ts';
import { addHostCommands } from './host-commands.ts';
import { addServiceCommands } from './service-commands.ts';
import { retryOnConflict } from './compare-and-swap.ts';
import { planDelete, waitUntilGone } from './delete-options.ts';
import type { DeleteFlags } from './delete-options.ts';
import { describe, eventsFor } from './describe.ts';
import { eventsAbout, sortEvents } from './events.ts';
import { CliError, ReportedError, UsageError, formatError, isExitCodeError, isReportedError, isUsageError } from './errors.ts';
import { formatProblems, loadObjects, manifestForApply, planApply, readSources, summarizeProblems } from './manifests.ts';
import type { Json } from './manifests.ts';
import { Table, columnsFor, nameOf, renderTable, typeName } from './table.ts';
import type { Obj } from './table.ts';
import type { Io, Session } from './session.ts';

/** VERSION is tug's version (from its package.json). */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const DEFAULT_NAMESPACE = 'default';
const DEFAULT_TIMEOUT = '15s';
/** APPLY_ATTEMPTS: how many times apply reads and writes an object that others keep changing. */
const APPLY_ATTEMPTS = 5;

interface GlobalOptions {
  endpoints?: string;
  context?: string;
  config?: string;
  certificateAuthority?: string;
  clientCertificate?: string;
  clientKey?: string;
  token?: string;
  namespace?: string;
  output?: string;
  requestTimeout?: string;
}

/** RunSession is the Session of one run, and what cli.ts's own commands use besides. */
class RunSession implements Session {
  readonly io: Io;
  private globals: GlobalOptions = {};
  private target: Target | undefined;
  private clientValue: TugClient | undefined;
  private securityValue: Security | undefined;

  constructor(io: Io) {
    this.io = io;
  }

  use(cmd: Command): this {
    this.globals = cmd.optsWithGlobals<GlobalOptions>();
    return this;
  }

  out(s: string): void {
    this.io.stdout.write(s);
  }

  err(s: string): void {
    this.io.stderr.write(s.endsWith('\n') ? s : `${s}\n`);
  }

  private resolved(): Target {
    this.target ??= resolveTarget({
      endpoints: this.globals.endpoints,
      context: this.globals.context,
      config: this.globals.config,
      tls: {
        'certificate-authority': this.globals.certificateAuthority,
        'client-certificate': this.globals.clientCertificate,
        'client-key': this.globals.clientKey,
        token: this.globals.token,
      },
      env: this.io.env,
      homedir: this.io.homedir,
    });
    return this.target;
  }

  namespace(): { namespace: string; explicit: boolean } {
    const flag = this.globals.namespace;
    if (flag !== undefined) {
      if (flag === '') throw new UsageError('-n: give a namespace name');
      return { namespace: flag, explicit: true };
    }
    const ctx = this.resolved().namespace;
    return { namespace: ctx === '' ? DEFAULT_NAMESPACE : ctx, explicit: false };
  }

  output(allowed: readonly string[], command: string): string | undefined {
    const o = this.globals.output;
    if (o === undefined) return undefined;
    if (!allowed.includes(o)) {
      throw new UsageError(
        allowed.length === 0
          ? `-o: ${command} takes no output format`
          : `-o: unknown output format ${JSON.stringify(o)} for ${command}; use one of: ${allowed.join(', ')}`,
        command,
      );
    }
    return o;
  }

  client(): TugClient {
    if (this.clientValue === undefined) {
      const timeout = parseDuration(this.globals.requestTimeout ?? DEFAULT_TIMEOUT, '--request-timeout');
      this.clientValue = new TugClient({ endpoints: this.resolved().endpoints, security: this.security(), retryBudgetMs: timeout ?? 24 * 3_600_000 });
    }
    return this.clientValue;
  }

  /** plaintext: the target has no credentials (false when the target cannot be resolved). */
  plaintext(): boolean {
    try {
      const t = this.resolved();
      return t.tls === undefined && t.bearer === undefined;
    } catch {
      return false;
    }
  }

  /** security is how to dial the cluster: the target's certificates, or its CA and API token
   *  (a CliError names a bad file). */
  security(): Security {
    if (this.securityValue !== undefined) return this.securityValue;
    const { tls, bearer, source } = this.resolved();
    try {
      if (tls !== undefined) this.securityValue = { tls: loadTls(tls) };
      else if (bearer !== undefined) this.securityValue = { bearer: { ca: readCaFile(bearer.caFile), token: bearer.token } };
      else this.securityValue = INSECURE_PLAINTEXT;
    } catch (err) {
      throw new CliError(`${source}: ${(err as Error).message}`);
    }
    return this.securityValue;
  }

  close(): void {
    this.clientValue?.close();
  }
}

/** kindOf resolves a kind as users type it; unknown kinds are usage errors listing the known ones. */
function kindOf(text: string, command: string): KindInfo {
  try {
    return resolveKind(text);
  } catch (err) {
    if (isUnknownKindError(err)) throw new UsageError(err.message, command);
    throw err;
  }
}

/** splitKindName reads "pod/web" as kind and name; "pods" as a kind alone. */
function splitKindName(arg: string, names: readonly string[], command: string): { info: KindInfo; names: string[] } {
  const slash = arg.indexOf('/');
  if (slash < 0) return { info: kindOf(arg, command), names: [...names] };
  const name = arg.slice(slash + 1);
  if (name === '') throw new UsageError(`${JSON.stringify(arg)}: give a name after the "/"`, command);
  return { info: kindOf(arg.slice(0, slash), command), names: [name, ...names] };
}

function checkSelectors(labels: string | undefined, fields: string | undefined, command: string): void {
  try {
    if (labels !== undefined) parseSelector(labels);
    if (fields !== undefined) parseFieldSelector(fields);
  } catch (err) {
    if (isSelectorError(err)) throw new UsageError(err.message, command);
    throw err;
  }
}

function refOf(info: KindInfo, namespace: string, name: string): ObjectRef {
  return info.namespaced ? { kind: info.kind, namespace, name } : { kind: info.kind, name };
}

function listObject(items: readonly unknown[]): Json {
  return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items };
}

function printObjects(s: RunSession, objs: readonly Obj[], output: string, single: boolean): void {
  if (output === 'name') {
    for (const o of objs) s.out(`${nameOf(o)}\n`);
  } else if (output === 'json') {
    s.out(`${JSON.stringify(single ? objs[0] : listObject(objs), null, 2)}\n`);
  } else if (output === 'yaml') {
    s.out(toYaml(single ? objs[0] : listObject(objs)));
  }
}

function kindsHelp(): string {
  const rows = KINDS.map((k) => [k.kind, [k.plural, ...k.shortNames].join(', '), k.namespaced ? 'namespaced' : 'cluster']);
  const w0 = Math.max(...rows.map((r) => r[0]!.length));
  const w1 = Math.max(...rows.map((r) => r[1]!.length));
  return rows.map((r) => `  ${r[0]!.padEnd(w0)}   ${r[1]!.padEnd(w1)}   ${r[2]}`).join('\n');
}

// ---------------------------------------------------------------------------------------------
// get

interface GetOptions {
  allNamespaces?: boolean;
  selector?: string;
  fieldSelector?: string;
  watch?: boolean;
  for?: string;
}

/** Selection is one kind a `get` shows, with the names asked for (none: every object). */
interface Selection {
  readonly info: KindInfo;
  readonly names: string[];
}

/**
 * selectionsOf reads the arguments of `get`, one Selection per kind in the order given:
 * "pods" and "pods a b" (one kind); "pod/a" and "pod/a b" (the bare names are of the first
 * argument's kind); "svc/web ep/web" (KIND/NAME each); "svc,ep" and "svc,ep web" (several
 * kinds, each NAME looked up in every one). Other mixes are usage errors saying what to write.
 */
function selectionsOf(kindArg: string, nameArgs: readonly string[], command: string): Selection[] {
  const slashed = nameArgs.find((n) => n.includes('/'));
  if (kindArg.includes(',')) {
    if (kindArg.includes('/')) {
      throw new UsageError(`${JSON.stringify(kindArg)}: several kinds take no /NAME; give the kinds, then the names (tug ${command} svc,ep web), or KIND/NAME for each object (tug ${command} svc/web ep/web)`, command);
    }
    if (slashed !== undefined) {
      throw new UsageError(`${JSON.stringify(slashed)}: after several kinds, give plain NAMEs (tug ${command} svc,ep web)`, command);
    }
    const parts = kindArg.split(',');
    if (parts.some((p) => p.trim() === '')) throw new UsageError(`${JSON.stringify(kindArg)}: an empty kind between the commas`, command);
    const selections: Selection[] = [];
    for (const part of parts) {
      const info = kindOf(part.trim(), command);
      if (!selections.some((sel) => sel.info.kind === info.kind)) selections.push({ info, names: [...nameArgs] });
    }
    return selections;
  }
  if (!kindArg.includes('/')) {
    if (slashed !== undefined) {
      throw new UsageError(`${JSON.stringify(slashed)}: after a KIND, give plain NAMEs; or give KIND/NAME for each object (tug ${command} svc/web ep/web)`, command);
    }
    return [splitKindName(kindArg, nameArgs, command)];
  }
  const first = splitKindName(kindArg, [], command);
  const selections: Selection[] = [first];
  for (const arg of nameArgs) {
    const one = arg.includes('/') ? splitKindName(arg, [], command) : { info: first.info, names: [arg] };
    const same = selections.find((sel) => sel.info.kind === one.info.kind);
    if (same === undefined) selections.push(one);
    else same.names.push(...one.names);
  }
  return selections;
}

/**
 * fetchObjects reads the objects of one kind a get or describe asks for: every one the
 * selection picks when no NAME is given, else each NAME, a missing one becoming a line of
 * `missing` (the server's NotFound message) rather than an error.
 */
async function fetchObjects(
  client: TugClient,
  info: KindInfo,
  namespace: string,
  names: readonly string[],
  selection: { labelSelector?: string | undefined; fieldSelector?: string | undefined },
): Promise<{ objs: Obj[]; missing: string[] }> {
  if (names.length === 0) return { objs: (await client.list<Obj & ObjectLike>(info.kind, { namespace, ...selection })).items, missing: [] };
  const objs: Obj[] = [];
  const missing: string[] = [];
  for (const name of names) {
    try {
      objs.push(await client.get<Obj & ObjectLike>(refOf(info, namespace, name)));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      missing.push(formatError(err));
    }
  }
  return { objs, missing };
}

/** nodeLeases reads the node Leases, by Node name; undefined when they cannot be read (then no
 *  heartbeat age is judged). */
async function nodeLeases(client: TugClient): Promise<Map<string, Lease> | undefined> {
  try {
    const { items } = await client.leases.list({ namespace: NODE_LEASE_NAMESPACE });
    return new Map(items.map((l) => [l.metadata.name ?? '', l]));
  } catch {
    return undefined;
  }
}

async function getCommand(s: RunSession, kindArg: string, nameArgs: string[], opts: GetOptions): Promise<void> {
  const selections = selectionsOf(kindArg, nameArgs, 'get');
  const several = selections.length > 1;
  const output = s.output(['wide', 'yaml', 'json', 'name'], 'get');
  const ns = s.namespace();
  const all = opts.allNamespaces === true;
  const named = selections.some((sel) => sel.names.length > 0);
  if (all && ns.explicit) throw new UsageError('-n and -A cannot be used together', 'get');
  if (named && (opts.selector !== undefined || opts.fieldSelector !== undefined)) {
    throw new UsageError('give NAMEs or a selector (-l, --field-selector), not both', 'get');
  }
  if (named && all) throw new UsageError('-A lists every namespace: give no NAME with it', 'get');
  checkSelectors(opts.selector, opts.fieldSelector, 'get');
  if (opts.for !== undefined && (several || selections[0]!.info.kind !== 'Event')) {
    throw new UsageError('--for picks events: use it with "tug get events"', 'get');
  }
  const about = opts.for === undefined ? () => true : eventsAbout(opts.for, 'get');
  // Events come oldest first by when they were last seen; every other kind by name.
  const arrangeFor = (info: KindInfo) =>
    info.kind === 'Event' ? (objs: readonly Obj[]) => sortEvents(objs).filter(about) : (objs: readonly Obj[]) => [...objs];
  const namespaceFor = (info: KindInfo) => (info.namespaced && !all ? ns.namespace : '');
  const client = s.client();

  if (opts.watch === true) {
    if (several) throw new UsageError('-w follows one kind: give a single KIND', 'get');
    const { info, names } = selections[0]!;
    if (names.length > 1) throw new UsageError('-w follows one NAME or a selection, not several NAMEs', 'get');
    await watchCommand(s, info, {
      namespace: namespaceFor(info),
      labelSelector: opts.selector,
      fieldSelector: names.length === 1 ? `metadata.name=${names[0]}` : opts.fieldSelector,
      output,
      withNamespace: info.namespaced && all,
      arrange: arrangeFor(info),
    });
    return;
  }

  const found: { info: KindInfo; objs: Obj[] }[] = [];
  const missing: string[] = [];
  for (const { info, names } of selections) {
    const namespace = namespaceFor(info);
    const got = await fetchObjects(client, info, namespace, names, { labelSelector: opts.selector, fieldSelector: opts.fieldSelector });
    missing.push(...got.missing);
    found.push({ info, objs: arrangeFor(info)(got.objs) });
  }
  const objs = found.flatMap((f) => f.objs);
  const failed = missing.length > 0;
  if (output === undefined || output === 'wide') {
    if (objs.length === 0) {
      const inNamespace = !all && selections.some((sel) => sel.info.namespaced);
      if (!failed) s.err(inNamespace ? `No resources found in ${ns.namespace} namespace.` : 'No resources found.');
    } else {
      // A Node's heartbeat is its Lease's renewal as much as its status's.
      const leases = found.some((f) => f.info.kind === 'Node' && f.objs.length > 0) ? await nodeLeases(client) : undefined;
      // One table per kind, a blank line between them; NAME says the kind when there are several.
      const tables = found
        .filter((f) => f.objs.length > 0)
        .map((f) =>
          renderTable(f.info.kind, f.objs, { wide: output === 'wide', withNamespace: f.info.namespaced && all, withKind: several, now: s.io.now(), nodeLeases: leases }),
        );
      s.out(tables.join('\n'));
    }
  } else if (objs.length > 0 || !named) {
    printObjects(s, objs, output, !several && selections[0]!.names.length === 1);
  }
  for (const m of missing) s.err(m);
  if (failed) throw new ReportedError('some objects were not found');
}

async function watchCommand(
  s: RunSession,
  info: KindInfo,
  w: {
    namespace: string;
    labelSelector: string | undefined;
    fieldSelector: string | undefined;
    output: string | undefined;
    withNamespace: boolean;
    /** arrange orders (and may filter) each batch of objects before it is printed. */
    arrange: (objs: readonly Obj[]) => Obj[];
  },
): Promise<void> {
  const table = new Table(columnsFor(info.kind, { wide: w.output === 'wide', withNamespace: w.withNamespace }), s.io.now());
  let header = true;
  const print = (batch: readonly Obj[]) => {
    const objs = w.arrange(batch);
    if (objs.length === 0) return;
    if (w.output === undefined || w.output === 'wide') {
      s.out(
        table.render(
          objs.map((o) => table.cells(o, s.io.now())),
          header,
        ),
      );
      header = false;
    } else if (w.output === 'yaml') {
      for (const o of objs) s.out(`${toYaml(o)}---\n`);
    } else if (w.output === 'json') {
      for (const o of objs) s.out(`${JSON.stringify(o, null, 2)}\n`);
    } else {
      printObjects(s, objs, 'name', false);
    }
  };
  // List first, so that a cluster that cannot be reached at all fails the command; once the
  // rows are out, the watch rides out outages (saying so on stderr) until Ctrl-C.
  const selection = { namespace: w.namespace, labelSelector: w.labelSelector, fieldSelector: w.fieldSelector };
  const first = await s.client().list<Obj & ObjectLike>(info.kind, { ...selection, signal: s.io.signal });
  print(first.items);
  const events = s.client().watch<Obj & ObjectLike>(info.kind, {
    ...selection,
    fromRevision: first.revision,
    signal: s.io.signal,
    onRetry: (err) => s.err(`tug: watch interrupted (${formatError(err).replace(/^error: /, '').split('\n')[0]}); resuming`),
  });
  for await (const ev of events) {
    if (ev.type === 'RESYNC') print(ev.items);
    else if (ev.type !== 'BOOKMARK') print([ev.object]);
  }
}

// ---------------------------------------------------------------------------------------------
// describe

async function describeCommand(s: RunSession, kindArg: string, nameArgs: string[], opts: { selector?: string }): Promise<void> {
  const { info, names } = splitKindName(kindArg, nameArgs, 'describe');
  s.output([], 'describe');
  checkSelectors(opts.selector, undefined, 'describe');
  if (names.length > 0 && opts.selector !== undefined) throw new UsageError('give NAMEs or -l, not both', 'describe');
  const namespace = info.namespaced ? s.namespace().namespace : '';
  const client = s.client();
  const { objs, missing } = await fetchObjects(client, info, namespace, names, { labelSelector: opts.selector });
  const failed = missing.length > 0;
  if (names.length === 0 && objs.length === 0) s.err(info.namespaced ? `No resources found in ${namespace} namespace.` : 'No resources found.');
  for (const m of missing) s.err(m);
  let events: Event[] | undefined;
  if (info.kind !== 'Event' && objs.length > 0) {
    events = await client.events
      .list({ namespace: info.namespaced ? namespace : '' })
      .then((l) => l.items)
      .catch(() => undefined);
  }
  const texts: string[] = [];
  for (const obj of objs) {
    let related: Obj[] | undefined;
    let lease: Lease | undefined;
    if (info.kind === 'Service') {
      related = await client
        .get<Obj & ObjectLike>({ kind: 'Endpoints', namespace, name: obj.metadata.name ?? '' })
        .then((e) => [e])
        .catch(() => []);
    } else if (info.kind === 'Node') {
      related = await client
        .list<Obj & ObjectLike>('Pod', { fieldSelector: `spec.nodeName=${obj.metadata.name ?? ''}` })
        .then((l) => l.items)
        .catch(() => []);
      lease = await client.leases.get(NODE_LEASE_NAMESPACE, obj.metadata.name ?? '').catch(() => undefined);
    }
    texts.push(describe(obj, { events: events === undefined ? undefined : eventsFor(events, obj), related, lease }, s.io.now()));
  }
  s.out(texts.join('\n\n'));
  if (failed) throw new ReportedError('some objects were not found');
}

// ---------------------------------------------------------------------------------------------
// apply and delete

/**
 * applyOne creates obj, or updates the live object to it (a three-way merge, manifests.ts). A
 * write that lost a race (the object changed since it was read, or was created meanwhile) is
 * planned again from what is live then.
 */
async function applyOne(client: TugClient, obj: Json): Promise<'created' | 'configured' | 'unchanged'> {
  const meta = obj['metadata'] as Json;
  const ref: ObjectRef = { kind: String(obj['kind']), namespace: String(meta['namespace'] ?? ''), name: String(meta['name']) };
  const lostRace = (err: unknown) => isConflict(err) || isAlreadyExists(err);
  return retryOnConflict(
    APPLY_ATTEMPTS,
    async () => {
      let live: Json | undefined;
      try {
        live = (await client.get<ObjectLike>(ref)) as unknown as Json;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      if (live === undefined) {
        await client.create(manifestForApply(obj) as unknown as ObjectLike);
        return 'created';
      }
      const plan = planApply(live, obj);
      if (plan === undefined) return 'unchanged';
      await client.update(plan as unknown as ObjectLike);
      return 'configured';
    },
    lostRace,
  );
}

/**
 * writeManifests reads the manifests of -f, checks every object (nothing is written if any is
 * invalid), then writes each with `write`, printing NAME and what it answered; the objects that
 * fail are reported and make the command fail. `verb` names the command in messages.
 */
async function writeManifests(
  s: RunSession,
  opts: { filename: string[] },
  verb: { name: 'apply' | 'replace'; done: string; doing: string },
  write: (client: TugClient, obj: Json) => Promise<string>,
): Promise<void> {
  const output = s.output(['name'], verb.name);
  const ns = s.namespace();
  const sources = await readSources(opts.filename, s.io.readStdin);
  const { objects, problems } = loadObjects(sources, ns.namespace, ns.explicit);
  if (problems.length > 0) {
    s.err(formatProblems(problems));
    s.err(`error: nothing was ${verb.done}: ${summarizeProblems(problems)}`);
    throw new ReportedError('invalid manifests');
  }
  if (objects.length === 0) throw new CliError(`no objects found in ${opts.filename.join(', ')}`);
  const client = s.client();
  let failed = 0;
  for (const o of objects) {
    const name = nameOf(o.object as unknown as Obj);
    try {
      const what = await write(client, o.object);
      s.out(output === 'name' ? `${name}\n` : `${name} ${what}\n`);
    } catch (err) {
      failed++;
      s.err(`${formatError(err)} (${verb.doing} ${name} from ${o.source})`);
    }
  }
  if (failed > 0) throw new ReportedError(`${failed} objects failed`);
}

function applyCommand(s: RunSession, opts: { filename: string[] }): Promise<void> {
  return writeManifests(s, opts, { name: 'apply', done: 'applied', doing: 'applying' }, applyOne);
}

/** replaceCommand writes each object as it is in the manifest (a whole update, compare-and-swap
 *  when it carries a resourceVersion), even when nothing differs: the server then re-seals a
 *  Secret with its current encryption key, which `apply` (it skips unchanged objects) would not. */
function replaceCommand(s: RunSession, opts: { filename: string[] }): Promise<void> {
  return writeManifests(s, opts, { name: 'replace', done: 'replaced', doing: 'replacing' }, async (client, obj) => {
    await client.update(obj as unknown as ObjectLike);
    return 'replaced';
  });
}

async function deleteCommand(
  s: RunSession,
  kindArg: string | undefined,
  nameArgs: string[],
  opts: { filename?: string[]; ignoreNotFound?: boolean } & DeleteFlags,
): Promise<void> {
  const output = s.output(['name'], 'delete');
  const plan = planDelete(opts);
  const ns = s.namespace();
  const targets: { ref: ObjectRef; label: string }[] = [];
  if (opts.filename !== undefined) {
    if (kindArg !== undefined) throw new UsageError('give KIND NAME or -f FILE, not both', 'delete');
    const sources = await readSources(opts.filename, s.io.readStdin);
    const { objects, problems } = loadObjects(sources, ns.namespace, ns.explicit, { validate: false });
    if (problems.length > 0) {
      s.err(formatProblems(problems));
      s.err(`error: nothing was deleted: ${summarizeProblems(problems)}`);
      throw new ReportedError('invalid manifests');
    }
    for (const o of objects) {
      const meta = o.object['metadata'] as Json;
      const info = kindOf(String(o.object['kind']), 'delete');
      targets.push({ ref: refOf(info, String(meta['namespace'] ?? ''), String(meta['name'])), label: typeName(info.kind) });
    }
  } else {
    if (kindArg === undefined) throw new UsageError('give KIND and NAME, or -f FILE', 'delete');
    const { info, names } = splitKindName(kindArg, nameArgs, 'delete');
    if (names.length === 0) throw new UsageError(`give the NAME of the ${info.kind} to delete`, 'delete');
    for (const n of names) targets.push({ ref: refOf(info, ns.namespace, n), label: typeName(info.kind) });
  }
  const client = s.client();
  if (plan.warning !== undefined) s.err(plan.warning);
  let failed = false;
  const deleted: { ref: ObjectRef; label: string; uid: string | undefined }[] = [];
  for (const t of targets) {
    try {
      const o = await client.delete(t.ref, plan.options);
      s.out(output === 'name' ? `${t.label}/${t.ref.name}\n` : `${t.label} "${t.ref.name}" deleted\n`);
      deleted.push({ ...t, uid: o?.metadata.uid });
    } catch (err) {
      if (isNotFound(err) && opts.ignoreNotFound === true) continue;
      if (!isNotFound(err)) throw err;
      failed = true;
      s.err(formatError(err));
    }
  }
  if (plan.wait !== undefined) {
    const deadline = plan.wait.timeoutMs === undefined ? undefined : Date.now() + plan.wait.timeoutMs;
    for (const d of deleted) {
      const left = deadline === undefined ? undefined : Math.max(0, deadline - Date.now());
      await waitUntilGone(client, d.ref, d.uid, d.label, left, s.io.signal);
    }
  }
  if (failed) throw new ReportedError('some objects were not found');
}

// ---------------------------------------------------------------------------------------------
// cluster

function membersTable(members: readonly MemberInfo[], wide: boolean): string {
  const withError = members.some((m) => m.error !== '');
  const header = ['NAME', 'ADDRESS', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'REACHABLE'];
  if (wide) header.push('PEER-ADDRESS', 'LEADER', 'RSS', 'HEAP');
  if (withError) header.push('ERROR');
  const rows = members.map((m) => {
    const r = [m.name, m.apiAddress || '<none>', m.role || 'unknown', String(m.term), String(m.commit), String(m.applied), m.reachable ? 'yes' : 'no'];
    if (wide) {
      const memory = (bytes: number): string => (m.reachable ? formatMemory(bytes) : '<unknown>');
      r.push(m.peerAddress || '<none>', m.leader || '<none>', memory(m.rssBytes), memory(m.heapUsedBytes));
    }
    if (withError) r.push(m.error);
    return r;
  });
  const t = new Table(
    header.map((h) => ({ header: h, value: () => '' })),
    0,
  );
  return t.render(rows, true);
}

async function clusterStatus(s: RunSession): Promise<void> {
  const output = s.output(['wide', 'json', 'yaml'], 'cluster status');
  const st = await s.client().cluster.status();
  const doc = { clusterId: st.clusterId, endpoint: st.endpoint, members: st.members };
  if (output === 'json') s.out(`${JSON.stringify(doc, null, 2)}\n`);
  else if (output === 'yaml') s.out(toYaml(doc));
  else s.out(membersTable(st.members, output === 'wide'));
}

function checkAddress(flag: string, v: string): void {
  if (!/^[^\s/:]+:\d{1,5}$/.test(v)) throw new UsageError(`${flag}: ${JSON.stringify(v)} is not HOST:PORT`, 'cluster member add');
}

// ---------------------------------------------------------------------------------------------
// program

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** buildProgram makes the commander program; actions run against session s. */
function buildProgram(s: RunSession): Command {
  const program = new Command('tug');
  program
    .description('tug: the command line of a tugboat cluster. Reads and writes objects, and shows and changes the control plane.')
    .usage('[options] COMMAND')
    .version(VERSION, '--version', 'print the version of tug')
    .option('--endpoints <list>', 'API endpoints, comma-separated HOST:PORT (default: $TUG_ENDPOINTS, the config context, 127.0.0.1:7400)')
    .option('--context <name>', 'use this context of the config file')
    .option('--config <path>', 'config file (default: $TUG_CONFIG, else ~/.tug/config)')
    .option('--certificate-authority <file>', "the cluster CA's certificate (default: the context's)")
    .option('--client-certificate <file>', "this client's certificate, signed by the cluster CA (default: the context's)")
    .option('--client-key <file>', "this client's key (default: the context's)")
    .option('--token <id.secret>', "an API token (tug token create --role admin|viewer) to call with instead of a certificate, with --certificate-authority (default: the context's)")
    .option('-n, --namespace <namespace>', 'namespace (default: the context\'s, else "default")')
    .option('-o, --output <format>', 'output format: wide, yaml, json or name (get); wide, json or yaml (cluster status, cluster member); json or yaml (version); name, yaml or json (expose); name (apply, replace, delete)')
    .option('--request-timeout <duration>', 'give up on a request after this long, retries included: 500ms, 10s, 2m; 0 for no limit', DEFAULT_TIMEOUT)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showSuggestionAfterError(true)
    .showHelpAfterError("(run 'tug --help' or 'tug COMMAND --help' for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (t) => s.io.stdout.write(t),
      writeErr: (t) => s.io.stderr.write(t),
    })
    .addHelpText(
      'after',
      `
Endpoints, first found wins: --endpoints; the context named by --context; $TUG_ENDPOINTS;
the config file's current-context; 127.0.0.1:7400. The config file is YAML:
  current-context: lab
  contexts:
    - name: lab
      endpoints: [10.0.0.11:7400, 10.0.0.12:7400]
      namespace: default
      certificate-authority: /etc/tugboat/pki/ca.crt
      client-certificate: /etc/tugboat/pki/admin.crt
      client-key: /etc/tugboat/pki/admin.key
Certificates: the three flags above, else those of the context the endpoints came from; or
an API token (--token, or a context's token: field) with --certificate-authority; without
any, tug dials in plain text, which a cluster refuses unless it runs insecure.

Exit codes: 0 success; 1 the request was refused (the server's message is printed) or no
endpoint could be reached (each is named with the reason); 2 a usage error.`,
    );

  program
    .command('get')
    .summary('show objects as a table, YAML, JSON or names')
    .description(
      'Show objects of a kind: all of them (in the namespace, or every namespace with -A), those a selector picks, or the NAMEs given. ' +
        'Several kinds, comma-separated (svc,ep), print one table per kind with NAME as KIND/NAME, and one List with -o yaml or json. -w keeps printing rows as objects change (one kind only).',
    )
    .argument('<kind>', 'kind, plural or short name (pods, po, deploy, svc, ...); several comma-separated (svc,ep); or KIND/NAME')
    .argument('[names...]', 'names of the objects to show (default: all); after KIND/NAME, more KIND/NAMEs')
    .option('-A, --all-namespaces', 'list objects of every namespace (adds a NAMESPACE column)')
    .option('-l, --selector <selector>', 'label selector: app=web,tier!=db,env in (a,b),!legacy')
    .option('--field-selector <selector>', 'field selector: metadata.name=x,spec.nodeName=n1,status.phase!=Running')
    .option('-w, --watch', 'after the current objects, print each change as it happens (Ctrl-C stops)')
    .option('--for <kind/name>', 'events only: those about this object (deploy/web, pod/web-1); events are listed oldest first')
    .addHelpText(
      'after',
      `
Examples:
  tug get pods -o wide
  tug get svc,ep -n shop          # a table of services, then one of endpoints
  tug get svc,ep web -o yaml      # service/web and endpoints/web as a List
  tug get deploy/web svc/web
  tug get events --for deploy/web

Kinds (names accepted: kind, plural, short names):
${kindsHelp()}`,
    )
    .action(async (kind: string, names: string[], opts: GetOptions, cmd: Command) => getCommand(s.use(cmd), kind, names, opts));

  program
    .command('describe')
    .summary('show one object in detail, with its events')
    .description('Show objects in detail: metadata, spec and status in readable sections, then the Events about each. Without NAME, every object of the kind in the namespace (or those -l picks).')
    .argument('<kind>', 'kind, plural or short name, or KIND/NAME')
    .argument('[names...]', 'names of the objects (default: all)')
    .option('-l, --selector <selector>', 'label selector, when no NAME is given')
    .action(async (kind: string, names: string[], opts: { selector?: string }, cmd: Command) => describeCommand(s.use(cmd), kind, names, opts));

  program
    .command('apply')
    .summary('create or update objects from manifests')
    .description(
      'Create or update the objects of YAML or JSON manifests, printing "created", "configured" or "unchanged" for each. Every object is validated first; if any is invalid, each problem is listed with its field path and nothing is written.',
    )
    .requiredOption('-f, --filename <path>', 'a manifest file, a directory (its .yaml, .yml and .json files, in name order) or - for standard input; repeatable', collect)
    .action(async (opts: { filename: string[] }, cmd: Command) => applyCommand(s.use(cmd), opts));

  program
    .command('replace')
    .summary('replace objects with the manifests, as written')
    .description(
      'Replace each object of YAML or JSON manifests with the manifest as written, printing "replaced" for each: the object must exist, and one whose manifest carries metadata.resourceVersion is replaced only if it is still at that version. ' +
        'Unlike apply, it writes even when nothing differs: `tug get secrets -A -o yaml | tug replace -f -` re-seals every Secret with the encryption key the control plane seals with now (docs/security.md). Every object is validated first; if any is invalid, nothing is written.',
    )
    .requiredOption('-f, --filename <path>', 'a manifest file, a directory (its .yaml, .yml and .json files, in name order) or - for standard input; repeatable', collect)
    .action(async (opts: { filename: string[] }, cmd: Command) => replaceCommand(s.use(cmd), opts));

  program
    .command('delete')
    .summary('delete objects by kind and name, or those of manifests')
    .description(
      'Delete the named objects of a kind, or the objects of manifests (-f). Deleting a namespace deletes everything in it. ' +
        'A pod running on a node is terminated gracefully: it is marked (STATUS Terminating) and its node stops its containers within the grace period, then removes it; --wait waits for that.',
    )
    .argument('[kind]', 'kind, plural or short name, or KIND/NAME')
    .argument('[names...]', 'names of the objects to delete')
    .option('-f, --filename <path>', 'delete the objects of this manifest file, directory or - (stdin); repeatable', collect)
    .option('--ignore-not-found', 'do not fail for objects that do not exist')
    .option('--grace-period <seconds>', "seconds a pod gets to stop; -1 for the pod's own terminationGracePeriodSeconds, 0 at once", '-1')
    .option('--force', 'delete pods at once (--grace-period 0), without waiting for their node to stop them')
    .option('--cascade <policy>', 'background: the garbage collector deletes what the objects own; orphan: it lives on, without them as owners', 'background')
    .option('--wait', 'wait until each object is gone (a terminating pod: until its node removed it)')
    .option('--timeout <duration>', 'give up --wait after this long: 30s, 2m; 0 for no limit')
    .action(async (kind: string | undefined, names: string[], opts: { filename?: string[]; ignoreNotFound?: boolean } & DeleteFlags, cmd: Command) =>
      deleteCommand(s.use(cmd), kind, names, opts),
    );

  addServiceCommands(program, s);
  addAgentCommands(program, s);
  addRolloutCommands(program, s);
  addTopCommands(program, s);
  addNodeCommands(program, s);

  const cluster = program
    .command('cluster')
    .summary('show and change the control plane; run a local cluster')
    .description('Show the control-plane members and change the membership; start and stop a local multi-node cluster on this machine.')
    .usage('COMMAND');
  cluster
    .command('status')
    .description(
      'Show every control member: name, API address, role, term, commit and applied index, and whether it is reachable; -o wide adds its peer address, the leader it knows, its resident memory (RSS) and what its JavaScript heap holds.',
    )
    .action(async (_opts: unknown, cmd: Command) => clusterStatus(s.use(cmd)));
  const member = cluster.command('member').description('Add or remove a control member.').usage('COMMAND');
  member
    .command('add')
    .description('Add a voting control member and wait until the change is applied. Start its tug-control (joining) as well.')
    .argument('<name>', 'the new member\'s name')
    .requiredOption('--peer-address <host:port>', 'address the members reach it at for Raft')
    .requiredOption('--api-address <host:port>', 'address clients reach its API at')
    .action(async (name: string, opts: { peerAddress: string; apiAddress: string }, cmd: Command) => {
      s.use(cmd);
      const output = s.output(['wide', 'json', 'yaml'], 'cluster member add');
      checkAddress('--peer-address', opts.peerAddress);
      checkAddress('--api-address', opts.apiAddress);
      const members = await s.client().cluster.addMember({ name, peerAddress: opts.peerAddress, apiAddress: opts.apiAddress });
      if (output === 'json') s.out(`${JSON.stringify({ members }, null, 2)}\n`);
      else if (output === 'yaml') s.out(toYaml({ members }));
      else s.out(`member "${name}" added\n${membersTable(members, output === 'wide')}`);
    });
  member
    .command('remove')
    .description('Remove a voting control member and wait until the change is applied.')
    .argument('<name>', 'the member\'s name')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      s.use(cmd);
      const output = s.output(['wide', 'json', 'yaml'], 'cluster member remove');
      const members = await s.client().cluster.removeMember(name);
      if (output === 'json') s.out(`${JSON.stringify({ members }, null, 2)}\n`);
      else if (output === 'yaml') s.out(toYaml({ members }));
      else s.out(`member "${name}" removed\n${membersTable(members, output === 'wide')}`);
    });
  addLocalClusterCommands(cluster, s.io);
  addTokenCommands(program, cluster, s);
  addChaosCommands(program, s.io);
  addHostCommands(program, s.io);
  addConfigCommands(program, s.io);

  program
    .command('version')
    .summary('print the version of tug')
    .description('Print the version of tug.')
    .action((_opts: unknown, cmd: Command) => {
      s.use(cmd);
      const output = s.output(['json', 'yaml'], 'version');
      const doc = { clientVersion: VERSION };
      if (output === 'json') s.out(`${JSON.stringify(doc, null, 2)}\n`);
      else if (output === 'yaml') s.out(toYaml(doc));
      else s.out(`Client Version: ${VERSION}\n`);
    });

  return program;
}

/** run runs `tug` with argv (without the program name) and returns the exit code. */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  const s = new RunSession(io);
  const program = buildProgram(s);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (isUsageError(err)) {
      s.err(`error: ${err.message}`);
      s.err(`See 'tug ${err.command === '' ? '' : `${err.command} `}--help'.`);
      return 2;
    }
    if (isReportedError(err)) return 1;
    if (isExitCodeError(err)) return err.exitCode;
    if (io.signal?.aborted === true && (err as Error | undefined)?.name === 'AbortError') return 0;
    s.err(formatError(err));
    // A TLS server drops a plain-text connection after accepting it (not ECONNREFUSED).
    if (isUnavailable(err) && s.plaintext() && err.failures.some((f) => !f.message.includes('ECONNREFUSED'))) {
      s.err('(tug dialled in plain text, which a cluster with TLS drops: give --certificate-authority, --client-certificate and --client-key, or use a context that has them)');
    }
    return 1;
  } finally {
    s.close();
  }
}
