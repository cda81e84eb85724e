import type { AccessMode } from '../emulator/types.js';
import { parseCommandArgs } from './args.js';
import { EXIT, UsageError } from './exit-codes.js';
import { EMULATOR_USAGE } from './usage.js';

const MODES: AccessMode[] = ['managed', 'classic', 'service-auth-only'];

/** `cf-access-mcp emulator`: the emulator in the foreground (interactive approval unless --auto) until Ctrl-C. */
export async function runEmulator(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    {
      auto: { type: 'boolean' },
      port: { type: 'string' },
      mode: { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    EMULATOR_USAGE,
  );
  if (values.help) {
    process.stdout.write(EMULATOR_USAGE);
    return EXIT.ok;
  }
  if (positionals.length > 0) throw new UsageError(`emulator takes no arguments (got "${positionals[0]}").`, EMULATOR_USAGE);
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port < 1 || port > 65532) throw new UsageError(`--port needs a port number from 1 to 65532, not "${values.port}".`, EMULATOR_USAGE);
  }
  const mode = (values.mode ?? 'managed') as AccessMode;
  if (!MODES.includes(mode)) throw new UsageError(`--mode must be one of ${MODES.join(', ')}.`, EMULATOR_USAGE);
  const { runEmulatorCli } = await import('../emulator/index.js');
  await runEmulatorCli({ approval: values.auto ? 'auto' : 'interactive', port, mode, quiet: Boolean(values.quiet) });
  return EXIT.ok;
}
