import { redactWith } from '../core/redact.js';
import type { HeaderMap } from '../http/client.js';
import { ACCESS_COOKIES, COOKIES_TO_CHECK, CookieNames, RENAMED_COOKIE_MARK } from './cookie-names.js';

/** Hop-by-hop headers (RFC 9110 §7.6.1) and what undici or the proxy sets itself. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'expect']);

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
 * the proxy. The reverse of the Location rewrite. Cookies the proxy renamed
 * get their names back with `cookies`; any other `cfam-` or `__Host-`/
 * `__Secure-` cookie (another proxy's, or one a loopback page planted) is
 * left out, as are a cookie hiding such a name from a lenient parser and the
 * client's own Access cookie (CookieNames.restoreHeader).
 */
export function forwardRequestHeaders(headers: HeaderMap, keepUpgrade = false, own?: OwnOrigin, cookies?: CookieNames): Record<string, string | string[]> {
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
  if (typeof cookie === 'string' && COOKIES_TO_CHECK.test(cookie)) {
    const restored = restoreCookieNames(cookie, cookies);
    if (restored === undefined) delete out['cookie'];
    else out['cookie'] = restored;
  }
  if (own) {
    const origin = out['origin'];
    if (typeof origin === 'string') out['origin'] = originBack(origin, own);
    const referer = out['referer'];
    if (typeof referer === 'string') out['referer'] = originBack(referer, own);
  }
  return out;
}

/** Names no client was given: with it nothing is restored, every `cfam-` and prefixed cookie left out. */
const NO_NAMES_GIVEN = new CookieNames();

/** A Cookie header for the origin: the names `cookies` gave turned back into the origin's own, other `cfam-`, prefixed, smuggled and Access ones left out (undefined: none left). */
export function restoreCookieNames(header: string, cookies: CookieNames = NO_NAMES_GIVEN): string | undefined {
  return cookies.restoreHeader(header);
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
 * name, which a client refuses without Secure, gets the proxy's tagged name
 * (`cookies.forClient`; restoreCookieNames takes it off again), a deletion
 * (Max-Age=0, a past Expires) too. Access's own session cookie, any cookie
 * carrying one of our secrets, and any the origin names `cfam-…` are dropped
 * (undefined).
 */
export function rewriteSetCookie(value: string, secrets: readonly string[], cookies: CookieNames): string | undefined {
  const [first = '', ...attributes] = value.split(';');
  const name = first.slice(0, Math.max(0, first.indexOf('='))).trim();
  if (ACCESS_COOKIES.has(name.toLowerCase()) || secrets.some((s) => s && value.includes(s))) return undefined;
  // The proxies' own names: an origin setting one could plant a cookie another proxy takes for its own.
  if (name.startsWith(RENAMED_COOKIE_MARK)) return undefined;
  const renamed = cookies.forClient(name);
  const pair = renamed === name ? first : renamed + first.slice(first.indexOf('='));
  const kept = attributes.filter((attribute) => {
    const key = attribute.split('=')[0]!.trim().toLowerCase();
    if (key === 'domain' || key === 'secure') return false;
    return !(key === 'samesite' && attribute.split('=')[1]?.trim().toLowerCase() === 'none');
  });
  return [pair, ...kept].join(';');
}

/** The origin's response headers as the local client gets them: hop-by-hop dropped, redirects and cookies kept on the proxy, our secrets masked. */
export function rewriteResponseHeaders(headers: HeaderMap, requestUrl: URL, proxyBase: string, secrets: readonly string[], cookies: CookieNames): Record<string, string | string[]> {
  const drop = listed(headers);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || drop.has(name)) continue;
    if (name === 'set-cookie') {
      const kept = (Array.isArray(value) ? value : [value]).map((c) => rewriteSetCookie(c, secrets, cookies)).filter((c): c is string => c !== undefined);
      if (kept.length) out[name] = kept;
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
