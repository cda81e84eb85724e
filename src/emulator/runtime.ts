import type { ClassicKeys } from './classic.js';
import type { FaultSwitch } from './faults.js';
import type { AuthState } from './state.js';
import type { EmulatorLiveOptions, LogEntry, Revocation } from './types.js';

export interface ProtectedApp {
  name: 'app' | 'app2';
  /** Origin without trailing slash, e.g. "http://127.0.0.1:41234". */
  url: string;
  /** "127.0.0.1:41234" */
  host: string;
  aud: string;
}

/** Everything the request handlers share. Built once by startEmulator. */
export interface Runtime {
  options: EmulatorLiveOptions;
  apps: { app: ProtectedApp; app2: ProtectedApp };
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

export function appByResource(rt: Runtime, resource: string): ProtectedApp | undefined {
  let origin: string;
  try {
    const url = new URL(resource);
    if (url.pathname !== '/' || url.search !== '' || url.hash !== '') return undefined;
    origin = url.origin;
  } catch {
    return undefined;
  }
  return [rt.apps.app, rt.apps.app2].find((app) => app.url === origin);
}

export function appByHost(rt: Runtime, host: string): ProtectedApp | undefined {
  return [rt.apps.app, rt.apps.app2].find((app) => app.host === host);
}
