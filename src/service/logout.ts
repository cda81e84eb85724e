import { AccessError } from '../core/errors.js';
import { step } from '../core/next-step.js';
import { sessionKey, type StoredSession } from '../auth/store.js';
import { appLabel, type AppKey } from '../auth/app-key.js';
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
      tokens.map((t) => revokeToken(svc.http, { revocationEndpoint: session.revocation_endpoint!, token: t.token, hint: t.hint, clientId: session.client_id })),
    );
    return outcomes.every(Boolean)
      ? { revoked: true, detail: 'Tokens revoked at the server and deleted locally.' }
      : { revoked: false, detail: 'The server did not confirm the revocation; the session was deleted locally anyway.' };
  } catch (error) {
    return { revoked: false, detail: `Revocation failed (${(error as Error).message}); the session was deleted locally anyway.` };
  }
}

/** access_logout: one application (the one serving url) or every one (all). */
export async function logout(svc: AccessService, params: { url?: string; all?: boolean; application?: AppKey }): Promise<LogoutResult> {
  if (!params.all && !params.url) {
    throw new AccessError('invalid_url', 'Logging out needs a URL or all.', `Name the application: ${step('logout', { url: '<url>' })}, or ${step('logout', { all: true })}.`);
  }
  const target = params.all ? undefined : parseTargetUrl(params.url!);
  // The application serving this URL, the most specific one known (with a session or not), worked out before
  // its pending login and refusal are forgotten; other applications on the host keep theirs.
  const key = target && (params.application ?? (await svc.servingApplication(target)));
  const cancelled = await cancelPendingLogins(svc, key);
  await forgetRefusals(svc, key);
  let sessions: StoredSession[];
  if (!target || !key) {
    sessions = svc.store.listSessions();
    forgetPages(svc);
  } else {
    forgetPages(svc, target.origin);
    const session = svc.store.getSession(key);
    if (!session) {
      const detail = cancelled.length > 0 ? 'No session was stored for the application serving this URL; the login pending for it was cancelled.' : 'No session was stored for the application serving this URL.';
      // Nothing known for the host: the URL's path, not a claim about the host-wide application. A cancelled login names its own.
      const application = key === target.origin && cancelled.length === 0 ? target.origin + target.pathname.replace(/\/+$/, '') : key;
      return { logged_out: [{ host: target.host, application: appLabel(application), revoked: false, detail }] };
    }
    sessions = [session];
  }
  const results = [];
  for (const session of sessions) {
    const outcome = await revokeSession(svc, session);
    await svc.store.deleteSession(sessionKey(session));
    const detail = cancelled.includes(sessionKey(session)) || cancelled.includes(session.origin) ? `${outcome.detail} The login pending for it was cancelled.` : outcome.detail;
    results.push({ host: new URL(session.origin).host, application: appLabel(sessionKey(session)), ...outcome, detail });
  }
  if (!key) {
    for (const pendingKey of cancelled.filter((k) => !sessions.some((s) => sessionKey(s) === k || s.origin === k))) {
      results.push({ host: new URL(pendingKey).host, application: appLabel(pendingKey), revoked: false, detail: 'No session was stored; the login pending for it was cancelled.' });
    }
  }
  return { logged_out: results };
}

/**
 * Logging out also ends a login still waiting for that application (`key`; every one when undefined): its
 * callback page then says "cancelled". Returns their application keys.
 */
async function cancelPendingLogins(svc: AccessService, key: AppKey | undefined): Promise<string[]> {
  const pending = [...new Set([...svc.methods.all().flatMap((m) => m.pendingKeys()), ...svc.oauth.resumable.list().map((r) => r.origin)])];
  const cancelled: string[] = [];
  for (const pendingKey of key === undefined ? pending : pending.filter((k) => k === key)) {
    if (await svc.methods.cancel(pendingKey)) cancelled.push(pendingKey);
  }
  return cancelled;
}

/** Logging out is starting over: a refusal that held back new browser logins for that application (`key`; every one when undefined) no longer does. */
async function forgetRefusals(svc: AccessService, key: AppKey | undefined): Promise<void> {
  const refused = svc.store.refusedKeys();
  for (const k of key === undefined ? refused : refused.filter((r) => r === key)) await svc.store.deleteRefusal(k).catch(() => {});
}
