import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { LoggingMessageNotificationSchema, type CallToolResult, type ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { startEmulator as startRealEmulator, type Emulator, type EmulatorOptions } from '../../src/emulator/index.js';
import { recordOutput } from './leaks.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const SERVER_ENTRY = join(ROOT, 'dist', 'index.js');
export const BROWSER_SCRIPT = join(ROOT, 'test', 'fixtures', 'browser.mjs');

const homes: string[] = [];

/** The teams of the emulators this test file started: the user "trusts" them (CF_ACCESS_MCP_TEAMS). */
const emulatorTeams = new Set<string>();

/** Starts an emulator whose team the servers started here trust, so the scripted browser runs for it. */
export async function startEmulator(options?: EmulatorOptions): Promise<Emulator> {
  const emulator = await startRealEmulator(options);
  emulatorTeams.add(new URL(emulator.teamUrl).host);
  return emulator;
}

/** CF_ACCESS_MCP_TEAMS naming every emulator team started so far (for a server or CLI spawned by hand). */
export function trustedTeamsEnv(): Record<string, string> {
  return { CF_ACCESS_MCP_TEAMS: [...emulatorTeams].join(',') };
}

/** A fresh store directory (removed by cleanupHomes). */
export function tempHome(prefix = 'cfam-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  homes.push(dir);
  return dir;
}

export function cleanupHomes(): void {
  for (const dir of homes.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export interface ServerOptions {
  /** Store directory; a fresh one by default. */
  home?: string;
  /** approve (default), deny, ignore, unopened, wrong-state: what the scripted browser does; 'none' sets CF_ACCESS_MCP_BROWSER=none. */
  browser?: 'approve' | 'deny' | 'ignore' | 'unopened' | 'wrong-state' | 'none';
  env?: Record<string, string>;
  capabilities?: ClientCapabilities;
  /** The server's working directory (where an agent's save_to may write); a fresh one by default. */
  cwd?: string;
  /** A client set up before it connects (e.g. with a roots/list handler); a plain one by default. */
  client?: Client;
  /** Leave CF_ACCESS_MCP_TEAMS unset: no team is trusted until the user confirms or signs in. */
  untrustedTeams?: boolean;
}

/**
 * The test process's environment minus what would change the server's
 * behaviour behind a test's back: a developer's proxy settings, service
 * tokens or store location. A test that wants them passes them in `env`.
 */
function inheritedEnv(): Record<string, string> {
  const env = { ...(process.env as Record<string, string>) };
  for (const name of Object.keys(env)) {
    if (/^(https?_proxy|no_proxy|all_proxy)$/i.test(name) || /^CF_ACCESS_/.test(name)) delete env[name];
  }
  return env;
}

/** The environment a test server runs with: its store, the scripted browser (and its log), the trusted teams. */
export function serverEnv(options: Pick<ServerOptions, 'home' | 'browser' | 'env' | 'untrustedTeams'> = {}): { env: Record<string, string>; home: string; browserLog: string } {
  const home = options.home ?? tempHome();
  const browserLog = join(tempHome('cfam-browser-'), 'browser.log');
  const env: Record<string, string> = {
    ...inheritedEnv(),
    CF_ACCESS_MCP_HOME: home,
    CF_ACCESS_MCP_CALLBACK_PORT: '0',
    CF_ACCESS_MCP_BROWSER: options.browser === 'none' ? 'none' : `${process.execPath} ${BROWSER_SCRIPT}`,
    TEST_BROWSER_LOG: browserLog,
    TEST_BROWSER_JAR: join(dirname(browserLog), 'cookies.json'),
    TEST_BROWSER_ACTION: options.browser && options.browser !== 'none' ? options.browser : 'approve',
    ...(options.untrustedTeams ? {} : trustedTeamsEnv()),
    ...options.env,
  };
  return { env, home, browserLog };
}

/** The built server, spawned over stdio and driven by the SDK client. */
export class TestServer {
  readonly stderr: string[] = [];
  readonly logMessages: string[] = [];
  readonly browserLog: string;

  private constructor(
    readonly client: Client,
    readonly transport: StdioClientTransport,
    readonly home: string,
    browserLog: string,
    readonly cwd: string,
  ) {
    this.browserLog = browserLog;
  }

  static async start(options: ServerOptions = {}): Promise<TestServer> {
    const { env, home, browserLog } = serverEnv(options);
    const cwd = options.cwd ?? tempHome('cfam-cwd-');
    const transport = new StdioClientTransport({ command: process.execPath, args: [SERVER_ENTRY], env, stderr: 'pipe', cwd });
    const client = options.client ?? new Client({ name: 'cf-access-mcp-tests', version: '1.0.0' }, { capabilities: options.capabilities ?? {} });
    const server = new TestServer(client, transport, home, browserLog, cwd);
    transport.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      server.stderr.push(text);
      recordOutput('stderr', text);
    });
    client.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => {
      const text = JSON.stringify(notification.params);
      server.logMessages.push(text);
      recordOutput('log', text);
    });
    await client.connect(transport);
    return server;
  }

  async call(name: string, args: Record<string, unknown> = {}, options: { onprogress?: (p: unknown) => void; signal?: AbortSignal; timeoutMs?: number } = {}): Promise<CallToolResult> {
    // Only when the test asks for progress: a progress token changes what the server sends.
    const onprogress = options.onprogress
      ? (progress: unknown) => {
          recordOutput('progress', JSON.stringify(progress));
          options.onprogress!(progress);
        }
      : undefined;
    let result: CallToolResult;
    try {
      result = (await this.client.callTool({ name, arguments: args }, undefined, {
        onprogress: onprogress as never,
        signal: options.signal,
        timeout: options.timeoutMs ?? 120_000,
        resetTimeoutOnProgress: true,
      })) as CallToolResult;
    } catch (error) {
      recordOutput(`error ${name}`, String((error as Error)?.message ?? error));
      throw error;
    }
    recordOutput(`tool ${name}`, JSON.stringify(result));
    return result;
  }

  /** The scripted browser's cookie file (its "profile"): pass it to another run to be the same browser. */
  get browserJar(): string {
    return join(dirname(this.browserLog), 'cookies.json');
  }

  /** The command lines the scripted browser was started with (each its arguments). */
  browserArgv(): string[][] {
    return this.browserLines().filter((l) => l.startsWith('argv ')).map((l) => JSON.parse(l.slice(5)) as string[]);
  }

  /** Pages the scripted browser opened: the authorization URL its one-time start address led to. */
  browserOpens(): string[] {
    return this.browserLines().filter((l) => l.startsWith('open ')).map((l) => l.slice(5));
  }

  browserLines(): string[] {
    return existsSync(this.browserLog) ? readFileSync(this.browserLog, 'utf8').split('\n').filter(Boolean) : [];
  }

  get pid(): number | undefined {
    return this.transport.pid ?? undefined;
  }

  async close(): Promise<void> {
    await this.client.close().catch(() => {});
  }
}

/** The text of a tool result (all text parts joined). */
export function textOf(result: CallToolResult): string {
  return result.content
    .filter((c): c is { type: 'text'; text: string } => c.type === 'text')
    .map((c) => c.text)
    .join('\n');
}

/** Waits until `check` returns truthy, polling; throws after `timeoutMs`. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A browser signing in (auto approval) from the authorization URL: follows the redirects and stops at our
 * loopback callback, unvisited (as a browser on another machine, which cannot reach it). Returns that address.
 */
export async function callbackAddress(authorizationUrl: string): Promise<string> {
  let url = new URL(authorizationUrl);
  for (let hop = 0; hop < 10; hop++) {
    const response = await fetch(url, { redirect: 'manual', headers: { accept: 'text/html' } });
    await response.arrayBuffer();
    const location = response.headers.get('location');
    assert.ok(response.status >= 300 && response.status < 400 && location, `no redirect from ${url.pathname} (HTTP ${response.status})`);
    const next = new URL(location, url);
    if (next.pathname === '/callback') return next.href;
    url = next;
  }
  assert.fail('too many redirects before the callback');
}

/**
 * The user finishes signing in at `authorizationUrl` (emulator auto-approval) in the browser whose cookie
 * file is `jarFile` (the one-time start address left the cookie the callback asks for), once some process
 * listens for the callback. Returns the callback page.
 */
export async function finishSignIn(authorizationUrl: string, jarFile: string): Promise<string> {
  const response = await fetch(authorizationUrl, { redirect: 'manual' });
  await response.arrayBuffer();
  const callback = response.headers.get('location')!;
  assert.match(callback, /\/callback\?/);
  const jar = (existsSync(jarFile) ? JSON.parse(readFileSync(jarFile, 'utf8')) : []) as Array<[string, Array<{ name: string; value: string }>]>;
  const cookie = jar.flatMap(([, cookies]) => cookies).map((c) => `${c.name}=${c.value}`).join('; ');
  return (await eventually(
    async () => {
      try {
        const r = await fetch(callback, { headers: { accept: 'text/html', cookie } });
        const html = await r.text();
        return r.status === 200 ? html : undefined;
      } catch {
        return undefined;
      }
    },
    30_000,
    'a process to answer the callback',
  ))!;
}

/** Resolves once process `pid` is gone (polling: a process that exits is not always our child to wait on). */
export async function processGone(pid: number, what = 'the process to exit'): Promise<void> {
  await eventually(() => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }, 10_000, what);
}

/**
 * The fields of a result: structuredContent for the tools that have one; for
 * access_fetch (whose page must reach the model, so it has none) the fields it
 * keeps in `_meta` for programs.
 */
export function resultData(result: CallToolResult): Record<string, unknown> {
  const meta = result._meta?.['cf-access-mcp/result'] as Record<string, unknown> | undefined;
  const data = result.structuredContent ?? meta;
  if (!data) throw new Error(`no structuredContent or result fields in ${textOf(result)}`);
  return data as Record<string, unknown>;
}
