/**
 * stdout's own failure, shared by the entry point and the commands: why
 * writing it failed for another reason than its reader leaving (a full disk),
 * and whether the command already said so on stderr (fetch names the bytes
 * written), so that the exit's one-line notice does not say it again. Its own
 * module, so the entry point loads nothing more.
 */
let failure: string | undefined;
let said = false;

/** Called with each error stdout emits; a reader that left (EPIPE) is no write failure. */
export function recordStdoutError(error: NodeJS.ErrnoException): void {
  if (failure !== undefined || error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') return;
  failure = error.code ?? error.message;
}

/** Why writing stdout failed (e.g. "ENOSPC"), or undefined: it did not, or its reader left. */
export function stdoutWriteFailure(): string | undefined {
  const errored = process.stdout.errored as NodeJS.ErrnoException | null;
  if (errored) recordStdoutError(errored);
  return failure;
}

export const noteStdoutFailureSaid = () => {
  said = true;
};
export const stdoutFailureWasSaid = () => said;
