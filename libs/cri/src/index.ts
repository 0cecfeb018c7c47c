// @tugboat/cri: a typed client of the Kubernetes CRI (runtime.v1) over containerd's socket.
export * from './client.ts';
export { ContainerdEvents, CRI_NAMESPACE } from './events.ts';
export type { RuntimeExit } from './events.ts';
export { renderContainerdConfig, oomScoreAdjRestricted } from './containerd.ts';
export type { ContainerdConfigOptions } from './containerd.ts';
