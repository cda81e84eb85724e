import type { EmulatorLiveOptions } from './types.js';

/** Whether the account's switches allow this loopback redirect URI's host form ([::1] counts as a loopback IP). */
export function redirectHostAllowed(options: Pick<EmulatorLiveOptions, 'redirectHosts'>, hostname: string): boolean {
  if (options.redirectHosts === 'both') return true;
  if (options.redirectHosts === 'localhost') return hostname === 'localhost';
  return hostname === '127.0.0.1' || hostname === '[::1]';
}
