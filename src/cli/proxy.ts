import { AccessProxy } from '../bridge/proxy.js';
import { ownSignals } from '../core/own-signals.js';
import { isLoginPending } from '../service/pending.js';
import { credentialHeadersFor } from '../service/credentials.js';
import { parseCommandArgs, secondsOption } from './args.js';
import { EXIT, UsageError } from './exit-codes.js';
import { reportError } from './output.js';
import { openSession } from './session.js';
import { waitDisplay } from './waiting.js';

export const PROXY_USAGE = `Usage: cf-access-mcp proxy <url> [options]

Runs a reverse proxy on 127.0.0.1 for the Access application at <url>: a request to
http://127.0.0.1:<port>/<path> goes to <origin>/<path> with your Access credential
(managed OAuth, cloudflared or service token), so curl, git or a test suite reach it
without ever seeing a token. Prints the proxy's base URL on stdout; runs until interrupted.
Signs in first when needed (browser). Only this one origin is reachable, and only with
Host 127.0.0.1:<port> or localhost:<port>.

Options:
  --port N      listen on this port (default: a free one)
  --idle-timeout s
                stop (and exit) after s seconds without a request or open connection
                (default: CF_ACCESS_MCP_PROXY_IDLE_TIMEOUT, else run until interrupted)
  --wait s      seconds to wait for a sign-in, at start and per request (default: at start
                CF_ACCESS_MCP_LOGIN_TIMEOUT, per request 45); a request still waiting
                then gets a 503 with the sign-in link, and the sign-in goes on
  --verbose     log more on stderr
  -h, --help    this help
`;

function portOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > 65535) throw new UsageError(`--port needs a port number 1-65535, not "${value}".`, PROXY_USAGE);
  return n;
}

/** `cf-access-mcp proxy <url>`: the local credential-injecting proxy, until Ctrl-C. */
export async function runProxy(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    { port: { type: 'string' }, 'idle-timeout': { type: 'string' }, wait: { type: 'string' }, verbose: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    PROXY_USAGE,
  );
  if (values.help) {
    process.stdout.write(PROXY_USAGE);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'proxy needs the URL of the application.' : 'proxy takes exactly one URL.', PROXY_USAGE);
  const url = positionals[0]!;
  const port = portOption(values.port);
  const waitOption = secondsOption(values.wait, '--wait', PROXY_USAGE);
  const loginWaitSeconds = waitOption ?? 45;
  const idleOption = secondsOption(values['idle-timeout'], '--idle-timeout', PROXY_USAGE);
  if (idleOption === 0) throw new UsageError('--idle-timeout needs at least 1 second.', PROXY_USAGE);

  const session = openSession(Boolean(values.verbose));
  let proxy: AccessProxy | undefined;
  let stopOnTerm = () => {};
  try {
    const idleSeconds = idleOption ?? session.service.config.proxyIdleSeconds;
    let idled = () => {};
    const stoppedIdle = new Promise<void>((resolve) => (idled = resolve));
    proxy = await AccessProxy.start(session.service, url, { port, loginWaitSeconds, idleSeconds, onIdle: () => idled() });
    // Sign in before announcing the address, so the first request already carries the credential.
    const display = waitDisplay({ service: session.service, url, paste: false, signal: session.signal });
    try {
      const waitSeconds = waitOption ?? Math.round(session.service.config.loginTimeoutMs / 1000);
      await credentialHeadersFor(session.service, new URL(url), { waitSeconds, hooks: display.hooks });
    } catch (error) {
      display.stop();
      // Ctrl-C while signing in: nothing is announced, since the proxy stops with this process.
      if (session.signal.aborted) {
        process.stderr.write('Interrupted while signing in; the proxy was not started.\n');
        return EXIT.loginIncomplete;
      }
      if (!isLoginPending(error)) return reportError(error);
      process.stderr.write('Sign-in not completed; the proxy runs anyway and answers 503 with the sign-in link until it is.\n');
    }
    display.stop();
    process.stdout.write(`${proxy.baseUrl}\n`);
    const lives = idleSeconds === undefined ? 'Ctrl-C to stop' : `stops after ${idleSeconds} s unused, or Ctrl-C`;
    process.stderr.write(`Proxying ${proxy.baseUrl} → ${proxy.origin} (${lives}).\n`);
    await Promise.race([
      new Promise<void>((resolve) => {
        if (session.signal.aborted) return resolve();
        session.signal.addEventListener('abort', () => resolve(), { once: true });
        // Owned, not once(): a library hooking SIGTERM later (when-exit, with the store's writer) would re-raise it
        // and end the process before the proxy is closed.
        stopOnTerm = ownSignals(['SIGTERM'], () => resolve());
      }),
      stoppedIdle.then(() => void process.stderr.write(`No request for ${idleSeconds} s: the proxy stopped (idle timeout).\n`)),
    ]);
    return EXIT.ok;
  } catch (error) {
    return reportError(error);
  } finally {
    stopOnTerm();
    await proxy?.close();
    await session.close();
  }
}
