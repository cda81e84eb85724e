/**
 * save_to: streams a whole response body to a file, with no byte cap and
 * without holding it in memory. The body goes to a temporary file next to the
 * target and is renamed into place only when complete, so a failed download
 * never leaves a half-written file or destroys an earlier one.
 *
 * Path rules: `~/` means the home directory; a relative path is resolved
 * against the server's working directory (the one the MCP client started it
 * in); missing parent directories are created; an existing file is replaced;
 * a directory is refused.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AccessError } from '../auth/errors.js';
import { networkError, type BodyStream } from './client.js';

export interface SavedFile {
  path: string;
  bytes: number;
}

/** Checks and resolves a save_to path before anything is requested. */
export async function resolveSavePath(input: string, url: URL): Promise<string> {
  const raw = input.trim();
  const suggestion = suggestedName(url);
  if (raw === '') {
    throw new AccessError('save_failed', 'save_to is empty.', `Pass a file path, e.g. save_to: "./downloads/${suggestion}".`);
  }
  const expanded = raw === '~' ? homedir() : raw.startsWith('~/') ? join(homedir(), raw.slice(2)) : raw;
  const path = resolve(expanded);
  if (/[\\/]$/.test(raw) || (await isDirectory(path))) {
    throw new AccessError('save_failed', `save_to names a directory (${path}), not a file.`, `Give a file path inside it, e.g. save_to: "${join(path, suggestion)}".`);
  }
  return path;
}

/** Writes the whole body to `path` (see the module comment for the rules). */
export async function saveBodyToFile(body: BodyStream, path: string, url: URL): Promise<SavedFile> {
  const directory = dirname(path);
  try {
    await makeDirectories(directory);
  } catch (error) {
    body.on('error', () => {}).destroy();
    throw fileError(error, path, 'create its directory');
  }
  const temporary = join(directory, `.${basename(path)}.${randomBytes(4).toString('hex')}.part`);
  let bytes = 0;
  try {
    await pipeline(
      body,
      async function* count(source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          bytes += chunk.length;
          yield chunk;
        }
      },
      createWriteStream(temporary, { flags: 'wx' }),
    );
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => {});
    if (isFileSystemError(error)) throw fileError(error, path, 'write it');
    throw networkError(error, url);
  }
  return { path, bytes };
}

/**
 * mkdir -p, one level at a time: Node 20's `mkdir(…, { recursive: true })`
 * spins forever when the file system answers ENOENT for a parent that exists
 * (/proc, /sys), which would hang the tool call.
 */
async function makeDirectories(directory: string): Promise<void> {
  const missing: string[] = [];
  for (let dir = directory; !(await exists(dir)); dir = dirname(dir)) {
    missing.push(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of missing.reverse()) {
    await mkdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

function isFileSystemError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException)?.code ?? '';
  return ['EACCES', 'EPERM', 'ENOSPC', 'EROFS', 'EISDIR', 'ENOTDIR', 'EEXIST', 'EDQUOT', 'EMFILE', 'ENAMETOOLONG', 'ENOENT'].includes(code);
}

function fileError(error: unknown, path: string, action: string): AccessError {
  const code = (error as NodeJS.ErrnoException)?.code;
  const reason =
    code === 'EACCES' || code === 'EPERM'
      ? 'permission denied'
      : code === 'ENOSPC' || code === 'EDQUOT'
        ? 'the disk is full'
        : code === 'EROFS'
          ? 'the file system is read-only'
          : code === 'ENOTDIR' || code === 'EEXIST'
            ? 'a part of the path is a file, not a directory'
            : ((error as Error)?.message ?? String(error));
  return new AccessError('save_failed', `Could not save to ${path}: failed to ${action} (${reason}).`, 'Choose a writable file path for save_to (for example inside the project directory) and call again.', {
    cause: error,
  });
}

/** A file name taken from the URL's last path segment, for hints. */
function suggestedName(url: URL): string {
  const segment = url.pathname.split('/').filter(Boolean).pop() ?? '';
  let last = segment;
  try {
    last = decodeURIComponent(segment);
  } catch {
    // keep it encoded
  }
  last = last.replace(/[\\/:*?"<>|\0]/g, '_');
  return last && last !== '.' && last !== '..' ? last : 'download.bin';
}
