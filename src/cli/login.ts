import type { PendingLoginResult } from '../service/pending.js';
import type { LoginResult } from '../service/results.js';
import { parseCommandArgs, secondsOption } from './args.js';
import { EXIT, UsageError } from './exit-codes.js';
import { forPeople, printJson, reportError } from './output.js';
import { LoginChoiceSchema } from '../auth/methods.js';
import { openSession } from './session.js';
import { LOGIN_USAGE } from './usage.js';
import { stoppedPendingResult, stoppedWaitingText, stopWaiting, type Listener } from './detach.js';
import { waitDisplay } from './waiting.js';

/** `cf-access-mcp login <url>`: sign in through the browser (or paste-back) and store the session. */
export async function runLogin(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    {
      force: { type: 'boolean' },
      method: { type: 'string' },
      paste: { type: 'boolean' },
      wait: { type: 'string' },
      detach: { type: 'boolean' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    LOGIN_USAGE,
  );
  if (values.help) {
    process.stdout.write(LOGIN_USAGE);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'login needs the URL of the site to sign in to.' : 'login takes exactly one URL.', LOGIN_USAGE);
  const url = positionals[0]!;
  const waitOption = secondsOption(values.wait, '--wait', LOGIN_USAGE);
  const method = values.method === undefined ? undefined : LoginChoiceSchema.safeParse(values.method);
  if (method && !method.success) throw new UsageError(`--method must be one of ${LoginChoiceSchema.options.join(', ')}.`, LOGIN_USAGE);

  const session = openSession(Boolean(values.verbose));
  const display = waitDisplay({ service: session.service, url, paste: Boolean(values.paste), signal: session.signal });
  try {
    const waitSeconds = waitOption ?? Math.round(session.service.config.loginTimeoutMs / 1000);
    const result = await session.service.login({ url, force: Boolean(values.force), wait_seconds: waitSeconds, method: method?.data }, display.hooks);
    display.stop();
    const listener = result.status === 'pending' ? await stopWaiting(session.service, result.host, Boolean(values.detach)) : undefined;
    return report(result, url, Boolean(values.json), session.signal.aborted, listener, waitOption !== undefined);
  } catch (error) {
    display.stop();
    return reportError(error, session.signal.aborted);
  } finally {
    await session.close();
  }
}

function report(result: LoginResult, url: string, json: boolean, interrupted: boolean, listener: Listener | undefined, waitGiven: boolean): number {
  const code = result.status === 'pending' ? EXIT.loginIncomplete : EXIT.ok;
  const command = `cf-access-mcp login ${url}`;
  if (json) {
    printJson(result.status === 'pending' ? stoppedPendingResult(result as PendingLoginResult, command, listener, interrupted, waitGiven) : result);
    return code;
  }
  if (result.status === 'pending') {
    const text = stoppedWaitingText(result as PendingLoginResult, command, listener, interrupted, waitGiven);
    process.stderr.write(`${text.message}\nnext step: ${text.nextStep}\n`);
    return code;
  }
  process.stdout.write(`${forPeople(result.message)}\n`);
  return code;
}
