/** @tugboat/controllers: the control plane's reconcile logic (leader-only loops use it). */
export { assignPodCidrs, unassignable } from './node-ipam.ts';
export { NodeLifecycleController } from './node-lifecycle.ts';
export {
  TAINT_NOT_READY,
  TAINT_UNREACHABLE,
  assessNode,
  evictionAtMs,
  healthTaints,
  planEvictions,
  tolerates,
} from './node-health.ts';
export type { NodeAssessment, NodeHealth, EvictionPlan } from './node-health.ts';
export { ReplicaSetController } from './replicaset-controller.ts';
export type { ReplicaSetControllerOptions } from './replicaset-controller.ts';
export { DeploymentController } from './deployment-controller.ts';
export type { DeploymentControllerOptions } from './deployment-controller.ts';
export { GarbageCollector } from './garbage-collector.ts';
export { EndpointsController } from './endpoints-controller.ts';
export type { EndpointsControllerOptions } from './endpoints-controller.ts';
export { desiredEndpoints, endpointSubsets, isManagedService, resolveTargetPort, sameEndpoints, selects } from './endpoints-plan.ts';
export { ServiceLoadBalancerController, loadBalancerIngress, loadBalancerStatus } from './service-lb.ts';
export type { GarbageCollectorOptions } from './garbage-collector.ts';
export * from './workloads.ts';
export * from './runtime/index.ts';
