import { spawn } from 'node:child_process';

export interface BrowserResult {
  opened: boolean;
  /** Why no browser was opened (for the user, never contains secrets). */
  reason?: string;
}

/** Linux without a display, or a remote shell: `open` would "succeed" and show nothing. */
export function headlessReason(env: NodeJS.ProcessEnv = process.env, platform = process.platform): string | undefined {
  const hasDisplay = Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
  if (platform === 'linux' && !hasDisplay && !env.WSL_DISTRO_NAME) return 'no graphical display was found (DISPLAY/WAYLAND_DISPLAY unset)';
  if ((env.SSH_CONNECTION || env.SSH_TTY) && !hasDisplay && platform !== 'darwin') return 'this is an SSH session without a display';
  return undefined;
}

/**
 * Opens the authorization URL. `command` is CF_ACCESS_MCP_BROWSER: split on
 * whitespace, URL appended, run without a shell; `none` opens nothing.
 * Default: the `open` package, unless no browser can be shown here.
 */
export async function openBrowser(url: string, command: string | undefined): Promise<BrowserResult> {
  const configured = command?.trim();
  if (configured === 'none') return { opened: false, reason: 'CF_ACCESS_MCP_BROWSER is set to "none"' };
  if (configured) {
    const [file, ...args] = configured.split(/\s+/);
    return new Promise((resolve) => {
      const child = spawn(file!, [...args, url], { stdio: 'ignore', detached: process.platform !== 'win32', shell: false });
      child.once('error', (error) => resolve({ opened: false, reason: `the browser command failed to start (${(error as NodeJS.ErrnoException).code ?? error.message})` }));
      child.once('spawn', () => {
        child.unref();
        resolve({ opened: true });
      });
    });
  }
  const headless = headlessReason();
  if (headless) return { opened: false, reason: headless };
  try {
    const { default: open } = await import('open');
    const child = await open(url, { wait: false });
    child.once('error', () => {});
    child.unref?.();
    return { opened: true };
  } catch (error) {
    return { opened: false, reason: `the system browser could not be opened (${(error as Error).message})` };
  }
}
