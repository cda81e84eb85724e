import fs from 'node:fs';

/** proper-lockfile (with graceful-fs), loaded on the first lock: reading the store needs none. */
let lockfileModule: Promise<typeof import('proper-lockfile')> | undefined;
export const loadLockfile = () => (lockfileModule ??= import('proper-lockfile').then((m) => m.default));

type Callback<T = void> = (error: NodeJS.ErrnoException | null, value?: T) => void;

/**
 * A holder sets its lock's mtime to now, rounded up to the next second at
 * most; anything further ahead was not set by a live holder (a planted lock
 * would otherwise never go stale).
 */
const FUTURE_SLACK_MS = 5_000;

const lastOf = (rest: unknown[]) => rest[rest.length - 1] as Callback<never>;

/**
 * How proper-lockfile sees a lock: never through a link, and as stale (mtime
 * 0) when it is not a real directory or its mtime lies in the future.
 */
function lockStat(path: fs.PathLike, ...rest: unknown[]): void {
  const callback = lastOf(rest) as Callback<fs.Stats>;
  fs.lstat(path, (error, stats) => {
    if (error) return callback(error);
    const planted = !stats.isDirectory() || stats.mtimeMs > Date.now() + FUTURE_SLACK_MS;
    callback(null, planted ? Object.assign(Object.create(stats) as fs.Stats, { mtime: new Date(0), mtimeMs: 0 }) : stats);
  });
}

/** Removes a lock; a link or file in its place is unlinked, never followed. */
function lockRemove(path: fs.PathLike, ...rest: unknown[]): void {
  const callback = lastOf(rest) as Callback;
  fs.lstat(path, (error, stats) => {
    if (error) return callback(error);
    if (stats.isDirectory()) fs.rmdir(path, callback);
    else fs.unlink(path, callback);
  });
}

/**
 * The file system proper-lockfile is given for every lock under the store:
 * the same calls, except that a lock directory is created 0700 like the store
 * itself (its default mkdir leaves 0755 under the usual umask), and nothing
 * is stat-ed, touched or removed through a symbolic link.
 */
export const PRIVATE_LOCK_FS = {
  ...fs,
  mkdir: (path: fs.PathLike, ...rest: unknown[]) => {
    fs.mkdir(path, { mode: 0o700 }, lastOf(rest));
  },
  stat: lockStat,
  rmdir: lockRemove,
  utimes: (path: fs.PathLike, atime: fs.TimeLike, mtime: fs.TimeLike, callback: Callback) => fs.lutimes(path, atime, mtime, callback),
};
