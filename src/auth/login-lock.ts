import { createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { loadLockfile, PRIVATE_LOCK_FS } from './lock-fs.js';
import { unsafeEntry } from './private-dir.js';
import type { SessionStore } from './store.js';

/** What a per-origin lock guards: the browser login (held for minutes) or one refresh (held for one request). */
export type LockPurpose = 'login' | 'refresh';

export interface HeldLock {
  /** Idempotent; never throws. */
  release(): Promise<void>;
}

/**
 * A holder refreshes the lock's mtime every UPDATE_MS; a lock not refreshed for
 * STALE_MS belongs to a dead (or frozen) process and is taken over. Short, so a
 * SIGKILLed server blocks the next login for seconds, not minutes.
 */
const STALE_MS = 10_000;
const UPDATE_MS = 2_000;

/** Used when there is nothing to lock (memory-only store): this process is alone. */
const NO_LOCK: HeldLock = { release: async () => {} };

/**
 * Per-origin locks shared by every server process on one store directory
 * (proper-lockfile: an atomic mkdir of `<store>/locks/<hash>.<purpose>.lock`).
 */
export class OriginLocks {
  private warned = false;

  constructor(
    private readonly store: SessionStore,
    private readonly log: (level: 'warning' | 'info', message: string) => void = () => {},
  ) {}

  private fileFor(origin: string, purpose: LockPurpose): string {
    const name = createHash('sha256').update(origin).digest('hex').slice(0, 32);
    return join(this.store.dir, 'locks', `${name}.${purpose}`);
  }

  /** Takes the lock now, or reports that another holder has it. */
  async tryAcquire(origin: string, purpose: LockPurpose): Promise<HeldLock | 'busy'> {
    if (!this.store.createDir()) return NO_LOCK;
    const file = this.fileFor(origin, purpose);
    try {
      const locksDir = join(this.store.dir, 'locks');
      // A planted link would put our locks (and their removal) wherever it points.
      const unsafe = unsafeEntry(locksDir, 'directory');
      if (unsafe) throw new Error(`${unsafe.problem}. ${unsafe.fix}`);
      mkdirSync(locksDir, { recursive: true, mode: 0o700 });
      const lockfile = await loadLockfile();
      const release = await lockfile.lock(file, {
        realpath: false,
        fs: PRIVATE_LOCK_FS,
        stale: STALE_MS,
        update: UPDATE_MS,
        retries: 0,
        onCompromised: (error) =>
          this.log('warning', `The ${purpose} lock for ${origin} was lost (${error.message}); another process may be doing the same ${purpose}.`),
      });
      // What the last holder wrote must be read now, whether or not its watch event has arrived.
      this.store.revalidate();
      let released = false;
      return {
        release: async () => {
          if (released) return;
          released = true;
          await release().catch(() => {});
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ELOCKED') return 'busy';
      // Locking is a courtesy to other processes: without it this one still works on its own.
      if (!this.warned) {
        this.warned = true;
        this.log('warning', `Could not create a lock in ${this.store.dir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); logins are not coordinated with other cf-access-mcp processes.`);
      }
      return NO_LOCK;
    }
  }

  /** Waits up to `waitMs` for the lock; undefined when it stayed busy. */
  async acquire(origin: string, purpose: LockPurpose, waitMs: number): Promise<HeldLock | undefined> {
    const deadline = Date.now() + waitMs;
    for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
      const lock = await this.tryAcquire(origin, purpose);
      if (lock !== 'busy') return lock;
      if (Date.now() + delay > deadline) return undefined;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  /** Removes a lock whose holder is known to be dead. Call only under the store lock, after checking that. */
  forceRemove(origin: string, purpose: LockPurpose): void {
    rmSync(`${this.fileFor(origin, purpose)}.lock`, { recursive: true, force: true });
  }
}

export interface LockOwner {
  pid: number;
  hostname: string;
}

export function currentOwner(): LockOwner {
  return { pid: process.pid, hostname: hostname() };
}

/**
 * True when the owner was a process on this machine that no longer exists.
 * A reused pid makes a dead owner look alive; the lock's staleness covers that.
 */
export function ownerIsGone(owner: LockOwner): boolean {
  if (owner.hostname !== hostname() || owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
