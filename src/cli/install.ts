import { CLIENTS, isClientId, whereFromEnvironment, type Scope } from '../install/clients.js';
import { ConfigFileError } from '../install/edit-result.js';
import { InstallError, installInto } from '../install/install.js';
import { NPX_LAUNCH, thisInstallation } from '../install/launch.js';
import { parseCommandArgs } from './args.js';
import { EXIT, UsageError } from './exit-codes.js';
import { printJson, reportFailure } from './output.js';
import { INSTALL_USAGE } from './usage.js';

const SCOPES: Scope[] = ['user', 'project', 'local'];

/** `cf-access-mcp install <client>`: merge our server entry into that client's config file. */
export async function runInstall(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    {
      scope: { type: 'string' },
      name: { type: 'string' },
      'dry-run': { type: 'boolean' },
      force: { type: 'boolean' },
      npx: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    INSTALL_USAGE,
  );
  if (values.help) {
    process.stdout.write(INSTALL_USAGE);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'install needs the client to configure.' : 'install takes exactly one client.', INSTALL_USAGE);
  const client = positionals[0]!;
  if (!isClientId(client)) throw new UsageError(`Unknown client "${client}"; one of: ${Object.keys(CLIENTS).join(', ')}.`, INSTALL_USAGE);
  const scope = values.scope as Scope | undefined;
  if (scope !== undefined && !SCOPES.includes(scope)) throw new UsageError(`--scope must be one of ${SCOPES.join(', ')}.`, INSTALL_USAGE);
  if (scope !== undefined && !CLIENTS[client].scopes[scope]) {
    throw new UsageError(`${CLIENTS[client].label} has no ${scope} scope; it has ${Object.keys(CLIENTS[client].scopes).join(', ')}.`, INSTALL_USAGE);
  }
  const name = values.name ?? 'cf-access';
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new UsageError(`--name takes letters, digits, "-" and "_", not "${name}".`, INSTALL_USAGE);

  try {
    const outcome = await installInto({
      client,
      scope,
      name,
      launch: values.npx ? NPX_LAUNCH : thisInstallation(),
      where: whereFromEnvironment(),
      dryRun: Boolean(values['dry-run']),
      force: Boolean(values.force),
    });
    if (values.json) printJson(outcome);
    else {
      // A patch can end without a newline (jsdiff's does); the message after it starts on its own line.
      if (outcome.diff) process.stdout.write(outcome.diff.endsWith('\n') ? outcome.diff : `${outcome.diff}\n`);
      // A user's config kept in a dotfiles repository is written where its link points: name that file too.
      const file = outcome.real_file ? `${outcome.file} (through a symbolic link: ${outcome.real_file})` : outcome.file;
      const said: Record<typeof outcome.action, string> = {
        created: `Created ${file} with the "${name}" server for ${outcome.label} (${outcome.scope} scope).`,
        added: `Added the "${name}" server to ${file} (${outcome.label}, ${outcome.scope} scope).`,
        replaced: `Replaced the "${name}" server in ${file} (${outcome.label}, ${outcome.scope} scope).`,
        unchanged: `${file} already has this "${name}" server.`,
        refused: `Not changed: ${file} already has a different "${name}" server (the diff above shows what --force would write).`,
      };
      const what = values['dry-run'] && outcome.action !== 'refused' && outcome.action !== 'unchanged' ? `Would have: ${said[outcome.action]}` : said[outcome.action];
      process.stderr.write(`${what}\nnext step: ${outcome.next_step}\n`);
    }
    return outcome.action === 'refused' ? EXIT.failure : EXIT.ok;
  } catch (error) {
    if (error instanceof InstallError || error instanceof ConfigFileError) {
      const next = (error instanceof InstallError && error.nextStep) || 'fix or move the file, then run the command again.';
      const code = error instanceof ConfigFileError ? 'config_file_invalid' : 'install_failed';
      return reportFailure({ error: code, message: error.message, next_step: next }, EXIT.failure);
    }
    throw error;
  }
}
