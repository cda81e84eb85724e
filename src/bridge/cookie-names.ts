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

/** A Cookie header naming a cookie the proxy renames or leaves out (the others pass unparsed). */
export const COOKIES_TO_CHECK = /(?:^|;)\s*(?:cfam-|__(?:host|secure|http)-)/i;

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

  /** A Cookie header for the origin: names restored, other proxies' and planted ones left out (undefined: none left). */
  restoreHeader(header: string): string | undefined {
    const pairs: string[] = [];
    for (const part of header.split(';')) {
      const pair = part.trim();
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq).trimEnd();
      const restored = this.forOrigin(name);
      if (restored !== undefined && pair) pairs.push(restored + (eq < 0 ? '' : pair.slice(eq)));
    }
    return pairs.length ? pairs.join('; ') : undefined;
  }

  private tagOf(name: string): string {
    return createHmac('sha256', this.key).update(name).digest('hex').slice(0, TAG_LENGTH);
  }
}
