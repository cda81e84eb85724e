import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { AccessError } from './errors.js';

/** 127.0.0.0/8, ::1 and localhost: the only hosts where plain http is acceptable. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
  const v4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return v4 !== null && v4.slice(1).every((part) => Number(part) <= 255);
}

/**
 * Addresses that reach a listener on this machine. BlockList matches an
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d, hex or dotted) against the IPv4
 * rules, so every spelling of 127/8 and 0/8 (connecting to 0.0.0.0 reaches
 * local listeners) is caught. ::/104 covers :: and ::1; the IPv4-compatible
 * and -translated forms of loopback are listed too, should a stack route them.
 */
const LOCAL_ADDRESSES = (() => {
  const list = new BlockList();
  list.addSubnet('127.0.0.0', 8, 'ipv4');
  list.addSubnet('0.0.0.0', 8, 'ipv4');
  list.addSubnet('::', 104, 'ipv6');
  list.addSubnet('::7f00:0', 104, 'ipv6');
  list.addSubnet('::ffff:0:0:0', 104, 'ipv6');
  list.addSubnet('::ffff:0:7f00:0', 104, 'ipv6');
  return list;
})();

/**
 * This machine, however the address is spelled: localhost and *.localhost,
 * a trailing dot, 127/8, 0/8, :: and ::1, and their IPv4-mapped forms. For
 * the remote→local redirect rule; plain http stays limited to isLoopbackHost.
 */
export function isLocalHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIPv4(host)) return LOCAL_ADDRESSES.check(host, 'ipv4');
  if (isIPv6(host)) return LOCAL_ADDRESSES.check(host.replace(/%.*$/, ''), 'ipv6');
  return false;
}

/**
 * May a login page on this authorization server be opened in the user's
 * browser without asking? Cloudflare Access signs people in on its team
 * domains (`<team>.cloudflareaccess.com`); a loopback server is on this
 * machine (the emulator). Any other site can claim to be behind Access and
 * name itself as the server: its page is shown as a link, never popped up.
 */
export function isTrustedLoginHost(authorizationServer: URL, target: URL): boolean {
  const host = authorizationServer.hostname.toLowerCase().replace(/\.$/, '');
  if (host.endsWith('.cloudflareaccess.com')) return true;
  return isLoopbackHost(host) && isLoopbackHost(target.hostname);
}

/** Only https, or http to a loopback host, may carry credentials or be fetched. */
export function isAllowedScheme(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
}

/** Parses and checks a URL given by the agent or user. */
export function parseTargetUrl(input: unknown): URL {
  if (typeof input !== 'string' || input.trim() === '') {
    throw new AccessError('invalid_url', 'No URL was given.', 'Pass an absolute https:// URL, e.g. https://app.example.com/path.');
  }
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    throw new AccessError(
      'invalid_url',
      `"${truncate(input, 200)}" is not a valid absolute URL.`,
      'Pass an absolute https:// URL, e.g. https://app.example.com/path.',
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new AccessError(
      'invalid_url',
      `The scheme ${truncate(url.protocol.replace(/:$/, ''), 40)}: is not supported.`,
      'Use an https:// URL (http:// only works for localhost/127.0.0.1/::1).',
    );
  }
  // Error messages quote the host: keep them readable (DNS names end at 253 characters anyway).
  if (url.hostname.length > 253) {
    throw new AccessError('invalid_url', `The host name ${truncate(url.hostname, 60)} is longer than a DNS name can be.`, 'Check the URL and pass the address of a real site.');
  }
  if (!isAllowedScheme(url)) {
    throw new AccessError(
      'invalid_url',
      `Plain http:// is refused for ${url.hostname}: credentials would travel unencrypted.`,
      `Use ${truncate(`https://${url.host}${url.pathname}${url.search}`, 300)} instead.`,
    );
  }
  if (url.username || url.password) {
    throw new AccessError('invalid_url', 'URLs with embedded user names or passwords are refused.', 'Remove the user:password@ part of the URL.');
  }
  // Setting it re-serialises the URL: only when there is a fragment to drop.
  if (url.href.includes('#')) url.hash = '';
  return url;
}

export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** URLs longer than this are shortened where our own sentences name them (see shownUrl). */
export const SHOWN_URL_MAX = 300;
/** What a shortened URL keeps: its start (the origin, at least, and the path's start) and its end. */
const SHOWN_URL_HEAD = 200;
const SHOWN_URL_TAIL = 60;

/**
 * A URL as our sentences show it. An agent may pass hundreds of kilobytes of
 * query string; repeating them in a result's first line (and in every next
 * step) costs its context for nothing it does not already have. Past
 * SHOWN_URL_MAX characters the middle is left out, saying how much; the
 * origin is always kept whole. Fields for programs keep the exact URL.
 */
export function shownUrl(url: string | URL, max = SHOWN_URL_MAX): string {
  const text = typeof url === 'string' ? url : url.href;
  if (text.length <= max) return text;
  let origin = 0;
  try {
    const parsed = new URL(text);
    if (parsed.origin !== 'null') origin = parsed.origin.length + 1;
  } catch {
    /* not a URL: shortened as text */
  }
  const head = Math.max(SHOWN_URL_HEAD, origin);
  const left = text.length - head - SHOWN_URL_TAIL;
  if (left <= 40) return text;
  return `${text.slice(0, head)}…[${left} characters left out]…${text.slice(text.length - SHOWN_URL_TAIL)}`;
}
