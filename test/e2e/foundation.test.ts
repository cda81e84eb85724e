import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Emulator } from '../../src/emulator/index.js';
import { cleanupHomes, eventually, startEmulator, tempHome, TestServer, textOf, resultData } from '../helpers/harness.js';
import { assertNoSecretsLeaked } from '../helpers/leaks.js';

/**
 * Issue 2, "Done when": the managed-OAuth path end to end, through the built
 * server over stdio, against the emulator on loopback, with the scripted browser.
 */

const SENTENCE = 'The protected resource was reached through Cloudflare Access.';
const COLD_FLOW = ['probe', 'resource_metadata', 'server_metadata', 'registration', 'authorize', 'token', 'resource'];
const TOOLS = ['access_fetch', 'access_login', 'access_status', 'access_logout'];

let emulator: Emulator;
const servers: TestServer[] = [];

async function startServer(options: Parameters<typeof TestServer.start>[0] = {}): Promise<TestServer> {
  const server = await TestServer.start(options);
  servers.push(server);
  return server;
}

/** Endpoints the emulator saw since the last clearLog, without the test's own admin calls. */
function endpoints(): string[] {
  return emulator.log.filter((e) => e.endpoint !== 'admin').map((e) => e.endpoint);
}

function structured(result: CallToolResult): Record<string, unknown> {
  return resultData(result);
}

function assertOk(result: CallToolResult): void {
  assert.notEqual(result.isError, true, `unexpected error result: ${textOf(result)}`);
}

function assertFetched(result: CallToolResult): void {
  assertOk(result);
  assert.ok(textOf(result).includes(SENTENCE), `article missing from: ${textOf(result).slice(0, 500)}`);
  const content = structured(result);
  assert.equal(content.status, 200);
  assert.equal(content.auth, 'oauth');
}

function holdPort(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(server));
  });
}

function closePort(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** What the scripted browser does, done by the test: follow the authorization URL to the loopback callback. */
async function openLikeABrowser(authorizationUrl: string): Promise<{ status: number; body: string }> {
  let url = new URL(authorizationUrl);
  for (let hop = 0; hop < 10; hop++) {
    const response = await fetch(url, { redirect: 'manual', headers: { accept: 'text/html' } });
    const body = await response.text();
    if (url.pathname === '/callback' && url.hostname === 'localhost') return { status: response.status, body };
    const location = response.headers.get('location');
    assert.ok(response.status >= 300 && response.status < 400 && location, `stuck at ${url.pathname} (HTTP ${response.status})`);
    url = new URL(location, url);
  }
  assert.fail('too many redirects before the callback');
}

before(async () => {
  emulator = await startEmulator();
});

after(async () => {
  try {
    await Promise.all(servers.map((s) => s.close()));
    assertNoSecretsLeaked(emulator.secrets());
  } finally {
    await emulator.close();
    cleanupHomes();
  }
});

describe('managed OAuth end to end', () => {
  let home: string;
  let server: TestServer;
  const articleUrl = () => `${emulator.appUrl}/`;

  before(async () => {
    // A store directory the server has to create itself.
    home = join(tempHome(), 'store-home');
    server = await startServer({ home });
  });

  it('lists the four tools with titles, descriptions, input and output schemas', async () => {
    const { tools } = await server.client.listTools();
    const names = tools.map((t) => t.name);
    for (const name of TOOLS) assert.ok(names.includes(name), `${name} missing from ${names.join(', ')}`);
    for (const tool of tools.filter((t) => TOOLS.includes(t.name))) {
      assert.ok((tool.title ?? tool.annotations?.title ?? '').length > 5, `${tool.name} has no title`);
      assert.ok((tool.description ?? '').length > 40, `${tool.name} has no useful description`);
      assert.equal(tool.inputSchema.type, 'object');
      // access_fetch's page is its value: an output schema would hide it from Claude Code's model.
      if (tool.name === 'access_fetch') assert.equal(tool.outputSchema, undefined, 'access_fetch has no output schema');
      else assert.equal(tool.outputSchema?.type, 'object', `${tool.name} has no output schema`);
      if (tool.name !== 'access_fetch') assert.ok(Object.keys(tool.outputSchema?.properties ?? {}).length > 0, `${tool.name} output schema is empty`);
    }
    const fetchTool = tools.find((t) => t.name === 'access_fetch')!;
    for (const param of ['url', 'method', 'headers', 'body', 'max_length', 'start_index', 'wait_seconds']) {
      assert.ok(param in (fetchTool.inputSchema.properties ?? {}), `access_fetch lacks ${param}`);
    }
    assert.deepEqual(fetchTool.inputSchema.required, ['url']);
  });

  it('a cold access_fetch runs the whole protocol and returns the article', async () => {
    emulator.clearLog();
    const result = await server.call('access_fetch', { url: articleUrl(), wait_seconds: 30 });
    assertFetched(result);
    const content = structured(result);
    assert.equal(content.url, articleUrl());
    assert.match(String(content.content_type), /text\/html/);
    assert.deepEqual(endpoints(), COLD_FLOW);
    assert.equal(server.browserOpens().length, 1);
    assert.ok(server.browserOpens()[0]!.startsWith(`${emulator.teamUrl}/cdn-cgi/access/oauth/authorization?`));
    assert.ok(server.browserLines().some((l) => /^callback 200 /.test(l)), server.browserLines().join('\n'));
    // The leak check at the end can only work if the emulator reports what it issued.
    assert.ok(emulator.secrets().some((secret) => secret.startsWith('oauth:')), 'emulator.secrets() lists the tokens');
  });

  it('a second access_fetch makes exactly one request', async () => {
    emulator.clearLog();
    assertFetched(await server.call('access_fetch', { url: articleUrl() }));
    assert.deepEqual(endpoints(), ['resource']);
    assert.equal(server.browserOpens().length, 1, 'no new browser window');
  });

  it('stores the session in a 0600 file inside a 0700 directory', () => {
    assert.equal(statSync(home).mode & 0o777, 0o700);
    assert.equal(statSync(join(home, 'store.json')).mode & 0o777, 0o600);
  });

  it('a new server process on the same store fetches without a browser', async () => {
    const second = await startServer({ home });
    try {
      emulator.clearLog();
      assertFetched(await second.call('access_fetch', { url: articleUrl(), wait_seconds: 5 }));
      assert.deepEqual(endpoints(), ['resource']);
      assert.deepEqual(second.browserOpens(), []);
    } finally {
      await second.close();
    }
  });

  it('refuses bad URLs with a clear message and a next step, and keeps answering', async () => {
    const cases: Array<[string, RegExp]> = [
      ['ftp://x', /scheme ftp: is not supported/],
      ['not a url', /not a valid absolute URL/],
      ['http://example.com', /http:\/\/ is refused for example\.com/],
    ];
    emulator.clearLog();
    for (const [url, message] of cases) {
      const result = await server.call('access_fetch', { url });
      assert.equal(result.isError, true, url);
      assert.match(textOf(result), message);
      assert.match(textOf(result), /Next step: \S/);
    }
    assert.deepEqual(endpoints(), [], 'nothing was sent for refused URLs');
    assertFetched(await server.call('access_fetch', { url: articleUrl() }));
  });

  it('access_logout forgets the session and access_status then shows none', async () => {
    const before = structured(await server.call('access_status', {}));
    assert.ok(
      (before.sessions as Array<{ origin: string; state: string }>).some((s) => s.origin === emulator.appUrl && s.state === 'authenticated'),
      JSON.stringify(before),
    );
    const logout = await server.call('access_logout', { url: articleUrl() });
    assertOk(logout);
    const loggedOut = structured(logout).logged_out as Array<{ host: string }>;
    assert.deepEqual(
      loggedOut.map((l) => l.host),
      [new URL(emulator.appUrl).host],
    );

    const status = await server.call('access_status', {});
    assertOk(status);
    const sessions = structured(status).sessions as Array<{ origin: string; state: string }>;
    assert.ok(!sessions.some((s) => s.origin === emulator.appUrl && s.state !== 'none'), JSON.stringify(sessions));
    const one = structured(await server.call('access_status', { url: articleUrl() }));
    const mine = (one.sessions as Array<{ origin: string; state: string }>).find((s) => s.origin === emulator.appUrl);
    assert.ok(!mine || mine.state === 'none', JSON.stringify(one));
    assert.equal((one.probe as { protected: boolean }).protected, true);
  });
});

describe('login edge cases', () => {
  it('logs in on another port when the configured callback port is held', async () => {
    const held = await holdPort(0);
    assert.ok(held);
    const port = (held.address() as { port: number }).port;
    try {
      const known = new Set(emulator.clients().map((c) => c.client_id));
      const server = await startServer({ env: { CF_ACCESS_MCP_CALLBACK_PORT: String(port) } });
      assertFetched(await server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 30 }));
      const fresh = emulator.clients().filter((c) => !known.has(c.client_id));
      assert.equal(fresh.length, 1);
      const redirect = new URL(fresh[0]!.redirect_uris[0]!);
      assert.equal(redirect.hostname, 'localhost');
      assert.notEqual(Number(redirect.port), port);
      await server.close();
    } finally {
      await closePort(held);
    }
  });

  it('logs in on another port when the default port 8400 is held', async (t) => {
    const held = await holdPort(8400);
    if (!held) {
      t.skip('port 8400 is in use on this machine');
      return;
    }
    try {
      const known = new Set(emulator.clients().map((c) => c.client_id));
      // An empty value means "not set": the default, 8400.
      const server = await startServer({ env: { CF_ACCESS_MCP_CALLBACK_PORT: '' } });
      assertFetched(await server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 30 }));
      const fresh = emulator.clients().filter((c) => !known.has(c.client_id));
      assert.equal(fresh.length, 1);
      const redirect = new URL(fresh[0]!.redirect_uris[0]!);
      assert.ok(redirect.port !== '8400' && redirect.port !== '', fresh[0]!.redirect_uris[0]);
      await server.close();
    } finally {
      await closePort(held);
    }
  });

  it('refuses a callback with a wrong state and does not complete the login with it', async () => {
    const server = await startServer({ browser: 'wrong-state' });
    emulator.clearLog();
    const result = await server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 2 });
    assert.notEqual(result.isError, true, 'a pending login is not an error');
    assert.match(textOf(result), /^Login pending/);
    await eventually(() => server.browserLines().find((l) => l.startsWith('callback ')), 10_000, 'the tampered callback');
    assert.ok(server.browserLines().some((l) => /^callback 400 /.test(l)), server.browserLines().join('\n'));
    const again = await server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 0 });
    assert.notEqual(again.isError, true, 'a pending login is not an error');
    assert.match(textOf(again), /^Login pending/);
    assert.ok(!endpoints().includes('token'), `the code was redeemed: ${endpoints().join(' → ')}`);
    assert.ok(!endpoints().includes('resource'), 'the resource was reached');
    const status = structured(await server.call('access_status', { url: `${emulator.appUrl}/` }));
    const mine = (status.sessions as Array<{ origin: string; state: string }>).find((s) => s.origin === emulator.appUrl);
    assert.equal(mine?.state, 'pending', JSON.stringify(status));
    await server.close();
  });

  it('Deny in interactive mode gives a clear error with a next step', async (t) => {
    emulator.options.approval = 'interactive';
    t.after(() => {
      emulator.options.approval = 'auto';
    });
    const server = await startServer({ browser: 'deny' });
    emulator.clearLog();
    const result = await server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 30 });
    assert.equal(result.isError, true);
    const text = textOf(result);
    assert.match(text, /denied/i);
    assert.match(text, /Next step: \S/);
    assert.ok(server.browserLines().some((l) => /^callback 200 .*denied/i.test(l)), server.browserLines().join('\n'));
    assert.ok(endpoints().includes('authorize_decision'));
    assert.ok(!endpoints().includes('token'));
    // The server is still up and the failed login left no session.
    const status = structured(await server.call('access_status', {}));
    assert.ok(!(status.sessions as Array<{ origin: string; state: string }>).some((s) => s.origin === emulator.appUrl && s.state === 'authenticated'));
    await server.close();
  });

  it('with CF_ACCESS_MCP_BROWSER=none the pending result carries a URL that works', async () => {
    const server = await startServer({ browser: 'none' });
    const pending = await server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 1 });
    assert.notEqual(pending.isError, true, 'a pending login is not an error');
    const text = textOf(pending);
    assert.match(text, /^Login pending/);
    assert.match(text, /Next step: \S/);
    const escaped = emulator.teamUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const found = new RegExp(`${escaped}/cdn-cgi/access/oauth/authorization\\?[^\\s"'<>]+`).exec(text);
    assert.ok(found, `no authorization URL in: ${text}`);
    assert.deepEqual(server.browserOpens(), [], 'nothing was opened');

    const callback = await openLikeABrowser(found[0]);
    assert.equal(callback.status, 200);
    assert.match(callback.body, /signed in/i);

    emulator.clearLog();
    assertFetched(await server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 30 }));
    assert.ok(!endpoints().includes('authorize'), 'no second authorization was needed');
    await server.close();
  });
});
