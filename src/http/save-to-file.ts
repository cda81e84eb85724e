/**
 * save_to: streams a whole response body to a file without holding it in
 * memory. Two callers, two sets of rules:
 *
 * - an agent's save_to (`confined`): the path was already checked by
 *   confineSavePath; a new file is created exclusively (O_EXCL, mode 0600,
 *   new directories 0700) and removed again if the download fails or passes
 *   the byte cap; an existing regular file is replaced (overwrite: true) by
 *   writing aside and renaming, so a failed download keeps the old one.
 * - a path a person typed (CLI `fetch -o`, as curl does): anything the user
 *   can write; a device or pipe (`-o /dev/null`) is written in place and stays
 *   what it is; a symlink is written through. Its directory must exist: the
 *   caller makes it only when asked (curl's --create-dirs).
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, type Stats } from 'node:fs';
import { lstat, mkdir, open, realpath, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { getSystemErrorMap } from 'node:util';
import { pipeline } from 'node:stream/promises';
import { AccessError } from '../core/errors.js';
import { SecretScrubber, scrubbedStream } from '../core/secret-scrubber.js';
import { networkError, type BodyStream } from './client.js';
import { arg } from '../core/next-step.js';

export { resolveSavePath } from './save-path.js';

export interface SavedFile {
  path: string;
  bytes: number;
}

/** Where the CLI streams a body it does not convert (stdout, like curl). */
export interface BodySink {
  out: NodeJS.WritableStream;
  /** Like curl -f: an HTTP status from this one up is not written. */
  skipStatusAtLeast?: number;
}

/**
 * Streams the whole body into `out` (left open: it is stdout), byte for byte,
 * with back-pressure, and returns how many bytes went through.
 */
export async function streamBodyTo(body: BodyStream, out: NodeJS.WritableStream, url: URL, secrets: readonly string[] = []): Promise<number> {
  let bytes = 0;
  try {
    await pipeline(
      body,
      new SecretScrubber(secrets),
      async function* count(source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          bytes += chunk.length;
          yield chunk;
        }
      },
      out,
      { end: false },
    );
  } catch (error) {
    body.on('error', () => {}).destroy();
    if ((error as NodeJS.ErrnoException)?.code === 'EPIPE') {
      throw new AccessError('save_failed', `The output was closed after ${bytes} bytes, before the whole body was written.`, 'Nothing to do if the reading program stopped on purpose (e.g. head); otherwise write to a file with -o.', { cause: error });
    }
    // The output itself failed (a full disk behind `> file`): not the network's fault.
    if ((out as { errored?: unknown }).errored != null || (error as NodeJS.ErrnoException)?.syscall === 'write') {
      const code = (error as NodeJS.ErrnoException).code ?? 'an error';
      throw new AccessError('save_failed', `Could not write the output after ${bytes} bytes (${code}).`, 'Check where the output goes (free space, permissions), or write to a file elsewhere with -o.', { cause: error });
    }
    throw networkError(error, url);
  }
  return bytes;
}

export interface SaveOptions {
  /** An agent's save_to (see the module comment); absent for a path the user typed. */
  confined?: { overwrite: boolean; maxBytes: number };
  /** The credentials the request carried: masked (same length) wherever the body echoes them. */
  secrets?: readonly string[];
  /** A path the user typed: create its missing directories once the body is there to write (curl's --create-dirs). */
  createDirectories?: boolean;
}

/** Writes the whole body to `path` (see the module comment for the rules). */
export async function saveBodyToFile(served: BodyStream, path: string, url: URL, options: SaveOptions = {}): Promise<SavedFile> {
  // Only Readable's own methods are used on the body below.
  const body = scrubbedStream(served, options.secrets ?? []) as BodyStream;
  const confined = options.confined;
  try {
    // An agent's save_to makes its missing directories (private); a typed path only when asked (--create-dirs).
    if (confined) await makeDirectories(dirname(path), 0o700);
    else if (options.createDirectories) await makeDirectories(dirname(path));
  } catch (error) {
    body.on('error', () => {}).destroy();
    throw fileError(error, path, 'create its directory');
  }
  return confined ? saveConfined(body, path, url, confined) : saveAsTyped(body, path, url);
}

async function saveConfined(body: BodyStream, path: string, url: URL, confined: { overwrite: boolean; maxBytes: number }): Promise<SavedFile> {
  await assertParentUnmoved(body, path);
  const existing = await lstat(path).catch(() => undefined);
  if (!existing) return writeNewFile(body, path, url, confined.maxBytes);
  // Checked before the request too; checked again because the file system may have changed meanwhile.
  if (!existing.isFile() || !confined.overwrite) {
    body.on('error', () => {}).destroy();
    throw new AccessError('save_failed', `${arg('save')} ${path} appeared or changed while downloading; it was left unchanged.`, 'Call again to see why it is refused now.');
  }
  return writeAsideThenRename(body, path, url, { mode: 0o600, maxBytes: confined.maxBytes, stillRegular: true });
}

async function saveAsTyped(body: BodyStream, path: string, url: URL): Promise<SavedFile> {
  const target = await realpath(path).catch(() => path);
  const existing = await stat(target).catch(() => undefined);
  if (existing && isSpecial(existing)) return writeInPlace(body, target, url);
  return writeAsideThenRename(body, target, url, {});
}

/**
 * `path` was checked with every symlink resolved; O_EXCL protects the last
 * component only. A directory above it that was swapped for a symlink during
 * the request would carry the file out of the roots, so the parent must still
 * resolve to itself.
 */
async function assertParentUnmoved(body: BodyStream, path: string): Promise<void> {
  if (!(await parentMoved(path))) return;
  body.on('error', () => {}).destroy();
  throw parentMovedError(path);
}

async function parentMoved(path: string): Promise<boolean> {
  return (await realpath(dirname(path)).catch(() => undefined)) !== dirname(path);
}

function parentMovedError(path: string): AccessError {
  return new AccessError('save_failed', `${arg('save')} ${path}: a directory on the way changed while downloading (it now leads elsewhere); nothing was kept.`, 'Call again to see whether the path is allowed now.');
}

/** O_EXCL: never follows a symlink, never replaces what appeared meanwhile; the partial file goes on failure. */
async function writeNewFile(body: BodyStream, path: string, url: URL, maxBytes: number): Promise<SavedFile> {
  let file: FileHandle;
  try {
    // Opened before streaming, so a failure always knows whether it created the file (and removes only its own).
    file = await open(path, 'wx', 0o600);
  } catch (error) {
    body.on('error', () => {}).destroy();
    throw saveError(error, path, url);
  }
  // Between the check above and the open, the parent may still have been swapped: then the file is not where it was meant to be.
  if (await parentMoved(path)) {
    await file.close().catch(() => {});
    await rm(path, { force: true }).catch(() => {});
    body.on('error', () => {}).destroy();
    throw parentMovedError(path);
  }
  try {
    const bytes = await streamTo(body, file.createWriteStream(), maxBytes, path);
    return { path, bytes };
  } catch (error) {
    await file.close().catch(() => {});
    await rm(path, { force: true }).catch(() => {});
    throw saveError(error, path, url);
  }
}

/** A device or pipe the user named: written in place, as curl does (renaming over it would replace the device). */
async function writeInPlace(body: BodyStream, path: string, url: URL): Promise<SavedFile> {
  try {
    const bytes = await streamTo(body, createWriteStream(path, { flags: 'w' }), Infinity, path);
    return { path, bytes };
  } catch (error) {
    throw saveError(error, path, url);
  }
}

async function writeAsideThenRename(body: BodyStream, path: string, url: URL, options: { mode?: number; maxBytes?: number; stillRegular?: boolean }): Promise<SavedFile> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.part`);
  try {
    const file = await open(temporary, 'wx', options.mode ?? 0o666).catch((error: unknown) => {
      throw fileError(error, path, `create a file in its directory ${dirname(path)}`);
    });
    const bytes = await streamTo(body, file.createWriteStream(), options.maxBytes ?? Infinity, path);
    if (options.stillRegular && !(await lstat(path).catch(() => undefined))?.isFile()) {
      throw new AccessError('save_failed', `${arg('save')} ${path} changed while downloading (it is no longer a regular file); it was left unchanged.`, 'Call again to see why it is refused now.');
    }
    await rename(temporary, path);
    return { path, bytes };
  } catch (error) {
    body.on('error', () => {}).destroy();
    await rm(temporary, { force: true }).catch(() => {});
    throw saveError(error, path, url);
  }
}

/** Pipes the body into `out`, stopping (and failing) once more than `maxBytes` arrived. */
async function streamTo(body: BodyStream, out: NodeJS.WritableStream, maxBytes: number, path: string): Promise<number> {
  let bytes = 0;
  await pipeline(
    body,
    async function* count(source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        bytes += chunk.length;
        if (bytes > maxBytes) throw tooLarge(maxBytes, path);
        yield chunk;
      }
    },
    out,
  );
  return bytes;
}

function tooLarge(maxBytes: number, path: string): AccessError {
  return new AccessError(
    'save_failed',
    `The body is larger than the ${arg('save')} limit of ${maxBytes} bytes; the download was stopped and the partial file ${path} removed.`,
    'If a file this large is expected, raise CF_ACCESS_MCP_MAX_SAVE_BYTES in the server\'s environment (the MCP client configuration) and call again.',
  );
}

function isSpecial(stats: Stats): boolean {
  return stats.isCharacterDevice() || stats.isBlockDevice() || stats.isFIFO() || stats.isSocket();
}

/**
 * mkdir -p, one level at a time: Node 20's `mkdir(…, { recursive: true })`
 * spins forever when the file system answers ENOENT for a parent that exists
 * (/proc, /sys), which would hang the tool call.
 */
export async function makeDirectories(directory: string, mode?: number): Promise<void> {
  const missing: string[] = [];
  for (let dir = directory; !(await exists(dir)); dir = dirname(dir)) {
    missing.push(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of missing.reverse()) {
    await mkdir(dir, { mode }).catch((error: NodeJS.ErrnoException) => {
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

function saveError(error: unknown, path: string, url: URL): AccessError {
  if (error instanceof AccessError) return error;
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === 'EEXIST') {
    return new AccessError('save_failed', `${arg('save')} ${path} appeared while downloading; it was left unchanged.`, 'Call again to see why it is refused now.', { cause: error });
  }
  if (isFileSystemError(error)) return fileError(error, path, 'write it');
  return networkError(error, url);
}

function isFileSystemError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException)?.code ?? '';
  return ['EACCES', 'EPERM', 'ENOSPC', 'EROFS', 'EISDIR', 'ENOTDIR', 'EEXIST', 'EDQUOT', 'EMFILE', 'ENAMETOOLONG', 'ENOENT', 'ELOOP', 'EIO'].includes(code);
}

/** A file that could not be written, named as the caller knows it; what to do next. */
export function fileError(error: unknown, path: string, action: string): AccessError {
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
            : systemReason(error);
  return new AccessError('save_failed', `Could not save to ${path}: failed to ${action} (${reason}).`, `Choose a writable file path for ${arg('save')} (for example inside the project directory) and call again.`, {
    cause: error,
  });
}

/** The system's words for an error without the path in its message: that may be our temporary file, not the one asked for. */
function systemReason(error: unknown): string {
  const { errno, code } = (error ?? {}) as NodeJS.ErrnoException;
  return (errno !== undefined ? getSystemErrorMap().get(errno)?.[1] : undefined) ?? code ?? String(error);
}
