/**
 * Exit codes that scripts branch on, and the one error type that carries them. Every failure the CLI knows about
 * becomes a CliError with one of these codes; anything else is a bug and exits 1 with its stack.
 */

export const EXIT = {
  ok: 0,
  /** `diff`: differences found. Any command: the server refused or failed the operation. */
  failed: 1,
  usage: 2,
  invalidManifest: 3,
  unreachable: 4,
  conflict: 5,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}

export function usageError(message: string): CliError {
  return new CliError(message, EXIT.usage);
}
