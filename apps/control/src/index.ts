// @tugboat/control: tug-control (run apps/control/src/main.ts): the control-plane member that
// serves the tug.v1 API over the replicated object store (ControlPlane). The startup steps of a
// member process (@tugboat/control/startup, /member-options) are exported apart, so that the
// command-log member of the Raft-level tests (test/support/command-log-member) starts the way
// tug-control does without loading the control plane.
export { ControlPlane, maxRequestBytes } from './control-plane.ts';
export type { ControlPlaneOptions } from './control-plane.ts';
export { forwardedMetadataKey } from './forwarding.ts';
export { memberKind, clusterScopedKinds } from './member-directory.ts';
export { clusterIdFor, readMemberFile, writeMemberFile } from './data-dir.ts';
export type { MemberFile } from './data-dir.ts';
export { parseFlags, FlagError, isFlagError } from './flags.ts';
export type { Flags } from './flags.ts';
