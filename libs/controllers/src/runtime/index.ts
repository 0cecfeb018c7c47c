/** The controller runtime: leader-only loops, shared informers, work queues, Events. */
export { LeaderLoops, DEFAULT_CONTROLLER_SETTINGS } from './controller.ts';
export type { Controller, ControllerContext, ControllerSettings, LeaderLoopsOptions } from './controller.ts';
export { SharedInformers } from './informers.ts';
export { WorkQueue, retryDelay } from './workqueue.ts';
export type { WorkQueueOptions } from './workqueue.ts';
export { ApiEventRecorder, involvedRef } from './events.ts';
export type { EventRecorder, EventType } from './events.ts';
