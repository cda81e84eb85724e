import { AccessError } from '../core/errors.js';

/**
 * An Access application's identity on the client side: its RFC 9728 `resource`
 * normalised to the origin (a host-wide application) or origin + path without
 * a trailing slash (an application under a path, e.g. `https://host/admin`).
 * Sessions, logins and registrations are keyed by it; a key that is just an
 * origin is what stores written before applications were told apart hold.
 */
export type AppKey = string;

/** The key of an application from the `resource` its metadata names, checked against the URL asked for. */
export function appKeyOf(resource: string, target: URL): AppKey {
  let url: URL;
  try {
    url = new URL(resource);
  } catch {
    throw new AccessError('invalid_metadata', `The resource metadata of ${target.host} names an invalid resource.`, 'Check the URL; if the site is yours, fix its Access configuration.');
  }
  const path = url.pathname.replace(/\/+$/, '');
  if (url.origin !== target.origin || !pathUnder(path, target.pathname)) {
    throw new AccessError(
      'invalid_metadata',
      `The resource metadata of ${target.host} describes ${url.origin}${path}, which does not contain ${target.origin}${target.pathname}; refusing to log in with it.`,
      'This may be a misconfigured or hostile server. Check the URL; do not log in until the resource matches.',
    );
  }
  return url.origin + path;
}

/** Does an application path ('' = the whole host) cover `pathname`? Whole segments only: /admin covers /admin/x, not /administrator. */
export function pathUnder(appPath: string, pathname: string): boolean {
  return appPath === '' || pathname === appPath || pathname.startsWith(appPath + '/');
}

/** A key's origin and application path, parsed once (every call looks up the stored keys; there are few). */
const parsedKeys = new Map<AppKey, { origin: string; path: string } | null>();
function parsedKey(key: AppKey): { origin: string; path: string } | null {
  let parsed = parsedKeys.get(key);
  if (parsed === undefined) {
    try {
      const url = new URL(key);
      parsed = { origin: url.origin, path: url.pathname.replace(/\/+$/, '') };
    } catch {
      parsed = null;
    }
    if (parsedKeys.size >= 1000) parsedKeys.clear();
    parsedKeys.set(key, parsed);
  }
  return parsed;
}

/** Does the application `key` serve `url`? Same origin, and its path (if any) is a prefix of the URL's. */
export function keyServes(key: AppKey, url: URL): boolean {
  const parsed = parsedKey(key);
  return parsed !== null && parsed.origin === url.origin && pathUnder(parsed.path, url.pathname);
}

/** The most specific key serving `url` (nothing is inherited from a broader application), if any. */
export function longestKeyFor(keys: Iterable<AppKey>, url: URL): AppKey | undefined {
  let best: AppKey | undefined;
  for (const key of keys) if (keyServes(key, url) && (best === undefined || key.length > best.length)) best = key;
  return best;
}

/** How an application is named to people: host plus its path, e.g. `app.example.com/admin`. */
export function appLabel(key: AppKey): string {
  try {
    const url = new URL(key);
    return url.host + url.pathname.replace(/\/+$/, '');
  } catch {
    return key;
  }
}
