import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { cleanupHomes, TestServer, textOf } from '../helpers/harness.js';
import { Hostile } from '../helpers/hostile-site.js';
import { slowPage, smallUnmarkedPage } from '../helpers/slow-pages.js';

/**
 * Issue 16, end to end: a page that keeps the converter busy for seconds does
 * not hold up an access_fetch of another page that needs the converter; at
 * its budget the slow page comes back as served with a note and the server
 * goes on.
 */

let site: Hostile;
let slowServed: Promise<void>;
const servers: TestServer[] = [];

before(async () => {
  site = await Hostile.start();
  let served!: () => void;
  slowServed = new Promise((resolve) => (served = resolve));
  site.routes.set('/slow', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(slowPage());
    served();
  });
  // Answered only once the slow page has been, and a moment later, so that it is converting when this one arrives.
  site.routes.set('/small', async (req, res) => {
    await slowServed;
    await sleep(500);
    const name = new URL(req.url ?? '/', site.origin).searchParams.get('name') ?? 'Small';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(smallUnmarkedPage(name));
  });
});

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await site.close();
  cleanupHomes();
});

async function startServer(env: Record<string, string> = {}): Promise<TestServer> {
  const server = await TestServer.start({ browser: 'none', env });
  servers.push(server);
  return server;
}

function assertOk(result: CallToolResult): string {
  assert.notEqual(result.isError, true, `unexpected error: ${textOf(result).slice(0, 500)}`);
  return textOf(result);
}

describe('access_fetch while another page converts slowly', () => {
  it('a page that needs the converter comes back while the slow page is still converting', async () => {
    const server = await startServer();
    const finished: string[] = [];
    const slow = server.call('access_fetch', { url: `${site.origin}/slow?run=1` }).then((result) => {
      finished.push('slow');
      return result;
    });
    const small = assertOk(await server.call('access_fetch', { url: `${site.origin}/small?name=Queued` }));
    finished.push('small');
    assert.match(small, /# Queued\n[^]*A sentence of the page called Queued/);
    assert.doesNotMatch(small, /not converted/);
    assert.deepEqual(finished, ['small'], 'the small page waited for the slow one');
    // Converted, or (on a slow machine) at the default budget as served: either way it ends, and the server goes on.
    const text = assertOk(await slow);
    assert.ok(text.includes(`[entry-0.html](${site.origin}/files/entry-0.html)`) || /took longer than the 10000 ms budget/.test(text), text.slice(0, 300));
    assertOk(await server.call('access_status', {}));
  });

  // The budget is below what the slow page takes even on a fast machine, and far above a small page's conversion in a freshly started worker.
  it('at the budget the slow page is shown as served with a note; the page fetched meanwhile converts; the server stays up', async () => {
    const server = await startServer({ CF_ACCESS_MCP_CONVERT_BUDGET_MS: '1500' });
    const slow = server.call('access_fetch', { url: `${site.origin}/slow?run=2` });
    const small = server.call('access_fetch', { url: `${site.origin}/small?name=Meanwhile` });
    const [late, meanwhile] = await Promise.all([slow, small]);
    const lateText = assertOk(late);
    assert.match(lateText, /not converted to markdown: converting it took longer than the 1500 ms budget \(CF_ACCESS_MCP_CONVERT_BUDGET_MS\)\. It is shown as served \(HTML\)/);
    assert.ok(lateText.includes('<html><body><div><a href="/files/entry-0.html">'), lateText.slice(0, 300));
    assert.match(assertOk(meanwhile), /# Meanwhile\n/);
    assertOk(await server.call('access_status', {}));
    // The slow page's worker was ended; the next page that needs one converts all the same.
    assert.match(assertOk(await server.call('access_fetch', { url: `${site.origin}/small?name=After` })), /# After\n[^]*A sentence of the page called After/);
  });
});
