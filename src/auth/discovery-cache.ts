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
import { ResourceMetadataSchema, ServerMetadataSchema } from './schemas.js';
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

  constructor(
    private readonly store: SessionStore,
    private readonly ttlMs: number = DEFAULT_DISCOVERY_TTL_MS,
  ) {}

  /** The fresh discovery at `metadataUrl`: from memory, the store, the request in flight, or `load`. */
  get(metadataUrl: string, target: URL, load: () => Promise<Discovery>): Promise<Discovery> {
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
          await this.store.putDiscovery(metadataUrl, persisted(discovery)).catch(() => {});
          return discovery;
        })
        .finally(() => this.inFlight.delete(metadataUrl));
      this.inFlight.set(metadataUrl, running);
    }
    return running;
  }

  forget(metadataUrl: string): void {
    this.memory.delete(metadataUrl);
    if (this.store.getDiscovery(metadataUrl) !== undefined) void this.store.deleteDiscovery(metadataUrl).catch(() => {});
  }

  private fresh(discovery: Discovery): boolean {
    const age = Date.now() - discovery.at;
    return age >= 0 && age < this.ttlMs;
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
