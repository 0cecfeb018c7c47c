// demo-output.ts: how the checked walk-throughs (`npm run demo`, `npm run demo:control`) print
// and fail: bold step titles and dim notes on a terminal, command output indented, and a
// DemoFailure naming the check that did not hold.

export const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
export const dim = (s: string): string => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

/** indent indents every line of a command's output by four spaces (trailing blank lines dropped). */
export const indent = (s: string): string =>
  s
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

/** DemoFailure is a check of a walk-through that did not hold. */
export class DemoFailure extends Error {
  override readonly name = 'DemoFailure';
}

/** check throws a DemoFailure saying `what` was expected when `ok` is false. */
export function check(ok: boolean, what: string): void {
  if (!ok) throw new DemoFailure(what);
}
