import { requestJson, parseWith, type JsonClient } from '../http/json.js';
import { AccessError } from '../core/errors.js';
import { ResourceMetadataSchema, ServerMetadataSchema, type ResourceMetadata, type ServerMetadata } from './schemas.js';
import { isAllowedScheme, truncate } from '../core/url-policy.js';

const FALLBACK = 'The site may not offer managed OAuth: use a service token (CF_ACCESS_CLIENT_ID/SECRET) or the cloudflared fallback, or ask the Access administrator to enable managed OAuth.';

/** Step 2 (RFC 9728): fetch and check the protected resource metadata named by the challenge. */
export async function fetchResourceMetadata(http: JsonClient, metadataUrl: string, target: URL): Promise<ResourceMetadata> {
  let url: URL;
  try {
    url = new URL(metadataUrl, target);
  } catch {
    throw new AccessError('invalid_metadata', `The Access challenge from ${target.host} names an invalid resource_metadata URL.`, FALLBACK);
  }
  if (url.origin !== target.origin) {
    throw new AccessError(
      'invalid_metadata',
      `The Access challenge from ${target.host} points its resource metadata at another origin (${url.host}); refusing to follow it.`,
      'This does not look like Cloudflare Access. Check the URL; if the site is yours, fix its Access configuration.',
    );
  }
  const response = await requestJson(http, url);
  if (response.status !== 200) {
    throw new AccessError('discovery_failed', `Resource metadata at ${url.host} answered HTTP ${response.status}.`, `Try again in a moment. ${FALLBACK}`);
  }
  const metadata = parseWith(ResourceMetadataSchema, response.json, 'Resource metadata', url, FALLBACK);
  let resource: URL;
  try {
    resource = new URL(metadata.resource);
  } catch {
    throw new AccessError('invalid_metadata', `Resource metadata from ${url.host} has an invalid "resource".`, FALLBACK);
  }
  if (resource.origin !== target.origin) {
    throw new AccessError(
      'invalid_metadata',
      `Resource metadata from ${target.host} claims to describe ${resource.origin}, not ${target.origin}; refusing to log in with it.`,
      'This may be a misconfigured or hostile server. Check the URL; do not log in until the resource matches.',
    );
  }
  return metadata;
}

/** Does the resource metadata say managed OAuth is available? undefined = it does not say. */
export function offersOAuth(metadata: ResourceMetadata): boolean | undefined {
  const methods = metadata.authentication_methods;
  if (!methods) return undefined;
  return methods.some((m) => (typeof m === 'string' ? m : m.name).toLowerCase() === 'oauth');
}

/** The authorization server from `authorization_servers[0]`, checked: https, or http only on loopback. */
export function authorizationServerOf(metadata: ResourceMetadata, target: URL): URL {
  const first = metadata.authorization_servers?.[0];
  if (!first) {
    throw new AccessError('invalid_metadata', `Resource metadata from ${target.host} lists no authorization server.`, FALLBACK);
  }
  let url: URL;
  try {
    url = new URL(first);
  } catch {
    throw new AccessError('invalid_metadata', `Resource metadata from ${target.host} lists an invalid authorization server.`, FALLBACK);
  }
  if (!isAllowedScheme(url)) {
    // javascript:, file: or data: have no host to name: say what the metadata gave instead.
    const named = url.host ? url.host : `a ${truncate(url.protocol, 20)} URL`;
    throw new AccessError(
      'unsupported_server',
      `The authorization server listed by ${target.host} (${named}) is not served over https; refusing to send a login through it.`,
      'Ask the site owner to fix the Access configuration; meanwhile use a service token or cloudflared.',
    );
  }
  if (url.username || url.password) {
    // https://trusted.example@evil.example/ reads like one host and is another: never show such a login URL.
    throw new AccessError('invalid_metadata', `The authorization server listed by ${target.host} has a user name or password in its URL; refusing it.`, FALLBACK);
  }
  return url;
}

/** The RFC 8414 well-known URL for an issuer, with the path-insertion rule. */
export function serverMetadataUrl(authorizationServer: URL): URL {
  const path = authorizationServer.pathname.replace(/\/$/, '');
  return new URL(`/.well-known/oauth-authorization-server${path}`, authorizationServer.origin);
}

/** Compares an issuer with the server it came from, tolerating Cloudflare's scheme-less form. */
export function issuerMatches(issuer: string, authorizationServer: URL): boolean {
  const bare = (value: string) => value.replace(/^https?:\/\//i, '').replace(/\/+$/, '').toLowerCase();
  return bare(issuer) === bare(authorizationServer.origin + authorizationServer.pathname);
}

/** Step 3 (RFC 8414): fetch the server metadata; endpoints must live on the server's own origin. */
export async function fetchServerMetadata(http: JsonClient, authorizationServer: URL): Promise<ServerMetadata> {
  const url = serverMetadataUrl(authorizationServer);
  const response = await requestJson(http, url);
  if (response.status !== 200) {
    throw new AccessError('discovery_failed', `Authorization server metadata at ${url.host} answered HTTP ${response.status}.`, `Try again in a moment. ${FALLBACK}`);
  }
  const metadata = parseWith(ServerMetadataSchema, response.json, 'Authorization server metadata', url, FALLBACK);
  if (!issuerMatches(metadata.issuer, authorizationServer)) {
    throw new AccessError(
      'invalid_metadata',
      `Authorization server metadata at ${url.host} names a different issuer; refusing it.`,
      'This may be a misconfigured or hostile server; check the Access configuration.',
    );
  }
  for (const key of ['authorization_endpoint', 'token_endpoint', 'registration_endpoint', 'revocation_endpoint'] as const) {
    const value = metadata[key];
    if (value === undefined) continue;
    let endpoint: URL;
    try {
      endpoint = new URL(value);
    } catch {
      throw new AccessError('invalid_metadata', `Authorization server metadata at ${url.host} has an invalid ${key}.`, FALLBACK);
    }
    if (endpoint.origin !== authorizationServer.origin || endpoint.username || endpoint.password) {
      throw new AccessError(
        'invalid_metadata',
        endpoint.origin !== authorizationServer.origin
          ? `The ${key} of ${authorizationServer.host} points at another host (${endpoint.host}); refusing it.`
          : `The ${key} of ${authorizationServer.host} has a user name or password in its URL; refusing it.`,
        'This may be a misconfigured or hostile server; check the Access configuration.',
      );
    }
  }
  return metadata;
}

/** The seed's step-3 checks: a public client with PKCE S256 and dynamic registration must be possible. */
export function assertSupportsPublicClient(metadata: ServerMetadata, host: string): void {
  const fail = (what: string, next = FALLBACK) => {
    throw new AccessError('unsupported_server', `The authorization server ${host} ${what}.`, next);
  };
  if (!metadata.registration_endpoint) fail('offers no dynamic client registration (no registration_endpoint)');
  if (!metadata.code_challenge_methods_supported?.includes('S256')) fail('does not support PKCE with S256');
  if (!metadata.token_endpoint_auth_methods_supported?.includes('none')) fail('does not allow public clients (token_endpoint_auth_method "none")');
  if (metadata.grant_types_supported && !metadata.grant_types_supported.includes('authorization_code')) {
    fail('does not support the authorization_code grant');
  }
  if (metadata.response_types_supported && !metadata.response_types_supported.includes('code')) {
    fail('does not support response_type=code');
  }
}
