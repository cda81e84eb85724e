import type { Dispatcher } from 'undici';
import { requestJson, parseWith } from '../http/json.js';
import { AccessError } from './errors.js';
import { OAuthErrorSchema, RegistrationResponseSchema } from './schemas.js';

export interface Registration {
  client_id: string;
  redirect_uri: string;
  registration_endpoint: string;
  registered_at: number;
}

/** Step 4 (RFC 7591): register a public client for our loopback redirect URI, bound to the resource. */
export async function registerClient(
  dispatcher: Dispatcher,
  registrationEndpoint: string,
  redirectUri: string,
  resource: string,
): Promise<Registration> {
  const url = new URL(registrationEndpoint);
  const response = await requestJson(dispatcher, url, {
    json: {
      client_name: 'cf-access-mcp',
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      resource,
    },
  });
  if (response.status < 200 || response.status >= 300) {
    const err = OAuthErrorSchema.safeParse(response.json);
    // Bounded: a hostile server's text goes into the agent's context.
    const detail = err.success ? `${err.data.error.slice(0, 100)}${err.data.error_description ? `: ${err.data.error_description.slice(0, 300)}` : ''}` : `HTTP ${response.status}`;
    const redirectRefused = err.success && err.data.error === 'invalid_client_metadata';
    throw new AccessError(
      'registration_failed',
      `Client registration at ${url.host} failed (${detail}).`,
      redirectRefused
        ? `The Access account does not allow the redirect URI ${redirectUri}. Ask the administrator to allow localhost redirect URIs for managed OAuth, or set CF_ACCESS_MCP_CALLBACK_PORT to an allowed port.`
        : 'Try again in a moment; if it persists, use a service token or cloudflared.',
    );
  }
  const body = parseWith(RegistrationResponseSchema, response.json, 'Client registration response', url, 'Try again in a moment; if it persists, use a service token or cloudflared.');
  return { client_id: body.client_id, redirect_uri: redirectUri, registration_endpoint: registrationEndpoint, registered_at: Date.now() };
}
