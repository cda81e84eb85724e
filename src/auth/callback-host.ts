import { isIP } from 'node:net';
/**
 * The two loopback forms of our redirect URI. Access has a separate switch for
 * `localhost` and for loopback IPs, and real applications often allow only one,
 * so a login tries one form and, if registration refuses it, the other.
 */
export const CALLBACK_HOSTS = ['localhost', '127.0.0.1'] as const;
export type CallbackHost = (typeof CALLBACK_HOSTS)[number];

export function isCallbackHost(value: unknown): value is CallbackHost {
  return typeof value === 'string' && (CALLBACK_HOSTS as readonly string[]).includes(value);
}

/** CF_ACCESS_MCP_CALLBACK_HOST: `localhost` or `127.0.0.1`; anything else is reported and ignored. */
export function parseCallbackHost(value: string | undefined): { host?: CallbackHost; problem?: string } {
  const trimmed = value?.trim().toLowerCase();
  if (!trimmed) return {};
  if (isCallbackHost(trimmed)) return { host: trimmed };
  return {
    problem: `CF_ACCESS_MCP_CALLBACK_HOST="${value!.trim().slice(0, 40)}" is neither localhost nor 127.0.0.1; trying localhost first, then 127.0.0.1.`,
  };
}

/** The forms to try, in order: a forced one alone; else the one that worked for this team first, then the other. */
export function callbackHostOrder(forced: CallbackHost | undefined, remembered: unknown): CallbackHost[] {
  if (forced) return [forced];
  const first: CallbackHost = isCallbackHost(remembered) ? remembered : 'localhost';
  return [first, ...CALLBACK_HOSTS.filter((host) => host !== first)];
}

export function callbackUri(host: CallbackHost, port: number): string {
  return `http://${host}:${port}/callback`;
}

/**
 * CF_ACCESS_MCP_CALLBACK_BIND: an IP address for the callback listener (e.g.
 * 0.0.0.0 in a container whose port is forwarded). Loopback by default; the
 * listener still answers only requests addressed to localhost or 127.0.0.1.
 */
export function parseCallbackBind(value: string | undefined): { address?: string; problem?: string } {
  const trimmed = value?.trim();
  if (!trimmed) return {};
  const address = trimmed.replace(/^\[(.*)\]$/, '$1');
  if (isIP(address)) return { address };
  return { problem: `CF_ACCESS_MCP_CALLBACK_BIND="${trimmed.slice(0, 40)}" is not an IP address (e.g. 0.0.0.0); the callback listens on loopback only.` };
}
