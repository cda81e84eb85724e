import type { JsonClient } from '../http/json.js';
import { cap, step } from '../core/next-step.js';
import { buildAuthorizationUrl } from './authorize-url.js';
import { openBrowser, type BrowserResult } from './browser.js';
import type { CallbackListener, CallbackParams } from './callback-server.js';
import type { AccessChallenge } from './detect.js';
import {
  assertSupportsPublicClient,
  authorizationServerOf,
  fetchResourceMetadata,
  fetchServerMetadata,
  offersOAuth,
} from './discovery.js';
import { AccessError, OAuthProtocolError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { redactSecrets } from '../core/redact.js';
import type { HeldLock } from './login-lock.js';
import { createPkce, createState } from './pkce.js';
import { callbackHostOrder, isCallbackHost, type CallbackHost } from './callback-host.js';
import { PendingLoginStore, type ResumableLogin } from './pending-store.js';
import { resumeLogin } from './takeover.js';
import { registerClient, RegistrationRefusedError, type Registration } from './registration.js';
import type { ResourceMetadata, ServerMetadata } from './schemas.js';
import { sessionState } from './sessions.js';
import { POLL_MS, ready, SharedLogins, sleep } from './shared-login.js';
import { registrationKey, type SessionStore, type StoredSession } from './store.js';
import { DiscoveryCache } from './discovery-cache.js';
import { isTrustedLoginHost } from '../core/url-policy.js';
import { isTrustedTeam, TEAM_TRUSTED_FIELD, teamHost, untrustedTeamReason } from './trusted-teams.js';
import { exchangeCode } from './token.js';
import { appKeyOf, appLabel, longestKeyFor, type AppKey } from './app-key.js';
import { remoteText } from '../core/remote-text.js';
import type { LoginInProgress } from './login-method.js';

export interface OAuthLoginConfig {
  browserCommand?: string;
  loginTimeoutMs: number;
  discoveryTtlMs?: number;
  /** CF_ACCESS_MCP_TEAMS: team hosts whose sign-in page may be opened without asking. */
  trustedTeams?: readonly string[];
  /** CF_ACCESS_MCP_CALLBACK_HOST: register only this redirect URI form. */
  callbackHost?: CallbackHost;
  /** CF_ACCESS_MCP_CALLBACK_BIND: the address a taken-over login's listener binds (as the main listener does). */
  callbackBind?: string;
}

/** What discovery learned about a protected application. */
export interface Discovery {
  origin: string;
  /** The application the metadata describes (its `resource`, normalised: see app-key.ts). */
  app: AppKey;
  /** Where the resource metadata was read (the cache key: the URL mirrors the request path). */
  metadataUrl: string;
  resource: string;
  resourceMetadata: ResourceMetadata;
  authorizationServer: URL;
  server: ServerMetadata;
  at: number;
}

export interface PendingLogin extends LoginInProgress {
  method: 'oauth';
  origin: string;
  /** The application being logged in to. */
  key: AppKey;
  /**
   * Who runs the login: this process (it opened the browser), another server
   * process sharing the store (we show its URL and pick the tokens up from the
   * store), or nobody because a session had appeared in the store meanwhile.
   */
  source: 'this-process' | 'other-process' | 'store';
  authorizationUrl: string;
  startedAt: number;
  expiresAt: number;
  browser: BrowserResult;
  /** The redirect URI this process's login registered (absent for a login run by another process). */
  redirectUri?: string;
  /**
   * Present while the page was not opened because the team is not trusted yet
   * (`browser.refused === 'untrusted_team'`): the user confirmed it (e.g.
   * through elicitation), so remember the team as trusted and open the page.
   * Updates `browser`.
   */
  confirmTeam?: () => Promise<BrowserResult>;
  /** Settles when the user finished (session stored) or the login failed. */
  done: Promise<StoredSession>;
  /** The login this one replaces because it expired: its link no longer works and the user may still hold it. */
  replaced?: ExpiredLogin;
  /** Paste-back for a login taken over from another process (it listens on its own port); else the main listener takes it. */
  deliver?: (callbackUrl: string) => { ok: boolean; message: string; cancelled?: boolean };
}

export interface ExpiredLogin {
  authorizationUrl: string;
  expiredAt: number;
}

/** One authorization request: a fresh state and verifier, its URL shown in the browser. */
interface Attempt {
  authorizationUrl: string;
  startedAt: number;
  expiresAt: number;
  browser: BrowserResult;
  confirmTeam?: () => Promise<BrowserResult>;
  registration: Registration;
  redirectUri: string;
  state: string;
  /** The session, once the callback came back and the code was exchanged. */
  result: Promise<StoredSession>;
}

const CLIENT_REJECTED = new Set(['invalid_client', 'unauthorized_client']);
/** How long to wait for the process holding the login lock to publish its URL. */
const PUBLISH_WAIT_MS = 10_000;
/** How long after a login expired the next one still says that the earlier link is dead. */
const EXPIRED_NOTICE_MS = 24 * 60 * 60_000;

/** What a login a logout cancelled ends with. */
function cancelledByLogout(origin: string): AccessError {
  return new AccessError('login_cancelled', `The login to ${new URL(origin).host} was cancelled by a logout.`, `If you still need this site, ${step('login', { url: origin })}.`);
}

/**
 * The managed-OAuth login (steps 2–7 of the protocol): discovery, registration
 * (reused per authorization server and redirect URI), PKCE, browser, callback,
 * code exchange, store. One login per origin: concurrent callers in this
 * process share one flow, and server processes sharing a store take a
 * per-origin lock — the holder opens the browser and publishes the URL, the
 * others show that URL and pick the session up from the store.
 */
export class OAuthLogin {
  private readonly pending = new Map<string, PendingLogin>();
  private readonly starting = new Map<string, Promise<PendingLogin>>();
  private readonly discoveries: DiscoveryCache;
  private readonly failures = new Map<string, { message: string; at: number }>();
  /** Logins of this process that ran out of time, told once to the login that replaces them. */
  private readonly expired = new Map<string, ExpiredLogin>();
  private readonly shared: SharedLogins;
  /** What another process needs to finish our logins (and we need to finish theirs) after a restart. */
  readonly resumable: PendingLoginStore;
  /** Per origin, the state of this process's waiting login and the listener it waits on (to cancel it). */
  private readonly waiting = new Map<string, { state: string; listener: CallbackListener }>();
  /** Listeners of logins taken over from other processes, each on that login's own port. */
  private readonly resumedListeners = new Set<CallbackListener>();
  /** Logins a logout cancelled that are still winding down: no longer pending, never joined again. */
  private readonly cancelled = new WeakSet<PendingLogin>();

  constructor(
    private readonly http: JsonClient,
    private readonly store: SessionStore,
    private readonly callback: CallbackListener,
    private readonly config: OAuthLoginConfig,
    private readonly log: Logger,
  ) {
    this.shared = new SharedLogins(store, log);
    this.resumable = new PendingLoginStore(store);
    // The browser's start cookie goes with the resumable login, so a process taking it over still checks it.
    callback.startLoaded = (state, cookie) => {
      const origin = [...this.waiting].find(([, entry]) => entry.state === state)?.[0];
      if (origin) void this.resumable.setCookie(origin, state, cookie).catch(() => {});
    };
    this.discoveries = new DiscoveryCache(store, config.discoveryTtlMs);
  }

  /** The login under way in this process for the application; one past its timeout no longer counts. */
  pendingFor(key: AppKey): PendingLogin | undefined {
    const login = this.pending.get(key);
    return login && this.live(login) ? login : undefined;
  }

  /** Neither past its timeout nor cancelled by a logout (both may still be winding down). */
  private live(login: PendingLogin): boolean {
    return login.expiresAt > Date.now() && !this.cancelled.has(login);
  }

  /** The login under way here for the most specific application serving `url`. */
  pendingForUrl(url: URL): PendingLogin | undefined {
    const key = longestKeyFor(this.liveKeys(), url);
    return key === undefined ? undefined : this.pendingFor(key);
  }

  private liveKeys(): AppKey[] {
    return [...this.pending].filter(([, login]) => this.live(login)).map(([key]) => key);
  }

  /** Origins with a login pending here or in another live process (for status). */
  pendingOrigins(): string[] {
    const elsewhere = Object.keys(this.store.read().logins).filter((origin) => this.pendingElsewhere(origin));
    return [...new Set([...this.liveKeys(), ...elsewhere])];
  }

  /** A login another live process is running for the origin (from the store), for status. */
  pendingElsewhere(origin: string): { authorizationUrl: string; expiresAt: number } | undefined {
    return this.shared.pendingElsewhere(origin);
  }

  /** The expired login a new one replaces, if it expired recently enough that the user may still hold its link. */
  private takeExpired(origin: string): ExpiredLogin | undefined {
    const expired = this.expired.get(origin);
    this.expired.delete(origin);
    return expired && Date.now() - expired.expiredAt < EXPIRED_NOTICE_MS ? expired : undefined;
  }

  /** The last failed login for an origin, reported once. */
  takeFailure(origin: string): string | undefined {
    const failure = this.failures.get(origin);
    this.failures.delete(origin);
    return failure?.message;
  }

  /**
   * Discovery for the application a challenge names, per resource metadata URL:
   * one request pair shared by concurrent callers, kept a while (in the store
   * too, so a new process re-logs in without it), dropped whenever a later step
   * fails with it.
   */
  discover(target: URL, resourceMetadataUrl: string): Promise<Discovery> {
    const metadataUrl = absoluteUrl(resourceMetadataUrl, target);
    return this.discoveries.get(metadataUrl, target, async () => {
      const resourceMetadata = await fetchResourceMetadata(this.http, resourceMetadataUrl, target);
      const app = appKeyOf(resourceMetadata.resource, target);
      const authorizationServer = authorizationServerOf(resourceMetadata, target);
      const server = await this.discoveries.server(authorizationServer, target, () => fetchServerMetadata(this.http, authorizationServer));
      return { origin: target.origin, app, metadataUrl, resource: resourceMetadata.resource, resourceMetadata, authorizationServer, server, at: Date.now() };
    });
  }

  /** The application a challenge for `target` belongs to (discovery, cached); the origin when the challenge names no metadata. */
  async appOf(target: URL, challenge: AccessChallenge): Promise<AppKey> {
    if (!challenge.resourceMetadataUrl) return target.origin;
    return (await this.discover(target, challenge.resourceMetadataUrl)).app;
  }

  forgetDiscovery(metadataUrl: string | undefined): void {
    if (metadataUrl !== undefined) this.discoveries.forget(metadataUrl);
  }

  /**
   * Starts a login for the application the challenge names, or returns the one
   * already under way (here or in another process). `mayStart` runs before a
   * new login starts (not before joining one): it may refuse, e.g. for an
   * application that just refused the user.
   */
  async begin(target: URL, challenge: AccessChallenge, mayStart: (key: AppKey) => void = () => {}): Promise<PendingLogin> {
    const discovery = await this.checkedDiscovery(target, challenge);
    const key = discovery.app;
    const existing = this.pending.get(key);
    if (existing && this.live(existing)) return existing;
    // Timed out or cancelled but still winding down (failure published, lock released): start anew once it has.
    if (existing) return existing.done.then(() => this.begin(target, challenge, mayStart), () => this.begin(target, challenge, mayStart));
    let starting = this.starting.get(key);
    if (!starting) {
      mayStart(key);
      starting = this.open(target, discovery)
        .then((login) => this.track(login))
        .finally(() => this.starting.delete(key));
      this.starting.set(key, starting);
    }
    return starting;
  }

  private track(login: PendingLogin): PendingLogin {
    if (login.source === 'store') return login;
    this.pending.set(login.key, login);
    const forget = () => {
      if (this.pending.get(login.key) === login) this.pending.delete(login.key);
    };
    login.done.then(forget, forget);
    return login;
  }

  private async open(target: URL, discovery: Discovery): Promise<PendingLogin> {
    const key = discovery.app;
    const since = Date.now();
    for (;;) {
      const look = await this.shared.look(key, since);
      if (look.kind === 'session') return ready(key, look.session);
      if (look.kind === 'failed') throw look.error;
      if (look.kind === 'lead') return this.lead(target, discovery, look.lock, since);
      if (look.record) return this.shared.follow(target, key, look.record, since, (lock) => this.lead(target, discovery, lock, since));
      // The lock holder has not published its URL yet (it is registering): give it a moment.
      if (Date.now() - since > PUBLISH_WAIT_MS) {
        throw new AccessError(
          'login_pending',
          `Another cf-access-mcp process is starting a login to ${target.host}, but has not shown its login page yet.`,
          'Repeat the same request in a few seconds.',
        );
      }
      await sleep(POLL_MS);
    }
  }

  private async checkedDiscovery(target: URL, challenge: AccessChallenge): Promise<Discovery> {
    if (!challenge.resourceMetadataUrl) {
      throw new AccessError(
        'unsupported_server',
        `${target.host} is behind Cloudflare Access but does not offer managed OAuth (no resource_metadata in its challenge).`,
        'Use a service token (CF_ACCESS_CLIENT_ID/CF_ACCESS_CLIENT_SECRET with CF_ACCESS_SERVICE_TOKEN_HOSTS) or the cloudflared method.',
      );
    }
    try {
      const discovery = await this.discover(target, challenge.resourceMetadataUrl);
      if (offersOAuth(discovery.resourceMetadata) === false) {
        throw new AccessError(
          'unsupported_server',
          `${target.host} is behind Cloudflare Access, but its resource metadata does not list managed OAuth.`,
          `Use a service token, or ${step('login', { url: target.href, method: 'cloudflared' })}.`,
        );
      }
      assertSupportsPublicClient(discovery.server, discovery.authorizationServer.host);
      return discovery;
    } catch (error) {
      if (challenge.resourceMetadataUrl) this.forgetDiscovery(absoluteUrl(challenge.resourceMetadataUrl, target));
      throw error;
    }
  }

  /** We hold the login lock: run the login here, publish it, release the lock when it ends. */
  private async lead(target: URL, discovery: Discovery, lock: HeldLock, since: number): Promise<PendingLogin> {
    const origin = discovery.app;
    let first: Attempt;
    try {
      const session = this.store.getSession(origin);
      if (session && sessionState(session) === 'authenticated') {
        await lock.release();
        return ready(origin, session);
      }
      // The holder we waited for may have published a failure just before letting go of the lock.
      const failure = this.shared.failureSince(origin, since);
      if (failure) throw failure;
      // We hold the lock, so whoever began a login still recorded for this origin is gone: finish theirs, no second browser.
      const orphan = this.resumable.get(origin);
      if (orphan && orphan.pid !== process.pid && orphan.expires_at > Date.now()) return await this.resume(orphan, lock);
      first = await this.attempt(target, discovery);
    } catch (error) {
      await this.shared.unpublish(origin);
      await lock.release();
      throw error;
    }
    const login: PendingLogin = { method: 'oauth', origin: target.origin, key: origin, source: 'this-process', ...pick(first), done: first.result, replaced: this.takeExpired(origin) };
    // A confirmation updates what the login reports, unless a retry replaced the attempt meanwhile.
    const bind = (attempt: Attempt) => {
      if (!attempt.confirmTeam) return;
      const confirm = attempt.confirmTeam;
      login.confirmTeam = async () => {
        const browser = await confirm();
        if (login.authorizationUrl === attempt.authorizationUrl) {
          login.browser = browser;
          delete login.confirmTeam;
        }
        return browser;
      };
    };
    bind(first);
    let current = first;
    login.done = first.result
      .catch(async (error: unknown) => {
        // A registration the server no longer knows is replaced once, and the login restarts with it;
        // a redirect form refused only at authorization restarts it once with the other form.
        let refusedHost: CallbackHost | undefined;
        if (error instanceof RedirectRefusedError) {
          refusedHost = error.host;
          if (this.config.callbackHost) throw forcedFormRefused(discovery, error.host);
          this.log('notice', `${discovery.authorizationServer.host} refused the redirect URI ${first.redirectUri} at authorization; starting the login again with the other loopback form.`);
        } else if (error instanceof ClientRejectedError) {
          await this.dropRegistration(discovery, first.registration);
          this.log('notice', `The client registration for ${discovery.authorizationServer.host} was rejected; registering again.`);
        } else throw error;
        // A logout meanwhile cancelled this login: no second attempt (and no second browser) for it.
        if (this.cancelled.has(login)) throw cancelledByLogout(origin);
        await this.resumable.delete(origin, first.state).catch(() => false);
        const retry = await this.attempt(target, discovery, refusedHost);
        current = retry;
        // Cancelled while the retry started: its callback state is the one waiting now, and is cancelled too.
        if (this.cancelled.has(login)) await this.cancel(origin);
        delete login.confirmTeam;
        Object.assign(login, pick(retry));
        bind(retry);
        return retry.result;
      })
      .then(
        (session) => this.ended(login, current.state, discovery.metadataUrl, session),
        (error: unknown) => this.ended(login, current.state, discovery.metadataUrl, undefined, error),
      )
      .finally(() => lock.release());
    return login;
  }

  /**
   * A login of this process ended: withdraw it from the store (the resumable
   * record too, unless the process is only shutting down, so that the next
   * process finishes it), or publish why it failed.
   */
  private async ended(login: PendingLogin, state: string, metadataUrl: string | undefined, session: StoredSession | undefined, error?: unknown): Promise<StoredSession> {
    const origin = login.key;
    if (this.waiting.get(origin)?.state === state) this.waiting.delete(origin);
    if (session) {
      await this.resumable.delete(origin, state).catch(() => false);
      await this.shared.unpublish(origin);
      return session;
    }
    if (error instanceof AccessError && error.code === 'login_timeout') this.expired.set(origin, { authorizationUrl: login.authorizationUrl, expiredAt: login.expiresAt });
    if (metadataUrl) this.forgetDiscovery(metadataUrl);
    this.failures.set(origin, { message: (error as Error).message, at: Date.now() });
    if (!this.shared.closing) await this.resumable.delete(origin, state).catch(() => false);
    await this.shared.publishFailure(origin, error);
    throw error;
  }

  /**
   * Takes over a login begun by a process that is gone (we hold its login
   * lock): listens on its callback port, finishes it with its verifier. No
   * browser is opened: the user already has the sign-in page.
   */
  private async resume(record: ResumableLogin, lock: HeldLock): Promise<PendingLogin> {
    if (!(await this.resumable.claim(record))) {
      await lock.release();
      throw new AccessError('login_pending', `Another cf-access-mcp process took over the login to ${new URL(record.origin).host}.`, 'Repeat the same request in a few seconds.');
    }
    const { login, listener } = await resumeLogin(record, {
      bind: this.config.callbackBind,
      log: this.log,
      finish: (target, discovery, registration, redirectUri, verifier, params) => this.finish(target, discovery, registration, redirectUri, verifier, params),
    });
    this.resumedListeners.add(listener);
    this.waiting.set(record.origin, { state: record.state, listener });
    await this.shared.publish({ origin: record.origin, state: 'pending', authorization_url: record.authorization_url, started_at: record.started_at, expires_at: record.expires_at });
    login.done = login.done
      .then(
        (session) => this.ended(login, record.state, undefined, session),
        (error: unknown) => this.ended(login, record.state, undefined, undefined, error),
      )
      .finally(() => {
        listener.close();
        this.resumedListeners.delete(listener);
        return lock.release();
      });
    const port = listener.listeningPort;
    this.log(
      'notice',
      `Took over the pending login to ${record.origin} begun by process ${record.pid}, which is gone; ${port ? `listening on port ${port} for its browser callback` : 'its callback port is taken, so only a pasted callback address completes it'} (until ${new Date(record.expires_at).toISOString()}).`,
    );
    return this.track(login);
  }

  /**
   * Start-up (and before each call): deletes expired resumable logins and
   * takes over those whose process is gone, so the browser that comes back
   * finds a listener and a pasted callback address finds its login.
   */
  async resumeOrphans(): Promise<void> {
    for (const record of this.resumable.list()) {
      if (record.expires_at <= Date.now()) {
        if (await this.resumable.delete(record.origin, record.state)) this.log('info', `Deleted the expired pending login to ${record.origin}.`);
        continue;
      }
      if (record.pid === process.pid || this.pending.has(record.origin) || this.starting.has(record.origin)) continue;
      const look = await this.shared.look(record.origin, Date.now());
      if (look.kind === 'session') {
        await this.resumable.delete(record.origin, record.state);
      } else if (look.kind === 'lead') {
        const starting = this.resume(record, look.lock).finally(() => this.starting.delete(record.origin));
        this.starting.set(record.origin, starting);
        await starting.catch((error: unknown) => this.log('warning', `Could not take over the login to ${record.origin}: ${(error as Error).message}`));
      }
    }
  }

  /**
   * access_logout: cancels this process's login waiting for the origin (its
   * callback link then shows "cancelled") and forgets a resumable one, so no
   * later process finishes it. True when there was one. `why`: what the login
   * (and every caller following it) ends with; a logout unless said otherwise.
   */
  async cancel(origin: string, why: AccessError = cancelledByLogout(origin)): Promise<boolean> {
    const waiting = this.waiting.get(origin);
    // At once, not when it has wound down: a status or login right after the logout must not see it pending.
    const login = this.pending.get(origin);
    if (login) this.cancelled.add(login);
    const deleted = await this.resumable.delete(origin).catch(() => false);
    if (!waiting) return deleted;
    waiting.listener.cancel(waiting.state, why, true);
    return true;
  }

  /** One authorization request: registration, PKCE, published URL, browser; `result` settles with the callback. */
  private async attempt(target: URL, discovery: Discovery, refusedHost?: CallbackHost): Promise<Attempt> {
    const origin = discovery.app;
    const team = teamHost(discovery.authorizationServer);
    const onTeamDomain = isTrustedLoginHost(discovery.authorizationServer, target);
    // Decided before registering: the registration made below must not make the team look trusted.
    const trusted = onTeamDomain && isTrustedTeam(discovery.authorizationServer, this.store, this.config.trustedTeams ?? []);
    // The listener closes itself once no login waits (a moment after a callback): held open until this login
    // waits on it, or a retry registering its other redirect form in that moment would lose it, its port with it.
    const release = this.callback.hold();
    let registered: Awaited<ReturnType<typeof this.ensureRegistration>>;
    let authorizationUrl: string;
    let result: Promise<StoredSession>;
    const { verifier, challenge: codeChallenge } = createPkce();
    const state = createState();
    try {
      await this.callback.start();
      registered = await this.ensureRegistration(discovery, trusted, refusedHost);
      authorizationUrl = buildAuthorizationUrl({
        authorizationEndpoint: discovery.server.authorization_endpoint,
        clientId: registered.registration.client_id,
        redirectUri: registered.redirectUri,
        challenge: codeChallenge,
        state,
        resource: discovery.resource,
      });
      const { registration, redirectUri } = registered;
      result = this.callback
        .expect(state, appLabel(discovery.app), this.config.loginTimeoutMs, target.href)
        .then((params) => this.finish(target, discovery, registration, redirectUri, verifier, params));
    } finally {
      release();
    }
    const { registration, redirectUri, host } = registered;
    const startedAt = Date.now();
    const expiresAt = startedAt + this.config.loginTimeoutMs;
    // Settles before anyone listens when the browser is quick; the caller attaches its handlers next.
    result.catch(() => {});
    this.waiting.set(origin, { state, listener: this.callback });
    await this.resumable
      .put({
        origin,
        state,
        verifier,
        redirect_uri: redirectUri,
        client_id: registration.client_id,
        ...(registration.grant_types ? { grant_types: registration.grant_types } : {}),
        resource: discovery.resource,
        authorization_server: discovery.authorizationServer.href,
        authorization_url: authorizationUrl,
        server: discovery.server,
        resource_metadata: discovery.resourceMetadata,
        started_at: startedAt,
        expires_at: expiresAt,
      })
      .catch((error: unknown) => this.log('warning', `Could not record the login to ${origin} for a restart: ${(error as Error).message}.`));
    await this.shared.publish({ origin, state: 'pending', authorization_url: authorizationUrl, started_at: startedAt, expires_at: expiresAt });
    // Before the browser opens: a quick sign-in can complete (and log so) before this login is handed back.
    this.log('info', `Login to ${origin} started; waiting for the browser callback.`);
    let browser: BrowserResult;
    let confirmTeam: (() => Promise<BrowserResult>) | undefined;
    if (trusted) {
      browser = await this.openThroughStart(state, authorizationUrl, team, host);
    } else if (onTeamDomain) {
      browser = { opened: false, team, refused: 'untrusted_team', reason: untrustedTeamReason(team, target.host) };
      confirmTeam = async () => {
        await this.trustTeam(discovery, redirectUri);
        this.log('info', `${team} is now a trusted team (confirmed by the user).`);
        return this.openThroughStart(state, authorizationUrl, team, host);
      };
    } else {
      browser = {
        opened: false,
        team,
        refused: 'not_access_domain',
        reason: `the sign-in page is on ${discovery.authorizationServer.host}, not on a Cloudflare Access team domain (*.cloudflareaccess.com), so it was not opened automatically; open it only if you trust that host`,
      };
    }
    if (!browser.opened) this.log('notice', `No browser was opened for the login to ${origin}: ${browser.reason}.`);
    return { authorizationUrl, startedAt, expiresAt, browser, confirmTeam, registration, redirectUri, state, result };
  }

  /**
   * Opens the browser on a one-time loopback start address (never the
   * authorization URL: command lines are public to local users); the callback
   * then requires the cookie it sets. If no browser opened, the login takes
   * the plain authorization URL and a cookie-less callback, as before.
   */
  private async openThroughStart(state: string, authorizationUrl: string, team: string, host: CallbackHost): Promise<BrowserResult> {
    let start: string;
    try {
      start = this.callback.issueStart(state, authorizationUrl, host);
    } catch {
      return { opened: false, team, reason: 'the login is no longer waiting for a sign-in' };
    }
    const browser = await openBrowser(start, this.config.browserCommand);
    if (!browser.opened) this.callback.withdrawStart(state);
    return { ...browser, team };
  }

  /** Marks the team's registration as one the user chose (a completed sign-in or a confirmation). */
  private async trustTeam(discovery: Discovery, redirectUri: string): Promise<void> {
    const key = this.registrationKeyOf(discovery, redirectUri);
    const registration = this.store.getRegistration(key) as (Registration & Record<string, unknown>) | undefined;
    if (registration?.[TEAM_TRUSTED_FIELD] !== false) return;
    const trusted: Registration & Record<string, unknown> = { ...registration, [TEAM_TRUSTED_FIELD]: true };
    await this.store.putRegistration(key, trusted);
  }

  /** Steps 6–7: check the callback, exchange the code (with the verifier), store the session. */
  private async finish(
    target: URL,
    discovery: Discovery,
    registration: Registration,
    redirectUri: string,
    verifier: string,
    params: CallbackParams,
  ): Promise<StoredSession> {
    if (params.error) {
      if (CLIENT_REJECTED.has(params.error)) throw new ClientRejectedError(params.error, target.href);
      const refusedForm = new URL(redirectUri).hostname;
      if (params.error === 'invalid_request' && /redirect_uri/i.test(params.error_description ?? '') && isCallbackHost(refusedForm)) throw new RedirectRefusedError(refusedForm);
      const denied = params.error === 'access_denied';
      // The application, not only its host: /admin and / of one host are different sign-ins.
      const application = appLabel(discovery.app);
      throw new OAuthProtocolError(
        denied ? 'authorization_denied' : 'authorization_failed',
        params.error,
        denied
          ? `The login to ${application} was denied in the browser.`
          : `The authorization server refused the login to ${application} (${remoteText(redactSecrets(params.error, [params.code, verifier]), 100)}${params.error_description ? `: ${remoteText(redactSecrets(params.error_description, [params.code, verifier]), 300)}` : ''}).`,
        denied
          ? `If that was a mistake, ${step('login', { url: target.href, force: true })} and choose Approve; otherwise ask the Access administrator for access.`
          : `To try again, ${step('login', { url: target.href, force: true })}; if it repeats, check the Access application configuration.`,
      );
    }
    if (!params.code) {
      throw new AccessError('callback_failed', `The login callback for ${appLabel(discovery.app)} carried no authorization code.`, `To try again, ${step('login', { url: target.href, force: true })}.`);
    }
    let tokens;
    try {
      tokens = await exchangeCode(this.http, {
        tokenEndpoint: discovery.server.token_endpoint,
        code: params.code,
        clientId: registration.client_id,
        redirectUri,
        verifier,
        resource: discovery.resource,
        loginUrl: target.href,
      });
    } catch (error) {
      if (error instanceof OAuthProtocolError && CLIENT_REJECTED.has(error.oauthError)) throw new ClientRejectedError(error.oauthError, target.href);
      throw error;
    }
    const session: StoredSession = {
      origin: target.origin,
      app: discovery.app,
      method: 'oauth',
      ...tokens,
      resource: discovery.resource,
      authorization_server: discovery.authorizationServer.href,
      token_endpoint: discovery.server.token_endpoint,
      revocation_endpoint: discovery.server.revocation_endpoint,
      client_id: registration.client_id,
      redirect_uri: redirectUri,
      obtained_at: Date.now(),
      ...grantFacts(registration, tokens.refresh_token),
    };
    await this.store.putSession(session);
    await this.trustTeam(discovery, redirectUri);
    await this.rememberCallbackHost(discovery, redirectUri);
    this.log('info', `Logged in to ${discovery.app} (managed OAuth).`);
    return session;
  }

  /** The redirect form that just completed a login is the one this team tries first from now on. */
  private async rememberCallbackHost(discovery: Discovery, redirectUri: string): Promise<void> {
    const host = new URL(redirectUri).hostname;
    const team = discovery.authorizationServer.origin;
    if (isCallbackHost(host) && this.store.getCallbackHost(team) !== host) await this.store.putCallbackHost(team, host).catch(() => {});
  }

  /**
   * A registration for one of our two redirect URI forms: the one that worked
   * for this team before (or CF_ACCESS_MCP_CALLBACK_HOST) first; when the
   * server refuses that form, the other one, and the team remembers the winner.
   */
  private async ensureRegistration(
    discovery: Discovery,
    teamTrusted: boolean,
    refusedHost?: CallbackHost,
  ): Promise<{ registration: Registration; redirectUri: string; host: CallbackHost }> {
    const team = discovery.authorizationServer.origin;
    // Remembered only once a login completed with it (finish): a registration alone does not prove authorization accepts it.
    const remembered = this.store.getCallbackHost(team);
    let refused: unknown;
    try {
      for (const host of callbackHostOrder(this.config.callbackHost, remembered).filter((form) => form !== refusedHost)) {
        const redirectUri = this.callback.redirectUriFor(host);
        if (!redirectUri) throw new AccessError('callback_failed', 'The login callback listener stopped before registration.', `${cap(step('login', { url: discovery.app }))} again.`);
        try {
          const registration = await this.registrationFor(discovery, redirectUri, teamTrusted);
          return { registration, redirectUri, host };
        } catch (error) {
          if (!(error instanceof RegistrationRefusedError && error.reason === 'redirect_uri')) throw error;
          refused = error;
          this.log('notice', `${discovery.authorizationServer.host} does not allow the redirect URI ${redirectUri}.`);
        }
      }
      throw refused;
    } catch (error) {
      this.forgetDiscovery(discovery.metadataUrl);
      throw error;
    }
  }

  /**
   * The stored registration for this redirect URI, else a new one asking for
   * both grants, else (the server refused the refresh grant) for the code grant
   * alone, recorded so that status can say refresh may not work.
   */
  private async registrationFor(discovery: Discovery, redirectUri: string, teamTrusted: boolean): Promise<Registration> {
    const key = this.registrationKeyOf(discovery, redirectUri);
    const cached = this.store.getRegistration(key);
    // One stored before we registered grants (code only) is replaced: a server that enforces grants would refuse its refresh.
    if (cached && cached.registration_endpoint === discovery.server.registration_endpoint && cached.grant_types) return cached;
    const endpoint = discovery.server.registration_endpoint!;
    let registration: Registration;
    try {
      registration = await registerClient(this.http, endpoint, redirectUri, discovery.resource);
    } catch (error) {
      if (!(error instanceof RegistrationRefusedError && error.reason === 'grants')) throw error;
      this.log('notice', `${discovery.authorizationServer.host} refused the refresh_token grant at registration; registering authorization_code alone (refresh may not work).`);
      registration = await registerClient(this.http, endpoint, redirectUri, discovery.resource, ['authorization_code']);
    }
    // Flagged until the user completes or confirms a sign-in with this team: registering alone earns no trust.
    const entry: Registration & { [TEAM_TRUSTED_FIELD]: boolean } = { ...registration, [TEAM_TRUSTED_FIELD]: teamTrusted };
    await this.store.putRegistration(key, entry);
    return registration;
  }

  private async dropRegistration(discovery: Discovery, registration: Registration): Promise<void> {
    await this.store.deleteRegistration(this.registrationKeyOf(discovery, registration.redirect_uri), registration.client_id);
  }

  /**
   * Registrations are per team, application and redirect URI. A host-wide
   * application still uses one stored before applications were told apart
   * (team and redirect URI only), so no re-registration follows an upgrade.
   */
  private registrationKeyOf(discovery: Discovery, redirectUri: string): string {
    const team = discovery.authorizationServer.origin;
    const key = registrationKey(team, redirectUri, discovery.app);
    const legacy = registrationKey(team, redirectUri);
    if (discovery.app === discovery.origin && !this.store.getRegistration(key) && this.store.getRegistration(legacy)) return legacy;
    return key;
  }

  /** Cancels every pending login (server shutting down). */
  abandonAll(): void {
    this.shared.closing = true;
    this.pending.clear();
  }

  /** Server shutting down: withdraw our published logins so another process can take them over at once. */
  async shutdown(): Promise<void> {
    this.shared.closing = true;
    const ours = [...this.pending.values()].filter((login) => login.source === 'this-process');
    await Promise.all(ours.map((login) => this.shared.unpublish(login.key)));
    this.pending.clear();
    // End our logins now and let each release its login lock before the process exits: a lock
    // left behind holds up the next process's login for this origin until it goes stale.
    const stopping = new AccessError('login_timeout', 'The server is shutting down.', 'Start the login again after the server restarts.');
    this.callback.shutdown(stopping);
    for (const listener of this.resumedListeners) listener.shutdown(stopping);
    await Promise.race([Promise.allSettled(ours.map((login) => login.done)), sleep(2_000)]);
  }
}

function absoluteUrl(url: string, base: URL): string {
  try {
    return new URL(url, base).href;
  } catch {
    return url;
  }
}

/** What a login shows of its current attempt (confirmTeam is bound separately, to update the login). */
function pick(attempt: Attempt): Pick<PendingLogin, 'authorizationUrl' | 'startedAt' | 'expiresAt' | 'browser' | 'redirectUri'> {
  return { authorizationUrl: attempt.authorizationUrl, startedAt: attempt.startedAt, expiresAt: attempt.expiresAt, browser: attempt.browser, redirectUri: attempt.redirectUri };
}

/** What the session records about renewal: whether we could register the refresh grant, whether a refresh token came. */
function grantFacts(registration: Registration, refreshToken: string | undefined): Pick<StoredSession, 'refresh_grant_registered' | 'refresh_token_issued'> {
  return {
    ...(registration.grant_types && !registration.grant_types.includes('refresh_token') ? { refresh_grant_registered: false } : {}),
    ...(refreshToken ? {} : { refresh_token_issued: false }),
  };
}

/** The authorization endpoint refused a redirect form its registration had accepted (the account allows only the other one). */
class RedirectRefusedError extends OAuthProtocolError {
  constructor(readonly host: CallbackHost) {
    super('authorization_failed', 'invalid_request', `The authorization server refused the redirect URI form ${host}.`, 'Log in again.');
  }
}

function forcedFormRefused(discovery: Discovery, host: CallbackHost): AccessError {
  return new AccessError(
    'authorization_failed',
    `${discovery.authorizationServer.host} refused the redirect URI form ${host} at authorization, and CF_ACCESS_MCP_CALLBACK_HOST allows only that form.`,
    `Unset CF_ACCESS_MCP_CALLBACK_HOST (or set it to ${host === 'localhost' ? '127.0.0.1' : 'localhost'}), restart the server and ${step('login', { url: discovery.app })}.`,
  );
}

class ClientRejectedError extends OAuthProtocolError {
  constructor(oauthError: string, loginUrl: string) {
    super('authorization_failed', oauthError, `The authorization server no longer knows this client (${remoteText(oauthError, 100)}).`, `To register again, ${step('login', { url: loginUrl, force: true })}.`);
  }
}
