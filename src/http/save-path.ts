/**
 * Where save_to may write. A path from an agent (possibly prompt-injected) is
 * confined: it must lie under one of the allowed roots once every symlink is
 * resolved, name no hidden file or directory below the root (.ssh, .git,
 * .bashrc, .mcp.json…), and not be anything but a regular file; an existing
 * file is replaced only when the caller asked for it.
 */
import { lstat, realpath, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, relative, resolve, sep, isAbsolute } from 'node:path';
import type { Stats } from 'node:fs';
import { AccessError } from '../core/errors.js';
import { arg } from '../core/next-step.js';

export interface Confinement {
  /** Directories the file may be written under. */
  roots: string[];
  /** Whether an existing regular file may be replaced. */
  overwrite: boolean;
}

/** Checks and resolves a save_to path (lexically) before anything is requested. */
export async function resolveSavePath(input: string, url: URL, base: string = process.cwd()): Promise<string> {
  const raw = input.trim();
  const suggestion = suggestedName(url);
  if (raw === '') {
    throw new AccessError('save_failed', `${arg('save')} is empty.`, `Pass a file path, e.g. ${arg('save', `./downloads/${suggestion}`)}.`);
  }
  const expanded = raw === '~' ? homedir() : raw.startsWith('~/') ? join(homedir(), raw.slice(2)) : raw;
  const path = resolve(base, expanded);
  if (/[\\/]$/.test(raw) || (await statOf(path, true))?.isDirectory()) {
    throw new AccessError('save_failed', `${arg('save')} names a directory (${path}), not a file.`, `Give a file path inside it, e.g. ${arg('save', join(path, suggestion))}.`);
  }
  return path;
}

/** The directory relative save_to paths start from: the working directory when it is inside a root, else the first root. */
export function relativeBase(roots: string[], cwd: string = process.cwd()): string {
  return roots.length === 0 || roots.some((root) => isWithin(cwd, resolve(root))) ? cwd : resolve(roots[0]!);
}

/**
 * Resolves `path` to the file that would really be written and refuses it
 * unless it is allowed by `confinement` (see the module comment).
 */
export async function confineSavePath(path: string, url: URL, confinement: Confinement): Promise<string> {
  const roots = await realRoots(confinement.roots);
  const example = roots[0] === undefined ? suggestedName(url) : join(roots[0], suggestedName(url));
  const real = await realTarget(path);
  const root = roots.find((r) => isWithin(real, r));
  if (root === undefined) {
    const viaLink = confinement.roots.some((r) => isWithin(path, resolve(r))) ? ` (it leads, through a symbolic link, to ${real})` : '';
    throw new AccessError(
      'save_failed',
      `${arg('save')} ${path} is outside the directories this server may write to${viaLink}: ${roots.join(', ') || 'none exist'}.`,
      `Choose a path under ${roots[0] ?? 'the project directory'}, e.g. ${arg('save', example)}.`,
    );
  }
  const hidden = hiddenPart(real, root) ?? confinement.roots.map((r) => hiddenPart(path, resolve(r))).find(Boolean);
  if (hidden) {
    throw new AccessError(
      'save_failed',
      `${arg('save')} ${path} goes through "${hidden}", a hidden file or directory; those hold configuration and credentials (.ssh, .git, .bashrc, .mcp.json…) and are never written there.`,
      `Choose a path with no part starting with ".", e.g. ${arg('save', example)}.`,
    );
  }
  const existing = await statOf(real, false);
  if (existing && !existing.isFile()) {
    throw new AccessError('save_failed', `${arg('save')} ${path} is ${kindOf(existing)}, not a regular file; refusing to write to it.`, `Choose a new file name, e.g. ${arg('save', example)}.`);
  }
  if (existing && !confinement.overwrite) {
    throw new AccessError('save_failed', `${arg('save')} ${path} already exists; it was left unchanged.`, `Pass ${arg('replace_file', true)} to replace it, or choose another file name.`);
  }
  return real;
}

/** The roots as real paths (symlinks resolved); roots that do not exist are left out. */
async function realRoots(roots: string[]): Promise<string[]> {
  const resolved = await Promise.all(roots.map((root) => realpath(resolve(root)).catch(() => undefined)));
  return [...new Set(resolved.filter((r): r is string => r !== undefined))];
}

/**
 * The real path of the deepest existing ancestor, plus the parts that do not
 * exist yet. A dangling symlink counts as existing (lstat), so it is then
 * refused as "not a regular file" instead of being followed.
 */
export async function realTarget(path: string): Promise<string> {
  const rest: string[] = [];
  for (let current = path; ; current = dirname(current)) {
    try {
      return join(await realpath(current), ...rest.reverse());
    } catch {
      if (dirname(current) === current) return path;
      rest.push(basename(current));
    }
  }
}

/** The first part of `path` below `root` that starts with a dot, if `path` is under `root`. */
function hiddenPart(path: string, root: string): string | undefined {
  if (!isWithin(path, root)) return undefined;
  return relative(root, path)
    .split(sep)
    .find((part) => part.startsWith('.'));
}

export function isWithin(path: string, root: string): boolean {
  const rel = relative(fold(root), fold(path));
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

function fold(p: string): string {
  return process.platform === 'win32' || process.platform === 'darwin' ? p.toLowerCase() : p;
}

async function statOf(path: string, follow: boolean): Promise<Stats | undefined> {
  try {
    return await (follow ? stat(path) : lstat(path));
  } catch {
    return undefined;
  }
}

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isSymbolicLink()) return 'a symbolic link that leads nowhere';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  if (stats.isFIFO()) return 'a named pipe';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** A file name taken from the URL's last path segment, for hints. */
export function suggestedName(url: URL): string {
  const segment = url.pathname.split('/').filter(Boolean).pop() ?? '';
  let last = segment;
  try {
    last = decodeURIComponent(segment);
  } catch {
    // keep it encoded
  }
  last = last.replace(/[\\/:*?"<>|\0]/g, '_').replace(/^\.+/, '');
  return last && last !== '.' && last !== '..' ? last : 'download.bin';
}
