import fs from 'node:fs';

/**
 * The file system proper-lockfile is given for every lock under the store:
 * the same calls, except that a lock directory is created 0700 like the store
 * itself (its default mkdir leaves 0755 under the usual umask).
 */
export const PRIVATE_LOCK_FS = {
  ...fs,
  mkdir: (path: fs.PathLike, ...rest: unknown[]) => {
    const callback = rest[rest.length - 1] as (error: NodeJS.ErrnoException | null) => void;
    fs.mkdir(path, { mode: 0o700 }, callback);
  },
};
