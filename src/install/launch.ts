import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Launch } from './clients.js';

export const NPX_LAUNCH: Launch = { command: 'npx', args: ['-y', 'cf-access-mcp'], viaNpx: true };

/**
 * How a client should start the server this command belongs to: this Node
 * and this installation's entry point, by absolute path (clients started from
 * a desktop do not see your shell's PATH). Run through npx, whose cache is
 * temporary, the entry says `npx -y cf-access-mcp` instead.
 */
export function thisInstallation(): Launch {
  const entry = realpathSync(fileURLToPath(new URL('../index.js', import.meta.url)));
  if (/[\\/]_npx[\\/]/.test(entry)) return NPX_LAUNCH;
  return { command: process.execPath, args: [entry], viaNpx: false };
}
