// workloads.ts: the pure parts of the ReplicaSet and Deployment controllers and the garbage
// collector, exported for the CLI (rollout history, revision names) and for tests.
export { controllerRefOf, controllerRefTo, claimOf, withOwner, withoutOwner } from './owner-refs.ts';
export type { Claim, Owner } from './owner-refs.ts';
export { isPodActive, isPodAvailable, isPodReady, isPodTerminating, msUntilAvailable, restartCount } from './pod-readiness.ts';
export { slowStart, slowStartBatches } from './slow-start.ts';
export type { SlowStartResult } from './slow-start.ts';
export { Expectations } from './expectations.ts';
export { BURST_REPLICAS, planReplicaSet, podDeletionOrder, podFromTemplate, replicaSetStatus, sameReplicaSetStatus } from './replicaset-plan.ts';
export type { ReplicaSetPlan, ReplicaSetStatusResult } from './replicaset-plan.ts';
export {
  CHANGE_CAUSE_ANNOTATION,
  DESIRED_REPLICAS_ANNOTATION,
  MAX_REPLICAS_ANNOTATION,
  POD_TEMPLATE_HASH_LABEL,
  REVISION_ANNOTATION,
  availableOf,
  byAge,
  deploymentStatus,
  fenceposts,
  findNewReplicaSet,
  isDeploymentComplete,
  isScalingEvent,
  maxSurge,
  maxUnavailable,
  needsReplicasAnnotations,
  newReplicaSetAnnotations,
  newReplicaSetFor,
  newReplicaSetTarget,
  nextRevision,
  oldReplicaSetScaleDowns,
  recreateStep,
  replicaSetsToPrune,
  replicasAnnotations,
  resolveIntOrPercent,
  revisionOf,
  sameDeploymentStatus,
  sameTemplate,
  scalingActions,
  setCondition,
  templateHash,
} from './deployment-plan.ts';
export type { DeploymentStatusResult, RecreateStep, ScaleAction, StatusEvent } from './deployment-plan.ts';
export { ownersToVerify, ownerRefText } from './garbage.ts';
export type { OwnerLookup } from './garbage.ts';
