import type { Dispatcher } from 'undici';
import { OAuthProtocolError } from './errors.js';
import type { Logger } from './logger.js';
import type { SessionStore, StoredSession } from './store.js';
import { refreshTokens } from './token.js';

/** Grants that mean the refresh token is dead: start a new login instead of retrying. */
const DEAD_SESSION = new Set(['invalid_grant', 'invalid_client', 'unauthorized_client']);

export type SessionState = 'authenticated' | 'expired' | 'none';

export function sessionState(session: StoredSession | undefined, now = Date.now()): SessionState {
  if (!session) return 'none';
  if (session.expires_at !== undefined && session.expires_at <= now) return 'expired';
  return 'authenticated';
}

/**
 * Live sessions: hands out a usable access token per origin, refreshing it
 * shortly before expiry (one refresh per origin at a time), and drops a
 * session whose refresh token is dead.
 */
export class Sessions {
  private readonly refreshing = new Map<string, Promise<StoredSession | undefined>>();

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly store: SessionStore,
    private readonly refreshSkewMs: number,
    private readonly log: Logger,
  ) {}

  get(origin: string): StoredSession | undefined {
    return this.store.getSession(origin);
  }

  /** A session whose access token is good for at least the refresh skew, or undefined. */
  async usable(origin: string): Promise<StoredSession | undefined> {
    const session = this.store.getSession(origin);
    if (!session) return undefined;
    if (session.expires_at === undefined || session.expires_at - Date.now() > this.refreshSkewMs) return session;
    if (session.method !== 'oauth' || !session.refresh_token) {
      return session.expires_at > Date.now() ? session : undefined;
    }
    return this.refresh(origin, session);
  }

  /**
   * Refreshes once per origin at a time. `stale` is the session the caller saw;
   * if the store already holds a newer one (another caller refreshed), that one is used.
   */
  refresh(origin: string, stale: StoredSession): Promise<StoredSession | undefined> {
    let running = this.refreshing.get(origin);
    if (!running) {
      running = this.doRefresh(origin, stale).finally(() => this.refreshing.delete(origin));
      this.refreshing.set(origin, running);
    }
    return running;
  }

  private async doRefresh(origin: string, stale: StoredSession): Promise<StoredSession | undefined> {
    const current = this.store.getSession(origin);
    if (!current) return undefined;
    if (current.access_token !== stale.access_token && (current.expires_at ?? Infinity) - Date.now() > this.refreshSkewMs) {
      return current;
    }
    if (!current.refresh_token || !current.token_endpoint || !current.client_id || !current.resource) {
      await this.store.deleteSession(origin, current.access_token);
      return undefined;
    }
    try {
      const tokens = await refreshTokens(this.dispatcher, {
        tokenEndpoint: current.token_endpoint,
        refreshToken: current.refresh_token,
        clientId: current.client_id,
        resource: current.resource,
      });
      const next: StoredSession = { ...current, ...tokens, refreshed_at: Date.now() };
      await this.store.putSession(next);
      this.log('info', `Refreshed the session for ${origin}.`);
      return next;
    } catch (error) {
      if (error instanceof OAuthProtocolError && DEAD_SESSION.has(error.oauthError)) {
        this.log('notice', `The session for ${origin} can no longer be refreshed (${error.oauthError}); a new login is needed.`);
        await this.store.deleteSession(origin, current.access_token);
        return undefined;
      }
      throw error;
    }
  }

  /** Forget a session after the origin refused its token (and refreshing did not help). */
  async drop(origin: string, session: StoredSession): Promise<void> {
    await this.store.deleteSession(origin, session.access_token);
  }
}
