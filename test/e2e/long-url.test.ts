import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { cleanupHomes, resultData, TestServer, textOf } from '../helpers/harness.js';

/**
 * Issue 16: an agent's very long URL (200 KB of query string) is not repeated
 * in full in our own words (the head line, "Redirected from", access_status);
 * the result's fields for programs keep it exactly.
 */

const QUERY = `q=${'x1y2z3'.repeat(35_000)}&last=end-of-query`;
let origin: string;
let site: Server;
let server: TestServer;

before(async () => {
  // Node's default 16 KB header limit would refuse a 200 KB request line before any route sees it.
  site = createServer({ maxHeaderSize: 1024 * 1024 }, (req, res) => {
    const url = new URL(req.url ?? '/', origin);
    // Redirected to a short address: a 200 KB Location header would exceed the client's 64 KB limit on headers.
    if (url.pathname === '/moved') return void res.writeHead(302, { location: '/page?short=1' }).end();
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>Report</title><main><h1>Report</h1><p>The report, whatever the query.</p></main>');
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
  server = await TestServer.start({ browser: 'none' });
});

after(async () => {
  await server?.close();
  await new Promise<void>((resolve) => site.close(() => resolve()));
  cleanupHomes();
});

/** A shortened form of `url`: its start, how many characters were left out, its end. */
function assertShortened(line: string, url: string): void {
  const match = /(http:\/\/127\.0\.0\.1:\d+\/\S*)…\[(\d+) characters left out\]…(\S*?):?(?:\s|$)/.exec(line);
  assert.ok(match, `not shortened: ${line.slice(0, 400)}`);
  const [, head, left, tail] = match;
  assert.ok(url.startsWith(head!) && url.endsWith(tail!), line);
  assert.equal(head!.length + Number(left) + tail!.length, url.length, 'the count of characters left out is exact');
}

describe('a 200 KB URL', () => {
  it('access_fetch: the head line names it shortened; the page comes back and _meta keeps the exact URL', async () => {
    const url = `${origin}/page?${QUERY}`;
    const result = await server.call('access_fetch', { url });
    const text = textOf(result);
    assert.notEqual(result.isError, true, text.slice(0, 500));
    const head = text.split('\n')[0]!;
    assert.match(head, /^HTTP 200 OK · text\/html · no credentials · /);
    assertShortened(head, url);
    assert.ok(text.length < 2_000, `the result is ${text.length} characters`);
    assert.match(text, /The report, whatever the query\./);
    const data = resultData(result);
    assert.equal(data.url, url);
    assert.equal(data.final_url, url);
  });

  it('access_fetch after a redirect: "Redirected from" names it shortened, _meta exactly', async () => {
    const url = `${origin}/moved?${QUERY}`;
    const result = await server.call('access_fetch', { url });
    const text = textOf(result);
    assert.notEqual(result.isError, true, text.slice(0, 500));
    const [head, redirected] = text.split('\n');
    assert.match(head!, new RegExp(`^HTTP 200 OK · text/html · no credentials · ${origin}/page\\?short=1$`));
    assert.match(redirected!, /^Redirected from /);
    assertShortened(redirected!, url);
    assert.ok(text.length < 2_000, `the result is ${text.length} characters`);
    const data = resultData(result);
    assert.equal(data.url, url);
    assert.equal(data.final_url, `${origin}/page?short=1`);
  });

  it('access_status with the URL: the probe line names it shortened; the structured probe keeps it', async () => {
    const url = `${origin}/page?${QUERY}`;
    const result = await server.call('access_status', { url });
    const text = textOf(result);
    assert.notEqual(result.isError, true, text.slice(0, 500));
    assert.ok(text.length < 3_000, `the result is ${text.length} characters`);
    assertShortened(text.split('\n').find((line) => line.includes('not protected'))!, url);
    const probe = resultData(result).probe as { url: string; message?: string };
    assert.equal(probe.url, url);
  });
});
