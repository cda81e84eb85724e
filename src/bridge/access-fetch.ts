import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { fetch as undiciFetch, type Dispatcher } from 'undici';
import { AccessError } from '../core/errors.js';
import { networkError } from '../http/client.js';
import type { AccessService, LoginHooks } from '../service/access-service.js';
import { credentialHeadersFor } from '../service/credentials.js';
import { accessChallengeOf } from './access-challenge.js';

export interface AccessFetchOptions {
  /** Seconds a renewal may wait for a browser login. */
  waitSeconds: number;
  /** HTTP pool for the MCP traffic (no body timeout: an event stream may be quiet for long). */
  dispatcher: Dispatcher;
  hooks?: LoginHooks;
  /** Told (for stderr) when Access asked for a new credential. */
  onRenew?: (url: URL) => void;
}

function headersOf(response: Response): Record<string, string> {
  const out: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

export function remoteOAuthError(url: URL): AccessError {
  return new AccessError(
    'unsupported_server',
    `The MCP server at ${url.href} asks for its own OAuth sign-in (behind Cloudflare Access, which let us through). cf-access-mcp bridge handles only the Access sign-in.`,
    'Connect your MCP client to this server with its own OAuth support, or ask its operator for a way in that relies on Cloudflare Access alone.',
  );
}

/**
 * A fetch for the MCP SDK's HTTP transports that adds our Access credential
 * for the remote's origin (and nothing to any other origin), follows no
 * redirects, and when Access refuses the credential renews it once (refresh,
 * else the shared single-flight login) and sends the request again.
 */
export function accessFetch(svc: AccessService, target: URL, options: AccessFetchOptions): FetchLike {
  const send = (url: URL, init: RequestInit | undefined, credentials: Record<string, string>) => {
    const headers = new Headers(init?.headers);
    for (const [name, value] of Object.entries(credentials)) headers.set(name, value);
    const sent = undiciFetch(url, { ...(init as object), headers, redirect: 'manual', dispatcher: options.dispatcher } as never) as unknown as Promise<Response>;
    // undici says only "fetch failed": say why (refused, DNS, TLS…); a cancellation stays an AbortError for the SDK.
    return sent.catch((error: unknown) => {
      throw init?.signal?.aborted ? error : networkError(error, url);
    });
  };
  return async (input, init) => {
    const url = new URL(String(input));
    if (url.origin !== target.origin) return send(url, init, {});
    let credentials = await svc.credentialsFor(url);
    let response = await send(url, init, credentials);
    for (let renewed = false; ; renewed = true) {
      const challenge = await accessChallengeOf(response.status, headersOf(response), url);
      if (!challenge || renewed) {
        if (challenge === 'own_oauth') {
          await response.body?.cancel().catch(() => {});
          throw remoteOAuthError(url);
        }
        return response;
      }
      await response.body?.cancel().catch(() => {});
      if (challenge === 'own_oauth') throw remoteOAuthError(url);
      options.onRenew?.(url);
      credentials = await credentialHeadersFor(svc, url, { waitSeconds: options.waitSeconds, refused: credentials, hooks: options.hooks });
      response = await send(url, init, credentials);
    }
  };
}
