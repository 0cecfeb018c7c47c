// @tugboat/control: the tug-control member (run apps/control/src/main.ts) and what its users
// need from it: the MemberService client that follows redirects, and the command log.
export { MemberClient, MemberClientError, isMemberClientError, leaderApiMetadataKey, leaderMetadataKey } from './client.ts';
export type { MemberClientOptions, ProposeAnswer, LoggedCommand } from './client.ts';
export { CommandLog, encodeCommand, encodeMember, decodeRecord, maxCommandIdBytes } from './command-log.ts';
export type { Command, ApplyResult, LogRecord } from './command-log.ts';
export { ControlMember, maxPayloadBytes } from './member.ts';
export type { ControlMemberOptions } from './member.ts';
export { parseFlags, FlagError, isFlagError } from './flags.ts';
export type { Flags } from './flags.ts';
