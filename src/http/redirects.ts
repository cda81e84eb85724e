import type { Dispatcher } from 'undici';
import { AccessError } from '../core/errors.js';
import { accessLoginRedirect } from '../auth/detect.js';
import { isAllowedScheme, isLocalHost, shownUrl, truncate } from '../core/url-policy.js';
import { discard, headerValue, send, type RawResponse, type RequestSignal } from './client.js';

export const MAX_REDIRECTS = 10;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Headers that must never cross to another origin, whoever set them. */
const ORIGIN_BOUND = /^(authorization|cookie|proxy-authorization|cf-access-token|cf-access-jwt-assertion|cf-access-client-id|cf-access-client-secret)$/i;

export interface OutgoingRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal?: RequestSignal;
}

export { isLocalHost };

/** Why a redirect from `from` to `to` is not followed, or undefined when it may be. */
export function refusedRedirect(from: URL, to: URL): AccessError | undefined {
  if (!isAllowedScheme(to)) {
    return new AccessError(
      'network_error',
      `${from.host} redirected to ${truncate(`${to.protocol}//${to.host}`, 120)}, which is not https; not following it.`,
      `Fetch ${shownUrl(to)} directly if you trust it (plain http is only allowed for loopback hosts).`,
    );
  }
  // A remote site must not steer us into services on this machine (our own login callback among them).
  if (isLocalHost(to.hostname) && !isLocalHost(from.hostname)) {
    return new AccessError(
      'network_error',
      `${from.host} redirected to ${truncate(to.host, 120)}, an address on this machine; a redirect from a remote site to a local address is not followed.`,
      `If you expected this, fetch ${shownUrl(to)} directly.`,
    );
  }
  return undefined;
}

/** Credentials for one origin, looked up afresh for every hop. */
export type CredentialLookup = (origin: URL) => Promise<Record<string, string>>;

export interface Followed {
  response: RawResponse;
  /** Every URL requested, in order; the last one answered `response`. */
  hops: URL[];
  /** The credential header names sent on the last hop (values never kept). */
  credentialHeaders: string[];
  /** Why the redirect in `response` was not followed, when it was not (shown to the agent). */
  unfollowed?: string;
}

/**
 * Sends the request and follows redirects (at most 10). Credentials are
 * attached per hop for that hop's own origin only; anything origin-bound that
 * the caller set is dropped once a redirect leaves the original origin. A
 * redirect to an Access login page is not followed: it is returned for
 * detection.
 */
export async function sendFollowingRedirects(dispatcher: Dispatcher, request: OutgoingRequest, credentialsFor: CredentialLookup): Promise<Followed> {
  let url = request.url;
  let method = request.method;
  let body = request.body;
  let userHeaders = { ...request.headers };
  const hops: URL[] = [];
  for (let hop = 0; ; hop++) {
    hops.push(url);
    const credentials = await credentialsFor(url);
    const headers = { ...userHeaders, ...credentials };
    const response = await send(dispatcher, url, { method, headers, body, signal: request.signal });
    const location = headerValue(response.headers, 'location');
    const isRedirect = [301, 302, 303, 307, 308].includes(response.status) && location;
    // Access's own redirects (to its login page, or a refused user to the configured deny URL) are returned for detection.
    if (!isRedirect || accessLoginRedirect(location, url) || headerValue(response.headers, 'cf-access-aud') !== undefined) {
      return { response, hops, credentialHeaders: Object.keys(credentials) };
    }
    let next: URL;
    try {
      next = new URL(location!, url);
    } catch {
      discard(response.body);
      throw new AccessError('network_error', `${url.host} redirected to an invalid URL.`, 'Check the URL or contact the site owner.');
    }
    const becomesGet = response.status === 303 || ((response.status === 301 || response.status === 302) && method === 'POST');
    if (!becomesGet && !SAFE_METHODS.has(method) && next.origin !== url.origin) {
      // Another origin would get the same POST/PUT/DELETE, with its own credentials attached: a site
      // could make us change data elsewhere. The redirect is returned for the agent to decide.
      const unfollowed = `${url.host} answered the ${method} with HTTP ${response.status} to ${truncate(next.origin, 120)}; a request that may change data is not re-sent to another origin automatically. Send it to ${shownUrl(next)} directly if that is intended.`;
      return { response, hops, credentialHeaders: Object.keys(credentials), unfollowed };
    }
    discard(response.body);
    if (hop >= MAX_REDIRECTS) {
      throw new AccessError('network_error', `Too many redirects (more than ${MAX_REDIRECTS}) starting at ${shownUrl(request.url)}.`, 'Check the URL; the site may be stuck in a redirect loop.');
    }
    const refused = refusedRedirect(url, next);
    if (refused) throw refused;
    if (next.origin !== request.url.origin) {
      userHeaders = Object.fromEntries(Object.entries(userHeaders).filter(([name]) => !ORIGIN_BOUND.test(name)));
    }
    if (becomesGet) {
      method = method === 'HEAD' ? 'HEAD' : 'GET';
      body = undefined;
      userHeaders = Object.fromEntries(Object.entries(userHeaders).filter(([name]) => !/^content-(type|length|encoding)$/i.test(name)));
    }
    next.hash = '';
    url = next;
  }
}
