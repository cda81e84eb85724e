import type { SessionInfo } from '../service/results.js';
import { parseCommandArgs } from './args.js';
import { EXIT, UsageError } from './exit-codes.js';
import { forPeople, printJson, reportError } from './output.js';
import { openSession } from './session.js';
import { STATUS_USAGE } from './usage.js';
import { shownUrl } from '../core/url-policy.js';

function describe(s: SessionInfo): string {
  const parts = [`${s.application}  ${s.state}`];
  if (s.method !== 'unknown') parts.push(s.method);
  if (s.expires_at) parts.push(`${s.state === 'expired' ? 'expired' : 'expires'} ${s.expires_at}${s.refreshable ? ' (refreshable)' : ''}`);
  if (s.refresh_note) parts.push(`(${s.refresh_note})`);
  if (s.refused) parts.push(`(no new login for now: ${s.refused})`);
  return parts.join('  ');
}

/** `cf-access-mcp status [url]`: stored sessions, and what Access offers at a URL. */
export async function runStatus(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    { json: { type: 'boolean' }, verbose: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    STATUS_USAGE,
  );
  if (values.help) {
    process.stdout.write(STATUS_USAGE);
    return EXIT.ok;
  }
  if (positionals.length > 1) throw new UsageError('status takes at most one URL.', STATUS_USAGE);
  const session = openSession(Boolean(values.verbose));
  try {
    const result = await session.service.status({ url: positionals[0] }, session.signal);
    if (values.json) {
      printJson(result);
      return EXIT.ok;
    }
    const lines = result.sessions.length ? result.sessions.map(describe) : ['No stored sessions.'];
    if (result.probe) lines.push(`${shownUrl(result.probe.url)}: ${result.probe.protected ? 'protected by Cloudflare Access' : 'not protected'} — ${result.probe.detail}`);
    lines.push(`Store: ${result.store}`);
    process.stdout.write(`${forPeople(lines.join('\n'))}\n`);
    for (const warning of result.warnings) process.stderr.write(`warning: ${forPeople(warning)}\n`);
    return EXIT.ok;
  } catch (error) {
    return reportError(error, session.signal.aborted);
  } finally {
    await session.close();
  }
}
