import { randomBytes } from 'node:crypto';
import { startEmulator } from './index.js';
import type { EmulatorOptions, LogEntry } from './types.js';

export interface EmulatorCliOptions extends Omit<EmulatorOptions, 'trace'> {
  /**
   * Base port: the app listens on `port`, the team domain on port+1, app2 on port+2 and the
   * plain origin on port+3, unless those ports are given explicitly. Default: ephemeral ports.
   */
  port?: number;
  /** Do not print one line per request. */
  quiet?: boolean;
  /** Stops the emulator like SIGINT does (for callers that embed the CLI). */
  signal?: AbortSignal;
}

function traceLine(entry: LogEntry): string {
  const time = new Date(entry.time).toISOString().slice(11, 23);
  const bytes = entry.bytesSent !== undefined ? ` ${entry.bytesSent}B` : '';
  return `${time} ${entry.origin.padEnd(5)} ${entry.endpoint.padEnd(18)} ${entry.status} ${entry.method} ${entry.path}${bytes}`;
}

/** `cf-access-mcp emulator`: runs the emulator in the foreground until SIGINT/SIGTERM. */
export async function runEmulatorCli(opts: EmulatorCliOptions = {}): Promise<void> {
  const { port, quiet, signal, ...options } = opts;
  const offset = (n: number): number | undefined => (port === undefined || port === 0 ? undefined : port + n);
  // Service authentication only: a service token is the one way in, so the emulator accepts one it makes up and says which.
  const serviceToken = options.mode === 'service-auth-only' && !options.serviceTokens ? { clientId: `${randomBytes(8).toString('hex')}.access`, clientSecret: `cfast_${randomBytes(24).toString('hex')}` } : undefined;
  const emulator = await startEmulator({
    ...options,
    ...(serviceToken ? { serviceTokens: [serviceToken] } : {}),
    appPort: options.appPort ?? offset(0) ?? 0,
    teamPort: options.teamPort ?? offset(1) ?? 0,
    app2Port: options.app2Port ?? offset(2) ?? 0,
    plainPort: options.plainPort ?? offset(3) ?? 0,
    ...(quiet ? {} : { trace: (entry: LogEntry) => console.log(traceLine(entry)) }),
  });
  const o = emulator.options;
  console.log(`Cloudflare Access emulator (mode ${o.mode}, approval ${o.approval})`);
  console.log(`  protected app : ${emulator.appUrl}`);
  console.log(`  second app    : ${emulator.app2Url}`);
  console.log(`  plain origin  : ${emulator.plainUrl}`);
  console.log(`  team domain   : ${emulator.teamUrl}`);
  console.log(`  admin API     : ${emulator.teamUrl}/__emulator/info`);
  if (o.mode === 'managed') {
    // The sign-in page opens by itself only for a team the user trusts: a newcomer's first login needs the team listed.
    const trust = `CF_ACCESS_MCP_TEAMS=${new URL(emulator.teamUrl).host}`;
    console.log('Try it (in another terminal):');
    console.log(`  ${trust} cf-access-mcp login ${emulator.appUrl}/${o.approval === 'interactive' ? '   then click Approve in the page that opens' : ''}`);
    console.log(`  cf-access-mcp fetch ${emulator.appUrl}/api/data.json`);
    console.log(`  or ask your agent (with cf-access-mcp configured, ${trust} in its entry's env) to access_fetch ${emulator.appUrl}/`);
  }
  if (serviceToken) {
    console.log('Try it (in another terminal), with the service token this emulator accepts (made up for this run):');
    console.log(`  CF_ACCESS_CLIENT_ID=${serviceToken.clientId} CF_ACCESS_CLIENT_SECRET=${serviceToken.clientSecret} CF_ACCESS_SERVICE_TOKEN_HOSTS=${new URL(emulator.appUrl).host} cf-access-mcp fetch ${emulator.appUrl}/api/data.json`);
  }
  console.log(quiet ? 'Press Ctrl+C to stop.' : 'Each request is printed below. Press Ctrl+C to stop.');

  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop, { once: true });
  });
  await emulator.close();
}
