// scenario.ts: a chaos scenario file (YAML) read into a Scenario, or refused with a message
// naming the field (pure).
//
//   name: leader-killed-repeatedly
//   description: the leader's tug-control is SIGKILLed, again and again
//   seed: 1201                 # printed with every run; --seed overrides
//   duration: 60s              # the short form; --duration 30m gives the long one
//   needs: { control: 3 }      # what the cluster must have
//   order: cycle               # or random: each round draws one of `rounds` with the seed
//   rounds:                    # one fault per round, healed after `hold`
//     - fault: kill-leader
//       hold: 8s
//   gap: 5s                    # steady time after the cluster recovered, before the next round
//   recoverWithin: 60s         # desired replicas Ready again this long after a heal, at most
//   availability: { steady: 99, fault: 80, recovering: 90 }   # least % of requests answered
//
// A round's fault: `fault` (an action of FAULT_ACTIONS), `target` (TARGETS, or {node: NAME}),
// `hold`; for a partition `from: rest|control`, `oneWay`, and `each` (every targeted node cut off
// on its own); for netem `delay`, `jitter`, `loss`; `during: rollout` starts a rolling update of
// the workload just before the fault.
//   workload: { replicas: 3, writers: 3, keys: 4 }
import { parse } from 'yaml';

export const FAULT_ACTIONS = ['kill-node', 'restart-node', 'kill-leader', 'pause-node', 'partition', 'netem', 'kill-pod'] as const;
export type FaultAction = (typeof FAULT_ACTIONS)[number];

/**
 * Who a fault hits, chosen when its round starts: the leader; a follower (a control member that
 * does not lead); a worker (a node without a control member if there is one, else a follower's
 * node); the node running the one-replica set's pod (solo); any node; all nodes; a minority or a majority of the control members; the control
 * members in turn, one a round (next-control); or one node by name.
 */
export const TARGETS = ['leader', 'follower', 'worker', 'solo', 'any', 'all', 'minority', 'majority', 'next-control'] as const;
export type Target = (typeof TARGETS)[number] | { readonly node: string };

/** The other side of a partition: every node not targeted, or only the control members not targeted. */
export type PartitionFrom = 'rest' | 'control';

/** Fault is one round's fault. */
export interface Fault {
  readonly action: FaultAction;
  readonly target: Target;
  /** How long the fault stays before it is healed, ms (restart-node and kill-pod act at once). */
  readonly holdMs: number;
  readonly from: PartitionFrom;
  readonly oneWay: boolean;
  /** A partition that cuts each targeted node off on its own (from the others targeted too), e.g. to leave no majority anywhere. */
  readonly each: boolean;
  readonly delayMs: number;
  readonly jitterMs: number;
  readonly lossPercent: number;
  /** Start a rolling update of the workload just before the fault. */
  readonly duringRollout: boolean;
}

export interface Availability {
  /** Least % of service requests answered while no fault is active and the cluster has recovered. */
  readonly steady: number;
  /** ... while a fault is active. */
  readonly fault: number;
  /** ... from a heal until the cluster has recovered. */
  readonly recovering: number;
}

export interface Workload {
  /** Replicas of the web Deployment behind the Service. */
  readonly replicas: number;
  /** Concurrent API clients writing and reading ConfigMaps with compare-and-swap. */
  readonly writers: number;
  /** ConfigMaps they share. */
  readonly keys: number;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly seed: number;
  readonly durationMs: number;
  readonly needs: { readonly control: number; readonly nodes: number };
  readonly order: 'cycle' | 'random';
  readonly rounds: readonly Fault[];
  readonly gapMs: number;
  readonly recoverWithinMs: number;
  readonly availability: Availability;
  readonly workload: Workload;
}

/** ScenarioError is a scenario file that cannot be run; the message names the file and field. */
export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
}

/** parseDuration reads "500ms", "8s", "30m" or "1h" into ms; undefined when the text is none of these. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (m === null) return undefined;
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** parseScenario reads a scenario file's text; `file` names it in errors. Throws ScenarioError. */
export function parseScenario(text: string, file: string): Scenario {
  const bad = (field: string, problem: string): never => {
    throw new ScenarioError(`${file}: ${field}: ${problem}`);
  };
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    return bad('(file)', `not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!isObj(doc)) return bad('(file)', 'must be a mapping with name, rounds and the other fields of a scenario');
  const known = (o: Obj, fields: readonly string[], at: string): void => {
    for (const k of Object.keys(o)) if (!fields.includes(k)) bad(`${at}${k}`, `unknown field (known: ${fields.join(', ')})`);
  };
  known(doc, ['name', 'description', 'seed', 'duration', 'needs', 'order', 'rounds', 'gap', 'recoverWithin', 'availability', 'workload'], '');
  const duration = (o: Obj, k: string, at: string, dflt: number | undefined): number => {
    const v = o[k];
    if (v === undefined && dflt !== undefined) return dflt;
    const ms = typeof v === 'string' ? parseDuration(v) : undefined;
    return ms !== undefined ? ms : bad(`${at}${k}`, `must be a duration such as 500ms, 8s or 30m, got ${JSON.stringify(v)}`);
  };
  const whole = (o: Obj, k: string, at: string, dflt: number, min: number, max: number): number => {
    const v = o[k] ?? dflt;
    return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : bad(`${at}${k}`, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  };
  const percent = (o: Obj, k: string, at: string, dflt: number): number => {
    const v = o[k] ?? dflt;
    return typeof v === 'number' && v >= 0 && v <= 100 ? v : bad(`${at}${k}`, `must be a percentage from 0 to 100, got ${JSON.stringify(v)}`);
  };
  const name = doc['name'];
  if (typeof name !== 'string' || !/^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$/.test(name)) bad('name', 'must be 1 to 42 lower-case letters, digits and dashes');
  const description = doc['description'] ?? '';
  if (typeof description !== 'string') bad('description', 'must be text');
  const needs = doc['needs'] ?? {};
  if (!isObj(needs)) return bad('needs', 'must be a mapping such as {control: 3, nodes: 3}');
  known(needs, ['control', 'nodes'], 'needs.');
  const order = doc['order'] ?? 'cycle';
  if (order !== 'cycle' && order !== 'random') bad('order', `must be cycle or random, got ${JSON.stringify(order)}`);
  const rounds = doc['rounds'];
  if (!Array.isArray(rounds) || rounds.length === 0) return bad('rounds', 'must be a list of at least one fault');
  const availability = doc['availability'] ?? {};
  if (!isObj(availability)) return bad('availability', 'must be a mapping such as {steady: 99, fault: 80}');
  known(availability, ['steady', 'fault', 'recovering'], 'availability.');
  const workload = doc['workload'] ?? {};
  if (!isObj(workload)) return bad('workload', 'must be a mapping such as {replicas: 3, writers: 3, keys: 4}');
  known(workload, ['replicas', 'writers', 'keys'], 'workload.');
  const fault = percent(availability, 'fault', 'availability.', 80);
  return {
    name: name as string,
    description: description as string,
    seed: whole(doc, 'seed', '', 1, 0, 2 ** 32 - 1),
    durationMs: duration(doc, 'duration', '', undefined),
    needs: { control: whole(needs, 'control', 'needs.', 1, 1, 9), nodes: whole(needs, 'nodes', 'needs.', 1, 1, 9) },
    order: order as 'cycle' | 'random',
    rounds: rounds.map((r, i) => parseFault(r, `rounds[${i}].`, bad, duration, known)),
    gapMs: duration(doc, 'gap', '', 5_000),
    recoverWithinMs: duration(doc, 'recoverWithin', '', 60_000),
    availability: {
      steady: percent(availability, 'steady', 'availability.', 99),
      fault,
      recovering: percent(availability, 'recovering', 'availability.', fault),
    },
    workload: {
      replicas: whole(workload, 'replicas', 'workload.', 3, 1, 20),
      writers: whole(workload, 'writers', 'workload.', 3, 0, 20),
      keys: whole(workload, 'keys', 'workload.', 4, 1, 50),
    },
  };
}

function parseFault(
  r: unknown,
  at: string,
  bad: (field: string, problem: string) => never,
  duration: (o: Obj, k: string, at: string, dflt: number | undefined) => number,
  known: (o: Obj, fields: readonly string[], at: string) => void,
): Fault {
  if (!isObj(r)) return bad(at.slice(0, -1), 'must be a mapping such as {fault: kill-leader, hold: 8s}');
  known(r, ['fault', 'target', 'hold', 'from', 'oneWay', 'each', 'delay', 'jitter', 'loss', 'during'], at);
  const action = r['fault'];
  if (!FAULT_ACTIONS.includes(action as FaultAction)) bad(`${at}fault`, `must be one of ${FAULT_ACTIONS.join(', ')}, got ${JSON.stringify(action)}`);
  const t = r['target'] ?? (action === 'kill-leader' ? 'leader' : action === 'kill-pod' ? 'any' : undefined);
  let target: Target;
  if (typeof t === 'string' && (TARGETS as readonly string[]).includes(t)) target = t as Target;
  else if (isObj(t) && typeof t['node'] === 'string' && Object.keys(t).length === 1) target = { node: t['node'] };
  else return bad(`${at}target`, `must be one of ${TARGETS.join(', ')}, or {node: NAME}, got ${JSON.stringify(t)}`);
  if (action === 'kill-leader' && target !== 'leader') bad(`${at}target`, 'kill-leader always hits the leader: leave target out');
  const from = r['from'] ?? 'rest';
  if (from !== 'rest' && from !== 'control') bad(`${at}from`, `must be rest or control, got ${JSON.stringify(from)}`);
  for (const k of ['from', 'oneWay', 'each']) if (action !== 'partition' && r[k] !== undefined) bad(`${at}${k}`, 'belongs to a partition');
  const oneWay = r['oneWay'] ?? false;
  if (typeof oneWay !== 'boolean') bad(`${at}oneWay`, 'must be true or false');
  const each = r['each'] ?? false;
  if (typeof each !== 'boolean') bad(`${at}each`, 'must be true or false');
  const instant = action === 'restart-node' || action === 'kill-pod';
  const holdMs = instant ? (r['hold'] === undefined ? 0 : bad(`${at}hold`, `${action as string} acts at once: it has no hold`)) : duration(r, 'hold', at, undefined);
  const netemOnly = (k: string): void => {
    if (action !== 'netem' && r[k] !== undefined) bad(`${at}${k}`, 'belongs to a netem fault');
  };
  ['delay', 'jitter', 'loss'].forEach(netemOnly);
  const loss = r['loss'] ?? 0;
  const lossPercent = typeof loss === 'number' && loss >= 0 && loss <= 100 ? loss : typeof loss === 'string' && /^\d+(\.\d+)?%$/.test(loss) && Number(loss.slice(0, -1)) <= 100 ? Number(loss.slice(0, -1)) : bad(`${at}loss`, `must be a percentage such as 10%, got ${JSON.stringify(loss)}`);
  const delayMs = r['delay'] === undefined ? 0 : duration(r, 'delay', at, undefined);
  const jitterMs = r['jitter'] === undefined ? 0 : duration(r, 'jitter', at, undefined);
  if (action === 'netem' && delayMs === 0 && lossPercent === 0) bad(at.slice(0, -1), 'a netem fault needs a delay or a loss');
  const during = r['during'];
  if (during !== undefined && during !== 'rollout') bad(`${at}during`, `must be rollout, got ${JSON.stringify(during)}`);
  return { action: action as FaultAction, target, holdMs, from: from as PartitionFrom, oneWay: oneWay as boolean, each: each as boolean, delayMs, jitterMs, lossPercent, duringRollout: during === 'rollout' };
}
