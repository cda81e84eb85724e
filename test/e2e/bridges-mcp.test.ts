import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema, ListRootsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Emulator } from '../../src/emulator/index.js';
import { browserOpens, bridgeEnv, run } from '../helpers/bridges.js';
import { cleanupHomes, eventually, SERVER_ENTRY, startEmulator, TestServer, textOf } from '../helpers/harness.js';
import { assertNoSecretsLeaked, recordOutput } from '../helpers/leaks.js';

/**
 * Issue 14: `cf-access-mcp bridge <emulator>/mcp` as an MCP client sees it
 * (the SDK client over stdio), and the access_proxy tool of the MCP server.
 */

interface Bridged {
  client: Client;
  env: Record<string, string>;
  stderr: string[];
}

async function connectBridge(url: string, env: Record<string, string> = bridgeEnv()): Promise<Bridged> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [SERVER_ENTRY, 'bridge', url], env, stderr: 'pipe' });
  const stderr: string[] = [];
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderr.push(chunk.toString());
    recordOutput('bridge stderr', chunk.toString());
  });
  const client = new Client({ name: 'bridge-test', version: '1.0.0' }, { capabilities: { elicitation: { form: {} }, roots: { listChanged: true } } });
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    recordOutput('elicitation', JSON.stringify(request.params));
    return { action: 'accept', content: { answer: `yes to "${request.params.message}"` } };
  });
  client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///work/project', name: 'project' }] }));
  await client.connect(transport);
  return { client, env, stderr };
}

async function call(client: Client, name: string, args: Record<string, unknown>, onprogress?: (p: unknown) => void): Promise<string> {
  const result = (await client.callTool({ name, arguments: args }, undefined, { onprogress: onprogress as never, timeout: 60_000 })) as CallToolResult;
  recordOutput(`bridged ${name}`, JSON.stringify(result));
  return textOf(result);
}

/** Calls the read-only `count` (40 steps of 50 ms) and restarts the remote once the first progress note shows it running; the call's answer comes from the new session. */
async function countThroughARestart(bridged: Bridged, emulator: Emulator): Promise<void> {
  let restarted: Promise<void> | undefined;
  const progress: number[] = [];
  const result = await call(bridged.client, 'count', { steps: 40 }, (p) => {
    progress.push((p as { progress: number }).progress);
    restarted ??= emulator.endMcpSessions();
  });
  await restarted;
  assert.equal(result, 'counted to 40');
  assert.equal(progress.at(-1), 40, 'the call ran again, from the start, in the new session');
}

/** A bridge to a remote that goes away: each request gets our error saying why and what to check (not the SDK's or the event source's text), and the bridge keeps running. */
async function remoteGoneIsReported(path: '/mcp' | '/sse'): Promise<void> {
  const gone = await startEmulator();
  const own = await connectBridge(`${gone.appUrl}${path}`);
  try {
    assert.equal(await call(own.client, 'echo', { text: 'before' }), 'before');
    const port = new URL(gone.appUrl).port;
    await gone.close();
    for (let attempt = 0; attempt < 2; attempt++) {
      const error = (await own.client.callTool({ name: 'echo', arguments: { text: 'gone' } }, undefined, { timeout: 60_000 }).catch((e: Error) => e)) as Error;
      assert.ok(error instanceof Error, 'the call fails rather than hangs');
      assert.match(error.message, new RegExp(`Could not reach 127\\.0\\.0\\.1:${port}: the connection to port ${port} was refused`));
      assert.match(error.message, /keeps running/);
      assert.match(error.message, /Next step: Check the port in the URL/);
      assert.doesNotMatch(error.message, /fetch failed|aborted|SSE error/);
    }
    assert.match(own.stderr.join(''), /Could not reach/);
  } finally {
    await own.client.close();
    assertNoSecretsLeaked(gone.secrets());
    await gone.close();
  }
}

describe('cf-access-mcp bridge (issue 14)', () => {
  let emulator: Emulator;
  let bridged: Bridged;

  before(async () => {
    emulator = await startEmulator();
    bridged = await connectBridge(`${emulator.appUrl}/mcp`);
  });

  after(async () => {
    await bridged?.client.close();
    assertNoSecretsLeaked(emulator.secrets());
    await emulator.close();
    cleanupHomes();
  });

  it('passes the remote server, capabilities and tool list through unchanged', async () => {
    assert.equal(bridged.client.getServerVersion()?.name, 'emulator-remote-mcp');
    assert.equal(bridged.client.getInstructions(), "The emulator's remote MCP server.");
    assert.ok(bridged.client.getServerCapabilities()?.logging);
    const { tools } = await bridged.client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['ask', 'count', 'echo', 'resume', 'roots', 'sleep']);
    assert.equal(browserOpens(bridged.env).length, 1);
    assert.match(bridged.stderr.join(''), /Checking Cloudflare Access/);
  });

  it('calls remote tools; progress, elicitation and roots pass through', async () => {
    assert.equal(await call(bridged.client, 'echo', { text: 'hello remote' }), 'hello remote');
    const progress: unknown[] = [];
    assert.equal(await call(bridged.client, 'count', { steps: 3 }, (p) => progress.push(p)), 'counted to 3');
    assert.deepEqual(progress.map((p) => (p as { progress: number }).progress), [1, 2, 3]);
    assert.equal(await call(bridged.client, 'ask', { question: 'Deploy?' }), 'answer: yes to "Deploy?"');
    assert.equal(await call(bridged.client, 'roots', {}), 'file:///work/project');
  });

  it('passes a cancellation on to the remote', async () => {
    const posts = () => emulator.requests({ endpoint: 'resource' }).filter((e) => e.path === '/mcp' && e.method === 'POST').length;
    const before = posts();
    const controller = new AbortController();
    const pending = bridged.client.callTool({ name: 'sleep', arguments: { ms: 600_000 } }, undefined, { signal: controller.signal, timeout: 60_000 });
    await eventually(() => posts() > before, 10_000, 'the call reached the remote');
    setTimeout(() => controller.abort('test cancels'), 200);
    await assert.rejects(pending);
    await eventually(() => emulator.log.some((e) => e.endpoint === 'mcp_cancelled'), 20_000, 'the remote saw the cancellation');
  });

  it('keeps working across an access-token expiry: refreshed, request repeated, no second browser', async () => {
    const refreshesBefore = emulator.requests({ endpoint: 'token' }).length;
    emulator.expireAccessTokens();
    assert.equal(await call(bridged.client, 'echo', { text: 'after expiry' }), 'after expiry');
    const progress: unknown[] = [];
    assert.equal(await call(bridged.client, 'count', { steps: 2 }, (p) => progress.push(p)), 'counted to 2');
    assert.equal(progress.length, 2);
    assert.ok(emulator.requests({ endpoint: 'token' }).length > refreshesBefore, 'a refresh happened');
    assert.equal(browserOpens(bridged.env).length, 1);
  });

  it('opens a new session when the remote forgets this one (it restarted): the request goes again, the client notices nothing', async () => {
    await emulator.endMcpSessions();
    assert.equal(await call(bridged.client, 'echo', { text: 'after a restart' }), 'after a restart');
    const progress: unknown[] = [];
    assert.equal(await call(bridged.client, 'count', { steps: 2 }, (p) => progress.push(p)), 'counted to 2');
    assert.equal(progress.length, 2);
    // The new session knows the client's capabilities: the remote's own requests still reach it.
    assert.equal(await call(bridged.client, 'ask', { question: 'Still there?' }), 'answer: yes to "Still there?"');
    assert.match(bridged.stderr.join(''), /opening a new session/);
    assert.equal(browserOpens(bridged.env).length, 1);
  });

  it('a restart cuts the answer stream of a call mid-call: the read-only call is sent again in a new session and answered (the client does not wait for its timeout)', async () => {
    await bridged.client.listTools(); // the bridge learns which tools are safe to repeat
    await countThroughARestart(bridged, emulator);
    assert.match(bridged.stderr.join(''), /The answer stream from .*\/mcp ended before the answer came/);
    assert.equal(await call(bridged.client, 'echo', { text: 'after the cut' }), 'after the cut');
    assert.equal(browserOpens(bridged.env).length, 1);
  });

  it('a call not marked safe to repeat whose answer stream is cut fails at once, saying it may have taken effect', async () => {
    const posts = () => emulator.requests({ endpoint: 'resource' }).filter((e) => e.path.startsWith('/mcp') && e.method === 'POST').length;
    const before = posts();
    const pending = call(bridged.client, 'sleep', { ms: 600_000 });
    await eventually(() => posts() > before, 10_000, 'the call reached the remote');
    await emulator.endMcpSessions();
    const error = (await pending.catch((e: Error) => e)) as Error;
    assert.ok(error instanceof Error, 'the call fails rather than hangs');
    assert.match(error.message, /The answer to the call of the tool "sleep" sent to .* was lost: its answer stream ended before it came/);
    assert.match(error.message, /may or may not have taken effect/);
    assert.equal(await call(bridged.client, 'echo', { text: 'next' }), 'next');
  });

  it('an answer stream the remote ends on purpose (resumable: its events carry ids) is resumed by the client, not taken for a lost answer: one run, one answer', async () => {
    const resumable = await connectBridge(`${emulator.appUrl}/mcp-resumable`, bridged.env);
    try {
      const runs = () => emulator.log.filter((e) => e.endpoint === 'mcp_resume').length;
      const before = runs();
      // Not marked safe to repeat: taken for a cut, it would fail with "may or may not have taken effect".
      assert.equal(await call(resumable.client, 'resume', {}), 'answered on the resumed stream');
      assert.equal(runs() - before, 1, 'the remote ran the tool once');
      const resumed = emulator.requests({ endpoint: 'resource' }).filter((e) => e.path === '/mcp-resumable' && e.method === 'GET' && e.headers['last-event-id']);
      assert.ok(resumed.length >= 1, 'the client resumed the stream with Last-Event-ID through the bridge');
      assert.doesNotMatch(resumable.stderr.join(''), /ended before the answer came|was lost/);
      assert.equal(await call(resumable.client, 'echo', { text: 'after the resume' }), 'after the resume');

      // A resumable stream whose session then ends (a restart): the SDK's resumption fails, and the call is not left waiting.
      const error = (await call(resumable.client, 'resume', { end_session: true }).catch((e: Error) => e)) as Error;
      assert.ok(error instanceof Error, 'the call fails rather than hangs');
      assert.match(error.message, /The answer to the call of the tool "resume" sent to .* was lost: its answer stream ended before it came/);
      assert.equal(await call(resumable.client, 'echo', { text: 'after the restart' }), 'after the restart');
      assert.equal(browserOpens(bridged.env).length, 1);
    } finally {
      await resumable.client.close();
    }
  });

  it('a new session the restarting remote cannot open yet is tried again with the next request', async () => {
    await emulator.endMcpSessions({ refuseInitializes: 1 });
    await assert.rejects(call(bridged.client, 'echo', { text: 'still starting' }), /could not open a new one \(HTTP 503 to initialize/);
    assert.equal(await call(bridged.client, 'echo', { text: 'started' }), 'started');
    assert.equal(browserOpens(bridged.env).length, 1);
  });

  it('falls back to the HTTP+SSE transport when the remote only speaks that', async () => {
    const sse = await connectBridge(`${emulator.appUrl}/sse`);
    try {
      const { tools } = await sse.client.listTools();
      assert.ok(tools.some((t) => t.name === 'echo'));
      assert.equal(await call(sse.client, 'echo', { text: 'over sse' }), 'over sse');
      assert.match(sse.stderr.join(''), /older HTTP\+SSE transport/);
    } finally {
      await sse.client.close();
    }
  });

  it('says clearly when the URL is no MCP endpoint (a JSON API, a page, a missing path), without dumping what it got', async () => {
    for (const path of ['/api/data.json', '/', '/no-such-mcp']) {
      const error = (await connectBridge(`${emulator.appUrl}${path}`).catch((e: Error) => e)) as Error;
      assert.ok(error instanceof Error, path);
      assert.match(error.message, new RegExp(`No MCP server answers at ${emulator.appUrl}${path}`), path);
      assert.match(error.message, /Check the URL: it must be the MCP endpoint/, path);
      assert.doesNotMatch(error.message, /invalid_union|<html|<!doctype/i, path);
    }
  });

  it('answers each request with an error saying the remote cannot be reached, and keeps running', () => remoteGoneIsReported('/mcp'));

  it('reports clearly when the remote wants its own OAuth as well', async () => {
    await assert.rejects(connectBridge(`${emulator.appUrl}/mcp-oauth`), /its own OAuth sign-in/);
  });
});

describe('cf-access-mcp bridge over the older HTTP+SSE transport: a lost session (issue 14)', () => {
  let emulator: Emulator;
  let sse: Bridged;
  /** Messages the client posted to the remote's SSE sessions. */
  const posts = () => emulator.requests({ endpoint: 'resource' }).filter((e) => e.path.startsWith('/sse/messages') && e.method === 'POST').length;

  before(async () => {
    emulator = await startEmulator();
    sse = await connectBridge(`${emulator.appUrl}/sse`);
    assert.match(sse.stderr.join(''), /older HTTP\+SSE transport/);
    // The bridge learns from the tool list which tools the remote marks as safe to call again.
    assert.ok((await sse.client.listTools()).tools.some((t) => t.name === 'count' && t.annotations?.readOnlyHint === true));
  });

  after(async () => {
    await sse?.client.close();
    assertNoSecretsLeaked(emulator.secrets());
    await emulator.close();
    cleanupHomes();
  });

  it('a restart ends the event stream mid-call: a new session, the read-only call sent again and answered, no second browser', async () => {
    await countThroughARestart(sse, emulator);
    assert.match(sse.stderr.join(''), /The event stream from .*\/sse ended \(the server restarted, or the connection dropped\); opening a new session/);
    assert.equal(await call(sse.client, 'echo', { text: 'after the restart' }), 'after the restart');
    // The new session knows the client's capabilities: the remote's own requests still reach it.
    assert.equal(await call(sse.client, 'ask', { question: 'Still there?' }), 'answer: yes to "Still there?"');
    assert.equal(browserOpens(sse.env).length, 1);
  });

  it('a call the remote does not mark as safe to repeat is not sent again: its error says it may have taken effect and what to do', async () => {
    const before = posts();
    const pending = call(sse.client, 'sleep', { ms: 600_000 });
    await eventually(() => posts() > before, 10_000, 'the call reached the remote');
    const postsAtRestart = posts();
    await emulator.endMcpSessions();
    const error = (await pending.catch((e: Error) => e)) as Error;
    assert.ok(error instanceof Error, 'the call fails rather than hangs');
    assert.match(error.message, /ended while the call of the tool "sleep" was waiting for its answer/);
    assert.match(error.message, /may or may not have taken effect/);
    assert.match(error.message, /Next step: Check whether it took effect/);
    // The new session got the bridge's initialize and initialized, not the call a second time.
    assert.equal(posts() - postsAtRestart, 2);
    assert.equal(await call(sse.client, 'echo', { text: 'next' }), 'next');
  });

  it('a call whose answer is lost twice is not sent a third time; with nothing waiting, the next request opens the session', async () => {
    const restarts: Array<Promise<void>> = [];
    // Each progress note is the call running in the session in use: the first two get that session restarted.
    const error = (await call(sse.client, 'count', { steps: 40 }, () => void (restarts.length < 2 && restarts.push(emulator.endMcpSessions()))).catch((e: Error) => e)) as Error;
    await Promise.all(restarts);
    assert.equal(restarts.length, 2);
    assert.ok(error instanceof Error, 'the call fails rather than hangs');
    assert.match(error.message, /did not send it again: it had been sent again once already, and the new session was lost too/);
    assert.match(error.message, /Next step: Check that the remote MCP server stays up/);

    const said = () => sse.stderr.join('').split('the next request opens a new session').length - 1;
    const before = said();
    await emulator.endMcpSessions();
    await eventually(() => said() > before, 10_000, 'the bridge to notice the ended stream');
    assert.equal(await call(sse.client, 'echo', { text: 'next request' }), 'next request');
    assert.equal(browserOpens(sse.env).length, 1);
  });

  it('a remote that no longer knows the session while its stream stays open (404 to a message): a new session, the request sent again', async () => {
    await emulator.endMcpSessions({ keepStreams: true });
    assert.equal(await call(sse.client, 'echo', { text: 'answered by a new session' }), 'answered by a new session');
    assert.match(sse.stderr.join(''), /no longer knows this session \(HTTP 404/);
    assert.equal(await call(sse.client, 'ask', { question: 'And now?' }), 'answer: yes to "And now?"');
    assert.equal(browserOpens(sse.env).length, 1);
  });

  it('a remote that stays down: each request gets an error saying it cannot be reached and what to check, and the bridge keeps running', () => remoteGoneIsReported('/sse'));

  it('a remote still starting up: the unanswered call gets an error naming the next step, and the next request opens the session', async () => {
    const pending = call(sse.client, 'count', { steps: 40 }, () => void (restarted ??= emulator.endMcpSessions({ refuseInitializes: 1 })));
    let restarted: Promise<void> | undefined;
    const error = (await pending.catch((e: Error) => e)) as Error;
    await restarted;
    assert.ok(error instanceof Error, 'the call fails rather than hangs');
    assert.match(error.message, /ended this session and could not open a new one \(HTTP 503 to a new event stream\)/);
    assert.match(error.message, /Next step: Repeat the request/);
    assert.equal(await call(sse.client, 'echo', { text: 'started' }), 'started');
    assert.equal(browserOpens(sse.env).length, 1);
  });
});

describe('access_proxy tool (issue 14)', () => {
  let emulator: Emulator;
  let server: TestServer;

  before(async () => {
    emulator = await startEmulator();
    server = await TestServer.start();
  });

  after(async () => {
    await server?.close();
    assertNoSecretsLeaked(emulator.secrets());
    await emulator.close();
    cleanupHomes();
  });

  it('returns a base URL and lifetime; access_status lists it; access_logout stops it', async () => {
    const started = await server.call('access_proxy', { url: `${emulator.appUrl}/api/data.json` });
    const data = started.structuredContent as { base_url: string; lifetime: string; signed_in: boolean; origin: string };
    assert.equal(data.signed_in, true);
    assert.equal(data.origin, emulator.appUrl);
    assert.match(data.base_url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(data.lifetime, /as long as this MCP server/);
    const fetched = await run('curl', ['-s', `${data.base_url}/api/data.json`]);
    assert.equal(JSON.parse(fetched.stdout).items.length > 0, true);
    const again = await server.call('access_proxy', { url: emulator.appUrl });
    assert.equal((again.structuredContent as { reused: boolean; base_url: string }).base_url, data.base_url);

    const status = await server.call('access_status', {});
    assert.deepEqual(
      (status.structuredContent as { proxies: Array<{ base_url: string }> }).proxies.map((p) => p.base_url),
      [data.base_url],
    );
    assert.match(textOf(status), new RegExp(`Proxy ${data.base_url}`));

    const logout = await server.call('access_logout', { url: emulator.appUrl });
    assert.deepEqual((logout.structuredContent as { stopped_proxies: string[] }).stopped_proxies, [new URL(emulator.appUrl).host]);
    const refused = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${data.base_url}/`]);
    assert.equal(refused.stdout, '000');
  });

  it('for a URL Access does not guard, says so rather than claim a credential is added', async () => {
    const result = await server.call('access_proxy', { url: `${emulator.plainUrl}/` });
    assert.ok(!result.isError, textOf(result));
    const data = result.structuredContent as { base_url: string; signed_in: boolean; protected: boolean; message: string };
    assert.equal(data.protected, false);
    assert.equal(data.signed_in, false);
    assert.match(data.message, /answered without an Access challenge/);
    assert.doesNotMatch(data.message, /the Access credential is added by the proxy/);
    assert.equal((await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${data.base_url}/`])).stdout, '200');
    await server.call('access_logout', { all: true });
  });

  it('a second call keeps the address the agent already uses: a new idle timeout applies to it, a busy port leaves it running', async () => {
    type Started = { base_url: string; reused: boolean; idle_timeout_seconds?: number; message: string };
    const code = async (base: string) => (await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${base}/api/data.json`])).stdout;
    const listed = async () => ((await server.call('access_status', {})).structuredContent as { proxies: Array<{ base_url: string; idle_timeout_seconds?: number }> }).proxies;
    const first = (await server.call('access_proxy', { url: emulator.appUrl })).structuredContent as Started;

    const idle = await server.call('access_proxy', { url: `${emulator.appUrl}/api/data.json`, idle_timeout_seconds: 600 });
    const changed = idle.structuredContent as Started;
    assert.equal(changed.base_url, first.base_url, 'same address, not a new proxy');
    assert.equal(changed.reused, true);
    assert.equal(changed.idle_timeout_seconds, 600);
    assert.match(changed.message, /idle timeout is now 600 s/);
    assert.deepEqual((await listed()).map((p) => [p.base_url, p.idle_timeout_seconds]), [[first.base_url, 600]]);
    // Called again without the argument: the running proxy is returned as it is.
    assert.equal(((await server.call('access_proxy', { url: emulator.appUrl })).structuredContent as Started).idle_timeout_seconds, 600);

    // A port that cannot be had: the call fails, and the proxy the agent already uses keeps running.
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const busyPort = (busy.address() as AddressInfo).port;
    try {
      const refused = await server.call('access_proxy', { url: emulator.appUrl, port: busyPort });
      assert.equal(refused.isError, true);
      assert.match(textOf(refused), new RegExp(`${first.base_url}, keeps running`));
    } finally {
      busy.close();
    }
    assert.equal(await code(first.base_url), '200');
    assert.deepEqual((await listed()).map((p) => p.base_url), [first.base_url]);

    // Another free port: the proxy moves there, and the result says the old address stopped.
    const free = createServer();
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
    const freePort = (free.address() as AddressInfo).port;
    await new Promise<void>((resolve) => free.close(() => resolve()));
    const moved = (await server.call('access_proxy', { url: emulator.appUrl, port: freePort })).structuredContent as Started;
    assert.equal(moved.base_url, `http://127.0.0.1:${freePort}`);
    assert.match(moved.message, new RegExp(`${first.base_url}, which stopped`));
    assert.equal(await code(moved.base_url), '200');
    assert.equal(await code(first.base_url), '000');
    await server.call('access_logout', { all: true });
  });
});

describe('access_proxy per application, with an idle timeout (issue 14)', () => {
  let emulator: Emulator;
  let server: TestServer;

  before(async () => {
    emulator = await startEmulator({ pathApps: ['/admin'] });
    server = await TestServer.start();
  });

  after(async () => {
    await server?.close();
    assertNoSecretsLeaked(emulator.secrets());
    await emulator.close();
    cleanupHomes();
  });

  const start = async (args: Record<string, unknown>) => {
    const result = await server.call('access_proxy', args);
    assert.ok(!result.isError, textOf(result));
    return result.structuredContent as { base_url: string; application: string; lifetime: string; idle_timeout_seconds?: number; reused: boolean };
  };
  const sessions = () => (JSON.parse(readFileSync(join(server.home, 'store.json'), 'utf8')) as { sessions: Record<string, { access_token: string }> }).sessions;
  const status = async () => (await server.call('access_status', {})).structuredContent as { proxies: Array<{ application: string; base_url: string; stops_at?: string }> };

  it("one proxy per application: /admin's proxy sends /admin's credential; logout of /admin stops only that one", async () => {
    const host = new URL(emulator.appUrl).host;
    const admin = await start({ url: `${emulator.appUrl}/admin/users` });
    const site = await start({ url: `${emulator.appUrl}/` });
    assert.equal(admin.application, `${host}/admin`);
    assert.equal(site.application, host);
    assert.notEqual(admin.base_url, site.base_url);
    assert.equal((await start({ url: `${emulator.appUrl}/admin/` })).base_url, admin.base_url);
    assert.deepEqual((await status()).proxies.map((p) => p.application).sort(), [host, `${host}/admin`]);

    // Access let it through to the application (which has no page there): a refused credential would be 401, or 503 login_pending.
    assert.equal((await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${admin.base_url}/admin/users`])).stdout, '404');
    const sent = emulator.requests({ endpoint: 'resource' }).filter((e) => e.path === '/admin/users').at(-1)!;
    assert.equal(sent.headers.authorization, `Bearer ${sessions()[`${emulator.appUrl}/admin`]!.access_token}`);

    const logout = await server.call('access_logout', { url: `${emulator.appUrl}/admin/settings` });
    assert.deepEqual((logout.structuredContent as { stopped_proxies: string[] }).stopped_proxies, [`${host}/admin`]);
    assert.equal((await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${admin.base_url}/admin/users`])).stdout, '000', 'the /admin proxy stopped');
    assert.equal((await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${site.base_url}/api/data.json`])).stdout, '200');
    assert.deepEqual((await status()).proxies.map((p) => p.application), [host]);
  });

  it('with idle_timeout_seconds it says so, status shows when it stops, and it stops once unused', async () => {
    const idle = await start({ url: `${emulator.appUrl}/`, idle_timeout_seconds: 1 });
    assert.equal(idle.idle_timeout_seconds, 1);
    assert.match(idle.lifetime, /unused for 1 s \(idle timeout\)/);
    const listed = (await status()).proxies.find((p) => p.base_url === idle.base_url);
    assert.ok(listed?.stops_at, 'status shows when the proxy stops');
    await eventually(async () => !(await status()).proxies.some((p) => p.base_url === idle.base_url), 20_000, 'the idle proxy to stop');
    assert.equal((await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${idle.base_url}/`])).stdout, '000');
  });
});

describe('access_proxy before the sign-in is done (issue 14)', () => {
  let emulator: Emulator;
  let server: TestServer;

  before(async () => {
    emulator = await startEmulator();
    server = await TestServer.start({ browser: 'none' });
  });

  after(async () => {
    await server?.close();
    assertNoSecretsLeaked(emulator.secrets());
    await emulator.close();
    cleanupHomes();
  });

  it('starts the proxy anyway and says how to sign in; requests get 503 with the same link', async () => {
    const result = await server.call('access_proxy', { url: emulator.appUrl, wait_seconds: 0 });
    assert.ok(!result.isError, textOf(result));
    const data = result.structuredContent as { base_url: string; signed_in: boolean; login_url: string; next_step: string };
    assert.equal(data.signed_in, false);
    assert.match(data.login_url, /^http:\/\/127\.0\.0\.1:\d+\//);
    assert.match(data.next_step, /503/);
    const answer = await run('curl', ['-s', `${data.base_url}/api/data.json`]);
    const body = JSON.parse(answer.stdout) as { error: string; login_url: string };
    assert.equal(body.error, 'login_pending');
    assert.equal(body.login_url, data.login_url);
  });
});
