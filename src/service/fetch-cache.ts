/**
 * access_fetch's use of the page cache (http/page-cache.ts): a GET's converted
 * text is kept when it has more pages, and a call that continues it
 * (start_index > 0, same URL, format, headers and credential) is answered from
 * it without a request. A call from the start always fetches afresh.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_PAGE_CACHE_LIMITS, PageCache } from '../http/page-cache.js';
import { step } from '../core/next-step.js';
import { paginate, DEFAULT_MAX_LENGTH } from '../http/paging.js';
import type { AccessService } from './access-service.js';
import type { FetchParams } from './fetch-flow.js';
import type { AuthMethod, FetchResult } from './results.js';

/** A fetched result with its whole text (FetchResult.text is one page of it). */
interface CachedFetch {
  result: FetchResult;
  fullText: string;
}

const caches = new WeakMap<AccessService, PageCache<CachedFetch>>();

function cacheOf(svc: AccessService): PageCache<CachedFetch> {
  let cache = caches.get(svc);
  if (!cache) caches.set(svc, (cache = new PageCache()));
  return cache;
}

/**
 * The one place that says which credential ("application") a cached page
 * belongs to: the origin, the credential method, and which session or service
 * token it is. A new login, another method or another token is another key.
 */
function credentialOf(svc: AccessService, url: URL): { application: string; method: AuthMethod } {
  const configured = svc.methods.configuredFor(url);
  if (configured) {
    // Which configured credential, without keeping it: another token is another key.
    const identity = createHash('sha256').update(JSON.stringify(configured.configuredHeaders(url))).digest('hex').slice(0, 16);
    return { application: `${url.origin} ${configured.name} ${identity}`, method: configured.name };
  }
  const app = svc.store.appKeyFor(url);
  const session = svc.store.getSession(app);
  if (!session) return { application: `${app} none`, method: 'none' };
  return { application: `${app} ${session.method} ${session.client_id ?? session.app_aud ?? ''} ${session.obtained_at}`, method: session.method };
}

interface Request {
  target: URL;
  method: string;
  headers: Record<string, string>;
}

/**
 * Only a GET without a body whose text is returned is kept: never a request that may change data, a body saved to a
 * file or streamed, nor a GET with a body (a search API's answer depends on it).
 */
const keepable = (params: FetchParams, request: Request) =>
  request.method === 'GET' && (params.body === undefined || params.body === null) && params.save_to === undefined && params.sink === undefined;

function keyOf(svc: AccessService, params: FetchParams, request: Request): { key: string; application: string; method: AuthMethod } | undefined {
  if (!keepable(params, request)) return undefined;
  const { application, method } = credentialOf(svc, request.target);
  const headers = Object.entries(request.headers).sort(([a], [b]) => (a < b ? -1 : 1));
  return { key: JSON.stringify([application, params.format ?? 'markdown', request.target.href, headers]), application, method };
}

/** The next page of a result this process fetched moments ago, or undefined (then fetch). */
export function cachedPage(svc: AccessService, params: FetchParams, request: Request): FetchResult | undefined {
  if (!params.start_index || params.start_index <= 0) return undefined;
  const key = keyOf(svc, params, request);
  const hit = key && cacheOf(svc).get(key.key, key.application);
  if (!hit) return undefined;
  const page = paginate(hit.fullText, params.start_index, params.max_length ?? DEFAULT_MAX_LENGTH);
  return {
    ...hit.result,
    // (kept under its final URL too: asked for there, it names that URL)
    url: request.target.href,
    text: page.text,
    note: page.note,
    total_length: page.total_length,
    start_index: page.start_index,
    truncated: page.truncated,
    next_start_index: page.next_start_index,
    warnings: [...hit.result.warnings],
  };
}

/**
 * Keeps a text result that has more pages (same-origin, no image, nothing saved); its warnings are the page's own, not the store's (shown once).
 * Returns a warning for the agent when this is a later part fetched again (its kept copy was gone) from a page that changed since an earlier part was read.
 */
export function rememberPage(svc: AccessService, params: FetchParams, request: Request, result: FetchResult, fullText: string, sentWith: readonly string[]): string[] {
  const later = (params.start_index ?? 0) > 0;
  if ((!result.truncated && !later) || result.image || result.saved_to || !keepable(params, request)) return [];
  const finalUrl = new URL(result.final_url);
  // A page reached through a redirect (same origin) is also kept under its final URL, the address its result shows.
  const addresses = finalUrl.origin === request.target.origin && finalUrl.href !== request.target.href ? [request, { ...request, target: finalUrl }] : [request];
  // A first part only records its version, and that waits until its result is on its way (hashing a long text takes a
  // fraction of a millisecond); a later part compares, so it hashes now.
  let changed = false;
  if (later) changed = noteVersion(svc, params, addresses, fullText, true);
  else setImmediate(() => noteVersion(svc, params, addresses, fullText, false));
  for (const address of result.truncated && finalUrl.origin === request.target.origin ? addresses : []) {
    const key = keyOf(svc, params, address);
    // Kept under the credential held now: only if that is the one the page was fetched with (the same method, e.g. not
    // a session standing in for a refused service token, and no sign-in landed while it was under way).
    if (!key || key.method !== result.auth || !svc.methods.secretsFor(address.target).every((secret) => sentWith.includes(secret))) continue;
    cacheOf(svc).set(key.key, { application: key.application, origin: address.target.origin, value: { result, fullText }, size: fullText.length + 1024 });
  }
  return changed
    ? [`The page changed since its earlier part was read: the copy kept for paging was gone (kept ${PAGE_KEPT_MINUTES} minutes at most; a logout, or many other long pages, drop it sooner), so this part comes from a new fetch and may not continue the earlier one. To read one version throughout, ${step('fetch', { continue_at: 0 })} and the same other arguments.`]
    : [];
}

const PAGE_KEPT_MINUTES = DEFAULT_PAGE_CACHE_LIMITS.ttlMs / 60_000;

/**
 * What each paged text looked like when last fetched (a digest, nothing of the
 * page itself, under a digest of the request): kept longer than the text, so
 * that a later part fetched again can tell whether it still continues the
 * earlier ones. Not per credential: another session seeing another text is a
 * change for the reader too.
 */
const versions = new WeakMap<AccessService, Map<string, string>>();
const MAX_VERSIONS = 2_000;

/** Records this fetch's version of the text under each of its addresses (the first: the one asked for); true when a later part's text differs from the version recorded before. */
function noteVersion(svc: AccessService, params: FetchParams, addresses: Request[], fullText: string, later: boolean): boolean {
  let seen = versions.get(svc);
  if (!seen) versions.set(svc, (seen = new Map()));
  const version = `${fullText.length} ${digest(fullText)}`;
  let before: string | undefined;
  for (const [i, address] of addresses.entries()) {
    const headers = Object.entries(address.headers).sort(([a], [b]) => (a < b ? -1 : 1));
    const key = digest(JSON.stringify([params.format ?? 'markdown', address.target.href, headers]));
    if (i === 0) before = seen.get(key);
    seen.delete(key);
    seen.set(key, version);
    if (seen.size > MAX_VERSIONS) seen.delete(seen.keys().next().value!);
  }
  return later && before !== undefined && before !== version;
}

const digest = (text: string) => createHash('sha256').update(text).digest('base64');

/** access_logout: the origin's pages (or every page) are no longer served. */
export function forgetPages(svc: AccessService, origin?: string): void {
  cacheOf(svc).clear(origin);
}
