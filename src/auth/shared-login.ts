import { AccessError } from '../core/errors.js';
import { step } from '../core/next-step.js';
import type { Logger } from '../core/logger.js';
import { currentOwner, ownerIsGone, OriginLocks, type HeldLock } from './login-lock.js';
import type { PendingLogin } from './oauth-login.js';
import { sessionState } from './sessions.js';
import type { LoginRecord, SessionStore, StoredSession } from './store.js';
import { appLabel, type AppKey } from './app-key.js';

/** What the store and the login lock say about an origin that needs a login. */
export type Look =
  | { kind: 'session'; session: StoredSession }
  | { kind: 'failed'; error: AccessError }
  | { kind: 'lead'; lock: HeldLock }
  | { kind: 'wait'; record?: LoginRecord };

/** How often a process waiting for another process's login looks at the store. */
export const POLL_MS = 250;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * One browser login per origin across the server processes sharing a store.
 * The process holding the origin's login lock runs the login and publishes
 * its authorization URL in the store (never the state or verifier on their
 * own, which stay in its memory); the others show that URL and wait for the
 * session to appear in the store. When the holder ends without a session — it
 * stopped, or was killed (its pid is gone, or its lock went stale) — a waiting
 * process takes the lock and logs in itself. A failure (denied, timed out) is
 * published too, so the waiters report it instead of opening another browser.
 */
export class SharedLogins {
  private readonly locks: OriginLocks;
  closing = false;

  constructor(
    private readonly store: SessionStore,
    private readonly log: Logger,
  ) {
    this.locks = new OriginLocks(store, (level, message) => log(level, message));
  }

  /**
   * Reads the store and tries the login lock: a session another process got,
   * a failure it published after `since`, the lock (we lead), or wait. A
   * login whose process died is cleared first so the lock can be taken now.
   */
  async look(origin: AppKey, since: number): Promise<Look> {
    const session = this.store.getSession(origin);
    if (session && sessionState(session) === 'authenticated') return { kind: 'session', session };
    const failure = this.failureSince(origin, since);
    if (failure) return { kind: 'failed', error: failure };
    let record = this.store.getLogin(origin);
    if (record?.state === 'pending' && ownerIsGone(record)) {
      const dead = record;
      const cleared = await this.store.deleteLogin(origin, (current) => {
        if (current.pid !== dead.pid || current.started_at !== dead.started_at) return false;
        // Under the store lock, so only one process clears it, before anyone can take the lock again.
        this.locks.forceRemove(origin, 'login');
        return true;
      });
      if (cleared) this.log('notice', `The process that was logging in to ${origin} is gone; taking over its login.`);
      record = undefined;
    }
    const lock = await this.locks.tryAcquire(origin, 'login');
    if (lock !== 'busy') return { kind: 'lead', lock };
    return { kind: 'wait', record: record?.state === 'pending' && record.pid !== process.pid ? record : undefined };
  }

  /** A failure another process published for the application after `since`, as our error. */
  failureSince(key: AppKey, since: number): AccessError | undefined {
    const record = this.store.getLogin(key);
    return record?.state === 'failed' && record.updated_at >= since ? failedElsewhere(key, record) : undefined;
  }

  /**
   * Shows another process's login as ours: its URL, and a `done` that settles
   * when its session appears in the store, it reports a failure, or it ends
   * without either — then `takeOver` runs the login here with the lock.
   */
  follow(target: URL, key: AppKey, record: LoginRecord, since: number, takeOver: (lock: HeldLock) => Promise<PendingLogin>): PendingLogin {
    const origin = key;
    this.log('info', `Another cf-access-mcp process (pid ${record.pid}) is logging in to ${origin}; waiting for it instead of opening a second browser.`);
    const login: PendingLogin = {
      method: 'oauth',
      origin: target.origin,
      key,
      source: 'other-process',
      authorizationUrl: record.authorization_url!,
      startedAt: record.started_at,
      expiresAt: record.expires_at,
      browser: { opened: true },
      done: Promise.resolve(undefined as never),
    };
    login.done = (async (): Promise<StoredSession> => {
      for (;;) {
        await sleep(POLL_MS);
        if (this.closing) throw new AccessError('login_timeout', 'The server is shutting down.', 'Start the login again after the server restarts.');
        const look = await this.look(origin, since);
        if (look.kind === 'session') return look.session;
        if (look.kind === 'failed') throw look.error;
        if (look.kind === 'lead') {
          const own = await takeOver(look.lock);
          Object.assign(login, { source: own.source, authorizationUrl: own.authorizationUrl, startedAt: own.startedAt, expiresAt: own.expiresAt, browser: own.browser, resumed: own.resumed });
          return own.done;
        }
        if (look.record?.authorization_url) {
          login.authorizationUrl = look.record.authorization_url;
          login.expiresAt = look.record.expires_at;
        }
        if (Date.now() > login.expiresAt + 5_000) {
          throw new AccessError('login_timeout', `The login to ${target.host} was not completed in time.`, `To start a new login, ${step('login', { url: target.href })}, and finish it in the browser.`);
        }
      }
    })();
    return login;
  }

  /** Tells other processes about our login. A courtesy: a store that cannot be written does not stop the login. */
  async publish(fields: Pick<LoginRecord, 'origin' | 'state' | 'authorization_url' | 'started_at' | 'expires_at' | 'message'>): Promise<void> {
    try {
      await this.store.putLogin({ ...fields, updated_at: Date.now(), ...currentOwner() });
    } catch (error) {
      this.log('warning', `Could not record the login to ${fields.origin} for other processes: ${(error as Error).message}.`);
    }
  }

  async unpublish(origin: string): Promise<void> {
    await this.store.deleteLogin(origin, (record) => record.pid === process.pid).catch(() => false);
  }

  /** Publishes why our login failed; when shutting down, withdraws it instead so a waiting process takes over. */
  async publishFailure(origin: string, error: unknown): Promise<void> {
    const record = this.store.getLogin(origin);
    if (this.closing || record?.pid !== process.pid) return this.unpublish(origin);
    await this.publish({ ...record, state: 'failed', message: (error as Error).message });
  }

  /** A login another live process is running for the origin, for status. */
  pendingElsewhere(origin: string): { authorizationUrl: string; expiresAt: number } | undefined {
    const record = this.store.getLogin(origin);
    if (record?.state !== 'pending' || !record.authorization_url || record.expires_at <= Date.now()) return undefined;
    if (record.pid === process.pid || ownerIsGone(record)) return undefined;
    return { authorizationUrl: record.authorization_url, expiresAt: record.expires_at };
  }
}

/** No login needed after all: a session for the application appeared in the store. */
export function ready(key: AppKey, session: StoredSession): PendingLogin {
  const now = Date.now();
  return { method: 'oauth', origin: session.origin, key, source: 'store', authorizationUrl: '', startedAt: now, expiresAt: now, browser: { opened: false }, done: Promise.resolve(session) };
}

function failedElsewhere(key: AppKey, record: LoginRecord): AccessError {
  return new AccessError(
    'authorization_failed',
    `The login to ${appLabel(key)}, run by another cf-access-mcp process, failed: ${record.message ?? 'no reason was given'}`,
    `To start a new login, ${step('login', { url: key })}.`,
  );
}
