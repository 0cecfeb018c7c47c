// node-commands.ts: `tug cordon`, `tug uncordon` and `tug drain`. Cordoning sets
// spec.unschedulable (a compare-and-swap update, read again on a conflict), so the scheduler
// places no new pod there. Draining cordons, then evicts every pod of the node with a graceful
// delete and waits until they are gone: their controllers make replacements on other nodes.
// A pod no controller owns would be lost for good, so drain refuses to start unless --force,
// naming those pods; pods already terminating are only waited for.
import type { Command } from 'commander';
import type { Node, Pod } from '@tugboat/api';
import { isConflict, isNotFound } from '@tugboat/client';
import type { TugClient } from '@tugboat/client';
import { retryOnConflict } from './compare-and-swap.ts';
import { parseDuration } from './config.ts';
import { CliError, UsageError } from './errors.ts';
import type { Session } from './session.ts';

/** Compare-and-swap attempts before giving up on a Node that keeps changing. */
const CAS_ATTEMPTS = 10;
/** How often drain looks whether the evicted pods are gone, ms. */
const DRAIN_POLL_MS = 250;

/** setUnschedulable sets spec.unschedulable of a Node; false when it was so already. */
export async function setUnschedulable(client: TugClient, name: string, unschedulable: boolean): Promise<boolean> {
  // The agent's status writes or a controller may change the Node between the read and the write.
  return retryOnConflict(CAS_ATTEMPTS, async () => {
    let node: Node;
    try {
      node = await client.nodes.get(name);
    } catch (err) {
      if (isNotFound(err)) throw new CliError(`node "${name}" not found`);
      throw err;
    }
    if ((node.spec?.unschedulable === true) === unschedulable) return false;
    const spec = { ...node.spec };
    if (unschedulable) spec.unschedulable = true;
    else delete spec.unschedulable;
    await client.nodes.update({ ...node, spec });
    return true;
  });
}

function podRef(p: Pod): string {
  return `${p.metadata.namespace ?? 'default'}/${p.metadata.name ?? ''}`;
}

/** hasController tells whether a controller (a ReplicaSet, ...) owns the pod and will replace it. */
export function hasController(p: Pod): boolean {
  return (p.metadata.ownerReferences ?? []).some((o) => o.controller === true);
}

/** unmanagedPods are the pods of `pods` that no controller owns and that are not terminating. */
export function unmanagedPods(pods: readonly Pod[]): Pod[] {
  return pods.filter((p) => !hasController(p) && p.metadata.deletionTimestamp === undefined);
}

export interface DrainFlags {
  force?: boolean;
  timeout?: string;
  gracePeriod?: string;
}

function gracePeriodOf(text: string | undefined): number | undefined {
  if (text === undefined || text === '-1') return undefined;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`--grace-period: ${JSON.stringify(text)} is not a number of seconds (a whole number, 0 or more; -1: the pod's own)`, 'drain');
  }
  return Number(text);
}

async function podsOn(client: TugClient, node: string): Promise<Pod[]> {
  return (await client.pods.list({ fieldSelector: `spec.nodeName=${node}` })).items;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

async function drain(s: Session, name: string, flags: DrainFlags): Promise<void> {
  const timeoutMs = flags.timeout === undefined ? undefined : parseDuration(flags.timeout, '--timeout');
  const grace = gracePeriodOf(flags.gracePeriod);
  const out = (line: string): void => {
    s.io.stdout.write(`${line}\n`);
  };
  const client = s.client();
  out(`node/${name} ${(await setUnschedulable(client, name, true)) ? 'cordoned' : 'already cordoned'}`);

  const pods = await podsOn(client, name);
  const unmanaged = unmanagedPods(pods);
  if (unmanaged.length > 0 && flags.force !== true) {
    throw new CliError(`cannot evict pods that no controller owns (they would not be made again; --force evicts them anyway): ${unmanaged.map(podRef).join(', ')}`);
  }
  const giveUpAt = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
  // Waited for by uid: a pod made again under the same name is another pod.
  const waiting = new Map<string, Pod>();
  for (const p of pods) {
    waiting.set(p.metadata.uid ?? podRef(p), p);
    if (p.metadata.deletionTimestamp !== undefined) continue;
    out(`evicting pod ${podRef(p)}`);
    try {
      await client.pods.delete(p.metadata.namespace ?? 'default', p.metadata.name ?? '', { expectedUid: p.metadata.uid, gracePeriodSeconds: grace });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }

  const signal = s.io.signal;
  while (waiting.size > 0) {
    const present = new Set((await podsOn(client, name)).map((p) => p.metadata.uid ?? podRef(p)));
    for (const [uid, p] of waiting) {
      if (present.has(uid)) continue;
      waiting.delete(uid);
      out(`pod/${p.metadata.name ?? ''} evicted`);
    }
    if (waiting.size === 0) break;
    if (signal?.aborted === true) throw new CliError(`drain of node ${name} interrupted; pods still there: ${[...waiting.values()].map(podRef).join(', ')}`);
    if (giveUpAt !== undefined && Date.now() >= giveUpAt) {
      throw new CliError(`drain of node ${name} did not finish within ${flags.timeout ?? ''}; pods still there: ${[...waiting.values()].map(podRef).join(', ')}`);
    }
    await sleep(DRAIN_POLL_MS, signal);
  }
  out(`node/${name} drained`);
}

/** addNodeCommands adds cordon, uncordon and drain to `tug`. */
export function addNodeCommands(program: Command, s: Session): void {
  program
    .command('cordon')
    .summary('mark a node unschedulable')
    .description('Mark a node unschedulable (spec.unschedulable): the scheduler places no new pod there; pods running there stay.')
    .argument('<node>', 'the node\'s name')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const changed = await setUnschedulable(s.use(cmd).client(), name, true);
      s.io.stdout.write(`node/${name} ${changed ? 'cordoned' : 'already cordoned'}\n`);
    });
  program
    .command('uncordon')
    .summary('mark a node schedulable again')
    .description('Mark a node schedulable again (clears spec.unschedulable).')
    .argument('<node>', 'the node\'s name')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const changed = await setUnschedulable(s.use(cmd).client(), name, false);
      s.io.stdout.write(`node/${name} ${changed ? 'uncordoned' : 'already uncordoned'}\n`);
    });
  program
    .command('drain')
    .summary('cordon a node and evict its pods')
    .description(
      'Cordon a node, then evict every pod on it (a graceful delete; pods already terminating are waited for) and wait until they are gone: their controllers make replacements on other nodes. Pods that no controller owns would not come back: drain refuses to start while there are any, naming them, unless --force.',
    )
    .argument('<node>', 'the node\'s name')
    .option('--force', 'also evict pods that no controller owns')
    .option('--timeout <duration>', 'give up after this long: 30s, 2m (default: wait as long as it takes)')
    .option('--grace-period <seconds>', 'seconds each pod gets to stop; -1 (the default): the pod\'s terminationGracePeriodSeconds')
    .action(async (name: string, flags: DrainFlags, cmd: Command) => drain(s.use(cmd), name, flags));
}
