// service-lb.ts: LoadBalancer Services on machines without a cloud, served the way k3s's
// ServiceLB serves them: every node answers on the service's own port at its address (the
// agents' proxy rules), and status.loadBalancer.ingress lists the InternalIP of every Ready
// node, so a client can use any of them. This controller keeps that status: it wakes on
// Service changes and on Node changes (a node turning NotReady leaves the list), and writes
// the status (status-only, compare-and-swap) only when it differs. A Service that stops being
// a LoadBalancer has its ingress list cleared.
import type { LoadBalancerIngress, Node, Service, ServiceStatus } from '@tugboat/api';
import { isNotFound } from '@tugboat/client';
import type { Informer } from '@tugboat/client';
import type { Controller, ControllerContext } from './runtime/index.ts';
import { WorkQueue } from './runtime/index.ts';
import { readyCondition } from './node-health.ts';
import { reportSyncError, waitForSyncOrAbort } from './loop.ts';

/** loadBalancerIngress lists the InternalIP of every Ready node, sorted. */
export function loadBalancerIngress(nodes: readonly Node[]): LoadBalancerIngress[] {
  const ips = new Set<string>();
  for (const n of nodes) {
    if (readyCondition(n)?.status !== 'True') continue;
    const ip = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    if (ip !== undefined && ip !== '') ips.add(ip);
  }
  return [...ips].sort().map((ip) => ({ ip }));
}

/** loadBalancerStatus is the status a Service should have given the nodes (undefined fields: none). */
export function loadBalancerStatus(svc: Service, nodes: readonly Node[]): ServiceStatus {
  const { loadBalancer: _, ...rest } = svc.status ?? {};
  if (svc.spec.type !== 'LoadBalancer') return rest;
  return { ...rest, loadBalancer: { ingress: loadBalancerIngress(nodes) } };
}

function sameStatus(a: ServiceStatus | undefined, b: ServiceStatus): boolean {
  const ips = (s: ServiceStatus | undefined): string | undefined => s?.loadBalancer?.ingress?.map((i) => i.ip ?? i.hostname ?? '').join(',');
  return ips(a) === ips(b) && (a?.loadBalancer === undefined) === (b.loadBalancer === undefined);
}

/** ServiceLoadBalancerController keeps status.loadBalancer of LoadBalancer Services. */
export class ServiceLoadBalancerController implements Controller {
  readonly name = 'service-lb';

  async run(ctx: ControllerContext): Promise<void> {
    const queue = new WorkQueue();
    const services: Informer<Service> = ctx.informers.informer('Service');
    const nodes: Informer<Node> = ctx.informers.informer('Node');
    const wakeAll = (): void => {
      for (const s of services.list((x) => x.spec.type === 'LoadBalancer' || x.status?.loadBalancer !== undefined)) queue.add(`${s.metadata.namespace ?? ''}/${s.metadata.name ?? ''}`);
    };
    const removers = [services.addHandler((key) => queue.add(key)), nodes.addHandler(wakeAll)];
    try {
      if (!(await waitForSyncOrAbort(ctx, 'Service', 'Node'))) return;
      wakeAll();
      await queue.run(
        ctx.signal,
        2,
        async (key) => {
          const svc = services.get(key);
          if (svc === undefined) return;
          const status = loadBalancerStatus(svc, nodes.list());
          if (sameStatus(svc.status, status)) return;
          try {
            await ctx.client.services.updateStatus({ ...structuredClone(svc), status });
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
        },
        (key, err, retryInMs) => reportSyncError(ctx, key, err, retryInMs),
      );
    } finally {
      for (const remove of removers) remove();
    }
  }
}
