import { randomBytes } from 'node:crypto';
import { mkdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { CLIENTS, type ClientId, type Launch, type Scope, type Where } from './clients.js';
import { sameEntry } from './edit-result.js';
import { mergeJsonEntry } from './json-config.js';
import { linkInProject, realFileOf } from './links.js';
import { maskedView } from './mask.js';
import { mergeTomlEntry } from './toml-config.js';

export interface InstallRequest {
  client: ClientId;
  scope?: Scope;
  name: string;
  launch: Launch;
  where: Where;
  dryRun: boolean;
  force: boolean;
}

export interface InstallOutcome {
  client: ClientId;
  label: string;
  scope: Scope;
  file: string;
  name: string;
  /** The file written (or that would be), when `file` is reached through a symbolic link (user scope only). */
  real_file?: string;
  /** created: new file; added: entry added to an existing file; replaced: --force over a different entry; unchanged; refused: a different entry exists. */
  action: 'created' | 'added' | 'replaced' | 'unchanged' | 'refused';
  written: boolean;
  /** Unified diff of the file (empty when nothing changes). */
  diff: string;
  entry: Record<string, unknown>;
  existing?: unknown;
  next_step: string;
}

export class InstallError extends Error {
  override readonly name = 'InstallError';
  constructor(
    message: string,
    /** What to do about it, when more specific than fixing or moving the file. */
    readonly nextStep?: string,
  ) {
    super(message);
  }
}

/** Where the clients keep a server's environment: env (most), environment (OpenCode), env_vars (Codex: names passed through). */
const ENVIRONMENT_KEYS = ['env', 'environment', 'env_vars'];

/**
 * The environment the user gave an existing entry (the README sends service tokens and
 * CF_ACCESS_MCP_TEAMS there): it is theirs, so a re-install (a new Node path, --npx, --force) keeps it.
 */
function environmentOf(existing: unknown): Record<string, unknown> | undefined {
  if (!existing || typeof existing !== 'object' || Array.isArray(existing)) return undefined;
  const kept = Object.fromEntries(ENVIRONMENT_KEYS.filter((key) => Object.hasOwn(existing, key)).map((key) => [key, (existing as Record<string, unknown>)[key]]));
  return Object.keys(kept).length > 0 ? kept : undefined;
}

/** Merges our entry into the client's config file (or shows what it would do with dryRun). */
export async function installInto(request: InstallRequest): Promise<InstallOutcome> {
  const spec = CLIENTS[request.client];
  const scope = request.scope ?? spec.defaultScope;
  const targetFor = spec.scopes[scope];
  if (!targetFor) {
    throw new InstallError(`${spec.label} has no ${scope} scope; use ${Object.keys(spec.scopes).map((s) => `--scope ${s}`).join(' or ')}.`);
  }
  const target = targetFor(request.where);
  // Only the user's own files (user scope; Claude Code's local scope is ~/.claude.json too) are followed through links.
  const followLinks = scope !== 'project';
  if (!followLinks) await refuseLinkInProject(target.file, request.where.cwd);
  const realFile = followLinks ? await realFileOf(target.file) : undefined;
  const launchEntry = spec.entry(request.launch);
  const before = await readFile(target.file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw new InstallError(`Could not read ${target.file}: ${error.message}`);
  });
  const merge = target.format === 'toml' ? mergeTomlEntry : mergeJsonEntry;
  let entry: Record<string, unknown> = launchEntry;
  let merged = merge(before ?? '', target.file, target.container, request.name, entry);
  const kept = environmentOf(merged.existing);
  if (kept) {
    entry = { ...launchEntry, ...kept };
    merged = merge(before ?? '', target.file, target.container, request.name, entry);
  }
  // The file may hold credentials (this entry's CF_ACCESS_CLIENT_SECRET, another server's GITHUB_TOKEN): what is shown masks them.
  const ours = [...target.container, request.name];
  const view = maskedView(target.format, before ?? '', merged.text, ours);
  const base = {
    client: request.client,
    label: spec.label,
    scope,
    file: target.file,
    ...(realFile ? { real_file: realFile } : {}),
    name: request.name,
    entry: view.value(entry, ours),
    existing: view.value(merged.existing, ours),
  };

  if (merged.existing !== undefined && sameEntry(merged.existing, entry)) {
    return { ...base, action: 'unchanged', written: false, diff: '', next_step: `Nothing to do: ${spec.label} already has this entry. ${spec.after}` };
  }
  const diff = view.render((shownBefore, shownAfter) => createTwoFilesPatch(target.file, target.file, shownBefore, shownAfter, before === undefined ? '(new file)' : '', '', { context: 3 }));
  if (merged.existing !== undefined && !request.force) {
    return {
      ...base,
      action: 'refused',
      written: false,
      diff,
      next_step: `${target.file} already has a different "${request.name}" entry; it was left unchanged. Run again with --force to replace it (its environment, where a service token or CF_ACCESS_MCP_TEAMS lives, is kept), or with --name to add ours under another name.`,
    };
  }
  const action = before === undefined ? 'created' : merged.existing !== undefined ? 'replaced' : 'added';
  if (!request.dryRun) await writeAtomically(target.file, merged.text, followLinks);
  return { ...base, action, written: !request.dryRun, diff, next_step: request.dryRun ? 'Dry run: nothing was written. Run again without --dry-run to write it.' : spec.after };
}

/** A project's config reached through a symbolic link is refused before it is read (see links.ts). */
async function refuseLinkInProject(file: string, project: string): Promise<void> {
  const found = await linkInProject(file, project);
  if (!found) return;
  const what = found.isDirectory ? 'directory' : 'file';
  throw new InstallError(
    `${found.link} is a symbolic link to ${found.target}; install does not read or write a project's config through a link (a cloned repository can point one anywhere), so nothing was changed.`,
    `replace ${found.link} with a regular ${what} (copy in what you meant to keep), or install for every project with --scope user.`,
  );
}

/**
 * Written aside and renamed over, keeping the file's mode: a crash never leaves a half-written client config.
 * A user's config that is a symbolic link (dotfiles kept in a repository) is written where it points: renaming
 * over the link itself would replace it with a copy, and the repository would no longer see the change.
 * A project's config is never followed (refuseLinkInProject checked its path).
 */
async function writeAtomically(file: string, text: string, followLinks: boolean): Promise<void> {
  let temporary: string | undefined;
  try {
    const real = !followLinks
      ? file
      : await realpath(file).catch((error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') return file;
          throw error;
        });
    await mkdir(dirname(real), { recursive: true });
    const mode = (await stat(real).catch(() => undefined))?.mode;
    temporary = join(dirname(real), `.${basename(real)}.${randomBytes(4).toString('hex')}.tmp`);
    await writeFile(temporary, text, { mode: mode === undefined ? 0o644 : mode & 0o777 });
    await rename(temporary, real);
  } catch (error) {
    if (temporary) await rm(temporary, { force: true }).catch(() => {});
    throw new InstallError(`Could not write ${file}: ${(error as Error).message}`);
  }
}
