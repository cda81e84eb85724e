import { AccessError } from '../core/errors.js';
import type { Logger, LogLevel } from '../core/logger.js';
import { redactSecrets } from '../core/redact.js';
import { askedForJson } from './args.js';
import { EXIT } from './exit-codes.js';
import { forTerminal, forTerminalDeep } from './next-step-words.js';
import { LoginHeldBackError } from '../service/refusals.js';
import { appLabel } from '../auth/app-key.js';
import { step } from '../core/next-step.js';
import { noteStdoutFailureSaid, stdoutWriteFailure } from './stdout-failure.js';

/** Error codes that mean "the login did not complete" (exit 3) rather than a failure (exit 1): a refused service token is a refusal like a denied login. */
const LOGIN_INCOMPLETE = new Set(['login_pending', 'login_timeout', 'authorization_denied', 'service_token_refused', 'login_held_back']);

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, notice: 2, warning: 3, error: 4 };

/** The CLI's logger: stderr only; warnings and errors unless --verbose. */
export function cliLogger(verbose: boolean): Logger {
  const threshold = verbose ? RANK.debug : RANK.warning;
  return (level, message) => {
    if (RANK[level] >= threshold) process.stderr.write(`${level}: ${redactSecrets(message)}\n`);
  };
}

/** Next steps and fetch arguments come as data (see core/next-step.ts): in a terminal they are the commands and options to type. */
export function forPeople(text: string): string {
  return forTerminal(text);
}

/**
 * A failure as --json prints it: the error's code, what happened and the next
 * step, the shape of the proxy's refusals (see bridge/refusals.ts).
 */
export interface ErrorDocument {
  error: string;
  message: string;
  next_step: string;
}

const INTERRUPTED = 'Interrupted (Ctrl-C); nothing was left running or locked.';

/** An error that is not ours (a file that cannot be written, say) names no next step of its own. */
const ANY_NEXT_STEP = 'Fix what the message names and run the command again (--verbose shows more).';

export function errorDocument(error: unknown, interrupted = false): ErrorDocument {
  if (interrupted) return { error: 'interrupted', message: INTERRUPTED, next_step: 'Run the command again.' };
  if (error instanceof AccessError) return { error: error.code, message: error.message, next_step: nextStepFor(error) };
  return { error: 'failure', message: (error as Error)?.message ?? String(error), next_step: ANY_NEXT_STEP };
}

function exitCodeOf(error: unknown, interrupted: boolean): number {
  if (interrupted) return EXIT.loginIncomplete;
  if (!(error instanceof AccessError)) return EXIT.failure;
  if (error.code === 'invalid_url') return EXIT.usage;
  return LOGIN_INCOMPLETE.has(error.code) ? EXIT.loginIncomplete : EXIT.failure;
}

/**
 * Prints an error (what happened, then the next step) and returns the exit
 * code: for a person on stderr, or with --json as one document on stdout.
 * `interrupted`: the user pressed Ctrl-C, which is exit 3 whatever the
 * interrupted step then threw. `json: false` for an error about stdout itself
 * (its reader left): a document there would reach nobody, so it goes to stderr.
 */
export function reportError(error: unknown, interrupted = false, json = askedForJson(process.argv.slice(2))): number {
  if (!json && error instanceof AccessError && error.code === 'save_failed' && stdoutWriteFailure()) noteStdoutFailureSaid();
  if (json) printJson(errorDocument(error, interrupted));
  else if (interrupted) process.stderr.write(`${INTERRUPTED}\n`);
  else if (error instanceof AccessError) process.stderr.write(redactSecrets(`error: ${forPeople(error.message)}\nnext step: ${forPeople(nextStepFor(error))}\n`));
  else process.stderr.write(`error: ${redactSecrets((error as Error)?.message ?? String(error))}\n`);
  return exitCodeOf(error, interrupted);
}

/** A failure the command describes itself (install's): as reportError prints an AccessError. */
export function reportFailure(failure: ErrorDocument, code: number): number {
  if (askedForJson(process.argv.slice(2))) printJson(failure);
  else process.stderr.write(`error: ${failure.message}\nnext step: ${failure.next_step}\n`);
  return code;
}

/**
 * Starts watching stdout for a reader that leaves before taking everything
 * (`| head`). The returned check resolves once all that was written has left
 * the process: false if some of it never reached the reader.
 */
export function stdoutDelivery(): () => Promise<boolean> {
  let lost = false;
  // A write that failed earlier is reported here only: the stream carries on as if nothing happened.
  process.stdout.on('error', () => (lost = true));
  const failed = () => lost || process.stdout.errored != null;
  return async () => {
    // No probe write: on a socket (an agent's stdio 'pipe') even an empty write fails once the reader has closed,
    // after it took every byte. A pipe or socket takes what was written asynchronously: wait until nothing is left here.
    while (!failed() && process.stdout.writableLength > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    // A last write that failed reports its error on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    return !failed();
  };
}

/** An error's next step as the person at the terminal does it (the service words some for an agent: "ask the user …"). */
function nextStepFor(error: AccessError): string {
  if (!(error instanceof LoginHeldBackError)) return error.nextStep;
  const { application, url, failed, until } = error.heldBack;
  const retry = `to try again before ${new Date(until).toISOString()}, ${step('login', { url, force: true })}`;
  return failed
    ? `Fix what made the last login to ${appLabel(application)} fail (above); once it is fixed, or ${retry}.`
    : `If your account should have access to ${appLabel(application)}, ask its Access administrator (they decide); ${retry}.`;
}

/** Set once a command's outcome was printed as JSON: a later hard exit adds no second document. */
let documentPrinted = false;

export function printJson(value: unknown): void {
  documentPrinted = true;
  process.stdout.write(`${redactSecrets(JSON.stringify(forTerminalDeep(value), null, 2))}\n`);
}

/**
 * A second Ctrl-C stops the command at once, before it has cleaned up: said
 * as any other outcome (with --json, the one document, unless one is out
 * already), claiming nothing about what was left.
 */
export function reportStoppedAtOnce(): number {
  const message = 'Interrupted twice (Ctrl-C): stopped at once.';
  if (!askedForJson(process.argv.slice(2))) process.stderr.write(`\n${message}\n`);
  else if (!documentPrinted) printJson({ error: 'interrupted', message, next_step: 'Run the command again.' });
  return EXIT.loginIncomplete;
}
