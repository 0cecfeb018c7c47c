// table.ts: kubectl-like tables (columns per kind, -o wide), ages, and object names.
import { findKind, formatSelector } from '@tugboat/api';
import type {
  ConfigMap,
  Container,
  Deployment,
  Endpoints,
  Event,
  LabelSelector,
  Lease,
  Namespace,
  Node,
  Pod,
  ReplicaSet,
  Secret,
  Service,
} from '@tugboat/api';

/** Obj is an object as the API returns it (the typed kinds of @tugboat/api fit). */
export interface Obj {
  kind: string;
  metadata: { name?: string | undefined; namespace?: string | undefined; creationTimestamp?: string | undefined; uid?: string | undefined };
}

/**
 * humanAge writes a duration the way kubectl's AGE column does: seconds up to 2 minutes ("45s"),
 * minutes and seconds below 10 minutes ("5m30s", "5m"), minutes below 3 hours ("95m"), hours
 * and minutes below 8 hours ("3h20m"), hours below 2 days ("30h"), days and hours below 8 days
 * ("2d5h"), days below 2 years ("200d"), then years and days, and years from 8 years on.
 */
export function humanAge(ms: number): string {
  if (!Number.isFinite(ms)) return '<unknown>';
  if (ms < -1_000) return '<invalid>';
  const s = Math.max(0, Math.floor(ms / 1_000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 24 * 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  const y = Math.floor(d / 365);
  if (d < 365 * 8) return d % 365 === 0 ? `${y}y` : `${y}y${d % 365}d`;
  return `${y}y`;
}

/** ageOf is the age of a timestamp at `now` (ms since the epoch); "<unknown>" without one. */
export function ageOf(ts: unknown, now: number): string {
  if (typeof ts !== 'string' || ts === '') return '<unknown>';
  const t = Date.parse(ts);
  return Number.isNaN(t) ? '<unknown>' : humanAge(now - t);
}

/** typeName is how kubectl names a kind in "-o name" output: "pod", "deployment.apps". */
export function typeName(kind: string): string {
  const info = findKind(kind);
  if (info === undefined) return kind.toLowerCase();
  return info.group === '' ? info.singular : `${info.singular}.${info.group}`;
}

/** nameOf is an object's "-o name" form: "pod/web", "deployment.apps/web". */
export function nameOf(obj: { kind: string; metadata: { name?: string | undefined } }): string {
  return `${typeName(obj.kind)}/${obj.metadata.name ?? ''}`;
}

/** RowContext is what a row may read besides its object. */
export interface RowContext {
  /** nodeLeases are the node Leases (tug-node-lease) by Node name, when they were read: only
   *  then does a Node's STATUS judge the age of its heartbeat. */
  readonly nodeLeases?: ReadonlyMap<string, Lease> | undefined;
}

/** Column is one column of a kind's table. */
export interface Column {
  readonly header: string;
  /** wide columns show only with -o wide. */
  readonly wide?: boolean;
  readonly value: (obj: Obj, now: number, ctx: RowContext) => string;
}

const none = '<none>';

function orNone(s: string | undefined): string {
  return s === undefined || s === '' ? none : s;
}

function num(v: number | undefined): string {
  return String(v ?? 0);
}

function selectorOf(sel: LabelSelector | undefined): string {
  if (sel === undefined) return none;
  return orNone(formatSelector(sel));
}

function containersOf(cs: readonly Container[] | undefined): { names: string; images: string } {
  const list = cs ?? [];
  return { names: orNone(list.map((c) => c.name).join(',')), images: orNone(list.map((c) => c.image).join(',')) };
}

/** podStatus is the STATUS column of a pod, as kubectl words it. */
export function podStatus(p: Pod): string {
  if (p.metadata.deletionTimestamp !== undefined) return 'Terminating';
  const status = p.status ?? {};
  let reason: string = status.reason || status.phase || 'Pending';
  for (const cs of status.containerStatuses ?? []) {
    const waiting = cs.state?.waiting?.reason;
    const term = cs.state?.terminated;
    if (waiting !== undefined && waiting !== '') {
      reason = waiting;
      break;
    }
    if (term !== undefined && status.phase !== 'Succeeded' && status.phase !== 'Failed') {
      reason = term.reason || (term.signal ? `Signal:${term.signal}` : `ExitCode:${term.exitCode}`);
      break;
    }
  }
  if (reason === 'Pending' && (status.containerStatuses ?? []).length === 0 && p.spec.nodeName) reason = 'ContainerCreating';
  return reason;
}

/** servicePorts is the PORT(S) column: "80/TCP", "80:30080/TCP" with a nodePort, comma-joined. */
function servicePorts(s: Service): string {
  const ports = s.spec.ports ?? [];
  if (ports.length === 0) return none;
  return ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',');
}

/** loadBalancerIngress lists the addresses of status.loadBalancer.ingress (an IP, else a hostname). */
export function loadBalancerIngress(s: Service): string[] {
  return (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip || i.hostname || '').filter((a) => a !== '');
}

/** serviceExternalIP is the EXTERNAL-IP column: for a LoadBalancer its ingress addresses, or
 *  "<pending>" until it has one; "<none>" for the other types. */
export function serviceExternalIP(s: Service): string {
  if ((s.spec?.type ?? 'ClusterIP') !== 'LoadBalancer') return none;
  const ingress = loadBalancerIngress(s);
  return ingress.length === 0 ? '<pending>' : ingress.join(',');
}

/** ENDPOINTS_SHOWN_MAX: the ENDPOINTS column shows this many, then "+ N more...". */
const ENDPOINTS_SHOWN_MAX = 3;

/**
 * readyEndpoints lists the ready "ip:port" pairs of an Endpoints object, port by port within
 * each subset (a subset without ports gives bare IPs). `portName`, when given, keeps the ports
 * of that name only ("" for an unnamed port).
 */
export function readyEndpoints(e: Endpoints, portName?: string): string[] {
  const all: string[] = [];
  for (const s of e.subsets ?? []) {
    const addresses = s.addresses ?? [];
    const ports = s.ports ?? [];
    if (ports.length === 0 && portName === undefined) all.push(...addresses.map((a) => a.ip));
    for (const p of ports) {
      if (portName === undefined || (p.name ?? '') === portName) all.push(...addresses.map((a) => `${a.ip}:${p.port}`));
    }
  }
  return all;
}

/** endpointList is the ENDPOINTS column: the first ready pairs, "+ N more..." for the rest. */
function endpointList(e: Endpoints): string {
  const all = readyEndpoints(e);
  if (all.length === 0) return none;
  if (all.length <= ENDPOINTS_SHOWN_MAX) return all.join(',');
  return `${all.slice(0, ENDPOINTS_SHOWN_MAX).join(',')} + ${all.length - ENDPOINTS_SHOWN_MAX} more...`;
}

/** NODE_HEARTBEAT_STALE_MS: a Node whose heartbeat is older reads NotReady (the agent renews its
 *  Lease every few seconds; 40 s is the node-monitor grace period Kubernetes uses). */
export const NODE_HEARTBEAT_STALE_MS = 40_000;

/**
 * nodeHeartbeat is the time of a Node's last heartbeat: the later of its Lease's renewTime and
 * its Ready condition's lastHeartbeatTime (a Node without a Lease, of an older agent, has only
 * the latter); undefined when neither is there.
 */
export function nodeHeartbeat(n: Node, lease?: Lease): string | undefined {
  const times = [n.status?.conditions?.find((c) => c.type === 'Ready')?.lastHeartbeatTime, lease?.spec?.renewTime].filter(
    (t): t is string => t !== undefined && !Number.isNaN(Date.parse(t)),
  );
  return times.sort((a, b) => Date.parse(a) - Date.parse(b)).at(-1);
}

/** heartbeatStale tells whether the node's heartbeat (nodeHeartbeat) is older than NODE_HEARTBEAT_STALE_MS at `now`. */
export function heartbeatStale(n: Node, now: number, lease?: Lease): boolean {
  const beat = nodeHeartbeat(n, lease);
  return beat !== undefined && now - Date.parse(beat) > NODE_HEARTBEAT_STALE_MS;
}

/** nodeStatus is the STATUS column of a node: Ready, NotReady (Ready False or Unknown, or its
 *  heartbeat, with its Lease, stale at `now` when given) or Unknown (no Ready condition yet), then
 *  ",SchedulingDisabled" when cordoned. */
export function nodeStatus(n: Node, now?: number, lease?: Lease): string {
  const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
  let s = ready === undefined ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady';
  if (s === 'Ready' && now !== undefined && heartbeatStale(n, now, lease)) s = 'NotReady';
  if (n.spec?.unschedulable === true) s += ',SchedulingDisabled';
  return s;
}

/** nodeRoles reads the node-role.kubernetes.io/ROLE labels. */
export function nodeRoles(n: Node): string {
  const prefix = 'node-role.kubernetes.io/';
  const roles = Object.keys(n.metadata.labels ?? {})
    .filter((k) => k.startsWith(prefix))
    .map((k) => k.slice(prefix.length))
    .filter((r) => r !== '')
    .sort();
  return orNone(roles.join(','));
}

function nodeAddress(n: Node, type: string): string {
  return orNone(n.status?.addresses?.find((a) => a.type === type)?.address);
}

const nameCol: Column = { header: 'NAME', value: (o) => o.metadata.name ?? '' };
const ageCol: Column = { header: 'AGE', value: (o, now) => ageOf(o.metadata.creationTimestamp, now) };

/** COLUMNS are the table columns of each kind (NAMESPACE comes first with -A). */
export const COLUMNS: Readonly<Record<string, readonly Column[]>> = {
  Pod: [
    nameCol,
    {
      header: 'READY',
      value: (o) => {
        const p = o as unknown as Pod;
        const ready = (p.status?.containerStatuses ?? []).filter((c) => c.ready).length;
        return `${ready}/${(p.spec?.containers ?? []).length}`;
      },
    },
    { header: 'STATUS', value: (o) => podStatus(o as unknown as Pod) },
    {
      header: 'RESTARTS',
      value: (o) => String(((o as unknown as Pod).status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0)),
    },
    ageCol,
    { header: 'IP', wide: true, value: (o) => orNone((o as unknown as Pod).status?.podIP) },
    { header: 'NODE', wide: true, value: (o) => orNone((o as unknown as Pod).spec?.nodeName) },
  ],
  Deployment: [
    nameCol,
    {
      header: 'READY',
      value: (o) => {
        const d = o as unknown as Deployment;
        return `${num(d.status?.readyReplicas)}/${d.spec?.replicas ?? 1}`;
      },
    },
    { header: 'UP-TO-DATE', value: (o) => num((o as unknown as Deployment).status?.updatedReplicas) },
    { header: 'AVAILABLE', value: (o) => num((o as unknown as Deployment).status?.availableReplicas) },
    ageCol,
    { header: 'CONTAINERS', wide: true, value: (o) => containersOf((o as unknown as Deployment).spec?.template?.spec?.containers).names },
    { header: 'IMAGES', wide: true, value: (o) => containersOf((o as unknown as Deployment).spec?.template?.spec?.containers).images },
    { header: 'SELECTOR', wide: true, value: (o) => selectorOf((o as unknown as Deployment).spec?.selector) },
  ],
  ReplicaSet: [
    nameCol,
    { header: 'DESIRED', value: (o) => String((o as unknown as ReplicaSet).spec?.replicas ?? 1) },
    { header: 'CURRENT', value: (o) => num((o as unknown as ReplicaSet).status?.replicas) },
    { header: 'READY', value: (o) => num((o as unknown as ReplicaSet).status?.readyReplicas) },
    ageCol,
    { header: 'CONTAINERS', wide: true, value: (o) => containersOf((o as unknown as ReplicaSet).spec?.template?.spec?.containers).names },
    { header: 'IMAGES', wide: true, value: (o) => containersOf((o as unknown as ReplicaSet).spec?.template?.spec?.containers).images },
    { header: 'SELECTOR', wide: true, value: (o) => selectorOf((o as unknown as ReplicaSet).spec?.selector) },
  ],
  Service: [
    nameCol,
    { header: 'TYPE', value: (o) => (o as unknown as Service).spec?.type ?? 'ClusterIP' },
    { header: 'CLUSTER-IP', value: (o) => orNone((o as unknown as Service).spec?.clusterIP) },
    { header: 'EXTERNAL-IP', value: (o) => serviceExternalIP(o as unknown as Service) },
    { header: 'PORT(S)', value: (o) => servicePorts(o as unknown as Service) },
    ageCol,
    {
      header: 'SELECTOR',
      wide: true,
      value: (o) => {
        const sel = (o as unknown as Service).spec?.selector;
        return sel === undefined ? none : orNone(formatSelector({ matchLabels: sel }));
      },
    },
  ],
  Endpoints: [nameCol, { header: 'ENDPOINTS', value: (o) => endpointList(o as unknown as Endpoints) }, ageCol],
  ConfigMap: [
    nameCol,
    {
      header: 'DATA',
      value: (o) => {
        const c = o as unknown as ConfigMap;
        return String(Object.keys(c.data ?? {}).length + Object.keys(c.binaryData ?? {}).length);
      },
    },
    ageCol,
  ],
  Secret: [
    nameCol,
    { header: 'TYPE', value: (o) => (o as unknown as Secret).type ?? 'Opaque' },
    { header: 'DATA', value: (o) => String(Object.keys((o as unknown as Secret).data ?? {}).length) },
    ageCol,
  ],
  Namespace: [nameCol, { header: 'STATUS', value: (o) => (o as unknown as Namespace).status?.phase ?? 'Active' }, ageCol],
  Node: [
    nameCol,
    {
      header: 'STATUS',
      // Without the Leases the age of a heartbeat says nothing: the status is written only now and then.
      value: (o, now, ctx) => {
        const n = o as unknown as Node;
        return ctx.nodeLeases === undefined ? nodeStatus(n) : nodeStatus(n, now, ctx.nodeLeases.get(n.metadata.name ?? ''));
      },
    },
    { header: 'ROLES', value: (o) => nodeRoles(o as unknown as Node) },
    ageCol,
    { header: 'VERSION', value: (o) => orNone((o as unknown as Node).status?.nodeInfo?.kubeletVersion) },
    { header: 'INTERNAL-IP', wide: true, value: (o) => nodeAddress(o as unknown as Node, 'InternalIP') },
    { header: 'POD-CIDR', wide: true, value: (o) => orNone((o as unknown as Node).spec?.podCIDR) },
    { header: 'OS-IMAGE', wide: true, value: (o) => orNone((o as unknown as Node).status?.nodeInfo?.osImage) },
    { header: 'KERNEL-VERSION', wide: true, value: (o) => orNone((o as unknown as Node).status?.nodeInfo?.kernelVersion) },
    { header: 'CONTAINER-RUNTIME', wide: true, value: (o) => orNone((o as unknown as Node).status?.nodeInfo?.containerRuntimeVersion) },
  ],
  Event: [
    {
      header: 'LAST SEEN',
      value: (o, now) => {
        const e = o as unknown as Event;
        const age = ageOf(e.lastTimestamp ?? e.firstTimestamp ?? e.metadata.creationTimestamp, now);
        // An event seen several times says how often, and since when.
        return (e.count ?? 1) > 1 && e.firstTimestamp !== undefined ? `${age} (x${e.count} over ${ageOf(e.firstTimestamp, now)})` : age;
      },
    },
    { header: 'TYPE', value: (o) => (o as unknown as Event).type ?? 'Normal' },
    { header: 'REASON', value: (o) => (o as unknown as Event).reason ?? '' },
    {
      header: 'OBJECT',
      value: (o) => {
        const io = (o as unknown as Event).involvedObject ?? {};
        return `${(io.kind ?? '').toLowerCase()}/${io.name ?? ''}`;
      },
    },
    { header: 'MESSAGE', value: (o) => ((o as unknown as Event).message ?? '').replace(/\s*\n\s*/g, ' ') },
  ],
  Lease: [
    nameCol,
    { header: 'HOLDER', value: (o) => orNone((o as unknown as Lease).spec?.holderIdentity) },
    { header: 'RENEWED', value: (o, now) => ageOf((o as unknown as Lease).spec?.renewTime, now) },
    ageCol,
  ],
};

const genericColumns: readonly Column[] = [nameCol, ageCol];

/** TableOptions shape a table. */
export interface TableOptions extends RowContext {
  readonly wide: boolean;
  /** withNamespace adds the NAMESPACE column first (-A). */
  readonly withNamespace: boolean;
  /** withKind writes NAME as "service/web" (the -o name form), as when several kinds are listed. Default: false. */
  readonly withKind?: boolean;
  readonly now: number;
}

/** columnsFor returns the columns of a kind's table. */
export function columnsFor(kind: string, opts: Pick<TableOptions, 'wide' | 'withNamespace' | 'withKind'>): Column[] {
  let cols = (COLUMNS[kind] ?? genericColumns).filter((c) => opts.wide || c.wide !== true);
  if (opts.withKind === true) cols = cols.map((c) => (c === nameCol ? { header: 'NAME', value: (o: Obj) => nameOf(o) } : c));
  return opts.withNamespace ? [{ header: 'NAMESPACE', value: (o) => o.metadata.namespace ?? '' }, ...cols] : cols;
}

/** Table lays out rows in columns three spaces apart; widths only grow, so rows printed later
 *  (get -w) line up with the header. */
export class Table {
  readonly columns: readonly Column[];
  private readonly widths: number[];
  private readonly now: number;
  private readonly ctx: RowContext;

  constructor(columns: readonly Column[], now: number, ctx: RowContext = {}) {
    this.columns = columns;
    this.widths = columns.map((c) => c.header.length);
    this.now = now;
    this.ctx = ctx;
  }

  /** cells computes a row's cells. */
  cells(obj: Obj, now = this.now): string[] {
    return this.columns.map((c) => c.value(obj, now, this.ctx));
  }

  /** render lays out the header (when asked) and rows, each line ending in "\n". */
  render(rows: readonly string[][], header: boolean): string {
    const all = header ? [this.columns.map((c) => c.header), ...rows] : rows;
    for (const r of all) r.forEach((cell, i) => (this.widths[i] = Math.max(this.widths[i] ?? 0, cell.length)));
    return all.map((r) => this.line(r)).join('');
  }

  private line(cells: readonly string[]): string {
    const last = cells.length - 1;
    return `${cells.map((cell, i) => (i === last ? cell : cell.padEnd(this.widths[i] ?? 0))).join('   ').trimEnd()}\n`;
  }
}

/** renderTable renders objects of one kind as a complete table. */
export function renderTable(kind: string, objs: readonly Obj[], opts: TableOptions): string {
  const table = new Table(columnsFor(kind, opts), opts.now, opts);
  return table.render(
    objs.map((o) => table.cells(o)),
    true,
  );
}
