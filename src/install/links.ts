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

/** The file a write to `file` reaches, when that is not `file` itself (a link on the way); undefined otherwise. */
export async function realFileOf(file: string): Promise<string | undefined> {
  const real = await realpath(file).catch(async () => join(await realpath(dirname(file)).catch(() => dirname(file)), basename(file)));
  return real === file ? undefined : real;
}
