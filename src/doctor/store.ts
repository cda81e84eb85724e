/** The session store: where it is, whether it is private, and what it holds for this URL (never a token). */
import { lstatSync } from 'node:fs';
import { finding, type DoctorContext, type Finding } from './finding.js';

export function checkStore(ctx: DoctorContext): Finding[] {
  const { service, url } = ctx;
  const dir = service.store.dir;
  const findings: Finding[] = [];
  const stat = (() => {
    try {
      return lstatSync(dir);
    } catch {
      return undefined;
    }
  })();
  if (!service.store.persistent) {
    // The store's own warning names the problem (a file, a link, another owner, not writable) and its fix; "chmod 700" fixes only some.
    const why = service.store.warnings.at(-1) ?? `The store at ${dir} could not be used: sessions are kept in memory only.`;
    findings.push(finding('store', 'store_memory_only', 'warn', why, `Fix ${dir} as said, or set CF_ACCESS_MCP_HOME to a directory you own that others cannot write to.`));
  } else if (!stat) {
    findings.push(finding('store', 'store_ok', 'ok', `The store ${dir} does not exist yet; it is created (mode 700) at the first sign-in.`));
  } else {
    const mode = (stat.mode & 0o777).toString(8);
    findings.push(finding('store', 'store_ok', 'ok', `The store ${dir} is a private directory (mode ${mode}).`));
  }
  // The application serving this URL (one under a path, e.g. /admin, has its own session), not just the host's.
  const session = service.sessionInfo(service.applicationFor(url));
  const application = session.application;
  if (session.state === 'none') {
    findings.push(finding('store', 'session_none', 'info', `No stored session for ${application}.`));
  } else {
    const expiry = session.expires_at ? `, ${session.state === 'expired' ? 'expired' : 'expires'} ${session.expires_at}${session.refreshable ? ' (refreshable)' : ''}` : '';
    const level = session.state === 'expired' && !session.refreshable ? 'warn' : 'info';
    findings.push(
      finding('store', `session_${session.state}`, level, `Stored session for ${application}: ${session.state}, ${session.method}${expiry}.${session.refresh_note ? ` ${session.refresh_note}` : ''}`, level === 'warn' ? `Run cf-access-mcp login ${url.href} to sign in again.` : undefined),
    );
  }
  return findings;
}
