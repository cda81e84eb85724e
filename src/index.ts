#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { redactSecrets } from './core/redact.js';
import { askedForJson } from './cli/args.js';
import { EXIT, UsageError } from './cli/exit-codes.js';
import type { ErrorDocument } from './cli/output.js';
import { recordStdoutError, stdoutFailureWasSaid, stdoutWriteFailure } from './cli/stdout-failure.js';
import { MAIN_USAGE } from './cli/usage.js';
import { VERSION } from './version.js';

type Command = (args: string[]) => Promise<number>;

/** Each command is loaded only when used, so the MCP server starts without the CLI's code. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  login: async () => (await import('./cli/login.js')).runLogin,
  status: async () => (await import('./cli/status.js')).runStatus,
  logout: async () => (await import('./cli/logout.js')).runLogout,
  fetch: async () => (await import('./cli/fetch.js')).runFetch,
  proxy: async () => (await import('./cli/proxy.js')).runProxy,
  bridge: async () => (await import('./cli/bridge.js')).runBridge,
  install: async () => (await import('./cli/install.js')).runInstall,
  doctor: async () => (await import('./cli/doctor.js')).runDoctor,
  demo: async () => {
    const { runDemo } = await import('./cli/demo.js');
    return async (args) => {
      if (args.length === 1 && (args[0] === '--help' || args[0] === '-h')) {
        process.stdout.write((await import('./cli/usage.js')).DEMO_USAGE);
        return EXIT.ok;
      }
      if (args.length > 0) throw new UsageError(`demo takes no arguments (got "${args[0]}").`);
      return runDemo();
    };
  },
  emulator: async () => (await import('./cli/emulator.js')).runEmulator,
  // Internal: the background process `login --detach` leaves to finish a login (see cli/detach.ts).
  __finish_login: async () => (await import('./cli/detach.js')).runFinishLogin,
};

/** Returns the exit code, or -1 to keep running (the MCP server). */
async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    const { runStdioServer } = await import('./mcp/stdio.js');
    await runStdioServer();
    return -1;
  }
  // The reader of our output may stop early (`| head`): what it did not take is dropped, as with curl, not a crash.
  // Any other failure to write (`> /dev/full`) is said once at exit, without a stack trace (unless the command
  // said it already: fetch names the bytes written), and the command fails.
  process.stdout.on('error', recordStdoutError);
  process.stderr.on('error', () => {});
  if (first.startsWith('-')) {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
    });
    if (values.version) process.stdout.write(`${VERSION}\n`);
    else process.stdout.write(MAIN_USAGE);
    return EXIT.ok;
  }
  if (first === 'help') {
    process.stdout.write(MAIN_USAGE);
    return EXIT.ok;
  }
  const load = COMMANDS[first === '__finish-login' ? '__finish_login' : first];
  if (!load) throw new UsageError(`Unknown command "${first}".`);
  return (await load())(rest);
}

/** How long the MCP bridge waits at exit for a client that holds its output open without reading it. */
const BRIDGE_FLUSH_MS = 2_000;

/**
 * Resolves once everything already written to `stream` has left the process
 * (or its reader is gone), or after `boundMs`. A pipe is written asynchronously
 * on Linux: what it still queues (a body streamed into `| sha256sum`, say)
 * would be lost by process.exit.
 */
function flushed(stream: NodeJS.WriteStream, boundMs?: number): Promise<void> {
  if (stream.destroyed || stream.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => {
    if (boundMs !== undefined) setTimeout(resolve, boundMs).unref();
    // Writes complete in order, so this empty one's callback comes after all before it (with an error once the reader is gone).
    stream.write('', () => resolve());
  });
}

async function exitAfterOutput(code: number, command: string | undefined): Promise<never> {
  // A person or a script reads what fetch or status printed, however slowly; an MCP client that stopped reading the bridge does not.
  const bound = command === 'bridge' ? BRIDGE_FLUSH_MS : undefined;
  await Promise.all([flushed(process.stdout, bound), flushed(process.stderr, bound ?? BRIDGE_FLUSH_MS)]);
  // A write that failed just now has not emitted its error yet (that comes on the next tick).
  const writeFailed = stdoutWriteFailure();
  if (writeFailed && !stdoutFailureWasSaid()) process.stderr.write(`cf-access-mcp: could not write the output: ${writeFailed}.\n`);
  process.exit(writeFailed && code === EXIT.ok ? EXIT.failure : code);
}

/** A usage error's synopsis (its command's "Usage:" line) and where to read more. */
function usageHelp(error: Error): { synopsis?: string; help: string } {
  const synopsis = (error as UsageError).usage?.split('\n').find((line) => line.startsWith('Usage:'));
  const command = synopsis?.split(' ')[2];
  return { synopsis, help: `Run "cf-access-mcp ${command ? `${command} ` : ''}--help" for more.` };
}

/** A usage error under --json: the code and fields of the CLI's other error documents (cli/output.ts). */
function usageDocument(error: Error): ErrorDocument {
  const { synopsis, help } = usageHelp(error);
  return { error: 'usage_error', message: error.message, next_step: synopsis ? `Fix the command line: ${synopsis.replace(/^Usage: /, '')}. ${help}` : help };
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) void exitAfterOutput(code, process.argv[2]);
  },
  async (error: unknown) => {
    const usage = error instanceof UsageError || (error as NodeJS.ErrnoException)?.code?.startsWith?.('ERR_PARSE_ARGS');
    if (askedForJson(process.argv.slice(2))) {
      // Loaded only here: the MCP server starts without the CLI's output code.
      const { errorDocument, printJson } = await import('./cli/output.js');
      printJson(usage ? usageDocument(error as Error) : errorDocument(error));
    } else if (usage) {
      const { synopsis, help } = usageHelp(error as Error);
      process.stderr.write(`cf-access-mcp: ${(error as Error).message}\n${synopsis ? `${synopsis}\n` : ''}${help}\n`);
    } else {
      process.stderr.write(`cf-access-mcp: ${redactSecrets((error as Error)?.message ?? String(error))}\n`);
    }
    void exitAfterOutput(usage ? EXIT.usage : EXIT.failure, process.argv[2]);
  },
);
