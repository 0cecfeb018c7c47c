// describe.ts: `tug describe`: a readable, multi-section view of one object, ending with the
// Events that name it.
import { formatSelector, isNamespaced, isKind } from '@tugboat/api';
import type {
  ConfigMap,
  Container,
  ContainerState,
  Deployment,
  Endpoints,
  Event,
  Lease,
  Namespace,
  Node,
  ObjectMeta,
  Pod,
  PodTemplateSpec,
  ReplicaSet,
  Secret,
  Service,
} from '@tugboat/api';
import { LAST_APPLIED } from './manifests.ts';
import { ageOf, heartbeatStale, humanAge, loadBalancerIngress, nodeHeartbeat, nodeRoles, nodeStatus, podStatus, readyEndpoints } from './table.ts';
import type { Obj } from './table.ts';

const none = '<none>';

/** Lines collects "Label:  value" lines, aligned per block, with nesting by indent. */
class Lines {
  private readonly out: string[] = [];
  private block: { indent: number; label: string; value: string }[] = [];

  /** field adds "label: value"; a multi-line value continues under the value column. */
  field(label: string, value: string | number | boolean | undefined, indent = 0): void {
    this.block.push({ indent, label: `${label}:`, value: value === undefined || value === '' ? none : String(value) });
  }

  /** heading adds a line on its own ("Containers:"). */
  heading(text: string, indent = 0): void {
    this.flush();
    this.out.push(`${' '.repeat(indent)}${text}`);
  }

  /** text adds lines as they are, indented. */
  text(text: string, indent = 0): void {
    this.flush();
    for (const l of text.split('\n')) this.out.push(`${' '.repeat(indent)}${l}`);
  }

  /** map adds "label: k=v" lines, one per key ("<none>" when empty). */
  map(label: string, m: Readonly<Record<string, string>> | undefined, indent = 0, sep = '='): void {
    const entries = Object.entries(m ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    this.field(label, entries.length === 0 ? none : entries.map(([k, v]) => `${k}${sep}${v}`).join('\n'), indent);
  }

  private flush(): void {
    const width = Math.max(0, ...this.block.map((f) => f.indent + f.label.length)) + 2;
    for (const f of this.block) {
      const [first, ...rest] = f.value.split('\n');
      this.out.push(`${' '.repeat(f.indent)}${f.label.padEnd(width - f.indent)}${first}`.trimEnd());
      for (const r of rest) this.out.push(`${' '.repeat(width)}${r}`);
    }
    this.block = [];
  }

  toString(): string {
    this.flush();
    return `${this.out.join('\n')}\n`;
  }
}

/** Extras are what describe reads besides the object (best-effort). */
export interface DescribeExtras {
  /** events naming the object; undefined when they could not be read. */
  readonly events: readonly Event[] | undefined;
  /** endpoints of a Service, pods of a Node. */
  readonly related?: readonly Obj[] | undefined;
  /** the Lease of a Node (its heartbeat), when it has one. */
  readonly lease?: Lease | undefined;
}

function time(ts: string | undefined, now: number): string {
  return ts === undefined || ts === '' ? none : `${ts} (${ageOf(ts, now)} ago)`;
}

/** deadline is a time that may lie ahead (a deletion time): "(in 25s)" or "(3s ago)". */
function deadline(ts: string, now: number): string {
  const t = Date.parse(ts);
  if (Number.isNaN(t)) return ts;
  return t > now ? `${ts} (in ${humanAge(t - now)})` : `${ts} (${humanAge(now - t)} ago)`;
}

function metadata(l: Lines, kind: string, meta: ObjectMeta, now: number): void {
  l.field('Name', meta.name);
  if (isKind(kind) && isNamespaced(kind)) l.field('Namespace', meta.namespace);
  l.map('Labels', meta.labels);
  const annotations = { ...meta.annotations };
  delete annotations[LAST_APPLIED];
  l.map('Annotations', annotations, 0, ': ');
  l.field('Created', time(meta.creationTimestamp, now));
  if (meta.deletionTimestamp !== undefined) {
    l.field('Deletion Time', deadline(meta.deletionTimestamp, now));
    if (meta.deletionGracePeriodSeconds !== undefined) l.field('Deletion Grace', `${meta.deletionGracePeriodSeconds}s`);
  }
  const owner = meta.ownerReferences?.find((o) => o.controller === true);
  if (owner !== undefined) l.field('Controlled By', `${owner.kind}/${owner.name}`);
}

function stateText(s: ContainerState | undefined): string {
  if (s?.running !== undefined) return `Running\n  Started: ${s.running.startedAt ?? none}`;
  if (s?.terminated !== undefined) {
    const t = s.terminated;
    return `Terminated\n  Reason: ${t.reason ?? none}\n  Exit Code: ${t.exitCode}\n  Started: ${t.startedAt ?? none}\n  Finished: ${t.finishedAt ?? none}`;
  }
  if (s?.waiting !== undefined) return `Waiting\n  Reason: ${s.waiting.reason ?? none}${s.waiting.message ? `\n  Message: ${s.waiting.message}` : ''}`;
  return none;
}

function containers(l: Lines, list: readonly Container[] | undefined, pod: Pod | undefined, indent: number): void {
  l.heading('Containers:', indent);
  for (const c of list ?? []) {
    l.heading(`${c.name}:`, indent + 2);
    const i = indent + 4;
    const st = pod?.status?.containerStatuses?.find((s) => s.name === c.name);
    l.field('Image', c.image, i);
    if (c.command !== undefined) l.field('Command', c.command.join('\n'), i);
    if (c.args !== undefined) l.field('Args', c.args.join('\n'), i);
    l.field('Ports', (c.ports ?? []).map((p) => `${p.containerPort}/${p.protocol ?? 'TCP'}${p.name ? ` (${p.name})` : ''}`).join(', '), i);
    if (pod !== undefined) {
      l.field('State', stateText(st?.state), i);
      if (st?.lastState !== undefined && Object.keys(st.lastState).length > 0) l.field('Last State', stateText(st.lastState), i);
      l.field('Ready', st?.ready ?? false, i);
      l.field('Restart Count', st?.restartCount ?? 0, i);
    }
    if (c.resources?.limits !== undefined) l.map('Limits', c.resources.limits, i, ': ');
    if (c.resources?.requests !== undefined) l.map('Requests', c.resources.requests, i, ': ');
    const env = (c.env ?? []).map((e) => `${e.name}=${e.value ?? (e.valueFrom !== undefined ? '<set from a reference>' : '')}`);
    l.field('Environment', env.join('\n'), i);
    l.field('Mounts', (c.volumeMounts ?? []).map((m) => `${m.mountPath} from ${m.name}${m.readOnly ? ' (ro)' : ''}`).join('\n'), i);
  }
}

function template(l: Lines, t: PodTemplateSpec | undefined): void {
  l.heading('Pod Template:');
  l.map('Labels', t?.metadata?.labels, 2);
  if (Object.keys(t?.metadata?.annotations ?? {}).length > 0) l.map('Annotations', t?.metadata?.annotations, 2, ': ');
  containers(l, t?.spec?.containers, undefined, 2);
}

/** describeTemplate renders a pod template as describe shows it ("Pod Template:" and below). */
export function describeTemplate(t: PodTemplateSpec): string {
  const l = new Lines();
  template(l, t);
  return l.toString();
}

function conditions(l: Lines, list: readonly { type: string; status: string; reason?: string; message?: string }[] | undefined): void {
  if (list === undefined || list.length === 0) return;
  l.heading('Conditions:');
  const w = Math.max(4, ...list.map((c) => c.type.length));
  l.text(`${'Type'.padEnd(w)}   Status   Reason`, 2);
  for (const c of list) l.text(`${c.type.padEnd(w)}   ${c.status.padEnd(6)}   ${c.reason ?? ''}`.trimEnd(), 2);
}

function eventsSection(l: Lines, events: readonly Event[] | undefined, now: number): void {
  if (events === undefined) {
    l.field('Events', '<unavailable>');
    return;
  }
  if (events.length === 0) {
    l.field('Events', none);
    return;
  }
  l.heading('Events:');
  const rows = events.map((e) => [
    e.type ?? 'Normal',
    e.reason ?? '',
    ageOf(e.lastTimestamp ?? e.firstTimestamp ?? e.metadata.creationTimestamp, now),
    e.source?.component ?? '',
    (e.message ?? '').replace(/\s*\n\s*/g, ' '),
  ]);
  columns(l, ['Type', 'Reason', 'Age', 'From', 'Message'], rows, 2);
}

/** columns adds a small table: the header, a line of dashes under each heading, the rows. */
function columns(l: Lines, header: readonly string[], rows: readonly string[][], indent: number): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('   ');
  l.text(line(header), indent);
  l.text(line(header.map((h) => '-'.repeat(h.length))), indent);
  for (const r of rows) l.text(line(r), indent);
}

/** describe renders one object. `now` is ms since the epoch. */
export function describe(obj: Obj, extras: DescribeExtras, now: number): string {
  const l = new Lines();
  const meta = obj.metadata as ObjectMeta;
  metadata(l, obj.kind, meta, now);
  switch (obj.kind) {
    case 'Pod': {
      const p = obj as unknown as Pod;
      l.field('Node', p.spec.nodeName);
      l.field('Start Time', p.status?.startTime);
      l.field('Status', podStatus(p));
      if (p.status?.reason) l.field('Reason', p.status.reason);
      if (p.status?.message) l.field('Message', p.status.message);
      l.field('IP', p.status?.podIP);
      l.field('Restart Policy', p.spec.restartPolicy);
      containers(l, p.spec.containers, p, 0);
      conditions(l, p.status?.conditions);
      l.heading('Volumes:');
      if ((p.spec.volumes ?? []).length === 0) l.text(none, 2);
      for (const v of p.spec.volumes ?? []) {
        const type = v.configMap ? `ConfigMap ${v.configMap.name}` : v.secret ? `Secret ${v.secret.secretName}` : v.hostPath ? `HostPath ${v.hostPath.path}` : 'EmptyDir';
        l.text(`${v.name}: ${type}`, 2);
      }
      l.map('Node-Selectors', p.spec.nodeSelector);
      l.field('Tolerations', (p.spec.tolerations ?? []).map((t) => `${t.key ?? '<all>'}${t.value ? `=${t.value}` : ''}${t.effect ? `:${t.effect}` : ''}`).join('\n'));
      break;
    }
    case 'Deployment': {
      const d = obj as unknown as Deployment;
      const st = d.status ?? {};
      l.field('Selector', formatSelector(d.spec.selector));
      l.field(
        'Replicas',
        `${d.spec.replicas ?? 1} desired | ${st.updatedReplicas ?? 0} updated | ${st.replicas ?? 0} total | ${st.availableReplicas ?? 0} available | ${st.unavailableReplicas ?? 0} unavailable`,
      );
      l.field('StrategyType', d.spec.strategy?.type ?? 'RollingUpdate');
      l.field('MinReadySeconds', d.spec.minReadySeconds ?? 0);
      const ru = d.spec.strategy?.rollingUpdate;
      if (ru !== undefined) l.field('RollingUpdateStrategy', `${ru.maxUnavailable ?? '25%'} max unavailable, ${ru.maxSurge ?? '25%'} max surge`);
      template(l, d.spec.template);
      conditions(l, st.conditions);
      break;
    }
    case 'ReplicaSet': {
      const r = obj as unknown as ReplicaSet;
      l.field('Selector', formatSelector(r.spec.selector));
      l.field('Replicas', `${r.status?.replicas ?? 0} current / ${r.spec.replicas ?? 1} desired`);
      l.field('Ready', `${r.status?.readyReplicas ?? 0} ready / ${r.status?.availableReplicas ?? 0} available`);
      template(l, r.spec.template);
      conditions(l, r.status?.conditions);
      break;
    }
    case 'Service': {
      const s = obj as unknown as Service;
      const type = s.spec.type ?? 'ClusterIP';
      l.field('Selector', s.spec.selector === undefined ? undefined : formatSelector({ matchLabels: s.spec.selector }));
      l.field('Type', type);
      l.field('IP', s.spec.clusterIP);
      l.field('IPs', (s.spec.clusterIPs ?? (s.spec.clusterIP ? [s.spec.clusterIP] : [])).join(','));
      if (type === 'LoadBalancer') {
        const ingress = loadBalancerIngress(s);
        l.field('LoadBalancer Ingress', ingress.length === 0 ? '<pending>' : ingress.join(', '));
      }
      // Each port is a block of its own: Port, TargetPort, NodePort (when it has one) and the
      // ready endpoints of the port of the same name in the service's Endpoints.
      const ep = extras.related?.find((o) => o.kind === 'Endpoints') as unknown as Endpoints | undefined;
      for (const p of s.spec.ports ?? []) {
        const protocol = p.protocol ?? 'TCP';
        const name = p.name || '<unset>';
        l.field('Port', `${name}  ${p.port}/${protocol}`);
        l.field('TargetPort', `${p.targetPort ?? p.port}/${protocol}`);
        if (p.nodePort) l.field('NodePort', `${name}  ${p.nodePort}/${protocol}`);
        l.field('Endpoints', ep === undefined ? undefined : readyEndpoints(ep, p.name ?? '').join(','));
      }
      const affinity = s.spec.sessionAffinity ?? 'None';
      const timeout = s.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
      l.field('Session Affinity', affinity === 'ClientIP' && timeout !== undefined ? `ClientIP (timeout ${timeout}s)` : affinity);
      break;
    }
    case 'Endpoints': {
      const e = obj as unknown as Endpoints;
      l.heading('Subsets:');
      if ((e.subsets ?? []).length === 0) l.text(none, 2);
      for (const s of e.subsets ?? []) {
        l.field('Addresses', (s.addresses ?? []).map((a) => a.ip).join(','), 2);
        l.field('NotReadyAddresses', (s.notReadyAddresses ?? []).map((a) => a.ip).join(','), 2);
        if ((s.ports ?? []).length === 0) {
          l.field('Ports', none, 2);
          continue;
        }
        l.heading('Ports:', 2);
        columns(
          l,
          ['Name', 'Port', 'Protocol'],
          (s.ports ?? []).map((p) => [p.name || '<unset>', String(p.port), p.protocol ?? 'TCP']),
          4,
        );
      }
      break;
    }
    case 'ConfigMap': {
      const c = obj as unknown as ConfigMap;
      l.heading('Data');
      l.heading('====');
      for (const [k, v] of Object.entries(c.data ?? {})) {
        l.heading(`${k}:`);
        l.heading('----');
        l.text(v);
      }
      if (c.binaryData !== undefined) {
        l.heading('BinaryData');
        l.heading('====');
        for (const [k, v] of Object.entries(c.binaryData)) l.text(`${k}: ${Buffer.from(v, 'base64').length} bytes`);
      }
      break;
    }
    case 'Secret': {
      const s = obj as unknown as Secret;
      l.field('Type', s.type ?? 'Opaque');
      l.heading('Data');
      l.heading('====');
      for (const [k, v] of Object.entries(s.data ?? {})) l.text(`${k}:  ${Buffer.from(v, 'base64').length} bytes`);
      break;
    }
    case 'Namespace':
      l.field('Status', (obj as unknown as Namespace).status?.phase ?? 'Active');
      break;
    case 'Node': {
      const n = obj as unknown as Node;
      l.field('Roles', nodeRoles(n));
      const lease = extras.lease;
      l.field('Status', nodeStatus(n, now, lease));
      const beat = nodeHeartbeat(n, lease);
      l.field('Heartbeat', beat === undefined ? undefined : `${time(beat, now)}${heartbeatStale(n, now, lease) ? ' (stale)' : ''}`);
      l.field('Taints', (n.spec?.taints ?? []).map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`).join('\n'));
      l.field('Unschedulable', n.spec?.unschedulable ?? false);
      l.field('PodCIDR', n.spec?.podCIDR);
      if (lease !== undefined) {
        // As kubectl shows it: the agent renews the Lease as its heartbeat.
        const at = (t: string | undefined) => (t === undefined ? '<unset>' : time(t, now));
        l.heading('Lease:');
        l.field('HolderIdentity', lease.spec?.holderIdentity ?? '<unset>', 2);
        l.field('AcquireTime', at(lease.spec?.acquireTime), 2);
        l.field('RenewTime', at(lease.spec?.renewTime), 2);
      }
      conditions(l, n.status?.conditions);
      l.heading('Addresses:');
      for (const a of n.status?.addresses ?? []) l.text(`${a.type}: ${a.address}`, 2);
      const agentPort = n.status?.daemonEndpoints?.agentEndpoint?.port;
      const internalIP = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
      l.field('Agent Endpoint', agentPort === undefined ? undefined : `${internalIP ?? '<unknown>'}:${agentPort}`);
      l.map('Capacity', n.status?.capacity, 0, ': ');
      l.map('Allocatable', n.status?.allocatable, 0, ': ');
      const info = n.status?.nodeInfo;
      if (info !== undefined) {
        l.heading('System Info:');
        for (const [k, v] of Object.entries(info)) l.field(k, v, 2);
      }
      const pods = (extras.related ?? []) as unknown as Pod[];
      l.heading(`Pods: (${pods.length} in total)`);
      for (const p of pods) l.text(`${p.metadata.namespace}/${p.metadata.name}  ${podStatus(p)}`, 2);
      break;
    }
    case 'Lease': {
      const spec = (obj as unknown as Lease).spec ?? {};
      l.field('Holder Identity', spec.holderIdentity);
      l.field('Lease Duration Seconds', spec.leaseDurationSeconds);
      l.field('Acquire Time', time(spec.acquireTime, now));
      l.field('Renew Time', time(spec.renewTime, now));
      l.field('Lease Transitions', spec.leaseTransitions);
      break;
    }
    case 'Event': {
      const e = obj as unknown as Event;
      const io = e.involvedObject;
      l.field('Object', `${io.kind ?? ''}/${io.name ?? ''}${io.namespace ? ` in ${io.namespace}` : ''}`);
      l.field('Type', e.type ?? 'Normal');
      l.field('Reason', e.reason);
      l.field('Message', e.message);
      l.field('Source', e.source?.component);
      l.field('Count', e.count ?? 1);
      l.field('First Seen', time(e.firstTimestamp, now));
      l.field('Last Seen', time(e.lastTimestamp, now));
      break;
    }
    default:
      break;
  }
  if (obj.kind !== 'Event') eventsSection(l, extras.events, now);
  return l.toString();
}

/** eventsFor keeps the events about one object, oldest first. */
export function eventsFor(events: readonly Event[], obj: Obj): Event[] {
  const uid = obj.metadata.uid;
  return events
    .filter((e) => {
      const io = e.involvedObject ?? {};
      if (io.kind !== obj.kind || io.name !== obj.metadata.name) return false;
      if ((io.namespace ?? '') !== (obj.metadata.namespace ?? '') && io.namespace !== undefined) return false;
      return io.uid === undefined || uid === undefined || io.uid === uid;
    })
    .sort((a, b) => {
      const ta = a.lastTimestamp ?? a.firstTimestamp ?? a.metadata.creationTimestamp ?? '';
      const tb = b.lastTimestamp ?? b.firstTimestamp ?? b.metadata.creationTimestamp ?? '';
      return ta < tb ? -1 : ta > tb ? 1 : 0;
    });
}
