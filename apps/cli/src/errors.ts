// errors.ts: how `tug` fails. Exit codes: 0 success, 1 a refused request or a failure to do
// what was asked (the server's message, or every endpoint and why it could not be reached),
// 2 a usage error (unknown flag, command or kind; missing or extra argument; bad flag value);
// `tug exec` exits with the command's exit code.
import { describeFailure, isApiError, isUnavailable } from '@tugboat/client';

/** UsageError: the command line is wrong. Exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  /** command names the command whose --help to point at ("get"; "" for tug itself). */
  readonly command: string;
  constructor(message: string, command = '') {
    super(message);
    this.command = command;
  }
}

/** CliError: the request could not be done; the message says why. Exit code 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

/** ReportedError: a failure already printed (per object, say); only the exit code is left. */
export class ReportedError extends Error {
  override readonly name = 'ReportedError';
}

/** ExitCodeError: the command ran (`tug exec`) and tug exits with its exit code. */
export class ExitCodeError extends Error {
  override readonly name = 'ExitCodeError';
  /** exitCode is tug's exit code: 1 to 255. */
  readonly exitCode: number;
  constructor(exitCode: number) {
    super(`the command exited with ${exitCode}`);
    this.exitCode = exitCode >= 1 && exitCode <= 255 ? exitCode : 1;
  }
}

export function isExitCodeError(e: unknown): e is ExitCodeError {
  return e instanceof Error && e.name === 'ExitCodeError';
}

export function isUsageError(e: unknown): e is UsageError {
  return e instanceof Error && e.name === 'UsageError';
}

export function isCliError(e: unknown): e is CliError {
  return e instanceof Error && e.name === 'CliError';
}

export function isReportedError(e: unknown): e is ReportedError {
  return e instanceof Error && e.name === 'ReportedError';
}

/** formatError writes the lines `tug` prints for an error of a request (no trailing newline). */
export function formatError(e: unknown): string {
  if (isUnavailable(e)) {
    if (e.failures.length === 0) return `error: ${e.message}`;
    const lines = e.failures.map((f) => `  ${f.endpoint}: ${describeFailure(f)}`);
    return [`error: cannot reach the cluster at any endpoint:`, ...lines].join('\n');
  }
  if (isApiError(e)) return `Error from server (${e.reason}): ${e.message}`;
  if (e instanceof Error) return `error: ${e.message}`;
  return `error: ${String(e)}`;
}
