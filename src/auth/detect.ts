import { parseChallenges, resourceMetadataFrom } from './challenge.js';
import { isLoopbackHost } from '../core/url-policy.js';

/** What a response tells us about Cloudflare Access guarding the URL. */
export interface AccessChallenge {
  /** How Access answered: a 401 Bearer challenge, a 302 to the login page, or a 403 (service auth only). */
  style: 'bearer' | 'redirect' | 'forbidden';
  /** RFC 9728 resource metadata URL, when the challenge carried one. */
  resourceMetadataUrl?: string;
  /** Where a browser would be sent to log in (classic Access). */
  loginUrl?: string;
  /** Team domain host, e.g. `team.cloudflareaccess.com`, when known. */
  teamDomain?: string;
  /** Application audience tag, when known. */
  aud?: string;
  /** A redirect by Access to a configured deny URL (custom_deny_url): where it sends a refused user. */
  denyUrl?: string;
  /** Cloudflare's ray id of the response, when it carried one (for the administrator). */
  rayId?: string;
}

export interface ResponseHead {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

function header(head: ResponseHead, name: string): string | undefined {
  const value = head.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Is this a redirect to an Access login page (`/cdn-cgi/access/login` on a
 * team domain)? A loopback login page (the emulator) counts only when the
 * requested URL is loopback too: a remote page has no business sending us to
 * this machine. Either way this is the page's own word, an unverified hint.
 */
export function accessLoginRedirect(location: string | undefined, base: URL): URL | undefined {
  if (!location) return undefined;
  let target: URL;
  try {
    target = new URL(location, base);
  } catch {
    return undefined;
  }
  if (!target.pathname.startsWith('/cdn-cgi/access/login')) return undefined;
  const host = target.hostname.toLowerCase();
  if (host.replace(/\.$/, '').endsWith('.cloudflareaccess.com')) return target;
  return isLoopbackHost(host) && isLoopbackHost(base.hostname) ? target : undefined;
}

/** Access challenges only with a redirect, a 401 or a 403: any other status is an answer (checked without a turn of the event loop). */
export function mayBeChallenge(status: number): boolean {
  return status === 401 || status === 403 || (status >= 300 && status < 400);
}

/**
 * Recognises every way Access answers an unauthenticated request
 * (see access-facts.md): 401 + Bearer challenge, 302 to the login page with a
 * `Cloudflare-Access` challenge, a 403 with `cf-access-aud`. Returns undefined
 * when the response is not an Access challenge.
 *
 * Every signal here is written by the responding page and can be imitated. They
 * may lead to managed OAuth discovery (whose login page opens only for trusted
 * servers), but never straight to a credential: cloudflared runs only after the
 * signed application metadata check (app-metadata.ts).
 */
export async function detectAccess(head: ResponseHead, requestUrl: URL): Promise<AccessChallenge | undefined> {
  if (!mayBeChallenge(head.status)) return undefined;
  const challenges = await parseChallenges(head.headers['www-authenticate']);
  const resourceMetadataUrl = resourceMetadataFrom(challenges);
  const aud = header(head, 'cf-access-aud');
  const teamDomain = header(head, 'cf-access-domain');

  if (head.status === 401 && resourceMetadataUrl) {
    return { style: 'bearer', resourceMetadataUrl };
  }
  if (head.status >= 300 && head.status < 400) {
    const login = accessLoginRedirect(header(head, 'location'), requestUrl);
    if (login || challenges.some((c) => c.scheme === 'cloudflare-access')) {
      return {
        style: 'redirect',
        resourceMetadataUrl,
        loginUrl: login?.href,
        teamDomain: login?.host,
        aud: login?.searchParams.get('kid') ?? undefined,
      };
    }
  }
  const rayId = header(head, 'cf-ray')?.replace(/-[A-Z]{3}$/, '');
  // A refusal sent to the application's custom deny URL: a redirect Access itself marks with the AUD.
  if (head.status >= 300 && head.status < 400 && aud && header(head, 'location')) {
    return { style: 'forbidden', aud, teamDomain, resourceMetadataUrl, denyUrl: header(head, 'location'), rayId };
  }
  // 403 for an app with only Service Auth policies, or a signed-in user the policy refuses; 401/403 under strict service-token checks.
  if ((head.status === 403 || head.status === 401) && (aud || teamDomain)) {
    return { style: 'forbidden', aud, teamDomain, resourceMetadataUrl, rayId };
  }
  if ((head.status === 401 || head.status === 403) && challenges.some((c) => c.scheme === 'cloudflare-access')) {
    return { style: head.status === 401 ? 'bearer' : 'forbidden', resourceMetadataUrl };
  }
  return undefined;
}
