// @tugboat/control: tug-control (run apps/control/src/main.ts): the control-plane member that
// serves the tug.v1 API over the replicated object store (ControlPlane), and, for the Raft-level
// tests and benchmark, the command-log Raft member (raft-member/) with its MemberService client.
export { ControlPlane, forwardedMetadataKey, maxRequestBytes } from './control-plane.ts';
export type { ControlPlaneOptions } from './control-plane.ts';
export { memberKind, clusterScopedKinds } from './api/directory.ts';
export { maxObjectBytes, filterEvent } from './api/objects.ts';
export { clusterIdFor, readMemberFile, writeMemberFile } from './data-dir.ts';
export type { MemberFile } from './data-dir.ts';
export { parseFlags, FlagError, isFlagError } from './flags.ts';
export type { Flags } from './flags.ts';
export { MemberClient, MemberClientError, isMemberClientError, leaderApiMetadataKey, leaderMetadataKey } from './raft-member/client.ts';
export type { MemberClientOptions, ProposeAnswer, LoggedCommand } from './raft-member/client.ts';
export { CommandLog, encodeCommand, encodeMember, decodeRecord, maxCommandIdBytes } from './raft-member/command-log.ts';
export type { Command, ApplyResult, LogRecord } from './raft-member/command-log.ts';
export { ControlMember, maxPayloadBytes } from './raft-member/member.ts';
export type { ControlMemberOptions } from './raft-member/member.ts';
