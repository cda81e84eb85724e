import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { childEnv } from './child-env.js';

export interface BrowserResult {
  opened: boolean;
  /** Why no browser was opened (for the user, never contains secrets). */
  reason?: string;
  /** The Access team (authorization server host) whose sign-in page this is. */
  team?: string;
  /** Set when we chose not to open it: the team is not trusted yet, or the page is not on an Access team domain. */
  refused?: 'untrusted_team' | 'not_access_domain';
}

/** How long an opener may take to fail before we trust that it showed the page. */
const OPENER_GRACE_MS = 800;

/**
 * Why a browser opened here would not reach the user, if that is so: a Linux
 * machine without a graphical display, or a remote shell (the page would open
 * on the remote machine, not in front of the user). WSL opens the Windows
 * browser, so it counts as local.
 */
export function headlessReason(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string | undefined {
  const hasDisplay = Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
  const isWsl = Boolean(env.WSL_DISTRO_NAME || env.WSL_INTEROP);
  if (env.SSH_CONNECTION || env.SSH_CLIENT || env.SSH_TTY) {
    if (!hasDisplay) return 'this is an SSH session, so a browser would open on the remote machine, not in front of you';
  }
  if (platform === 'linux' && !hasDisplay && !isWsl) return 'no graphical display was found (DISPLAY and WAYLAND_DISPLAY are unset)';
  return undefined;
}

/**
 * Watches a just-started opener for a moment: an opener that cannot start, or
 * exits with an error straight away (xdg-open without any browser), did not
 * show the page. One still running after the grace period, or done with exit
 * code 0, counts as opened.
 */
function settleOpener(child: ChildProcess, what: string): Promise<BrowserResult> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result: BrowserResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.unref();
      resolve(result);
    };
    const timer = setTimeout(() => settle({ opened: true }), OPENER_GRACE_MS);
    child.once('error', (error: NodeJS.ErrnoException) => settle({ opened: false, reason: `${what} failed to start (${error.code ?? error.message})` }));
    child.once('exit', (code, signal) => {
      if (code === 0) settle({ opened: true });
      else settle({ opened: false, reason: `${what} exited with ${code === null ? `signal ${signal}` : `code ${code}`}` });
    });
  });
}

/** The helper that runs the `open` package in its own process (`.ts` when running from source). */
function openerScript(): string | undefined {
  const self = fileURLToPath(import.meta.url);
  const script = self.replace(/browser\.(js|ts)$/, 'open-url.$1');
  return script !== self && existsSync(script) ? script : undefined;
}

/**
 * Opens a URL in the user's browser (we pass our one-time loopback start
 * address, never the authorization URL itself: a command line is readable by
 * every local user). `command` is CF_ACCESS_MCP_BROWSER: split on whitespace,
 * URL appended, run without a shell; `none` opens nothing. Default: the `open`
 * package, unless no browser can be shown here. Every opener gets `childEnv`:
 * no CF_ACCESS_* variables or service-token credentials.
 */
export async function openBrowser(
  url: string,
  command: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): Promise<BrowserResult> {
  const configured = command?.trim();
  if (configured?.toLowerCase() === 'none') return { opened: false, reason: 'CF_ACCESS_MCP_BROWSER is set to "none"' };
  if (configured) {
    const [file, ...args] = configured.split(/\s+/);
    let child: ChildProcess;
    try {
      child = spawn(file!, [...args, url], { stdio: 'ignore', detached: process.platform !== 'win32', shell: false, env: childEnv() });
    } catch (error) {
      return { opened: false, reason: `the browser command failed to start (${(error as Error).message})` };
    }
    return settleOpener(child, 'the browser command (CF_ACCESS_MCP_BROWSER)');
  }
  const headless = headlessReason(env, platform);
  if (headless) return { opened: false, reason: headless };
  if (platform === 'darwin') {
    // The open package lets macOS's `open` inherit our stdio, and our stdout is the MCP stream.
    try {
      return await settleOpener(spawn('open', [url], { stdio: 'ignore', detached: true, shell: false, env: childEnv() }), 'the system browser opener');
    } catch (error) {
      return { opened: false, reason: `the system browser could not be opened (${(error as Error).message})` };
    }
  }
  const script = openerScript();
  if (!script) return { opened: false, reason: 'the browser opener helper (open-url.js) is missing from this installation' };
  try {
    const child = spawn(process.execPath, [...process.execArgv, script, url], { stdio: 'ignore', detached: platform !== 'win32', shell: false, env: childEnv(), windowsHide: true });
    return await settleOpener(child, 'the system browser opener');
  } catch (error) {
    return { opened: false, reason: `the system browser could not be opened (${(error as Error).message})` };
  }
}
