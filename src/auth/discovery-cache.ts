/**
 * Discovery results (resource and authorization server metadata) per resource
 * metadata URL, i.e. per Access application: one request pair however many callers ask at once (they share the
 * request in flight), kept in memory and in the store for a while so that a
 * new process re-logs in without discovering again. An entry is dropped when
 * a later step fails with it, and never outlives its TTL.
 */
import { z } from 'zod';
import { appKeyOf } from './app-key.js';
import { authorizationServerOf } from './discovery.js';
import type { Discovery } from './oauth-login.js';
import { ResourceMetadataSchema, ServerMetadataSchema, type ServerMetadata } from './schemas.js';
import type { SessionStore } from './store.js';

export const DEFAULT_DISCOVERY_TTL_MS = 10 * 60_000;

/** How a discovery is kept in the store (no secrets: both documents are public). */
const PersistedDiscoverySchema = z.object({
  resource: z.string(),
  resource_metadata: ResourceMetadataSchema,
  authorization_server: z.string(),
  server_metadata: ServerMetadataSchema,
  at: z.number(),
});

export class DiscoveryCache {
  private readonly memory = new Map<string, Discovery>();
  private readonly inFlight = new Map<string, Promise<Discovery>>();
  /**
   * Server metadata per application origin and authorization server: the
   * resource metadata URL mirrors the request path, so each path of an
   * application is a discovery of its own, but they all name the same server.
   * (Not shared across origins: each application's discovery stands alone.)
   */
  private readonly servers = new Map<string, { server: ServerMetadata; at: number }>();
  private readonly serversInFlight = new Map<string, Promise<ServerMetadata>>();

  constructor(
    private readonly store: SessionStore,
    private readonly ttlMs: number = DEFAULT_DISCOVERY_TTL_MS,
  ) {}

  /** The fresh discovery at `metadataUrl`: from memory, the store, the request in flight, or `load`. */
  get(metadataUrl: string, target: URL, load: () => Promise<Discovery>): Promise<Discovery> {
    // Metadata on another origin is never taken from the cache: loading it is refused with the reason.
    if (!sameOrigin(metadataUrl, target)) return load();
    const known = this.memory.get(metadataUrl) ?? this.fromStore(metadataUrl, target);
    if (known && this.fresh(known)) {
      this.memory.set(metadataUrl, known);
      return Promise.resolve(known);
    }
    let running = this.inFlight.get(metadataUrl);
    if (!running) {
      running = load()
        .then(async (discovery) => {
          this.memory.set(metadataUrl, discovery);
          // Entries past their TTL are never used again: dropped here, or the store grows with every path ever challenged.
          await this.store.putDiscovery(metadataUrl, persisted(discovery), (entry) => !this.fresh({ at: storedAt(entry) })).catch(() => {});
          return discovery;
        })
        .finally(() => this.inFlight.delete(metadataUrl));
      this.inFlight.set(metadataUrl, running);
    }
    return running;
  }

  /** The fresh server metadata of `authorizationServer` for `target`'s origin: from memory, a stored discovery of another path there, the request in flight, or `load`. */
  server(authorizationServer: URL, target: URL, load: () => Promise<ServerMetadata>): Promise<ServerMetadata> {
    const key = `${target.origin} ${authorizationServer.href}`;
    const known = this.servers.get(key) ?? this.serverFromStore(target.origin, authorizationServer.href);
    if (known && this.fresh(known)) {
      this.servers.set(key, known);
      return Promise.resolve(known.server);
    }
    let running = this.serversInFlight.get(key);
    if (!running) {
      const at = Date.now();
      running = load()
        .then((server) => {
          this.servers.set(key, { server, at });
          return server;
        })
        .finally(() => this.serversInFlight.delete(key));
      this.serversInFlight.set(key, running);
    }
    return running;
  }

  /** A later step failed with this discovery: it is dropped, and so is the server metadata it used (with every discovery of that origin that holds it). */
  forget(metadataUrl: string): void {
    const origin = originOf(metadataUrl);
    const server = this.memory.get(metadataUrl)?.authorizationServer.href ?? this.fromStoreUnchecked(metadataUrl)?.authorization_server;
    const sharesIt = (url: string, held: string | undefined) => url === metadataUrl || (server !== undefined && held === server && originOf(url) === origin);
    for (const [url, discovery] of this.memory) if (sharesIt(url, discovery.authorizationServer.href)) this.memory.delete(url);
    if (server !== undefined) this.servers.delete(`${origin} ${server}`);
    for (const url of this.store.discoveryUrls()) if (sharesIt(url, this.fromStoreUnchecked(url)?.authorization_server)) void this.store.deleteDiscovery(url).catch(() => {});
  }

  private fresh(discovery: { at: number }): boolean {
    const age = Date.now() - discovery.at;
    return age >= 0 && age < this.ttlMs;
  }

  private fromStoreUnchecked(metadataUrl: string): z.infer<typeof PersistedDiscoverySchema> | undefined {
    const parsed = PersistedDiscoverySchema.safeParse(this.store.getDiscovery(metadataUrl));
    return parsed.success ? parsed.data : undefined;
  }

  /** The newest stored server metadata of this authorization server among the discoveries of `origin` (fetched from it and checked then). */
  private serverFromStore(origin: string, authorizationServer: string): { server: ServerMetadata; at: number } | undefined {
    let newest: { server: ServerMetadata; at: number } | undefined;
    for (const url of this.store.discoveryUrls()) {
      if (originOf(url) !== origin) continue;
      const entry = this.fromStoreUnchecked(url);
      if (entry?.authorization_server === authorizationServer && (!newest || entry.at > newest.at)) newest = { server: entry.server_metadata, at: entry.at };
    }
    return newest;
  }

  /** A stored entry, checked as when it was fetched (its authorization server must still be the one its metadata names). */
  private fromStore(metadataUrl: string, target: URL): Discovery | undefined {
    const parsed = PersistedDiscoverySchema.safeParse(this.store.getDiscovery(metadataUrl));
    if (!parsed.success) return undefined;
    const entry = parsed.data;
    try {
      const authorizationServer = authorizationServerOf(entry.resource_metadata, target);
      if (authorizationServer.href !== entry.authorization_server || new URL(entry.resource_metadata.resource).origin !== target.origin) return undefined;
      return {
        origin: target.origin,
        app: appKeyOf(entry.resource, target),
        metadataUrl,
        resource: entry.resource,
        resourceMetadata: entry.resource_metadata,
        authorizationServer,
        server: entry.server_metadata,
        at: entry.at,
      };
    } catch {
      return undefined;
    }
  }
}

function persisted(discovery: Discovery): z.infer<typeof PersistedDiscoverySchema> {
  return {
    resource: discovery.resource,
    resource_metadata: discovery.resourceMetadata,
    authorization_server: discovery.authorizationServer.href,
    server_metadata: discovery.server,
    at: discovery.at,
  };
}

/** When a stored entry was fetched (0 when unreadable: then it is stale). */
function storedAt(entry: unknown): number {
  const at = (entry as { at?: unknown } | null)?.at;
  return typeof at === 'number' ? at : 0;
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

function sameOrigin(url: string, target: URL): boolean {
  try {
    return new URL(url).origin === target.origin;
  } catch {
    return false;
  }
}
