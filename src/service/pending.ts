import { z } from 'zod';
import type { BrowserResult } from '../auth/browser.js';
import { AccessError } from '../core/errors.js';
import { appLabel } from '../auth/app-key.js';
import { SessionMethodSchema, type SessionMethod } from '../auth/methods.js';
import { step } from '../core/next-step.js';

/**
 * A login that waits for the user in the browser. Every tool and the CLI
 * report it from this one shape, so a pending login reads the same whether
 * a fetch or a login call ran into it.
 */
export const PendingLoginSchema = z.object({
  status: z.literal('pending'),
  host: z.string(),
  method: SessionMethodSchema,
  /** The sign-in page; absent only while cloudflared has not printed its URL yet. */
  login_url: z.string().optional(),
  expires_at: z.string(),
  browser_opened: z.boolean(),
  message: z.string(),
  next_step: z.string(),
});
export type PendingLoginResult = z.infer<typeof PendingLoginSchema>;

/** What a login method knows about its pending login, whichever method it is. */
export interface PendingFacts {
  /** The application (see app-key.ts). */
  origin: string;
  method: SessionMethod;
  authorizationUrl: string;
  expiresAt: number;
  browser: BrowserResult;
  /** An earlier login for the same site that expired; its link no longer works. */
  replaced?: { authorizationUrl: string; expiredAt: number };
  /** Why the previous session could not be renewed (see refresh-note.ts), told when a new sign-in is needed. */
  refreshNote?: string;
  /** Taken over from the process that began it, now gone (see takeover.ts): its browser, not ours; with `cookie`, only that browser completes it. */
  resumed?: { pid: number; cookie: boolean };
}

export interface PendingContext {
  /** The caller stopped waiting (cancelled); the login itself goes on. */
  cancelled?: boolean;
  /** The loopback callback address, named when the browser may be on another machine. */
  callbackUri?: string;
  /** A forced login found this one pending and joined it: a second would break the sign-in the user may be in. */
  forceJoined?: boolean;
}

function minutesUntil(at: number): string {
  const minutes = Math.max(1, Math.round((at - Date.now()) / 60_000));
  return minutes === 1 ? 'about a minute' : `about ${minutes} minutes`;
}

/** The sentences of a pending login: what happened, then what to do. */
export function describePending(facts: PendingFacts, context: PendingContext = {}): PendingLoginResult {
  const host = appLabel(facts.origin);
  const url = facts.authorizationUrl || undefined;
  const until = new Date(facts.expiresAt).toISOString();
  const via = facts.method === 'cloudflared' ? ' through cloudflared' : '';
  const sentences: string[] = [];
  if (facts.replaced) {
    sentences.push(`The earlier sign-in link for ${host} expired at ${new Date(facts.replaced.expiredAt).toISOString()} and no longer works; a new login was started and its link is below.`);
  }
  if (facts.refreshNote) sentences.push(`The session for ${host} expired and was not renewed: ${facts.refreshNote}.`);
  if (context.cancelled) sentences.push('The call was cancelled; the login keeps waiting in the background.');
  if (context.forceJoined) {
    sentences.push(`A login for ${host} was already waiting, so force started no second one (that would break a sign-in the user may be in the middle of); its link still works.`);
  }
  sentences.push(`Login pending: ${host} needs the user to sign in${via} before it can be reached.`);
  const resumed = facts.resumed;
  // A taken-over login's browser was opened by the process that began it, not by this one.
  const opened = facts.browser.opened && !resumed;
  if (resumed) {
    sentences.push(`This sign-in was begun by cf-access-mcp process ${resumed.pid}, which is gone; this process took it over and opened no browser.`);
    if (resumed.cookie) sentences.push('The sign-in page was already loaded in the browser that process opened, and only that browser can complete it: its link is refused in any other.');
  } else if (opened) {
    sentences.push(url ? `A browser window was opened at the sign-in page.` : 'A browser window is being opened at the sign-in page.');
  } else {
    sentences.push(`No browser was opened${facts.browser.reason ? ` because ${facts.browser.reason}` : ''}.`);
  }
  let nextStep: string;
  if (resumed?.cookie) {
    nextStep = `Ask the user to finish signing in in the browser where the sign-in page was opened earlier (in that browser, any window may open ${url}); if that browser is closed, ${step('login', { url: facts.origin, force: true })} to start a fresh sign-in.`;
  } else if (opened) {
    nextStep = url
      ? `Ask the user to finish signing in in that window; if no window appeared, ask them to open ${url} themselves.`
      : 'Ask the user to finish signing in in that window.';
  } else {
    nextStep = `Show the user this link and ask them to open it and sign in: ${url}`;
  }
  nextStep +=
    ` Once they say they are done, repeat the same call: the login waits until ${until} (${minutesUntil(facts.expiresAt)}) and the call then completes without a new sign-in.` +
    ' A page saying \u201cThat account does not have access\u201d means the application\'s policy refused the account, not that the login failed: then tell the user, and do not start another login. Do not retry in a loop.';
  if (context.forceJoined) nextStep += ` Only if that link cannot be used any more, ${step('logout', { url: facts.origin })} (it cancels the waiting login), then log in again.`;
  if (!facts.browser.opened && context.callbackUri) {
    nextStep += ` If the browser runs on another machine, it ends on an address starting with ${context.callbackUri} that does not load: ask the user to copy that whole address, then ${step('login', { url: facts.origin, callback_url: '<that address>' })}.`;
    const forward = facts.method === 'oauth' ? forwardingHint(context.callbackUri) : undefined;
    if (forward) nextStep += ` ${forward}`;
  }
  return {
    status: 'pending',
    host,
    method: facts.method,
    login_url: url,
    expires_at: until,
    browser_opened: opened,
    message: sentences.join(' '),
    next_step: nextStep,
  };
}

/** Thrown by a fetch that needs a login the user has not finished; carries the same shape a login call returns. */
export class LoginPendingError extends AccessError {
  override readonly name = 'LoginPendingError';
  constructor(readonly pending: PendingLoginResult) {
    super('login_pending', pending.message, pending.next_step);
  }
}

export function isLoginPending(error: unknown): error is LoginPendingError {
  return error instanceof LoginPendingError;
}

/** How to make the loopback callback reachable from a browser on another machine (SSH, devcontainer, Codespaces). */
export function forwardingHint(callbackUri: string): string | undefined {
  let port: string;
  try {
    port = new URL(callbackUri).port;
  } catch {
    return undefined;
  }
  if (!port) return undefined;
  return `Alternatively, forward port ${port} from the user's machine before they sign in (ssh -L ${port}:localhost:${port} <this host>, or VS Code's port forwarding), so that address loads and the login completes by itself; in a container set CF_ACCESS_MCP_CALLBACK_BIND=0.0.0.0 for the forwarded port to reach the listener.`;
}
