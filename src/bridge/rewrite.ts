import { redactWith } from '../core/redact.js';
import type { HeaderMap } from '../http/client.js';

/** Hop-by-hop headers (RFC 9110 §7.6.1) and what undici or the proxy sets itself. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'expect']);

/** Access's own session cookie holds a JWT: a credential, never handed to the local client. */
const ACCESS_COOKIES = new Set(['cf_authorization']);

/**
 * Cookie name prefixes that bind a cookie to `Secure` (RFC 6265bis §4.1.3;
 * `__Http-` and `__Host-Http-` in later drafts), matched without case as
 * browsers do. Over the proxy's plain HTTP a client either drops them without
 * `Secure` (Chromium, curl, git) or keeps them with `Secure` and never sends
 * them back over http (Python's cookiejar), so they reach the client renamed.
 */
const SECURE_ONLY_PREFIX = /^__(?:host|secure|http)-/i;

/** What the proxy puts before such a name for the client (`__Host-sid` → `cfam-__Host-sid`), and takes off again on the way to the origin. */
export const RENAMED_COOKIE_MARK = 'cfam-';

/** Connection options that name no header (most requests and responses carry only these). */
const CONNECTION_OPTIONS = new Set(['keep-alive', 'close', 'upgrade']);

/** Headers not to pass on: the hop-by-hop ones, and any the Connection header names (a new set only when it names one). */
function listed(headers: HeaderMap): ReadonlySet<string> {
  const connection = headers['connection'];
  if (connection === undefined) return HOP_BY_HOP;
  const names = (Array.isArray(connection) ? connection.join(',') : connection)
    .split(',')
    .map((n) => n.trim().toLowerCase())
    .filter((n) => n && !CONNECTION_OPTIONS.has(n));
  return names.length ? new Set([...HOP_BY_HOP, ...names]) : HOP_BY_HOP;
}

/** Where the proxy's own pages say a request comes from, and the origin to name instead. */
export interface OwnOrigin {
  /** The proxy's own origins (http://127.0.0.1:<port>, http://localhost:<port>). */
  proxy: readonly string[];
  /** The application's origin. */
  origin: string;
}

/** `value` (an Origin, or a Referer URL) on the proxy → the same on the origin; anything else unchanged. */
export function originBack(value: string, own: OwnOrigin): string {
  for (const proxy of own.proxy) {
    if (value === proxy || value.startsWith(`${proxy}/`)) return own.origin + value.slice(proxy.length);
  }
  return value;
}

/**
 * The client's headers that may travel on to the origin (hop-by-hop ones
 * dropped, identity encoding so bodies can be scrubbed). With `own`, an
 * `Origin` or `Referer` naming the proxy's pages names the origin's instead:
 * the origin gets its own Host, and a CSRF check comparing the two (Rails,
 * Django, WebSocket origin checks) would refuse a browser's form post through
 * the proxy. The reverse of the Location rewrite.
 */
export function forwardRequestHeaders(headers: HeaderMap, keepUpgrade = false, own?: OwnOrigin): Record<string, string | string[]> {
  const drop = listed(headers);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || drop.has(name)) continue;
    if (keepUpgrade === false && name.startsWith('sec-websocket-')) continue;
    out[name] = value;
  }
  out['accept-encoding'] = 'identity';
  const cookie = out['cookie'];
  if (typeof cookie === 'string' && cookie.includes(`${RENAMED_COOKIE_MARK}__`)) out['cookie'] = restoreCookieNames(cookie);
  if (own) {
    const origin = out['origin'];
    if (typeof origin === 'string') out['origin'] = originBack(origin, own);
    const referer = out['referer'];
    if (typeof referer === 'string') out['referer'] = originBack(referer, own);
  }
  return out;
}

/** A Cookie header with the names the proxy gave `__Host-`/`__Secure-` cookies turned back into the origin's own. */
export function restoreCookieNames(header: string): string {
  return header
    .split(';')
    .map((pair) => {
      const start = pair.length - pair.trimStart().length;
      const rest = pair.slice(start + RENAMED_COOKIE_MARK.length);
      return pair.startsWith(RENAMED_COOKIE_MARK, start) && SECURE_ONLY_PREFIX.test(rest) ? pair.slice(0, start) + rest : pair;
    })
    .join(';');
}

/** `value` resolved against the request URL: on the origin → the same path on the proxy; anything else unchanged. */
export function rewriteLocation(value: string, requestUrl: URL, proxyBase: string): string {
  let target: URL;
  try {
    target = new URL(value, requestUrl);
  } catch {
    return value;
  }
  if (target.origin !== requestUrl.origin) return value;
  // A relative reference already stays on the proxy.
  if (!/^[a-z][a-z0-9+.-]*:|^\/\//i.test(value.trim())) return value;
  return `${proxyBase}${target.pathname}${target.search}${target.hash}`;
}

/**
 * A Set-Cookie for the origin made to stick to the proxy: no Domain (a
 * host-only cookie for 127.0.0.1), no Secure (the proxy speaks plain HTTP on
 * loopback), no SameSite=None (which needs Secure). A `__Host-`/`__Secure-`
 * name, which a client refuses without Secure, gets RENAMED_COOKIE_MARK in
 * front (restoreCookieNames takes it off again). Access's own session
 * cookie, or any cookie carrying one of our secrets, is dropped (undefined).
 */
export function rewriteSetCookie(value: string, secrets: readonly string[]): string | undefined {
  const [first = '', ...attributes] = value.split(';');
  const name = first.slice(0, Math.max(0, first.indexOf('='))).trim();
  if (ACCESS_COOKIES.has(name.toLowerCase()) || secrets.some((s) => s && value.includes(s))) return undefined;
  const pair = SECURE_ONLY_PREFIX.test(name) ? RENAMED_COOKIE_MARK + first.trimStart() : first;
  const kept = attributes.filter((attribute) => {
    const key = attribute.split('=')[0]!.trim().toLowerCase();
    if (key === 'domain' || key === 'secure') return false;
    return !(key === 'samesite' && attribute.split('=')[1]?.trim().toLowerCase() === 'none');
  });
  return [pair, ...kept].join(';');
}

/** The origin's response headers as the local client gets them: hop-by-hop dropped, redirects and cookies kept on the proxy, our secrets masked. */
export function rewriteResponseHeaders(headers: HeaderMap, requestUrl: URL, proxyBase: string, secrets: readonly string[]): Record<string, string | string[]> {
  const drop = listed(headers);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || drop.has(name)) continue;
    if (name === 'set-cookie') {
      const cookies = (Array.isArray(value) ? value : [value]).map((c) => rewriteSetCookie(c, secrets)).filter((c): c is string => c !== undefined);
      if (cookies.length) out[name] = cookies;
      continue;
    }
    if (name === 'location' || name === 'content-location') {
      out[name] = scrubHeader(rewriteLocation(Array.isArray(value) ? value[0]! : value, requestUrl, proxyBase), secrets);
      continue;
    }
    if (name === 'link') {
      // RFC 8288 targets (<…>): pagination followed by a test runner must stay on the proxy too.
      const rewrite = (v: string) => scrubHeader(v.replace(/<([^>]*)>/g, (_, target: string) => `<${rewriteLocation(target, requestUrl, proxyBase)}>`), secrets);
      out[name] = Array.isArray(value) ? value.map(rewrite) : rewrite(value);
      continue;
    }
    out[name] = Array.isArray(value) ? value.map((v) => scrubHeader(v, secrets)) : scrubHeader(value, secrets);
  }
  return out;
}

const scrubHeader = (value: string, secrets: readonly string[]): string => (secrets.length ? redactWith(value, secrets) : value);
