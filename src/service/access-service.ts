import type { Dispatcher } from 'undici';
import { CallbackListener } from '../auth/callback-server.js';
import { CloudflaredLogin, cloudflaredPendingError, cloudflaredPendingText, type PendingCloudflared } from '../auth/cloudflared.js';
import { detectAccess, type AccessChallenge } from '../auth/detect.js';
import { offersOAuth } from '../auth/discovery.js';
import { AccessError, LoginPendingError } from '../auth/errors.js';
import type { Logger } from '../auth/logger.js';
import { OAuthLogin, type PendingLogin } from '../auth/oauth-login.js';
import { Sessions, sessionState } from '../auth/sessions.js';
import { SessionStore, type StoredSession } from '../auth/store.js';
import { revokeToken } from '../auth/token.js';
import {
  EMPTY_SERVICE_TOKENS,
  serviceAuthOnlyError,
  serviceTokenFor,
  serviceTokenHeaders,
  serviceTokenRefusedError,
  serviceTokenMissingError,
  serviceTokenSecrets,
  type ServiceToken,
  type ServiceTokenConfig,
} from '../auth/service-tokens.js';
import { parseTargetUrl, truncate } from '../auth/url-policy.js';
import { createDispatcher, discard, headerValue } from '../http/client.js';
import type { Format } from '../http/convert.js';
import { DEFAULT_MAX_LENGTH, paginate } from '../http/paging.js';
import { sendFollowingRedirects } from '../http/redirects.js';
import { readResponseContent } from '../http/response-content.js';
import { resolveSavePath } from '../http/save-to-file.js';
import type { Config } from './config.js';
import type { AuthMethod, FetchResult, LoginResult, ProbeInfo, ServiceTokenSummary, SessionInfo } from './results.js';
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
  /** A file path: the whole body is streamed there instead of being returned. */
  save_to?: string;
}

export interface LoginHooks extends WaitHooks {
  /** Told the authorization URL as soon as a login is pending (for elicitation or a CLI spinner). */
  onLoginUrl?: (login: PendingLogin) => void;
}

/** How access_login gets in: `auto` = service token for a listed host, a live session, managed OAuth when offered, else cloudflared. */
export type LoginMethod = 'auto' | 'oauth' | 'cloudflared' | 'service_token';

type BegunLogin = { kind: 'oauth'; login: PendingLogin } | { kind: 'cloudflared'; login: PendingCloudflared };

const SELECTED_HEADERS = ['content-type', 'content-length', 'content-disposition', 'last-modified', 'etag', 'cache-control', 'location', 'retry-after', 'www-authenticate'];
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
  readonly cloudflared: CloudflaredLogin;
  readonly serviceTokens: ServiceTokenConfig;
  /** How many store warnings results have shown (a store can also degrade later, e.g. a disk that turns read-only). */
  private storeWarningsShown = 0;

  constructor(
    readonly config: Config,
    private readonly log: Logger,
  ) {
    this.dispatcher = createDispatcher({ connectMs: config.connectTimeoutMs, headersMs: config.responseTimeoutMs, bodyMs: config.responseTimeoutMs });
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
    this.cloudflared = new CloudflaredLogin(this.store, { command: config.cloudflaredCommand ?? 'cloudflared', loginTimeoutMs: config.loginTimeoutMs }, log);
    this.serviceTokens = config.serviceTokens ?? EMPTY_SERVICE_TOKENS;
    for (const message of [...this.serviceTokens.problems, ...this.serviceTokens.unused]) log('warning', message);
  }

  /** Warnings about the store, shown once on the first result that can carry them. */
  private takeStoreWarnings(): string[] {
    const fresh = this.store.warnings.slice(this.storeWarningsShown);
    this.storeWarningsShown = this.store.warnings.length;
    return fresh;
  }

  /** The service token the user configured for this URL's host, if any. */
  private serviceTokenFor(url: URL): ServiceToken | undefined {
    return serviceTokenFor(this.serviceTokens, url);
  }

  /**
   * Headers that authenticate us to `url`'s origin: the service token when the
   * user listed the host (unless this call saw it refused), else a live session
   * (refreshed when near expiry).
   */
  private async credentialsFor(url: URL, tokenRefused?: ReadonlySet<string>): Promise<Record<string, string>> {
    const token = tokenRefused?.has(url.origin) ? undefined : this.serviceTokenFor(url);
    if (token) return serviceTokenHeaders(token, this.serviceTokens.header);
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
    const savePath = params.save_to !== undefined ? await resolveSavePath(params.save_to, target) : undefined;
    const headers: Record<string, string> = { 'user-agent': 'cf-access-mcp', accept: '*/*' };
    for (const [name, value] of Object.entries(params.headers ?? {})) {
      // Checked here, or undici's "invalid header" would read like a network failure.
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n\0]/.test(String(value))) {
        throw new AccessError('invalid_url', `The request header "${truncate(name, 60)}" has an invalid name or value.`, 'Use header names made of letters, digits and "-", and values without line breaks; then call again.');
      }
      headers[name.toLowerCase()] = String(value);
    }
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
    const tokenRefused = new Set<string>();
    const tokenDropped = new Set<string>();
    for (let round = 0; round < MAX_AUTH_ROUNDS; round++) {
      const followed = await sendFollowingRedirects(
        this.dispatcher,
        { url: target, method, headers, body, signal: hooks.signal },
        (url) => this.credentialsFor(url, tokenRefused),
      );
      const { response, hops } = followed;
      const finalUrl = hops[hops.length - 1]!;
      const sentServiceToken = followed.credentialHeaders.length > 0 && !tokenRefused.has(finalUrl.origin) && this.serviceTokenFor(finalUrl) !== undefined;
      const challenge = await detectAccess(response, finalUrl);
      if (!challenge) {
        const auth = sentServiceToken ? 'service_token' : authOf(followed.credentialHeaders);
        return this.buildResult(params, target, finalUrl, response, auth, savePath);
      }
      discard(response.body);
      const origin = finalUrl.origin;
      if (sentServiceToken) {
        // Never a browser login here: only a user session from an explicit access_login may still get in.
        tokenRefused.add(origin);
        if (await this.sessions.usable(origin)) continue;
        throw serviceTokenRefusedError(finalUrl, response.status);
      }
      if (followed.credentialHeaders.length > 0) {
        const session = this.store.getSession(origin);
        if (session && !refreshed.has(origin) && session.refresh_token) {
          refreshed.add(origin);
          if (await this.sessions.refresh(origin, session).catch(() => undefined)) continue;
        } else if (session) {
          await this.sessions.drop(origin, session);
          tokenDropped.add(origin);
        }
      }
      if (this.serviceTokenFor(finalUrl)) throw serviceTokenRefusedError(finalUrl, response.status);
      if (loggedIn.has(origin)) {
        throw new AccessError(
          'authorization_failed',
          `${finalUrl.host} still refuses access right after a successful login.`,
          'Your account may not be allowed by the Access policy of this application; ask its administrator, or try access_login with force: true.',
        );
      }
      const { fromCache } = await this.loginFor(finalUrl, challenge, params.wait_seconds ?? this.config.defaultWaitSeconds, hooks, { skipCache: tokenDropped.has(origin) });
      // A token cloudflared only had cached is no login yet: if the app refuses it, one real login follows.
      if (!fromCache) loggedIn.add(origin);
    }
    throw new AccessError('authorization_failed', `Could not get past Cloudflare Access for ${target.host}.`, 'Call access_status with this URL to see what the application offers.');
  }

  private async buildResult(
    params: FetchParams,
    requested: URL,
    finalUrl: URL,
    response: Awaited<ReturnType<typeof sendFollowingRedirects>>['response'],
    auth: AuthMethod,
    savePath?: string,
  ): Promise<FetchResult> {
    const content = await readResponseContent(response, finalUrl, {
      format: params.format ?? 'markdown',
      maxBodyBytes: this.config.maxBodyBytes,
      maxImageBytes: this.config.maxImageBytes,
      saveTo: savePath,
    });
    const warnings = [...this.takeStoreWarnings(), ...content.notes];
    const page = paginate(this.redact(content.text, finalUrl), params.start_index ?? 0, params.max_length ?? DEFAULT_MAX_LENGTH);
    const selected: Record<string, string> = {};
    for (const name of SELECTED_HEADERS) {
      const value = headerValue(response.headers, name);
      if (value !== undefined) selected[name] = value;
    }
    return {
      url: requested.href,
      final_url: finalUrl.href,
      status: response.status,
      content_type: content.contentType,
      auth,
      title: content.title,
      text: page.text,
      image: content.image,
      total_length: page.total_length,
      start_index: page.start_index,
      truncated: page.truncated,
      next_start_index: page.next_start_index,
      headers: selected,
      saved_to: content.saved?.path,
      bytes: content.saved?.bytes,
      warnings,
    };
  }

  /** Starts (or joins) the login for an origin and waits a bounded time for it. */
  private async loginFor(
    target: URL,
    challenge: AccessChallenge,
    waitSeconds: number,
    hooks: LoginHooks,
    options: { method?: Exclude<LoginMethod, 'service_token'>; skipCache?: boolean } = {},
  ): Promise<{ session: StoredSession; fromCache: boolean }> {
    const begun = await this.beginLogin(target, challenge, options);
    if (begun.kind === 'cloudflared') {
      const waited = await waitAtMost(begun.login.done, Math.max(0, waitSeconds), hooks);
      if (waited.done) return { session: waited.value, fromCache: begun.login.fromCache === true };
      throw cloudflaredPendingError(begun.login, waited.reason === 'cancelled' ? ' The call was cancelled; the login keeps waiting.' : '');
    }
    const pending = begun.login;
    if (pending.source !== 'store') hooks.onLoginUrl?.(pending);
    const outcome = await waitAtMost(pending.done, Math.max(0, waitSeconds), hooks);
    if (outcome.done) return { session: outcome.value, fromCache: false };
    const note = outcome.reason === 'cancelled' ? ' The call was cancelled; the login keeps waiting.' : '';
    throw new LoginPendingError(
      target.origin,
      pending.authorizationUrl,
      pending.expiresAt,
      pending.browser.opened,
      note + (pending.browser.reason ? ` (${pending.browser.reason})` : '') + this.pasteBackHint(pending),
    );
  }

  /** A login already under way for the origin that `method` may join. */
  private pendingLogin(origin: string, method: LoginMethod): BegunLogin | undefined {
    const oauth = method === 'auto' || method === 'oauth' ? this.oauth.pendingFor(origin) : undefined;
    if (oauth) return { kind: 'oauth', login: oauth };
    const cloudflared = method === 'auto' || method === 'cloudflared' ? this.cloudflared.pendingFor(origin) : undefined;
    return cloudflared ? { kind: 'cloudflared', login: cloudflared } : undefined;
  }

  /** Starts (or joins) a browser login: the one `method` names, or for `auto` managed OAuth when offered, else cloudflared. */
  private async beginLogin(target: URL, challenge: AccessChallenge, options: { method?: Exclude<LoginMethod, 'service_token'>; skipCache?: boolean }): Promise<BegunLogin> {
    const method = options.method ?? 'auto';
    const existing = this.pendingLogin(target.origin, method);
    if (existing) return existing;
    if (challenge.style === 'forbidden') throw serviceAuthOnlyError(target, this.serviceTokens);
    let chosen = method;
    if (chosen === 'auto') {
      const { offer, error } = await this.offerFor(target, challenge);
      if (offer === 'unknown') throw error;
      chosen = offer === 'managed_oauth' ? 'oauth' : 'cloudflared';
    }
    if (chosen === 'cloudflared') return { kind: 'cloudflared', login: await this.cloudflared.begin(target, { skipCache: options.skipCache }) };
    return { kind: 'oauth', login: await this.oauth.begin(target, challenge) };
  }

  /**
   * What Access offers for a challenged URL. Managed OAuth needs both signals:
   * resource metadata that does not leave out `oauth`, and a server with a
   * registration_endpoint. A discovery failure after a redirect to the login
   * page still leaves the classic (cloudflared) login; after a 401 it is reported.
   */
  private async offerFor(target: URL, challenge: AccessChallenge): Promise<{ offer: ProbeInfo['offer']; detail: string; error?: unknown }> {
    if (challenge.style === 'forbidden') {
      return { offer: 'service_auth_only', detail: 'Access answers 403 with cf-access-aud (only Service Auth policies): only a service token can reach it.' };
    }
    if (!challenge.resourceMetadataUrl) {
      return { offer: 'classic', detail: 'Access redirects to its login page and names no resource metadata (no managed OAuth): the cloudflared login or a service token gets in.' };
    }
    try {
      const discovery = await this.oauth.discover(target, challenge.resourceMetadataUrl);
      const listed = offersOAuth(discovery.resourceMetadata);
      if (listed !== false && discovery.server.registration_endpoint) {
        return { offer: 'managed_oauth', detail: `Managed OAuth via ${discovery.authorizationServer.host}.` };
      }
      const why = listed === false ? 'its resource metadata lists no oauth method' : `${discovery.authorizationServer.host} has no registration_endpoint`;
      return { offer: 'classic', detail: `Access without managed OAuth (${why}): the cloudflared login or a service token gets in.` };
    } catch (error) {
      const reason = (error as Error).message;
      if (challenge.style === 'redirect') {
        return { offer: 'classic', detail: `Access redirects to its login page; its OAuth metadata could not be used (${reason}), so the cloudflared login applies.`, error };
      }
      return { offer: 'unknown', detail: `Protected by Access, but discovery failed: ${reason}`, error };
    }
  }

  /** access_login for a listed host: one request with the service token shows whether Access takes it. */
  private async checkServiceToken(target: URL, signal?: AbortSignal): Promise<LoginResult> {
    if (!this.serviceTokenFor(target)) throw serviceTokenMissingError(target, this.serviceTokens);
    const followed = await sendFollowingRedirects(
      this.dispatcher,
      { url: target, method: 'GET', headers: { 'user-agent': 'cf-access-mcp', accept: 'application/json' }, signal },
      (url) => this.credentialsFor(url),
    );
    discard(followed.response.body);
    const finalUrl = followed.hops[followed.hops.length - 1]!;
    if (await detectAccess(followed.response, finalUrl)) {
      if (this.serviceTokenFor(finalUrl)) throw serviceTokenRefusedError(finalUrl, followed.response.status);
      throw new AccessError(
        'authorization_failed',
        `${target.host} redirected to ${finalUrl.host}, which is behind Access and has no service token configured.`,
        `Add ${finalUrl.host} to CF_ACCESS_SERVICE_TOKEN_HOSTS if the same token should go there, or call access_login for ${finalUrl.origin}.`,
      );
    }
    return {
      status: 'authenticated',
      host: target.host,
      method: 'service_token',
      message: `The service token for ${target.host} is accepted (HTTP ${followed.response.status}). access_fetch sends it with every request to this host; no browser login is needed.`,
    };
  }

  /** Response text never shows a credential we hold, even when a site echoes request headers back. */
  private redact(text: string, finalUrl: URL): string {
    const secrets = serviceTokenSecrets(this.serviceTokens);
    const session = this.store.getSession(finalUrl.origin);
    if (session) secrets.push(session.access_token);
    let out = text;
    for (const secret of secrets) {
      if (secret.length >= 8 && out.includes(secret)) out = out.split(secret).join('[redacted]');
    }
    return out;
  }

  /** For a user whose browser cannot reach our loopback listener (SSH, another machine): how to paste the redirect back. */
  private pasteBackHint(pending: PendingLogin): string {
    if (pending.browser.opened) return '';
    const callback = this.callback.redirectUri ?? 'http://localhost:<port>/callback';
    return ` If the browser runs on another machine, it ends on an address starting with ${callback} that cannot load: copy that whole address and pass it to access_login as callback_url (with the same url).`;
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

  async login(params: { url: string; force?: boolean; wait_seconds?: number; method?: LoginMethod }, hooks: LoginHooks = {}): Promise<LoginResult> {
    const target = parseTargetUrl(params.url);
    const origin = target.origin;
    const method = params.method ?? 'auto';
    // A listed host uses its service token and never a browser, unless the call names a browser method.
    if (method === 'service_token' || (method === 'auto' && this.serviceTokenFor(target))) return this.checkServiceToken(target, hooks.signal);
    if (params.force) {
      const existing = this.store.getSession(origin);
      if (existing) await this.store.deleteSession(origin);
    } else {
      const session = await this.sessions.usable(origin);
      if (session && (method === 'auto' || method === session.method)) return authenticatedResult(target, session, 'Already logged in.');
    }
    const waitSeconds = params.wait_seconds ?? this.config.defaultWaitSeconds;
    let begun = this.pendingLogin(origin, method);
    if (!begun) {
      const { challenge } = await this.probe(target, hooks.signal);
      if (!challenge) {
        return { status: 'not_protected', host: target.host, method: 'none', message: `${target.host} did not answer with a Cloudflare Access challenge; no login is needed. Use access_fetch directly.` };
      }
      begun = await this.beginLogin(target, challenge, { method, skipCache: params.force });
    }
    if (begun.kind === 'cloudflared') {
      const waited = await waitAtMost(begun.login.done, Math.max(0, waitSeconds), hooks);
      if (waited.done) return authenticatedResult(target, waited.value, 'Login completed.');
      const text = cloudflaredPendingText(begun.login);
      return {
        status: 'pending',
        host: target.host,
        method: 'cloudflared',
        login_url: begun.login.authorizationUrl || undefined,
        message: `${waited.reason === 'cancelled' ? 'The call was cancelled; the login keeps waiting. ' : ''}${text.message} ${text.nextStep}`,
      };
    }
    const pending = begun.login;
    if (pending.source !== 'store') hooks.onLoginUrl?.(pending);
    const outcome = await waitAtMost(pending.done, Math.max(0, waitSeconds), hooks);
    if (outcome.done) return authenticatedResult(target, outcome.value, 'Login completed.');
    return this.pendingResult(target, pending, outcome.reason === 'cancelled' ? 'The call was cancelled; the login keeps waiting. ' : '');
  }

  private pendingResult(target: URL, pending: PendingLogin, prefix = ''): LoginResult {
    return {
      status: 'pending',
      host: target.host,
      method: 'oauth',
      login_url: pending.authorizationUrl,
      message:
        `${prefix}Login pending: ${pending.browser.opened ? 'a browser window was opened' : `no browser could be opened${pending.browser.reason ? ` (${pending.browser.reason})` : ''}`}. ` +
        `Ask the user to open ${pending.authorizationUrl} and sign in, then call access_login or access_fetch again. The login keeps waiting until ${new Date(pending.expiresAt).toISOString()}.` +
        this.pasteBackHint(pending),
    };
  }

  /**
   * Paste-back: completes the pending login for `url` from the address the
   * user's browser was redirected to but could not load (our loopback
   * callback, seen from another machine). The pasted `state` must be the one
   * this login sent; anything else is refused and the login stays pending.
   */
  async completeFromCallbackUrl(params: { url: string; callback_url: string; wait_seconds?: number }, hooks: LoginHooks = {}): Promise<LoginResult> {
    const target = parseTargetUrl(params.url);
    const pending = this.oauth.pendingFor(target.origin);
    if (!pending) {
      const session = await this.sessions.usable(target.origin);
      if (session) return authenticatedResult(target, session, 'Already logged in; the pasted address was not needed.');
      throw new AccessError(
        'callback_failed',
        `No login to ${target.host} is waiting for its callback (it finished, expired, or the server restarted since it began).`,
        `Call access_login with this url and no callback_url to start a new login, sign in at the URL it gives, then paste the address the browser ends on.`,
      );
    }
    let pasted: URL | undefined;
    try {
      pasted = new URL(params.callback_url.trim());
    } catch {
      pasted = undefined;
    }
    const expectedState = new URL(pending.authorizationUrl).searchParams.get('state');
    const pastedState = pasted?.searchParams.get('state');
    const redirectUri = this.callback.redirectUri;
    if (!pasted || !pastedState || pastedState !== expectedState) {
      throw new AccessError(
        'callback_failed',
        !pasted
          ? `The pasted text is not a URL; the login to ${target.host} is still pending.`
          : `The pasted address does not belong to the pending login to ${target.host} (its state ${pastedState ? 'does not match' : 'is missing'}); it was refused and the login is still pending.`,
        `Sign in at ${pending.authorizationUrl} and paste the complete address from the browser's address bar afterwards${redirectUri ? ` (it starts with ${redirectUri}?)` : ''}.`,
      );
    }
    const delivered = this.callback.deliver(pasted.href);
    if (!delivered.ok) {
      throw new AccessError('callback_failed', `${delivered.message} The login to ${target.host} is still pending.`, `Paste the complete address the browser ended on after signing in at ${pending.authorizationUrl}.`);
    }
    this.log('info', `Login callback for ${target.origin} received by paste-back.`);
    const outcome = await waitAtMost(pending.done, Math.max(0, params.wait_seconds ?? this.config.defaultWaitSeconds), hooks);
    if (outcome.done) return authenticatedResult(target, outcome.value, 'Login completed.');
    return this.pendingResult(target, pending, outcome.reason === 'cancelled' ? 'The call was cancelled; the login keeps waiting. ' : '');
  }

  sessionInfo(origin: string): SessionInfo {
    const host = new URL(origin).host;
    const pending = this.oauth.pendingFor(origin) ?? this.oauth.pendingElsewhere(origin);
    const cloudflared = this.cloudflared.pendingFor(origin);
    const session = this.store.getSession(origin);
    if (!session) {
      if (pending) return { host, origin, state: 'pending', method: 'oauth', login_url: pending.authorizationUrl };
      if (cloudflared) return { host, origin, state: 'pending', method: 'cloudflared', login_url: cloudflared.authorizationUrl || undefined };
      return { host, origin, state: 'none', method: this.serviceTokenFor(new URL(origin)) ? 'service_token' : 'unknown' };
    }
    const state = sessionState(session);
    return {
      host,
      origin,
      state: (pending || cloudflared) && state !== 'authenticated' ? 'pending' : state,
      method: session.method,
      expires_at: session.expires_at ? new Date(session.expires_at).toISOString() : undefined,
      expires_in_seconds: session.expires_at ? Math.max(0, Math.round((session.expires_at - Date.now()) / 1000)) : undefined,
      refreshable: Boolean(session.refresh_token),
    };
  }

  async status(
    params: { url?: string },
    signal?: AbortSignal,
  ): Promise<{ sessions: SessionInfo[]; probe?: ProbeInfo; warnings: string[]; store: string; service_tokens: ServiceTokenSummary }> {
    const warnings = [...this.store.warnings];
    const service_tokens = this.serviceTokenSummary();
    if (!params.url) {
      const origins = new Set(this.store.listSessions().map((s) => s.origin));
      return { sessions: [...origins].sort().map((o) => this.sessionInfo(o)), warnings, store: this.store.dir, service_tokens };
    }
    const target = parseTargetUrl(params.url);
    const info = this.sessionInfo(target.origin);
    const probe = await this.describeOffer(target, signal);
    return { sessions: [info], probe, warnings, store: this.store.dir, service_tokens };
  }

  /** Which hosts get a service token, and why configured credentials go unused (never the credentials themselves). */
  serviceTokenSummary(): ServiceTokenSummary {
    return {
      hosts: this.serviceTokens.tokens.map((t) => t.pattern.source),
      header: this.serviceTokens.header,
      unused: [...this.serviceTokens.unused],
      problems: [...this.serviceTokens.problems],
    };
  }

  /** Probes without credentials, then says what Access offers and which method access_fetch would use. */
  private async describeOffer(target: URL, signal?: AbortSignal): Promise<ProbeInfo> {
    const { challenge, status } = await this.probe(target, signal);
    const token = this.serviceTokenFor(target);
    const stored = this.store.getSession(target.origin);
    const session = sessionState(stored) === 'authenticated' ? stored : undefined;
    const tokenNote = token ? ` A service token is configured for this host (${token.pattern.source}) and is sent first.` : '';
    if (!challenge) {
      return {
        url: target.href,
        protected: false,
        offer: 'none',
        method: token ? 'service_token' : 'none',
        detail: `No Cloudflare Access challenge (HTTP ${status} without credentials).${tokenNote}`,
      };
    }
    const { offer, detail } = await this.offerFor(target, challenge);
    const byOffer: AuthMethod = offer === 'managed_oauth' || offer === 'unknown' ? 'oauth' : offer === 'classic' ? 'cloudflared' : 'none';
    return { url: target.href, protected: true, offer, method: token ? 'service_token' : (session?.method ?? byOffer), detail: detail + tokenNote };
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
    await this.oauth.shutdown().catch(() => {});
    this.callback.shutdown(new AccessError('login_timeout', 'The server is shutting down.', 'Start the login again after the server restarts.'));
    this.cloudflared.shutdown();
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
    message: `${message} Authenticated to ${target.host} via ${session.method === 'oauth' ? 'managed OAuth' : session.method}${session.expires_at ? ` until ${new Date(session.expires_at).toISOString()}${session.method === 'oauth' ? ' (refreshed automatically)' : ''}` : ''}.`,
  };
}
