import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { connect as connectTcp, createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Emulator } from '../../src/emulator/index.js';
import { BROWSER_SCRIPT, cleanupHomes, SERVER_ENTRY, type ServerOptions, startEmulator, tempHome, TestServer, textOf, trustedTeamsEnv, callbackAddress } from '../helpers/harness.js';
import { Hostile, randomish } from '../helpers/hostile-site.js';
import { assertNoSecretsLeaked, recordOutput } from '../helpers/leaks.js';

/**
 * Adversarial review: a hostile site and authorization server (a real HTTP server on
 * loopback that answers the way an attacker would), and a careless user. Each case:
 * a clear error with a next step, the server still answers, the store keeps what it
 * held, and no token, code, verifier or secret shows up anywhere.
 */

let emulator: Emulator;
/** Shared by cases that log in; discovery cases each get a fresh origin (discovery is cached per origin). */
let hostile: Hostile;
let home: string;
let server: TestServer;
const servers: TestServer[] = [];
const extraSecrets: string[] = [];
const others: Hostile[] = [];

async function freshHostile(): Promise<Hostile> {
  const site = await Hostile.start();
  others.push(site);
  return site;
}

/** The emulator's team and every hostile site started so far: each plays an Access team the user already chose. */
function hostileTeams(): string {
  return [trustedTeamsEnv().CF_ACCESS_MCP_TEAMS, ...[hostile, ...others].map((site) => new URL(site.origin).host)].filter(Boolean).join(',');
}

async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  // The hostile server plays an Access team the user already chose, so its sign-in page opens as before.
  const started = await TestServer.start({ home, ...options, env: { CF_ACCESS_MCP_TEAMS: hostileTeams(), ...options.env } });
  servers.push(started);
  await started.client.setLoggingLevel('debug');
  return started;
}

function call(target: TestServer, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  return target.call(name, args, { onprogress: () => {} });
}

function assertError(result: CallToolResult, message?: RegExp): string {
  const text = textOf(result);
  assert.equal(result.isError, true, `expected an error, got: ${text.slice(0, 400)}`);
  assert.match(text, /Next step: \S/, `no next step in: ${text}`);
  if (message) assert.match(text, message);
  return text;
}

function assertOk(result: CallToolResult): string {
  assert.notEqual(result.isError, true, `unexpected error: ${textOf(result).slice(0, 500)}`);
  return textOf(result);
}

type Sessions = Record<string, Record<string, unknown>>;
function storedSessions(dir = home): Sessions {
  return (JSON.parse(readFileSync(join(dir, 'store.json'), 'utf8')) as { sessions: Sessions }).sessions;
}

/** The server answers, the emulator session logged in before() is still stored, and nothing was moved aside. */
async function assertIntact(target = server): Promise<void> {
  assertOk(await target.call('access_status', {}));
  assert.ok(storedSessions()[emulator.appUrl], 'the emulator session survived');
  assert.deepEqual(
    readdirSync(home).filter((f) => f.includes('corrupt')),
    [],
    'the store was not moved aside',
  );
}

before(async () => {
  emulator = await startEmulator();
  hostile = await Hostile.start();
  home = tempHome();
  server = await startServer();
  assertOk(await call(server, 'access_fetch', { url: `${emulator.appUrl}/` }));
});

afterEach(async () => {
  hostile.reset();
  const sessions = storedSessions();
  // Each case starts over: no session, and no failed login holding back the next browser for the hostile site.
  const refusals = (JSON.parse(readFileSync(join(home, 'store.json'), 'utf8')) as { refusals?: Record<string, unknown> }).refusals ?? {};
  if (sessions[hostile.origin] || refusals[hostile.origin]) assertOk(await server.call('access_logout', { url: hostile.url }));
});

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  assertNoSecretsLeaked([...emulator.secrets(), ...hostile.secrets, ...others.flatMap((o) => o.secrets), ...extraSecrets]);
  await Promise.all([hostile, ...others].map((o) => o.close()));
  await emulator.close();
  cleanupHomes();
});

describe('a hostile authorization server', () => {
  it('an error_description that echoes the code and verifier never reaches the agent', async () => {
    hostile.routes.set('/token', (_req, res, body) => {
      const form = new URLSearchParams(body);
      const echoed = ['code', 'code_verifier', 'client_id'].map((n) => `${n}=${form.get(n)}`).join(' ');
      for (const n of ['code', 'code_verifier']) hostile.secrets.push(form.get(n)!);
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_grant', error_description: `rejected ${echoed}` }));
    });
    const text = assertError(await call(server, 'access_fetch', { url: hostile.url }), /code exchange .* failed \(invalid_grant: rejected/);
    assert.match(text, /\[redacted\]/);
    assert.equal(storedSessions()[hostile.origin], undefined);
    await assertIntact();
  });

  it('a refresh error that echoes the refresh and access tokens stays out of the logs', async () => {
    hostile.tokenLifetime = 20; // below the refresh skew: the next use refreshes
    assertOk(await call(server, 'access_fetch', { url: hostile.url }));
    hostile.routes.set('/token', (_req, res, body) => {
      const form = new URLSearchParams(body);
      const access = [...hostile.issued].pop();
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'temporarily_unavailable', error_description: `refresh ${form.get('refresh_token')} access ${access}` }));
    });
    const before = server.logMessages.length;
    assertOk(await call(server, 'access_fetch', { url: hostile.url }));
    const logged = server.logMessages.slice(before).join('\n');
    assert.match(logged, /Refreshing the session .* failed .*\[redacted\]/);
    await assertIntact();
  });

  for (const tokenType of ['mac', 'DPoP', 'N_A']) {
    it(`a token response with token_type "${tokenType}" is refused and nothing is stored`, async () => {
      hostile.routes.set('/token', (_req, res) => {
        const access = `oauth:typed-${randomish()}`;
        hostile.secrets.push(access);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ access_token: access, token_type: tokenType, expires_in: 900 }));
      });
      assertError(await call(server, 'access_fetch', { url: hostile.url }), /unsupported token type/);
      assert.equal(storedSessions()[hostile.origin], undefined);
      await assertIntact();
    });
  }

  for (const expiresIn of [1e308, 1e15, '1e400']) {
    it(`expires_in ${expiresIn} neither breaks access_status nor the store`, async () => {
      hostile.routes.set('/token', (_req, res) => {
        const access = `oauth:forever-${randomish()}`;
        hostile.secrets.push(access);
        hostile.issued.add(access);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`{"access_token":"${access}","token_type":"bearer","expires_in":${typeof expiresIn === 'string' ? `"${expiresIn}"` : expiresIn}}`);
      });
      const fetched = await call(server, 'access_fetch', { url: hostile.url });
      if (!fetched.isError) assert.match(textOf(fetched), /hello from the hostile app/);
      const status = await server.call('access_status', {});
      assertOk(status);
      await assertIntact();
      // A server started afresh reads the same store without moving it aside.
      const fresh = await startServer();
      assertOk(await fresh.call('access_status', {}));
      await fresh.close();
      await assertIntact();
    });
  }

  it('an access token with a line break is refused at login, not sent as a header later', async () => {
    hostile.routes.set('/token', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: 'oauth:abc\r\nX-Injected: 1', token_type: 'bearer', expires_in: 900 }));
    });
    assertError(await call(server, 'access_fetch', { url: hostile.url }), /malformed/);
    assert.equal(storedSessions()[hostile.origin], undefined);
    await assertIntact();
  });
});

describe('hostile discovery', () => {
  it('resource_metadata on another port of the same host is refused before anything is requested there', async () => {
    const site = await freshHostile();
    const other = await freshHostile();
    site.routes.set('/', (_req, res) => {
      res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${other.origin}/.well-known/cloudflare-access-protected-resource/"` });
      res.end();
    });
    assertError(await call(server, 'access_fetch', { url: site.url }), /another origin/);
    assert.equal(other.requests.length, 0, 'nothing was requested from the other port');
    await assertIntact();
  });

  for (const as of ['javascript:alert(1)', 'file:///etc/passwd', 'data:text/html,<script>x</script>', 'http://auth.evil.example', 'https://trusted.example@127.0.0.1/']) {
    it(`authorization_servers ["${as}"] is refused with a clear error, before any request there`, async () => {
      const site = await freshHostile();
      site.routes.set('/.well-known/cloudflare-access-protected-resource/', (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ resource: site.origin, authorization_servers: [as] }));
      });
      const text = assertError(await call(server, 'access_fetch', { url: site.url }), /authorization server listed by 127\.0\.0\.1:\d+ \(?\S/i);
      assert.doesNotMatch(text, /server {2}is|\(\)/, 'the message names what was refused');
      assert.deepEqual(
        site.requests.map((r) => r.path),
        ['/', '/.well-known/cloudflare-access-protected-resource/'],
        'no request went further than the resource metadata',
      );
      await assertIntact();
    });
  }

  it('endpoints with a user name in their URL are refused (a login URL that reads like another host)', async () => {
    const site = await freshHostile();
    site.routes.set('/.well-known/oauth-authorization-server', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          issuer: site.origin,
          authorization_endpoint: `http://login.cloudflareaccess.com@${site.origin.slice('http://'.length)}/authorize`,
          token_endpoint: `${site.origin}/token`,
          registration_endpoint: `${site.origin}/register`,
          code_challenge_methods_supported: ['S256'],
          token_endpoint_auth_methods_supported: ['none'],
        }),
      );
    });
    assertError(await call(server, 'access_fetch', { url: site.url }), /authorization_endpoint .* user name or password/);
    assert.ok(!site.requests.some((r) => r.path === '/register'), 'no registration happened');
    await assertIntact();
  });

  it('resource metadata larger than 1 MB, and deeply nested JSON, give clear errors', async () => {
    const big = await freshHostile();
    big.routes.set('/.well-known/cloudflare-access-protected-resource/', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"resource":"${big.origin}","pad":"${'x'.repeat(2 * 1024 * 1024)}"}`);
    });
    assertError(await call(server, 'access_fetch', { url: big.url }), /Resource metadata/);
    const deep = await freshHostile();
    deep.routes.set('/.well-known/cloudflare-access-protected-resource/', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"resource":"${deep.origin}","authorization_servers":${'['.repeat(400_000)}${']'.repeat(400_000)}}`);
    });
    assertError(await call(server, 'access_fetch', { url: deep.url }), /Resource metadata/);
    await assertIntact();
  });

  it('a WWW-Authenticate header of 1 MB is refused with a clear error', async () => {
    const site = await freshHostile();
    site.routes.set('/', (_req, res) => {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${'x'.repeat(1024 * 1024)}"` });
      res.end();
    });
    assertError(await call(server, 'access_fetch', { url: site.url }), /larger than 64 KB/);
    await assertIntact();
  });
});

describe('hostile redirects', () => {
  it('a 302 loop between two origins stops after 10 redirects', async () => {
    const other = await freshHostile();
    {
      hostile.routes.set('/loop', (_req, res) => {
        res.writeHead(302, { location: `${other.origin}/loop` });
        res.end();
      });
      other.routes.set('/loop', (_req, res) => {
        res.writeHead(302, { location: `${hostile.origin}/loop` });
        res.end();
      });
      assertError(await call(server, 'access_fetch', { url: `${hostile.origin}/loop` }), /Too many redirects/);
      const sent = hostile.requests.length + other.requests.length;
      assert.ok(sent <= 11, `${sent} requests`);
      await assertIntact();
    }
  });

  it('a POST redirected (307) to an app we hold a session for is not re-sent there', async () => {
    const site = await freshHostile();
    site.routes.set('/form', (_req, res) => {
      res.writeHead(307, { location: `${emulator.appUrl}/api/echo` });
      res.end();
    });
    const before = emulator.requests({ origin: 'app' }).length;
    const result = await call(server, 'access_fetch', { url: `${site.origin}/form`, method: 'POST', body: { transfer: 'everything' } });
    const text = assertOk(result);
    assert.equal(structured(result).status, 307);
    assert.match(text, /not re-sent to another origin/);
    assert.equal(emulator.requests({ origin: 'app' }).length, before, 'the app got nothing');
  });

  it('a Location header with CR/LF in it is refused, and the server stays up', async () => {
    const raw: TcpServer = createTcpServer((socket) => {
      socket.once('data', () => {
        socket.end('HTTP/1.1 302 Found\r\nLocation: /next\rSet-Cookie: injected=1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    try {
      const port = (raw.address() as AddressInfo).port;
      assertError(await call(server, 'access_fetch', { url: `http://127.0.0.1:${port}/` }));
      await assertIntact();
    } finally {
      raw.close();
    }
  });

  it('a page that echoes our bearer token shows it nowhere: body, title, headers or final URL', async () => {
    assertOk(await call(server, 'access_fetch', { url: hostile.url }));
    hostile.routes.set('/echo', (req, res) => {
      const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      if (!hostile.issued.has(token)) {
        res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${hostile.origin}/.well-known/cloudflare-access-protected-resource/"` });
        return void res.end();
      }
      res.writeHead(200, { 'content-type': 'text/html', etag: `"${token}"`, 'content-disposition': `attachment; filename="${token}.html"` });
      res.end(`<html><head><title>Token ${token}</title></head><body><article><h1>Echo</h1><p>Your token is ${token}, thanks for sharing it with us today.</p></article></body></html>`);
    });
    const result = await call(server, 'access_fetch', { url: `${hostile.origin}/echo` });
    const text = assertOk(result);
    const token = [...hostile.issued].pop()!;
    assert.ok(!JSON.stringify(result).includes(token), 'the token appears nowhere in the result');
    assert.match(text, /\[redacted\]/);
  });
});

function structured(result: CallToolResult): Record<string, unknown> {
  return (result.structuredContent ?? result._meta?.['cf-access-mcp/result'] ?? {}) as Record<string, unknown>;
}

describe('a careless user, and two logins at once', () => {
  it('a callback meant for one origin cannot complete another; pasted codes are never echoed; the files stay private', async () => {
    const site = await freshHostile();
    const dir = tempHome();
    const waiting = await startServer({ home: dir, browser: 'ignore' });
    try {
      const a = await call(waiting, 'access_login', { url: site.url, wait_seconds: 0 });
      const b = await call(waiting, 'access_login', { url: `${emulator.app2Url}/`, wait_seconds: 0 });
      assert.equal(structured(a).status, 'pending');
      assert.equal(structured(b).status, 'pending');

      // While both logins wait: store and lock files are private.
      assert.equal(statSync(dir).mode & 0o777, 0o700);
      assert.equal(statSync(join(dir, 'store.json')).mode & 0o777, 0o600);
      const locks = join(dir, 'locks');
      assert.equal(statSync(locks).mode & 0o777, 0o700);
      const held = readdirSync(locks);
      assert.ok(held.length >= 2, held.join(', '));
      for (const entry of held) assert.equal(statSync(join(locks, entry)).mode & 0o777, 0o700, entry);

      const forA = await callbackAddress(String(structured(a).login_url));
      const refused = await call(waiting, 'access_login', { url: `${emulator.app2Url}/`, callback_url: forA });
      assertError(refused, /does not belong to the pending login/);

      const fakeCode = `pasted-code-${randomish()}`;
      extraSecrets.push(fakeCode);
      const wrongState = new URL(forA);
      wrongState.searchParams.set('code', fakeCode);
      wrongState.searchParams.set('state', 'not-the-state');
      assertError(await call(waiting, 'access_login', { url: site.url, callback_url: wrongState.href }), /state does not match/);
      assertError(await call(waiting, 'access_login', { url: site.url, callback_url: `code=${fakeCode} is what the page said` }), /not a URL/);
      assertError(await call(waiting, 'access_login', { url: `${emulator.appUrl}/`, callback_url: forA }));

      // The callback belongs to A, and completes A.
      const done = await call(waiting, 'access_login', { url: site.url, callback_url: forA, wait_seconds: 30 });
      assert.equal(structured(done).status, 'authenticated', textOf(done));
      const status = await call(waiting, 'access_status', {});
      const byHost = new Map((structured(status).sessions as Array<{ host: string; state: string }>).map((s) => [s.host, s.state]));
      assert.equal(byHost.get(new URL(emulator.app2Url).host), 'pending', 'the other origin is still waiting for its own callback');
      // Replaying the used callback completes nothing.
      assertError(await call(waiting, 'access_login', { url: `${emulator.app2Url}/`, callback_url: forA }));
    } finally {
      await waiting.close();
    }
  });
});

/** One raw HTTP/1.1 request (a request target no fetch() would send); resolves to the status line. */
function rawRequest(port: number, target: string, host = `localhost:${port}`): Promise<string> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, '127.0.0.1', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString('latin1')));
    socket.on('close', () => resolve(data.split('\r\n')[0] ?? ''));
    socket.on('error', (error) => resolve(`error ${error.message}`));
  });
}

describe('the loopback callback under attack', () => {
  it('malformed requests (a web page can make the browser ask for "//[") never take the server down', async () => {
    const site = await freshHostile();
    // No browser opened, so the user's own browser (this test's fetch) needs no start cookie.
    const waiting = await startServer({ home: tempHome(), browser: 'none' });
    try {
      const pending = await call(waiting, 'access_login', { url: site.url, wait_seconds: 0 });
      const loginUrl = String(structured(pending).login_url);
      const port = Number(new URL(new URL(loginUrl).searchParams.get('redirect_uri')!).port);
      for (const target of ['//[', 'http://[', '/callback?state=%', '*', 'http://evil.example/callback', `//evil.example/callback?state=x`]) {
        assert.match(await rawRequest(port, target), /^HTTP\/1\.1 (400|404) /, target);
      }
      assert.match(await rawRequest(port, '/callback?state=x', `evil.example:${port}`), /^HTTP\/1\.1 400 /, 'DNS rebinding');
      assertOk(await waiting.call('access_status', {}));
      // The login is still pending and completes with the real callback.
      const callback = await callbackAddress(loginUrl);
      const page = await fetch(callback);
      assert.equal(page.status, 200);
      const done = await call(waiting, 'access_login', { url: site.url, wait_seconds: 30 });
      assert.equal(structured(done).status, 'authenticated', textOf(done));
    } finally {
      await waiting.close();
    }
  });
});

describe('the sign-in URL the user is shown', () => {
  it("is the authorization server's own authorization_endpoint, whatever the app's challenge suggests", async () => {
    const site = await freshHostile();
    site.routes.set('/', (_req, res) => {
      // Everything a protected app could add to steer the user elsewhere: ignored.
      res.writeHead(401, {
        'www-authenticate': `Bearer authorization_uri="https://phish.example/login", resource_metadata="${site.origin}/.well-known/cloudflare-access-protected-resource/"`,
        location: 'https://phish.example/login',
        'cf-access-domain': 'phish.example',
        'content-type': 'application/json',
      });
      res.end(JSON.stringify({ authorization_url: 'https://phish.example/login', login_url: 'https://phish.example/login' }));
    });
    const waiting = await startServer({ home: tempHome(), browser: 'ignore' });
    try {
      const result = await call(waiting, 'access_login', { url: site.url, wait_seconds: 0 });
      assert.equal(structured(result).status, 'pending', textOf(result));
      const login = new URL(String(structured(result).login_url));
      assert.equal(`${login.origin}${login.pathname}`, `${site.origin}/authorize`);
      assert.equal(login.username, '');
      for (const name of ['state', 'code_challenge', 'client_id', 'redirect_uri', 'resource']) assert.ok(login.searchParams.get(name), name);
      assert.equal(login.searchParams.get('code_challenge_method'), 'S256');
      assert.ok(!textOf(result).includes('phish.example'), 'nothing the app suggested is shown');
    } finally {
      await waiting.close();
    }
  });

  it('a 100 KB client_id from the server is refused, not shown in a login URL', async () => {
    const site = await freshHostile();
    site.routes.set('/register', (_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ client_id: 'c'.repeat(100 * 1024) }));
    });
    const text = assertError(await call(server, 'access_fetch', { url: site.url }), /Client registration response .* malformed/);
    assert.ok(text.length < 2_000, `${text.length} characters`);
    await assertIntact();
  });
});

describe('cf-access-mcp demo', () => {
  it('prints the flow without a token, code or verifier', () => {
    const run = spawnSync(process.execPath, [SERVER_ENTRY, 'demo'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, CF_ACCESS_MCP_HOME: tempHome() } });
    assert.equal(run.status, 0, run.stderr);
    const output = run.stdout + run.stderr;
    assert.match(output, /authenticated request with the Bearer token/);
    assert.doesNotMatch(output, /oauth:[A-Za-z0-9_-]{8,}/, 'no access or refresh token');
    assert.doesNotMatch(output, /[?&](code|code_verifier|refresh_token|access_token)=/, 'no code or verifier in a traced URL');
    assert.doesNotMatch(output, /Bearer [A-Za-z0-9_:.-]{16,}/, 'no Authorization header value');
  });
});

describe('a careless or misled agent', () => {
  it('cannot steer our credentials to another virtual host with a Host header', async () => {
    const before = emulator.requests().length;
    assertError(await call(server, 'access_fetch', { url: `${emulator.appUrl}/`, headers: { Host: 'evil.example' } }), /Host header cannot be set/);
    assert.equal(emulator.requests().length, before, 'nothing was sent');
  });

  it('cannot save a download over the session store, not even through a symlink', async () => {
    const storeBefore = readFileSync(join(home, 'store.json'), 'utf8');
    const link = join(tempHome(), 'innocent');
    symlinkSync(home, link);
    for (const target of [join(home, 'store.json'), join(home, 'locks', 'new', 'file'), join(link, 'store.json')]) {
      const result = await call(server, 'access_fetch', { url: `${emulator.appUrl}/api/data.json`, save_to: target });
      assertError(result, /session store directory/);
    }
    assert.equal(readFileSync(join(home, 'store.json'), 'utf8'), storeBefore, 'the store is untouched');
    await assertIntact();
  });
});

/** The built binary as a person runs it; every output goes to the leak collector. */
function runCli(args: string[], options: { home: string; browser?: 'approve' | 'none'; input?: string }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = {
    ...process.env,
    CF_ACCESS_MCP_HOME: options.home,
    CF_ACCESS_MCP_CALLBACK_PORT: '0',
    CF_ACCESS_MCP_BROWSER: options.browser === 'approve' ? `${process.execPath} ${BROWSER_SCRIPT}` : 'none',
    TEST_BROWSER_ACTION: 'approve',
    TEST_BROWSER_LOG: join(tempHome('cfam-cli-browser-'), 'browser.log'),
    CF_ACCESS_MCP_TEAMS: hostileTeams(),
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER_ENTRY, ...args], { env, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      // Paste-back: answer the prompt once the URL is shown.
      if (options.input !== undefined && /paste it here/.test(stderr) && !child.stdin.writableEnded) child.stdin.end(options.input);
    });
    child.once('error', reject);
    child.once('close', (code) => {
      recordOutput('cli stdout', stdout);
      recordOutput('cli stderr', stderr);
      resolve({ code, stdout, stderr });
    });
    if (options.input === undefined) child.stdin.end();
  });
}

describe('the CLI, against a hostile server', () => {
  it('a token error echoing the code and verifier, with --verbose, prints neither', async () => {
    const site = await freshHostile();
    site.routes.set('/token', (_req, res, body) => {
      const form = new URLSearchParams(body);
      for (const n of ['code', 'code_verifier']) site.secrets.push(form.get(n)!);
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_grant', error_description: `bad ${form.get('code')} / ${form.get('code_verifier')}` }));
    });
    const run = await runCli(['fetch', site.url, '--verbose', '--wait', '20'], { home: tempHome(), browser: 'approve' });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /code exchange .* failed \(invalid_grant: bad \[redacted\] \/ \[redacted\]\)/);
  });

  it('a page echoing the token is printed redacted; a pasted address with the wrong state is refused without echoing its code', async () => {
    const site = await freshHostile();
    const dir = tempHome();
    const login = await runCli(['login', site.url, '--wait', '20'], { home: dir, browser: 'approve' });
    assert.equal(login.code, 0, login.stderr);
    site.routes.set('/echo', (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`you sent ${req.headers.authorization}`);
    });
    const echoed = await runCli(['fetch', `${site.origin}/echo`], { home: dir });
    assert.equal(echoed.code, 0, echoed.stderr);
    assert.match(echoed.stdout, /you sent Bearer \[redacted\]/);

    const other = await freshHostile();
    const fakeCode = `pasted-cli-code-${randomish()}`;
    extraSecrets.push(fakeCode);
    const pasted = await runCli(['login', other.url, '--paste', '--wait', '3'], {
      home: tempHome(),
      input: `http://localhost:1/callback?code=${fakeCode}&state=forged\n`,
    });
    assert.equal(pasted.code, 3, pasted.stderr);
    assert.match(pasted.stderr, /does not belong to the pending login/);
  });
});
