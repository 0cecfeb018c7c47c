/** @tugboat/controllers: the control plane's reconcile logic (leader-only loops use it). */
export { assignPodCidrs, unassignable } from './node-ipam.ts';
export * from './runtime/index.ts';
