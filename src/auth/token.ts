import { step } from '../core/next-step.js';
import { requestJson, parseWith, type JsonClient } from '../http/json.js';
import { AccessError, OAuthProtocolError } from '../core/errors.js';
import { redactSecrets, rememberSecret } from '../core/redact.js';
import { remoteText } from '../core/remote-text.js';
import { OAuthErrorSchema, TokenResponseSchema, type TokenResponse } from './schemas.js';

export interface TokenSet {
  access_token: string;
  refresh_token?: string;
  /** Epoch milliseconds; absent when the server gave no lifetime. */
  expires_at?: number;
  token_type: string;
}

/** The next step after a failed code exchange or refresh: log in again to the application at `loginUrl`. */
const redo = (loginUrl: string) => `Log in again (${step('login', { url: loginUrl, force: true })}); codes are single-use and short-lived.`;

/** Form fields that carry a secret: a server's error text may echo them back. */
const SECRET_FIELDS = ['code', 'code_verifier', 'refresh_token', 'token'];

/**
 * A lifetime beyond this is treated as this: a hostile or broken server's
 * `expires_in: 1e308` must not become an `expires_at` that is Infinity (JSON
 * null, which would make the whole store unreadable) or past the last valid Date.
 */
export const MAX_TOKEN_LIFETIME_S = 366 * 24 * 3600;

async function tokenRequest(http: JsonClient, tokenEndpoint: string, form: Record<string, string | undefined>, step: string, loginUrl: string): Promise<TokenResponse> {
  const REDO = redo(loginUrl);
  const url = new URL(tokenEndpoint);
  const sent = SECRET_FIELDS.map((name) => form[name]);
  rememberSecret(...sent);
  const response = await requestJson(http, url, { form });
  if (response.status !== 200) {
    const err = OAuthErrorSchema.safeParse(response.json);
    // The server's words, on one line: they must not bring control characters or a line of their own into our message.
    const oauthError = err.success ? remoteText(redactSecrets(err.data.error, sent), 100) : `http_${response.status}`;
    const description = err.success && err.data.error_description ? `: ${remoteText(redactSecrets(err.data.error_description, sent), 300)}` : '';
    throw new OAuthProtocolError('token_failed', oauthError, `The ${step} at ${url.host} failed (${oauthError}${description}).`, REDO);
  }
  const tokens = parseWith(TokenResponseSchema, response.json, `The ${step} response`, url, REDO);
  rememberSecret(tokens.access_token, tokens.refresh_token);
  if (tokens.token_type && tokens.token_type.toLowerCase() !== 'bearer') {
    throw new AccessError('token_failed', `The ${step} at ${url.host} returned an unsupported token type.`, REDO);
  }
  return tokens;
}

function toTokenSet(tokens: TokenResponse, previousRefresh?: string): TokenSet {
  return {
    access_token: tokens.access_token,
    // Refresh-token rotation is undocumented at Cloudflare: keep the new one when sent, else the old one.
    refresh_token: tokens.refresh_token ?? previousRefresh,
    expires_at: tokens.expires_in ? Date.now() + Math.min(tokens.expires_in, MAX_TOKEN_LIFETIME_S) * 1000 : undefined,
    token_type: 'bearer',
  };
}

/** Step 7: exchange the authorization code (with the PKCE verifier and `resource`). */
export async function exchangeCode(
  http: JsonClient,
  params: { tokenEndpoint: string; code: string; clientId: string; redirectUri: string; verifier: string; resource: string; loginUrl: string },
): Promise<TokenSet> {
  const tokens = await tokenRequest(
    http,
    params.tokenEndpoint,
    {
      grant_type: 'authorization_code',
      code: params.code,
      client_id: params.clientId,
      redirect_uri: params.redirectUri,
      code_verifier: params.verifier,
      resource: params.resource,
    },
    'code exchange',
    params.loginUrl,
  );
  return toTokenSet(tokens);
}

/** Step 9: refresh (with `resource`, as RFC 8707 asks). */
export async function refreshTokens(
  http: JsonClient,
  params: { tokenEndpoint: string; refreshToken: string; clientId: string; resource: string; loginUrl: string },
): Promise<TokenSet> {
  const tokens = await tokenRequest(
    http,
    params.tokenEndpoint,
    { grant_type: 'refresh_token', refresh_token: params.refreshToken, client_id: params.clientId, resource: params.resource },
    'token refresh',
    params.loginUrl,
  );
  return toTokenSet(tokens, params.refreshToken);
}

/** RFC 7009 revocation. Resolves true when the server accepted it. Never throws for HTTP errors. */
export async function revokeToken(
  http: JsonClient,
  params: { revocationEndpoint: string; token: string; hint: 'access_token' | 'refresh_token'; clientId?: string },
): Promise<boolean> {
  const url = new URL(params.revocationEndpoint);
  const response = await requestJson(http, url, {
    form: { token: params.token, token_type_hint: params.hint, client_id: params.clientId },
  });
  return response.status === 200;
}
