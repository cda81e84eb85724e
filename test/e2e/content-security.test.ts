import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { cleanupHomes, TestServer, textOf } from '../helpers/harness.js';
import { escapedForms, stringsIn } from '../helpers/escapes.js';
import { Hostile } from '../helpers/hostile-site.js';
import { assertNoSecretsLeaked } from '../helpers/leaks.js';

/**
 * Issue 11, items 2 and 3, end to end: a protected debug page that echoes the
 * token it received (in a table cell, in JSON) shows it in no form; a hostile
 * page at the body cap does not stop the server answering other calls and the
 * login callback.
 */

const MIB = 1024 * 1024;

/**
 * A managed-OAuth origin on loopback whose tokens hold every character a
 * converter escapes, with a public page, a hostile page at the body cap, and
 * protected pages that echo the request headers back (whoami).
 */
async function startWhoamiSite(): Promise<Hostile> {
  const site = await Hostile.start();
  site.newAccessToken = () => `tok_${random()}*[${random()}]\\${random()}\`end_${random()}`;
  site.routes.set('/hello', (_req, res) => void res.writeHead(200, { 'content-type': 'text/html' }).end('<p>Hello from a public page.</p>'));
  // Public, at the body cap: each unterminated <!-- once made the nesting check rescan the rest.
  site.routes.set('/hostile', (_req, res) => void res.writeHead(200, { 'content-type': 'text/html' }).end(`<html><body>${'<!--'.repeat((5 * MIB) / 4 - 4)}`));
  for (const path of ['/whoami', '/whoami.json']) site.routes.set(path, (req, res) => whoami(site, req, res, path.endsWith('.json')));
  return site;
}

function whoami(site: Hostile, req: IncomingMessage, res: ServerResponse, asJson: boolean): void {
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  if (!bearer || !site.issued.has(bearer)) {
    res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${site.origin}/.well-known/cloudflare-access-protected-resource/"` });
    return void res.end();
  }
  const headers = { authorization: req.headers.authorization, 'cf-access-token': req.headers['cf-access-token'] ?? bearer };
  if (asJson) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ headers }));
  const cell = (s = '') => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html><head><title>whoami</title></head><body><main><h1>Request headers</h1>
<p>${'The headers this request carried, as the application saw them. '.repeat(5)}</p>
<table><tr><th>Name</th><th>Value</th></tr>${Object.entries(headers).map(([k, v]) => `<tr><td>${k}</td><td>${cell(String(v ?? ""))}</td></tr>`).join('')}</table>
<pre>${cell(JSON.stringify({ headers }, null, 2))}</pre></main></body></html>`);
}

function random(): string {
  return Math.random().toString(36).slice(2, 12) + Math.random().toString(36).slice(2, 12);
}

let site: Hostile;
const servers: TestServer[] = [];

before(async () => {
  site = await startWhoamiSite();
});

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  assertNoSecretsLeaked(site.secrets);
  await site.close();
  cleanupHomes();
});

async function startServer(options: Parameters<typeof TestServer.start>[0] = {}): Promise<TestServer> {
  const server = await TestServer.start(options);
  servers.push(server);
  return server;
}

function assertOk(result: CallToolResult): string {
  assert.notEqual(result.isError, true, `unexpected error: ${textOf(result).slice(0, 500)}`);
  return textOf(result);
}

describe('a protected page that echoes the token it received', () => {
  it('shows it in no form: table cell, JSON in <pre>, JSON body; markdown, text and raw', async () => {
    // The site is its own authorization server; the user trusts it, so the scripted browser signs in.
    const server = await startServer({ env: { CF_ACCESS_MCP_TEAMS: new URL(site.origin).host } });
    for (const [path, format] of [['/whoami', 'markdown'], ['/whoami', 'text'], ['/whoami', 'raw'], ['/whoami.json', 'markdown'], ['/whoami.json', 'raw']] as const) {
      const result = await server.call('access_fetch', { url: `${site.origin}${path}`, format });
      const text = assertOk(result);
      assert.match(text, /(^|[^\\])\[redacted\]/, `${path} ${format}: nothing was redacted (or the marker was escaped)`);
      for (const token of site.issued) {
        for (const value of stringsIn(result)) {
          for (const form of escapedForms(token)) assert.ok(!value.includes(form), `${path} ${format}: the token appears as ${JSON.stringify(form)}`);
        }
      }
    }
  });
});

describe('a hostile page at the body cap', () => {
  it('does not stop access_status or the login callback from answering within 1 s', async () => {
    const server = await startServer({ browser: 'none', env: { CF_ACCESS_MCP_CONVERT_BUDGET_MS: '5000' } });
    // A pending login, so that the loopback callback listener is up.
    const pending = textOf(await server.call('access_fetch', { url: `${site.origin}/whoami`, wait_seconds: 0 }));
    const callback = new URL(/http:\/\/localhost:\d+\/callback/.exec(pending)![0]);

    // Warm up this test process's own fetch (its first use loads undici), and the server's converter (started
    // with the first page, then kept), so that what is timed is the server answering while it converts.
    await (await fetch(new URL('/callback?state=warm-up', callback))).arrayBuffer();
    assert.match(assertOk(await server.call('access_fetch', { url: `${site.origin}/hello` })), /Hello from a public page\./);

    let done = false;
    const hostile = server.call('access_fetch', { url: `${site.origin}/hostile` }).finally(() => (done = true));
    const slowest = { status: 0, callback: 0 };
    const rounds: string[] = [];
    while (!done || rounds.length < 3) {
      let start = performance.now();
      assertOk(await server.call('access_status', {}, { timeoutMs: 30_000 }));
      const status = performance.now() - start;
      slowest.status = Math.max(slowest.status, status);
      start = performance.now();
      const answer = await fetch(new URL('/callback?state=not-ours&code=nothing', callback), { signal: AbortSignal.timeout(30_000) });
      await answer.arrayBuffer();
      slowest.callback = Math.max(slowest.callback, performance.now() - start);
      rounds.push(`${Math.round(status)}/${Math.round(performance.now() - start)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const result = await hostile;
    const text = assertOk(result);
    assert.ok(text.length > 0);
    assert.ok(slowest.status < 1_000, `access_status took ${Math.round(slowest.status)} ms (status/callback per round: ${rounds.join(', ')})`);
    assert.ok(slowest.callback < 1_000, `the callback took ${Math.round(slowest.callback)} ms (status/callback per round: ${rounds.join(', ')})`);
  });
});
