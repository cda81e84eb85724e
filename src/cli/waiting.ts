import { createInterface, type Interface } from 'node:readline';
import { AccessError } from '../core/errors.js';
import type { LoginInProgress as PendingLogin } from '../auth/login-method.js';
import type { AccessService, LoginHooks } from '../service/access-service.js';
import { forPeople } from './output.js';
import { appLabel } from '../auth/app-key.js';
import { step } from '../core/next-step.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const PLAIN_REMINDER_MS = 30_000;

export interface WaitDisplayOptions {
  service: AccessService;
  /** The URL the command was given (paste-back completes the pending login of the origin actually being logged in to). */
  url: string;
  /** Read a pasted callback address from stdin even when a browser was opened. */
  paste: boolean;
  signal: AbortSignal;
}

export interface WaitDisplay {
  hooks: LoginHooks;
  /** Stops the spinner, reminders and stdin reader; clears the spinner line. */
  stop(): void;
}

function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * A sign-in begun by a process that is gone, which this one took over: no
 * browser was opened here. When that process's browser loaded the start
 * address, only that browser completes it; a fresh sign-in needs --force.
 */
function resumedText(pending: PendingLogin, host: string, resumed: NonNullable<PendingLogin['resumed']>): string {
  const took = `No browser was opened: this command took over the sign-in to ${host} that cf-access-mcp process ${resumed.pid} began (that process is gone), and listens for it while it waits.`;
  if (!resumed.cookie) return `${took} To sign in, visit:\n  ${pending.authorizationUrl}`;
  return (
    `${took}\nIt completes only in the browser process ${resumed.pid} opened (any window of it); its link, opened in any other browser, is refused ("This browser did not start this sign-in"):\n  ${pending.authorizationUrl}\n` +
    `If that browser is closed, press Ctrl-C and ${forPeople(step('login', { url: pending.key, force: true }))} to start a fresh sign-in.`
  );
}

/**
 * What a person sees while a login is pending: the URL, then on a terminal a
 * spinner with the elapsed time, otherwise plain lines (all on stderr). When
 * no browser could be opened here (or with --paste), it also reads the address
 * the browser ended on from stdin and completes the login with it.
 */
export function waitDisplay(options: WaitDisplayOptions): WaitDisplay {
  const out = process.stderr;
  const tty = Boolean(out.isTTY);
  const shown = new Set<string>();
  let spinner: NodeJS.Timeout | undefined;
  let reminder: NodeJS.Timeout | undefined;
  let reader: Interface | undefined;
  let spinnerLine = false;

  const clearSpinner = () => {
    if (spinnerLine) out.write('\r\x1b[2K');
    spinnerLine = false;
  };
  const say = (text: string) => {
    clearSpinner();
    out.write(`${text}\n`);
  };

  // The origin whose login a pasted address completes (a fetch may be redirected to another protected origin).
  let pasteOrigin = options.url;
  const startPasteReader = () => {
    if (reader) return;
    reader = createInterface({ input: process.stdin, terminal: false, crlfDelay: Infinity });
    reader.on('line', (line) => {
      const pasted = line.trim();
      if (!pasted) return;
      options.service.completeFromCallbackUrl({ url: pasteOrigin, callback_url: pasted, wait_seconds: 0 }).then(
        () => say('Address accepted; finishing the login…'),
        (error: unknown) => {
          // Other failures (denied, token exchange) end the login itself and are reported by the command.
          if (error instanceof AccessError && error.code === 'callback_failed') {
            say(`${forPeople(error.message)}\nPaste the complete address again, or press Ctrl-C to stop.`);
          }
        },
      );
    });
    reader.on('error', () => {});
  };

  // The login shown, and who ran it then: a login followed in another process becomes this process's when that one goes.
  let current: PendingLogin | undefined;
  let shownSource: PendingLogin['source'];

  const onLoginUrl = (pending: PendingLogin) => {
    const seen = `${pending.source} ${pending.authorizationUrl}`;
    if (shown.has(seen)) return;
    shown.add(seen);
    current = pending;
    shownSource = pending.source;
    // The application (host, plus its path when it lives under one): /admin and / of one host are different sign-ins.
    const host = appLabel(pending.key);
    const started = Date.now();
    const pasteMode = options.paste || (pending.source === 'this-process' && !pending.browser.opened);
    // The application's key, not its origin: a login to /admin is not found under the host's root.
    pasteOrigin = pending.key;
    stopTimers();
    if (pending.source !== 'this-process') {
      // Another process sharing the store runs this sign-in (an MCP server, another terminal): we opened nothing.
      say(`Another cf-access-mcp process is already signing in to ${host}; this command waits for it. To sign in, visit:\n  ${pending.authorizationUrl}`);
    } else if (pending.resumed) {
      say(resumedText(pending, host, pending.resumed));
    } else if (pending.browser.opened) {
      say(`A browser window was opened to sign in to ${host}. If none appeared, visit:\n  ${pending.authorizationUrl}`);
    } else {
      say(`No browser could be opened here${pending.browser.reason ? ` (${pending.browser.reason})` : ''}.\nOpen this address in a browser to sign in to ${host}:\n  ${pending.authorizationUrl}`);
    }
    if (pasteMode) {
      const callback = pending.redirectUri ?? options.service.callback.redirectUri ?? 'http://localhost:<port>/callback';
      const port = /:(\d+)\//.exec(callback)?.[1];
      say(
        `After you sign in, the browser goes to ${callback}?… — if that page does not load (the browser is on another machine),\n` +
          'copy the whole address from its address bar, paste it here and press Enter.' +
          (port ? `\nOr forward port ${port} before signing in (ssh -L ${port}:localhost:${port} <this host>, or VS Code port forwarding) and the login completes by itself.` : ''),
      );
      startPasteReader();
    }
    if (tty && !pasteMode) {
      let frame = 0;
      const render = () => {
        out.write(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} Waiting for you to sign in to ${host} · ${clock(Date.now() - started)} · Ctrl-C to stop`);
        spinnerLine = true;
      };
      render();
      spinner = setInterval(render, 100);
    } else {
      say(`Waiting for the login to ${host}…`);
      reminder = setInterval(() => say(`Still waiting for the login to ${host} (${clock(Date.now() - started)} so far): ${pending.authorizationUrl}`), PLAIN_REMINDER_MS);
    }
    spinner?.unref();
    reminder?.unref();
  };

  const stopTimers = () => {
    if (spinner) clearInterval(spinner);
    if (reminder) clearInterval(reminder);
    spinner = reminder = undefined;
    clearSpinner();
  };

  /**
   * The process whose login this command waited for stopped listening (a login --wait that ran out, Ctrl-C, killed):
   * this process now runs the login, a new one or theirs taken over. Tell the person, with what to do now.
   */
  const onTick = () => {
    if (!current || shownSource !== 'other-process' || current.source !== 'this-process') return;
    const host = appLabel(current.key);
    say(
      current.resumed
        ? `The cf-access-mcp process that was signing in to ${host} is gone.`
        : `The cf-access-mcp process that was signing in to ${host} stopped listening, so its link no longer works; this command started a new sign-in.`,
    );
    onLoginUrl(current);
  };

  return {
    hooks: { signal: options.signal, onLoginUrl, onTick },
    stop: () => {
      stopTimers();
      reader?.close();
      reader = undefined;
    },
  };
}
