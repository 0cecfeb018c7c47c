// controllers.ts: the control loops tug-control runs while it leads (see LeaderLoops in
// @tugboat/controllers). Each is a level-triggered reconcile loop over the term's shared
// informers; their order here is the order they start in.
import type { Controller } from '@tugboat/controllers';
import { NodeLifecycleController } from '@tugboat/controllers';
import { DeploymentController, EndpointsController, GarbageCollector, ReplicaSetController, ServiceLoadBalancerController } from '@tugboat/controllers';
import { Scheduler } from '@tugboat/scheduler';

/** NODE_IPAM is the name of the node IPAM loop (node-ipam-loop.ts), which runs beside the controllers. */
export const NODE_IPAM = 'node-ipam';

/** controllers returns a fresh set of the control loops whose names `enabled` accepts. */
export function controllers(enabled: (name: string) => boolean = () => true): Controller[] {
  const all: Controller[] = [
    new Scheduler(),
    new EndpointsController(),
    new NodeLifecycleController(),
    new ReplicaSetController(),
    new DeploymentController(),
    new GarbageCollector(),
    new ServiceLoadBalancerController(),
  ];
  return all.filter((c) => enabled(c.name));
}

/** LOOP_NAMES are the names of every leader-only loop, as --controllers takes them. */
export const LOOP_NAMES: readonly string[] = [...controllers().map((c) => c.name), NODE_IPAM];
