import { AccessError } from '../core/errors.js';
import { step } from '../core/next-step.js';
import { sessionKey, type StoredSession } from '../auth/store.js';
import { appLabel } from '../auth/app-key.js';
import { revokeToken } from '../auth/token.js';
import { parseTargetUrl } from '../core/url-policy.js';
import type { AccessService } from './access-service.js';
import { forgetPages } from './fetch-cache.js';

export interface LogoutResult {
  logged_out: Array<{ host: string; application: string; revoked: boolean; detail: string }>;
}

/** Revokes a session's tokens at the server (RFC 7009) when it can; reports, never throws. */
async function revokeSession(svc: AccessService, session: StoredSession): Promise<{ revoked: boolean; detail: string }> {
  if (session.method !== 'oauth' || !session.revocation_endpoint) return { revoked: false, detail: 'Session deleted locally.' };
  const tokens = [
    ...(session.refresh_token ? [{ token: session.refresh_token, hint: 'refresh_token' as const }] : []),
    { token: session.access_token, hint: 'access_token' as const },
  ];
  try {
    const outcomes = await Promise.all(
      tokens.map((t) => revokeToken(svc.dispatcher, { revocationEndpoint: session.revocation_endpoint!, token: t.token, hint: t.hint, clientId: session.client_id })),
    );
    return outcomes.every(Boolean)
      ? { revoked: true, detail: 'Tokens revoked at the server and deleted locally.' }
      : { revoked: false, detail: 'The server did not confirm the revocation; the session was deleted locally anyway.' };
  } catch (error) {
    return { revoked: false, detail: `Revocation failed (${(error as Error).message}); the session was deleted locally anyway.` };
  }
}

/** access_logout: one host (url) or every host (all). */
export async function logout(svc: AccessService, params: { url?: string; all?: boolean }): Promise<LogoutResult> {
  let sessions: StoredSession[];
  if (params.all) {
    sessions = svc.store.listSessions();
    forgetPages(svc);
  } else if (params.url) {
    const target = parseTargetUrl(params.url);
    forgetPages(svc, target.origin);
    // The application serving this URL: its most specific session; other applications on the host keep theirs.
    const session = svc.store.getSession(svc.store.appKeyFor(target));
    if (!session) return { logged_out: [{ host: target.host, application: appLabel(target.origin + target.pathname.replace(/\/+$/, '')), revoked: false, detail: 'No session was stored for the application serving this URL.' }] };
    sessions = [session];
  } else {
    throw new AccessError('invalid_url', 'Logging out needs a URL or all.', `Name the application: ${step('logout', { url: '<url>' })}, or ${step('logout', { all: true })}.`);
  }
  const results = [];
  for (const session of sessions) {
    const outcome = await revokeSession(svc, session);
    await svc.store.deleteSession(sessionKey(session));
    results.push({ host: new URL(session.origin).host, application: appLabel(sessionKey(session)), ...outcome });
  }
  return { logged_out: results };
}
