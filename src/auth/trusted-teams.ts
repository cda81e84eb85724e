import type { SessionStore } from './store.js';

/**
 * Which Access teams may have their sign-in page opened in the user's browser
 * without asking. Anyone can create a team, and any page can name one as its
 * authorization server, so only a team the user already chose counts: one
 * with a stored session, a registration used for a completed (or confirmed)
 * sign-in, or one listed in CF_ACCESS_MCP_TEAMS.
 */

/** A team as compared everywhere: URL.host (host plus a non-default port), lowercase, no trailing dot. */
export function teamHost(url: URL): string {
  return url.host.toLowerCase().replace(/\.(?=:|$)/, '');
}

/** CF_ACCESS_MCP_TEAMS: comma-separated `host` or `host:port`, spaces ignored. Bad entries are reported, not used. */
export function parseTeamList(value: string | undefined): { teams: string[]; problems: string[] } {
  const teams: string[] = [];
  const problems: string[] = [];
  for (const raw of (value ?? '').split(',')) {
    const entry = raw.replace(/\s+/g, '');
    if (!entry) continue;
    let url: URL | undefined;
    try {
      url = /[/?#@]/.test(entry) ? undefined : new URL(`https://${entry}`);
    } catch {
      url = undefined;
    }
    if (!url) {
      problems.push(`CF_ACCESS_MCP_TEAMS: "${entry.slice(0, 100)}" is not a host or host:port (e.g. myteam.cloudflareaccess.com); that entry is ignored.`);
      continue;
    }
    teams.push(teamHost(url));
  }
  return { teams: [...new Set(teams)], problems };
}

/** Registrations made for a team the user has not confirmed carry this flag set to false. */
export const TEAM_TRUSTED_FIELD = 'team_trusted';

/** True when the user already trusts the team (authorization server) `team`. */
export function isTrustedTeam(team: URL, store: SessionStore, configured: readonly string[]): boolean {
  const host = teamHost(team);
  if (configured.includes(host)) return true;
  const data = store.read();
  for (const session of Object.values(data.sessions)) {
    if (session.authorization_server && sameTeam(session.authorization_server, host)) return true;
  }
  for (const [key, registration] of Object.entries(data.registrations)) {
    // Registrations from before this flag existed were made by logins the user ran: they count.
    if (registration[TEAM_TRUSTED_FIELD] !== false && sameTeam(key.split(' ')[0]!, host)) return true;
  }
  return false;
}

function sameTeam(url: string, host: string): boolean {
  try {
    return teamHost(new URL(url)) === host;
  } catch {
    return false;
  }
}

/** Why an untrusted team's page was not opened, naming the team and how to trust it. */
export function untrustedTeamReason(team: string, host: string): string {
  return (
    `${team} is not a team you have signed in to before, so its sign-in page for ${host} was not opened automatically ` +
    `(any site can name any Access team). Open the link only if you expect to sign in to ${host} through ${team}; ` +
    `to open this team's page automatically from now on, set CF_ACCESS_MCP_TEAMS=${team} where cf-access-mcp runs (the env of its entry in your MCP client's config, or your shell for the command line)`
  );
}
