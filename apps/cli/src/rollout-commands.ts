// rollout-commands.ts: `tug scale`, `tug set image` and `tug rollout status|history|undo|
// restart|pause|resume`. Every change is a compare-and-swap update of the Deployment (or
// ReplicaSet) as read, started over when someone else wrote it in between; the controllers do
// the rest. What to change and how far a rollout has come is decided in rollout.ts.
import type { Command } from 'commander';
import { isUnknownKindError, resolveKind } from '@tugboat/api';
import type { Deployment, ReplicaSet } from '@tugboat/api';
import type { ObjectLike, ObjectRef, TugClient } from '@tugboat/client';
import { retryOnConflict } from './compare-and-swap.ts';
import { parseDuration } from './config.ts';
import { describeTemplate } from './describe.ts';
import { CliError, UsageError, formatError } from './errors.ts';
import {
  CHANGE_CAUSE_ANNOTATION,
  RESTARTED_AT_ANNOTATION,
  commandLine,
  findRevision,
  parseImageSettings,
  revisionsOf,
  rollbackTarget,
  rolloutState,
  sameTemplate,
  setImages,
  templateOf,
} from './rollout.ts';
import type { Session } from './session.ts';
import { Table, typeName } from './table.ts';

/** CAS_ATTEMPTS: how many times a change is read and written before a conflict is given up on. */
const CAS_ATTEMPTS = 5;

type Workload = Deployment | ReplicaSet;
type WorkloadKind = Workload['kind'];

/** Target is an object a command changes: its kind and name. */
interface Target {
  readonly kind: WorkloadKind;
  readonly name: string;
}

/**
 * targetsOf reads "deploy/web", "deployment web" or "rs/a rs/b" into targets of the kinds a
 * command takes; a usage error for anything else.
 */
function targetsOf(args: readonly string[], kinds: readonly WorkloadKind[], command: string): Target[] {
  const kindOf = (text: string): WorkloadKind => {
    let kind: string;
    try {
      kind = resolveKind(text).kind;
    } catch (err) {
      if (isUnknownKindError(err)) throw new UsageError(err.message, command);
      throw err;
    }
    if (!(kinds as readonly string[]).includes(kind)) {
      throw new UsageError(`${command} works on ${kinds.map((k) => `${k.toLowerCase()}s`).join(' and ')}, not ${kind.toLowerCase()}s`, command);
    }
    return kind as WorkloadKind;
  };
  const [first, ...rest] = args;
  if (first === undefined) throw new UsageError(`give the ${kinds.map((k) => k.toLowerCase()).join(' or ')}: TYPE/NAME or TYPE NAME`, command);
  if (!first.includes('/')) {
    const kind = kindOf(first);
    if (rest.length === 0) throw new UsageError(`give the NAME of the ${kind.toLowerCase()}`, command);
    return rest.map((name) => ({ kind, name }));
  }
  return args.map((a) => {
    const slash = a.indexOf('/');
    if (slash < 0) throw new UsageError(`${JSON.stringify(a)}: give TYPE/NAME like the first argument`, command);
    const name = a.slice(slash + 1);
    if (name === '') throw new UsageError(`${JSON.stringify(a)}: give a name after the "/"`, command);
    return { kind: kindOf(a.slice(0, slash)), name };
  });
}

/** oneTarget is targetsOf for commands that take exactly one object. */
function oneTarget(args: readonly string[], kinds: readonly WorkloadKind[], command: string): Target {
  const targets = targetsOf(args, kinds, command);
  if (targets.length !== 1) throw new UsageError(`give one ${kinds.map((k) => k.toLowerCase()).join(' or ')}, not ${targets.length}`, command);
  return targets[0]!;
}

function refOf(t: Target, namespace: string): ObjectRef {
  return { kind: t.kind, namespace, name: t.name };
}

function label(t: Target): string {
  return `${typeName(t.kind)}/${t.name}`;
}

/**
 * casUpdate reads the object, lets `change` edit it, and writes it back only if it is still
 * the version read; after a conflict it starts over (CAS_ATTEMPTS tries in all).
 * `change` returns false when there is nothing to write. Resolves to whether it wrote.
 */
async function casUpdate<T extends Workload>(client: TugClient, ref: ObjectRef, change: (obj: T) => boolean | Promise<boolean>): Promise<boolean> {
  return retryOnConflict(CAS_ATTEMPTS, async () => {
    const obj = await client.get<T & ObjectLike>(ref);
    if (!(await change(obj))) return false;
    await client.update<T & ObjectLike>(obj);
    return true;
  });
}

/** wholeNumber reads a flag value that must be a whole number of at least `min`. */
function wholeNumber(text: string, flag: string, min: number, command: string): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) < min) {
    throw new UsageError(`${flag}: ${JSON.stringify(text)} is not a whole number of ${min} or more`, command);
  }
  return Number(text);
}

/** booleanFlag reads --watch=true|false (also "-w=false", which reaches it as "=false"). */
function booleanFlag(text: string): boolean {
  const v = text.replace(/^=/, '');
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new UsageError(`--watch: ${JSON.stringify(v)} is not true or false`, 'rollout status');
}

// ---------------------------------------------------------------------------------------------
// scale and set image

async function scaleCommand(s: Session, args: string[], opts: { replicas: string }): Promise<void> {
  s.output([], 'scale');
  const replicas = wholeNumber(opts.replicas, '--replicas', 0, 'scale');
  const targets = targetsOf(args, ['Deployment', 'ReplicaSet'], 'scale');
  const { namespace } = s.namespace();
  for (const t of targets) {
    await casUpdate<Workload>(s.client(), refOf(t, namespace), (obj) => {
      obj.spec.replicas = replicas;
      return true;
    });
    s.io.stdout.write(`${label(t)} scaled\n`);
  }
}

async function setImageCommand(s: Session, args: string[]): Promise<void> {
  s.output([], 'set image');
  const at = args.findIndex((a) => a.includes('='));
  if (at < 0) throw new UsageError('give CONTAINER=IMAGE after the object', 'set image');
  const t = oneTarget(args.slice(0, at), ['Deployment', 'ReplicaSet'], 'set image');
  const settings = parseImageSettings(args.slice(at), 'set image');
  const ns = s.namespace();
  const cause = commandLine(['set', 'image', ...args, ...(ns.explicit ? ['-n', ns.namespace] : [])]);
  const changed = await casUpdate<Workload>(s.client(), refOf(t, ns.namespace), (obj) => {
    if (!setImages(obj.spec.template, settings, `${t.kind.toLowerCase()} ${t.name}`)) return false;
    obj.metadata.annotations = { ...obj.metadata.annotations, [CHANGE_CAUSE_ANNOTATION]: cause };
    return true;
  });
  s.io.stdout.write(`${label(t)} ${changed ? 'image updated' : 'unchanged (the images are already those)'}\n`);
}

// ---------------------------------------------------------------------------------------------
// rollout

interface StatusOptions {
  timeout?: string;
  watch: boolean;
}

/**
 * statusCommand prints how far the rollout has come, and with --watch (the default) follows
 * it through a watch of the Deployment, printing each new state, until it is done (resolves),
 * its progress deadline passes or --timeout does (CliError), or the user interrupts.
 */
async function statusCommand(s: Session, args: string[], opts: StatusOptions): Promise<void> {
  s.output([], 'rollout status');
  const t = oneTarget(args, ['Deployment'], 'rollout status');
  const timeoutMs = opts.timeout === undefined ? undefined : parseDuration(opts.timeout, '--timeout');
  const { namespace } = s.namespace();
  const client = s.client();
  let last = '';
  /** report prints a new state; true once the rollout is done. */
  const report = (d: Deployment): boolean => {
    const state = rolloutState(d);
    if (state.failed) throw new CliError(state.message);
    if (state.message !== last) s.io.stdout.write(`${state.message}\n`);
    last = state.message;
    return state.done;
  };
  // Read first, so that an unreachable cluster or a missing deployment fails the command; the
  // watch then rides out outages until the rollout ends.
  const first = await client.deployments.list({ namespace, fieldSelector: `metadata.name=${t.name}` });
  if (report(first.items[0] ?? (await client.deployments.get(namespace, t.name))) || !opts.watch) return;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  s.io.signal?.addEventListener('abort', onAbort, { once: true });
  let timedOut = false;
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          stop.abort();
        }, timeoutMs);
  try {
    const events = client.deployments.watch({
      namespace,
      fieldSelector: `metadata.name=${t.name}`,
      fromRevision: first.revision,
      signal: stop.signal,
      onRetry: (err) => s.io.stderr.write(`tug: watch interrupted (${formatError(err).replace(/^error: /, '').split('\n')[0]}); resuming\n`),
    });
    for await (const ev of events) {
      if (ev.type === 'RESYNC') {
        const d = ev.items[0];
        if (d === undefined) throw new CliError(`deployment "${t.name}" was deleted`);
        if (report(d)) return;
      } else if (ev.type === 'DELETED') {
        throw new CliError(`deployment "${t.name}" was deleted`);
      } else if (ev.type !== 'BOOKMARK') {
        if (report(ev.object)) return;
      }
    }
    if (timedOut) throw new CliError(`timed out waiting for deployment "${t.name}" to roll out (--timeout ${opts.timeout ?? ''}); last: ${last}`);
  } finally {
    clearTimeout(timer);
    s.io.signal?.removeEventListener('abort', onAbort);
  }
}

async function historyCommand(s: Session, args: string[], opts: { revision?: string }): Promise<void> {
  s.output([], 'rollout history');
  const t = oneTarget(args, ['Deployment'], 'rollout history');
  const revisionFlag = opts.revision === undefined ? undefined : wholeNumber(opts.revision, '--revision', 1, 'rollout history');
  const { namespace } = s.namespace();
  const client = s.client();
  const d = await client.deployments.get(namespace, t.name);
  const revisions = revisionsOf(d, (await client.replicaSets.list({ namespace })).items);
  if (revisionFlag !== undefined) {
    const r = findRevision(d, revisions, revisionFlag);
    s.io.stdout.write(`${label(t)} with revision #${r.revision}\n${describeTemplate(r.replicaSet.spec.template)}`);
    return;
  }
  const table = new Table(
    ['REVISION', 'CHANGE-CAUSE'].map((header) => ({ header, value: () => '' })),
    0,
  );
  const rows = revisions.map((r) => [String(r.revision), r.changeCause ?? '<none>']);
  s.io.stdout.write(`${label(t)}\n${table.render(rows, true)}`);
}

async function undoCommand(s: Session, args: string[], opts: { toRevision?: string }): Promise<void> {
  s.output([], 'rollout undo');
  const t = oneTarget(args, ['Deployment'], 'rollout undo');
  const to = opts.toRevision === undefined ? undefined : wholeNumber(opts.toRevision, '--to-revision', 0, 'rollout undo');
  const { namespace } = s.namespace();
  const client = s.client();
  let skipped: number | undefined;
  const changed = await casUpdate<Deployment>(client, refOf(t, namespace), async (d) => {
    const target = rollbackTarget(d, revisionsOf(d, (await client.replicaSets.list({ namespace })).items), to);
    const template = templateOf(target.replicaSet);
    if (sameTemplate(template, d.spec.template)) {
      skipped = target.revision;
      return false;
    }
    d.spec.template = template;
    const annotations = { ...d.metadata.annotations };
    if (target.changeCause === undefined) delete annotations[CHANGE_CAUSE_ANNOTATION];
    else annotations[CHANGE_CAUSE_ANNOTATION] = target.changeCause;
    d.metadata.annotations = annotations;
    return true;
  });
  s.io.stdout.write(changed ? `${label(t)} rolled back\n` : `${label(t)} skipped rollback (its template is already that of revision ${skipped ?? ''})\n`);
}

async function restartCommand(s: Session, args: string[]): Promise<void> {
  s.output([], 'rollout restart');
  const t = oneTarget(args, ['Deployment'], 'rollout restart');
  const now = new Date(s.io.now()).toISOString();
  await casUpdate<Deployment>(s.client(), refOf(t, s.namespace().namespace), (d) => {
    if (d.spec.paused === true) throw new CliError(`deployment ${t.name} is paused: resume it first (tug rollout resume ${label(t)})`);
    const meta = (d.spec.template.metadata ??= {});
    meta.annotations = { ...meta.annotations, [RESTARTED_AT_ANNOTATION]: now };
    return true;
  });
  s.io.stdout.write(`${label(t)} restarted\n`);
}

async function pauseCommand(s: Session, args: string[], paused: boolean): Promise<void> {
  const command = paused ? 'rollout pause' : 'rollout resume';
  s.output([], command);
  const t = oneTarget(args, ['Deployment'], command);
  await casUpdate<Deployment>(s.client(), refOf(t, s.namespace().namespace), (d) => {
    if ((d.spec.paused === true) === paused) throw new CliError(`${label(t)} is ${paused ? 'already paused' : 'not paused'}`);
    if (paused) d.spec.paused = true;
    else delete d.spec.paused;
    return true;
  });
  s.io.stdout.write(`${label(t)} ${paused ? 'paused' : 'resumed'}\n`);
}

// ---------------------------------------------------------------------------------------------

const TARGET_ARG = 'the deployment: deploy/NAME, deployment/NAME or deployment NAME';

/** addRolloutCommands registers `scale`, `set image` and `rollout` on program. */
export function addRolloutCommands(program: Command, s: Session): void {
  program
    .command('scale')
    .summary('set the number of replicas of deployments or replica sets')
    .description('Set spec.replicas of deployments or replica sets; their controllers then add or remove pods.')
    .usage('--replicas N TYPE/NAME... | TYPE NAME...')
    .argument('<objects...>', 'deploy/NAME, rs/NAME (several allowed), or TYPE NAME...')
    .requiredOption('--replicas <n>', 'the number of replicas (0 or more)')
    .addHelpText('after', '\nExamples:\n  tug scale deploy/web --replicas 5\n  tug scale deployment web api --replicas 0')
    .action(async (args: string[], opts: { replicas: string }, cmd: Command) => scaleCommand(s.use(cmd), args, opts));

  const set = program.command('set').summary('change a field of objects').description('Change a field of objects.').usage('COMMAND');
  set
    .command('image')
    .summary("change the images of a deployment's or replica set's containers")
    .description(
      "Change the image of containers of a deployment's (or replica set's) pod template; a deployment then rolls out a new revision. The command line is recorded in the kubernetes.io/change-cause annotation, which `tug rollout history` shows. CONTAINER \"*\" means every container.",
    )
    .usage('TYPE/NAME CONTAINER=IMAGE...')
    .argument('<args...>', 'deploy/NAME (or TYPE NAME), then one CONTAINER=IMAGE per container to change')
    .addHelpText('after', '\nExamples:\n  tug set image deploy/web web=tugboat.local/web:v2\n  tug set image deployment web app=nginx:1.27 sidecar=busybox:1.36')
    .action(async (args: string[], _opts: unknown, cmd: Command) => setImageCommand(s.use(cmd), args));

  const rollout = program
    .command('rollout')
    .summary("follow and manage a deployment's rollouts")
    .description("Follow a deployment's rollout, list its revisions, roll back to one, restart its pods, pause and resume its rollouts.")
    .usage('COMMAND');
  rollout
    .command('status')
    .description(
      "Print how far the deployment's rollout has come and, with --watch (the default), follow it live until it is done. Exits 0 once every replica is updated and available and no old replica is left; 1 when the deployment's progress deadline (spec.progressDeadlineSeconds) passes without progress, or --timeout does.",
    )
    .argument('<deployment...>', TARGET_ARG)
    .option('-w, --watch [bool]', 'follow the rollout until it ends: true or false', booleanFlag, true)
    .option('--timeout <duration>', 'give up after this long: 30s, 5m; 0 for no limit (default: no limit)')
    .action(async (args: string[], opts: StatusOptions, cmd: Command) => statusCommand(s.use(cmd), args, opts));
  rollout
    .command('history')
    .description(
      "List the deployment's revisions (the replica sets it owns) with their change cause; with --revision, show the pod template of one.",
    )
    .argument('<deployment...>', TARGET_ARG)
    .option('--revision <n>', 'show the pod template of this revision')
    .action(async (args: string[], opts: { revision?: string }, cmd: Command) => historyCommand(s.use(cmd), args, opts));
  rollout
    .command('undo')
    .description(
      "Roll the deployment back to the pod template of an earlier revision (the one before the current by default); the controller rolls it out as the newest revision.",
    )
    .argument('<deployment...>', TARGET_ARG)
    .option('--to-revision <n>', 'the revision to go back to (default: the previous one)')
    .action(async (args: string[], opts: { toRevision?: string }, cmd: Command) => undoCommand(s.use(cmd), args, opts));
  rollout
    .command('restart')
    .description(`Replace every pod of the deployment through a rollout, by setting the ${RESTARTED_AT_ANNOTATION} annotation of its pod template to now.`)
    .argument('<deployment...>', TARGET_ARG)
    .action(async (args: string[], _opts: unknown, cmd: Command) => restartCommand(s.use(cmd), args));
  rollout
    .command('pause')
    .description('Pause the deployment: changes to its pod template are not rolled out until it is resumed (scaling still applies).')
    .argument('<deployment...>', TARGET_ARG)
    .action(async (args: string[], _opts: unknown, cmd: Command) => pauseCommand(s.use(cmd), args, true));
  rollout
    .command('resume')
    .description('Resume a paused deployment: its latest pod template is rolled out.')
    .argument('<deployment...>', TARGET_ARG)
    .action(async (args: string[], _opts: unknown, cmd: Command) => pauseCommand(s.use(cmd), args, false));
}
