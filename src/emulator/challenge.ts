import { randomBytes } from 'node:crypto';
import { header, htmlPage, redirect, sendHtml, sendJson, type RequestContext } from './http-util.js';
import { resourceMetadataUrl } from './metadata.js';
import type { ProtectedApp } from './runtime.js';
import { checkServiceToken } from './service-tokens.js';
import { randomToken } from './state.js';

const MISSING_TOKEN = 'Missing or invalid access token';

function rayId(): string {
  return randomBytes(8).toString('hex');
}

function accepts(ctx: RequestContext, type: string): boolean {
  return (header(ctx.req, 'accept') ?? '').toLowerCase().includes(type);
}

/** Managed OAuth, non-browser client: RFC 6750 style 401 pointing at the resource metadata. */
export function bearerChallenge(ctx: RequestContext, app: ProtectedApp): void {
  const metadata = resourceMetadataUrl(app, ctx.url.pathname);
  sendJson(
    ctx,
    401,
    { error: 'invalid_token', error_description: MISSING_TOKEN, resource_metadata: metadata },
    {
      'www-authenticate': `Bearer realm="OAuth", error="invalid_token", error_description="${MISSING_TOKEN}", resource_metadata="${metadata}"`,
    },
  );
}

/**
 * The `meta` JWT of the login redirect: Access puts `service_token_status` in
 * it when a service token came with the request and was not accepted.
 */
function loginMeta(ctx: RequestContext): string {
  const status = checkServiceToken(ctx.rt, ctx.req);
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const claims = { nonce: randomToken(16), ...(status === 'none' ? {} : { service_token_status: status === 'valid' ? 'not_allowed_by_policy' : status }) };
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.${randomToken(32)}`;
}

/** Browser clients, and every client of a classic app: off to the team's login page. */
export function loginRedirect(ctx: RequestContext, app: ProtectedApp): void {
  const { rt, url } = ctx;
  const location =
    `${rt.teamUrl}/cdn-cgi/access/login/${app.host}?kid=${app.aud}` +
    `&redirect_url=${encodeURIComponent(url.pathname + url.search)}&meta=${loginMeta(ctx)}`;
  redirect(ctx, location, {
    // What cloudflared before 2026.8 reads as the application domain (unverified, as any header).
    'cf-access-domain': app.host,
    'set-cookie': `CF_AppSession=${randomBytes(16).toString('hex')}; Path=/; HttpOnly`,
    'www-authenticate': `Cloudflare-Access resource_metadata="${resourceMetadataUrl(app, url.pathname)}"`,
  });
}

/** An app with only Service Auth policies: 403 naming the app and the team. */
export function serviceAuthForbidden(ctx: RequestContext, app: ProtectedApp): void {
  const headers = { 'cf-access-aud': app.aud, 'cf-access-domain': ctx.rt.teamHost };
  const ray = rayId();
  if (accepts(ctx, 'application/json')) {
    sendJson(
      ctx,
      403,
      {
        message: "Forbidden. You don't have permission to view this. Please contact your system administrator.",
        status_code: 403,
        aud: app.aud,
        ray_id: ray,
      },
      headers,
    );
    return;
  }
  const body = `<h1>Forbidden</h1>\n<p>You don't have permission to view this application.</p>\n<p>Ray ID: ${ray}</p>`;
  sendHtml(ctx, 403, htmlPage('Access denied', body), headers);
}

export const POLICY_DENIED_SENTENCE = 'That account does not have access.';

/**
 * Access's "Identity denied" block page: signed in, but the application's policy refuses the
 * user. With a custom deny URL, a 302 there instead. Both carry the application's headers.
 */
export function policyRefusal(ctx: RequestContext, app: ProtectedApp): void {
  const headers = { 'cf-access-aud': app.aud, 'cf-access-domain': ctx.rt.teamHost, 'cf-ray': `${rayId()}-EMU` };
  if (ctx.rt.options.denyUrl) {
    redirect(ctx, ctx.rt.options.denyUrl, headers);
    return;
  }
  blockPage(ctx, 403, headers);
}

/** The block page itself (also shown at the authorization endpoint to a refused user). */
export function blockPage(ctx: RequestContext, status: number, headers: Record<string, string> = {}): void {
  const ray = headers['cf-ray']?.replace(/-EMU$/, '') ?? rayId();
  if (accepts(ctx, 'application/json')) {
    sendJson(ctx, status, { message: `Identity denied. ${POLICY_DENIED_SENTENCE}`, status_code: status, ray_id: ray }, headers);
    return;
  }
  const body = `<h1>Identity denied</h1>\n<p id="denied">${POLICY_DENIED_SENTENCE}</p>\n<p>Ray ID: ${ray}</p>`;
  sendHtml(ctx, status, htmlPage('Access denied', body), headers);
}

/** Strict service token authentication: a wrong secret is 401, an unknown client id 403. */
export function strictServiceTokenError(ctx: RequestContext, app: ProtectedApp, status: 401 | 403): void {
  sendJson(
    ctx,
    status,
    {
      error: status === 401 ? 'invalid_client_secret' : 'unknown_client_id',
      message: status === 401 ? 'The service token secret is not valid.' : 'The service token is not allowed.',
      status_code: status,
      aud: app.aud,
      ray_id: rayId(),
    },
    { 'cf-access-aud': app.aud, 'cf-access-domain': ctx.rt.teamHost },
  );
}

export function wantsHtml(ctx: RequestContext): boolean {
  return accepts(ctx, 'text/html');
}
