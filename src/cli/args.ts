import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './exit-codes.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs in strict mode, its errors turned into usage errors (exit 2). */
export function parseCommandArgs<O extends Options>(args: string[], options: O, usage: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify a positional argument.*$/s, '.'), usage);
  }
}

/** A whole number of seconds from an option value. */
export function secondsOption(value: string | undefined, name: string, usage: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new UsageError(`${name} needs a whole number of seconds, not "${value}".`, usage);
  return n;
}

/** The commands that take --json (README, Command line). */
const JSON_COMMANDS = new Set(['login', 'status', 'logout', 'fetch', 'doctor', 'install']);

/**
 * Whether the command line asks for --json (among the options, before any `--`),
 * read from the words alone: a usage error has no parsed options to ask, and
 * every outcome of such a command, a failure too, is then one JSON document.
 */
export function askedForJson(argv: string[]): boolean {
  const [command, ...args] = argv;
  if (command === undefined || !JSON_COMMANDS.has(command)) return false;
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}
