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
  const { probe, app } = await describeOffer(svc, target, signal);
  return { sessions: [sessionInfo(svc, app)], probe, warnings, store: svc.store.dir, service_tokens };
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

/**
 * Probes without credentials, then says what Access offers and which method access_fetch would use,
 * and which application serves the URL: the one its challenge names, else the most specific one known.
 */
async function describeOffer(svc: AccessService, target: URL, signal?: AbortSignal): Promise<{ probe: ProbeInfo; app: AppKey }> {
  const { challenge, status: httpStatus } = await svc.probe(target, signal);
  const token = svc.serviceTokenFor(target);
  const tokenNote = token ? ` A service token is configured for this host (${token.pattern.source}) and is sent first.` : '';
  const known = svc.applicationFor(target);
  if (!challenge) {
    const probe: ProbeInfo = {
      url: target.href,
      protected: false,
      offer: 'none',
      method: svc.methods.configuredFor(target)?.name ?? 'none',
      detail: `No Cloudflare Access challenge (HTTP ${httpStatus} without credentials).${tokenNote}`,
    };
    return { probe, app: known };
  }
  const { offer, detail } = await offerFor(svc, target, challenge);
  // The application the challenge's metadata names; without metadata, the most specific one known here.
  const serving = challenge.resourceMetadataUrl ? await svc.appOfChallenge(target, challenge).catch(() => known) : known;
  const stored = svc.store.getSession(serving);
  const session = sessionState(stored) === 'authenticated' ? stored : undefined;
  const byOffer: AuthMethod = offer === 'managed_oauth' || offer === 'unknown' ? 'oauth' : offer === 'classic' ? 'cloudflared' : 'none';
  const probe: ProbeInfo = { url: target.href, protected: true, offer, method: svc.methods.configuredFor(target)?.name ?? session?.method ?? byOffer, detail: detail + tokenNote };
  return { probe, app: serving };
}
