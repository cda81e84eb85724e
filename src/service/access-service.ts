import type { Dispatcher } from 'undici';
import { CallbackListener } from '../auth/callback-server.js';
import { detectAccess, type AccessChallenge } from '../auth/detect.js';
import { offersOAuth } from '../auth/discovery.js';
import { AccessError, LoginPendingError } from '../auth/errors.js';
import type { Logger } from '../auth/logger.js';
import { OAuthLogin, type PendingLogin } from '../auth/oauth-login.js';
import { Sessions, sessionState } from '../auth/sessions.js';
import { SessionStore, type StoredSession } from '../auth/store.js';
import { revokeToken } from '../auth/token.js';
import { parseTargetUrl } from '../auth/url-policy.js';
import { createDispatcher, discard, headerValue, readCapped } from '../http/client.js';
import { convertBody, type Format } from '../http/convert.js';
import { contentTypeOf } from '../http/json.js';
import { paginate } from '../http/paging.js';
import { sendFollowingRedirects } from '../http/redirects.js';
import type { Config } from './config.js';
import type { AuthMethod, FetchResult, LoginResult, ProbeInfo, SessionInfo } from './results.js';
import { waitAtMost, type WaitHooks } from './wait.js';

export interface FetchParams {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | object;
  format?: Format;
  max_length?: number;
  start_index?: number;
  wait_seconds?: number;
}

export interface LoginHooks extends WaitHooks {
  /** Told the authorization URL as soon as a login is pending (for elicitation or a CLI spinner). */
  onLoginUrl?: (login: PendingLogin) => void;
}

const SELECTED_HEADERS = ['content-type', 'content-length', 'last-modified', 'etag', 'cache-control', 'location', 'retry-after'];
const MAX_AUTH_ROUNDS = 4;

/**
 * Everything the tools and the CLI do, independent of MCP: fetch through
 * Access (logging in when needed), login, status, logout.
 */
export class AccessService {
  readonly store: SessionStore;
  readonly sessions: Sessions;
  readonly oauth: OAuthLogin;
  readonly callback: CallbackListener;
  readonly dispatcher: Dispatcher;
  private storeWarningShown = false;

  constructor(
    readonly config: Config,
    private readonly log: Logger,
  ) {
    this.dispatcher = createDispatcher();
    this.store = new SessionStore(config.home, (level, message) => log(level, message));
    this.sessions = new Sessions(this.dispatcher, this.store, config.refreshSkewMs, log);
    this.callback = new CallbackListener({ preferredPort: config.callbackPort, log: (level, message) => log(level, message) });
    this.oauth = new OAuthLogin(
      this.dispatcher,
      this.store,
      this.callback,
      { browserCommand: config.browserCommand, loginTimeoutMs: config.loginTimeoutMs },
      log,
    );
  }

  /** Warnings about the store, shown once on the first result that can carry them. */
  private takeStoreWarnings(): string[] {
    if (this.storeWarningShown || this.store.warnings.length === 0) return [];
    this.storeWarningShown = true;
    return [...this.store.warnings];
  }

  /** Headers that authenticate us to `origin`, from a live session (refreshed when near expiry). */
  private async credentialsFor(url: URL): Promise<Record<string, string>> {
    const session = await this.sessions.usable(url.origin);
    if (!session) return {};
    return session.method === 'cloudflared' ? { 'cf-access-token': session.access_token } : { authorization: `Bearer ${session.access_token}` };
  }

  async fetch(params: FetchParams, hooks: LoginHooks = {}): Promise<FetchResult> {
    const target = parseTargetUrl(params.url);
    const method = (params.method ?? 'GET').toUpperCase();
    if (!/^[A-Z]+$/.test(method)) {
      throw new AccessError('invalid_url', `"${params.method}" is not an HTTP method.`, 'Use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS.');
    }
    const headers: Record<string, string> = { 'user-agent': 'cf-access-mcp', accept: '*/*' };
    for (const [name, value] of Object.entries(params.headers ?? {})) headers[name.toLowerCase()] = String(value);
    let body: string | undefined;
    if (params.body !== undefined && params.body !== null) {
      if (typeof params.body === 'string') body = params.body;
      else {
        body = JSON.stringify(params.body);
        headers['content-type'] ??= 'application/json';
      }
    }

    const refreshed = new Set<string>();
    const loggedIn = new Set<string>();
    for (let round = 0; round < MAX_AUTH_ROUNDS; round++) {
      const followed = await sendFollowingRedirects(
        this.dispatcher,
        { url: target, method, headers, body, signal: hooks.signal },
        (url) => this.credentialsFor(url),
      );
      const { response, hops } = followed;
      const finalUrl = hops[hops.length - 1]!;
      const challenge = await detectAccess(response, finalUrl);
      if (!challenge) {
        const auth = authOf(followed.credentialHeaders);
        return this.buildResult(params, target, finalUrl, response, auth);
      }
      discard(response.body);
      const origin = finalUrl.origin;
      if (followed.credentialHeaders.length > 0) {
        const session = this.store.getSession(origin);
        if (session && !refreshed.has(origin) && session.refresh_token) {
          refreshed.add(origin);
          if (await this.sessions.refresh(origin, session).catch(() => undefined)) continue;
        } else if (session) {
          await this.sessions.drop(origin, session);
        }
      }
      if (loggedIn.has(origin)) {
        throw new AccessError(
          'authorization_failed',
          `${finalUrl.host} still refuses access right after a successful login.`,
          'Your account may not be allowed by the Access policy of this application; ask its administrator, or try access_login with force: true.',
        );
      }
      await this.loginFor(finalUrl, challenge, params.wait_seconds ?? this.config.defaultWaitSeconds, hooks);
      loggedIn.add(origin);
    }
    throw new AccessError('authorization_failed', `Could not get past Cloudflare Access for ${target.host}.`, 'Call access_status with this URL to see what the application offers.');
  }

  private async buildResult(
    params: FetchParams,
    requested: URL,
    finalUrl: URL,
    response: Awaited<ReturnType<typeof sendFollowingRedirects>>['response'],
    auth: AuthMethod,
  ): Promise<FetchResult> {
    const contentType = contentTypeOf(response.headers);
    const { buffer, truncated } = await readCapped(response.body, this.config.maxBodyBytes, finalUrl);
    const lengthHeader = Number(headerValue(response.headers, 'content-length'));
    const converted = await convertBody(buffer, contentType, params.format ?? 'markdown', {
      bodyComplete: !truncated,
      maxImageBytes: this.config.maxImageBytes,
      totalBytes: Number.isFinite(lengthHeader) ? lengthHeader : undefined,
    });
    const warnings = this.takeStoreWarnings();
    let text = converted.text;
    if (truncated && converted.kind === 'text') {
      warnings.push(`The body is larger than ${this.config.maxBodyBytes} bytes; only the first ${this.config.maxBodyBytes} bytes were read.`);
    }
    const page = paginate(text, Math.max(0, params.start_index ?? 0), Math.max(1, params.max_length ?? 20_000));
    text = page.text;
    const selected: Record<string, string> = {};
    for (const name of SELECTED_HEADERS) {
      const value = headerValue(response.headers, name);
      if (value !== undefined) selected[name] = value;
    }
    return {
      url: requested.href,
      final_url: finalUrl.href,
      status: response.status,
      content_type: contentType,
      auth,
      title: converted.title,
      text,
      image: converted.image,
      total_length: page.total_length,
      start_index: page.start_index,
      truncated: page.truncated,
      next_start_index: page.next_start_index,
      headers: selected,
      warnings,
    };
  }

  /** Starts (or joins) the login for an origin and waits a bounded time for it. */
  private async loginFor(target: URL, challenge: AccessChallenge, waitSeconds: number, hooks: LoginHooks): Promise<StoredSession> {
    const pending = await this.oauth.begin(target, challenge);
    hooks.onLoginUrl?.(pending);
    const outcome = await waitAtMost(pending.done, Math.max(0, waitSeconds), hooks);
    if (outcome.done) return outcome.value;
    const note = outcome.reason === 'cancelled' ? ' The call was cancelled; the login keeps waiting.' : '';
    throw new LoginPendingError(target.origin, pending.authorizationUrl, pending.expiresAt, pending.browser.opened, note + (pending.browser.reason ? ` (${pending.browser.reason})` : ''));
  }

  /** Sends one unauthenticated request and reads what Access says about the URL. */
  async probe(url: URL, signal?: AbortSignal): Promise<{ challenge?: AccessChallenge; status: number }> {
    const followed = await sendFollowingRedirects(
      this.dispatcher,
      { url, method: 'GET', headers: { 'user-agent': 'cf-access-mcp', accept: 'application/json' }, signal },
      async () => ({}),
    );
    discard(followed.response.body);
    const finalUrl = followed.hops[followed.hops.length - 1]!;
    return { challenge: await detectAccess(followed.response, finalUrl), status: followed.response.status };
  }

  async login(params: { url: string; force?: boolean; wait_seconds?: number }, hooks: LoginHooks = {}): Promise<LoginResult> {
    const target = parseTargetUrl(params.url);
    const origin = target.origin;
    if (params.force) {
      const existing = this.store.getSession(origin);
      if (existing) await this.store.deleteSession(origin);
    } else {
      const session = await this.sessions.usable(origin);
      if (session) return authenticatedResult(target, session, 'Already logged in.');
    }
    const waitSeconds = params.wait_seconds ?? this.config.defaultWaitSeconds;
    let pending = this.oauth.pendingFor(origin);
    if (!pending) {
      const { challenge } = await this.probe(target, hooks.signal);
      if (!challenge) {
        return { status: 'not_protected', host: target.host, method: 'none', message: `${target.host} did not answer with a Cloudflare Access challenge; no login is needed. Use access_fetch directly.` };
      }
      pending = await this.oauth.begin(target, challenge);
    }
    hooks.onLoginUrl?.(pending);
    const outcome = await waitAtMost(pending.done, Math.max(0, waitSeconds), hooks);
    if (outcome.done) return authenticatedResult(target, outcome.value, 'Login completed.');
    return {
      status: 'pending',
      host: target.host,
      method: 'oauth',
      login_url: pending.authorizationUrl,
      message:
        `Login pending: ${pending.browser.opened ? 'a browser window was opened' : `no browser could be opened${pending.browser.reason ? ` (${pending.browser.reason})` : ''}`}. ` +
        `Ask the user to open ${pending.authorizationUrl} and sign in, then call access_login or access_fetch again. The login keeps waiting until ${new Date(pending.expiresAt).toISOString()}.`,
    };
  }

  sessionInfo(origin: string): SessionInfo {
    const host = new URL(origin).host;
    const pending = this.oauth.pendingFor(origin);
    const session = this.store.getSession(origin);
    if (!session) {
      return pending
        ? { host, origin, state: 'pending', method: 'oauth', login_url: pending.authorizationUrl }
        : { host, origin, state: 'none', method: 'unknown' };
    }
    const state = sessionState(session);
    return {
      host,
      origin,
      state: pending && state !== 'authenticated' ? 'pending' : state,
      method: session.method,
      expires_at: session.expires_at ? new Date(session.expires_at).toISOString() : undefined,
      expires_in_seconds: session.expires_at ? Math.max(0, Math.round((session.expires_at - Date.now()) / 1000)) : undefined,
      refreshable: Boolean(session.refresh_token),
    };
  }

  async status(params: { url?: string }, signal?: AbortSignal): Promise<{ sessions: SessionInfo[]; probe?: ProbeInfo; warnings: string[]; store: string }> {
    const warnings = [...this.store.warnings];
    if (!params.url) {
      const origins = new Set(this.store.listSessions().map((s) => s.origin));
      return { sessions: [...origins].sort().map((o) => this.sessionInfo(o)), warnings, store: this.store.dir };
    }
    const target = parseTargetUrl(params.url);
    const info = this.sessionInfo(target.origin);
    const probe = await this.describeOffer(target, signal);
    return { sessions: [info], probe, warnings, store: this.store.dir };
  }

  private async describeOffer(target: URL, signal?: AbortSignal): Promise<ProbeInfo> {
    const { challenge, status } = await this.probe(target, signal);
    if (!challenge) {
      return { url: target.href, protected: false, offer: 'none', detail: `No Cloudflare Access challenge (HTTP ${status} without credentials).` };
    }
    if (challenge.style === 'forbidden') {
      return { url: target.href, protected: true, offer: 'service_auth_only', detail: 'Access answers 403 (service auth only): only a service token can reach it.' };
    }
    if (challenge.resourceMetadataUrl) {
      try {
        const discovery = await this.oauth.discover(target, challenge.resourceMetadataUrl);
        const oauth = offersOAuth(discovery.resourceMetadata) !== false && Boolean(discovery.server.registration_endpoint);
        return oauth
          ? { url: target.href, protected: true, offer: 'managed_oauth', detail: `Managed OAuth via ${discovery.authorizationServer.host}.` }
          : { url: target.href, protected: true, offer: 'classic', detail: 'Access without managed OAuth: use cloudflared or a service token.' };
      } catch (error) {
        return { url: target.href, protected: true, offer: 'unknown', detail: `Protected by Access, but discovery failed: ${(error as Error).message}` };
      }
    }
    return { url: target.href, protected: true, offer: 'classic', detail: 'Access redirects to its login page (no managed OAuth): use cloudflared or a service token.' };
  }

  async logout(params: { url?: string; all?: boolean }): Promise<{ logged_out: Array<{ host: string; revoked: boolean; detail: string }> }> {
    let sessions: StoredSession[];
    if (params.all) sessions = this.store.listSessions();
    else if (params.url) {
      const target = parseTargetUrl(params.url);
      const session = this.store.getSession(target.origin);
      sessions = session ? [session] : [];
      if (!session) return { logged_out: [{ host: target.host, revoked: false, detail: 'No session was stored for this host.' }] };
    } else {
      throw new AccessError('invalid_url', 'access_logout needs a url or all: true.', 'Pass the URL of the site to log out of, or all: true.');
    }
    const results = [];
    for (const session of sessions) {
      const host = new URL(session.origin).host;
      let revoked = false;
      let detail = 'Session deleted locally.';
      if (session.method === 'oauth' && session.revocation_endpoint) {
        try {
          const tokens = [
            ...(session.refresh_token ? [{ token: session.refresh_token, hint: 'refresh_token' as const }] : []),
            { token: session.access_token, hint: 'access_token' as const },
          ];
          const outcomes = await Promise.all(
            tokens.map((t) => revokeToken(this.dispatcher, { revocationEndpoint: session.revocation_endpoint!, token: t.token, hint: t.hint, clientId: session.client_id })),
          );
          revoked = outcomes.every(Boolean);
          detail = revoked ? 'Tokens revoked at the server and deleted locally.' : 'The server did not confirm the revocation; the session was deleted locally anyway.';
        } catch (error) {
          detail = `Revocation failed (${(error as Error).message}); the session was deleted locally anyway.`;
        }
      }
      await this.store.deleteSession(session.origin);
      results.push({ host, revoked, detail });
    }
    return { logged_out: results };
  }

  async close(): Promise<void> {
    this.callback.shutdown(new AccessError('login_timeout', 'The server is shutting down.', 'Start the login again after the server restarts.'));
    await this.dispatcher.close().catch(() => {});
  }
}

function authOf(credentialHeaders: string[]): AuthMethod {
  if (credentialHeaders.includes('authorization')) return 'oauth';
  if (credentialHeaders.includes('cf-access-token')) return 'cloudflared';
  if (credentialHeaders.some((h) => h.startsWith('cf-access-client'))) return 'service_token';
  return 'none';
}

function authenticatedResult(target: URL, session: StoredSession, message: string): LoginResult {
  return {
    status: 'authenticated',
    host: target.host,
    method: session.method,
    expires_at: session.expires_at ? new Date(session.expires_at).toISOString() : undefined,
    message: `${message} Authenticated to ${target.host} via ${session.method === 'oauth' ? 'managed OAuth' : session.method}${session.expires_at ? ` until ${new Date(session.expires_at).toISOString()} (refreshed automatically)` : ''}.`,
  };
}
