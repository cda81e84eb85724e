import { lstatSync } from 'node:fs';
import { dirname } from 'node:path';
import { DirectoryWatch } from './dir-watch.js';

/**
 * Whether a directory that was missing still is, at the cost of a store
 * directory that exists: a DirectoryWatch on its nearest existing ancestor
 * sees the next step of the path created (the directory itself, or a parent of
 * it), so while that watch has seen nothing since the directory was last found
 * missing, no system call is needed; without a watch, one check per turn of
 * the event loop.
 */
export class MissingDirectory {
  private watch: DirectoryWatch | undefined;
  private watched: string | undefined;
  private seen: ReturnType<DirectoryWatch['mark']>;
  private checkedThisTurn = false;
  private closed = false;

  constructor(private readonly dir: string) {}

  /** True while the directory is missing; answered without looking while nothing changed since it was last found missing. */
  stillMissing(): boolean {
    if (this.checkedThisTurn || this.watch?.unchangedSince(this.seen)) return true;
    return this.checkNow();
  }

  /** Looks now, whatever the watch says (before a write: what another process made just now must be seen). */
  checkNow(): boolean {
    // Start the watch before looking, so that a directory made while looking is counted; a new nearest ancestor means a new watch, and one more look.
    for (let tries = 0; tries < 3; tries++) {
      const mark = this.watch?.mark();
      const nearest = nearestExisting(this.dir);
      if (nearest === this.dir) return false;
      if (nearest === this.watched) return this.foundMissing(mark);
      this.watchAt(nearest);
    }
    return this.foundMissing(undefined);
  }

  /** The next stillMissing() looks again (a lock was just taken). */
  forget(): void {
    this.seen = undefined;
    this.checkedThisTurn = false;
  }

  /** Stops watching for good (every look then checks, once per turn). */
  close(): void {
    this.closed = true;
    this.watch?.close();
    this.watch = undefined;
  }

  private foundMissing(mark: ReturnType<DirectoryWatch['mark']>): true {
    this.seen = mark;
    if (!mark && !this.checkedThisTurn) {
      this.checkedThisTurn = true;
      setImmediate(() => (this.checkedThisTurn = false)).unref();
    }
    return true;
  }

  private watchAt(dir: string): void {
    this.watch?.close();
    this.watch = this.closed ? undefined : new DirectoryWatch(dir);
    this.watched = dir;
  }
}

/** `dir` when anything is there (an error other than "none" counts as something, for the store's checks to name), else its nearest ancestor that is. */
function nearestExisting(dir: string): string {
  for (let path = dir; ; path = dirname(path)) {
    if (dirname(path) === path) return path;
    try {
      if (lstatSync(path, { throwIfNoEntry: false }) !== undefined) return path;
    } catch {
      return path;
    }
  }
}
