// gen-targets.ts: what `npm run gen` (scripts/gen.ts) generates, and what the staleness test
// (scripts/gen.test.ts) checks: each buf template with the folder it generates, both
// relative to the repo root.
export const genTargets: readonly { readonly template: string; readonly genDir: string }[] = [
  // Every production .proto under proto/, into @tugboat/proto.
  { template: 'buf.gen.yaml', genDir: 'libs/proto/src/gen' },
  // The test-only MemberService of the command-log member, beside it.
  { template: 'test/support/command-log-member/buf.gen.yaml', genDir: 'test/support/command-log-member/gen' },
];
