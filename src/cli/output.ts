import { AccessError } from '../core/errors.js';
import type { Logger, LogLevel } from '../core/logger.js';
import { redactSecrets } from '../core/redact.js';
import { EXIT } from './exit-codes.js';
import { forTerminal, forTerminalDeep } from './next-step-words.js';

/** Error codes that mean "the login did not complete" (exit 3) rather than a failure (exit 1): a refused service token is a refusal like a denied login. */
const LOGIN_INCOMPLETE = new Set(['login_pending', 'login_timeout', 'authorization_denied', 'service_token_refused']);

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
 * Prints an error for a person (what happened, then the next step) and returns
 * the exit code. `interrupted`: the user pressed Ctrl-C, which is exit 3
 * whatever the interrupted step then threw.
 */
export function reportError(error: unknown, interrupted = false): number {
  if (interrupted) {
    process.stderr.write('Interrupted (Ctrl-C); nothing was left running or locked.\n');
    return EXIT.loginIncomplete;
  }
  if (error instanceof AccessError) {
    process.stderr.write(redactSecrets(`error: ${forPeople(error.message)}\nnext step: ${forPeople(error.nextStep)}\n`));
    if (error.code === 'invalid_url') return EXIT.usage;
    return LOGIN_INCOMPLETE.has(error.code) ? EXIT.loginIncomplete : EXIT.failure;
  }
  process.stderr.write(`error: ${redactSecrets((error as Error)?.message ?? String(error))}\n`);
  return EXIT.failure;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${redactSecrets(JSON.stringify(forTerminalDeep(value), null, 2))}\n`);
}
