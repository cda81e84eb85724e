import type { ProtectedApp, Runtime } from './runtime.js';

export const RESOURCE_METADATA_PATH = '/.well-known/cloudflare-access-protected-resource';
export const SERVER_METADATA_PATH = '/.well-known/oauth-authorization-server';

export const OAUTH_PATHS = {
  authorization: '/cdn-cgi/access/oauth/authorization',
  decision: '/cdn-cgi/access/oauth/authorization/decision',
  signIn: '/cdn-cgi/access/oauth/authorization/sign-in',
  token: '/cdn-cgi/access/oauth/token',
  registration: '/cdn-cgi/access/oauth/registration',
  revoke: '/cdn-cgi/access/oauth/revoke',
} as const;

const CLOUDFLARED_DOCS = 'https://developers.cloudflare.com/cloudflare-one/tutorials/cli/';

/** The resource metadata URL advertised in challenges for a request to `pathname`. */
export function resourceMetadataUrl(app: ProtectedApp, pathname: string): string {
  return `${app.url}${RESOURCE_METADATA_PATH}/${pathname.replace(/^\/+/, '')}`;
}

export function resourceMetadata(rt: Runtime, app: ProtectedApp): Record<string, unknown> {
  const cloudflared = {
    name: 'cloudflared',
    description: `Log in with cloudflared (cloudflared access login ${app.resource}) and send the token in the cf-access-token header.`,
    documentation: CLOUDFLARED_DOCS,
  };
  const oauth = {
    name: 'oauth',
    description: 'OAuth 2.0 authorization code grant with PKCE (S256) and dynamic client registration.',
    authorization_servers: [rt.teamUrl],
  };
  return {
    resource: app.resource,
    protected: true,
    team_domain: rt.teamHost,
    authorization_servers: [rt.teamUrl],
    authentication_method: 'cloudflared',
    authentication_method_description: cloudflared.description,
    authentication_method_documentation: CLOUDFLARED_DOCS,
    authentication_methods: rt.options.mode === 'managed' ? [oauth, cloudflared] : [cloudflared],
  };
}

export function serverMetadata(rt: Runtime): Record<string, unknown> {
  const base = rt.teamUrl;
  const doc: Record<string, unknown> = {
    issuer: rt.options.issuerStyle === 'https' ? base : rt.teamHost,
    authorization_endpoint: base + OAUTH_PATHS.authorization,
    token_endpoint: base + OAUTH_PATHS.token,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    revocation_endpoint: base + OAUTH_PATHS.revoke,
    registration_endpoint: base + OAUTH_PATHS.registration,
    code_challenge_methods_supported: ['S256'],
  };
  if (rt.options.mode !== 'managed') delete doc.registration_endpoint;
  return doc;
}
