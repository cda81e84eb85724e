/** The CLI's exit codes (documented in --help and the README). */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  /** The login did not complete: still pending when the wait ended, timed out, denied or held back after a refusal (a refused service token too), or interrupted. */
  loginIncomplete: 3,
} as const;

/** A mistake in how the command was called: message plus the command's usage, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    readonly usage?: string,
  ) {
    super(message);
  }
}
