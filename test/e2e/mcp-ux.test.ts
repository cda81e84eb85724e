import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import {
  ElicitationCompleteNotificationSchema,
  ElicitRequestSchema,
  type CallToolResult,
  type ElicitRequestURLParams,
} from '@modelcontextprotocol/sdk/types.js';
import { REPORT_SENTENCE, type Emulator } from '../../src/emulator/index.js';
import { BROWSER_SCRIPT, cleanupHomes, eventually, startEmulator, TestServer, textOf, resultData, callbackAddress } from '../helpers/harness.js';
import { assertNoSecretsLeaked } from '../helpers/leaks.js';

/**
 * Issue 6, "Done when" (MCP side): progress while a login is pending, URL-mode
 * elicitation with its completion notification, the URL in the text for other
 * clients, cancellation that leaves the login pending, paste-back with the
 * state check, headless detection, and tool metadata that tells the truth.
 * Every test drives the built server over stdio.
 */

let emulator: Emulator;
const servers: TestServer[] = [];

async function startServer(options: Parameters<typeof TestServer.start>[0] = {}): Promise<TestServer> {
  const server = await TestServer.start(options);
  servers.push(server);
  return server;
}

function structured(result: CallToolResult): Record<string, unknown> {
  return resultData(result);
}

function assertFetched(result: CallToolResult): void {
  assert.notEqual(result.isError, true, `unexpected error result: ${textOf(result)}`);
  assert.ok(textOf(result).includes(REPORT_SENTENCE), `article missing from: ${textOf(result).slice(0, 400)}`);
}

/**
 * The user's browser, played by the scripted browser: open the URL, approve, land on the callback.
 * It is the browser the server opened (same cookies): the callback requires the cookie of the start address.
 */
function browse(server: TestServer, url: string, action: 'approve' | 'deny' = 'approve'): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, TEST_BROWSER_ACTION: action, TEST_BROWSER_LOG: '', TEST_BROWSER_JAR: server.browserJar };
    const child = spawn(process.execPath, [BROWSER_SCRIPT, url], { stdio: 'ignore', env });
    child.once('error', reject);
    child.once('exit', resolve);
  });
}

before(async () => {
  emulator = await startEmulator({ approval: 'auto' });
});

after(async () => {
  for (const server of servers) await server.close();
  assertNoSecretsLeaked(emulator.secrets());
  await emulator.close();
  cleanupHomes();
});

describe('while a login is pending', () => {
  it('sends strictly increasing progress notifications when the call carries a progress token', async () => {
    const server = await startServer({ browser: 'ignore' });
    const progress: Array<{ progress: number; total?: number; message?: string }> = [];
    const result = await server.call('access_login', { url: `${emulator.appUrl}/`, wait_seconds: 3 }, { onprogress: (p) => progress.push(p as never) });
    assert.equal(structured(result).status, 'pending');
    assert.ok(progress.length >= 2, `expected at least 2 progress notifications, got ${progress.length}`);
    for (let i = 1; i < progress.length; i++) {
      assert.ok(progress[i]!.progress > progress[i - 1]!.progress, `progress did not increase: ${JSON.stringify(progress)}`);
    }
    const [loginUrl] = server.browserOpens();
    assert.ok(loginUrl);
    assert.ok(progress.every((p) => p.message?.includes(loginUrl)), 'each progress message carries the login URL');
  });

  it('asks a client that declares elicitation.url to show the login URL, and tells it when the login completed', async () => {
    const server = await startServer({ browser: 'ignore', capabilities: { elicitation: { url: {} } } });
    const elicitations: ElicitRequestURLParams[] = [];
    const completions: string[] = [];
    server.client.setRequestHandler(ElicitRequestSchema, async (request) => {
      const params = request.params as ElicitRequestURLParams;
      elicitations.push(params);
      // The user accepts and the client opens the page; the answer does not wait for the sign-in.
      void browse(server, params.url);
      return { action: 'accept' };
    });
    server.client.setNotificationHandler(ElicitationCompleteNotificationSchema, (notification) => {
      completions.push(notification.params.elicitationId);
    });

    const result = await server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 60 });
    assertFetched(result);
    assert.equal(elicitations.length, 1);
    const [elicitation] = elicitations;
    assert.equal(elicitation!.mode, 'url');
    assert.equal(elicitation!.url, server.browserOpens()[0], 'the elicitation carries the authorization URL');
    assert.match(elicitation!.message, new RegExp(new URL(emulator.appUrl).host.replace(/\./g, '\\.')));
    await eventually(() => completions.length === 1, 10_000, 'the elicitation completion notification');
    assert.equal(completions[0], elicitation!.elicitationId);
  });

  it('puts the login URL in the result text for a client without URL elicitation', async () => {
    const server = await startServer({ browser: 'ignore', capabilities: { elicitation: { form: {} } } });
    let elicited = 0;
    server.client.setRequestHandler(ElicitRequestSchema, async () => {
      elicited++;
      return { action: 'cancel' };
    });
    const result = await server.call('access_login', { url: `${emulator.appUrl}/`, wait_seconds: 0 });
    const content = structured(result);
    // The scripted browser loads the one-time start address on its own time.
    const loginUrl = await eventually(() => server.browserOpens()[0], 15_000, 'the browser to load the start address');
    assert.equal(content.status, 'pending');
    assert.equal(content.login_url, loginUrl);
    assert.ok(textOf(result).includes(loginUrl!), 'the text names the URL to open');
    assert.equal(elicited, 0, 'no elicitation for a client that cannot show a URL');

    const fetched = await server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 0 });
    assert.notEqual(fetched.isError, true, 'a pending login is not an error');
    assert.ok(textOf(fetched).includes(loginUrl!), 'a pending access_fetch names the URL too');
    assert.equal(textOf(fetched), textOf(result), 'the same sentences as access_login');
    assert.match(textOf(fetched), /Next step:/);
  });

  it('stops waiting when the call is cancelled, keeps the login pending, and a later call completes it', async () => {
    const server = await startServer({ browser: 'ignore' });
    const controller = new AbortController();
    const call = server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 120 }, { signal: controller.signal });
    const loginUrl = await eventually(() => server.browserOpens()[0], 15_000, 'the login to start');
    controller.abort();
    await assert.rejects(call, /abort/i);

    // The browser loads the start address while the server may still be watching the opener start: poll briefly.
    type Row = { host: string; state: string; login_url?: string };
    const sessions = await eventually(async () => {
      const rows = structured(await server.call('access_status', { url: `${emulator.appUrl}/` })).sessions as Row[];
      return rows.some((row) => row.state !== 'none') ? rows : undefined;
    }, 10_000, 'the pending login in access_status');
    assert.deepEqual(
      sessions!.map((s) => [s.state, s.login_url]),
      [['pending', loginUrl]],
      'the login is still pending after the cancellation',
    );

    assert.equal(await browse(server, loginUrl!), 0, 'the user finishes in the browser after the call was cancelled');
    const result = await server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 30 });
    assertFetched(result);
    assert.equal(server.browserOpens().length, 1, 'no second browser login');
  });
});

describe('paste-back', () => {
  it('completes a pending login from the pasted redirect address, and refuses one with the wrong state', async () => {
    const server = await startServer({ browser: 'ignore' });
    const url = `${emulator.appUrl}/`;
    const pending = structured(await server.call('access_login', { url, wait_seconds: 0 }));
    assert.equal(pending.status, 'pending');
    const address = await callbackAddress(pending.login_url as string);

    const tampered = new URL(address);
    tampered.searchParams.set('state', 'not-the-state-we-sent');
    const refused = await server.call('access_login', { url, callback_url: tampered.href });
    assert.equal(refused.isError, true);
    assert.match(textOf(refused), /state does not match/);
    assert.match(textOf(refused), /still pending/);
    assert.match(textOf(refused), /Next step:/);
    const stillPending = structured(await server.call('access_status', { url })).sessions as Array<{ state: string }>;
    assert.equal(stillPending[0]?.state, 'pending');

    const done = await server.call('access_login', { url, callback_url: address, wait_seconds: 30 });
    assert.notEqual(done.isError, true, textOf(done));
    assert.equal(structured(done).status, 'authenticated');
    assertFetched(await server.call('access_fetch', { url, wait_seconds: 0 }));
    assert.equal(emulator.requests({ endpoint: 'token' }).filter((e) => e.status === 200).length >= 1, true);
  });

  it('says how to start over when no login is waiting for the pasted address', async () => {
    const server = await startServer({ browser: 'ignore' });
    const result = await server.call('access_login', { url: `${emulator.app2Url}/`, callback_url: 'http://localhost:1/callback?code=x&state=y' });
    assert.equal(result.isError, true);
    assert.match(textOf(result), /No login to .* is waiting/);
    assert.match(textOf(result), /Next step: To start a new login, call access_login with url: http\S+; sign in at the URL it gives/);
  });
});

describe('headless and remote', () => {
  it('detects an SSH session without a display and gives the URL with paste-back instructions', async () => {
    const server = await startServer({
      env: { CF_ACCESS_MCP_BROWSER: '', DISPLAY: '', WAYLAND_DISPLAY: '', SSH_CONNECTION: '203.0.113.7 50000 198.51.100.2 22' },
    });
    const result = await server.call('access_login', { url: `${emulator.appUrl}/`, wait_seconds: 0 });
    const text = textOf(result);
    assert.equal(structured(result).status, 'pending');
    assert.match(text, /No browser was opened because this is an SSH session/);
    assert.ok(text.includes(structured(result).login_url as string));
    assert.match(text, /callback_url/);
  });

  it('reports an opener that fails to start or exits with an error', async () => {
    const missing = await startServer({ env: { CF_ACCESS_MCP_BROWSER: '/nonexistent/cf-access-mcp-browser' } });
    const first = await missing.call('access_login', { url: `${emulator.appUrl}/`, wait_seconds: 0 });
    assert.match(textOf(first), /No browser was opened because the browser command \(CF_ACCESS_MCP_BROWSER\) failed to start \(ENOENT\)/);

    const failing = await startServer({ env: { CF_ACCESS_MCP_BROWSER: `${process.execPath} -e process.exit(3)` } });
    const second = await failing.call('access_login', { url: `${emulator.appUrl}/`, wait_seconds: 0 });
    assert.match(textOf(second), /exited with code 3/);
  });
});

describe('tool metadata and logging', () => {
  it('declares titles, output schemas and annotations that tell the truth', async () => {
    const server = await startServer();
    const { tools } = await server.client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    for (const tool of tools) {
      assert.ok(tool.title, `${tool.name} has a title`);
      // access_fetch's page is its value: with an output schema Claude Code would show its model only the metadata.
      assert.equal(Boolean(tool.outputSchema), tool.name !== 'access_fetch', `${tool.name}: output schema`);
    }
    assert.equal(byName.get('access_status')!.annotations?.readOnlyHint, true);
    assert.equal(byName.get('access_fetch')!.annotations?.readOnlyHint, false);
    assert.equal(byName.get('access_fetch')!.annotations?.openWorldHint, true);
    assert.equal(byName.get('access_logout')!.annotations?.destructiveHint, true);
    assert.equal(byName.get('access_login')!.annotations?.destructiveHint, false);
    assert.ok('callback_url' in (byName.get('access_login')!.inputSchema.properties ?? {}));
  });

  it('declares logging and sends log messages at the level the client sets', async () => {
    const server = await startServer();
    assert.ok(server.client.getServerCapabilities()?.logging, 'logging capability declared');
    await server.client.setLoggingLevel('debug');
    assertFetched(await server.call('access_fetch', { url: `${emulator.app2Url}/`, wait_seconds: 30 }));
    const messages = server.logMessages.map((m) => JSON.parse(m) as { level: string; data: string });
    assert.ok(messages.some((m) => m.level === 'info' && /Logged in to/.test(m.data)), JSON.stringify(messages));

    await server.client.setLoggingLevel('error');
    const before = server.logMessages.length;
    await server.call('access_logout', { all: true });
    await server.call('access_login', { url: `${emulator.app2Url}/`, wait_seconds: 30 });
    assert.equal(server.logMessages.length, before, 'info messages are held back at level error');
    assert.ok(server.stderr.join('').includes('Logged in to'), 'stderr still has the log');
  });
});
