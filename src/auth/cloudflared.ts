import { spawn, type ChildProcess } from 'node:child_process';
import { cap, step } from '../core/next-step.js';
import { childEnv } from './child-env.js';
import { z } from 'zod';
import { jwtAudiences, type VerifiedApp } from './app-metadata.js';
import type { BrowserResult } from './browser.js';
import { AccessError } from '../core/errors.js';
import { remoteText } from '../core/remote-text.js';
import type { Logger } from '../core/logger.js';
import { longestKeyFor, type AppKey } from './app-key.js';
import { OriginLocks, type HeldLock } from './login-lock.js';
import { POLL_MS, sleep } from './shared-login.js';
import type { SessionStore, StoredSession } from './store.js';
import { MAX_TOKEN_LIFETIME_S } from './token.js';
import type { LoginInProgress } from './login-method.js';

/**
 * The cloudflared fallback for Access apps without managed OAuth:
 * `cloudflared access token -app=<url>` for a cached token, otherwise
 * `cloudflared access login <url>` (which opens the browser). The JWT it
 * prints is stored as a 'cloudflared' session and sent as `cf-access-token`.
 * stdout carries the token: it is parsed, never logged or shown.
 * cloudflared runs only for an application proven by its signed metadata
 * (app-metadata.ts): a cloudflared older than 2026.8 trusts whatever the page
 * says, so its token is kept only when its `aud` names the proven application.
 */
export interface CloudflaredConfig {
  /** CF_ACCESS_MCP_CLOUDFLARED, or "cloudflared" looked up on PATH. */
  command: string;
  loginTimeoutMs: number;
  /** Bound for `access token`, which never logs in. */
  tokenTimeoutMs?: number;
}

/** A cloudflared login under way; shaped like the OAuth PendingLogin so callers treat both alike. */
export interface PendingCloudflared extends LoginInProgress {
  origin: string;
  method: 'cloudflared';
  /** The URL cloudflared printed for the browser ('' until it has printed one). */
  authorizationUrl: string;
  startedAt: number;
  expiresAt: number;
  browser: BrowserResult;
  /** True when cloudflared handed out a token it had cached (no login ran). */
  fromCache?: boolean;
  done: Promise<StoredSession>;
}

const JWT = /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/;
const ClaimsSchema = z.object({ exp: z.number().optional() }).loose();

export const INSTALL_HINT =
  'Install cloudflared (macOS: brew install cloudflared; Windows: winget install --id Cloudflare.cloudflared; Linux: the packages at https://pkg.cloudflare.com or a binary from https://github.com/cloudflare/cloudflared/releases), ' +
  'or set CF_ACCESS_MCP_CLOUDFLARED to its path. For automation without a browser, use a service token instead: CF_ACCESS_CLIENT_ID, CF_ACCESS_CLIENT_SECRET and CF_ACCESS_SERVICE_TOKEN_HOSTS.';

/** The first JWT in cloudflared's output (it may print a sentence around it). */
export function extractJwt(output: string): string | undefined {
  return JWT.exec(output)?.[0];
}

/** The `exp` claim in milliseconds. Read only to know when to stop using the token; the signature is not checked. */
export function jwtExpiresAt(jwt: string): number | undefined {
  const payload = jwt.split('.')[1];
  if (!payload) return undefined;
  try {
    const claims = ClaimsSchema.safeParse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
    if (!claims.success || claims.data.exp === undefined) return undefined;
    // A far-future exp would overflow Date (and JSON, as Infinity): no token is kept longer than this.
    return Math.min(claims.data.exp * 1000, Date.now() + MAX_TOKEN_LIFETIME_S * 1000);
  } catch {
    return undefined;
  }
}

/**
 * Does this JWT belong to the proven application? Its `aud` must contain the
 * verified AUD, and an `iss` (when present) must be the team that signed the metadata.
 */
export function tokenMatchesApp(jwt: string, app: Pick<VerifiedApp, 'aud' | 'team'>): boolean {
  if (!jwtAudiences(jwt).includes(app.aud)) return false;
  const iss = jwtIssuer(jwt);
  if (iss === undefined) return true;
  try {
    return new URL(iss).host.toLowerCase() === app.team.toLowerCase();
  } catch {
    return false;
  }
}

function jwtIssuer(jwt: string): string | undefined {
  try {
    const claims = z.object({ iss: z.string() }).loose().safeParse(JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')));
    return claims.success ? claims.data.iss : undefined;
  } catch {
    return undefined;
  }
}

/**
 * May a stored cloudflared session be sent? Only one recorded with the
 * application proven when it was obtained, and whose token belongs to it
 * (sessions stored before the check existed are not trusted: they may have
 * been obtained for a page that imitated Access).
 */
export function cloudflaredSessionVerified(session: StoredSession): boolean {
  if (session.method !== 'cloudflared') return true;
  if (!session.app_aud || !session.team) return false;
  return tokenMatchesApp(session.access_token, { aud: session.app_aud, team: session.team });
}

function wrongApplication(target: URL, app: VerifiedApp): AccessError {
  return new AccessError(
    'app_not_verified',
    `cloudflared returned a token that is not for the Access application ${target.host} proved to be (AUD ${app.aud.slice(0, 12)}… on ${app.team}); it was not sent or stored.`,
    `Update cloudflared to 2026.8 or later (older versions pick the application from what a page claims), then ${step('login', { url: target.href, force: true })}; or use a service token for this host.`,
  );
}

/** A word as a POSIX shell reads it: as is when plain, else single-quoted. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./~-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Hides anything token-shaped in text taken from cloudflared's stderr. */
function scrub(text: string): string {
  return text.replace(new RegExp(JWT.source, 'g'), '[token]');
}

function lastLine(text: string): string {
  const lines = scrub(text).split('\n').map((l) => l.trim()).filter(Boolean);
  return remoteText(lines[lines.length - 1] ?? '', 300);
}

interface Run {
  child: ChildProcess;
  /** Resolves once the process has started; rejects with cloudflared_missing when it cannot. */
  started: Promise<void>;
  finished: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/**
 * cloudflared logins and sessions per Access application (its key: the
 * resource the challenge's metadata names, see app-key.ts), so two
 * applications on one host (`/` and `/admin`, each with its own AUD) keep two
 * sessions. Stores from before keep theirs: an origin is a host-wide key.
 */
export class CloudflaredLogin {
  private readonly pending = new Map<AppKey, PendingCloudflared>();
  private readonly starting = new Map<AppKey, Promise<PendingCloudflared>>();
  private readonly children = new Set<ChildProcess>();
  /** The `cloudflared access login` running for each application (to cancel it on logout). */
  private readonly running = new Map<AppKey, ChildProcess>();
  private readonly cancelled = new Set<AppKey>();
  /** Serialises logins across processes sharing the store, like the OAuth ones: one cloudflared (one browser) per application. */
  private readonly locks: OriginLocks;

  constructor(
    private readonly store: SessionStore,
    private readonly config: CloudflaredConfig,
    private readonly log: Logger,
  ) {
    this.locks = new OriginLocks(store, (level, message) => log(level, message));
  }

  /** access_logout: stops the cloudflared login running for the application here. True when there was one. */
  cancel(key: AppKey): boolean {
    const child = this.running.get(key);
    if (!child) return false;
    this.cancelled.add(key);
    child.kill('SIGTERM');
    // No longer pending from now on, not only once the child has exited.
    this.pending.delete(key);
    return true;
  }

  pendingFor(key: AppKey): PendingCloudflared | undefined {
    return this.pending.get(key);
  }

  /** The login pending for the most specific application serving `url`. */
  pendingForUrl(url: URL): PendingCloudflared | undefined {
    const key = longestKeyFor(this.pending.keys(), url);
    return key === undefined ? undefined : this.pending.get(key);
  }

  pendingKeys(): AppKey[] {
    return [...this.pending.keys()];
  }

  private missing(error: NodeJS.ErrnoException): AccessError {
    const configured = this.config.command !== 'cloudflared';
    const what = configured ? `CF_ACCESS_MCP_CLOUDFLARED points to ${this.config.command}, which` : 'cloudflared';
    const why =
      error.code === 'ENOENT'
        ? configured
          ? `${what} does not exist`
          : 'cloudflared is not installed (no "cloudflared" on PATH)'
        : `${what} cannot be run (${error.code ?? error.message})`;
    const fix = configured ? `Point CF_ACCESS_MCP_CLOUDFLARED (now ${this.config.command}) at the cloudflared program, or unset it to use cloudflared from PATH. ${INSTALL_HINT}` : INSTALL_HINT;
    return new AccessError('cloudflared_missing', `This application needs the cloudflared login, but ${why}.`, fix, { cause: error });
  }

  /** The command line a person types to run what we run: the configured cloudflared (CF_ACCESS_MCP_CLOUDFLARED), not whichever one is on PATH. */
  private commandLine(...args: string[]): string {
    return [this.config.command, ...args].map(shellWord).join(' ');
  }

  /** Spawns cloudflared without a shell; output is kept in memory only. */
  private run(args: string[], timeoutMs: number, onStderr?: (text: string) => void): Run {
    const child = spawn(this.config.command, args, { shell: false, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true, env: childEnv() });
    this.children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      if (stdout.length < 64 * 1024) stdout += chunk;
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < 64 * 1024) stderr += chunk;
      onStderr?.(stderr);
    });
    const started = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error) => reject(this.missing(error as NodeJS.ErrnoException)));
    });
    started.catch(() => {});
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, timeoutMs);
    timer.unref();
    const finished = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
      child.once('error', (error) => {
        clearTimeout(timer);
        this.children.delete(child);
        reject(this.missing(error as NodeJS.ErrnoException));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        this.children.delete(child);
        if (timedOut) {
          reject(
            new AccessError(
              'login_timeout',
              `cloudflared did not finish within ${Math.round(timeoutMs / 1000)} s and was stopped.`,
              `${cap(step('login', { url: args[args.length - 1] ?? '<url>' }))} again and finish the login in the browser window cloudflared opens.`,
            ),
          );
        } else resolve({ code, signal, stdout, stderr });
      });
    });
    finished.catch(() => {});
    return { child, started, finished };
  }

  /** `cloudflared access token -app=<url>`: a cached, unexpired JWT, or undefined (empty output with exit 0 means none). */
  async cachedToken(target: URL, app: VerifiedApp): Promise<string | undefined> {
    const run = this.run(['access', 'token', `-app=${target.href}`], this.config.tokenTimeoutMs ?? 20_000);
    await run.started;
    const result = await run.finished;
    if (result.code !== 0) {
      this.log('debug', `cloudflared access token found no token for ${target.host} (exit ${result.code ?? result.signal}).`);
      return undefined;
    }
    const jwt = extractJwt(result.stdout);
    if (!jwt) return undefined;
    const expiresAt = jwtExpiresAt(jwt);
    if (expiresAt !== undefined && expiresAt <= Date.now()) return undefined;
    if (!tokenMatchesApp(jwt, app)) {
      this.log('warning', `cloudflared access token returned a token for another application than ${target.host}; it is ignored and a login runs instead.`);
      return undefined;
    }
    return jwt;
  }

  private async save(target: URL, key: AppKey, jwt: string, app: VerifiedApp): Promise<StoredSession> {
    const session: StoredSession = {
      origin: target.origin,
      // A host-wide application is kept under its origin, as before applications were told apart.
      ...(key !== target.origin ? { app: key } : {}),
      method: 'cloudflared',
      access_token: jwt,
      expires_at: jwtExpiresAt(jwt),
      obtained_at: Date.now(),
      app_aud: app.aud,
      app_hostname: app.appHostname,
      team: app.team,
    };
    await this.store.putSession(session);
    return session;
  }

  /**
   * Gets a token for the application `key`: a cached one unless `skipCache`
   * (the app just refused it), otherwise a `cloudflared access login` shared
   * by every caller for that application. The returned `done` settles when
   * cloudflared finishes. `app` is the application the URL proved to be
   * (verifyAppMetadata); only its tokens are kept.
   */
  begin(target: URL, key: AppKey, app: VerifiedApp, options: { skipCache?: boolean } = {}): Promise<PendingCloudflared> {
    const existing = this.pending.get(key);
    if (existing) return Promise.resolve(existing);
    let starting = this.starting.get(key);
    if (!starting) {
      starting = this.start(target, key, app, options.skipCache ?? false).finally(() => this.starting.delete(key));
      this.starting.set(key, starting);
    }
    return starting;
  }

  private async start(target: URL, key: AppKey, app: VerifiedApp, skipCache: boolean): Promise<PendingCloudflared> {
    const origin = target.origin;
    const startedAt = Date.now();
    if (!skipCache) {
      const cached = await this.cachedToken(target, app);
      if (cached) {
        const session = await this.save(target, key, cached, app);
        this.log('info', `Using the token cached by cloudflared for ${key}.`);
        return { origin, key, method: 'cloudflared', authorizationUrl: '', startedAt, expiresAt: startedAt, browser: { opened: false }, fromCache: true, done: Promise.resolve(session) };
      }
    }
    const lock = await this.locks.tryAcquire(key, 'login');
    const login = lock === 'busy' ? this.follow(target, key, app, startedAt) : await this.lead(target, key, app, startedAt, lock);
    const settle = () => {
      if (this.pending.get(key) === login) this.pending.delete(key);
    };
    login.done.then(settle, settle);
    this.pending.set(key, login);
    return login;
  }

  /**
   * Another process holds the origin's login lock (its cloudflared has the
   * browser open): wait for the session it stores, or for the lock, and then
   * log in here. Never a second cloudflared login at the same time.
   */
  private follow(target: URL, key: AppKey, app: VerifiedApp, startedAt: number): PendingCloudflared {
    const origin = target.origin;
    this.log('info', `Another cf-access-mcp process is running the cloudflared login for ${key}; waiting for it instead of opening a second browser.`);
    const login: PendingCloudflared = { origin, key, method: 'cloudflared', authorizationUrl: '', startedAt, expiresAt: startedAt + this.config.loginTimeoutMs, browser: { opened: true }, done: Promise.resolve(undefined as never) };
    login.done = (async (): Promise<StoredSession> => {
      for (;;) {
        await sleep(POLL_MS);
        const session = this.store.getSession(key);
        if (session?.method === 'cloudflared' && session.obtained_at >= startedAt && (session.expires_at ?? Infinity) > Date.now()) return session;
        const lock = await this.locks.tryAcquire(key, 'login');
        if (lock !== 'busy') {
          const own = await this.lead(target, key, app, Date.now(), lock);
          Object.assign(login, { authorizationUrl: own.authorizationUrl, startedAt: own.startedAt, expiresAt: own.expiresAt });
          return own.done;
        }
        if (Date.now() > login.expiresAt) {
          throw new AccessError(
            'login_timeout',
            `The cloudflared login to ${target.host}, run by another cf-access-mcp process, did not finish in time.`,
            `${cap(step('login', { url: target.href, method: 'cloudflared' }))} to start a new login.`,
          );
        }
      }
    })();
    login.done.catch(() => {});
    return login;
  }

  /** We hold the login lock: run `cloudflared access login`; the lock is released when it ends. */
  private async lead(target: URL, key: AppKey, app: VerifiedApp, startedAt: number, lock: HeldLock): Promise<PendingCloudflared> {
    const origin = target.origin;
    const login: PendingCloudflared = {
      origin,
      key,
      method: 'cloudflared',
      authorizationUrl: '',
      startedAt,
      expiresAt: startedAt + this.config.loginTimeoutMs,
      browser: { opened: true },
      done: Promise.resolve(undefined as never),
    };
    const run = this.run(['access', 'login', target.href], this.config.loginTimeoutMs, (stderr) => {
      if (login.authorizationUrl) return;
      const url = /https?:\/\/\S+/.exec(stderr)?.[0];
      if (url) login.authorizationUrl = scrub(url);
    });
    try {
      await run.started;
    } catch (error) {
      await lock.release();
      throw error;
    }
    this.running.set(key, run.child);
    login.done = run.finished.then(async (result) => {
      if (this.cancelled.delete(key)) {
        throw new AccessError(
          'login_cancelled',
          `The cloudflared login to ${target.host} was cancelled by a logout.`,
          `If you still need this site, ${step('login', { url: target.href, method: 'cloudflared' })}.`,
        );
      }
      if (result.code !== 0) {
        const detail = lastLine(result.stderr);
        throw new AccessError(
          'cloudflared_failed',
          `cloudflared access login for ${target.host} failed (exit ${result.code ?? result.signal})${detail ? `: ${detail}` : ''}.`,
          `To try again, ${step('login', { url: target.href, method: 'cloudflared' })}; check that the URL is an Access application and that your account is allowed by its policy. To see all cloudflared says, run \`${this.commandLine('access', 'login', target.href)}\` in a terminal.`,
        );
      }
      const jwt = extractJwt(result.stdout);
      if (!jwt) {
        throw new AccessError(
          'cloudflared_failed',
          `cloudflared access login for ${target.host} finished without printing a token.`,
          `Run \`${this.commandLine('access', 'login', target.href)}\` in a terminal to see what it says, then try again.`,
        );
      }
      const expiresAt = jwtExpiresAt(jwt);
      if (expiresAt !== undefined && expiresAt <= Date.now()) {
        throw new AccessError('cloudflared_failed', `cloudflared returned an already expired token for ${target.host}.`, `Check the system clock, then ${step('login', { url: target.href, method: 'cloudflared' })} again.`);
      }
      if (!tokenMatchesApp(jwt, app)) throw wrongApplication(target, app);
      const session = await this.save(target, key, jwt, app);
      this.log('info', `Logged in to ${key} (cloudflared).`);
      return session;
    });
    login.done
      .finally(() => {
        if (this.running.get(key) === run.child) this.running.delete(key);
        return lock.release();
      })
      .catch(() => {});
    this.log('info', `cloudflared access login for ${key} started; waiting for the browser login.`);
    return login;
  }

  /** Stops every cloudflared we started (server shutting down). */
  shutdown(): void {
    for (const child of this.children) child.kill('SIGTERM');
    this.children.clear();
    this.pending.clear();
  }
}
