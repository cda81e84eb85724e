import type { AccessService } from '../service/access-service.js';

/** ok: works; info: worth knowing; warn: may cause trouble; fail: will stop a login or fetch. */
export type Level = 'ok' | 'info' | 'warn' | 'fail';

/** One thing doctor found, with what to do about it. Never holds a secret. */
export interface Finding {
  /** The check that produced it: network, proxy, access, clock, cloudflared, service_token, store. */
  check: string;
  /** A stable name (see README "doctor"), e.g. `dns_failed`, `resource_refused`. */
  name: string;
  level: Level;
  summary: string;
  fix?: string;
}

export interface DoctorContext {
  url: URL;
  service: AccessService;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

export function finding(check: string, name: string, level: Level, summary: string, fix?: string): Finding {
  return fix === undefined ? { check, name, level, summary } : { check, name, level, summary, fix };
}
