import { parseCommandArgs } from './args.js';
import { EXIT, UsageError } from './exit-codes.js';
import { forPeople as forPeopleText, printJson, reportError } from './output.js';
import { openSession } from './session.js';
import { LOGOUT_USAGE } from './usage.js';

/** `cf-access-mcp logout <url> | --all`: revoke and delete stored sessions. */
export async function runLogout(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    { all: { type: 'boolean' }, json: { type: 'boolean' }, verbose: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    LOGOUT_USAGE,
  );
  if (values.help) {
    process.stdout.write(LOGOUT_USAGE);
    return EXIT.ok;
  }
  if (values.all && positionals.length > 0) throw new UsageError('Give either a URL or --all, not both.', LOGOUT_USAGE);
  if (!values.all && positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? 'logout needs the URL of a site, or --all.' : 'logout takes exactly one URL.', LOGOUT_USAGE);
  }
  const session = openSession(Boolean(values.verbose));
  try {
    const result = await session.service.logout(values.all ? { all: true } : { url: positionals[0] });
    if (values.json) printJson(result);
    else if (result.logged_out.length === 0) process.stdout.write('No stored sessions to log out of.\n');
    else process.stdout.write(`${result.logged_out.map((r) => `${r.application}: ${forPeopleText(r.detail)}`).join('\n')}\n`);
    return EXIT.ok;
  } catch (error) {
    return reportError(error);
  } finally {
    await session.close();
  }
}
