import { watch, type FSWatcher } from 'node:fs';

/**
 * Whether anything in a directory may have changed since a moment, without a
 * system call per question: one inotify (FSEvents, ReadDirectoryChangesW)
 * watch counts the events in it. `since(mark)` is false after any event, when
 * the watch failed or could not start, and once `maxAgeMs` has passed (a
 * network filesystem does not report another machine's writes).
 */
export class DirectoryWatch {
  private watcher: FSWatcher | undefined;
  private broken = false;
  private events = 0;

  constructor(
    private readonly dir: string,
    private readonly maxAgeMs = 1000,
  ) {}

  /** A mark for "now": start it before looking at the directory, so a change made while looking is counted. */
  mark(): { events: number; at: number } | undefined {
    if (!this.watcher && !this.broken) this.start();
    return this.broken ? undefined : { events: this.events, at: Date.now() };
  }

  /** True while nothing changed since `mark` (and it is recent enough to trust). */
  unchangedSince(mark: { events: number; at: number } | undefined): boolean {
    return mark !== undefined && !this.broken && this.events === mark.events && Date.now() - mark.at < this.maxAgeMs;
  }

  close(): void {
    this.broken = true;
    this.watcher?.close();
    this.watcher = undefined;
  }

  private start(): void {
    try {
      // Not persistent: a watch never keeps the process alive.
      this.watcher = watch(this.dir, { persistent: false }, () => void this.events++);
      this.watcher.on('error', () => this.close());
    } catch {
      // Out of watches (ENOSPC), or a filesystem without them: every read checks the file again.
      this.close();
    }
  }
}
