import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Cookie name prefixes that bind a cookie to `Secure` (RFC 6265bis §4.1.3;
 * `__Http-` and `__Host-Http-` in later drafts), matched without case as
 * browsers do. Over the proxy's plain HTTP a client either drops them without
 * `Secure` (Chromium, curl, git) or keeps them with `Secure` and never sends
 * them back over http (Python's cookiejar), so they reach the client renamed.
 */
export const SECURE_ONLY_PREFIX = /^__(?:host|secure|http)-/i;

/** Every name the proxies give starts with this; the client's cookies so named go to no origin unless they are this proxy's own. */
export const RENAMED_COOKIE_MARK = 'cfam-';

/**
 * Access's own cookies: the session (a JWT, a credential) and the nonce it sets
 * with its redirect to sign-in, which binds that sign-in to the browser that
 * started it. Neither is handed to the local client nor taken from it.
 */
export const ACCESS_COOKIES: ReadonlySet<string> = new Set(['cf_authorization', 'cf_appsession']);

/**
 * A Cookie header that may name a cookie the proxy renames or leaves out,
 * however hidden (see PLANTED_IN_NAME); the others pass unparsed.
 */
export const COOKIES_TO_CHECK = /cfam-|(?:host|secure|http)-|%[0-9a-f]{2}|cf.(?:authorization|appsession)/i;

/** What old PHP turns into `_` in a cookie name ('[' when unmatched; CVE-2022-31629). */
const MANGLED_UNDERSCORE = String.raw`[_. \[]`;

/** The names no client cookie may smuggle to the origin: prefixed ones, the proxies' own, Access's. */
const PLANTABLE = [
  String.raw`${MANGLED_UNDERSCORE}{2}(?:host|secure|http)-`,
  RENAMED_COOKIE_MARK,
  ...[...ACCESS_COOKIES].map((name) => name.replace(/_/g, MANGLED_UNDERSCORE) + String.raw`(?=[\s,;=]|$)`),
].join('|');

/**
 * Such a name where a lenient parser starts a cookie: at the start of a name,
 * or after whitespace or a comma inside a name or value. Python's SimpleCookie
 * (Bottle) splits `a=b __Host-sid=evil` on the space, old Rack split on ','
 * and URL-decoded names, old PHP mapped '.' and ' ' to '_' — and Chromium lets
 * any loopback page set a plain cookie whose value holds such text. A value's
 * own start is no cookie start, so `x=cfam-…` passes.
 */
const PLANTED_IN_NAME = new RegExp(String.raw`(?:^|[\s,;])(?:${PLANTABLE})`, 'i');
const PLANTED_IN_VALUE = new RegExp(String.raw`[\s,;](?:${PLANTABLE})`, 'i');

/** `text` as a form decoder reads it ('+' a space, each valid %XX its byte); a bad escape stays as is. */
function formDecoded(text: string): string {
  return text.replace(/\+/g, ' ').replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Whether a client cookie pair could reach a lenient origin as a prefixed, proxy or Access cookie it did not get from us. */
function smuggles(name: string, value: string, checkName: boolean): boolean {
  if (checkName && (ACCESS_COOKIES.has(name.toLowerCase()) || PLANTED_IN_NAME.test(formDecoded(name)))) return true;
  return PLANTED_IN_VALUE.test(formDecoded(value));
}

/** Hex digits of the tag (64 bits). */
const TAG_LENGTH = 16;
const TAG = new RegExp(`^[0-9a-f]{${TAG_LENGTH}}$`);

/**
 * The names one proxy gives `__Host-`/`__Secure-` cookies on 127.0.0.1:
 * `__Host-sid` → `cfam-<tag>-__Host-sid`, the tag a keyed hash of the name
 * under a key drawn when the proxy starts. Cookies on 127.0.0.1 ignore the
 * port, so every proxy (and any loopback page) shares the client's jar: only
 * a name with this proxy's tag gets its prefix back on the way to the origin,
 * so another proxy's session cookie or one a loopback page planted is never
 * sent as the origin's own, and no other `cfam-` cookie is sent at all. A
 * tag per name rather than per proxy: a page that reads one tagged name in
 * `document.cookie` cannot forge another.
 */
export class CookieNames {
  private readonly key = randomBytes(32);

  /** The name the client keeps for a cookie the origin sets (unchanged unless prefixed). */
  forClient(name: string): string {
    return SECURE_ONLY_PREFIX.test(name) ? `${RENAMED_COOKIE_MARK}${this.tagOf(name)}-${name}` : name;
  }

  /**
   * The origin's name for a cookie the client sends: this proxy's renamed ones
   * restored; undefined (not forwarded) for any other `cfam-` name and for a
   * prefixed name sent as is, which this proxy never hands out (Chromium lets
   * any page on 127.0.0.1 set `__Host-x; Secure` over http).
   */
  forOrigin(name: string): string | undefined {
    if (SECURE_ONLY_PREFIX.test(name)) return undefined;
    if (!name.startsWith(RENAMED_COOKIE_MARK)) return name;
    const dash = name.indexOf('-', RENAMED_COOKIE_MARK.length);
    if (dash < 0) return undefined;
    const tag = name.slice(RENAMED_COOKIE_MARK.length, dash);
    const original = name.slice(dash + 1);
    if (!TAG.test(tag) || !SECURE_ONLY_PREFIX.test(original)) return undefined;
    return timingSafeEqual(Buffer.from(tag), Buffer.from(this.tagOf(original))) ? original : undefined;
  }

  /**
   * A Cookie header for the origin: names restored; other proxies' and
   * planted ones, the client's own Access cookie (only our credential goes to
   * the origin) and any pair hiding such a name left out (undefined: none
   * left). A header with nothing to change comes back as it was.
   */
  restoreHeader(header: string): string | undefined {
    const pairs: string[] = [];
    let changed = false;
    for (const part of header.split(';')) {
      const pair = part.trim();
      if (!pair) continue;
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq).trimEnd();
      const restored = this.forOrigin(name);
      // A restored name is one the origin set itself; only a name passed as is can hide another.
      if (restored === undefined || smuggles(name, eq < 0 ? '' : pair.slice(eq + 1), restored === name)) {
        changed = true;
        continue;
      }
      if (restored !== name) changed = true;
      pairs.push(restored + (eq < 0 ? '' : pair.slice(eq)));
    }
    if (!pairs.length) return undefined;
    return changed ? pairs.join('; ') : header;
  }

  private tagOf(name: string): string {
    return createHmac('sha256', this.key).update(name).digest('hex').slice(0, TAG_LENGTH);
  }
}
