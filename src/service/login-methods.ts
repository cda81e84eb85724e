import type { AppKey } from '../auth/app-key.js';
import type { AppMetadataVerifier } from '../auth/app-metadata.js';
import type { CloudflaredLogin } from '../auth/cloudflared.js';
import type { AccessChallenge } from '../auth/detect.js';
import type { BeginOptions, LoginInProgress, LoginMethod } from '../auth/login-method.js';
import type { CredentialMethod } from '../auth/methods.js';
import type { OAuthLogin } from '../auth/oauth-login.js';
import {
  serviceTokenFor,
  serviceTokenHeaders,
  serviceTokenMissingError,
  serviceTokenRefusedError,
  serviceTokenSecrets,
  type ServiceTokenConfig,
} from '../auth/service-tokens.js';
import type { SessionStore, StoredSession } from '../auth/store.js';
import { AccessError } from '../core/errors.js';
import { cap, step } from '../core/next-step.js';

/** What the session methods share: a stored session per application, no configured credential. */
abstract class SessionMethodBase {
  abstract readonly name: CredentialMethod;
  readonly logsIn = true;

  constructor(protected readonly store: SessionStore) {}

  configuredHeaders(): undefined {
    return undefined;
  }

  /** Not reached in practice: a session method configures nothing, and a refused session leads to a renewal or a login instead. */
  refusedError(url: URL, status: number): AccessError {
    return new AccessError(
      'authorization_failed',
      `${url.host} refused the ${this.name} session (HTTP ${status}).`,
      `${cap(step('login', { url: url.href, force: true }))} to sign in again.`,
    );
  }

  secretsFor(url: URL): string[] {
    const session = this.store.getSession(this.store.appKeyFor(url));
    return session?.method === this.name ? [session.access_token] : [];
  }
}

/** Managed OAuth (RFC 9728 discovery, registration, PKCE, loopback callback): the token goes in Authorization. */
export class OAuthMethod extends SessionMethodBase implements LoginMethod {
  readonly name = 'oauth';
  readonly label = 'managed OAuth';
  readonly refreshes = true;
  readonly headerNames = ['authorization'] as const;

  constructor(
    store: SessionStore,
    private readonly oauth: OAuthLogin,
  ) {
    super(store);
  }

  begin(target: URL, challenge: AccessChallenge, options: BeginOptions): Promise<LoginInProgress> {
    return this.oauth.begin(target, challenge, options.mayStart);
  }

  pendingFor(url: URL): LoginInProgress | undefined {
    return this.oauth.pendingForUrl(url);
  }

  pendingKeys(): AppKey[] {
    return this.oauth.pendingOrigins();
  }

  headers(session: StoredSession): Record<string, string> {
    return { authorization: `Bearer ${session.access_token}` };
  }

  cancel(key: AppKey): Promise<boolean> {
    return this.oauth.cancel(key);
  }

  shutdown(): Promise<void> {
    return this.oauth.shutdown();
  }
}

/**
 * cloudflared, for an application its signed metadata proves (host and AUD):
 * the JWT goes in cf-access-token (never Authorization). Its sessions are kept
 * per application like OAuth's: the `resource` the challenge's metadata names
 * (the origin, or the origin plus the application's path).
 */
export class CloudflaredMethod extends SessionMethodBase implements LoginMethod {
  readonly name = 'cloudflared';
  readonly label = 'cloudflared';
  readonly refreshes = false;
  readonly headerNames = ['cf-access-token'] as const;

  constructor(
    store: SessionStore,
    private readonly cloudflared: CloudflaredLogin,
    private readonly appMetadata: AppMetadataVerifier,
    private readonly appOf: (target: URL, challenge: AccessChallenge) => Promise<AppKey>,
  ) {
    super(store);
  }

  async begin(target: URL, challenge: AccessChallenge, options: BeginOptions): Promise<LoginInProgress> {
    // The application: what the challenge's resource metadata names, else the whole host.
    const key = await this.appOf(target, challenge).catch(() => target.origin);
    const existing = this.cloudflared.pendingFor(key);
    if (existing) return existing;
    // The challenge that led here is the page's own word; cloudflared runs only for an application its signed metadata proves.
    const app = await this.appMetadata.verify(target, options.signal);
    options.mayStart(key);
    return this.cloudflared.begin(target, key, app, { skipCache: options.skipCache });
  }

  pendingFor(url: URL): LoginInProgress | undefined {
    return this.cloudflared.pendingForUrl(url);
  }

  pendingKeys(): AppKey[] {
    return this.cloudflared.pendingKeys();
  }

  headers(session: StoredSession): Record<string, string> {
    return { 'cf-access-token': session.access_token };
  }

  async cancel(key: AppKey): Promise<boolean> {
    return this.cloudflared.cancel(key);
  }

  async shutdown(): Promise<void> {
    this.cloudflared.shutdown();
  }
}

/**
 * Service tokens (CF-Access-Client-Id/Secret, or one configured header), sent
 * only to hosts the user listed. Nothing to log in to: the credential is
 * configured, never pending, never stored; a refused token is reported, never
 * papered over with a browser login.
 */
export class ServiceTokenMethod implements LoginMethod {
  readonly name = 'service_token';
  readonly label = 'service token';
  readonly refreshes = false;
  readonly logsIn = false;

  constructor(private readonly config: ServiceTokenConfig) {}

  get headerNames(): readonly string[] {
    return this.config.header ? [this.config.header] : ['cf-access-client-id', 'cf-access-client-secret'];
  }

  configuredHeaders(url: URL): Record<string, string> | undefined {
    const token = serviceTokenFor(this.config, url);
    return token ? serviceTokenHeaders(token, this.config.header) : undefined;
  }

  refusedError(url: URL, status: number, signIn = true): AccessError {
    return serviceTokenRefusedError(url, status, signIn);
  }

  /** Immediate: there is no login to run. It says why the configured token does not get in (refused, or none for this host). */
  async begin(target: URL, _challenge: AccessChallenge, options: BeginOptions): Promise<LoginInProgress> {
    throw serviceTokenFor(this.config, target) ? serviceTokenRefusedError(target, options.status ?? 401) : serviceTokenMissingError(target, this.config);
  }

  pendingFor(): undefined {
    return undefined;
  }

  pendingKeys(): AppKey[] {
    return [];
  }

  /** Service tokens have no stored session. */
  headers(): Record<string, string> {
    return {};
  }

  /** Every configured secret: a site may echo any of them, whichever host it was meant for. */
  secretsFor(): string[] {
    return serviceTokenSecrets(this.config);
  }

  async cancel(): Promise<boolean> {
    return false;
  }

  async shutdown(): Promise<void> {}
}

export interface MethodParts {
  store: SessionStore;
  oauth: OAuthLogin;
  cloudflared: CloudflaredLogin;
  appMetadata: AppMetadataVerifier;
  serviceTokens: ServiceTokenConfig;
}

/** The registry: method name → implementation. Adding a method means one class here and its entry below. */
export class LoginMethods {
  private readonly byName: Record<CredentialMethod, LoginMethod>;

  constructor(parts: MethodParts) {
    this.byName = {
      // First: a credential the user configured for a host wins over a session (see configuredFor).
      service_token: new ServiceTokenMethod(parts.serviceTokens),
      oauth: new OAuthMethod(parts.store, parts.oauth),
      cloudflared: new CloudflaredMethod(parts.store, parts.cloudflared, parts.appMetadata, (target, challenge) => parts.oauth.appOf(target, challenge)),
    };
  }

  get(name: CredentialMethod): LoginMethod {
    return this.byName[name];
  }

  all(): LoginMethod[] {
    return Object.values(this.byName);
  }

  /** The method holding a configured credential for `url` (a service token for a listed host), unless `except` says it was refused. */
  configuredFor(url: URL, except?: ReadonlySet<string>): LoginMethod | undefined {
    if (except?.has(url.origin)) return undefined;
    return this.all().find((method) => method.configuredHeaders(url) !== undefined);
  }

  /** The session method whose session travelled in these headers (for a result's "credential" line). */
  byHeaders(names: readonly string[]): LoginMethod | undefined {
    return this.all().find((method) => method.logsIn && method.headerNames.some((h) => names.includes(h)));
  }

  /** A login pending for the application serving `url`, among the methods allowed. */
  pendingFor(url: URL, allowed: readonly LoginMethod[] = this.all()): LoginInProgress | undefined {
    for (const method of allowed) {
      const pending = method.pendingFor(url);
      if (pending) return pending;
    }
    return undefined;
  }

  /** Every secret any method may send to `url` (to scrub from what is shown). */
  secretsFor(url: URL): string[] {
    const secrets: string[] = [];
    for (const method of this.all()) for (const secret of method.secretsFor(url)) if (!secrets.includes(secret)) secrets.push(secret);
    return secrets;
  }

  /** access_logout: ends the logins pending for `key`, whichever method runs them; true when one was. */
  async cancel(key: AppKey): Promise<boolean> {
    const outcomes = await Promise.all(this.all().map((method) => method.cancel(key).catch(() => false)));
    return outcomes.some(Boolean);
  }

  async shutdown(): Promise<void> {
    await Promise.all(this.all().map((method) => method.shutdown().catch(() => {})));
  }
}
