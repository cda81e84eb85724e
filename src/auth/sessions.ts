import { step } from '../core/next-step.js';
import { cloudflaredSessionVerified } from './cloudflared.js';
import { AccessError, OAuthProtocolError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { OriginLocks } from './login-lock.js';
import { registrationKey, sessionKey, type SessionStore, type StoredSession } from './store.js';
import { refreshTokens } from './token.js';
import type { JsonClient } from '../http/json.js';

/** Grants that mean the refresh token is dead: start a new login instead of retrying. */
const DEAD_SESSION = new Set(['invalid_grant', 'invalid_client', 'unauthorized_client']);

export type SessionState = 'authenticated' | 'expired' | 'none';

export function sessionState(session: StoredSession | undefined, now = Date.now()): SessionState {
  if (!session) return 'none';
  if (session.expires_at !== undefined && session.expires_at <= now) return 'expired';
  return 'authenticated';
}

/** How long a refresh waits for another process's refresh of the same origin (one token request, with its timeouts). */
const REFRESH_LOCK_WAIT_MS = 45_000;

/**
 * Live sessions: hands out a usable access token per origin, refreshing it
 * shortly before expiry, and drops a session whose refresh token is dead.
 * One refresh per origin at a time, in this process (shared promise) and
 * across processes (a lock, then a re-read: with rotating refresh tokens two
 * refreshes of one token would end the session).
 */
export class Sessions {
  private readonly refreshing = new Map<string, Promise<StoredSession | undefined>>();
  private readonly locks: OriginLocks;

  constructor(
    private readonly http: JsonClient,
    private readonly store: SessionStore,
    private readonly refreshSkewMs: number,
    private readonly log: Logger,
  ) {
    this.locks = new OriginLocks(store, (level, message) => log(level, message));
  }

  get(origin: string): StoredSession | undefined {
    return this.store.getSession(origin);
  }

  /** A session whose access token is good for at least the refresh skew (refreshing it if needed), or undefined. */
  async usable(origin: string): Promise<StoredSession | undefined> {
    const session = this.store.getSession(origin);
    if (!session) return undefined;
    // A cloudflared token not proven to belong to this origin's application is never sent (a new login proves it).
    if (!cloudflaredSessionVerified(session)) return undefined;
    if (session.expires_at === undefined || session.expires_at - Date.now() > this.refreshSkewMs) return session;
    if (session.method !== 'oauth' || !session.refresh_token) {
      return session.expires_at > Date.now() ? session : undefined;
    }
    try {
      return await this.refresh(origin, session);
    } catch (error) {
      // A refresh that failed for a passing reason need not cost the token's remaining minutes.
      if (session.expires_at > Date.now() && !(error instanceof RefreshRefusedError)) {
        this.log('warning', `Refreshing the session for ${origin} failed (${(error as Error).message}); using the current token until it expires.`);
        return session;
      }
      throw error;
    }
  }

  /**
   * Refreshes once per origin at a time. `stale` is the session the caller saw;
   * if the store already holds a newer one (another caller or process refreshed), that one is used.
   */
  refresh(origin: string, stale: StoredSession): Promise<StoredSession | undefined> {
    let running = this.refreshing.get(origin);
    if (!running) {
      running = this.refreshAcrossProcesses(origin, stale).finally(() => this.refreshing.delete(origin));
      this.refreshing.set(origin, running);
    }
    return running;
  }

  private async refreshAcrossProcesses(origin: string, stale: StoredSession): Promise<StoredSession | undefined> {
    const lock = await this.locks.acquire(origin, 'refresh', REFRESH_LOCK_WAIT_MS);
    if (!lock) {
      throw new AccessError(
        'token_failed',
        `Another cf-access-mcp process has been refreshing the session for ${new URL(origin).host} for too long.`,
        `Try again in a minute; if it keeps happening, ${step('login', { url: origin, force: true })}.`,
      );
    }
    try {
      return await this.doRefresh(origin, stale);
    } finally {
      await lock.release();
    }
  }

  private async doRefresh(origin: string, stale: StoredSession): Promise<StoredSession | undefined> {
    const current = this.store.getSession(origin);
    if (!current) return undefined;
    if (current.access_token !== stale.access_token && sessionState(current) === 'authenticated') return current;
    if (!current.refresh_token || !current.token_endpoint || !current.client_id || !current.resource) {
      await this.store.deleteSession(origin, current.access_token);
      return undefined;
    }
    try {
      const tokens = await refreshTokens(this.http, {
        tokenEndpoint: current.token_endpoint,
        refreshToken: current.refresh_token,
        clientId: current.client_id,
        resource: current.resource,
        loginUrl: origin,
      });
      const next: StoredSession = { ...current, ...tokens, refreshed_at: Date.now() };
      await this.store.putSession(next);
      this.log('info', `Refreshed the session for ${origin}.`);
      return next;
    } catch (error) {
      if (error instanceof OAuthProtocolError && error.oauthError === 'access_denied') {
        // Policy is evaluated again on refresh: the application no longer admits this user. A new login would meet the same refusal.
        this.log('notice', `Refreshing the session for ${origin} was refused by the application's policy.`);
        await this.store.deleteSession(origin, current.access_token);
        throw new RefreshRefusedError(origin, error);
      }
      if (error instanceof OAuthProtocolError && DEAD_SESSION.has(error.oauthError)) {
        this.log('notice', `The session for ${origin} can no longer be refreshed (${error.oauthError}); a new login is needed.`);
        await this.store.deleteSession(origin, current.access_token);
        if (error.oauthError !== 'invalid_grant') await this.forgetRegistrationOf(current);
        return undefined;
      }
      throw error;
    }
  }

  /** The server no longer knows the client: the next login registers anew instead of meeting the same refusal. */
  private async forgetRegistrationOf(session: StoredSession): Promise<void> {
    if (!session.authorization_server || !session.redirect_uri || !session.client_id) return;
    const team = new URL(session.authorization_server).origin;
    // Stored per application, or (host-wide, from before applications were told apart) per team and redirect URI.
    await this.store.deleteRegistration(registrationKey(team, session.redirect_uri, sessionKey(session)), session.client_id);
    await this.store.deleteRegistration(registrationKey(team, session.redirect_uri), session.client_id);
  }

  /** Forget a session after the origin refused its token (and refreshing did not help). */
  async drop(origin: string, session: StoredSession): Promise<void> {
    await this.store.deleteSession(origin, session.access_token);
  }
}

/** The token endpoint refused a refresh because the application's policy no longer admits the user. */
export class RefreshRefusedError extends OAuthProtocolError {
  constructor(
    readonly key: string,
    cause: OAuthProtocolError,
  ) {
    super('policy_denied', cause.oauthError, cause.message, cause.nextStep);
  }
}
