import { AccessError } from '../core/errors.js';
import { step } from '../core/next-step.js';
import { sessionKey, type StoredSession } from '../auth/store.js';
import { appLabel, longestKeyFor } from '../auth/app-key.js';
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
  const cancelled = await cancelPendingLogins(svc, params);
  await forgetRefusals(svc, params);
  if (params.all) {
    sessions = svc.store.listSessions();
    forgetPages(svc);
  } else if (params.url) {
    const target = parseTargetUrl(params.url);
    forgetPages(svc, target.origin);
    // The application serving this URL: its most specific session; other applications on the host keep theirs.
    const session = svc.store.getSession(svc.store.appKeyFor(target));
    if (!session) {
      const detail = cancelled.length > 0 ? 'No session was stored for the application serving this URL; the login pending for it was cancelled.' : 'No session was stored for the application serving this URL.';
      return { logged_out: [{ host: target.host, application: appLabel(target.origin + target.pathname.replace(/\/+$/, '')), revoked: false, detail }] };
    }
    sessions = [session];
  } else {
    throw new AccessError('invalid_url', 'Logging out needs a URL or all.', `Name the application: ${step('logout', { url: '<url>' })}, or ${step('logout', { all: true })}.`);
  }
  const results = [];
  for (const session of sessions) {
    const outcome = await revokeSession(svc, session);
    await svc.store.deleteSession(sessionKey(session));
    const detail = cancelled.includes(sessionKey(session)) || cancelled.includes(session.origin) ? `${outcome.detail} The login pending for it was cancelled.` : outcome.detail;
    results.push({ host: new URL(session.origin).host, application: appLabel(sessionKey(session)), ...outcome, detail });
  }
  if (params.all) {
    for (const key of cancelled.filter((k) => !sessions.some((s) => sessionKey(s) === k || s.origin === k))) {
      results.push({ host: new URL(key).host, application: appLabel(key), revoked: false, detail: 'No session was stored; the login pending for it was cancelled.' });
    }
  }
  return { logged_out: results };
}

/** Logging out also ends a login still waiting for that application (its callback page then says "cancelled"); returns their application keys. */
async function cancelPendingLogins(svc: AccessService, params: { url?: string; all?: boolean }): Promise<string[]> {
  const pending = [...new Set([...svc.methods.all().flatMap((m) => m.pendingKeys()), ...svc.oauth.resumable.list().map((r) => r.origin)])];
  let keys: string[] = [];
  if (params.all) keys = pending;
  else if (params.url) {
    // The login pending for the application serving this URL: the most specific one, as for sessions.
    const target = parseTargetUrl(params.url);
    const key = longestKeyFor(pending, target);
    keys = key ? [key] : [];
  }
  const cancelled: string[] = [];
  for (const key of keys) {
    if (await svc.methods.cancel(key)) cancelled.push(key);
  }
  return cancelled;
}

/** Logging out is starting over: a refusal that held back new browser logins for that application no longer does. */
async function forgetRefusals(svc: AccessService, params: { url?: string; all?: boolean }): Promise<void> {
  const refused = svc.store.refusedKeys();
  const key = params.all ? undefined : params.url ? longestKeyFor(refused, parseTargetUrl(params.url)) : undefined;
  for (const k of params.all ? refused : key ? [key] : []) await svc.store.deleteRefusal(k).catch(() => {});
}
