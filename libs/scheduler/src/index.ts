/**
 * @tugboat/scheduler: places pending pods on nodes. The placement logic (schedulePod over a
 * Snapshot, with its filters and scores) is pure; Scheduler is the leader-only loop that feeds
 * it from the watch caches and binds by compare-and-swap.
 */
export { Scheduler } from './scheduler.ts';
export type { SchedulerOptions } from './scheduler.ts';
export { schedulePod, feasibleNodesToFind, FILTERS, SCORES, MIN_FEASIBLE_NODES } from './schedule.ts';
export type { ScheduleOptions, ScheduleResult } from './schedule.ts';
export { Snapshot, SELECTOR_INDEX_MAX, ownerKeyOf, podKey } from './snapshot.ts';
export type { AntiAffinityGroup, OwnerCounts } from './snapshot.ts';
export { NodeInfo, ZONE_LABEL, schedulingFingerprint } from './node-info.ts';
export type { PodInfo } from './node-info.ts';
export { podRequests } from './pod-requests.ts';
export type { PodRequests } from './pod-requests.ts';
export { podContext } from './framework.ts';
export type { Filter, FilterCheck, PodContext, Score } from './framework.ts';
export { unschedulableMessage } from './message.ts';
