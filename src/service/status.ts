import { cloudflaredSessionVerified } from '../auth/cloudflared.js';
import { sessionState } from '../auth/sessions.js';
import { appLabel, type AppKey } from '../auth/app-key.js';
import { sessionKey } from '../auth/store.js';
import { parseTargetUrl } from '../core/url-policy.js';
import type { AccessService } from './access-service.js';
import { offerFor } from './login-flow.js';
import { refreshNote } from './refresh-note.js';
import type { AuthMethod, ProbeInfo, ServiceTokenSummary, SessionInfo } from './results.js';

export interface StatusResult {
  sessions: SessionInfo[];
  probe?: ProbeInfo;
  warnings: string[];
  store: string;
  service_tokens: ServiceTokenSummary;
}

/** One application's state: stored session, or a login pending here or in another process. Never a token. */
export function sessionInfo(svc: AccessService, key: AppKey): SessionInfo {
  const url = new URL(key);
  const host = url.host;
  const origin = url.origin;
  const pending = svc.methods.all().map((m) => (m.pendingKeys().includes(key) ? m : undefined)).find(Boolean);
  const pendingUrl = pending ? (pending.pendingFor(url)?.authorizationUrl ?? svc.oauth.pendingElsewhere(key)?.authorizationUrl) : undefined;
  const session = svc.store.getSession(key);
  const app = { host, origin, application: appLabel(key), resource: key };
  if (!session) {
    if (pending) return { ...app, state: 'pending', method: pending.name, login_url: pendingUrl || undefined };
    const refusal = svc.store.getRefusal(key);
    return { ...app, state: 'none', method: svc.methods.configuredFor(url)?.name ?? 'unknown', ...(refusal ? { refused: refusal.message } : {}) };
  }
  // A cloudflared session stored before its application was verified is never sent again: for the user it has ended.
  const state = session.method === 'cloudflared' && !cloudflaredSessionVerified(session) ? 'expired' : sessionState(session);
  const note = refreshNote(session);
  const refusal = svc.store.getRefusal(key);
  return {
    ...app,
    state: pending && state !== 'authenticated' ? 'pending' : state,
    method: session.method,
    expires_at: session.expires_at ? new Date(session.expires_at).toISOString() : undefined,
    expires_in_seconds: session.expires_at ? Math.max(0, Math.round((session.expires_at - Date.now()) / 1000)) : undefined,
    refreshable: Boolean(session.refresh_token),
    ...(note ? { refresh_note: note } : {}),
    ...(refusal ? { refused: refusal.message } : {}),
  };
}

/** access_status: every stored or pending host, or one URL with what Access offers for it. */
export async function status(svc: AccessService, params: { url?: string }, signal?: AbortSignal): Promise<StatusResult> {
  const warnings = [...svc.store.warnings];
  const service_tokens = serviceTokenSummary(svc);
  if (!params.url) {
    const keys = new Set([...svc.store.listSessions().map(sessionKey), ...svc.methods.all().flatMap((m) => m.pendingKeys()), ...svc.store.refusedKeys()]);
    return { sessions: [...keys].sort().map((key) => sessionInfo(svc, key)), warnings, store: svc.store.dir, service_tokens };
  }
  const target = parseTargetUrl(params.url);
  const info = sessionInfo(svc, svc.store.appKeyFor(target));
  const probe = await describeOffer(svc, target, signal);
  return { sessions: [info], probe, warnings, store: svc.store.dir, service_tokens };
}

/** Which hosts get a service token, and why configured credentials go unused (never the credentials themselves). */
export function serviceTokenSummary(svc: AccessService): ServiceTokenSummary {
  return {
    hosts: svc.serviceTokens.tokens.map((t) => t.pattern.source),
    header: svc.serviceTokens.header,
    unused: [...svc.serviceTokens.unused],
    problems: [...svc.serviceTokens.problems],
  };
}

/** Probes without credentials, then says what Access offers and which method access_fetch would use. */
async function describeOffer(svc: AccessService, target: URL, signal?: AbortSignal): Promise<ProbeInfo> {
  const { challenge, status: httpStatus } = await svc.probe(target, signal);
  const token = svc.serviceTokenFor(target);
  const stored = svc.store.getSession(svc.store.appKeyFor(target));
  const session = sessionState(stored) === 'authenticated' ? stored : undefined;
  const tokenNote = token ? ` A service token is configured for this host (${token.pattern.source}) and is sent first.` : '';
  if (!challenge) {
    return {
      url: target.href,
      protected: false,
      offer: 'none',
      method: svc.methods.configuredFor(target)?.name ?? 'none',
      detail: `No Cloudflare Access challenge (HTTP ${httpStatus} without credentials).${tokenNote}`,
    };
  }
  const { offer, detail } = await offerFor(svc, target, challenge);
  const byOffer: AuthMethod = offer === 'managed_oauth' || offer === 'unknown' ? 'oauth' : offer === 'classic' ? 'cloudflared' : 'none';
  return { url: target.href, protected: true, offer, method: svc.methods.configuredFor(target)?.name ?? session?.method ?? byOffer, detail: detail + tokenNote };
}
