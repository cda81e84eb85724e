import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { REPORT_SENTENCE, type Emulator } from '../../src/emulator/index.js';
import { cleanupHomes, ROOT, tempHome, TestServer, textOf, startEmulator } from '../helpers/harness.js';
import { assertNoSecretsLeaked } from '../helpers/leaks.js';

/**
 * Issue 11 item 1, end to end over stdio: a page that imitates Access (the
 * real application's public AUD and domain, a 302 to the real team's login
 * page or a 401 Cloudflare-Access challenge) must never be sent a cloudflared
 * token. The stand-in cloudflared runs in "legacy" mode: like every version
 * before 2026.8 it trusts the page's kid / CF-Access-Domain and would hand out
 * the real application's cached token. Only the server's signed metadata check
 * stands in the way.
 */

const CLOUDFLARED = resolve(ROOT, 'test', 'fixtures', 'cloudflared.mjs');
const JWT_SHAPE = /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\./;

let classic: Emulator;
const servers: TestServer[] = [];
const spoofs: Server[] = [];
const jwts: string[] = [];

interface Stand {
  dir: string;
  env: Record<string, string>;
  lines(): string[];
}

/** A legacy stand-in cloudflared with the real app's token already cached under its (domain, aud) pair. */
function legacyStandIn(cachedFor: 'app' | 'app2' | 'none' = 'app'): Stand {
  const base = tempHome('cfam-legacy-');
  const dir = join(base, 'cache');
  const log = join(base, 'cloudflared.log');
  if (cachedFor !== 'none') {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const token = classic.issueClassicJwt({ app: cachedFor, lifetimeSeconds: 3600 });
    jwts.push(token);
    const appHost = new URL(classic.appUrl).host;
    writeFileSync(join(dir, `${appHost}-${classic.aud.app}-token`.replace(/[^a-zA-Z0-9.-]/g, '_')), token, { mode: 0o600 });
  }
  return {
    dir,
    env: { CF_ACCESS_MCP_CLOUDFLARED: CLOUDFLARED, TEST_CLOUDFLARED_LOG: log, TEST_CLOUDFLARED_DIR: dir, TEST_CLOUDFLARED_MODE: 'legacy' },
    lines: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []),
  };
}

async function startServer(stand: Stand, home?: string): Promise<TestServer> {
  const server = await TestServer.start({ env: stand.env, home });
  servers.push(server);
  return server;
}

interface Spoof {
  url: string;
  origin: string;
  /** Every request the page received, headers as sent. */
  seen: Array<{ method: string; url: string; headers: IncomingMessage['headers'] }>;
}

/** A page on its own loopback origin that answers like the real classic app, without being it. */
async function spoof(answer: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>): Promise<Spoof> {
  const seen: Spoof['seen'] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } });
    Promise.resolve(answer(req, res)).catch(() => res.destroy());
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  spoofs.push(server);
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url: `${origin}/`, origin, seen };
}

function realLoginLocation(): string {
  return `${classic.teamUrl}/cdn-cgi/access/login/${new URL(classic.appUrl).host}?kid=${classic.aud.app}&redirect_url=%2F`;
}

/** 302 to the real team's login page naming the real app's AUD and domain. */
const redirectLikeAccess = (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(302, {
    location: realLoginLocation(),
    'cf-access-domain': new URL(classic.appUrl).host,
    'www-authenticate': 'Cloudflare-Access',
  });
  res.end();
};

/** 401 Cloudflare-Access; to HEAD (what cloudflared sends) it also names the real app's AUD and domain. */
const challengeLikeAccess = (req: IncomingMessage, res: ServerResponse) => {
  const named = req.method === 'HEAD' ? { 'cf-access-aud': classic.aud.app, 'cf-access-domain': new URL(classic.appUrl).host } : {};
  res.writeHead(401, { 'www-authenticate': 'Cloudflare-Access', 'content-type': 'text/plain', ...named });
  res.end(req.method === 'HEAD' ? undefined : 'Unauthorized');
};

/** Like Access, and relays the real application's own signed metadata when asked for it. */
const relayRealMetadata = async (req: IncomingMessage, res: ServerResponse) => {
  if (req.headers['cf-access-metadata-request']) {
    const real = await fetch(`${classic.appUrl}/`, { method: 'HEAD', headers: { 'cf-access-metadata-request': 'true' } });
    res.writeHead(302, { location: realLoginLocation(), 'cf-access-metadata': real.headers.get('cf-access-metadata') ?? '' });
    return void res.end();
  }
  redirectLikeAccess(req, res);
};

function assertNothingSent(page: Spoof): void {
  assert.ok(page.seen.length > 0, 'the page was asked');
  for (const request of page.seen) {
    const headers = JSON.stringify(request.headers);
    assert.equal(request.headers['cf-access-token'], undefined, `${request.method} ${request.url} carried cf-access-token`);
    assert.equal(request.headers.authorization, undefined);
    assert.doesNotMatch(headers, JWT_SHAPE, `${request.method} ${request.url} carried a JWT: ${headers}`);
    for (const jwt of jwts) assert.ok(!headers.includes(jwt));
  }
}

function assertRefused(result: CallToolResult, why: RegExp): void {
  assert.equal(result.isError, true, textOf(result));
  const text = textOf(result);
  assert.match(text, /did not prove which Cloudflare Access application it is/);
  assert.match(text, why);
  assert.match(text, /Next step: Check that .* is really the application you mean/);
  assert.match(text, /service token/);
  assert.doesNotMatch(text, /cloudflared access login/);
  assert.doesNotMatch(text, JWT_SHAPE);
}

function structured(result: CallToolResult): Record<string, unknown> {
  return (result.structuredContent ?? result._meta?.['cf-access-mcp/result'] ?? {}) as Record<string, unknown>;
}

before(async () => {
  classic = await startEmulator({ mode: 'classic' });
});

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all(spoofs.map((s) => new Promise((done) => s.close(done))));
  await classic.close();
  cleanupHomes();
  assertNoSecretsLeaked([...jwts, ...classic.secrets()]);
});

describe('a page imitating Access gets no cloudflared token', () => {
  it('a 302 to the real team login with the real AUD and domain: refused, cloudflared never runs', async () => {
    const stand = legacyStandIn();
    const server = await startServer(stand);
    const page = await spoof(redirectLikeAccess);
    assertRefused(await server.call('access_fetch', { url: page.url }), /sent no signed application metadata/);
    assertRefused(await server.call('access_login', { url: page.url, method: 'cloudflared' }), /sent no signed application metadata/);
    assertNothingSent(page);
    assert.deepEqual(stand.lines(), [], 'cloudflared was not run for the page');
    assert.ok(page.seen.some((r) => r.method === 'HEAD' && r.headers['cf-access-metadata-request'] === 'true'), 'the metadata was asked for');
    const status = await server.call('access_status', {});
    assert.deepEqual(structured(status).sessions ?? [], [], textOf(status));
  });

  it('a 401 Cloudflare-Access challenge naming the real AUD to HEAD: refused, cloudflared never runs', async () => {
    const stand = legacyStandIn();
    const server = await startServer(stand);
    const page = await spoof(challengeLikeAccess);
    assertRefused(await server.call('access_fetch', { url: page.url }), /sent no signed application metadata/);
    assertNothingSent(page);
    assert.deepEqual(stand.lines(), []);
  });

  it("relaying the real application's signed metadata does not help: it names another host", async () => {
    const stand = legacyStandIn();
    const server = await startServer(stand);
    const page = await spoof(relayRealMetadata);
    const result = await server.call('access_fetch', { url: page.url });
    assertRefused(result, new RegExp(`issued for ${new URL(classic.appUrl).host.replace(/\./g, '\\.')}, not ${new URL(page.origin).host.replace(/\./g, '\\.')}`));
    assertNothingSent(page);
    assert.deepEqual(stand.lines(), []);
  });

  it('a cloudflared session stored before the check (no application recorded) is not sent to the page', async () => {
    const stand = legacyStandIn();
    const page = await spoof(redirectLikeAccess);
    const home = tempHome();
    const token = classic.issueClassicJwt({ lifetimeSeconds: 3600 });
    jwts.push(token);
    const session = { origin: page.origin, method: 'cloudflared', access_token: token, expires_at: Date.now() + 3_600_000, obtained_at: Date.now() };
    writeFileSync(join(home, 'store.json'), JSON.stringify({ version: 1, sessions: { [page.origin]: session }, registrations: {}, logins: {} }), { mode: 0o600 });
    const server = await startServer(stand, home);
    const status = await server.call('access_status', {});
    assert.equal((status.structuredContent as { sessions: Array<{ state: string }> }).sessions[0]?.state, 'expired', 'status does not call an unusable session authenticated');
    assertRefused(await server.call('access_fetch', { url: page.url }), /sent no signed application metadata/);
    assertNothingSent(page);
    assert.deepEqual(stand.lines(), []);
  });
});

describe('the real application still works through cloudflared', () => {
  it('verifies the signed metadata, runs cloudflared, and records the application on the session', async () => {
    const stand = legacyStandIn('none');
    const server = await startServer(stand);
    classic.clearLog();
    const result = await server.call('access_fetch', { url: `${classic.appUrl}/` });
    assert.notEqual(result.isError, true, textOf(result));
    assert.ok(textOf(result).includes(REPORT_SENTENCE));
    assert.equal(structured(result).auth, 'cloudflared');
    assert.equal(classic.requests({ origin: 'app', endpoint: 'app_metadata' }).length, 1, 'the metadata was checked once');
    const sent = classic.requests({ origin: 'app', endpoint: 'resource' }).at(-1)!.headers['cf-access-token'];
    assert.ok(sent);
    jwts.push(sent);
    assert.ok(stand.lines().includes('login done'));
    const stored = JSON.parse(readFileSync(join(server.home, 'store.json'), 'utf8')) as { sessions: Record<string, Record<string, unknown>> };
    const session = stored.sessions[classic.appUrl]!;
    assert.equal(session.app_aud, classic.aud.app);
    assert.equal(session.app_hostname, new URL(classic.appUrl).host);
    assert.equal(session.team, new URL(classic.teamUrl).host);

    const again = await server.call('access_fetch', { url: `${classic.appUrl}/long` });
    assert.notEqual(again.isError, true, textOf(again));
    assert.equal(classic.requests({ origin: 'app', endpoint: 'app_metadata' }).length, 1, 'the stored session is reused without another check');
  });

  it("refuses a token whose aud is not the verified application's, and neither sends nor stores it", async () => {
    // cloudflared has app2's token under app's (domain, aud): an old cloudflared would hand it out.
    const stand = legacyStandIn('app2');
    const server = await startServer(stand);
    classic.clearLog();
    const result = await server.call('access_fetch', { url: `${classic.appUrl}/` });
    assert.equal(result.isError, true, textOf(result));
    assert.match(textOf(result), /cloudflared returned a token that is not for the Access application/);
    assert.match(textOf(result), /it was not sent or stored/);
    assert.doesNotMatch(textOf(result), JWT_SHAPE);
    for (const entry of classic.requests({ origin: 'app' })) assert.equal(entry.headers['cf-access-token'], undefined, 'no token reached the app');
    assert.ok(stand.lines().includes('token cached') && stand.lines().includes('login done'), stand.lines().join(' | '));
    const stored = existsSync(join(server.home, 'store.json')) ? (JSON.parse(readFileSync(join(server.home, 'store.json'), 'utf8')) as { sessions: Record<string, unknown> }) : { sessions: {} };
    assert.deepEqual(Object.keys(stored.sessions), [], 'nothing stored');
  });
});
