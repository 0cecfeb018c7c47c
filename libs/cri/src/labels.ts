// labels.ts: the labels and annotations tug-agent puts on the CRI sandboxes and containers it
// makes. A restarted agent finds its own objects by MANAGED_LABEL and matches them to pods by
// POD_UID_LABEL and CONTAINER_NAME_LABEL; it never touches a sandbox without MANAGED_LABEL.

/** Set to "true" on every sandbox and container tug-agent makes. */
export const MANAGED_LABEL = 'tugboat.io/managed';
/** The pod's metadata.uid. */
export const POD_UID_LABEL = 'tugboat.io/pod-uid';
export const POD_NAME_LABEL = 'tugboat.io/pod-name';
export const POD_NAMESPACE_LABEL = 'tugboat.io/pod-namespace';
/** On containers: the container's name in the pod spec. */
export const CONTAINER_NAME_LABEL = 'tugboat.io/container-name';

/** On containers: a hash of the container's spec; a different hash means "recreate". */
export const CONTAINER_HASH_ANNOTATION = 'tugboat.io/container-hash';
/** On sandboxes and containers: the pod's terminationGracePeriodSeconds, for stopping an
 *  orphan whose pod is already gone from the API. */
export const GRACE_PERIOD_ANNOTATION = 'tugboat.io/termination-grace-period';
