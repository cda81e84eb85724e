import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import { WebSocket } from 'undici';
import type { Emulator } from '../../src/emulator/index.js';
import { browserOpens, bridgeEnv, minorFaultsOf, rssOf, run, startProxyCli, type ProxyChild } from '../helpers/bridges.js';
import { cleanupHomes, eventually, startEmulator, tempHome } from '../helpers/harness.js';
import { assertNoSecretsLeaked } from '../helpers/leaks.js';

/**
 * Issue 14, the local proxy: real curl and real git (smart HTTP through
 * `git http-backend` on the emulator) reach protected paths through
 * `cf-access-mcp proxy` with no token in their arguments, environment,
 * requests or responses.
 */

const CHROMIUM = '/usr/bin/chromium';
const chromiumMissing = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium) to run the real-browser check`;

/** The cookies the origin got, as the emulator's /echo tells them (clients order them differently). */
const cookiePairs = (echo: string): string[] => ((JSON.parse(echo) as { headers: { cookie?: string } }).headers.cookie ?? '').split('; ').sort();

/** 256 MiB each way proves the bodies are not buffered (they would grow RSS past the bound); bench/bridges.ts streams 1 GiB. */
const STREAM_BYTES = 256 * 1024 * 1024;

function containsSecret(text: string, secrets: string[]): boolean {
  return secrets.some((s) => s.length >= 8 && text.includes(s));
}

/** A request to the proxy from Node, body generated on the fly (nothing held in memory). */
function streamUpload(base: string, bytes: number): Promise<{ status: number; body: string }> {
  const chunk = Buffer.alloc(1024 * 1024, 0x61);
  let sent = 0;
  const source = new Readable({
    read() {
      if (sent >= bytes) return void this.push(null);
      const size = Math.min(chunk.length, bytes - sent);
      sent += size;
      this.push(size === chunk.length ? chunk : chunk.subarray(0, size));
    },
  });
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}/upload`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': bytes } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    pipeline(source, req).catch(reject);
  });
}

/** Any other page on 127.0.0.1 (another port): the browser's cookies for the proxy are its cookies too. */
async function servePage(html: string): Promise<{ base: string; server: Server }> {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function streamDownload(base: string, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    httpRequest(`${base}/big?size=${bytes}`, (res) => {
      let received = 0;
      res.on('data', (c: Buffer) => (received += c.length));
      res.on('end', () => resolve(received));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

describe('cf-access-mcp proxy (issue 14)', () => {
  let emulator: Emulator;
  let proxy: ProxyChild;
  let env: Record<string, string>;
  let gitRoot: string;

  before(async () => {
    gitRoot = tempHome('cfam-git-');
    emulator = await startEmulator({ gitRoot });
    env = bridgeEnv();
    proxy = await startProxyCli(`${emulator.appUrl}/`, env);
  });

  after(async () => {
    await proxy?.stop();
    assertNoSecretsLeaked(emulator.secrets());
    await emulator.close();
    cleanupHomes();
  });

  it('prints its base URL on 127.0.0.1 after one browser sign-in', () => {
    assert.match(proxy.base, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(browserOpens(env).length, 1);
  });

  it('curl reaches a protected path; the credential reaches the origin, never curl', async () => {
    const args = ['-s', '-i', `${proxy.base}/echo`];
    const result = await run('curl', args, { env: { PATH: process.env.PATH } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^HTTP\/1\.1 200/);
    const echoed = JSON.parse(result.stdout.slice(result.stdout.indexOf('\r\n\r\n') + 4)) as { headers: Record<string, string> };
    // The origin got our bearer token; the echo of it came back masked, same length.
    assert.match(echoed.headers.authorization!, /^Bearer \[redacted\]\*+$/);
    const origin = emulator.requests({ endpoint: 'resource' }).filter((e) => e.path === '/echo').at(-1)!;
    assert.match(origin.headers.authorization!, /^Bearer oauth:/);
    assert.equal(origin.headers.host, new URL(emulator.appUrl).host);
    const secrets = emulator.secrets();
    assert.ok(!containsSecret(result.stdout + result.stderr + args.join(' ') + JSON.stringify(env), secrets));
  });

  it('keeps redirects and cookies on the proxy (Location, Domain, Secure rewritten)', async () => {
    const head = await run('curl', ['-s', '-i', `${proxy.base}/cookie`]);
    assert.match(head.stdout, new RegExp(`location: ${proxy.base}/echo\\?from=cookie`, 'i'));
    const cookie = /set-cookie: (.*)/i.exec(head.stdout)![1]!;
    assert.match(cookie, /^pref=dark/);
    assert.doesNotMatch(cookie, /domain=|secure|samesite=none/i);
    const jar = join(tempHome('cfam-jar-'), 'jar.txt');
    const followed = await run('curl', ['-s', '-L', '-c', jar, '-b', jar, `${proxy.base}/cookie`]);
    const echoed = JSON.parse(followed.stdout) as { path: string; headers: Record<string, string> };
    assert.equal(echoed.path, '/echo?from=cookie');
    assert.equal(echoed.headers.cookie, 'pref=dark');
    const relative = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{redirect_url}', `${proxy.base}/redirect/same`]);
    assert.equal(relative.stdout, `${proxy.base}/`);
  });

  it('__Host- and __Secure- cookies reach curl under a name it keeps over http (tagged for this proxy), and the origin gets its own names back', async () => {
    const head = await run('curl', ['-s', '-i', `${proxy.base}/cookie/prefixed`]);
    const cookies = [...head.stdout.matchAll(/^set-cookie: (.*?)\r?$/gim)].map((m) => m[1]!);
    assert.equal(cookies.length, 2);
    assert.match(cookies[0]!, /^cfam-[0-9a-f]{16}-__Host-session=s3ss10n; Path=\/; HttpOnly; SameSite=Lax$/);
    assert.match(cookies[1]!, /^cfam-[0-9a-f]{16}-__Secure-theme=dark; Path=\/$/);
    const jar = join(tempHome('cfam-jar-'), 'jar.txt');
    const followed = await run('curl', ['-s', '-L', '-c', jar, '-b', jar, `${proxy.base}/cookie/prefixed`]);
    assert.deepEqual(cookiePairs(followed.stdout), ['__Host-session=s3ss10n', '__Secure-theme=dark']);
    const again = await run('curl', ['-s', '-b', jar, `${proxy.base}/echo`]);
    assert.deepEqual(cookiePairs(again.stdout), ['__Host-session=s3ss10n', '__Secure-theme=dark']);
  });

  it('__Host- and __Secure- cookies work in a real browser (Chromium) on the proxy', { skip: chromiumMissing }, async () => {
    const loopbackPage = await servePage('<p>another local page</p>');
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'] });
    try {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${proxy.base}/cookie/prefixed`, { timeout: 30_000 });
      assert.equal(new URL(page.url()).origin, proxy.base, 'the redirect stayed on the proxy');
      const echoed = await page.innerText('body');
      assert.equal((JSON.parse(echoed) as { path: string }).path, '/echo?from=prefixed');
      assert.deepEqual(cookiePairs(echoed), ['__Host-session=s3ss10n', '__Secure-theme=dark']);
      // The session cookie stays HttpOnly; the other is visible to the page under the name the proxy gave it.
      assert.match(await page.evaluate(() => document.cookie), /^cfam-[0-9a-f]{16}-__Secure-theme=dark$/);
      // A page on another loopback port shares the jar (cookies ignore ports): what it plants never reaches the origin as prefixed.
      await page.goto(`${loopbackPage.base}/`, { timeout: 30_000 });
      await page.evaluate(() => {
        const tagged = document.cookie.split('; ').find((c) => c.includes('__Secure-theme'))!.split('=')[0]!;
        document.cookie = 'cfam-__Host-planted=evil; Path=/';
        document.cookie = `${tagged.replace('__Secure-theme', '__Secure-planted')}=evil; Path=/`;
        document.cookie = '__Host-raw=evil; Secure; Path=/';
      });
      await page.goto(`${proxy.base}/echo`, { timeout: 30_000 });
      assert.deepEqual(cookiePairs(await page.innerText('body')), ['__Host-session=s3ss10n', '__Secure-theme=dark']);
    } finally {
      await browser.close();
      loopbackPage.server.close();
    }
  });

  it('forwards no prefixed cookie it did not give: untagged, tagged by another proxy or guessed, or under the real name', async () => {
    const jar = join(tempHome('cfam-jar-'), 'jar.txt');
    await run('curl', ['-s', '-L', '-c', jar, `${proxy.base}/cookie/prefixed`]);
    const own = readFileSync(jar, 'utf8').match(/cfam-[0-9a-f]{16}-__Host-session/)![0];
    const forged = own.replace(/[0-9a-f]{16}/, (tag) => (tag[0] === '0' ? '1' : '0') + tag.slice(1));
    const planted = ['cfam-__Host-session=planted', `${forged}=guessed`, `${own.replace('__Host-session', '__Host-other')}=moved`, '__Host-session=raw', '__Secure-theme=raw', 'cfam-x=1'];
    const echoed = await run('curl', ['-s', '-b', jar, '-b', planted.join('; '), `${proxy.base}/echo`]);
    assert.deepEqual(cookiePairs(echoed.stdout), ['__Host-session=s3ss10n', '__Secure-theme=dark']);
    const alone = await run('curl', ['-s', '-b', planted.join('; '), `${proxy.base}/echo`]);
    assert.equal((JSON.parse(alone.stdout) as { headers: { cookie?: string } }).headers.cookie, undefined, 'no Cookie header at all');
  });

  it("leaves out a cookie hiding a prefixed name from a lenient parser, and the client's own CF_Authorization; ordinary cookies reach the origin as sent", async () => {
    const jar = join(tempHome('cfam-jar-'), 'jar.txt');
    await run('curl', ['-s', '-L', '-c', jar, `${proxy.base}/cookie/prefixed`]);
    const hidden = ['a=b __Host-session=evil', 'c=d, __Host-session=evil', '%5F%5FHost-session=evil', '..Host-session=evil', 'CF_Authorization=planted'];
    const ordinary = 'note=hello world, again;list=1,2,3';
    const echoed = await run('curl', ['-s', '-b', jar, '-H', `Cookie: ${ordinary}; ${hidden.join('; ')}`, `${proxy.base}/echo`]);
    const cookie = (JSON.parse(echoed.stdout) as { headers: { cookie: string } }).headers.cookie;
    assert.deepEqual(cookie.split(/;\s*/).sort(), ['__Host-session=s3ss10n', '__Secure-theme=dark', 'list=1,2,3', 'note=hello world, again']);
    const untouched = await run('curl', ['-s', '-H', `Cookie: ${ordinary}`, `${proxy.base}/echo`]);
    assert.equal((JSON.parse(untouched.stdout) as { headers: { cookie?: string } }).headers.cookie, ordinary, 'byte for byte');
  });

  it('a loopback page cannot hide a prefixed cookie in a plain cookie\'s value, nor plant CF_Authorization, in a real browser (Chromium)', { skip: chromiumMissing }, async () => {
    const loopbackPage = await servePage('<p>another local page</p>');
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'] });
    try {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${loopbackPage.base}/`, { timeout: 30_000 });
      const planted = await page.evaluate(() => {
        document.cookie = 'a=b __Host-session=evil; Path=/';
        document.cookie = 'c=d, __Host-session=evil; Path=/';
        document.cookie = 'CF_Authorization=planted; Path=/';
        document.cookie = 'note=hello world; Path=/';
        return document.cookie;
      });
      assert.deepEqual(planted.split('; ').sort(), ['CF_Authorization=planted', 'a=b __Host-session=evil', 'c=d, __Host-session=evil', 'note=hello world'], 'Chromium keeps them all');
      await page.goto(`${proxy.base}/echo`, { timeout: 30_000 });
      assert.deepEqual(cookiePairs(await page.innerText('body')), ['note=hello world']);
    } finally {
      await browser.close();
      loopbackPage.server.close();
    }
  });

  it("two proxies for two applications share curl's cookie jar (cookies ignore ports), and neither origin gets the other's prefixed cookies", async () => {
    const other = await startProxyCli(`${emulator.app2Url}/`, bridgeEnv());
    try {
      const jar = join(tempHome('cfam-jar-'), 'jar.txt');
      await run('curl', ['-s', '-L', '-c', jar, '-b', jar, `${proxy.base}/cookie/prefixed`]);
      const crossed = await run('curl', ['-s', '-c', jar, '-b', jar, `${other.base}/echo`]);
      assert.equal((JSON.parse(crossed.stdout) as { headers: { cookie?: string } }).headers.cookie, undefined, "application 1's session never reaches application 2");
      const toApp2 = emulator.requests({ endpoint: 'resource' }).filter((e) => e.path === '/echo' && e.headers.host === new URL(emulator.app2Url).host).at(-1)!;
      assert.equal(toApp2.headers.cookie, undefined);

      await run('curl', ['-s', '-L', '-c', jar, '-b', jar, `${other.base}/cookie/prefixed`]);
      assert.equal(readFileSync(jar, 'utf8').match(/cfam-[0-9a-f]{16}-__Host-session/g)!.length, 2, 'one session cookie per proxy in the one jar');
      for (const base of [proxy.base, other.base]) {
        const echoed = await run('curl', ['-s', '-b', jar, `${base}/echo`]);
        assert.deepEqual(cookiePairs(echoed.stdout), ['__Host-session=s3ss10n', '__Secure-theme=dark'], `${base} gets only its own`);
      }
    } finally {
      await other.stop();
    }
  });

  it('refuses a foreign Host (DNS rebinding), an absolute-form target and CONNECT', async () => {
    const port = new URL(proxy.base).port;
    const foreign = await run('curl', ['-s', '-i', '-H', `Host: attacker.example:${port}`, `${proxy.base}/echo`]);
    assert.match(foreign.stdout, /^HTTP\/1\.1 421/);
    assert.match(foreign.stdout, /DNS rebinding/);
    const absolute = await run('curl', ['-s', '-i', '--request-target', `${emulator.plainUrl}/echo`, `${proxy.base}/echo`]);
    assert.match(absolute.stdout, /^HTTP\/1\.1 400/);
    assert.match(absolute.stdout, /not_an_open_proxy/);
    const tunnel = await run('curl', ['-s', '-i', '-p', '-x', proxy.base, 'http://example.invalid/']);
    assert.notEqual(tunnel.code, 0);
    assert.equal(emulator.requests({ origin: 'plain' }).length, 0);
  });

  it('refuses what a web page of another site sends it (WebSocket, form post, subresource); local pages and navigations pass', async () => {
    const seen = () => emulator.requests({ endpoint: 'resource' }).filter((e) => e.path.startsWith('/echo?site=')).length;
    const before = seen();
    const wsHeaders = ['-H', 'Connection: Upgrade', '-H', 'Upgrade: websocket', '-H', 'Sec-WebSocket-Version: 13', '-H', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='];
    const upgrades = () => emulator.log.filter((e) => e.endpoint === 'websocket').length;
    const upgradesBefore = upgrades();
    // A page on attacker.example opens ws://127.0.0.1:<port>/ws: the browser sends the proxy's own Host, and no same-origin policy guards WebSockets.
    const socket = await run('curl', ['-s', '-i', '--max-time', '10', ...wsHeaders, '-H', 'Origin: https://attacker.example', `${proxy.base}/ws`]);
    assert.match(socket.stdout, /^HTTP\/1\.1 403/);
    assert.match(socket.stdout, /cross_site_request/);
    assert.equal(upgrades(), upgradesBefore);
    const form = await run('curl', ['-s', '-i', '-H', 'Origin: https://attacker.example', '-d', 'x=1', `${proxy.base}/echo?site=form`]);
    assert.match(form.stdout, /^HTTP\/1\.1 403/);
    assert.match(form.stdout, /Use the proxy from local programs/);
    const sandboxed = await run('curl', ['-s', '-i', '-H', 'Origin: null', `${proxy.base}/echo?site=null`]);
    assert.match(sandboxed.stdout, /^HTTP\/1\.1 403/);
    const image = await run('curl', ['-s', '-i', '-H', 'Sec-Fetch-Site: cross-site', '-H', 'Sec-Fetch-Mode: no-cors', `${proxy.base}/echo?site=img`]);
    assert.match(image.stdout, /^HTTP\/1\.1 403/);
    const frame = await run('curl', ['-s', '-i', '-H', 'Sec-Fetch-Site: cross-site', '-H', 'Sec-Fetch-Mode: navigate', '-H', 'Sec-Fetch-Dest: iframe', `${proxy.base}/echo?site=frame`]);
    assert.match(frame.stdout, /^HTTP\/1\.1 403/);
    assert.equal(seen(), before, 'nothing of the other site reached the origin');
    // The proxy's own pages, a local dev server's pages, and a link the user follows from elsewhere go through.
    for (const origin of [proxy.base, 'http://localhost:5173']) {
      const local = await run('curl', ['-s', '-i', '-H', `Origin: ${origin}`, '-d', 'x=1', `${proxy.base}/echo?site=local`]);
      assert.match(local.stdout, /^HTTP\/1\.1 200/, origin);
    }
    const link = await run('curl', ['-s', '-i', '-H', 'Sec-Fetch-Site: cross-site', '-H', 'Sec-Fetch-Mode: navigate', '-H', 'Sec-Fetch-Dest: document', `${proxy.base}/echo?site=link`]);
    assert.match(link.stdout, /^HTTP\/1\.1 200/);
  });

  it("a browser page served through the proxy posts and opens WebSockets as if on the origin: Origin and Referer name the origin, as its CSRF check expects", async () => {
    const page = `${proxy.base}/form?step=2`;
    const post = await run('curl', ['-s', '-i', '-H', `Origin: ${proxy.base}`, '-H', `Referer: ${page}`, '-d', 'x=1', `${proxy.base}/echo?site=own-page`]);
    assert.match(post.stdout, /^HTTP\/1\.1 200/);
    const sent = emulator.requests({ endpoint: 'resource' }).filter((e) => e.path === '/echo?site=own-page').at(-1)!;
    assert.equal(sent.headers.origin, emulator.appUrl);
    assert.equal(sent.headers.referer, `${emulator.appUrl}/form?step=2`);
    assert.equal(sent.headers.host, new URL(emulator.appUrl).host, 'Origin and Host agree');
    // A local dev server's page is another origin: named as it is, for the application's CORS rules to judge.
    await run('curl', ['-s', '-H', 'Origin: http://localhost:5173', `${proxy.base}/echo?site=dev-server`]);
    assert.equal(emulator.requests({ endpoint: 'resource' }).filter((e) => e.path === '/echo?site=dev-server').at(-1)!.headers.origin, 'http://localhost:5173');
    const ws = new WebSocket(`${proxy.base.replace('http', 'ws')}/ws`, { headers: { origin: proxy.base.replace('127.0.0.1', 'localhost') } });
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve());
      ws.addEventListener('error', () => reject(new Error('websocket failed')));
    });
    ws.close();
    assert.equal(emulator.log.filter((e) => e.endpoint === 'websocket').at(-1)!.headers.origin, emulator.appUrl);
  });

  it("never drops the client's Authorization silently: refused with a next step", async () => {
    const result = await run('curl', ['-s', '-i', '-H', 'Authorization: Bearer my-own-api-key', `${proxy.base}/echo`]);
    assert.match(result.stdout, /^HTTP\/1\.1 409/);
    assert.match(result.stdout, /service token/);
  });

  it('passes a WebSocket upgrade through with the credential', async () => {
    const ws = new WebSocket(`${proxy.base.replace('http', 'ws')}/ws`);
    const echoed = await new Promise<string>((resolve, reject) => {
      ws.addEventListener('open', () => ws.send('hello through Access'));
      ws.addEventListener('message', (event) => resolve(String(event.data)));
      ws.addEventListener('error', () => reject(new Error('websocket failed')));
    });
    ws.close();
    assert.equal(echoed, 'hello through Access');
    assert.ok(emulator.log.some((e) => e.endpoint === 'websocket' && e.status === 101));
    // An upgrade the origin refuses for its own reasons (404) costs no refresh and no login.
    const tokenCalls = emulator.requests({ endpoint: 'token' }).length;
    const refused = new WebSocket(`${proxy.base.replace('http', 'ws')}/no-such-socket`);
    await new Promise<void>((resolve) => refused.addEventListener('error', () => resolve()));
    assert.equal(emulator.requests({ endpoint: 'token' }).length, tokenCalls);
    assert.equal(browserOpens(env).length, 1);
  });

  it('never lets the credential reach the client in a WebSocket message, whole or split across fragments', async () => {
    const ws = new WebSocket(`${proxy.base.replace('http', 'ws')}/ws`);
    const messages: string[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => {
        ws.send('headers');
        // Fragments of 37 bytes: the token is cut in the middle, more than once.
        ws.send('headers 37');
      });
      ws.addEventListener('message', (event) => {
        messages.push(String(event.data));
        if (messages.length === 2) resolve();
      });
      ws.addEventListener('error', () => reject(new Error('websocket failed')));
    });
    ws.close();
    const secrets = emulator.secrets();
    for (const message of messages) {
      const { headers } = JSON.parse(message) as { headers: Record<string, string> };
      // The origin got the credential (and its echo came back masked, same length); no compression was negotiated.
      assert.match(headers.authorization!, /^Bearer \[redacted\]\*+$/);
      assert.equal(headers['sec-websocket-extensions'], undefined);
      assert.ok(!containsSecret(message, secrets));
    }
    const origin = emulator.log.filter((e) => e.endpoint === 'websocket').at(-1)!;
    assert.match(origin.headers.authorization!, /^Bearer oauth:/);
  });

  it('git clones and pushes over smart HTTP through the proxy', async () => {
    const gitEnv = { PATH: process.env.PATH, HOME: tempHome('cfam-githome-'), GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' };
    const bare = join(gitRoot, 'repo.git');
    assert.equal((await run('git', ['init', '-q', '--bare', bare], { env: gitEnv })).code, 0);
    assert.equal((await run('git', ['-C', bare, 'config', 'http.receivepack', 'true'], { env: gitEnv })).code, 0);
    const work = tempHome('cfam-gitwork-');
    const clone = join(work, 'clone');
    const cloneArgs = ['clone', '-q', `${proxy.base}/git/repo.git`, clone];
    const cloned = await run('git', cloneArgs, { env: gitEnv });
    assert.equal(cloned.code, 0, cloned.stderr);
    writeFileSync(join(clone, 'README'), 'through the proxy\n');
    const author = ['-c', 'user.name=t', '-c', 'user.email=t@example.com'];
    assert.equal((await run('git', ['-C', clone, 'add', 'README'], { env: gitEnv })).code, 0);
    assert.equal((await run('git', ['-C', clone, ...author, 'commit', '-q', '-m', 'first'], { env: gitEnv })).code, 0);
    const pushed = await run('git', ['-C', clone, 'push', '-q', 'origin', 'HEAD'], { env: gitEnv });
    assert.equal(pushed.code, 0, pushed.stderr);
    const again = join(work, 'again');
    assert.equal((await run('git', ['clone', '-q', `${proxy.base}/git/repo.git`, again], { env: gitEnv })).code, 0);
    assert.equal(readFileSync(join(again, 'README'), 'utf8'), 'through the proxy\n');
    assert.ok(emulator.requests({ endpoint: 'resource' }).some((e) => e.path.startsWith('/git/repo.git/git-receive-pack')));
    assert.ok(!containsSecret(JSON.stringify([cloneArgs, gitEnv, readFileSync(join(clone, '.git', 'config'), 'utf8')]), emulator.secrets()));
  });

  it('renews an expired access token by refresh and repeats the request, with no second browser', async () => {
    emulator.expireAccessTokens();
    const result = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${proxy.base}/api/data.json`]);
    assert.equal(result.stdout, '200');
    assert.equal(browserOpens(env).length, 1);
    assert.ok(emulator.requests({ endpoint: 'token' }).length >= 2);
  });

  it('a page of requests refused at once asks Access once and renews once, not once per request', async () => {
    emulator.expireAccessTokens();
    const before = emulator.log.length;
    const tokensBefore = emulator.requests({ endpoint: 'token' }).length;
    const urls = Array.from({ length: 16 }, (_, i) => `${proxy.base}/api/data.json?asset=${i}`);
    const codes = await Promise.all(urls.map((url) => run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', url])));
    assert.deepEqual(codes.map((c) => c.stdout), urls.map(() => '200'));
    const newEntries = emulator.log.slice(before);
    // What the proxy sends without any credential to learn which application refused: the refused requests carry the old token.
    const unauthenticated = newEntries.filter((e) => e.endpoint === 'probe' && !e.headers.authorization && !e.headers['cf-access-token'] && !/CF_Authorization/i.test(e.headers.cookie ?? ''));
    assert.ok(unauthenticated.length <= 2, `${unauthenticated.length} unauthenticated requests to learn who refused`);
    assert.equal(emulator.requests({ endpoint: 'token' }).length - tokensBefore, 1, 'one refresh');
    assert.equal(browserOpens(env).length, 1, 'no browser');
  });

  it('streams 256 MiB up and down with the proxy RSS growing by less than 60 MB, reusing the memory it freed', async () => {
    const pid = proxy.child.pid!;
    await streamDownload(proxy.base, 1024 * 1024);
    const baseline = rssOf(pid);
    let peak = baseline;
    let faultsBefore = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 100);
    try {
      const up = await streamUpload(proxy.base, STREAM_BYTES);
      assert.equal(up.status, 200);
      assert.equal((JSON.parse(up.body) as { bytes: number }).bytes, STREAM_BYTES);
      faultsBefore = minorFaultsOf(pid);
      assert.equal(await streamDownload(proxy.base, STREAM_BYTES), STREAM_BYTES);
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, rssOf(pid));
    assert.ok(peak - baseline < 60 * 1024 * 1024, `RSS grew by ${Math.round((peak - baseline) / 1048576)} MB`);
    // After the upload the proxy's heap holds the buffers it reuses: a download that returned each batch V8 frees to the
    // kernel and faulted it in again took a page fault for every 4 KB relayed (about 37,000 here), doubling its CPU time.
    const faults = minorFaultsOf(pid) - faultsBefore;
    assert.ok(faults < 8192, `${faults} page faults while relaying 256 MiB`);
  });

  it('sends a GET once more when the origin closes the connection before answering; a POST gets a 502', async () => {
    const get = await run('curl', ['-s', '-w', '\n%{http_code}', `${proxy.base}/drop-once?key=proxy`]);
    assert.match(get.stdout, /Answered on the second try\.\n+200$/);
    const post = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-d', 'a=1', `${proxy.base}/drop-once?key=proxy`]);
    assert.equal(post.stdout, '502');
  });

  it('refuses a body the origin compressed although asked for none: it could hide the credential from the mask', async () => {
    const result = await run('curl', ['-s', '-w', '\n%{http_code}', `${proxy.base}/gzip-echo`]);
    const [body, status] = [result.stdout.slice(0, result.stdout.lastIndexOf('\n')), result.stdout.slice(result.stdout.lastIndexOf('\n') + 1)];
    assert.equal(status, '502');
    assert.match(body, /compressed body \(content-encoding: gzip\)/);
    assert.match(body, /Accept-Encoding: identity/);
    // The origin did get the credential (it echoed it, compressed): the proxy did not hand that on.
    const origin = emulator.requests({ endpoint: 'resource' }).filter((e) => e.path === '/gzip-echo').at(-1)!;
    assert.equal(origin.headers['accept-encoding'], 'identity');
    // The proxy still serves the next request.
    assert.equal((await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${proxy.base}/echo`])).stdout, '200');
  });

  // Last: it stops the proxy. The sign-in wrote the store, so its writer (and when-exit, which re-raises SIGTERM) is loaded.
  it('a SIGTERM stops it cleanly: exit code 0, port closed', async () => {
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => proxy.child.once('exit', (code, signal) => resolve([code, signal])));
    proxy.child.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null]);
    assert.notEqual((await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${proxy.base}/echo`])).stdout, '200');
  });
});

describe('cf-access-mcp proxy while the sign-in is not done (issue 14)', () => {
  let emulator: Emulator;
  let proxy: ProxyChild;
  let env: Record<string, string>;

  before(async () => {
    emulator = await startEmulator();
    env = bridgeEnv({ browser: 'ignore' });
    proxy = await startProxyCli(emulator.appUrl, env, ['--wait', '1']);
  });

  after(async () => {
    await proxy?.stop();
    assertNoSecretsLeaked(emulator.secrets());
    await emulator.close();
    cleanupHomes();
  });

  it('answers 503 with the sign-in URL (JSON for programs, a page for browsers), one browser for all', async () => {
    const json = await run('curl', ['-s', '-i', `${proxy.base}/api/data.json`]);
    assert.match(json.stdout, /^HTTP\/1\.1 503/);
    assert.match(json.stdout, /retry-after: 5/i);
    const body = JSON.parse(json.stdout.slice(json.stdout.indexOf('\r\n\r\n') + 4)) as { error: string; login_url: string; next_step: string };
    assert.equal(body.error, 'login_pending');
    assert.match(body.login_url, /^http:\/\/127\.0\.0\.1:\d+\//);
    const html = await run('curl', ['-s', '-H', 'Accept: text/html', `${proxy.base}/`]);
    assert.match(html.stdout, /<a href="http:\/\/127\.0\.0\.1:\d+\/[^"]*">Sign in to Cloudflare Access<\/a>/);
    // The page is read by a person, not an agent: it tells them what to do, not what to ask "the user".
    assert.match(html.stdout, /Sign in with the link above, then reload this page/);
    assert.doesNotMatch(html.stdout, /Ask the user|repeat the same call/);
    assert.equal(browserOpens(env).length, 1);
  });
});

describe('cf-access-mcp proxy with a service token (issue 14)', () => {
  const token = { clientId: 'proxy-test.access', clientSecret: 'proxy-test-secret-0123456789abcdef' };
  let emulator: Emulator;
  let proxy: ProxyChild;

  before(async () => {
    emulator = await startEmulator({ serviceTokens: [token] });
    const env = bridgeEnv({ env: { CF_ACCESS_CLIENT_ID: token.clientId, CF_ACCESS_CLIENT_SECRET: token.clientSecret, CF_ACCESS_SERVICE_TOKEN_HOSTS: new URL(emulator.appUrl).host } });
    proxy = await startProxyCli(emulator.appUrl, env);
  });

  after(async () => {
    await proxy?.stop();
    assertNoSecretsLeaked([...emulator.secrets(), token.clientSecret]);
    await emulator.close();
    cleanupHomes();
  });

  it("sends the token in its own headers and leaves the client's Authorization intact", async () => {
    const result = await run('curl', ['-s', '-H', 'Authorization: Bearer my-own-api-key', `${proxy.base}/echo`]);
    const echoed = JSON.parse(result.stdout) as { headers: Record<string, string> };
    assert.equal(echoed.headers.authorization, 'Bearer my-own-api-key');
    assert.equal(echoed.headers['cf-access-client-id'], token.clientId);
    assert.match(echoed.headers['cf-access-client-secret']!, /^\[redacted\]\*+$/);
    const origin = emulator.requests({ endpoint: 'resource' }).filter((e) => e.path === '/echo').at(-1)!;
    assert.equal(origin.headers['cf-access-client-secret'], token.clientSecret);
  });

  it('with --idle-timeout it stops and exits once unused, and says so', async () => {
    const env = bridgeEnv({ env: { CF_ACCESS_CLIENT_ID: token.clientId, CF_ACCESS_CLIENT_SECRET: token.clientSecret, CF_ACCESS_SERVICE_TOKEN_HOSTS: new URL(emulator.appUrl).host } });
    const idle = await startProxyCli(emulator.appUrl, env, ['--idle-timeout', '1']);
    await eventually(() => /stops after 1 s unused/.test(idle.stderr.join('')), 10_000, 'the proxy to say how long it lives');
    assert.equal((await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${idle.base}/echo`])).stdout, '200');
    const code = await new Promise<number | null>((resolve) => (idle.child.exitCode !== null ? resolve(idle.child.exitCode) : idle.child.once('exit', resolve)));
    assert.equal(code, 0);
    assert.match(idle.stderr.join(''), /idle timeout/);
  });
});

describe('cf-access-mcp proxy for a classic application, through cloudflared (issue 14)', () => {
  let emulator: Emulator;
  let proxy: ProxyChild;
  let cacheDir: string;

  before(async () => {
    emulator = await startEmulator({ mode: 'classic' });
    const base = tempHome('cfam-cloudflared-');
    cacheDir = join(base, 'cache');
    const env = bridgeEnv({
      env: {
        CF_ACCESS_MCP_CLOUDFLARED: join(import.meta.dirname, '..', 'fixtures', 'cloudflared.mjs'),
        TEST_CLOUDFLARED_LOG: join(base, 'cloudflared.log'),
        TEST_CLOUDFLARED_DIR: cacheDir,
      },
    });
    proxy = await startProxyCli(emulator.appUrl, env);
  });

  after(async () => {
    await proxy?.stop();
    const jwts = existsSync(cacheDir) ? readdirSync(cacheDir).map((name) => readFileSync(join(cacheDir, name), 'utf8').trim()) : [];
    assertNoSecretsLeaked([...emulator.secrets(), ...jwts]);
    await emulator.close();
    cleanupHomes();
  });

  it('sends the cloudflared JWT as cf-access-token and never hands it back', async () => {
    const result = await run('curl', ['-s', `${proxy.base}/echo`]);
    const echoed = JSON.parse(result.stdout) as { headers: Record<string, string> };
    assert.match(echoed.headers['cf-access-token']!, /^\[redacted\]\*+$/);
    assert.equal(echoed.headers.authorization, undefined);
    const origin = emulator.requests({ endpoint: 'resource' }).filter((e) => e.path === '/echo').at(-1)!;
    assert.ok(origin.headers['cf-access-token']!.length > 20);
  });
});
