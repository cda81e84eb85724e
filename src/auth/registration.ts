import { requestJson, parseWith, type JsonClient } from '../http/json.js';
import { AccessError } from '../core/errors.js';
import { remoteText } from '../core/remote-text.js';
import { OAuthErrorSchema, RegistrationResponseSchema } from './schemas.js';

export type GrantType = 'authorization_code' | 'refresh_token';

export interface Registration {
  client_id: string;
  redirect_uri: string;
  registration_endpoint: string;
  registered_at: number;
  /** What we registered; absent on registrations from before we asked for refresh_token (authorization_code only). */
  grant_types?: string[];
}

/** What a refused registration was about: the redirect URI's form, the grants, or something else. */
export type RefusalReason = 'redirect_uri' | 'grants' | 'other';

/** A registration the server answered with an error; `reason` lets the caller try another redirect form or fewer grants. */
export class RegistrationRefusedError extends AccessError {
  constructor(
    readonly reason: RefusalReason,
    message: string,
    nextStep: string,
  ) {
    super('registration_failed', message, nextStep);
  }
}

/**
 * RFC 7591 names `invalid_redirect_uri`; Access answers `invalid_client_metadata`
 * with "redirect_uri is not allowed…" for a form the account switched off.
 */
function refusalReason(error: string | undefined, description: string | undefined): RefusalReason {
  if (error === 'invalid_redirect_uri') return 'redirect_uri';
  if (error !== 'invalid_client_metadata') return 'other';
  return /redirect/i.test(description ?? '') ? 'redirect_uri' : 'grants';
}

/** Step 4 (RFC 7591): register a public client for our loopback redirect URI, bound to the resource. */
export async function registerClient(
  http: JsonClient,
  registrationEndpoint: string,
  redirectUri: string,
  resource: string,
  grantTypes: GrantType[] = ['authorization_code', 'refresh_token'],
): Promise<Registration> {
  const url = new URL(registrationEndpoint);
  const response = await requestJson(http, url, {
    json: {
      client_name: 'cf-access-mcp',
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'none',
      grant_types: grantTypes,
      response_types: ['code'],
      resource,
    },
  });
  if (response.status < 200 || response.status >= 300) {
    const err = OAuthErrorSchema.safeParse(response.json);
    // Bounded: a hostile server's text goes into the agent's context.
    // The server's words, on one line: they must not bring control characters or a line of their own into our message.
    const detail = err.success ? `${remoteText(err.data.error, 100)}${err.data.error_description ? `: ${remoteText(err.data.error_description, 300)}` : ''}` : `HTTP ${response.status}`;
    const reason = err.success ? refusalReason(err.data.error, err.data.error_description) : 'other';
    throw new RegistrationRefusedError(
      reason,
      `Client registration at ${url.host} failed (${detail}).`,
      reason === 'redirect_uri'
        ? `The Access application does not allow the redirect URI ${redirectUri}. Ask the administrator to allow localhost or loopback-IP (127.0.0.1) redirect URIs in the application's managed OAuth settings, or set CF_ACCESS_MCP_CALLBACK_HOST to the allowed form (localhost or 127.0.0.1).`
        : 'Try again in a moment; if it persists, use a service token or cloudflared.',
    );
  }
  const body = parseWith(RegistrationResponseSchema, response.json, 'Client registration response', url, 'Try again in a moment; if it persists, use a service token or cloudflared.');
  return { client_id: body.client_id, redirect_uri: redirectUri, registration_endpoint: registrationEndpoint, registered_at: Date.now(), grant_types: grantTypes };
}
