// controllers.ts: the control loops tug-control runs while it leads (see LeaderLoops in
// @tugboat/controllers). Each is a level-triggered reconcile loop over the term's shared
// informers; their order here is the order they start in.
import type { Controller } from '@tugboat/controllers';
import { NodeLifecycleController } from '@tugboat/controllers';
import { DeploymentController, EndpointsController, GarbageCollector, ReplicaSetController, ServiceLoadBalancerController } from '@tugboat/controllers';
import { Scheduler } from '@tugboat/scheduler';

/** controllers returns a fresh set of the control loops. */
export function controllers(): Controller[] {
  return [
    new Scheduler(),
    new EndpointsController(),
    new NodeLifecycleController(),
    new ReplicaSetController(),
    new DeploymentController(),
    new GarbageCollector(),
    new ServiceLoadBalancerController(),
  ];
}
