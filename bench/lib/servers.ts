import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const SERVER_ENTRY = join(ROOT, 'dist', 'index.js');
export const BARE_ENTRY = join(ROOT, 'bench', 'bare-server.mjs');
export const BARE_FETCH_ENTRY = join(ROOT, 'bench', 'bare-fetch-server.mjs');
const BROWSER_SCRIPT = join(ROOT, 'test', 'fixtures', 'browser.mjs');

const dirs: string[] = [];

export function tempDir(prefix = 'cfam-bench-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A spawned MCP server (ours or the bare baseline) with an SDK client attached. */
export interface Spawned {
  client: Client;
  pid: number;
  home: string;
  browserLog: string;
  call(name: string, args: Record<string, unknown>): Promise<CallToolResult>;
  browserOpens(): number;
  /** What the server wrote to stderr so far (only with `stderr: true`). */
  stderr(): string;
  close(): Promise<void>;
}

export async function spawnServer(options: { entry?: string; home?: string; env?: Record<string, string>; stderr?: boolean; nodeArgs?: string[] } = {}): Promise<Spawned> {
  const home = options.home ?? tempDir();
  const browserLog = join(tempDir('cfam-bench-browser-'), 'browser.log');
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...(options.nodeArgs ?? []), options.entry ?? SERVER_ENTRY],
    env: {
      ...(process.env as Record<string, string>),
      CF_ACCESS_MCP_HOME: home,
      CF_ACCESS_MCP_CALLBACK_PORT: '0',
      CF_ACCESS_MCP_BROWSER: `${process.execPath} ${BROWSER_SCRIPT}`,
      TEST_BROWSER_LOG: browserLog,
      TEST_BROWSER_ACTION: 'approve',
      ...options.env,
    },
    stderr: options.stderr ? 'pipe' : 'ignore',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const client = new Client({ name: 'cf-access-mcp-bench', version: '1.0.0' });
  await client.connect(transport);
  return {
    client,
    pid: transport.pid!,
    home,
    browserLog,
    call: async (name, args) =>
      (await client.callTool({ name, arguments: args }, undefined, { timeout: 120_000 })) as CallToolResult,
    browserOpens: () =>
      existsSync(browserLog) ? readFileSync(browserLog, 'utf8').split('\n').filter((l) => l.startsWith('open ')).length : 0,
    stderr: () => stderr,
    close: () => client.close().catch(() => {}),
  };
}

export function textOf(result: CallToolResult): string {
  return result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
}

/** Throws (without echoing content that might matter) when a tool call failed. */
export function expectOk(result: CallToolResult, what: string): CallToolResult {
  if (result.isError) throw new Error(`${what} failed: ${textOf(result).slice(0, 300)}`);
  return result;
}

/**
 * The access token the server stored for `origin`, read from its store file inside this
 * process only, for the raw baseline. Never print it.
 */
export function storedAccessToken(home: string, origin: string): string {
  const data = JSON.parse(readFileSync(join(home, 'store.json'), 'utf8')) as {
    sessions?: Record<string, { access_token?: string }>;
  };
  const token = data.sessions?.[origin]?.access_token;
  if (!token) throw new Error(`no stored session for ${origin}`);
  return token;
}

/** Peak and current resident set of a process, in bytes (Linux /proc). */
export function memoryOf(pid: number): { hwm: number; rss: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
}

/** Milliseconds one tool call takes through the MCP hop; throws if it failed. */
export async function timeCall(server: Spawned, name: string, args: Record<string, unknown>): Promise<number> {
  const start = performance.now();
  const result = await server.call(name, args);
  const elapsed = performance.now() - start;
  expectOk(result, `${name} ${String(args.url ?? '')}`);
  return elapsed;
}
