// @tugboat/cri: a typed client of the Kubernetes CRI (runtime.v1) over containerd's socket.
export * from './client.ts';
export { ContainerdEvents, CRI_NAMESPACE } from './events.ts';
export type { RuntimeExit } from './events.ts';
export { renderContainerdConfig, oomScoreAdjRestricted } from './containerd.ts';
export type { ContainerdConfigOptions } from './containerd.ts';
export {
  MANAGED_LABEL,
  POD_UID_LABEL,
  POD_NAME_LABEL,
  POD_NAMESPACE_LABEL,
  CONTAINER_NAME_LABEL,
  CONTAINER_HASH_ANNOTATION,
  GRACE_PERIOD_ANNOTATION,
} from './labels.ts';
