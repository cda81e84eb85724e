import type { StoredSession } from '../auth/store.js';

/**
 * Why a managed-OAuth session cannot be renewed without the browser, from
 * what the login recorded on it; undefined when refresh is expected to work.
 */
export function refreshNote(session: StoredSession | undefined): string | undefined {
  if (!session || session.method !== 'oauth') return undefined;
  if (!session.refresh_token && session.refresh_token_issued === false) {
    const lifetime = session.expires_at !== undefined ? session.expires_at - session.obtained_at : undefined;
    const every = lifetime !== undefined && lifetime > 0 ? minutes(lifetime) : 'each time the access token expires';
    return `this application issues no refresh token — its grant session duration is 0; you will sign in again ${every}`;
  }
  // A refresh token may still come (Access issues one to code-only clients), but a server that enforces grants refuses it.
  if (session.refresh_grant_registered === false) {
    return 'the application refused the refresh_token grant when this client registered, so refresh may not work; you may have to sign in again when the access token expires';
  }
  return undefined;
}

function minutes(ms: number): string {
  const n = Math.max(1, Math.round(ms / 60_000));
  return n === 1 ? 'every minute' : `every ${n} minutes`;
}
