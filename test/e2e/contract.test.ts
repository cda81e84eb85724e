import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { REPORT_SENTENCE, type Emulator } from '../../src/emulator/index.js';
import { loadConfig } from '../../src/service/config.js';
import { BROWSER_SCRIPT, cleanupHomes, ROOT, SERVER_ENTRY, startEmulator, tempHome, TestServer, textOf, trustedTeamsEnv, resultData } from '../helpers/harness.js';
import { assertNoSecretsLeaked } from '../helpers/leaks.js';

/**
 * The contracts the issues name, checked the way an acceptance scenario or a
 * real MCP client (Claude Code, OpenCode, Windsurf, Cursor, VS Code) meets
 * them: exact tool and parameter names, annotations, structured content that
 * matches each declared output schema (the SDK client validates it once
 * listTools has been called), bad input as isError results, only JSON-RPC on
 * stdout, env var names and defaults, a clean exit when stdin closes, and the
 * CLI, demo and emulator commands a person runs.
 */

const CLOUDFLARED = join(ROOT, 'test', 'fixtures', 'cloudflared.mjs');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const PARAMS: Record<string, string[]> = {
  access_fetch: ['url', 'method', 'headers', 'body', 'max_length', 'start_index', 'wait_seconds', 'format', 'save_to', 'overwrite'],
  access_login: ['url', 'force', 'wait_seconds', 'method', 'callback_url'],
  access_status: ['url'],
  access_logout: ['url', 'all'],
  access_proxy: ['url', 'port', 'wait_seconds', 'idle_timeout_seconds'],
};

let emulator: Emulator;
const servers: TestServer[] = [];
const emulators: Emulator[] = [];

async function startServer(options: Parameters<typeof TestServer.start>[0] = {}): Promise<TestServer> {
  const server = await TestServer.start(options);
  servers.push(server);
  // Caches the output schemas: from now on the SDK client rejects any structuredContent that does not match.
  await server.client.listTools();
  return server;
}

function structured(result: CallToolResult): Record<string, unknown> {
  assert.notEqual(result.isError, true, `unexpected error result: ${textOf(result)}`);
  return resultData(result);
}

/** A failure an agent can act on: an isError result with a message and a next step, not a protocol error. */
function assertToolError(result: CallToolResult, what: string): string {
  assert.equal(result.isError, true, `${what}: expected an error result, got ${textOf(result).slice(0, 200)}`);
  const text = textOf(result);
  assert.ok(text.length > 10, `${what}: empty error text`);
  return text;
}

/** Follows the authorization URL the way a browser would, down to our loopback callback page. */
async function openLikeABrowser(authorizationUrl: string): Promise<{ status: number; body: string }> {
  let url = new URL(authorizationUrl);
  for (let hop = 0; hop < 10; hop++) {
    const response = await fetch(url, { redirect: 'manual', headers: { accept: 'text/html' } });
    const body = await response.text();
    if (url.pathname === '/callback') return { status: response.status, body };
    const location = response.headers.get('location');
    assert.ok(response.status >= 300 && response.status < 400 && location, `stuck at ${url.pathname} (HTTP ${response.status})`);
    url = new URL(location, url);
  }
  assert.fail('too many redirects before the callback');
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function holdPort(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => resolve(server));
  });
}

/** Running and not a zombie (a reaped-by-nobody child of a dead parent counts as gone). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** An environment with nothing of ours in it: PATH, a temp HOME, nothing else. */
function bareEnv(home: string): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home };
}

/** Runs the built CLI without blocking this process (the emulator answering it lives here). */
function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SERVER_ENTRY, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

before(async () => {
  emulator = await startEmulator({ serviceTokens: [{ clientId: 'contract-id.access', clientSecret: 'contract-secret-value-0123456789' }] });
  emulators.push(emulator);
});

after(async () => {
  try {
    await Promise.all(servers.map((s) => s.close()));
    assertNoSecretsLeaked([...emulators.flatMap((e) => e.secrets()), 'contract-secret-value-0123456789']);
  } finally {
    await Promise.all(emulators.map((e) => e.close()));
    cleanupHomes();
  }
});

describe('configuration contract (CF_ACCESS_* variables)', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({ HOME: '/home/someone' });
    assert.equal(config.callbackPort, 8400);
    assert.equal(config.loginTimeoutMs, 300_000);
    assert.equal(config.defaultWaitSeconds, 45);
    assert.equal(config.cloudflaredCommand, 'cloudflared');
    assert.equal(config.browserCommand, undefined);
    assert.ok(config.home.endsWith('cf-access-mcp'), config.home);
  });

  it('expands ~ and resolves relative paths in CF_ACCESS_MCP_HOME and CF_ACCESS_MCP_CLOUDFLARED', () => {
    const home = process.env.HOME!;
    assert.equal(loadConfig({ CF_ACCESS_MCP_HOME: '~/cf-store' }).home, join(home, 'cf-store'));
    assert.equal(loadConfig({ CF_ACCESS_MCP_HOME: ' ~ ' }).home, home);
    assert.equal(loadConfig({ CF_ACCESS_MCP_HOME: 'rel/store' }).home, join(process.cwd(), 'rel', 'store'));
    assert.equal(loadConfig({ CF_ACCESS_MCP_CLOUDFLARED: '~/bin/cloudflared' }).cloudflaredCommand, join(home, 'bin', 'cloudflared'));
    assert.equal(loadConfig({ CF_ACCESS_MCP_CLOUDFLARED: 'cloudflared-beta' }).cloudflaredCommand, 'cloudflared-beta', 'a bare name is looked up on PATH');
  });
});

describe('tool surface as a client lists it', () => {
  let tools: Tool[];
  let server: TestServer;
  before(async () => {
    server = await startServer();
    tools = (await server.client.listTools()).tools;
  });

  it('introduces itself as cf-access-mcp with the package version, declaring tools and logging', () => {
    const info = server.client.getServerVersion();
    assert.equal(info?.name, 'cf-access-mcp');
    assert.equal(info?.version, VERSION);
    const capabilities = server.client.getServerCapabilities();
    assert.ok(capabilities?.tools && capabilities.logging);
    assert.match(server.client.getInstructions() ?? '', /access_fetch/);
  });

  it('exposes exactly the five tools with exactly the contract parameters', () => {
    assert.deepEqual(tools.map((t) => t.name).sort(), Object.keys(PARAMS).sort());
    for (const tool of tools) {
      assert.deepEqual(Object.keys(tool.inputSchema.properties ?? {}).sort(), [...PARAMS[tool.name]!].sort(), tool.name);
      assert.deepEqual(tool.inputSchema.required ?? [], tool.name === 'access_status' || tool.name === 'access_logout' ? [] : ['url'], tool.name);
      assert.ok(tool.title && tool.title.length > 5, `${tool.name} title`);
      // access_fetch's page is its value: an output schema would make Claude Code, VS Code and Codex hide it from the model.
      if (tool.name === 'access_fetch') assert.equal(tool.outputSchema, undefined, 'access_fetch declares no output schema');
      else assert.equal(tool.outputSchema?.type, 'object', `${tool.name} output schema`);
    }
  });

  it('annotations tell the truth', () => {
    const byName = Object.fromEntries(tools.map((t) => [t.name, t.annotations ?? {}]));
    assert.equal(byName.access_status!.readOnlyHint, true);
    assert.equal(byName.access_fetch!.readOnlyHint, false, 'access_fetch can POST');
    assert.equal(byName.access_fetch!.openWorldHint, true);
    assert.equal(byName.access_logout!.destructiveHint, true);
    assert.equal(byName.access_logout!.readOnlyHint, false);
    assert.equal(byName.access_login!.readOnlyHint, false);
  });

  it('documents the defaults an agent relies on (wait_seconds 45, max_length 20000)', () => {
    const fetchProps = tools.find((t) => t.name === 'access_fetch')!.inputSchema.properties as Record<string, { description?: string; type?: string }>;
    assert.match(fetchProps.wait_seconds!.description!, /45/);
    assert.match(fetchProps.max_length!.description!, /20000|20,000/);
    const loginProps = tools.find((t) => t.name === 'access_login')!.inputSchema.properties as Record<string, { description?: string }>;
    assert.match(loginProps.wait_seconds!.description!, /45/);
  });
});

describe('bad input is an isError result, never a protocol error', () => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['access_fetch', {}],
    ['access_fetch', { url: 42 }],
    ['access_fetch', { url: null }],
    ['access_fetch', { url: 'https://app.example.com/', max_length: -5 }],
    ['access_fetch', { url: 'https://app.example.com/', max_length: 0 }],
    ['access_fetch', { url: 'https://app.example.com/', start_index: -1 }],
    ['access_fetch', { url: 'https://app.example.com/', start_index: 1.5 }],
    ['access_fetch', { url: 'https://app.example.com/', wait_seconds: -1 }],
    ['access_fetch', { url: 'https://app.example.com/', headers: ['x'] }],
    ['access_fetch', { url: 'https://app.example.com/', headers: { a: 1 } }],
    ['access_fetch', { url: 'https://app.example.com/', method: 5 }],
    ['access_fetch', { url: 'https://app.example.com/', format: 'html' }],
    ['access_fetch', { url: 'https://app.example.com/', save_to: 5 }],
    ['access_fetch', { url: 'not a url' }],
    ['access_fetch', { url: 'ftp://files.example.com/x' }],
    ['access_fetch', { url: 'http://app.example.com/' }],
    ['access_fetch', { url: 'file:///etc/passwd' }],
    ['access_login', {}],
    ['access_login', { url: 'https://app.example.com/', force: 'yes' }],
    ['access_login', { url: 'https://app.example.com/', method: 'password' }],
    ['access_login', { url: 'https://app.example.com/', wait_seconds: -3 }],
    ['access_login', { url: 'https://app.example.com/', callback_url: 7 }],
    ['access_login', { url: 'javascript:alert(1)' }],
    ['access_status', { url: 7 }],
    ['access_status', { url: 'not a url' }],
    ['access_logout', {}],
    ['access_logout', { all: 'yes' }],
    ['access_logout', { url: 'nope' }],
  ];

  it('through the SDK client: every case', async () => {
    const server = await startServer({ browser: 'none' });
    for (const [name, args] of cases) {
      const result = await server.call(name, args);
      assertToolError(result, `${name} ${JSON.stringify(args)}`);
    }
    // The server is still up and well after all of it.
    assert.ok(Array.isArray(structured(await server.call('access_status')).sessions));
  });

  it('in our own words with valid values and a corrected call, never the SDK\'s -32602 text', async () => {
    const server = await startServer({ browser: 'none' });
    const html = textOf(await server.call('access_fetch', { url: 'https://app.example.com/', format: 'html' }));
    assert.match(html, /format must be one of "markdown", "text", "raw" \(got "html"\)/);
    assert.match(html, /Next step: Call access_fetch again with corrected arguments, for example \{"url":"https:\/\/app\.example\.com\/","format":"markdown"\}/);
    const missing = textOf(await server.call('access_login', {}));
    assert.match(missing, /url is required/);
    assert.match(missing, /"url":"https:\/\//, 'the corrected call shows where the url goes');
    for (const [name, args] of cases) assert.doesNotMatch(textOf(await server.call(name, args)), /MCP error|-32602|Input validation error/, `${name} ${JSON.stringify(args)}`);
  });

  it('numbers and booleans sent as strings are taken; unknown arguments are reported as warnings', async () => {
    const server = await startServer();
    const page = await server.call('access_fetch', { url: `${emulator.appUrl}/api/data.json`, max_length: '100', wait_seconds: '30', colour: 'blue' });
    assert.notEqual(page.isError, true, textOf(page));
    const data = structured(page);
    assert.equal(data.next_start_index, 100, 'max_length "100" was read as 100');
    assert.match(textOf(page), /Warning: Unknown argument "colour" was ignored; access_fetch takes url, method/);
    const forced = structured(await server.call('access_login', { url: `${emulator.appUrl}/`, force: 'true', wait_seconds: '30' }));
    assert.equal(forced.status, 'authenticated');
    const status = structured(await server.call('access_status', { url: null, verbose: 1 }));
    assert.deepEqual(status.warnings, ['Unknown argument "verbose" was ignored; access_status takes url.']);
  });

  it('save_to where no directory can be made is a prompt error (Node 20 spins on mkdir -p under /proc)', { skip: !existsSync('/proc/self') }, async () => {
    // Started in /proc, so the path is inside the allowed directory and the save really tries to create it.
    const server = await startServer({ browser: 'none', cwd: '/proc' });
    const result = await server.call('access_fetch', { url: `${emulator.plainUrl}/`, save_to: 'cf-access-mcp-none/out.html' }, { timeoutMs: 20_000 });
    assert.match(assertToolError(result, 'save_to under /proc'), /Could not save to/);
  });
});

/** Only against a hang: generous enough for a machine under any load this suite meets. */
const HANG_GUARD_MS = 120_000;

/** The ids of the responses in the complete lines of `stdout` (a request from the server has a method too). */
function answeredIds(stdout: string): Set<unknown> {
  const ids = new Set<unknown>();
  for (const line of stdout.split('\n').slice(0, -1)) {
    try {
      const message = JSON.parse(line) as RawMessage;
      if (message.id !== undefined && message.method === undefined) ids.add(message.id);
    } catch {
      // Checked line by line once the session ends.
    }
  }
  return ids;
}

type RawMessage = { jsonrpc?: string; id?: number; result?: CallToolResult & { tools?: Tool[] }; error?: unknown; method?: string };

/**
 * Drives the built server over a bare pipe: initialize, debug logging, the
 * given tool calls (ids 10, 11, …), then closes stdin. Asserts that every
 * stdout line is JSON-RPC, that no call is answered with a protocol error, and
 * that the server exits 0 on its own. Returns the answers by id.
 */
async function rawSession(env: Record<string, string>, calls: Array<[string, Record<string, unknown>]>): Promise<Map<number | undefined, RawMessage>> {
  const child = spawn(process.execPath, [SERVER_ENTRY], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let running = true;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running = false;
      resolve(code);
    }),
  );
  const send = (message: unknown) => child.stdin.write(`${JSON.stringify(message)}\n`);
  send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
  send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  send({ jsonrpc: '2.0', id: 2, method: 'logging/setLevel', params: { level: 'debug' } });
  calls.forEach(([name, args], i) => send({ jsonrpc: '2.0', id: 10 + i, method: 'tools/call', params: { name, arguments: args } }));
  send({ jsonrpc: '2.0', id: 3, method: 'tools/list' });
  // However long a loaded machine takes to answer: what is checked is that every call is answered, not when
  // (the bound only keeps a hung server from hanging the suite); a server that exits first fails at once.
  const expected = [3, ...calls.map((_, i) => 10 + i)];
  await until(() => !running || expected.every((id) => answeredIds(stdout).has(id)), 'every answer', HANG_GUARD_MS);
  assert.ok(running, `the server exited before answering every call; its stderr:\n${stderr.slice(-2_000)}`);
  child.stdin.end();
  assert.equal(await exited, 0, 'exits cleanly when the client closes stdin');

  const messages = stdout
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      let message: RawMessage | undefined;
      assert.doesNotThrow(() => (message = JSON.parse(line) as RawMessage), `stdout line is not JSON: ${line.slice(0, 200)}`);
      assert.equal(message!.jsonrpc, '2.0', `not JSON-RPC: ${line.slice(0, 200)}`);
      return message!;
    });
  const byId = new Map(messages.filter((m) => m.id !== undefined).map((m) => [m.id, m]));
  calls.forEach(([name], i) => assert.equal(byId.get(10 + i)!.error, undefined, `${name} (id ${10 + i}) got a protocol error: ${JSON.stringify(byId.get(10 + i)!.error)}`));
  return byId;
}

describe('a raw stdio client', () => {
  it('sees nothing but JSON-RPC on stdout, with no environment at all, and the server exits when stdin closes', async () => {
    const home = tempHome('cfam-contract-home-');
    const byId = await rawSession(bareEnv(home), [
      ['access_fetch', {}],
      ['access_fetch', { url: 'http://127.0.0.1:1/', wait_seconds: 0 }],
      ['access_fetch', { url: `${emulator.plainUrl}/` }],
      ['access_login', { url: 'https://app.example.com/', wait_seconds: 'x' }],
      ['access_status', {}],
      ['access_status', { url: `${emulator.appUrl}/` }],
      ['access_logout', { all: true }],
      ['no_such_tool', {}],
    ]);
    for (const id of [10, 11, 13, 17]) assert.equal(byId.get(id)!.result!.isError, true, `call ${id} is an error result`);
    for (const id of [12, 14, 15, 16]) assert.notEqual(byId.get(id)!.result!.isError, true, `call ${id}: ${JSON.stringify(byId.get(id)!.result).slice(0, 300)}`);
    assert.equal(resultData(byId.get(12)!.result!).auth, 'none');

    // No configuration at all: the store is in the OS config directory under the temp HOME (env-paths).
    const store = join(home, '.config', 'cf-access-mcp');
    assert.equal(byId.get(14)!.result!.structuredContent!.store, store);
    assert.equal(statSync(store).mode & 0o777, 0o700);
  });

  it('keeps stdout clean through a login whose browser command prints to its own stdout', async () => {
    const home = tempHome('cfam-contract-chatty-');
    const byId = await rawSession({ ...bareEnv(home), CF_ACCESS_MCP_HOME: '~/store', CF_ACCESS_MCP_CALLBACK_PORT: '0', CF_ACCESS_MCP_BROWSER: 'echo opening' }, [
      ['access_login', { url: `${emulator.app2Url}/`, wait_seconds: 0 }],
      ['access_fetch', { url: `${emulator.app2Url}/`, wait_seconds: 0 }],
      ['access_status', {}],
    ]);
    assert.equal(resultData(byId.get(10)!.result!).status, 'pending');
    assert.equal(resultData(byId.get(11)!.result!).status, 'pending', 'access_fetch reports the same pending login');
    assert.equal(byId.get(12)!.result!.structuredContent!.store, join(home, 'store'), 'CF_ACCESS_MCP_HOME=~/store is under HOME');
  });
});

describe('structured results match the output schemas on every path', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });

  it('access_fetch: HTML, JSON, text, image, paging with the default max_length, save_to, an HTTP error, not protected', async () => {
    const html = structured(await server.call('access_fetch', { url: `${emulator.appUrl}/` }));
    assert.equal(html.auth, 'oauth');
    assert.equal(server.browserOpens().length, 1);
    const json = await server.call('access_fetch', { url: `${emulator.appUrl}/api/data.json` });
    assert.match(String(structured(json).content_type), /json/);
    structured(await server.call('access_fetch', { url: `${emulator.appUrl}/files/notes.txt`, format: 'raw' }));
    const image = await server.call('access_fetch', { url: `${emulator.appUrl}/images/pixel.png` });
    structured(image);
    assert.ok(image.content.some((c) => c.type === 'image'));

    const long = await server.call('access_fetch', { url: `${emulator.appUrl}/long` });
    const page = structured(long);
    assert.equal(page.truncated, true);
    assert.equal(page.next_start_index, 20_000, 'default max_length is 20,000 characters');
    assert.ok((page.total_length as number) > 20_000);
    assert.match(textOf(long), /start_index/);
    const rest = structured(await server.call('access_fetch', { url: `${emulator.appUrl}/long`, start_index: page.total_length as number }));
    assert.equal(rest.truncated, false);

    const file = join(server.cwd, 'saved', 'blob.bin');
    const saved = structured(await server.call('access_fetch', { url: `${emulator.appUrl}/files/blob.bin`, save_to: file }));
    assert.equal(saved.saved_to, file);
    assert.equal(saved.bytes, statSync(file).size);

    const missing = structured(await server.call('access_fetch', { url: `${emulator.appUrl}/no-such-page` }));
    assert.equal(missing.status, 404, 'an HTTP error from the origin is data');
    const echo = structured(await server.call('access_fetch', { url: `${emulator.appUrl}/echo`, method: 'POST', body: { a: 1 }, headers: { 'x-test': 'yes' } }));
    assert.equal(echo.status, 200);
    assert.equal(structured(await server.call('access_fetch', { url: `${emulator.plainUrl}/` })).auth, 'none');
  });

  it('access_login, access_status and access_logout: every state', async () => {
    const authenticated = structured(await server.call('access_login', { url: `${emulator.appUrl}/` }));
    assert.equal(authenticated.status, 'authenticated');
    assert.equal(authenticated.method, 'oauth');
    assert.ok(authenticated.expires_at);
    assert.equal(structured(await server.call('access_login', { url: `${emulator.plainUrl}/` })).status, 'not_protected');

    const all = structured(await server.call('access_status'));
    assert.deepEqual((all.sessions as Array<{ state: string }>).map((s) => s.state), ['authenticated']);
    const one = structured(await server.call('access_status', { url: `${emulator.appUrl}/` }));
    assert.deepEqual(one.probe && { protected: (one.probe as { protected: boolean }).protected, offer: (one.probe as { offer: string }).offer }, { protected: true, offer: 'managed_oauth' });
    assert.equal((structured(await server.call('access_status', { url: `${emulator.plainUrl}/` })).probe as { protected: boolean }).protected, false);

    const out = structured(await server.call('access_logout', { url: `${emulator.appUrl}/` }));
    assert.equal((out.logged_out as Array<{ revoked: boolean }>)[0]!.revoked, true);
    assert.equal((structured(await server.call('access_logout', { url: `${emulator.appUrl}/` })).logged_out as unknown[]).length, 1, 'a second logout says there was nothing');
    structured(await server.call('access_logout', { all: true }));
    assert.deepEqual(structured(await server.call('access_status')).sessions, []);
  });
});

describe('the pending login an agent sees (CF_ACCESS_MCP_BROWSER=none)', () => {
  it('is a result (not an error) with the URL and "repeat the same call", the same as access_login gives; opening that URL then calling again succeeds', async () => {
    const server = await startServer({ browser: 'none' });
    const pending = await server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 0 });
    assert.notEqual(pending.isError, true, 'a pending login is an expected step, not a failure');
    const text = textOf(pending);
    assert.match(text, /^Login pending/);
    assert.match(text, /repeat the same call/i);
    const url = /https?:\/\/\S+\/cdn-cgi\/access\/oauth\/authorization\?\S+/.exec(text)?.[0];
    assert.ok(url, `no authorization URL in: ${text}`);
    assert.match(text, /CF_ACCESS_MCP_BROWSER is set to "none"/);
    assert.equal(server.browserOpens().length, 0);

    // access_login reports the same login as pending, with the URL in structuredContent.
    const login = structured(await server.call('access_login', { url: `${emulator.appUrl}/`, wait_seconds: 0 }));
    assert.equal(login.status, 'pending');
    assert.equal(login.login_url, url);
    assert.equal(`${login.message}\nNext step: ${login.next_step}`, text, 'one pending shape from both tools');
    assert.deepEqual(structured(pending), login, 'the fetch keeps the same fields for programs');
    const status = structured(await server.call('access_status'));
    assert.deepEqual((status.sessions as Array<{ state: string; login_url?: string }>).map((s) => [s.state, s.login_url]), [['pending', url]]);

    const page = await openLikeABrowser(url);
    assert.equal(page.status, 200);
    assert.match(page.body, /You can close this tab/);
    const done = structured(await server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 10 }));
    assert.equal(done.auth, 'oauth');
    assert.ok(textOf(await server.call('access_fetch', { url: `${emulator.appUrl}/` })).includes(REPORT_SENTENCE));
  });

  it('CF_ACCESS_MCP_LOGIN_TIMEOUT bounds how long the pending login listens', async () => {
    const server = await startServer({ browser: 'none', env: { CF_ACCESS_MCP_LOGIN_TIMEOUT: '1' } });
    const before = Date.now();
    const login = structured(await server.call('access_login', { url: `${emulator.app2Url}/`, wait_seconds: 0 }));
    assert.equal(login.status, 'pending');
    const listensUntil = String(login.expires_at);
    assert.ok(String(login.next_step).includes(`waits until ${listensUntil}`), String(login.next_step));
    assert.ok(Date.parse(listensUntil) - before < 60_000, `a 1 s login timeout still listens until ${listensUntil}`);
    const port = Number(new URL(new URL(String(login.login_url)).searchParams.get('redirect_uri')!).port);
    await until(() => canConnect(port).then((open) => !open), 'the callback listener to close after the login timeout');
    const after = structured(await server.call('access_login', { url: `${emulator.app2Url}/`, wait_seconds: 0 }));
    assert.notEqual(after.login_url, login.login_url, 'an expired login is started anew');
    assert.match(String(after.message), /The earlier sign-in link for .* expired at .* and no longer works; a new login was started/);
    const again = structured(await server.call('access_fetch', { url: `${emulator.app2Url}/`, wait_seconds: 0 }));
    assert.equal(again.login_url, after.login_url, 'the same pending login, the same link');
  });
});

describe('CF_ACCESS_MCP_BROWSER and CF_ACCESS_MCP_CALLBACK_PORT', () => {
  it('splits the browser command on any whitespace, appends the URL, and falls back from a busy callback port', async () => {
    const held = await holdPort();
    const port = (held.address() as { port: number }).port;
    try {
      const server = await startServer({
        env: { CF_ACCESS_MCP_BROWSER: `  ${process.execPath} \t  ${BROWSER_SCRIPT}  `, CF_ACCESS_MCP_CALLBACK_PORT: String(port) },
      });
      const result = structured(await server.call('access_fetch', { url: `${emulator.app2Url}/`, wait_seconds: 30 }));
      assert.equal(result.auth, 'oauth');
      const opened = server.browserOpens();
      assert.equal(opened.length, 1);
      const redirect = new URL(new URL(opened[0]!).searchParams.get('redirect_uri')!);
      assert.equal(redirect.hostname, 'localhost');
      assert.equal(redirect.pathname, '/callback');
      assert.notEqual(Number(redirect.port), port, 'the busy port was not used');
    } finally {
      await new Promise((r) => held.close(r));
    }
  });

  it('a callback on port 80 is accepted with the Host a browser sends there ("localhost", no port)', async (t) => {
    const probe = createServer();
    const bindable = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.listen({ port: 80, host: '127.0.0.1', exclusive: true }, () => probe.close(() => resolve(true)));
    });
    if (!bindable) return t.skip('port 80 cannot be bound here');
    const server = await startServer({ env: { CF_ACCESS_MCP_CALLBACK_PORT: '80' } });
    const result = await server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 30 });
    const redirect = new URL(new URL(server.browserOpens()[0]!).searchParams.get('redirect_uri')!);
    if (redirect.port !== '') return t.skip(`port 80 was taken meanwhile (${redirect.href})`);
    assert.ok(server.browserLines().some((l) => /^callback 200 /.test(l)), server.browserLines().join('\n'));
    assert.equal(structured(result).auth, 'oauth');
  });

  it('"none" in any case opens nothing', async () => {
    const server = await startServer({ env: { CF_ACCESS_MCP_BROWSER: 'NONE' } });
    const login = structured(await server.call('access_login', { url: `${emulator.appUrl}/`, wait_seconds: 0 }));
    assert.equal(login.status, 'pending');
    assert.match(String(login.message), /"none"/);
    assert.equal(server.browserOpens().length, 0);
  });
});

describe('service tokens and cloudflared by their variable names', () => {
  it('CF_ACCESS_CLIENT_ID/SECRET + CF_ACCESS_SERVICE_TOKEN_HOSTS: content, no browser; status lists hosts only', async () => {
    const host = new URL(emulator.appUrl).host;
    const server = await startServer({
      env: { CF_ACCESS_CLIENT_ID: 'contract-id.access', CF_ACCESS_CLIENT_SECRET: 'contract-secret-value-0123456789', CF_ACCESS_SERVICE_TOKEN_HOSTS: host },
    });
    const result = structured(await server.call('access_fetch', { url: `${emulator.appUrl}/api/data.json` }));
    assert.equal(result.auth, 'service_token');
    assert.equal(server.browserOpens().length, 0);
    const status = structured(await server.call('access_status'));
    assert.deepEqual((status.service_tokens as { hosts: string[] }).hosts, [host]);
    assert.equal(structured(await server.call('access_login', { url: `${emulator.appUrl}/` })).method, 'service_token');
  });

  it('CF_ACCESS_SERVICE_TOKENS may name a file under ~; CF_ACCESS_SERVICE_TOKEN_HEADER sends one header', async () => {
    const headerEmulator = await startEmulator({ serviceTokens: [{ clientId: 'hdr-id.access', clientSecret: 'hdr-secret-value-9876543210' }], serviceTokenHeader: 'x-cf-token' });
    emulators.push(headerEmulator);
    const home = tempHome('cfam-contract-tilde-');
    writeFileSync(join(home, 'tokens.json'), JSON.stringify({ [new URL(headerEmulator.appUrl).hostname]: { client_id: 'hdr-id.access', client_secret: 'hdr-secret-value-9876543210' } }));
    const server = await startServer({ env: { HOME: home, CF_ACCESS_SERVICE_TOKENS: '~/tokens.json', CF_ACCESS_SERVICE_TOKEN_HEADER: 'x-cf-token' } });
    const result = structured(await server.call('access_fetch', { url: `${headerEmulator.appUrl}/api/data.json` }));
    assert.equal(result.auth, 'service_token');
    const sent = headerEmulator.log.find((e) => e.endpoint === 'resource')!.headers;
    assert.ok(sent['x-cf-token'], 'the single header was sent');
    assert.equal(sent['cf-access-client-secret'], undefined);
    const status = structured(await server.call('access_status'));
    assert.equal((status.service_tokens as { header?: string }).header, 'x-cf-token');
    assert.deepEqual((status.service_tokens as { problems: string[] }).problems, []);
  });

  it('CF_ACCESS_MCP_CLOUDFLARED: a path under ~ works; a missing one gives the install message', async () => {
    const classic = await startEmulator({ mode: 'classic' });
    emulators.push(classic);
    const home = tempHome('cfam-contract-cf-');
    mkdirSync(join(home, 'bin'));
    copyFileSync(CLOUDFLARED, join(home, 'bin', 'cloudflared'));
    chmodSync(join(home, 'bin', 'cloudflared'), 0o755);
    const server = await startServer({ env: { HOME: home, CF_ACCESS_MCP_CLOUDFLARED: '~/bin/cloudflared', TEST_CLOUDFLARED_DIR: join(home, 'cf-cache') } });
    const result = structured(await server.call('access_fetch', { url: `${classic.appUrl}/`, wait_seconds: 30 }));
    assert.equal(result.auth, 'cloudflared');

    const none = await startServer({ env: { CF_ACCESS_MCP_CLOUDFLARED: join(home, 'nowhere', 'cloudflared') } });
    const text = assertToolError(await none.call('access_fetch', { url: `${classic.app2Url}/`, wait_seconds: 5 }), 'missing cloudflared');
    assert.match(text, /CF_ACCESS_MCP_CLOUDFLARED/);
    assert.match(text, /service token|CF_ACCESS_CLIENT_ID/i);
  });
});

describe('closing stdin ends everything the server started', () => {
  it('no server process, no callback listener, no cloudflared child left behind', async () => {
    const classic = await startEmulator({ mode: 'classic' });
    emulators.push(classic);
    const gate = join(tempHome(), 'never-created');
    const server = await startServer({
      browser: 'none',
      env: { CF_ACCESS_MCP_CLOUDFLARED: CLOUDFLARED, TEST_CLOUDFLARED_GATE: gate, TEST_CLOUDFLARED_DIR: tempHome() },
    });
    const oauth = structured(await server.call('access_login', { url: `${emulator.app2Url}/`, wait_seconds: 0 }));
    assert.equal(oauth.status, 'pending');
    const port = Number(new URL(new URL(String(oauth.login_url)).searchParams.get('redirect_uri')!).port);
    assert.equal(await canConnect(port), true, 'the callback listener is up while the login is pending');
    assert.equal(structured(await server.call('access_fetch', { url: `${classic.appUrl}/`, wait_seconds: 0 })).status, 'pending', 'pending cloudflared');
    const pid = server.pid!;
    const children = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .stdout.split('\n')
      .map((l) => Number(l.trim()))
      .filter((n) => n > 0);
    assert.ok(children.length >= 1, 'cloudflared runs as a child');

    await server.close();
    await until(() => !running(pid), 'the server to exit');
    await until(() => children.every((child) => !running(child)), 'cloudflared to be stopped');
    assert.equal(await canConnect(port), false, 'the callback port is closed');
  });
});

describe('the CLI a person runs', () => {
  const env = () => bareEnv(tempHome('cfam-contract-cli-'));

  it('--version, --help, help, demo --help exit 0; unknown commands and options exit 2', async () => {
    const e = env();
    const version = await runCli(['--version'], e);
    assert.deepEqual([version.stdout.trim(), version.code], [VERSION, 0]);
    const help = await runCli(['--help'], e);
    assert.equal(help.code, 0);
    for (const command of ['login', 'status', 'logout', 'fetch', 'demo', 'emulator']) assert.match(help.stdout, new RegExp(`cf-access-mcp ${command}`));
    assert.match(help.stdout, /0 ok, 1 failure, 2 usage.*\n?.*3 login not completed/);
    assert.equal((await runCli(['help'], e)).code, 0);
    for (const command of ['login', 'status', 'logout', 'fetch', 'demo', 'emulator']) {
      const r = await runCli([command, '--help'], e);
      assert.equal(r.code, 0, `${command} --help: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`Usage: cf-access-mcp ${command}`));
    }
    assert.equal((await runCli(['bogus'], e)).code, 2);
    assert.equal((await runCli(['--bogus'], e)).code, 2);
    assert.equal((await runCli(['login'], e)).code, 2);
    assert.equal((await runCli(['fetch', 'ftp://x'], e)).code, 2);
    assert.equal((await runCli(['logout'], e)).code, 2);
  });

  it('login with no browser and no wait exits 3 with the URL; fetch, status and logout work on the same store', async () => {
    const e = { ...env(), CF_ACCESS_MCP_CALLBACK_PORT: '0', CF_ACCESS_MCP_BROWSER: 'none' };
    const login = await runCli(['login', `${emulator.appUrl}/`, '--wait', '0'], e);
    assert.equal(login.code, 3, login.stderr);
    assert.match(login.stderr, /cdn-cgi\/access\/oauth\/authorization\?/);

    const withBrowser = { ...e, ...trustedTeamsEnv(), CF_ACCESS_MCP_BROWSER: `${process.execPath} ${BROWSER_SCRIPT}`, TEST_BROWSER_LOG: join(tempHome(), 'b.log') };
    const fetched = await runCli(['fetch', `${emulator.appUrl}/api/data.json`], withBrowser);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.doesNotThrow(() => JSON.parse(fetched.stdout));
    const status = await runCli(['status', '--json'], withBrowser);
    assert.equal(status.code, 0);
    assert.equal((JSON.parse(status.stdout) as { sessions: Array<{ state: string }> }).sessions[0]!.state, 'authenticated');
    assert.equal((await runCli(['logout', '--all'], withBrowser)).code, 0);
  });

  it('demo prints a readable trace of every protocol step and the protected content', async () => {
    const demo = await runCli(['demo'], { ...env(), HTTP_PROXY: 'http://127.0.0.1:9', HTTPS_PROXY: 'http://127.0.0.1:9' });
    assert.equal(demo.code, 0, demo.stdout + demo.stderr);
    for (const step of ['RFC 9728', 'RFC 8414', 'RFC 7591', 'PKCE', 'code exchange', 'Bearer']) assert.ok(demo.stdout.includes(step), `demo trace lacks ${step}`);
    assert.ok(demo.stdout.includes(REPORT_SENTENCE), 'demo shows the protected content');
    assert.doesNotMatch(demo.stdout, /oauth:[A-Za-z0-9_-]{8,}/, 'no token in the demo output');
  });

  it('emulator prints its URLs and how to try it, serves a usable Approve/Deny page, and stops on SIGINT', async () => {
    const child = spawn(process.execPath, [SERVER_ENTRY, 'emulator'], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await until(() => /Ctrl\+C/.test(out), 'the emulator banner');
      const app = /protected app\s*:\s*(\S+)/.exec(out)![1]!;
      assert.match(out, /team domain\s*:\s*http:\/\/127\.0\.0\.1:\d+/);
      assert.ok(out.includes(`cf-access-mcp login ${app}/`), 'tells a newcomer what to run');

      const server = await startServer({ browser: 'none' });
      const login = structured(await server.call('access_login', { url: `${app}/`, wait_seconds: 0 }));
      const response = await fetch(String(login.login_url), { headers: { accept: 'text/html' } });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /text\/html/);
      const html = await response.text();
      assert.match(html, /<title>Sign in to /);
      assert.match(html, /<meta name="viewport"/);
      assert.match(html, /<form method="post"/);
      assert.match(html, /<button[^>]*value="approve"[^>]*>Approve<\/button>/);
      assert.match(html, /<button[^>]*value="deny"[^>]*>Deny<\/button>/);
      assert.match(html, /emulator/i, 'says it is the emulator, not Cloudflare');

      const requestId = /name="request_id"[^>]*value="([^"]+)"/.exec(html)![1]!;
      const decision = await fetch(new URL('/cdn-cgi/access/oauth/authorization/decision', String(login.login_url)), {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ request_id: requestId, decision: 'approve' }).toString(),
      });
      assert.equal(decision.status, 302);
      const callback = await fetch(decision.headers.get('location')!);
      assert.match(await callback.text(), /You are signed in/);
      assert.equal(structured(await server.call('access_fetch', { url: `${app}/`, wait_seconds: 10 })).auth, 'oauth');
      assert.match(out, /authorize_decision/, 'each request is printed');
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0);
  });
});

// The scripted browser and the contract's files are where the tests say they are.
assert.ok(existsSync(BROWSER_SCRIPT) && existsSync(CLOUDFLARED));
