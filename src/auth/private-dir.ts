import { accessSync, chmodSync, closeSync, constants as fsConstants, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';

/** Why a path may not hold secrets, and what the user can do about it. */
export interface Unsafe {
  problem: string;
  fix: string;
}

const POSIX = process.platform !== 'win32';
const O_NOFOLLOW = fsConstants.O_NOFOLLOW ?? 0;
const O_DIRECTORY = fsConstants.O_DIRECTORY ?? 0;
const OWN_DIR_FIX = 'choose a directory you own: CF_ACCESS_MCP_HOME=~/.config/cf-access-mcp';

/**
 * Makes `dir` a private directory for secrets, or says why it cannot be one:
 * created 0700 when missing; otherwise it must be a real directory (not a
 * symlink), owned by us, and end up 0700 (tightened if ours and too open).
 * Throws only when the directory cannot be created (the caller's "not writable" case).
 */
export function securePrivateDir(dir: string): Unsafe | undefined {
  if (!lstatOrUndefined(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const link = lstatOrUndefined(dir);
  if (link?.isSymbolicLink()) {
    return { problem: `${dir} is a symbolic link`, fix: `Point CF_ACCESS_MCP_HOME at a real directory, or ${OWN_DIR_FIX}.` };
  }
  if (!POSIX) return undefined;
  let fd: number;
  try {
    // Checked and tightened through one descriptor opened without following links: no swap between check and chmod.
    fd = openSync(dir, fsConstants.O_RDONLY | O_NOFOLLOW | O_DIRECTORY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return { problem: `${dir} is a symbolic link`, fix: `Point CF_ACCESS_MCP_HOME at a real directory, or ${OWN_DIR_FIX}.` };
    if (code === 'ENOTDIR') return { problem: `${dir} is not a directory`, fix: `Remove it, or ${OWN_DIR_FIX}.` };
    // Our own directory without read permission: checked by path (lstat above showed no link).
    if (code === 'EACCES') return checkOwnedPrivate(dir, () => lstatSync(dir), (mode) => chmodSync(dir, mode));
    throw error;
  }
  try {
    return checkOwnedPrivate(dir, () => fstatSync(fd), (mode) => fchmodSync(fd, mode));
  } finally {
    closeSync(fd);
  }
}

function checkOwnedPrivate(dir: string, statNow: () => Stats, chmod: (mode: number) => void): Unsafe | undefined {
  const stat = statNow();
  if (!stat.isDirectory()) return { problem: `${dir} is not a directory`, fix: `Remove it, or ${OWN_DIR_FIX}.` };
  const uid = process.getuid!();
  if (stat.uid !== uid) {
    return { problem: `${dir} belongs to another user (uid ${stat.uid}, you are uid ${uid}), who could plant sign-in links or sessions in it`, fix: `Do not use it: ${OWN_DIR_FIX}.` };
  }
  if ((stat.mode & 0o077) === 0) return undefined;
  try {
    chmod(0o700);
  } catch {
    /* verified below */
  }
  if ((statNow().mode & 0o077) !== 0) {
    return { problem: `${dir} is open to other users (mode ${(stat.mode & 0o777).toString(8)}) and could not be made private`, fix: `Run chmod 700 ${dir}, or ${OWN_DIR_FIX}.` };
  }
  return undefined;
}

/**
 * Why an existing entry inside the private directory must not be read or
 * written: a symlink (we would act on its target), not a regular file, or
 * another user's (planted while the directory was open). Undefined when it is
 * absent or fine.
 */
export function unsafeEntry(path: string, kind: 'file' | 'directory'): Unsafe | undefined {
  const stat = lstatOrUndefined(path);
  return stat ? unsafeStat(path, stat, kind) : undefined;
}

/** This process's user, asked once: the store checks its file against it on every read. */
let uid: number | undefined;

/** The same check on an lstat the caller already made (the store makes one per read). */
export function unsafeStat(path: string, stat: Pick<Stats, 'isSymbolicLink' | 'isFile' | 'isDirectory'> & { uid: number | bigint }, kind: 'file' | 'directory'): Unsafe | undefined {
  const fix = `Remove it (rm -r ${path}); it is recreated as needed.`;
  if (stat.isSymbolicLink()) return { problem: `${path} is a symbolic link`, fix };
  if (kind === 'file' ? !stat.isFile() : !stat.isDirectory()) return { problem: `${path} is not a ${kind}`, fix };
  if (POSIX && Number(stat.uid) !== (uid ??= process.getuid!())) return { problem: `${path} belongs to another user (uid ${stat.uid})`, fix };
  return undefined;
}

/** chmod that never acts through a symbolic link (a link is left alone). */
export function chmodNoFollow(path: string, mode: number): void {
  let fd: number | undefined;
  try {
    if (POSIX && O_NOFOLLOW) fd = openSync(path, fsConstants.O_RDONLY | O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') return;
    if ((error as NodeJS.ErrnoException).code !== 'EACCES') throw error;
  }
  if (fd === undefined) {
    // No O_NOFOLLOW here, or a file we may not read: by path, after making sure it is no link.
    if (!lstatSync(path).isSymbolicLink()) chmodSync(path, mode);
    return;
  }
  try {
    fchmodSync(fd, mode);
  } finally {
    closeSync(fd);
  }
}

/**
 * Why `dir`, which does not exist yet, could not be created later (a regular
 * file or an unwritable directory on its way), as the error mkdir would throw;
 * undefined when it exists or could be created. Creates nothing.
 */
export function whyNotCreatable(dir: string): NodeJS.ErrnoException | undefined {
  for (let path = dir; ; ) {
    let stat: Stats | undefined;
    try {
      stat = lstatOrUndefined(path);
    } catch (error) {
      return error as NodeJS.ErrnoException;
    }
    if (stat) {
      if (path === dir) return undefined;
      if (!stat.isDirectory() && !stat.isSymbolicLink()) return Object.assign(new Error(`${path} is not a directory`), { code: 'ENOTDIR' });
      try {
        accessSync(path, fsConstants.W_OK | fsConstants.X_OK);
        return undefined;
      } catch (error) {
        return error as NodeJS.ErrnoException;
      }
    }
    const parent = dirname(path);
    if (parent === path) return undefined;
    path = parent;
  }
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
