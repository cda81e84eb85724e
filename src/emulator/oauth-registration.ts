import { enterEndpoint } from './endpoint.js';
import { readBody, sendJson, type RequestContext } from './http-util.js';
import { OAUTH_PATHS } from './metadata.js';
import { redirectHostAllowed } from './redirect-hosts.js';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

function registrationError(ctx: RequestContext, error: string, description: string): void {
  sendJson(ctx, 400, { error, error_description: description });
}

/** RFC 7591 dynamic registration; the "account" allows loopback http redirect URIs only. */
export async function handleRegistration(ctx: RequestContext): Promise<void> {
  if (await enterEndpoint(ctx, 'registration')) return;
  let body: unknown;
  try {
    body = JSON.parse((await readBody(ctx.req)).toString('utf8'));
  } catch {
    return registrationError(ctx, 'invalid_client_metadata', 'The request body must be a JSON object');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return registrationError(ctx, 'invalid_client_metadata', 'The request body must be a JSON object');
  }
  const metadata = body as Record<string, unknown>;
  const redirectUris = metadata.redirect_uris;
  if (
    !Array.isArray(redirectUris) ||
    redirectUris.length === 0 ||
    !redirectUris.every((uri): uri is string => typeof uri === 'string')
  ) {
    return registrationError(ctx, 'invalid_redirect_uri', 'redirect_uris must be a non-empty array of URLs');
  }
  for (const uri of redirectUris) {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      return registrationError(ctx, 'invalid_redirect_uri', `redirect_uri is not a valid URL: ${uri}`);
    }
    if (url.hash) return registrationError(ctx, 'invalid_redirect_uri', 'redirect_uri must not contain a fragment');
    if (url.protocol !== 'http:' || !LOOPBACK_HOSTS.has(url.hostname)) {
      return registrationError(
        ctx,
        'invalid_client_metadata',
        'redirect_uri is not allowed by the account configuration',
      );
    }
    if (ctx.rt.options.redirectHostsCheckedAt === 'registration' && !redirectHostAllowed(ctx.rt.options, url.hostname)) {
      return registrationError(ctx, 'invalid_redirect_uri', `${url.hostname} redirect URIs are not allowed by the account configuration`);
    }
  }
  const grantTypes = metadata.grant_types ?? ['authorization_code', 'refresh_token'];
  if (!Array.isArray(grantTypes) || !grantTypes.every((grant) => ctx.rt.options.registrableGrants.includes(grant))) {
    return registrationError(ctx, 'invalid_client_metadata', 'grant_types contains a grant this application does not allow');
  }
  const clientName = typeof metadata.client_name === 'string' ? metadata.client_name : undefined;
  const registration: Record<string, unknown> = {
    ...metadata,
    redirect_uris: redirectUris,
    grant_types: grantTypes,
    response_types: metadata.response_types ?? ['code'],
    token_endpoint_auth_method: 'none',
  };
  const client = ctx.rt.state.register(redirectUris, registration, clientName);
  Object.assign(registration, {
    client_id: client.client_id,
    client_id_issued_at: Math.floor(Date.now() / 1000),
    registration_client_uri: `${ctx.rt.teamUrl}${OAUTH_PATHS.registration}/${client.client_id}`,
  });
  sendJson(ctx, 201, registration, { 'cache-control': 'no-store' });
}
