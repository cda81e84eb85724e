import type { ClassicKeys } from './classic.js';
import type { FaultSwitch } from './faults.js';
import type { AuthState } from './state.js';
import type { EmulatorLiveOptions, LogEntry, Revocation } from './types.js';

export interface ProtectedApp {
  /** 'app', 'app2', or the path of an application under the app origin (e.g. '/admin'). */
  name: string;
  /** Origin without trailing slash, e.g. "http://127.0.0.1:41234". */
  url: string;
  /** "127.0.0.1:41234" */
  host: string;
  /** '' for a host-wide application, else its path without trailing slash ('/admin'). */
  path: string;
  /** Its RFC 9728 `resource`: the origin, or origin + path for a path application. */
  resource: string;
  aud: string;
}

/** Everything the request handlers share. Built once by startEmulator. */
export interface Runtime {
  options: EmulatorLiveOptions;
  apps: { app: ProtectedApp; app2: ProtectedApp };
  /** Further applications on the app origin, each under its own path (options.pathApps). */
  pathApps: ProtectedApp[];
  plainUrl: string;
  teamUrl: string;
  teamHost: string;
  state: AuthState;
  keys: ClassicKeys;
  faults: FaultSwitch;
  log: LogEntry[];
  revocations: Revocation[];
  /** Aborted when the emulator closes, so pending delays end promptly. */
  closing: AbortSignal;
}

/** Every application, host-wide ones first. */
export function allApps(rt: Runtime): ProtectedApp[] {
  return [rt.apps.app, rt.apps.app2, ...rt.pathApps];
}

/** Does `pathname` fall under an application path ('' covers everything)? Whole segments only. */
export function underPath(appPath: string, pathname: string): boolean {
  return appPath === '' || pathname === appPath || pathname.startsWith(appPath + '/');
}

/** The application serving `pathname` on `base`'s origin: the most specific path wins (nothing is inherited). */
export function appForPath(rt: Runtime, base: ProtectedApp, pathname: string): ProtectedApp {
  let best = base;
  for (const app of rt.pathApps) {
    if (app.url === base.url && underPath(app.path, pathname) && app.path.length > best.path.length) best = app;
  }
  return best;
}

export function appByResource(rt: Runtime, resource: string): ProtectedApp | undefined {
  let key: string;
  try {
    const url = new URL(resource);
    if (url.search !== '' || url.hash !== '') return undefined;
    key = url.origin + url.pathname.replace(/\/+$/, '');
  } catch {
    return undefined;
  }
  return allApps(rt).find((app) => app.resource === key);
}

export function appByHost(rt: Runtime, host: string, aud?: string | null): ProtectedApp | undefined {
  if (aud) {
    const byAud = allApps(rt).find((app) => app.host === host && app.aud === aud);
    if (byAud) return byAud;
  }
  return [rt.apps.app, rt.apps.app2].find((app) => app.host === host);
}

/** Does this application's policy refuse the (only) user? options.deny lists app names ('app', 'app2', '/admin'). */
export function policyDenies(rt: Runtime, app: ProtectedApp): boolean {
  return rt.options.deny.includes(app.name);
}

/** Does Access refuse a signed-in request to this application (its policy, or a rule checked only per request: options.denyRequests)? */
export function requestDenied(rt: Runtime, app: ProtectedApp): boolean {
  return policyDenies(rt, app) || rt.options.denyRequests.includes(app.name);
}
