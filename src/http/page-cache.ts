/**
 * Converted pages kept for a short while, so that reading a long page to its
 * end (start_index 20000, 40000, …) converts it once and costs one MCP hop per
 * page instead of a request and a conversion each. Bounded by characters held
 * (least recently used first out) and by age. Each entry belongs to one
 * application's credential (see credentialOf in service/fetch-cache.ts): it
 * is never served under another, and a logout drops that application's entries.
 */
export interface CacheEntry<T> {
  /** Who may see it: the application (origin) and the credential it was fetched with. */
  application: string;
  /** The origin whose logout drops it. */
  origin: string;
  value: T;
  /** Characters held (text and metadata), the unit of the bound. */
  size: number;
  storedAt: number;
}

export interface PageCacheLimits {
  /** Characters held in all, default 16 M (about 32 MB of UTF-16). */
  maxChars: number;
  /** An entry is used for this long after it was fetched. */
  ttlMs: number;
}

export const DEFAULT_PAGE_CACHE_LIMITS: PageCacheLimits = { maxChars: 16 * 1024 * 1024, ttlMs: 5 * 60_000 };

export class PageCache<T> {
  /** Insertion order is recency order: a hit moves its entry to the end. */
  private readonly entries = new Map<string, CacheEntry<T>>();
  private held = 0;

  constructor(private readonly limits: PageCacheLimits = DEFAULT_PAGE_CACHE_LIMITS) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string, application: string, now = Date.now()): T | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (now - entry.storedAt > this.limits.ttlMs) {
      this.delete(key);
      return undefined;
    }
    // The key names the application already; checked again so that no caller can get this wrong.
    if (entry.application !== application) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, entry: Omit<CacheEntry<T>, 'storedAt'>, now = Date.now()): void {
    this.delete(key);
    if (entry.size > this.limits.maxChars / 2) return; // one huge page must not empty the cache
    this.entries.set(key, { ...entry, storedAt: now });
    this.held += entry.size;
    for (const [oldest, old] of this.entries) {
      if (this.held <= this.limits.maxChars && now - old.storedAt <= this.limits.ttlMs) break;
      this.delete(oldest);
    }
  }

  /** Drops every entry fetched with a credential of `origin` (its logout), or every entry. */
  clear(origin?: string): void {
    for (const [key, entry] of this.entries) if (origin === undefined || entry.origin === origin) this.delete(key);
  }

  private delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.held -= entry.size;
  }
}
