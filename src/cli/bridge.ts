import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { McpBridge } from '../bridge/bridge.js';
import { ownSignals } from '../core/own-signals.js';
import { redactSecrets } from '../core/redact.js';
import { parseTargetUrl } from '../core/url-policy.js';
import { credentialHeadersFor } from '../service/credentials.js';
import { isLoginPending } from '../service/pending.js';
import { parseCommandArgs, secondsOption } from './args.js';
import { EXIT, UsageError } from './exit-codes.js';
import { reportError } from './output.js';
import { openSession } from './session.js';

export const BRIDGE_USAGE = `Usage: cf-access-mcp bridge <url> [options]

A stdio MCP server that forwards everything to the remote MCP server at <url>
(Streamable HTTP, or the older HTTP+SSE transport when the remote only speaks that)
behind Cloudflare Access, with your Access credential (managed OAuth, cloudflared or a
service token). Put it in your MCP client's config as the server's command. A sign-in
needed at start-up opens the browser and waits (stderr says so); stdout carries only MCP.

Options:
  --wait s      seconds to wait for a sign-in (default CF_ACCESS_MCP_LOGIN_TIMEOUT, 300)
  --verbose     log more on stderr
  -h, --help    this help
`;

/** `cf-access-mcp bridge <url>`: stdio MCP in, the remote MCP server behind Access out. */
export async function runBridge(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { wait: { type: 'string' }, verbose: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, BRIDGE_USAGE);
  if (values.help) {
    process.stdout.write(BRIDGE_USAGE);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'bridge needs the URL of the remote MCP server.' : 'bridge takes exactly one URL.', BRIDGE_USAGE);
  let target: URL;
  try {
    target = parseTargetUrl(positionals[0]!);
  } catch (error) {
    throw new UsageError((error as Error).message, BRIDGE_USAGE);
  }
  const session = openSession(Boolean(values.verbose));
  const say = (line: string) => process.stderr.write(`cf-access-mcp bridge: ${redactSecrets(line)}\n`);
  const loginWaitSeconds = secondsOption(values.wait, '--wait', BRIDGE_USAGE) ?? Math.round(session.service.config.loginTimeoutMs / 1000);
  try {
    // Sign in before the client's messages are read, so initialize already carries the credential.
    say(`Checking Cloudflare Access for ${target.origin}…`);
    await credentialHeadersFor(session.service, target, {
      waitSeconds: loginWaitSeconds,
      hooks: {
        signal: session.signal,
        onLoginUrl: (login) =>
          say(`Signing in: ${login.browser.opened ? 'a browser window was opened' : 'open this address in a browser'}: ${login.authorizationUrl} (waiting up to ${loginWaitSeconds} s)`),
      },
    });
  } catch (error) {
    if (isLoginPending(error)) say(`The sign-in was not completed in ${loginWaitSeconds} s.`);
    const code = reportError(error);
    await session.close();
    return code;
  }
  say(`Access credential ready for ${target.origin}; forwarding stdio to ${target.href}.`);
  const bridge = new McpBridge(session.service, target, new StdioServerTransport(), { say, loginWaitSeconds });
  await bridge.start();
  let stopOnTerm = () => {};
  await new Promise<void>((resolve) => {
    process.stdin.once('end', resolve);
    process.stdin.once('close', resolve);
    stopOnTerm = ownSignals(['SIGTERM'], () => resolve());
    session.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  stopOnTerm();
  await bridge.close();
  await session.close();
  return EXIT.ok;
}
