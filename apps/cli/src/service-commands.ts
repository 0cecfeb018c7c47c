// service-commands.ts: `tug expose`: a Service in front of the pods of a deployment, replica
// set or pod, or of the pods another service selects. The Service selects them by labels: the
// deployment's or replica set's spec.selector.matchLabels, the pod's labels, the service's
// selector. Every flag is checked (by the API's own validation, on a Service built from the
// flags alone) before the API is asked anything; then the object is read once and the Service
// created with one write, so a refused expose changes nothing. What to create is decided by
// the pure functions exposeRequest, exposeSelector and exposedService.
import type { Command } from 'commander';
import { NODE_PORT_MAX, NODE_PORT_MIN, SERVICE_TYPES_WITH_NODE_PORTS, formatSelector, isUnknownKindError, resolveKind, toYaml, validate } from '@tugboat/api';
import type { Deployment, KindInfo, Pod, Protocol, ReplicaSet, Service, ServicePort, ServiceType, ValidationIssue } from '@tugboat/api';
import type { ObjectLike } from '@tugboat/client';
import { CliError, UsageError } from './errors.ts';
import type { Session } from './session.ts';
import { nameOf, typeName } from './table.ts';

const COMMAND = 'expose';

/** EXPOSABLE_KINDS are the kinds `tug expose` takes, in the order its messages list them. */
const EXPOSABLE_KINDS = ['Deployment', 'ReplicaSet', 'Pod', 'Service'] as const;
type Exposable = Deployment | ReplicaSet | Pod | Service;
type ExposableKind = Exposable['kind'];

const SERVICE_TYPES: readonly ServiceType[] = ['ClusterIP', 'NodePort', 'LoadBalancer'];
const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP'];
const PORT_MAX = 65535;

/** ExposeFlags are the flags of `tug expose` as commander hands them over. */
export interface ExposeFlags {
  port: string;
  targetPort?: string;
  type?: string;
  name?: string;
  protocol?: string;
  portName?: string;
  nodePort?: string;
}

/** ExposeRequest is what the flags ask for, read and checked. */
export interface ExposeRequest {
  readonly port: number;
  /** targetPort: a number, or the name of a container port. Default: port. */
  readonly targetPort: number | string;
  /** type: default ClusterIP. */
  readonly type: ServiceType;
  /** protocol: default TCP. */
  readonly protocol: Protocol;
  /** name of the Service; default: the exposed object's name. */
  readonly name: string | undefined;
  readonly portName: string | undefined;
  readonly nodePort: number | undefined;
}

/** ExposeTarget is the object to expose: its kind and name. */
export interface ExposeTarget {
  readonly kind: ExposableKind;
  readonly name: string;
}

/** portNumber reads a port flag: a whole number from `min` to `max`. */
function portNumber(text: string, flag: string, min = 1, max = PORT_MAX): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= min && n <= max)) {
    const what = min === 1 && max === PORT_MAX ? 'a port number' : 'a node port';
    throw new UsageError(`${flag}: ${JSON.stringify(text)} is not ${what} (${min} to ${max})`, COMMAND);
  }
  return n;
}

/** oneOf reads a flag that takes one of `allowed`, in any case ("nodeport" is NodePort). */
function oneOf<T extends string>(text: string, allowed: readonly T[], flag: string): T {
  const found = allowed.find((a) => a.toLowerCase() === text.toLowerCase());
  if (found === undefined) throw new UsageError(`${flag}: ${JSON.stringify(text)} is not one of ${allowed.join(', ')}`, COMMAND);
  return found;
}

/** exposeTarget reads "deploy/web" or "deployment web" into the object to expose. */
export function exposeTarget(args: readonly string[]): ExposeTarget {
  const [first, ...rest] = args;
  let kindText: string;
  let name: string;
  if (first === undefined) throw new UsageError('give the object to expose: TYPE/NAME (deploy/web) or TYPE NAME', COMMAND);
  const slash = first.indexOf('/');
  if (slash >= 0) {
    if (rest.length > 0) throw new UsageError(`give one object to expose, not ${args.length}`, COMMAND);
    kindText = first.slice(0, slash);
    name = first.slice(slash + 1);
    if (name === '') throw new UsageError(`${JSON.stringify(first)}: give a name after the "/"`, COMMAND);
  } else {
    if (rest.length === 0) throw new UsageError(`give the NAME of the ${first} to expose, or TYPE/NAME`, COMMAND);
    if (rest.length > 1) throw new UsageError(`give one object to expose, not ${rest.length}`, COMMAND);
    kindText = first;
    name = rest[0]!;
  }
  let info: KindInfo;
  try {
    info = resolveKind(kindText);
  } catch (err) {
    if (isUnknownKindError(err)) throw new UsageError(err.message, COMMAND);
    throw err;
  }
  if (!(EXPOSABLE_KINDS as readonly string[]).includes(info.kind)) {
    throw new UsageError(`expose works on deployments, replicasets, pods and services, not ${info.plural}`, COMMAND);
  }
  return { kind: info.kind as ExposableKind, name };
}

/** exposeRequest reads and checks the flags (UsageError naming the flag). */
export function exposeRequest(flags: ExposeFlags): ExposeRequest {
  const port = portNumber(flags.port, '--port');
  let targetPort: number | string = port;
  if (flags.targetPort !== undefined) {
    // A number is a port; anything else names a container port (checked by validation).
    targetPort = /^\d+$/.test(flags.targetPort) ? portNumber(flags.targetPort, '--target-port') : flags.targetPort;
  }
  const type = flags.type === undefined ? 'ClusterIP' : oneOf(flags.type, SERVICE_TYPES, '--type');
  const protocol = flags.protocol === undefined ? 'TCP' : oneOf(flags.protocol, PROTOCOLS, '--protocol');
  let nodePort: number | undefined;
  if (flags.nodePort !== undefined) {
    if (!SERVICE_TYPES_WITH_NODE_PORTS.includes(type)) {
      throw new UsageError(`--node-port needs --type NodePort or LoadBalancer: a ${type} service has no node port`, COMMAND);
    }
    nodePort = portNumber(flags.nodePort, '--node-port', NODE_PORT_MIN, NODE_PORT_MAX);
  }
  if (flags.name === '') throw new UsageError('--name: give a name', COMMAND);
  if (flags.portName === '') throw new UsageError('--port-name: give a name', COMMAND);
  return { port, targetPort, type, protocol, name: flags.name, portName: flags.portName, nodePort };
}

/**
 * exposeSelector is the Service selector that picks the pods of `obj`: a deployment's or
 * replica set's spec.selector.matchLabels, a pod's labels, a service's selector. CliError when
 * there is none, or when a label map cannot say it (matchExpressions).
 */
export function exposeSelector(obj: Exposable): Record<string, string> {
  const who = nameOf(obj);
  let selector: Record<string, string> | undefined;
  switch (obj.kind) {
    case 'Deployment':
    case 'ReplicaSet': {
      const sel = obj.spec.selector;
      if ((sel.matchExpressions ?? []).length > 0) {
        throw new CliError(
          `${who} selects its pods with matchExpressions (${formatSelector(sel)}), which a service selector (labels only) cannot express: write the Service yourself and apply it`,
        );
      }
      selector = sel.matchLabels;
      if (selector === undefined || Object.keys(selector).length === 0) throw new CliError(`${who} has an empty selector: there are no labels to select its pods by`);
      break;
    }
    case 'Pod':
      selector = obj.metadata.labels;
      if (selector === undefined || Object.keys(selector).length === 0) throw new CliError(`${who} has no labels: a service selects pods by their labels`);
      break;
    case 'Service':
      selector = obj.spec.selector;
      if (selector === undefined || Object.keys(selector).length === 0) throw new CliError(`${who} has no selector to copy (its endpoints are managed by hand)`);
      break;
  }
  return { ...selector };
}

/** exposedService is the Service `tug expose` creates: one port, the selector given, and the
 *  labels of the object exposed (`labels`), as kubectl does. */
export function exposedService(
  req: ExposeRequest,
  where: { name: string; namespace: string; selector: Record<string, string>; labels: Record<string, string> | undefined },
): Service {
  const ports: ServicePort[] = [
    {
      ...(req.portName === undefined ? {} : { name: req.portName }),
      protocol: req.protocol,
      port: req.port,
      targetPort: req.targetPort,
      ...(req.nodePort === undefined ? {} : { nodePort: req.nodePort }),
    },
  ];
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: where.name,
      namespace: where.namespace,
      ...(where.labels === undefined || Object.keys(where.labels).length === 0 ? {} : { labels: { ...where.labels } }),
    },
    spec: { type: req.type, selector: where.selector, ports },
  };
}

/** FIELD_FLAGS maps the fields a flag sets to the flag, for validation messages. */
const FIELD_FLAGS: Readonly<Record<string, string>> = {
  'metadata.name': '--name',
  'metadata.namespace': '-n',
  'spec.type': '--type',
  'spec.ports[0].port': '--port',
  'spec.ports[0].targetPort': '--target-port',
  'spec.ports[0].protocol': '--protocol',
  'spec.ports[0].name': '--port-name',
  'spec.ports[0].nodePort': '--node-port',
};

/** checkService validates the Service as the API will; a UsageError names the flag of each problem. */
function checkService(svc: Service, nameFrom: string | undefined): void {
  const issues = validate(svc);
  if (issues.length === 0) return;
  const say = (i: ValidationIssue): string => {
    if (i.path === 'metadata.name' && nameFrom !== undefined) return `the service name (the name of ${nameFrom}): ${i.message}; choose another with --name`;
    const flag = FIELD_FLAGS[i.path];
    return flag === undefined ? `${i.path || 'service'}: ${i.message}` : `${flag}: ${i.message}`;
  };
  throw new UsageError(issues.map(say).join('\n'), COMMAND);
}

async function exposeCommand(s: Session, args: string[], flags: ExposeFlags): Promise<void> {
  const output = s.output(['name', 'yaml', 'json'], COMMAND);
  const target = exposeTarget(args);
  const req = exposeRequest(flags);
  const { namespace } = s.namespace();
  // Every flag first, before anything is read: a Service from the flags alone, with a stand-in
  // name (when --name is not given) and selector.
  checkService(exposedService(req, { name: req.name ?? 'stand-in', namespace, selector: { app: 'stand-in' }, labels: undefined }), undefined);

  const client = s.client();
  const obj = await client.get<Exposable & ObjectLike>({ kind: target.kind, namespace, name: target.name });
  const svc = exposedService(req, { name: req.name ?? target.name, namespace, selector: exposeSelector(obj), labels: obj.metadata.labels });
  checkService(svc, req.name === undefined ? `${typeName(target.kind)}/${target.name}` : undefined);
  const created = await client.create<Service & ObjectLike>(svc);
  if (output === 'name') s.io.stdout.write(`${nameOf(created)}\n`);
  else if (output === 'json') s.io.stdout.write(`${JSON.stringify(created, null, 2)}\n`);
  else if (output === 'yaml') s.io.stdout.write(toYaml(created));
  else s.io.stdout.write(`${nameOf(created)} exposed\n`);
}

/** addServiceCommands registers `expose` on program. */
export function addServiceCommands(program: Command, s: Session): void {
  program
    .command('expose')
    .summary('create a service for the pods of a deployment, replica set, pod or service')
    .description(
      "Create a Service that selects the pods of a deployment or replica set (its spec.selector.matchLabels), of a pod (its labels) or of another service (its selector), with one port. " +
        'The service is named after the object unless --name is given, and gets its labels. A selector with matchExpressions, or no labels to select by, is refused. ' +
        'Prints "service/NAME exposed"; with -o name, yaml or json, the service as created.',
    )
    .usage('TYPE/NAME --port PORT [options]')
    .argument('<object...>', 'deploy/NAME, rs/NAME, pod/NAME or svc/NAME (or TYPE NAME)')
    .requiredOption('--port <port>', 'the port the service serves (1 to 65535)')
    .option('--target-port <port>', "the pods' port: a number or the name of a container port (default: --port)")
    .option('--type <type>', 'ClusterIP, NodePort or LoadBalancer (default: ClusterIP)')
    .option('--name <name>', "the service's name (default: the object's name)")
    .option('--protocol <protocol>', 'TCP or UDP (default: TCP)')
    .option('--port-name <name>', "the port's name")
    .option('--node-port <port>', `with --type NodePort or LoadBalancer: the node port (${NODE_PORT_MIN} to ${NODE_PORT_MAX}; default: one the cluster picks)`)
    .addHelpText(
      'after',
      `
Examples:
  tug expose deploy/web --port 80 --target-port 8080
  tug expose deployment web --port 80 --type NodePort --node-port 30080
  tug expose deploy/dns --port 53 --protocol UDP --name dns-udp -n infra
  tug expose pod/debug --port 8080 --type LoadBalancer
  tug expose svc/web --port 443 --target-port https --port-name https --name web-tls`,
    )
    .action(async (args: string[], flags: ExposeFlags, cmd: Command) => exposeCommand(s.use(cmd), args, flags));
}
