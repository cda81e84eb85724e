import { appLabel, type AppKey } from '../auth/app-key.js';
import { AccessError, isAccessError } from '../core/errors.js';
import type { AccessService } from '../service/access-service.js';
import { AccessProxy } from './proxy.js';

export interface ProxyInfo {
  /** The Access application (origin, or origin + path) whose credential the proxy serves. */
  application: string;
  origin: string;
  base_url: string;
  started_at: string;
  requests: number;
  /** Seconds without use after which it stops; absent: it lives as long as the server. */
  idle_timeout_seconds?: number;
  /** When it stops if still unused (with an idle timeout). */
  stops_at?: string;
}

export interface ProxyStart {
  port?: number;
  loginWaitSeconds: number;
  idleSeconds?: number;
  /** The caller asked for `idleSeconds` (else it is only the default of a new proxy): a running proxy takes it too. */
  idleRequested?: boolean;
}

export interface ProxyStarted {
  proxy: AccessProxy;
  reused: boolean;
  /** A running proxy took the requested idle timeout. */
  idleChanged?: boolean;
  /** The address of the proxy this one replaced (another port was asked for); it has stopped. */
  replaced?: string;
}

/** How long a proxy lives, in words (the tool result and status say it). */
export function lifetimeOf(proxy: AccessProxy): string {
  const idle = proxy.idleSeconds;
  return idle === undefined
    ? 'as long as this MCP server, until access_logout for the application'
    : `until it has been unused for ${idle} s (idle timeout), this MCP server exits, or access_logout for the application`;
}

/**
 * The proxies this server process runs, one per Access application (a proxy
 * for https://host/admin is the /admin application's, not the host's). They
 * live as long as the process, until their idle timeout, or until access_logout.
 */
export class ProxyRegistry {
  private readonly proxies = new Set<Promise<AccessProxy>>();

  constructor(private readonly svc: AccessService) {}

  /**
   * The running proxy of the URL's application, or a new one. The address an
   * agent already uses stays: a running proxy is returned (taking a requested
   * idle timeout), and is replaced only when another port is asked for, once
   * the new one listens (a port that cannot be had leaves it running).
   */
  async start(url: string, options: ProxyStart): Promise<ProxyStarted> {
    // The application as Access named it, signed in or not: a pending /admin login is not the / proxy's.
    const key = this.svc.applicationFor(new URL(url));
    const running = (await this.running()).find((p) => p.appKey === key);
    if (running && (options.port === undefined || new URL(running.baseUrl).port === String(options.port))) {
      const idleChanged = options.idleRequested === true && running.idleSeconds !== options.idleSeconds;
      if (idleChanged) running.setIdleSeconds(options.idleSeconds);
      return { proxy: running, reused: true, idleChanged };
    }
    const starting = AccessProxy.start(this.svc, url, { ...options, onIdle: (proxy) => this.forget(proxy) });
    this.proxies.add(starting);
    starting.catch(() => this.proxies.delete(starting));
    let proxy: AccessProxy;
    try {
      proxy = await starting;
    } catch (error) {
      if (!running || !isAccessError(error)) throw error;
      throw new AccessError(error.code, `${error.message} The proxy already running for ${appLabel(key)}, ${running.baseUrl}, keeps running.`, error.nextStep, { cause: error });
    }
    if (running) await this.stopProxy(running);
    return { proxy, reused: false, ...(running ? { replaced: running.baseUrl } : {}) };
  }

  async list(): Promise<ProxyInfo[]> {
    return (await this.running()).map((p) => ({
      application: appLabel(p.appKey),
      origin: p.origin,
      base_url: p.baseUrl,
      started_at: new Date(p.startedAt).toISOString(),
      requests: p.requests,
      ...(p.idleSeconds === undefined ? {} : { idle_timeout_seconds: p.idleSeconds, stops_at: p.stopsAt!.toISOString() }),
    }));
  }

  /**
   * Stops the proxy of the application serving `url`. `key` is that
   * application when the caller worked it out before its session was deleted
   * (a logout), since afterwards the store no longer tells it. Returns the
   * applications whose proxy stopped.
   */
  async stopFor(url: URL, key: AppKey = this.svc.store.appKeyFor(url)): Promise<string[]> {
    const stopped: string[] = [];
    for (const proxy of await this.running()) {
      // Its application now, or (the session gone) the application its URL was under, unless a more specific one still has a session.
      const current = proxy.appKey;
      if (current !== key && !(proxyServes(proxy, key) && current.length <= key.length)) continue;
      stopped.push(appLabel(key));
      await this.stopProxy(proxy);
    }
    return stopped;
  }

  async stopAll(): Promise<string[]> {
    const stopped: string[] = [];
    for (const proxy of await this.running()) {
      stopped.push(appLabel(proxy.appKey));
      await this.stopProxy(proxy);
    }
    return stopped;
  }

  private async running(): Promise<AccessProxy[]> {
    const all = await Promise.all([...this.proxies].map((p) => p.catch(() => undefined)));
    return all.filter((p): p is AccessProxy => p !== undefined);
  }

  private forget(proxy: AccessProxy): void {
    for (const entry of this.proxies) void entry.then((p) => p === proxy && this.proxies.delete(entry), () => {});
  }

  private async stopProxy(proxy: AccessProxy): Promise<void> {
    this.forget(proxy);
    await proxy.close();
  }
}

/** After a logout the store no longer names the application: a proxy started for a URL under it is the one. */
function proxyServes(proxy: AccessProxy, key: AppKey): boolean {
  const app = new URL(key);
  const path = app.pathname.replace(/\/+$/, '');
  return proxy.origin === app.origin && (path === '' || proxy.target.pathname === path || proxy.target.pathname.startsWith(`${path}/`));
}

const registries = new WeakMap<AccessService, ProxyRegistry>();

/** The proxy registry of a service (one per MCP server process). */
export function proxiesOf(svc: AccessService): ProxyRegistry {
  let registry = registries.get(svc);
  if (!registry) registries.set(svc, (registry = new ProxyRegistry(svc)));
  return registry;
}
