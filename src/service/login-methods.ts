import type { AppKey } from '../auth/app-key.js';
import type { AppMetadataVerifier } from '../auth/app-metadata.js';
import type { CloudflaredLogin } from '../auth/cloudflared.js';
import type { AccessChallenge } from '../auth/detect.js';
import type { BeginOptions, LoginInProgress, LoginMethod } from '../auth/login-method.js';
import type { SessionMethod } from '../auth/methods.js';
import type { OAuthLogin } from '../auth/oauth-login.js';
import type { StoredSession } from '../auth/store.js';

/** Managed OAuth (RFC 9728 discovery, registration, PKCE, loopback callback): the token goes in Authorization. */
export class OAuthMethod implements LoginMethod {
  readonly name = 'oauth';
  readonly label = 'managed OAuth';
  readonly refreshes = true;
  readonly headerNames = ['authorization'] as const;

  constructor(private readonly oauth: OAuthLogin) {}

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

  shutdown(): Promise<void> {
    return this.oauth.shutdown();
  }
}

/** cloudflared, for an application its signed metadata proves: the JWT goes in cf-access-token (never Authorization). */
export class CloudflaredMethod implements LoginMethod {
  readonly name = 'cloudflared';
  readonly label = 'cloudflared';
  readonly refreshes = false;
  readonly headerNames = ['cf-access-token'] as const;

  constructor(
    private readonly cloudflared: CloudflaredLogin,
    private readonly appMetadata: AppMetadataVerifier,
  ) {}

  async begin(target: URL, _challenge: AccessChallenge, options: BeginOptions): Promise<LoginInProgress> {
    const existing = this.cloudflared.pendingFor(target.origin);
    if (existing) return existing;
    // The challenge that led here is the page's own word; cloudflared runs only for an application its signed metadata proves.
    const app = await this.appMetadata.verify(target, options.signal);
    options.mayStart(target.origin);
    return this.cloudflared.begin(target, app, { skipCache: options.skipCache });
  }

  pendingFor(url: URL): LoginInProgress | undefined {
    return this.cloudflared.pendingFor(url.origin);
  }

  pendingKeys(): AppKey[] {
    return this.cloudflared.pendingOrigins();
  }

  headers(session: StoredSession): Record<string, string> {
    return { 'cf-access-token': session.access_token };
  }

  async shutdown(): Promise<void> {
    this.cloudflared.shutdown();
  }
}

/** The registry: method name → implementation. Adding a method means one class here and its entry below. */
export class LoginMethods {
  private readonly byName: Record<SessionMethod, LoginMethod>;

  constructor(oauth: OAuthLogin, cloudflared: CloudflaredLogin, appMetadata: AppMetadataVerifier) {
    this.byName = { oauth: new OAuthMethod(oauth), cloudflared: new CloudflaredMethod(cloudflared, appMetadata) };
  }

  get(name: SessionMethod): LoginMethod {
    return this.byName[name];
  }

  all(): LoginMethod[] {
    return Object.values(this.byName);
  }

  /** The method whose session travelled in these headers (for a result's "credential" line). */
  byHeaders(names: readonly string[]): LoginMethod | undefined {
    return this.all().find((method) => method.headerNames.some((h) => names.includes(h)));
  }

  /** A login pending for the application serving `url`, among the methods allowed. */
  pendingFor(url: URL, allowed: readonly LoginMethod[] = this.all()): LoginInProgress | undefined {
    for (const method of allowed) {
      const pending = method.pendingFor(url);
      if (pending) return pending;
    }
    return undefined;
  }

  async shutdown(): Promise<void> {
    await Promise.all(this.all().map((method) => method.shutdown().catch(() => {})));
  }
}
