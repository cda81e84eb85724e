import type { Dispatcher } from 'undici';
import { AppMetadataVerifier } from '../auth/app-metadata.js';
import { CallbackListener } from '../auth/callback-server.js';
import { CloudflaredLogin } from '../auth/cloudflared.js';
import { detectAccess, type AccessChallenge } from '../auth/detect.js';
import { AccessError } from '../core/errors.js';
import { untilAborted } from '../core/until-aborted.js';
import type { Logger } from '../core/logger.js';
import { OAuthLogin } from '../auth/oauth-login.js';
import { keyServes, longestKeyFor, type AppKey } from '../auth/app-key.js';
import type { LoginInProgress } from '../auth/login-method.js';
import type { AuthMethod, LoginChoice } from '../auth/methods.js';
import { LoginMethods } from './login-methods.js';
import { EMPTY_SERVICE_TOKENS, serviceTokenFor, type ServiceToken, type ServiceTokenConfig } from '../auth/service-tokens.js';
import { Sessions } from '../auth/sessions.js';
import { SessionStore } from '../auth/store.js';
import { createDispatcher, discard } from '../http/client.js';
import type { JsonClient } from '../http/json.js';
import { sendFollowingRedirects } from '../http/redirects.js';
import type { Config } from './config.js';
import { fetchThroughAccess, type FetchParams } from './fetch-flow.js';
import { completeFromCallbackUrl, login } from './login-flow.js';
import { logout, type LogoutResult } from './logout.js';
import type { FetchResult, LoginResult, ServiceTokenSummary, SessionInfo } from './results.js';
import { serviceTokenSummary, sessionInfo, status, type StatusResult } from './status.js';
import type { WaitHooks } from './wait.js';
import type { RefusalOutcome } from './credentials.js';

export type { FetchParams } from './fetch-flow.js';
export type { LoginChoice as LoginMethod } from '../auth/methods.js';

export interface LoginHooks extends WaitHooks {
  /** Told the authorization URL as soon as a login is pending (for elicitation or a CLI spinner). */
  onLoginUrl?: (login: LoginInProgress) => void;
}

/** How long a logout asks Access which application serves a URL before it goes by what is known here. */
const SERVING_PROBE_MS = 5_000;

/**
 * Everything the tools and the CLI do, independent of MCP: fetch through
 * Access (logging in when needed), login, status, logout. This class holds
 * the process-wide parts (one HTTP pool, one store, one callback listener);
 * the flows live in fetch-flow, login-flow, status and logout.
 */
export class AccessService {
  readonly store: SessionStore;
  readonly sessions: Sessions;
  readonly oauth: OAuthLogin;
  readonly callback: CallbackListener;
  readonly dispatcher: Dispatcher;
  /** The same pool for JSON calls (metadata, registration, token, keys), each bounded by CF_ACCESS_MCP_DEADLINE_MS in all. */
  readonly http: JsonClient;
  readonly cloudflared: CloudflaredLogin;
  /** Proves which Access application a URL is before cloudflared runs for it. */
  readonly appMetadata: AppMetadataVerifier;
  readonly serviceTokens: ServiceTokenConfig;
  /** Logins of processes that are gone, taken over at start-up; every call waits for this first (see takeover.ts). */
  private takeovers: Promise<void> = Promise.resolve();
  /** Takeovers queued or running: while there are none and the store holds no pending login, a call has nothing to wait for. */
  private takeoversRunning = 0;
  /** The login methods by name (see login-methods.ts): callers never branch on which one they hold. */
  readonly methods: LoginMethods;
  private inFlight = 0;
  /**
   * Refusals of one credential being handled (see credentials.ts), by
   * application and the refused headers: when a page's thirty requests are
   * refused at once, one asks Access and renews, the rest wait for it.
   */
  readonly refusalsHandled = new Map<string, Promise<RefusalOutcome>>();
  /** How many store warnings results have shown (a store can also degrade later, e.g. a disk that turns read-only). */
  private storeWarningsShown = 0;

  constructor(
    readonly config: Config,
    readonly log: Logger,
  ) {
    this.dispatcher = createDispatcher({ connectMs: config.connectTimeoutMs, headersMs: config.responseTimeoutMs, bodyMs: config.responseTimeoutMs });
    this.http = { dispatcher: this.dispatcher, deadlineMs: config.deadlineMs };
    this.store = new SessionStore(config.home, (level, message) => log(level, message));
    this.sessions = new Sessions(this.http, this.store, config.refreshSkewMs, log);
    this.callback = new CallbackListener({ preferredPort: config.callbackPort, bind: config.callbackBind, log: (level, message) => log(level, message) });
    this.oauth = new OAuthLogin(
      this.http,
      this.store,
      this.callback,
      { browserCommand: config.browserCommand, loginTimeoutMs: config.loginTimeoutMs, trustedTeams: config.trustedTeams, callbackHost: config.callbackHost, callbackBind: config.callbackBind },
      log,
    );
    this.cloudflared = new CloudflaredLogin(this.store, { command: config.cloudflaredCommand ?? 'cloudflared', loginTimeoutMs: config.loginTimeoutMs }, log);
    this.appMetadata = new AppMetadataVerifier(this.http);
    this.serviceTokens = config.serviceTokens ?? EMPTY_SERVICE_TOKENS;
    this.methods = new LoginMethods({ store: this.store, oauth: this.oauth, cloudflared: this.cloudflared, appMetadata: this.appMetadata, serviceTokens: this.serviceTokens });
    for (const message of [...(config.warnings ?? []), ...this.serviceTokens.problems, ...this.serviceTokens.unused, ...(config.teamProblems ?? [])]) log('warning', message);
    void this.takeOverLogins();
  }

  /**
   * Takes over pending logins whose process is gone (at start-up, and again
   * before each call: an owner may die meanwhile). The common case, no
   * pending login in the store and none being taken over, costs one store read.
   */
  takeOverLogins(): Promise<void> {
    if (this.takeoversRunning === 0 && !this.oauth.resumable.any()) return this.takeovers;
    this.takeoversRunning++;
    this.takeovers = this.takeovers
      .then(() => this.oauth.resumeOrphans())
      .catch((error: unknown) => this.log('warning', `Could not look for pending logins to take over: ${(error as Error).message}`))
      .finally(() => this.takeoversRunning--);
    return this.takeovers;
  }

  /** Calls under way (fetch, login, status, logout): the idle warm-up does nothing that would make one wait. */
  get callsInFlight(): number {
    return this.inFlight;
  }

  private async track<T>(call: () => Promise<T>): Promise<T> {
    this.inFlight++;
    try {
      return await call();
    } finally {
      this.inFlight--;
    }
  }

  fetch(params: FetchParams, hooks: LoginHooks = {}): Promise<FetchResult> {
    return this.track(async () => {
      await this.takeOverLogins();
      return fetchThroughAccess(this, params, hooks);
    });
  }

  login(params: { url: string; force?: boolean; wait_seconds?: number; method?: LoginChoice }, hooks: LoginHooks = {}): Promise<LoginResult> {
    return this.track(async () => {
      await this.takeOverLogins();
      return login(this, params, hooks);
    });
  }

  completeFromCallbackUrl(params: { url: string; callback_url: string; wait_seconds?: number }, hooks: LoginHooks = {}): Promise<LoginResult> {
    return this.track(async () => {
      await this.takeOverLogins();
      return completeFromCallbackUrl(this, params, hooks);
    });
  }

  status(params: { url?: string }, signal?: AbortSignal): Promise<StatusResult> {
    return this.track(() => status(this, params, signal));
  }

  sessionInfo(key: AppKey): SessionInfo {
    return sessionInfo(this, key);
  }

  serviceTokenSummary(): ServiceTokenSummary {
    return serviceTokenSummary(this);
  }

  logout(params: { url?: string; all?: boolean; application?: AppKey }): Promise<LogoutResult> {
    return this.track(() => logout(this, params));
  }

  /** Store warnings not yet shown on a result (each is shown once). */
  takeStoreWarnings(): string[] {
    const fresh = this.store.warnings.slice(this.storeWarningsShown);
    this.storeWarningsShown = this.store.warnings.length;
    return fresh;
  }

  /** The service token the user configured for this URL's host, if any. */
  serviceTokenFor(url: URL): ServiceToken | undefined {
    return serviceTokenFor(this.serviceTokens, url);
  }

  /**
   * Headers that authenticate us to `url`: a credential the user configured
   * for its host (a service token; unless this call saw it refused there),
   * else a live session of the most specific application serving the URL
   * (refreshed when near expiry).
   */
  async credentialsFor(url: URL, configuredRefused?: ReadonlySet<string>): Promise<Record<string, string>> {
    const configured = this.methods.configuredFor(url, configuredRefused)?.configuredHeaders(url);
    if (configured) return configured;
    const session = await this.sessions.usable(this.store.appKeyFor(url));
    return session ? this.methods.get(session.method).headers(session) : {};
  }

  /**
   * The application serving `url` among every one known here: stored sessions,
   * logins under way (in this process or another), refusals, discoveries; the
   * most specific, else the origin. An application under a path with no session
   * of its own is still itself: a login, status or logout of its URLs must not
   * answer for (or end) the broader application's session. Credentials are chosen
   * by store.appKeyFor (sessions only).
   */
  applicationFor(url: URL): AppKey {
    return longestKeyFor([...this.store.knownAppKeys(), ...this.methods.all().flatMap((m) => m.pendingKeys())], url) ?? url.origin;
  }

  /**
   * The application serving `url`, asking Access when the URL lies deeper than
   * every application known here: a path application never visited (`/admin`
   * while only `/` has a session) is named by the challenge's metadata, so a
   * logout of its URL does not end the broader application's session. One
   * unauthenticated request; what is known here when Access cannot be asked.
   */
  async servingApplication(url: URL, signal?: AbortSignal): Promise<AppKey> {
    const known = this.applicationFor(url);
    if (url.pathname.replace(/\/+$/, '') === new URL(known).pathname.replace(/\/+$/, '')) return known;
    try {
      // Briefly: a logout must not hang on a slow or unreachable host, and stays cancellable.
      const bounded = AbortSignal.any([...(signal ? [signal] : []), AbortSignal.timeout(SERVING_PROBE_MS)]);
      const { challenge } = await this.probe(url, bounded);
      if (!challenge?.resourceMetadataUrl) return known;
      // The metadata request takes no signal: the same bound applies to the wait for it.
      const named = await untilAborted(this.appOfChallenge(url, challenge), bounded);
      return named.length > known.length && keyServes(named, url) ? named : known;
    } catch {
      return known;
    }
  }

  /** Which of our methods the credential headers sent to `url` belong to (a result's credential line). */
  methodOfHeaders(url: URL, names: readonly string[], configuredRefused?: ReadonlySet<string>): AuthMethod {
    if (names.length === 0) return 'none';
    return (this.methods.configuredFor(url, configuredRefused) ?? this.methods.byHeaders(names))?.name ?? 'none';
  }

  /** The application a challenge for `url` belongs to: its resource metadata's `resource`, else the origin. */
  appOfChallenge(url: URL, challenge: AccessChallenge): Promise<AppKey> {
    return this.oauth.appOf(url, challenge);
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

  async close(): Promise<void> {
    await this.methods.shutdown();
    this.callback.shutdown(new AccessError('login_timeout', 'The server is shutting down.', 'Start the login again after the server restarts.'));
    await this.dispatcher.close().catch(() => {});
    this.store.close();
  }
}
