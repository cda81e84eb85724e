import { pathUnder, type AppKey } from '../auth/app-key.js';
import { SecretNeedles } from '../core/secret-scrubber.js';
import type { AccessService } from '../service/access-service.js';
import { credentialSecretsFor } from '../service/credentials.js';

/** The credential one request carries, ready to use: headers as returned and lower-cased, and the scrub patterns for its secrets. */
export interface Lease {
  key: AppKey;
  /** As the service returned them (what a renewal is told was refused). */
  headers: Record<string, string>;
  /** Lower-cased names, as Node gives the client's headers. */
  lowered: Record<string, string>;
  secrets: readonly string[];
  needles: SecretNeedles;
}

/** How long a lease is used without looking at the store again (a logout or refresh by another process is seen within this). */
const RECHECK_MS = 1000;

/**
 * The proxy's credential per Access application, held in memory: looking it
 * up in the store, with its file check and key matching, on every request
 * cost more than forwarding the request. A lease is used until the token is
 * due for refresh, at most a second before the store is looked at again, and
 * dropped at once when Access refuses it.
 */
export class CredentialLeases {
  private readonly leases = new Map<AppKey, { lease: Lease; until: number }>();
  private keys: { list: Array<{ key: AppKey; path: string }>; until: number } = { list: [], until: 0 };

  constructor(
    private readonly svc: AccessService,
    private readonly origin: string,
  ) {}

  /** The credential for a URL on the proxy's origin ({} headers when there is none yet: not signed in). */
  async leaseFor(url: URL): Promise<Lease> {
    const held = this.cached(url);
    if (held) return held;
    this.keys.until = 0;
    const headers = await this.svc.credentialsFor(url);
    return this.hold(url, headers, Date.now());
  }

  /** The lease held for the URL's application while it is fresh, found without waiting (undefined: look it up with leaseFor). */
  cached(url: URL): Lease | undefined {
    const now = Date.now();
    const held = this.leases.get(this.keyFor(url, now));
    return held && now < held.until ? held.lease : undefined;
  }

  /** Remembers credential headers just obtained (after a renewal) for the URL's application. */
  hold(url: URL, headers: Record<string, string>, now = Date.now()): Lease {
    const key = this.keyFor(url, now);
    const lowered = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
    // What we hold for the application now and what this lease carries (a refresh may have happened in between).
    const carried = [lowered.authorization?.replace(/^Bearer\s+/i, ''), lowered['cf-access-token']].filter((v): v is string => v !== undefined);
    const secrets = [...new Set([...credentialSecretsFor(this.svc, url), ...carried])].filter((s) => s.length >= 8).sort((a, b) => b.length - a.length);
    const lease: Lease = { key, headers, lowered, secrets, needles: new SecretNeedles(secrets) };
    if (Object.keys(headers).length === 0) return lease;
    const expiresAt = this.svc.store.getSession(key)?.expires_at;
    const until = Math.min(now + RECHECK_MS, expiresAt === undefined ? Infinity : expiresAt - this.svc.config.refreshSkewMs);
    this.leases.set(key, { lease, until });
    return lease;
  }

  /** Access refused this lease (or the user logged out): the next request looks again. */
  drop(key?: AppKey): void {
    if (key === undefined) this.leases.clear();
    else this.leases.delete(key);
    this.keys.until = 0;
  }

  /** The application serving the URL, as the store's appKeyFor decides it, from a key list read at most once a second. */
  private keyFor(url: URL, now: number): AppKey {
    if (now >= this.keys.until) {
      const list = Object.keys(this.svc.store.read().sessions)
        .filter((key) => key === this.origin || key.startsWith(`${this.origin}/`))
        .map((key) => ({ key, path: key.slice(this.origin.length).replace(/\/+$/, '') }))
        .sort((a, b) => b.path.length - a.path.length);
      this.keys = { list, until: now + RECHECK_MS };
    }
    return this.keys.list.find((k) => pathUnder(k.path, url.pathname))?.key ?? this.origin;
  }
}
