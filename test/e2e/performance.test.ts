import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Emulator } from '../../src/emulator/index.js';
import { resultData, tempHome, TestServer, textOf } from '../helpers/harness.js';
import { Hostile } from '../helpers/hostile-site.js';
import { e2eSuite } from '../helpers/suite.js';

/**
 * Issue 16 items 3 and 5, counted at the emulator: paging a long page costs one
 * upstream request (and logout or another credential does not reuse it),
 * concurrent cold fetches share one discovery, and a new process re-logs in
 * with the discovery it stored.
 */

const suite = e2eSuite();

const emulator = () => suite.emulator({ approval: 'auto' });

const server = (home?: string) => suite.server(home ? { home } : {});

const rememberStoredSecrets = (home: string) => void suite.readStore(home);

const docRequests = (e: Emulator) => e.requests({ endpoint: 'resource' }).filter((r) => r.path.startsWith('/doc'));

/** Reads the page from `start` to its end: how many pages, and the total length they report. */
async function readToEnd(s: TestServer, url: string, start = 0): Promise<{ total: number; pages: number }> {
  let next: number | undefined = start;
  let total = -1;
  let pages = 0;
  while (next !== undefined) {
    const result = await s.call('access_fetch', { url, start_index: next });
    assert.ok(!result.isError, textOf(result));
    const data = resultData(result);
    pages++;
    if (total !== -1) assert.equal(data.total_length, total);
    total = data.total_length as number;
    next = data.next_start_index as number | undefined;
  }
  return { total, pages };
}

describe('paging without refetching', () => {
  it('reads a long page to its end with one request to the origin, and the pages join to the one-call text', async () => {
    const e = await emulator();
    const s = await server();
    const url = `${e.appUrl}/doc?kb=120`;
    assert.ok(!(await s.call('access_fetch', { url: `${e.appUrl}/` })).isError);
    rememberStoredSecrets(s.home);
    e.clearLog();
    const { pages, total } = await readToEnd(s, url);
    assert.ok(pages >= 3, `expected several pages, got ${pages}`);
    assert.equal(docRequests(e).length, 1, 'pages 2..N come from the cache');

    const whole = resultData(await s.call('access_fetch', { url, max_length: 1_000_000 }));
    assert.equal(whole.total_length, total, 'the cached pages are pages of the same text');
    assert.equal(docRequests(e).length, 2);
  });

  it('a call from the start fetches afresh; another format, a non-GET or save_to never comes from the cache', async () => {
    const e = await emulator();
    const s = await server();
    const url = `${e.appUrl}/doc?kb=120`;
    assert.ok(!(await s.call('access_fetch', { url })).isError);
    e.clearLog();
    assert.ok(!(await s.call('access_fetch', { url })).isError);
    assert.equal(docRequests(e).length, 1, 'start_index 0 refetches');
    assert.ok(!(await s.call('access_fetch', { url, format: 'text', start_index: 20_000 })).isError);
    assert.equal(docRequests(e).length, 2, 'another format is another entry');
    assert.ok(!(await s.call('access_fetch', { url, method: 'POST', body: 'x', start_index: 20_000 })).isError);
    assert.equal(docRequests(e).length, 3, 'a POST is never served from the cache');
    rememberStoredSecrets(s.home);
  });

  it('a GET with a body (a search API) is never continued from the page of another body', async () => {
    const e = await emulator();
    const s = await server();
    const url = `${e.appUrl}/echo`;
    const search = (query: string, start_index: number) => s.call('access_fetch', { url, body: { query }, max_length: 50, start_index });
    const first = await search('alpha', 0);
    assert.ok(!first.isError, textOf(first));
    rememberStoredSecrets(s.home);
    const other = await search('beta', 50);
    assert.ok(!other.isError, textOf(other));
    assert.equal(e.requests({ endpoint: 'resource' }).filter((r) => r.path === '/echo').length, 2, 'the other body fetched its own answer');
    const whole = resultData(await s.call('access_fetch', { url, body: { query: 'beta' }, max_length: 100_000 }));
    assert.equal(resultData(other).total_length, whole.total_length, 'page 2 of the beta search is a page of the beta answer');
  });

  it('access_logout drops the origin\'s pages: the next page after a new login is fetched again', async () => {
    const e = await emulator();
    const s = await server();
    const url = `${e.appUrl}/doc?kb=120`;
    assert.ok(!(await s.call('access_fetch', { url })).isError);
    rememberStoredSecrets(s.home);
    assert.ok(!(await s.call('access_logout', { url })).isError);
    e.clearLog();
    const next = await s.call('access_fetch', { url, start_index: 20_000 });
    assert.ok(!next.isError, textOf(next));
    rememberStoredSecrets(s.home);
    assert.ok(e.requests({ endpoint: 'token' }).length >= 1, 'a new login happened');
    assert.ok(docRequests(e).length >= 1, 'the page was fetched again, not served from before the logout');
  });

  it('a page fetched with the session (the configured service token refused) is not kept as the service token\'s', async () => {
    const e = await suite.emulator({ approval: 'auto', serviceTokens: [{ clientId: 'perf-client.access', clientSecret: 'perf-right-secret-8d1c' }] });
    const s = await suite.server({ env: { CF_ACCESS_CLIENT_ID: 'perf-client.access', CF_ACCESS_CLIENT_SECRET: 'perf-wrong-secret-3f7a', CF_ACCESS_SERVICE_TOKEN_HOSTS: new URL(e.appUrl).host } });
    suite.secrets.add('perf-wrong-secret-3f7a');
    const url = `${e.appUrl}/doc?kb=120`;
    assert.equal(resultData(await s.call('access_login', { url, method: 'oauth' })).method, 'oauth');
    rememberStoredSecrets(s.home);
    const first = await s.call('access_fetch', { url });
    assert.equal(resultData(first).auth, 'oauth', textOf(first).slice(0, 300));
    e.clearLog();
    const next = await s.call('access_fetch', { url, start_index: 20_000 });
    assert.equal(resultData(next).auth, 'oauth', textOf(next).slice(0, 300));
    assert.equal(docRequests(e).length, 1, 'fetched again: the kept page belonged to no credential the lookup names');
  });

  it('another credential for the same origin does not get the cached page', async () => {
    const e = await emulator();
    const s = await server();
    const url = `${e.appUrl}/doc?kb=120`;
    assert.ok(!(await s.call('access_fetch', { url })).isError);
    rememberStoredSecrets(s.home);
    const relogin = await s.call('access_login', { url, force: true });
    assert.equal(resultData(relogin).status, 'authenticated', textOf(relogin));
    rememberStoredSecrets(s.home);
    e.clearLog();
    assert.ok(!(await s.call('access_fetch', { url, start_index: 20_000 })).isError);
    assert.equal(docRequests(e).length, 1, 'the new session fetched the page itself');
  });
  it('a later part fetched again from a page that changed since its first part says so, instead of silently joining two versions', async () => {
    const site = suite.track(await Hostile.start());
    let version = 0;
    site.routes.set('/changing', (_req, res) => {
      version++;
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(Array.from({ length: 3_000 }, (_, i) => `version ${version} line ${i}`).join('\n'));
    });
    site.routes.set('/steady', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(Array.from({ length: 3_000 }, (_, i) => `steady line ${i}`).join('\n'));
    });
    const s = await server();
    const read = async (path: string, start_index: number) => {
      const result = await s.call('access_fetch', { url: `${site.origin}${path}`, start_index, max_length: 1_000 });
      assert.ok(!result.isError, textOf(result));
      return { text: textOf(result), warnings: resultData(result).warnings as string[] };
    };
    for (const path of ['/changing', '/steady']) {
      assert.deepEqual((await read(path, 0)).warnings, []);
      assert.deepEqual((await read(path, 1_000)).warnings, [], 'from the kept copy: the same version');
    }
    // The kept copies are dropped (as after their 5 minutes): the next parts are fetched again.
    assert.ok(!(await s.call('access_logout', { url: `${site.origin}/` })).isError);
    const changed = await read('/changing', 2_000);
    assert.match(changed.text, /version 2 line/, 'the part comes from the new fetch');
    assert.equal(changed.warnings.length, 1, changed.text.slice(0, 600));
    assert.match(changed.warnings[0]!, /changed since its earlier part was read/);
    assert.match(changed.warnings[0]!, /start_index: 0/, 'the warning names the call that reads one version');
    assert.match(changed.text, /^Warning: The page changed since its earlier part was read/m, 'the agent sees it in the text');
    const steady = await read('/steady', 2_000);
    assert.deepEqual(steady.warnings, [], 'a page fetched again unchanged needs no warning');
    assert.deepEqual((await read('/changing', 3_000)).warnings, [], 'the next part continues the new version, from the kept copy');
  });
  it('a page reached through a redirect is continued from the cache at its final URL too (the address its header line shows), and warns there when it changed', async () => {
    const site = suite.track(await Hostile.start());
    let version = 0;
    site.routes.set('/moved', (_req, res) => void res.writeHead(302, { location: '/changing' }).end());
    site.routes.set('/changing', (_req, res) => {
      version++;
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(Array.from({ length: 3_000 }, (_, i) => `version ${version} line ${i}`).join('\n'));
    });
    const s = await server();
    const first = await s.call('access_fetch', { url: `${site.origin}/moved`, max_length: 1_000 });
    assert.equal(resultData(first).final_url, `${site.origin}/changing`);
    const fetches = () => site.requests.filter((r) => r.path === '/changing').length;
    const atFinal = await s.call('access_fetch', { url: `${site.origin}/changing`, max_length: 1_000, start_index: 1_000 });
    assert.ok(!atFinal.isError, textOf(atFinal));
    assert.equal(fetches(), 1, 'page 2 at the final URL comes from the cache');
    assert.equal(resultData(atFinal).url, `${site.origin}/changing`, 'the result names the URL asked for');
    assert.match(textOf(atFinal), /version 1 line/);
    assert.ok(!(await s.call('access_logout', { url: `${site.origin}/` })).isError);
    const later = await s.call('access_fetch', { url: `${site.origin}/changing`, max_length: 1_000, start_index: 2_000 });
    assert.equal(fetches(), 2);
    assert.match((resultData(later).warnings as string[]).join(' '), /changed since its earlier part was read/);
  });

  it('a page whose fetch was under way while the user signed in again is not served to the new session from the cache', async () => {
    const site = suite.track(await Hostile.start());
    let held: (() => void) | undefined;
    site.routes.set('/held', (req, res) => {
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!bearer || !site.issued.has(bearer)) {
        res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${site.origin}/.well-known/cloudflare-access-protected-resource/"` });
        return void res.end();
      }
      const answer = () => {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`${`seen by ${bearer.slice(-6)}\n`.repeat(500)}`);
      };
      if (held === undefined) held = answer;
      else answer();
    });
    const s = await suite.server({ env: { CF_ACCESS_MCP_TEAMS: new URL(site.origin).host } });
    const url = `${site.origin}/held`;
    assert.equal(resultData(await s.call('access_login', { url })).status, 'authenticated');
    const first = s.call('access_fetch', { url, max_length: 100 });
    while (held === undefined) await new Promise((r) => setTimeout(r, 20));
    // While that request waits at the origin, the user signs in again (another identity could be chosen here).
    assert.equal(resultData(await s.call('access_login', { url, force: true })).status, 'authenticated');
    held();
    const page1 = await first;
    assert.ok(!page1.isError, textOf(page1));
    const requestsBefore = site.requests.filter((r) => r.path === '/held').length;
    const page2 = await s.call('access_fetch', { url, max_length: 100, start_index: 100 });
    assert.ok(!page2.isError, textOf(page2));
    assert.equal(site.requests.filter((r) => r.path === '/held').length, requestsBefore + 1, 'the new session fetches the page itself');
    for (const secret of site.secrets) suite.secrets.add(secret);
  });
});

describe('fewer requests', () => {
  it('50 concurrent cold fetches share one discovery: resource and server metadata fetched once each', async () => {
    const e = await emulator();
    const s = await server();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => s.call('access_fetch', { url: `${e.appUrl}/page-10k?i=${i}` })));
    rememberStoredSecrets(s.home);
    assert.equal(results.filter((r) => r.isError).length, 0);
    assert.equal(e.requests({ endpoint: 'resource_metadata' }).length, 1);
    assert.equal(e.requests({ endpoint: 'server_metadata' }).length, 1);
    assert.ok(e.log.length <= 110, `${e.log.length} requests at the emulator`);
  });

  it('concurrent cold fetches of different paths (each its own resource metadata URL) fetch the server metadata once, and a new process none', async () => {
    const e = await emulator();
    const home = tempHome();
    const s = await server(home);
    const paths = ['/', '/long', '/tables', '/page-10k', '/doc', '/api/data.json', '/files/notes.txt', '/status/200'];
    const results = await Promise.all(paths.map((path) => s.call('access_fetch', { url: `${e.appUrl}${path}` })));
    rememberStoredSecrets(home);
    assert.deepEqual(results.filter((r) => r.isError).map(textOf), []);
    assert.equal(e.requests({ endpoint: 'server_metadata' }).length, 1, 'one authorization server, one metadata request');
    assert.equal(e.requests({ endpoint: 'token' }).length, 1, 'one login');
    assert.ok(!(await s.call('access_logout', { url: `${e.appUrl}/` })).isError);
    await s.close();
    e.clearLog();
    const next = await server(home);
    const again = await next.call('access_fetch', { url: `${e.appUrl}/a-path-never-fetched` });
    rememberStoredSecrets(home);
    assert.ok(!again.isError, textOf(again));
    assert.equal(e.requests({ endpoint: 'server_metadata' }).length, 0, 'the server metadata stored with another path is used');
  });

  it('a new process re-logs in with the discovery the first one stored: no metadata requests', async () => {
    const e = await emulator();
    const home = tempHome();
    const url = `${e.appUrl}/`;
    const first = await server(home);
    assert.ok(!(await first.call('access_fetch', { url })).isError);
    rememberStoredSecrets(home);
    assert.ok(!(await first.call('access_logout', { url })).isError);
    await first.close();
    e.clearLog();
    const second = await server(home);
    const again = await second.call('access_fetch', { url });
    assert.ok(!again.isError, textOf(again));
    rememberStoredSecrets(home);
    assert.equal(e.requests({ endpoint: 'resource_metadata' }).length, 0);
    assert.equal(e.requests({ endpoint: 'server_metadata' }).length, 0);
    assert.equal(e.requests({ endpoint: 'token' }).length, 1);
  });
});
