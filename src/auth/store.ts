import { renameSync, accessSync, constants as fsConstants, existsSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type Conf from 'conf';
import { z } from 'zod';
import { loadLockfile, PRIVATE_LOCK_FS } from './lock-fs.js';
import { chmodNoFollow, securePrivateDir, unsafeEntry, unsafeStat, whyNotCreatable, type Unsafe } from './private-dir.js';
import { rememberSecret } from '../core/redact.js';
import type { Registration } from './registration.js';
import { longestKeyFor, type AppKey } from './app-key.js';
import { SessionMethodSchema } from './methods.js';
import { DirectoryWatch } from './dir-watch.js';
import { MissingDirectory } from './missing-dir.js';

export type { SessionMethod } from './methods.js';

export const StoredSessionSchema = z
  .object({
    /** The origin the credentials go to. */
    origin: z.string(),
    /** The application (see app-key.ts) when it lives under a path; absent = the whole origin (and in stores from before). */
    app: z.string().optional(),
    method: SessionMethodSchema,
    access_token: z.string(),
    refresh_token: z.string().optional(),
    expires_at: z.number().optional(),
    resource: z.string().optional(),
    authorization_server: z.string().optional(),
    token_endpoint: z.string().optional(),
    revocation_endpoint: z.string().optional(),
    client_id: z.string().optional(),
    redirect_uri: z.string().optional(),
    obtained_at: z.number(),
    refreshed_at: z.number().optional(),
    /** cloudflared sessions: the Access application proven by its signed metadata when the token was obtained. */
    app_aud: z.string().optional(),
    app_hostname: z.string().optional(),
    team: z.string().optional(),
    /** oauth: false when the server refused the refresh_token grant at registration (refresh may not work). */
    refresh_grant_registered: z.boolean().optional(),
    /** oauth: false when the token response carried no refresh token (grant session duration 0). */
    refresh_token_issued: z.boolean().optional(),
  })
  .loose();
export type StoredSession = z.infer<typeof StoredSessionSchema>;

const RegistrationSchema = z
  .object({
    client_id: z.string(),
    redirect_uri: z.string(),
    registration_endpoint: z.string(),
    registered_at: z.number(),
    grant_types: z.array(z.string()).optional(),
  })
  .loose();

/**
 * A browser login under way in some server process, so that other processes
 * sharing the store show the same URL instead of opening a second browser.
 * Never holds the state or code verifier on their own: only the authorization
 * URL, which the user sees anyway.
 */
export const LoginRecordSchema = z
  .object({
    origin: z.string(),
    state: z.enum(['pending', 'failed']),
    authorization_url: z.string().optional(),
    started_at: z.number(),
    expires_at: z.number(),
    updated_at: z.number(),
    pid: z.number(),
    hostname: z.string(),
    /** Why the login failed (state "failed"); safe to show. */
    message: z.string().optional(),
  })
  .loose();
export type LoginRecord = z.infer<typeof LoginRecordSchema>;

/** An application that refused the user (policy, a denied or failed login): no browser login for it until `until` or a forced login. */
const RefusalSchema = z
  .object({
    at: z.number(),
    until: z.number(),
    message: z.string(),
    /** refused: the policy or the user said no; failed: the login itself failed (absent in stores from before: refused). */
    kind: z.enum(['refused', 'failed']).optional(),
  })
  .loose();
export type Refusal = z.infer<typeof RefusalSchema>;

const StoreDataSchema = z.object({
  version: z.literal(1),
  sessions: z.record(z.string(), StoredSessionSchema),
  registrations: z.record(z.string(), RegistrationSchema),
  logins: z.record(z.string(), LoginRecordSchema).default({}),
  /** Per authorization server: the loopback redirect URI host form its registration accepted (see callback-host.ts). */
  callback_hosts: z.record(z.string(), z.string()).default({}),
  /** Per application key: the last refusal, which holds back new browser logins for a while. */
  refusals: z.record(z.string(), RefusalSchema).default({}),
  /** Per resource metadata URL (one per application): its discovery documents and when they were fetched (see discovery-cache.ts). */
  discoveries: z.record(z.string(), z.unknown()).default({}),
  /** Per origin: what another process needs to finish a login whose process ended (see pending-store.ts; validated there). */
  pending_logins: z.record(z.string(), z.unknown()).default({}),
});
export type StoreData = z.infer<typeof StoreDataSchema>;

const emptyData = (): StoreData => ({ version: 1, sessions: {}, registrations: {}, logins: {}, callback_hosts: {}, refusals: {}, discoveries: {}, pending_logins: {} });

/**
 * What only writing needs, loaded on the first write: conf (atomic writes; it
 * brings ajv and semver) and proper-lockfile. Reading is a plain JSON.parse.
 */
let writer: Promise<{ Conf: typeof Conf; lockfile: typeof import('proper-lockfile') }> | undefined;
const loadWriter = () => (writer ??= Promise.all([import('conf'), loadLockfile()]).then(([conf, lockfile]) => ({ Conf: conf.default, lockfile })));

/** The cross-process lock on the store file: short-lived, so a dead holder is taken over after a few seconds. */
const STORE_LOCK = { stale: 10_000, update: 2_000 };

export const STORE_FILE = 'store.json';

/**
 * Per-host sessions and client registrations, in one JSON file (written via
 * conf: atomic writes, 0600) inside a 0700 directory. Every read goes to disk so
 * several server processes share one store; every write is a read-modify-write
 * under an in-process queue and a cross-process lock (proper-lockfile).
 * A corrupt file is moved aside; an unwritable directory degrades to memory.
 */
export class SessionStore {
  readonly file: string;
  readonly warnings: string[] = [];
  /** Opened on the first write (see loadWriter). */
  private conf: Conf<StoreData> | undefined;
  private memory: StoreData | undefined;
  /** Set while the directory did not exist when the store was opened and has not been created since (see dirStillMissing). */
  private missingDir: MissingDirectory | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private cache: { key: string; data: StoreData; seen?: ReturnType<DirectoryWatch['mark']> } | undefined;
  /** Without a working watch: the file was checked (one lstat) in this turn of the event loop, and reads until the next turn reuse that check. */
  private checkedThisTurn = false;
  /** Tells when the directory may have changed, so that a read needs no lstat while nothing did. */
  private readonly watch: DirectoryWatch;

  constructor(
    readonly dir: string,
    private readonly log: (level: 'warning' | 'info', message: string) => void = () => {},
  ) {
    this.file = join(dir, STORE_FILE);
    this.watch = new DirectoryWatch(dir);
    if (entryExists(dir)) {
      this.secureDir();
      return;
    }
    // Nothing is created until something is stored: status, doctor or a mistyped CF_ACCESS_MCP_HOME leave no directory behind.
    const cannot = whyNotCreatable(dir);
    if (cannot) this.degradeToMemory(cannot);
    else this.missingDir = new MissingDirectory(dir);
  }

  /** Makes the directory private (creating it 0700 when missing) and checks the store file; false when the store fell back to memory. */
  private secureDir(): boolean {
    this.missingDir?.close();
    this.missingDir = undefined;
    try {
      // Another user's directory, a link, or a planted store file could feed us sign-in links and sessions.
      const unsafe = securePrivateDir(this.dir) ?? unsafeEntry(this.file, 'file');
      if (unsafe) {
        this.refuse(unsafe);
        return false;
      }
      // A store file copied in or restored from a backup may be readable by others until the next write.
      if (existsSync(this.file)) chmodNoFollow(this.file, 0o600);
      accessSync(this.dir, fsConstants.W_OK);
      return true;
    } catch (error) {
      this.degradeToMemory(error);
      return false;
    }
  }

  /** Creates the directory now (something is about to be written into it, e.g. a lock); false when the store is memory only. */
  createDir(): boolean {
    if (this.dirStillMissing(true)) this.secureDir();
    return this.persistent;
  }

  /**
   * Still true when the directory did not exist: it is checked once it
   * appears (another process made it) or before the first write. A read asks
   * the watch (no system call while nothing changed); a write looks `now`.
   */
  private dirStillMissing(now = false): boolean {
    if (!this.missingDir) return false;
    if (now ? this.missingDir.checkNow() : this.missingDir.stillMissing()) return true;
    this.secureDir();
    return false;
  }

  get persistent(): boolean {
    return this.memory === undefined;
  }

  private openConf(Conf: typeof import('conf').default): Conf<StoreData> {
    const open = () =>
      new Conf<StoreData>({
        cwd: this.dir,
        configName: 'store',
        projectName: 'cf-access-mcp',
        configFileMode: 0o600,
        accessPropertiesByDotNotation: false,
        clearInvalidConfig: false,
      });
    try {
      return open();
    } catch {
      this.moveAside('it could not be parsed');
      return open();
    }
  }

  private degradeToMemory(error: unknown): void {
    this.conf = undefined;
    this.memory = emptyData();
    const reason = (error as NodeJS.ErrnoException)?.code ?? (error as Error)?.message ?? 'unknown error';
    this.warn(`The store directory ${this.dir} is not writable (${reason}); sessions are kept in memory only and will be lost when the server stops. Fix the directory permissions or set CF_ACCESS_MCP_HOME.`);
  }

  /** Keeps secrets out of (and away from) a store that is not ours alone. */
  private refuse(unsafe: Unsafe): void {
    this.conf = undefined;
    this.cache = undefined;
    this.memory ??= emptyData();
    this.warn(`The store at ${this.dir} is not used for secrets: ${unsafe.problem}. Sessions are kept in memory only and will be lost when the server stops. ${unsafe.fix}`);
  }

  /** The store file is about to be read or written: refuse it if it turned into a link or someone else's file. */
  private fileIsSafe(): boolean {
    let unsafe: Unsafe | undefined;
    try {
      unsafe = unsafeEntry(this.file, 'file');
    } catch (error) {
      unsafe = { problem: `${this.file} cannot be checked (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, fix: 'Fix the directory permissions or set CF_ACCESS_MCP_HOME.' };
    }
    if (unsafe) this.refuse(unsafe);
    return unsafe === undefined;
  }

  private warn(message: string): void {
    if (!this.warnings.includes(message)) this.warnings.push(message);
    this.log('warning', message);
  }

  private moveAside(reason: string): void {
    if (!existsSync(this.file)) return;
    const aside = `${this.file}.corrupt-${Date.now()}`;
    try {
      renameSync(this.file, aside);
      // It may hold live tokens: as private as the store, whatever mode the broken file had.
      try {
        chmodNoFollow(aside, 0o600);
      } catch {
        /* the directory is 0700 anyway */
      }
      this.warn(`The store file was corrupt (${reason}); it was moved to ${aside} and a fresh store was started. Sessions in it need a new login.`);
    } catch (error) {
      this.warn(`The store file is corrupt (${reason}) and could not be moved aside: ${(error as Error).message}.`);
    }
  }

  /**
   * Current contents, read from disk. An lstat tells whether the file is
   * still safe and whether it changed (each atomic write is a new inode); the
   * parse is redone only when it changed. While a watch on the directory has
   * seen nothing since that lstat, the next read needs none (see
   * DirectoryWatch); without one, one lstat per turn of the event loop.
   */
  read(): StoreData {
    if (this.memory) return this.memory;
    if (this.dirStillMissing()) return emptyData();
    if (this.memory) return this.memory;
    if (this.cache && (this.checkedThisTurn || this.watch.unchangedSince(this.cache.seen))) return this.cache.data;
    const seen = this.watch.mark();
    let stat: import('node:fs').Stats | undefined;
    try {
      stat = lstatSync(this.file, { throwIfNoEntry: false });
    } catch (error) {
      this.refuse({ problem: `${this.file} cannot be checked (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, fix: 'Fix the directory permissions or set CF_ACCESS_MCP_HOME.' });
      return this.memory!;
    }
    const unsafe = stat && unsafeStat(this.file, stat, 'file');
    if (unsafe) {
      this.refuse(unsafe);
      return this.memory!;
    }
    // Each write is a new file renamed into place (a new inode); times in ms keep a fraction down to a microsecond or less.
    const key = stat ? `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}` : undefined;
    if (key === undefined || this.cache?.key !== key) {
      const data = this.readFile();
      this.cache = key === undefined || this.memory ? undefined : { key, data };
      if (!this.cache) return data;
    }
    this.cache.seen = seen;
    if (!seen && !this.checkedThisTurn) {
      this.checkedThisTurn = true;
      setImmediate(() => (this.checkedThisTurn = false)).unref();
    }
    return this.cache.data;
  }

  /**
   * The next read checks the file whatever the watch says: after taking a
   * lock, what another process wrote just before releasing it must be seen,
   * even if the watch's event for it has not been delivered yet.
   */
  revalidate(): void {
    this.missingDir?.forget();
    this.checkedThisTurn = false;
    if (this.cache) this.cache.seen = undefined;
  }

  /** Stops watching the directory (reads then check the file each turn). */
  close(): void {
    this.missingDir?.close();
    this.watch.close();
  }

  private readFile(): StoreData {
    if (this.memory) return this.memory;
    let raw: unknown;
    try {
      // As conf reads it (conf writes it): UTF-8 JSON, a missing file is an empty store.
      raw = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return emptyData();
      if (code === 'EACCES') {
        this.degradeToMemory(error);
        return this.memory!;
      }
      this.moveAside('it could not be parsed');
      return emptyData();
    }
    if (raw && typeof raw === 'object' && Object.keys(raw).length === 0) return emptyData();
    const parsed = StoreDataSchema.safeParse(raw);
    if (!parsed.success) {
      this.moveAside('unexpected contents');
      return emptyData();
    }
    for (const session of Object.values(parsed.data.sessions)) rememberSecret(session.access_token, session.refresh_token);
    return parsed.data;
  }

  /** Read-modify-write, serialised in this process and across processes. */
  update<T>(mutate: (data: StoreData) => T): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.memory) return mutate(this.memory);
      if (this.dirStillMissing(true)) {
        // A change that changes nothing (logout with nothing stored) creates nothing.
        const data = emptyData();
        const result = mutate(data);
        if (isDeepStrictEqual(data, emptyData())) return result;
        this.secureDir();
      }
      if (this.memory) return mutate(this.memory);
      const { Conf, lockfile } = await loadWriter();
      try {
        this.conf ??= this.openConf(Conf);
      } catch (error) {
        this.degradeToMemory(error);
      }
      if (this.memory) return mutate(this.memory);
      let release: (() => Promise<void>) | undefined;
      try {
        release = await lockfile.lock(this.file, {
          realpath: false,
          fs: PRIVATE_LOCK_FS,
          ...STORE_LOCK,
          retries: { retries: 300, factor: 1.2, minTimeout: 5, maxTimeout: 100 },
          // The default throws from a timer and would take the server down.
          onCompromised: (error) => this.log('warning', `The store lock was lost (${error.message}); another process may have written at the same time.`),
        });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EACCES' || (error as NodeJS.ErrnoException).code === 'EROFS') {
          this.degradeToMemory(error);
          return mutate(this.memory!);
        }
        throw error;
      }
      try {
        // A copy: the cached parse must not see a mutation that is never written.
        this.revalidate();
        const data = structuredClone(this.read());
        if (this.memory) return mutate(this.memory);
        const result = mutate(data);
        // conf writes through a symlink (it resolves the path first): never let it.
        if (!this.fileIsSafe()) {
          Object.assign(this.memory!, data);
          return result;
        }
        try {
          this.conf!.store = data;
          // Our own write: its watch event comes later, and the next read must already see it.
          this.revalidate();
        } catch (error) {
          this.degradeToMemory(error);
          Object.assign(this.memory!, data);
        }
        return result;
      } finally {
        await release().catch(() => {});
      }
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => {});
    return next;
  }

  /** The session of one application (its key: see app-key.ts). */
  getSession(key: AppKey): StoredSession | undefined {
    return this.read().sessions[key];
  }

  /** The key of the application whose session serves `url`: the most specific stored one, else the URL's origin. */
  appKeyFor(url: URL): AppKey {
    return longestKeyFor(Object.keys(this.read().sessions), url) ?? url.origin;
  }

  /**
   * Every application this store knows of, with a session or not: a refusal, a
   * login under way or resumable, a discovery (its `resource`). Not for choosing a
   * credential (appKeyFor does that); for naming the application a URL belongs to.
   */
  knownAppKeys(): AppKey[] {
    const data = this.read();
    const discovered = Object.values(data.discoveries).flatMap((entry) => {
      const resource = (entry as { resource?: unknown } | null)?.resource;
      return typeof resource === 'string' ? [resourceKey(resource)].filter((k): k is AppKey => k !== undefined) : [];
    });
    return [...Object.keys(data.sessions), ...Object.keys(data.refusals), ...Object.keys(data.logins), ...Object.keys(data.pending_logins), ...discovered];
  }

  listSessions(): StoredSession[] {
    return Object.values(this.read().sessions);
  }

  putSession(session: StoredSession): Promise<void> {
    rememberSecret(session.access_token, session.refresh_token);
    return this.update((data) => {
      data.sessions[sessionKey(session)] = session;
    });
  }

  /** Deletes a session only if it is still the one we looked at (another process may have replaced it). */
  deleteSession(key: AppKey, ifAccessToken?: string): Promise<StoredSession | undefined> {
    return this.update((data) => {
      const current = data.sessions[key];
      if (!current || (ifAccessToken !== undefined && current.access_token !== ifAccessToken)) return undefined;
      delete data.sessions[key];
      return current;
    });
  }

  /** A refusal of this application that still holds back browser logins, if any. */
  getRefusal(key: AppKey, now = Date.now()): Refusal | undefined {
    const refusal = this.read().refusals[key];
    return refusal && refusal.until > now ? refusal : undefined;
  }

  /** Applications held back by a refusal now. */
  refusedKeys(now = Date.now()): AppKey[] {
    return Object.entries(this.read().refusals)
      .filter(([, refusal]) => refusal.until > now)
      .map(([key]) => key);
  }

  putRefusal(key: AppKey, message: string, coolDownMs: number, kind: 'refused' | 'failed' = 'refused'): Promise<void> {
    const now = Date.now();
    return this.update((data) => {
      data.refusals[key] = { at: now, until: now + coolDownMs, message, kind };
    });
  }

  deleteRefusal(key: AppKey): Promise<void> {
    return this.update((data) => {
      delete data.refusals[key];
    });
  }

  getRegistration(key: string): Registration | undefined {
    return this.read().registrations[key];
  }

  putRegistration(key: string, registration: Registration): Promise<void> {
    const entry = { ...registration };
    return this.update((data) => {
      data.registrations[key] = entry;
    });
  }

  deleteRegistration(key: string, clientId: string): Promise<void> {
    return this.update((data) => {
      if (data.registrations[key]?.client_id === clientId) delete data.registrations[key];
    });
  }

  /** The redirect URI host form that worked for this authorization server (unchecked: see callback-host.ts). */
  getCallbackHost(authorizationServer: string): string | undefined {
    return this.read().callback_hosts[authorizationServer];
  }

  putCallbackHost(authorizationServer: string, host: string): Promise<void> {
    return this.update((data) => {
      data.callback_hosts[authorizationServer] = host;
    });
  }

  /** Unchecked: discovery-cache.ts validates what it reads. */
  getDiscovery(metadataUrl: string): unknown {
    return this.read().discoveries[metadataUrl];
  }

  /** The metadata URLs of every stored discovery. */
  discoveryUrls(): string[] {
    return Object.keys(this.read().discoveries);
  }

  /** Stores a discovery, dropping the stored ones `stale` says are past use. */
  putDiscovery(metadataUrl: string, discovery: unknown, stale: (entry: unknown) => boolean = () => false): Promise<void> {
    return this.update((data) => {
      for (const [url, entry] of Object.entries(data.discoveries)) if (stale(entry)) delete data.discoveries[url];
      data.discoveries[metadataUrl] = discovery;
    });
  }

  deleteDiscovery(metadataUrl: string): Promise<void> {
    return this.update((data) => {
      delete data.discoveries[metadataUrl];
    });
  }

  getLogin(origin: string): LoginRecord | undefined {
    return this.read().logins[origin];
  }

  putLogin(record: LoginRecord): Promise<void> {
    return this.update((data) => {
      data.logins[record.origin] = record;
    });
  }

  /** Removes the login record of `origin` if `owns` says it is still the one meant. */
  deleteLogin(origin: string, owns: (record: LoginRecord) => boolean = () => true): Promise<boolean> {
    return this.update((data) => {
      const current = data.logins[origin];
      if (!current || !owns(current)) return false;
      delete data.logins[origin];
      return true;
    });
  }
}

/**
 * Registrations are kept per team, application and redirect URI. Without an
 * application (or for a host-wide one, when stored before applications were
 * told apart) the key has two parts: `<team> <redirect URI>`.
 */
export function registrationKey(authorizationServer: string, redirectUri: string, app?: AppKey): string {
  return app === undefined ? `${authorizationServer} ${redirectUri}` : `${authorizationServer} ${app} ${redirectUri}`;
}

/** Where a session is kept: its application, else (stores from before, cloudflared) its origin. */
export function sessionKey(session: Pick<StoredSession, 'origin' | 'app'>): AppKey {
  return session.app ?? session.origin;
}

/** Whether anything (even a dangling link) is at `path`; an error other than "none" counts as something, for the checks to name. */
function entryExists(path: string): boolean {
  try {
    return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return true;
  }
}

/** A stored `resource` as an application key (origin, plus its path without a trailing slash), if it parses. */
function resourceKey(resource: string): AppKey | undefined {
  try {
    const url = new URL(resource);
    return url.origin + url.pathname.replace(/\/+$/, '');
  } catch {
    return undefined;
  }
}
