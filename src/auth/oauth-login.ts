import type { Dispatcher } from 'undici';
import { buildAuthorizationUrl } from './authorize-url.js';
import { openBrowser, type BrowserResult } from './browser.js';
import type { CallbackListener } from './callback-server.js';
import type { AccessChallenge } from './detect.js';
import {
  assertSupportsPublicClient,
  authorizationServerOf,
  fetchResourceMetadata,
  fetchServerMetadata,
  offersOAuth,
} from './discovery.js';
import { AccessError, OAuthProtocolError } from './errors.js';
import type { Logger } from './logger.js';
import { createPkce, createState } from './pkce.js';
import { registerClient, type Registration } from './registration.js';
import type { ResourceMetadata, ServerMetadata } from './schemas.js';
import { registrationKey, type SessionStore, type StoredSession } from './store.js';
import { exchangeCode } from './token.js';

export interface OAuthLoginConfig {
  browserCommand?: string;
  loginTimeoutMs: number;
  discoveryTtlMs?: number;
}

/** What discovery learned about a protected origin. */
export interface Discovery {
  origin: string;
  resource: string;
  resourceMetadata: ResourceMetadata;
  authorizationServer: URL;
  server: ServerMetadata;
  at: number;
}

export interface PendingLogin {
  origin: string;
  authorizationUrl: string;
  startedAt: number;
  expiresAt: number;
  browser: BrowserResult;
  /** Settles when the user finished (session stored) or the login failed. */
  done: Promise<StoredSession>;
}

const CLIENT_REJECTED = new Set(['invalid_client', 'unauthorized_client']);

/**
 * The managed-OAuth login (steps 2–7 of the protocol) for one process:
 * discovery, registration (reused per authorization server and redirect URI),
 * PKCE, browser, callback, code exchange, store. Concurrent callers for one
 * origin share one flow.
 */
export class OAuthLogin {
  private readonly pending = new Map<string, PendingLogin>();
  private readonly starting = new Map<string, Promise<PendingLogin>>();
  private readonly discoveries = new Map<string, Discovery>();
  private readonly failures = new Map<string, { message: string; at: number }>();

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly store: SessionStore,
    private readonly callback: CallbackListener,
    private readonly config: OAuthLoginConfig,
    private readonly log: Logger,
  ) {}

  pendingFor(origin: string): PendingLogin | undefined {
    return this.pending.get(origin);
  }

  /** The last failed login for an origin, reported once. */
  takeFailure(origin: string): string | undefined {
    const failure = this.failures.get(origin);
    this.failures.delete(origin);
    return failure?.message;
  }

  /** Discovery for an origin, cached for a while (dropped whenever a later step fails). */
  async discover(target: URL, resourceMetadataUrl: string): Promise<Discovery> {
    const cached = this.discoveries.get(target.origin);
    if (cached && Date.now() - cached.at < (this.config.discoveryTtlMs ?? 10 * 60_000)) return cached;
    const resourceMetadata = await fetchResourceMetadata(this.dispatcher, resourceMetadataUrl, target);
    const authorizationServer = authorizationServerOf(resourceMetadata, target);
    const server = await fetchServerMetadata(this.dispatcher, authorizationServer);
    const discovery: Discovery = {
      origin: target.origin,
      resource: resourceMetadata.resource,
      resourceMetadata,
      authorizationServer,
      server,
      at: Date.now(),
    };
    this.discoveries.set(target.origin, discovery);
    return discovery;
  }

  forgetDiscovery(origin: string): void {
    this.discoveries.delete(origin);
  }

  /** Starts a login for the origin, or returns the one already under way. */
  begin(target: URL, challenge: AccessChallenge): Promise<PendingLogin> {
    const origin = target.origin;
    const existing = this.pending.get(origin);
    if (existing) return Promise.resolve(existing);
    let starting = this.starting.get(origin);
    if (!starting) {
      starting = this.start(target, challenge).finally(() => this.starting.delete(origin));
      this.starting.set(origin, starting);
    }
    return starting;
  }

  private async start(target: URL, challenge: AccessChallenge, attempt = 0): Promise<PendingLogin> {
    const origin = target.origin;
    if (!challenge.resourceMetadataUrl) {
      throw new AccessError(
        'unsupported_server',
        `${target.host} is behind Cloudflare Access but does not offer managed OAuth (no resource_metadata in its challenge).`,
        'Use a service token (CF_ACCESS_CLIENT_ID/CF_ACCESS_CLIENT_SECRET with CF_ACCESS_SERVICE_TOKEN_HOSTS) or the cloudflared method.',
      );
    }
    let discovery: Discovery;
    try {
      discovery = await this.discover(target, challenge.resourceMetadataUrl);
      if (offersOAuth(discovery.resourceMetadata) === false) {
        throw new AccessError(
          'unsupported_server',
          `${target.host} is behind Cloudflare Access, but its resource metadata does not list managed OAuth.`,
          'Use a service token or the cloudflared method (access_login with method "cloudflared").',
        );
      }
      assertSupportsPublicClient(discovery.server, discovery.authorizationServer.host);
    } catch (error) {
      this.forgetDiscovery(origin);
      throw error;
    }

    const redirectUri = await this.callback.start();
    const registration = await this.ensureRegistration(discovery, redirectUri);
    const { verifier, challenge: codeChallenge } = createPkce();
    const state = createState();
    const authorizationUrl = buildAuthorizationUrl({
      authorizationEndpoint: discovery.server.authorization_endpoint,
      clientId: registration.client_id,
      redirectUri,
      challenge: codeChallenge,
      state,
      resource: discovery.resource,
    });
    const startedAt = Date.now();
    const callbackResult = this.callback.expect(state, target.host, this.config.loginTimeoutMs);

    const done = callbackResult.then(async (params) => {
      if (params.error) {
        if (CLIENT_REJECTED.has(params.error)) throw this.clientRejected(params.error);
        const denied = params.error === 'access_denied';
        throw new OAuthProtocolError(
          denied ? 'authorization_denied' : 'authorization_failed',
          params.error,
          denied
            ? `The login to ${target.host} was denied in the browser.`
            : `The authorization server refused the login to ${target.host} (${params.error}${params.error_description ? `: ${params.error_description.slice(0, 300)}` : ''}).`,
          denied
            ? 'If that was a mistake, call access_login again and choose Approve; otherwise ask the Access administrator for access.'
            : 'Call access_login with force: true to try again; if it repeats, check the Access application configuration.',
        );
      }
      if (!params.code) {
        throw new AccessError('callback_failed', `The login callback for ${target.host} carried no authorization code.`, 'Call access_login with force: true to try again.');
      }
      let tokens;
      try {
        tokens = await exchangeCode(this.dispatcher, {
          tokenEndpoint: discovery.server.token_endpoint,
          code: params.code,
          clientId: registration.client_id,
          redirectUri,
          verifier,
          resource: discovery.resource,
        });
      } catch (error) {
        if (error instanceof OAuthProtocolError && CLIENT_REJECTED.has(error.oauthError)) throw this.clientRejected(error.oauthError);
        throw error;
      }
      const session: StoredSession = {
        origin,
        method: 'oauth',
        ...tokens,
        resource: discovery.resource,
        authorization_server: discovery.authorizationServer.href,
        token_endpoint: discovery.server.token_endpoint,
        revocation_endpoint: discovery.server.revocation_endpoint,
        client_id: registration.client_id,
        redirect_uri: redirectUri,
        obtained_at: Date.now(),
      };
      await this.store.putSession(session);
      this.log('info', `Logged in to ${origin} (managed OAuth).`);
      return session;
    });

    const browser = await openBrowser(authorizationUrl, this.config.browserCommand);
    if (!browser.opened) this.log('notice', `Could not open a browser for the login to ${origin}: ${browser.reason}.`);
    const login: PendingLogin = {
      origin,
      authorizationUrl,
      startedAt,
      expiresAt: startedAt + this.config.loginTimeoutMs,
      browser,
      done,
    };
    this.pending.set(origin, login);

    // A registration the server no longer knows is replaced once, and the login restarts with it.
    login.done = done.catch(async (error: unknown) => {
      if (this.pending.get(origin) === login) this.pending.delete(origin);
      if (error instanceof ClientRejectedError && attempt === 0) {
        await this.dropRegistration(discovery, registration);
        this.log('notice', `The client registration for ${discovery.authorizationServer.host} was rejected; registering again.`);
        const retry = await this.start(target, challenge, attempt + 1);
        return retry.done;
      }
      this.forgetDiscovery(origin);
      this.failures.set(origin, { message: (error as Error).message, at: Date.now() });
      throw error;
    });
    login.done.then(
      () => {
        if (this.pending.get(origin) === login) this.pending.delete(origin);
      },
      () => {},
    );
    this.log('info', `Login to ${origin} started; waiting for the browser callback.`);
    return login;
  }

  private clientRejected(oauthError: string): ClientRejectedError {
    return new ClientRejectedError(oauthError);
  }

  private async ensureRegistration(discovery: Discovery, redirectUri: string): Promise<Registration> {
    const key = registrationKey(discovery.authorizationServer.origin, redirectUri);
    const cached = this.store.getRegistration(key);
    if (cached && cached.registration_endpoint === discovery.server.registration_endpoint) return cached;
    try {
      const registration = await registerClient(this.dispatcher, discovery.server.registration_endpoint!, redirectUri, discovery.resource);
      await this.store.putRegistration(key, registration);
      return registration;
    } catch (error) {
      this.forgetDiscovery(discovery.origin);
      throw error;
    }
  }

  private async dropRegistration(discovery: Discovery, registration: Registration): Promise<void> {
    await this.store.deleteRegistration(registrationKey(discovery.authorizationServer.origin, registration.redirect_uri), registration.client_id);
  }

  /** Cancels every pending login (server shutting down). */
  abandonAll(): void {
    this.pending.clear();
  }
}

class ClientRejectedError extends OAuthProtocolError {
  constructor(oauthError: string) {
    super('authorization_failed', oauthError, `The authorization server no longer knows this client (${oauthError}).`, 'Call access_login with force: true to register again.');
  }
}
