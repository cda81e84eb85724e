/**
 * Symbolic links on the way to a client's config file. A user's own config
 * (user scope, in their home directory) may be a link into a dotfiles
 * repository, and is written where it points. A file in the project
 * directory may not: a cloned repository can plant `.mcp.json` or `.vscode`
 * as a link to anywhere (~/.ssh, another project), and the write would land
 * there while the output named the link.
 */
import { lstat, readlink, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';

export interface FoundLink {
  link: string;
  /** Where it points, resolved to an absolute path. */
  target: string;
  isDirectory: boolean;
}

/** The first symbolic link among the parts of `file` below `project` (the file itself included), if any. */
export async function linkInProject(file: string, project: string): Promise<FoundLink | undefined> {
  const below = relative(project, file);
  const parts = below === '' || below.startsWith('..') || isAbsolute(below) ? [file] : below.split(/[\\/]/).map((_, i, all) => join(project, ...all.slice(0, i + 1)));
  for (const part of parts) {
    const info = await lstat(part).catch(() => undefined);
    if (!info) return undefined;
    if (info.isSymbolicLink()) {
      const target = await realpath(part).catch(async () => resolve(dirname(part), await readlink(part)));
      return { link: part, target, isDirectory: part !== file };
    }
  }
  return undefined;
}

/** Where a write to a user's config lands: `path` (the file itself, or where its links lead), or a link to a missing directory. */
export type WrittenFile = { path: string } | { link: string; target: string; missingDirectory: string };

/** Links followed by hand before giving up (the kernel's own limit is 40). */
const MAX_HOPS = 40;

/**
 * The file a write to `file` reaches. A link that points to a file not there yet (dotfiles set up before
 * the client ran) is followed by hand, since realpath fails: the write creates its target, as the client
 * would, instead of replacing the link with a regular file.
 */
export async function writtenFileOf(file: string): Promise<WrittenFile> {
  const real = await realpath(file).catch(() => undefined);
  if (real) return { path: real };
  let target = file;
  for (let hops = 0; hops < MAX_HOPS && (await lstat(target).catch(() => undefined))?.isSymbolicLink(); hops++) {
    target = resolve(dirname(target), await readlink(target));
  }
  // Not a link (a new file), or a directory on the way is one: where the write goes is its directory's real path.
  if (target === file) return { path: join(await realpath(dirname(file)).catch(() => dirname(file)), basename(file)) };
  const directory = await realpath(dirname(target)).catch(() => undefined);
  if (!directory) return { link: file, target, missingDirectory: dirname(target) };
  return { path: join(directory, basename(target)) };
}
