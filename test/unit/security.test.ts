import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hostMatches, parseHostPattern } from '../../src/auth/host-match.js';
import { isTrustedLoginHost } from '../../src/core/url-policy.js';
import { jwtExpiresAt } from '../../src/auth/cloudflared.js';
import { OriginLocks } from '../../src/auth/login-lock.js';
import { pinSecret, REDACTED, redactDeep, redactSecrets, rememberSecret } from '../../src/core/redact.js';
import { SessionStore, STORE_FILE } from '../../src/auth/store.js';
import { MAX_TOKEN_LIFETIME_S } from '../../src/auth/token.js';
import { createDispatcher } from '../../src/http/client.js';
import { convertBody } from '../../src/http/convert.js';
import { htmlToReadable, htmlToReadableWithoutDom, PageTooComplexError } from '../../src/http/html.js';
import { domToText } from '../../src/http/html-text.js';
import { NestedTooDeepError, parseHtml } from '../../src/http/html-tree.js';
import { isLocalHost, refusedRedirect, sendFollowingRedirects } from '../../src/http/redirects.js';
import { cleanupHomes, ROOT, tempHome } from '../helpers/harness.js';
import { deeplyNestedPage, slowPage } from '../helpers/slow-pages.js';

/** Unit side of the adversarial review: redaction, redirect policy, private files, child stdio. */

after(cleanupHomes);

const mode = (path: string) => statSync(path).mode & 0o777;

describe('secret redaction', () => {
  it('replaces every remembered secret, and a prefixed token without its prefix too', () => {
    rememberSecret('oauth:unit-access-token-0123456789', 'code-unit-0123456789', undefined, 'short');
    const text = 'a oauth:unit-access-token-0123456789 b unit-access-token-0123456789 c code-unit-0123456789 d short';
    assert.equal(redactSecrets(text), `a oauth:${REDACTED} b ${REDACTED} c ${REDACTED} d short`);
  });

  it('scrubs extra secrets given with the call, longest first', () => {
    assert.equal(redactSecrets('x=abcdefgh-and-more y=abcdefgh', ['abcdefgh', 'abcdefgh-and-more']), `x=${REDACTED} y=${REDACTED}`);
  });

  it('forgets the least recently seen tokens first, but never a configured secret', () => {
    pinSecret('pinned-service-secret-0123456789');
    rememberSecret('live-token-seen-early-0123456789');
    for (let i = 0; i < 500; i++) {
      rememberSecret(`old-token-${i}-0123456789abcdef`);
      if (i % 100 === 0) rememberSecret('live-token-seen-early-0123456789'); // seen again (the store changed)
    }
    assert.equal(redactSecrets('pinned-service-secret-0123456789'), REDACTED);
    assert.equal(redactSecrets('live-token-seen-early-0123456789'), REDACTED);
    assert.equal(redactSecrets('x old-token-499-0123456789abcdef'), `x ${REDACTED}`);
    assert.equal(redactSecrets('old-token-0-0123456789abcdef'), 'old-token-0-0123456789abcdef', 'the oldest was forgotten');
  });

  it('scrubs strings anywhere inside structured content', () => {
    rememberSecret('structured-secret-value');
    const out = redactDeep({ a: 'structured-secret-value', b: [{ c: 'pre structured-secret-value post' }], n: 3, t: true, u: undefined });
    assert.deepEqual(out, { a: REDACTED, b: [{ c: `pre ${REDACTED} post` }], n: 3, t: true, u: undefined });
  });

  it('keeps a key named __proto__ (from parsed JSON) as a plain property, scrubbed, without touching the prototype', () => {
    rememberSecret('structured-secret-value');
    const out = redactDeep(JSON.parse('{"__proto__": {"polluted": "structured-secret-value"}, "x": 1}') as Record<string, unknown>);
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.equal((out as { polluted?: unknown }).polluted, undefined);
    assert.equal(JSON.stringify(out), `{"__proto__":{"polluted":"${REDACTED}"},"x":1}`);
  });
});

describe('redirect policy', () => {
  const from = new URL('https://app.example.com/start');
  const refused = (to: string, origin = from) => refusedRedirect(origin, new URL(to));

  it('refuses a downgrade to http for a remote host, even on the same host', () => {
    assert.match(refused('http://app.example.com/start')?.message ?? '', /not https/);
  });

  for (const local of ['http://127.0.0.1:8400/callback', 'http://localhost/', 'https://localhost./', 'https://0.0.0.0:8443/', 'https://[::1]/', 'https://[::ffff:127.0.0.1]/', 'http://2130706433/', 'https://LOCALHOST/']) {
    it(`refuses a remote site's redirect to this machine: ${local}`, () => {
      const error = refused(local);
      assert.ok(error, 'refused');
      assert.match(error.message, /(address on this machine|not https)/);
      assert.match(error.nextStep, /directly/);
    });
  }

  it('follows loopback to loopback (the emulator) and remote to remote', () => {
    assert.equal(refused('http://127.0.0.1:2/', new URL('http://127.0.0.1:1/')), undefined);
    assert.equal(refused('https://other.example.net/'), undefined);
    assert.equal(refused('https://app.example.com.evil.net/'), undefined);
  });

  it('does not quote an enormous Location in full', () => {
    const error = refused(`http://evil.example/${'a'.repeat(100_000)}`)!;
    assert.ok(error.message.length + error.nextStep.length < 1_000);
  });

  it('treats every spelling of this machine as local, and only those', () => {
    for (const host of ['127.0.0.1', 'localhost', 'localhost.', '[::1]', '0.0.0.0', '[::]', '[::ffff:7f00:1]', 'a.localhost']) assert.ok(isLocalHost(host), host);
    for (const host of ['example.com', '10.0.0.1', '128.0.0.1', 'localhost.example.com', '[::ffff:a00:1]']) assert.ok(!isLocalHost(host), host);
  });
});

describe('service-token hosts against URL tricks', () => {
  const pattern = parseHostPattern('app.example.com');
  const wildcard = parseHostPattern('*.example.com');
  const matches = (url: string) => hostMatches(pattern, new URL(url)) || hostMatches(wildcard, new URL(url));

  it('match the listed host however it is spelled', () => {
    for (const url of ['https://APP.Example.COM/', 'https://app.example.com./', 'https://app%2Eexample.com/']) assert.ok(hostMatches(pattern, new URL(url)), url);
  });

  it('never match a look-alike or a host hidden behind @', () => {
    for (const url of [
      'https://app.example.com@evil.net/',
      'https://evil.net/app.example.com',
      'https://app.example.com.evil.net/',
      'https://app.example.com%2eevil.net/',
      'https://\u0430pp.example.com.evil.net/', // Cyrillic a, then a suffix trick
      'https://example.com.evil.net/',
      'https://evilexample.com/',
    ]) {
      assert.ok(!matches(url), url);
    }
    // A Cyrillic look-alike of a covered subdomain is still a subdomain of example.com: only the exact pattern decides.
    assert.ok(!hostMatches(pattern, new URL('https://\u0430pp.example.com/')));
  });
});

describe('credentials across real redirects', () => {
  let first: Server;
  let second: Server;
  let firstOrigin = '';
  let secondOrigin = '';
  const seen: Array<{ origin: string; headers: IncomingHttpHeaders }> = [];

  async function listen(handler: (path: string, reply: (status: number, headers?: Record<string, string>) => void) => void): Promise<{ server: Server; origin: string }> {
    const server = createServer((req, res) => {
      const origin = `http://${req.headers.host}`;
      seen.push({ origin, headers: req.headers });
      handler(req.url ?? '/', (status, headers = {}) => {
        res.writeHead(status, headers);
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  }

  before(async () => {
    ({ server: second, origin: secondOrigin } = await listen((_path, reply) => reply(200)));
    ({ server: first, origin: firstOrigin } = await listen((path, reply) => {
      if (path === '/same') return reply(302, { location: '/end' });
      if (path === '/port') return reply(302, { location: `${secondOrigin}/end` });
      // "http://127.0.0.1:<first>@127.0.0.1:<second>/" names the second server: the first part is a user name.
      if (path === '/at') return reply(302, { location: `http://${firstOrigin.slice(7)}@${secondOrigin.slice(7)}/end` });
      if (path === '/307-away') return reply(307, { location: `${secondOrigin}/end` });
      if (path === '/307-here') return reply(307, { location: '/end' });
      if (path === '/303-away') return reply(303, { location: `${secondOrigin}/end` });
      reply(200);
    }));
  });

  after(() => {
    first.close();
    second.close();
  });

  const userHeaders = { authorization: 'Bearer user-set', cookie: 'CF_Authorization=user-set', 'cf-access-jwt-assertion': 'user-set', 'x-other': 'kept' };

  async function follow(path: string, method = 'GET'): Promise<{ lookedUp: string[]; hops: string[]; status: number; unfollowed?: string }> {
    seen.length = 0;
    const dispatcher = createDispatcher();
    const lookedUp: string[] = [];
    try {
      const followed = await sendFollowingRedirects(
        dispatcher,
        { url: new URL(`${firstOrigin}${path}`), method, headers: { ...userHeaders }, body: method === 'GET' ? undefined : '{"delete":"everything"}' },
        async (url): Promise<Record<string, string>> => {
          lookedUp.push(url.origin);
          return url.origin === firstOrigin ? { 'cf-access-token': 'for-the-first-origin-only' } : {};
        },
      );
      followed.response.body.resume();
      return { lookedUp, hops: followed.hops.map((u) => u.origin), status: followed.response.status, unfollowed: followed.unfollowed };
    } finally {
      await dispatcher.close();
    }
  }

  it('keeps credentials on a same-origin redirect', async () => {
    const { lookedUp } = await follow('/same');
    assert.deepEqual(lookedUp, [firstOrigin, firstOrigin]);
    assert.equal(seen[1]!.headers['cf-access-token'], 'for-the-first-origin-only');
    assert.equal(seen[1]!.headers.authorization, 'Bearer user-set');
  });

  for (const path of ['/port', '/at']) {
    it(`drops every credential when the redirect changes origin (${path === '/port' ? 'another port' : 'a user name before @'})`, async () => {
      const { lookedUp, hops } = await follow(path);
      assert.deepEqual(hops, [firstOrigin, secondOrigin]);
      assert.deepEqual(lookedUp, [firstOrigin, secondOrigin], 'credentials are looked up for each hop’s own origin');
      const last = seen[1]!;
      assert.equal(last.origin, secondOrigin);
      for (const name of ['authorization', 'cookie', 'cf-access-jwt-assertion', 'cf-access-token']) assert.equal(last.headers[name], undefined, name);
      assert.equal(last.headers['x-other'], 'kept');
    });
  }

  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    it(`does not re-send a ${method} to another origin on a 307 (with that origin's credentials), and says why`, async () => {
      const { hops, status, unfollowed, lookedUp } = await follow('/307-away', method);
      assert.equal(status, 307, 'the redirect itself is the answer');
      assert.deepEqual(hops, [firstOrigin]);
      assert.deepEqual(lookedUp, [firstOrigin], 'no credentials were even looked up for the other origin');
      assert.ok(seen.every((r) => r.origin === firstOrigin), 'the other origin got nothing');
      assert.match(unfollowed ?? '', new RegExp(`${method} .* not re-sent to another origin`));
    });
  }

  it('still follows a 307 within the origin, and a 303 (which becomes a GET) to another origin', async () => {
    const here = await follow('/307-here', 'POST');
    assert.equal(here.status, 200);
    assert.deepEqual(here.hops, [firstOrigin, firstOrigin]);
    assert.equal(here.unfollowed, undefined);
    const away = await follow('/303-away', 'POST');
    assert.equal(away.status, 200);
    assert.deepEqual(away.hops, [firstOrigin, secondOrigin]);
  });
});

describe('files under the store are private', () => {
  it('a corrupt store file moved aside is 0600 even when it was world-readable', () => {
    const dir = tempHome();
    writeFileSync(join(dir, STORE_FILE), '{"sessions": oauth:secret-in-a-broken-file', { mode: 0o644 });
    chmodSync(join(dir, STORE_FILE), 0o644);
    const store = new SessionStore(dir);
    store.read();
    const aside = readdirSync(dir).filter((f) => f.startsWith(`${STORE_FILE}.corrupt-`));
    assert.equal(aside.length, 1);
    assert.equal(mode(join(dir, aside[0]!)), 0o600);
  });

  it('an existing world-readable store file is made 0600 when the store opens', () => {
    const dir = tempHome();
    writeFileSync(join(dir, STORE_FILE), JSON.stringify({ version: 1, sessions: {}, registrations: {}, logins: {} }), { mode: 0o644 });
    chmodSync(join(dir, STORE_FILE), 0o644);
    new SessionStore(dir);
    assert.equal(mode(join(dir, STORE_FILE)), 0o600);
  });

  it('the store lock and the per-origin lock directories are 0700', async () => {
    const dir = tempHome();
    const store = new SessionStore(dir);
    let storeLockMode = -1;
    await store.update(() => {
      storeLockMode = mode(join(dir, `${STORE_FILE}.lock`));
    });
    assert.equal(storeLockMode, 0o700);
    const locks = new OriginLocks(store);
    const held = await locks.tryAcquire('https://app.example.com', 'login');
    assert.notEqual(held, 'busy');
    const lockDir = join(dir, 'locks');
    assert.equal(mode(lockDir), 0o700);
    const entries = readdirSync(lockDir);
    assert.equal(entries.length, 1);
    assert.equal(mode(join(lockDir, entries[0]!)), 0o700);
    if (held !== 'busy') await held.release();
  });
});

describe('child processes never write on our stdout (the MCP stream)', () => {
  function runOpenBrowser(command: string | undefined, platform: string, pathPrefix: string): string {
    const code = `
      import { openBrowser } from ${JSON.stringify(join(ROOT, 'src', 'auth', 'browser.ts'))};
      const result = await openBrowser('https://example.com/login?state=x', ${JSON.stringify(command)}, { DISPLAY: ':0' }, ${JSON.stringify(platform)});
      process.stderr.write(JSON.stringify(result));
    `;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: ROOT,
      env: { ...process.env, PATH: `${pathPrefix}:${process.env.PATH}` },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(run.status, 0, run.stderr);
    return run.stdout;
  }

  function fakeOpener(name: string): { dir: string; mark: string } {
    const dir = tempHome('cfam-opener-');
    const mark = join(dir, 'ran');
    writeFileSync(join(dir, name), `#!/bin/sh\necho "LEAKED-TO-STDOUT $*"\necho "$*" > "${mark}"\n`, { mode: 0o755 });
    return { dir, mark };
  }

  it('the configured browser command (CF_ACCESS_MCP_BROWSER)', () => {
    const { dir, mark } = fakeOpener('my-browser');
    const stdout = runOpenBrowser('my-browser --new-tab', 'linux', dir);
    assert.equal(stdout, '');
    assert.match(readFileSync(mark, 'utf8'), /--new-tab https:\/\/example\.com\/login/);
  });

  it('cloudflared: its stdout (which carries the token) is read by us, never passed through', () => {
    const dir = tempHome('cfam-cloudflared-');
    const jwt = `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify({ aud: ['aud-1'], exp: Math.floor(Date.now() / 1000) + 600 })).toString('base64url')}.c2lnbmF0dXJl`;
    const fake = join(dir, 'cloudflared');
    writeFileSync(fake, `#!/bin/sh\necho "${jwt}"\necho "progress on stderr" >&2\n`, { mode: 0o755 });
    const code = `
      import { CloudflaredLogin } from ${JSON.stringify(join(ROOT, 'src', 'auth', 'cloudflared.ts'))};
      import { SessionStore } from ${JSON.stringify(join(ROOT, 'src', 'auth', 'store.ts'))};
      const login = new CloudflaredLogin(new SessionStore(${JSON.stringify(dir)}), { command: ${JSON.stringify(fake)}, loginTimeoutMs: 20000 }, () => {});
      const token = await login.cachedToken(new URL('https://app.example.com/'), { aud: 'aud-1', team: 'team.cloudflareaccess.com', appHostname: 'app.example.com', hostname: 'app.example.com' });
      process.stderr.write(token === ${JSON.stringify(jwt)} ? 'GOT-TOKEN' : 'NO-TOKEN');
    `;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /GOT-TOKEN/);
    assert.equal(run.stdout, '', 'nothing reached our stdout');
  });

  it("macOS's open (the open package would let it inherit stdout)", () => {
    const { dir, mark } = fakeOpener('open');
    const stdout = runOpenBrowser(undefined, 'darwin', dir);
    assert.equal(stdout, '');
    assert.ok(existsSync(mark), 'the opener ran');
  });
});

describe('hostile lifetimes and login hosts', () => {
  const jwt = (claims: object) => `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2ln`;

  it("a cloudflared JWT's far-future exp is clamped to a finite, valid date", () => {
    for (const exp of [1e306, 1e20]) {
      const at = jwtExpiresAt(jwt({ exp }))!;
      assert.ok(Number.isFinite(at) && at <= Date.now() + MAX_TOKEN_LIFETIME_S * 1000 + 1000, String(at));
      assert.doesNotThrow(() => new Date(at).toISOString());
    }
    const soon = Math.floor(Date.now() / 1000) + 60;
    assert.equal(jwtExpiresAt(jwt({ exp: soon })), soon * 1000);
  });

  it('opens the browser by itself only for a Cloudflare Access team domain, or loopback for a loopback app', () => {
    const app = new URL('https://app.example.com/');
    assert.ok(isTrustedLoginHost(new URL('https://team.cloudflareaccess.com'), app));
    assert.ok(isTrustedLoginHost(new URL('https://Team.CloudflareAccess.com./'), app));
    assert.ok(isTrustedLoginHost(new URL('http://127.0.0.1:9000'), new URL('http://127.0.0.1:9001/')));
    for (const as of ['https://app.example.com', 'https://cloudflareaccess.com.evil.net', 'https://evilcloudflareaccess.com', 'http://127.0.0.1:9000']) {
      assert.ok(!isTrustedLoginHost(new URL(as), app), as);
    }
  });
});


describe('hostile pages cannot freeze the server (the converter runs on the event loop)', () => {
  const nested = (depth: number, tag = 'div') => `<html><body>${`<${tag}>`.repeat(depth)}x${`</${tag}>`.repeat(depth)}</body></html>`;

  it('counts as nesting only elements that nest: implied ends, void and self-closed elements, comments and scripts do not', () => {
    const sloppy = `<ul>${'<li>item'.repeat(5_000)}</ul><p>${'<br><img src=x><input/><hr/>'.repeat(5_000)}<table>${'<tr><td>a<td>b'.repeat(5_000)}</table><!--${'<div>'.repeat(5_000)}--><script>${"'<div>'".repeat(5_000)}</script>`;
    assert.ok(parseHtml(sloppy, 1_000).maxDepth < 10);
  });

  it('measures the nesting while parsing, and stops at once past the limit (no recursion, no DOM built to the end)', () => {
    // <html> 1, <body> 2, div 3, p 4, p 4, ul 3, li 4.
    const page = parseHtml('<html><body><div><p>a</p><p>b</p></div><ul><li>c</li></ul></body></html>', 1_000);
    assert.deepEqual({ depthSum: page.depthSum, depthSquareSum: page.depthSquareSum, maxDepth: page.maxDepth }, { depthSum: 21, depthSquareSum: 71, maxDepth: 4 });
    assert.equal(parseHtml(nested(998), 1_000).maxDepth, 1_000);
    assert.throws(() => parseHtml(nested(20_000), 1_000), NestedTooDeepError);
  });

  it('a small page nested 700 deep skips Readability (seconds on it) and is converted at once; a real page without a marked main still gets Readability', async () => {
    const url = new URL('https://docs.example/');
    const deep = await htmlToReadableWithoutDom(deeplyNestedPage().toString(), 'markdown', url);
    assert.ok(deep, 'the nested page was sent to Readability');
    assert.match(deep.text, /^Words at the bottom of a deep page, with \[a link\]\(https:\/\/docs\.example\/x\)/);
    // Node's API pages mark no main element: Readability picks the article.
    const nodeHttp = readFileSync(join(ROOT, 'test', 'corpus', 'node-http.html'), 'utf8');
    assert.equal(await htmlToReadableWithoutDom(nodeHttp, 'markdown', url), undefined);
    // The pool's slow page is shallow: Readability's slowness there is another matter (its time budget).
    assert.equal(await htmlToReadableWithoutDom(slowPage().toString(), 'markdown', url), undefined);
  });

  it('converts a page nested just under the limit, in every element the walk treats apart', async () => {
    for (const tag of ['div', 'span', 'em', 'a href="/x"', 'blockquote', 'li', 'ul', 'dd', 'td', 'code']) {
      const name = tag.split(' ')[0]!;
      const html = `<html><body><main>${`<${tag}>`.repeat(990)}deep words${`</${name}>`.repeat(990)}</main></body></html>`;
      const { text } = await htmlToReadable(html, 'markdown', new URL('https://docs.example/'));
      assert.match(text, /deep words/, tag);
    }
  });

  it('a page nested 100,000 deep is refused as soon as the parser passes 1,000 levels, and returned as served', async () => {
    const html = nested(100_000);
    await assert.rejects(htmlToReadable(html, 'markdown'), PageTooComplexError);
    const converted = await convertBody(Buffer.from(html), 'text/html', 'markdown', { bodyComplete: true, maxImageBytes: 1024 });
    assert.equal(converted.text, html);
  });

  it('a large table still becomes a GFM table', async () => {
    const rows = 100;
    const cols = 50;
    const html = `<html><body><article><h1>Data</h1><p>${'Numbers below. '.repeat(20)}</p><table><thead><tr>${'<th>h</th>'.repeat(cols)}</tr></thead>${`<tr>${'<td>1</td>'.repeat(cols)}</tr>`.repeat(rows)}</table></article></body></html>`;
    const { text } = await htmlToReadable(html, 'markdown');
    const tableLines = text.split('\n').filter((line) => line.startsWith('|'));
    assert.equal(tableLines.length, rows + 2, 'header, divider and every row');
    assert.equal(tableLines[1]!.split('|').length, cols + 2);
  });

  it('plain text collapses runs of spaces across inline elements (no quadratic backtracking on long runs)', async () => {
    const spaces = (n: number) => '<em> </em>'.repeat(n);
    const { body } = parseHtml(`<html><body><p>a${spaces(50_000)}b</p><table><tr><td>c${spaces(50_000)}</td><td>${spaces(10)}d</td></tr></table></body></html>`, 1_000);
    assert.equal(domToText(body, () => false), 'a b\n\nc\td');
  });
});
