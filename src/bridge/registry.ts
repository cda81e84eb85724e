import type { AccessService } from '../service/access-service.js';
import { AccessProxy } from './proxy.js';

export interface ProxyInfo {
  origin: string;
  base_url: string;
  started_at: string;
  requests: number;
}

/** The proxies this server process runs (one per application origin); they live as long as the process, or until access_logout. */
export class ProxyRegistry {
  private readonly proxies = new Map<string, Promise<AccessProxy>>();

  constructor(private readonly svc: AccessService) {}

  /** The running proxy for the URL's origin, or a new one (on `port` when given; a running one on another port is replaced). */
  async start(url: string, options: { port?: number; loginWaitSeconds: number }): Promise<{ proxy: AccessProxy; reused: boolean }> {
    const origin = new URL(url).origin;
    const running = await this.proxies.get(origin)?.catch(() => undefined);
    if (running && (options.port === undefined || new URL(running.baseUrl).port === String(options.port))) return { proxy: running, reused: true };
    if (running) await this.stop(origin);
    const starting = AccessProxy.start(this.svc, url, options);
    this.proxies.set(origin, starting);
    starting.catch(() => this.proxies.delete(origin));
    return { proxy: await starting, reused: false };
  }

  async list(): Promise<ProxyInfo[]> {
    const running = await Promise.all([...this.proxies.values()].map((p) => p.catch(() => undefined)));
    return running
      .filter((p): p is AccessProxy => p !== undefined)
      .map((p) => ({ origin: p.origin, base_url: p.baseUrl, started_at: new Date(p.startedAt).toISOString(), requests: p.requests }));
  }

  /** Stops the proxy of this origin; true when one was running. */
  async stop(origin: string): Promise<boolean> {
    const proxy = await this.proxies.get(origin)?.catch(() => undefined);
    this.proxies.delete(origin);
    await proxy?.close();
    return proxy !== undefined;
  }

  async stopAll(): Promise<string[]> {
    const origins = [...this.proxies.keys()];
    for (const origin of origins) await this.stop(origin);
    return origins;
  }
}

const registries = new WeakMap<AccessService, ProxyRegistry>();

/** The proxy registry of a service (one per MCP server process). */
export function proxiesOf(svc: AccessService): ProxyRegistry {
  let registry = registries.get(svc);
  if (!registry) registries.set(svc, (registry = new ProxyRegistry(svc)));
  return registry;
}
