import type { AppKey } from './app-key.js';
import type { BrowserResult } from './browser.js';
import type { AccessChallenge } from './detect.js';
import type { AccessError } from '../core/errors.js';
import type { CredentialMethod, SessionMethod } from './methods.js';
import type { StoredSession } from './store.js';

/** A login under way, whichever method runs it. Methods may update its fields while it waits (a new link, a browser opened). */
export interface LoginInProgress {
  /** Only methods that log in have logins in progress. */
  method: SessionMethod;
  /** The application being logged in to. */
  key: AppKey;
  /** The origin its credentials go to. */
  origin: string;
  /** The sign-in page ('' while the method has not shown one yet). */
  authorizationUrl: string;
  expiresAt: number;
  browser: BrowserResult;
  /** Settles with the stored session when the user finished, or rejects when the login failed. */
  done: Promise<StoredSession>;
  /** Who runs it: this process, another one sharing the store, or nobody (a session had appeared). */
  source?: 'this-process' | 'other-process' | 'store';
  /** A token the method only had cached: no login ran, and a refusal of it is no refusal of a login. */
  fromCache?: boolean;
  /** The earlier login for the same application that expired; its link no longer works. */
  replaced?: { authorizationUrl: string; expiredAt: number };
  /**
   * A login this process took over from the process that began it, now gone (`pid`): no browser was opened here.
   * `cookie`: that process's browser loaded the one-time start address, so only that browser can complete the
   * sign-in (any other is refused at the callback until the login expires).
   */
  resumed?: { pid: number; cookie: boolean };
  /** The loopback redirect URI when the login can be completed by pasting the address the browser ended on. */
  redirectUri?: string;
  /** Opens the page after the user confirmed a team not trusted yet (see oauth-login.ts). */
  confirmTeam?: () => Promise<BrowserResult>;
}

export interface BeginOptions {
  /** The application just refused a cached token: get a new one. */
  skipCache?: boolean;
  signal?: AbortSignal;
  /** Runs before a new login starts (not before joining one); throws to hold it back. */
  mayStart: (key: AppKey) => void;
  /** The HTTP status Access answered with (for a method that cannot log in, to say what was refused). */
  status?: number;
}

/**
 * One way of getting in. Managed OAuth and cloudflared log the user in and
 * keep a session per application; service tokens are configured, not obtained:
 * their "login" is immediate (nothing is ever pending) and their headers come
 * from the configuration for the hosts the user listed. Callers never ask which
 * method they hold.
 */
export interface LoginMethod {
  readonly name: CredentialMethod;
  /** What people call it in a sentence ("managed OAuth"). */
  readonly label: string;
  /** Whether its sessions are renewed without the user. */
  readonly refreshes: boolean;
  /** Whether begin() can get a credential by a login (false: the credential is configured, and begin only says why it does not work). */
  readonly logsIn: boolean;
  /**
   * Headers sent to `url` without any login: a credential the user configured
   * for its host. Undefined when the method holds none there (session methods always).
   */
  configuredHeaders(url: URL): Record<string, string> | undefined;
  /**
   * Access refused what configuredHeaders sent (HTTP `status`): the error that
   * says so. Never a browser login; `signIn` false: the application lets no
   * person sign in, so none is offered either.
   */
  refusedError(url: URL, status: number, signIn?: boolean): AccessError;
  /** Starts or joins the login for the application `challenge` belongs to. */
  begin(target: URL, challenge: AccessChallenge, options: BeginOptions): Promise<LoginInProgress>;
  /** The login pending in this process (or, where the method shares logins, another one) for the application serving `url`. */
  pendingFor(url: URL): LoginInProgress | undefined;
  /** Applications with a login pending, for status. */
  pendingKeys(): AppKey[];
  /** The headers that carry a session of this method, and only those names. */
  headers(session: StoredSession): Record<string, string>;
  readonly headerNames: readonly string[];
  /** Secret values it may send to `url` (a site may echo them: they are scrubbed from what is shown). */
  secretsFor(url: URL): string[];
  /** access_logout: ends the login pending here for the application `key`; true when there was one. */
  cancel(key: AppKey): Promise<boolean>;
  shutdown(): Promise<void>;
}
