import { enterEndpoint } from './endpoint.js';
import { header, readForm, send, sendJson, type RequestContext } from './http-util.js';
import { appByResource, policyDenies } from './runtime.js';
import { randomToken, s256, type TokenRecord } from './state.js';

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

function tokenError(ctx: RequestContext, status: number, error: string, description: string): void {
  sendJson(ctx, status, { error, error_description: description }, NO_STORE);
}

/** client_id from the form, or from HTTP Basic for clients that authenticate that way. */
function clientIdOf(ctx: RequestContext, form: URLSearchParams): string | undefined {
  const fromForm = form.get('client_id');
  if (fromForm) return fromForm;
  const basic = /^Basic\s+(\S+)$/i.exec(header(ctx.req, 'authorization') ?? '');
  if (!basic?.[1]) return undefined;
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  try {
    return decodeURIComponent(colon >= 0 ? decoded.slice(0, colon) : decoded);
  } catch {
    return undefined;
  }
}

/** A `resource` sent to the token endpoint must name the resource the grant was made for. */
function resourceMatches(ctx: RequestContext, form: URLSearchParams, grantResource: string): boolean {
  const sent = form.get('resource');
  return sent === null || appByResource(ctx.rt, sent)?.resource === grantResource;
}

function tokenResponse(ctx: RequestContext, record: Pick<TokenRecord, 'resource'>, tokens: { access: string; refresh?: string }): void {
  sendJson(
    ctx,
    200,
    {
      access_token: tokens.access,
      token_type: 'bearer',
      expires_in: ctx.rt.options.tokenLifetimeSeconds,
      scope: '',
      resource: `${record.resource}/`,
      ...(tokens.refresh !== undefined ? { refresh_token: tokens.refresh } : {}),
    },
    NO_STORE,
  );
}

function authorizationCodeGrant(ctx: RequestContext, form: URLSearchParams, clientId: string): void {
  const { state, options } = ctx.rt;
  const code = state.codes.get(form.get('code') ?? '');
  if (!code) return tokenError(ctx, 400, 'invalid_grant', 'The authorization code is invalid');
  if (code.used) return tokenError(ctx, 400, 'invalid_grant', 'The authorization code has already been used');
  // Any redemption attempt consumes the code, successful or not.
  code.used = true;
  if (code.expiresAt <= Date.now()) return tokenError(ctx, 400, 'invalid_grant', 'The authorization code has expired');
  if (code.clientId !== clientId) {
    return tokenError(ctx, 400, 'invalid_grant', 'The authorization code was issued to another client');
  }
  if (form.get('redirect_uri') !== code.redirectUri) {
    return tokenError(ctx, 400, 'invalid_grant', 'redirect_uri does not match the authorization request');
  }
  const verifier = form.get('code_verifier');
  if (verifier) state.otherSecrets.add(verifier);
  if (!verifier || s256(verifier) !== code.challenge) {
    return tokenError(ctx, 400, 'invalid_grant', 'code_verifier does not match the code_challenge');
  }
  if (!resourceMatches(ctx, form, code.resource)) {
    return tokenError(ctx, 400, 'invalid_target', 'resource does not match the authorization request');
  }
  const grantId = randomToken(12);
  tokenResponse(ctx, code, {
    access: state.issueAccessToken(clientId, code.resource, grantId, options.tokenLifetimeSeconds),
    refresh: options.issueRefreshTokens ? state.issueRefreshToken(clientId, code.resource, grantId) : undefined,
  });
}

function refreshTokenGrant(ctx: RequestContext, form: URLSearchParams, clientId: string): void {
  const { state, options } = ctx.rt;
  const grants = state.clients.get(clientId)?.registration.grant_types;
  if (options.strictGrants && !(Array.isArray(grants) && grants.includes('refresh_token'))) {
    return tokenError(ctx, 400, 'unauthorized_client', 'The client did not register the refresh_token grant');
  }
  const record = state.activeToken(form.get('refresh_token') ?? '', 'refresh');
  if (!record || record.clientId !== clientId) {
    return tokenError(ctx, 400, 'invalid_grant', 'The refresh token is invalid, expired or revoked');
  }
  if (!resourceMatches(ctx, form, record.resource)) {
    return tokenError(ctx, 400, 'invalid_target', 'resource does not match the refresh token');
  }
  // Policy is evaluated again on refresh: a user the application no longer admits gets no new token.
  const app = appByResource(ctx.rt, record.resource);
  if (app && policyDenies(ctx.rt, app)) {
    return tokenError(ctx, 400, 'access_denied', "The application's policy does not admit this user (identity denied)");
  }
  const access = state.issueAccessToken(clientId, record.resource, record.grantId, options.tokenLifetimeSeconds);
  if (!options.rotateRefreshTokens) return tokenResponse(ctx, record, { access });
  record.revoked = true;
  tokenResponse(ctx, record, { access, refresh: state.issueRefreshToken(clientId, record.resource, record.grantId) });
}

export async function handleToken(ctx: RequestContext): Promise<void> {
  if (await enterEndpoint(ctx, 'token')) return;
  const form = await readForm(ctx.req);
  const grantType = form.get('grant_type');
  if (grantType !== 'authorization_code' && grantType !== 'refresh_token') {
    return tokenError(ctx, 400, 'unsupported_grant_type', `grant_type ${grantType ?? '(missing)'} is not supported`);
  }
  const clientId = clientIdOf(ctx, form);
  if (!clientId || !ctx.rt.state.clients.has(clientId)) {
    return tokenError(ctx, 401, 'invalid_client', 'Client authentication failed: unknown client_id');
  }
  if (grantType === 'authorization_code') authorizationCodeGrant(ctx, form, clientId);
  else refreshTokenGrant(ctx, form, clientId);
}

/** RFC 7009: always 200 with an empty body; only the kind of token is remembered. */
export async function handleRevoke(ctx: RequestContext): Promise<void> {
  if (await enterEndpoint(ctx, 'revoke')) return;
  const form = await readForm(ctx.req);
  const token = form.get('token');
  const kind = token ? ctx.rt.state.revokeToken(token) : 'unknown';
  const hint = form.get('token_type_hint');
  ctx.rt.revocations.push({ time: Date.now(), ...(hint !== null ? { token_type_hint: hint } : {}), kind });
  send(ctx, 200, NO_STORE);
}
