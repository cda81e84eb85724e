import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { runBounded } from './processes.js';

const MARKER = '.cf-access-mcp-installed';
const INSTALL_TIMEOUT_MS = 10 * 60_000;

/** Where pinned clients live: CF_ACCESS_MCP_CLIENTS_CACHE, else ~/.cache/cf-access-mcp/clients. */
export function cacheRoot(): string {
  const configured = process.env.CF_ACCESS_MCP_CLIENTS_CACHE?.trim();
  if (configured) return configured;
  return join(process.env.XDG_CACHE_HOME?.trim() || join(homedir(), '.cache'), 'cf-access-mcp', 'clients');
}

/** `<cache>/<pkg>@<version>` with the scope's slash replaced, so every pin gets its own directory. */
export function packageDir(pkg: string, version: string): string {
  return join(cacheRoot(), `${pkg.replace('/', '+')}@${version}`);
}

/**
 * Installs `pkg@version` into its cache directory once (the marker records the spec).
 * --ignore-scripts: every client here runs without install scripts; the native
 * binaries come from platform packages that npm picks as optional dependencies.
 */
export async function ensureInstalled(pkg: string, version: string, log: (line: string) => void): Promise<string> {
  const dir = packageDir(pkg, version);
  const spec = `${pkg}@${version}`;
  const marker = join(dir, MARKER);
  if (existsSync(marker) && readFileSync(marker, 'utf8').trim() === spec) return dir;
  log(`installing ${spec} into ${dir} (first use only)`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{"name":"cf-access-mcp-client-cache","private":true}\n');
  const result = await runBounded(
    'npm',
    ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', '--prefix', dir, spec],
    { cwd: dir, timeoutMs: INSTALL_TIMEOUT_MS },
  );
  if (result.code !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`npm install ${spec} ${result.timedOut ? 'timed out' : `exited ${result.code}`}: ${result.stderr.trim().slice(-500)}`);
  }
  writeFileSync(marker, `${spec}\n`);
  return dir;
}

/** x64 or arm64, the two platforms the clients' native packages cover. */
export function npmArch(): 'x64' | 'arm64' {
  if (process.arch === 'x64' || process.arch === 'arm64') return process.arch;
  throw new Error(`Unsupported CPU architecture ${process.arch}: the pinned clients ship linux x64 and arm64 builds only.`);
}
