import { randomBytes, timingSafeEqual } from 'node:crypto';
import { step } from '../core/next-step.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { callbackUri, type CallbackHost } from './callback-host.js';
import { AccessError } from '../core/errors.js';
import { errorPage, successPage } from './callback-pages.js';
import { rememberSecret } from '../core/redact.js';

export interface CallbackParams {
  code?: string;
  error?: string;
  error_description?: string;
}

interface Waiter {
  host: string;
  resolve: (params: CallbackParams) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  expiresAt: number;
  /** The cookie the start address will set (we handed the browser one); not required until it is loaded. */
  startCookie?: { name: string; value: string };
  /** Set once a browser loaded the start address: from then on the callback must carry this cookie. */
  cookie?: { name: string; value: string };
}

/** A one-time start address: redirects to the authorization URL and sets the login's cookie. */
interface Start {
  state: string;
  authorizationUrl: string;
}

const START_PATH = '/start/';

export interface CallbackListenerOptions {
  preferredPort: number;
  /** Listen on `preferredPort` or fail (a login taken over from another process has its port in its redirect URI). */
  fixedPort?: boolean;
  /** CF_ACCESS_MCP_CALLBACK_BIND: one address to listen on instead of 127.0.0.1 and ::1 (e.g. 0.0.0.0 for a forwarded port). */
  bind?: string;
  log?: (level: 'info' | 'warning', message: string) => void;
}

/** How long the callback page of a cancelled login still says "cancelled" instead of "not valid". */
const CANCELLED_NOTICE_MS = 10 * 60_000;

/**
 * The loopback redirect target (`http://localhost:<port>/callback` or
 * `http://127.0.0.1:<port>/callback`, whichever the team accepts), listening
 * on 127.0.0.1 and ::1 only. It routes each callback by `state` to the login
 * that expects it; an unknown state is refused and completes nothing. Each
 * state is accepted once. It closes itself when no login is waiting.
 * It also serves the one-time `/start/<random>` addresses handed to the
 * browser opener (see `issueStart`).
 */
export class CallbackListener {
  private servers: Server[] = [];
  private port: number | undefined;
  private starting: Promise<string> | undefined;
  private readonly waiters = new Map<string, Waiter>();
  private readonly starts = new Map<string, Start>();
  /** Told when a browser loaded a login's start address: the cookie its callback must now carry (kept for a takeover). */
  startLoaded?: (state: string, cookie: { name: string; value: string }) => void;
  /** States of logins cancelled (e.g. by access_logout): their callback shows a "cancelled" page. */
  private readonly cancelled = new Map<string, { host: string; at: number }>();
  /** Logins about to wait here (registering their redirect URI with our port): the listener stays open for them. */
  private holds = 0;

  constructor(private readonly options: CallbackListenerOptions) {}

  get redirectUri(): string | undefined {
    return this.redirectUriFor('localhost');
  }

  /** The redirect URI in one of its two loopback forms (the listener answers both). */
  redirectUriFor(host: CallbackHost): string | undefined {
    return this.port === undefined ? undefined : callbackUri(host, this.port);
  }

  /** Starts listening (preferred port, else any free one); resolves to the redirect URI. */
  start(): Promise<string> {
    if (this.redirectUri) return Promise.resolve(this.redirectUri);
    this.starting ??= this.listen().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  get listeningPort(): number | undefined {
    return this.port;
  }

  private async listen(): Promise<string> {
    const candidates = this.options.fixedPort ? [this.options.preferredPort] : [this.options.preferredPort, 0, 0, 0, 0];
    const bind = this.options.bind;
    let lastError: unknown;
    for (const candidate of candidates) {
      const v4 = this.makeServer();
      try {
        await listenOn(v4, candidate, bind ?? '127.0.0.1');
      } catch (error) {
        lastError = error;
        if (candidate === this.options.preferredPort && candidate !== 0) {
          this.options.log?.('info', `Callback port ${candidate} is busy; using another free loopback port.`);
        }
        continue;
      }
      const port = (v4.address() as AddressInfo).port;
      if (bind) {
        this.servers = [v4];
        this.port = port;
        return this.redirectUri!;
      }
      const v6 = this.makeServer();
      try {
        await listenOn(v6, port, '::1');
        this.servers = [v4, v6];
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE') {
          v4.close();
          lastError = error;
          continue;
        }
        this.servers = [v4]; // no IPv6 loopback on this machine
      }
      this.port = port;
      return this.redirectUri!;
    }
    throw new AccessError(
      'callback_failed',
      `Could not listen for the login callback on ${bind ?? 'loopback'}${this.options.fixedPort ? ` port ${this.options.preferredPort}` : ''}: ${(lastError as Error)?.message ?? 'unknown error'}.`,
      'Free a local port or set CF_ACCESS_MCP_CALLBACK_PORT to a free one, then try again.',
    );
  }

  private makeServer(): Server {
    const server = createServer((req, res) => {
      // Whatever arrives here (any local process, any web page the browser loads) must not take the server down.
      try {
        this.handle(req, res);
      } catch {
        if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
        res.end('Bad request');
      }
    });
    server.keepAliveTimeout = 1_000;
    return server;
  }

  /** Waits for the callback carrying `state` of the login to `host` (started for `loginUrl`). Rejects after `timeoutMs`. */
  expect(state: string, host: string, timeoutMs: number, loginUrl?: string): Promise<CallbackParams> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(state);
        this.dropStarts(state);
        this.closeIfIdle();
        reject(
          new AccessError(
            'login_timeout',
            `The login to ${host} was not completed within ${Math.round(timeoutMs / 1000)} s.`,
            loginUrl ? `To start a new login, ${step('login', { url: loginUrl })}, and finish it in the browser.` : 'Start a new login and finish it in the browser.',
          ),
        );
      }, timeoutMs);
      timer.unref();
      this.waiters.set(state, { host, resolve, reject, timer, expiresAt: Date.now() + timeoutMs });
    });
  }

  /**
   * A one-time `http://localhost:<port>/start/<random>` address for the login
   * waiting on `state`, to hand to the browser opener instead of the
   * authorization URL (whose state and PKCE challenge any local user could
   * read on the opener's command line). Loading it redirects to the
   * authorization URL once and sets a cookie; from then on this login's
   * callback is accepted only from a browser carrying that cookie. Until
   * some browser loads it, the plain authorization URL still works: an opener
   * that reported success may have shown nothing, and the user then opens the
   * link from the pending result in whatever browser they have.
   */
  issueStart(state: string, authorizationUrl: string, host: CallbackHost = 'localhost'): string {
    const waiter = this.waiters.get(state);
    if (!waiter || this.port === undefined) throw new Error('no login is waiting for this state');
    const id = randomBytes(24).toString('base64url');
    waiter.startCookie = { name: `cfam_${randomBytes(6).toString('hex')}`, value: randomBytes(32).toString('base64url') };
    this.starts.set(id, { state, authorizationUrl });
    // Same host form as the redirect URI: the cookie set here must come back with the callback.
    return `http://${host}:${this.port}${START_PATH}${id}`;
  }

  /** A login taken over from another process whose browser already loaded its start address: its callback must carry that cookie. */
  requireCookie(state: string, cookie: { name: string; value: string }): void {
    const waiter = this.waiters.get(state);
    if (waiter) waiter.cookie = cookie;
  }

  /** The opener failed: nobody can load the start address, so the login takes a cookie-less callback again. */
  withdrawStart(state: string): void {
    this.dropStarts(state);
    const waiter = this.waiters.get(state);
    if (waiter) {
      delete waiter.startCookie;
      delete waiter.cookie;
    }
  }

  private dropStarts(state: string): void {
    for (const [id, start] of this.starts) if (start.state === state) this.starts.delete(id);
  }

  /**
   * Abandons a waiting login (its promise rejects with `reason`). With
   * `showCancelled` its callback link then shows a "cancelled" page (the
   * user cancelled it, e.g. by logging out) instead of "not valid".
   */
  cancel(state: string, reason: Error, showCancelled = false): void {
    const waiter = this.waiters.get(state);
    if (!waiter) return;
    if (showCancelled) this.cancelled.set(state, { host: waiter.host, at: Date.now() });
    this.waiters.delete(state);
    this.dropStarts(state);
    clearTimeout(waiter.timer);
    waiter.reject(reason);
    this.closeIfIdle();
  }

  /**
   * Paste-back: completes a login from the redirect URL the user's browser could
   * not reach. Same checks as a real callback (path and state).
   */
  deliver(callbackUrl: string): { ok: boolean; message: string; cancelled?: boolean } {
    let url: URL;
    try {
      url = new URL(callbackUrl.trim());
    } catch {
      return { ok: false, message: 'The pasted text is not a URL.' };
    }
    if (url.pathname !== '/callback') return { ok: false, message: 'The pasted URL is not a login callback URL (its path is not /callback).' };
    // Pasted by the user through their agent or terminal: the caller checked state, no browser cookie applies.
    return this.route(url.searchParams);
  }

  private route(query: URLSearchParams, cookieHeader?: string | null): Routed {
    const state = query.get('state');
    const waiter = state ? this.waiters.get(state) : undefined;
    // Only a code for a login in progress is remembered as a secret: remembering every code anyone sends
    // would let a flood of fake callbacks push live tokens out of the bounded list redaction relies on.
    if (waiter) rememberSecret(query.get('code') ?? undefined);
    if (!state || !waiter) {
      const cancelled = state ? this.cancelled.get(state) : undefined;
      if (cancelled && Date.now() - cancelled.at < CANCELLED_NOTICE_MS) {
        return { ok: false, cancelled: true, host: cancelled.host, message: `The login to ${cancelled.host} was cancelled (logged out) before this callback arrived; nothing was stored.` };
      }
      return { ok: false, message: 'This callback does not belong to a login in progress (missing, stale or wrong state); it was ignored.' };
    }
    // Checked for denials too: otherwise anyone who saw the state could cancel the user's login.
    if (cookieHeader !== undefined && waiter.cookie && !hasCookie(cookieHeader, waiter.cookie)) {
      return { ok: false, foreign: true, message: 'This sign-in was started in another browser (or by someone else), so this browser cannot complete it; the login is still waiting.' };
    }
    this.waiters.delete(state);
    this.dropStarts(state);
    clearTimeout(waiter.timer);
    const params: CallbackParams = {
      code: query.get('code') ?? undefined,
      error: query.get('error') ?? undefined,
      error_description: query.get('error_description') ?? undefined,
    };
    waiter.resolve(params);
    setTimeout(() => this.closeIfIdle(), 200).unref();
    return { ok: true, message: 'ok', host: waiter.host, params };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const send = (status: number, html: string) => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', connection: 'close' });
      res.end(html);
    };
    const host = (req.headers.host ?? '').toLowerCase();
    // A browser leaves the default port out of Host, so on port 80 "localhost" alone is what arrives.
    const suffix = this.port === 80 ? ['', ':80'] : [`:${this.port}`];
    const allowedHosts = ['localhost', '127.0.0.1', '[::1]'].flatMap((name) => suffix.map((port) => `${name}${port}`));
    if (!allowedHosts.includes(host)) {
      send(400, errorPage('Unexpected host', 'This login callback only answers on localhost.', 'Start the sign-in again from the application that started it.'));
      return;
    }
    // Path and query only, appended to our own origin: resolved against a base, "//[" (which any web page can
    // make the browser request) would be read as a host and throw, and an absolute-form target names another host.
    const target = req.url ?? '/';
    let url: URL | undefined;
    try {
      url = target.startsWith('/') ? new URL(`http://${host}${target}`) : undefined;
    } catch {
      url = undefined;
    }
    if (!url) {
      send(400, errorPage('Bad request', 'This local address only receives Cloudflare Access login callbacks.', 'You can ignore this page.'));
      return;
    }
    if (req.method === 'GET' && url.pathname.startsWith(START_PATH)) {
      this.handleStart(url.pathname.slice(START_PATH.length), res, send);
      return;
    }
    if (req.method !== 'GET' || url.pathname !== '/callback') {
      send(404, errorPage('Not found', 'This local address only receives Cloudflare Access login callbacks.', 'You can ignore this page.'));
      return;
    }
    const routed = this.route(url.searchParams, req.headers.cookie ?? null);
    if (!routed.ok) {
      if (routed.cancelled) {
        send(200, errorPage('Login cancelled', routed.message, 'Return to your agent; sign in again only if you still need this site.'));
        return;
      }
      if (routed.foreign) {
        send(
          403,
          errorPage(
            'This browser did not start this sign-in',
            routed.message,
            'Finish the sign-in in the browser tab that was opened for it. If you closed that tab, start the sign-in again from the application that started it.',
          ),
        );
        return;
      }
      send(400, errorPage('This login link is not valid', routed.message, 'Start the sign-in again from the application that started it.'));
      return;
    }
    const params = routed.params!;
    if (params.error) {
      const denied = params.error === 'access_denied';
      send(
        200,
        errorPage(
          denied ? 'Login denied' : 'Login failed',
          denied ? `Access to ${routed.host} was denied.` : `The authorization server reported: ${params.error}.`,
          'Return to the application that started the sign-in; it says what to do next.',
        ),
      );
      return;
    }
    send(200, successPage(routed.host ?? 'the site'));
  }

  /** `/start/<id>`: once, redirect to the authorization URL and set the login's cookie; then it is gone. */
  private handleStart(id: string, res: ServerResponse, send: (status: number, html: string) => void): void {
    const start = this.starts.get(id);
    const waiter = start ? this.waiters.get(start.state) : undefined;
    if (!start || !waiter?.startCookie) {
      send(
        410,
        errorPage(
          'This sign-in link was already used',
          'A sign-in start link works once, in the browser it was opened in.',
          'Switch to the tab it opened. If you closed that tab, start the sign-in again from the application that started it.',
        ),
      );
      return;
    }
    this.starts.delete(id);
    waiter.cookie = waiter.startCookie;
    this.startLoaded?.(start.state, waiter.cookie);
    const maxAge = Math.max(1, Math.ceil((waiter.expiresAt - Date.now()) / 1000));
    res.writeHead(302, {
      location: start.authorizationUrl,
      'set-cookie': `${waiter.startCookie.name}=${waiter.startCookie.value}; HttpOnly; SameSite=Lax; Path=/callback; Max-Age=${maxAge}`,
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      connection: 'close',
    });
    res.end();
  }

  /** Keeps the listener open (once started) until the returned function is called, e.g. until a login waits on it. */
  hold(): () => void {
    this.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
      this.closeIfIdle();
    };
  }

  private closeIfIdle(): void {
    // A cancelled login's page stays answerable for a while; the listener closes with the process.
    if (this.waiters.size > 0 || this.holds > 0 || this.servers.length === 0 || this.recentlyCancelled()) return;
    this.close();
  }

  private recentlyCancelled(): boolean {
    for (const [state, entry] of this.cancelled) if (Date.now() - entry.at >= CANCELLED_NOTICE_MS) this.cancelled.delete(state);
    return this.cancelled.size > 0;
  }

  /** The states of the logins waiting here (for cancelling one origin's login). */
  waitingStates(host: string): string[] {
    return [...this.waiters].filter(([, waiter]) => waiter.host === host).map(([state]) => state);
  }

  close(): void {
    for (const server of this.servers) {
      server.close();
      server.closeAllConnections?.();
    }
    this.servers = [];
    this.port = undefined;
  }

  /** Rejects every waiting login and stops listening (server shutdown). */
  shutdown(reason: Error): void {
    for (const state of [...this.waiters.keys()]) this.cancel(state, reason);
    this.close();
  }
}

type Routed = { ok: boolean; message: string; foreign?: boolean; cancelled?: boolean; host?: string; params?: CallbackParams };

/** Whether the Cookie header carries exactly this name=value (compared in constant time). */
function hasCookie(header: string | null, cookie: { name: string; value: string }): boolean {
  if (!header) return false;
  const expected = Buffer.from(cookie.value);
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== cookie.name) continue;
    const got = Buffer.from(part.slice(eq + 1).trim());
    if (got.length === expected.length && timingSafeEqual(got, expected)) return true;
  }
  return false;
}

function listenOn(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      server.close();
      reject(error);
    };
    server.once('error', onError);
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
