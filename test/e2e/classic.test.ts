import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { REPORT_SENTENCE, type Emulator } from '../../src/emulator/index.js';
import { cleanupHomes, eventually, ROOT, startEmulator, tempHome, TestServer, textOf, resultData } from '../helpers/harness.js';
import { assertNoSecretsLeaked } from '../helpers/leaks.js';

/**
 * Issue 4, classic Access end to end over stdio: an app without managed OAuth
 * is reached through the cloudflared fallback (a stand-in executable that
 * completes the emulator's classic login), with the JWT sent as
 * cf-access-token; expiry and refusal lead to exactly one new login; a missing
 * cloudflared gives the install message; access_status names every offer.
 */

const CLOUDFLARED = resolve(ROOT, 'test', 'fixtures', 'cloudflared.mjs');

let classic: Emulator;
const servers: TestServer[] = [];
const jwts: string[] = [];

interface Stand {
  dir: string;
  log: string;
  env: Record<string, string>;
  lines(): string[];
  logins(): number;
}

/** A fresh cache directory and invocation log for the stand-in cloudflared. */
function standIn(extra: Record<string, string> = {}): Stand {
  const base = tempHome('cfam-cloudflared-');
  const dir = join(base, 'cache');
  const log = join(base, 'cloudflared.log');
  const lines = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);
  return {
    dir,
    log,
    env: { CF_ACCESS_MCP_CLOUDFLARED: CLOUDFLARED, TEST_CLOUDFLARED_LOG: log, TEST_CLOUDFLARED_DIR: dir, ...extra },
    lines,
    logins: () => lines().filter((l) => /^login https?:/.test(l)).length,
  };
}

/** Every JWT the stand-in cached (for the leak check). */
function collectJwts(stand: Stand): void {
  if (!existsSync(stand.dir)) return;
  for (const name of readdirSync(stand.dir)) jwts.push(readFileSync(join(stand.dir, name), 'utf8'));
}

async function startServer(stand: Stand, env: Record<string, string> = {}): Promise<TestServer> {
  const server = await TestServer.start({ env: { ...stand.env, ...env } });
  servers.push(server);
  return server;
}

function structured(result: CallToolResult): Record<string, unknown> {
  return resultData(result);
}

function assertContent(result: CallToolResult): void {
  assert.notEqual(result.isError, true, `unexpected error result: ${textOf(result)}`);
  assert.ok(textOf(result).includes(REPORT_SENTENCE), textOf(result).slice(0, 300));
  assert.equal(structured(result).auth, 'cloudflared');
}

/** The JWT the app saw on its last authenticated request, checked to be in cf-access-token and not Authorization. */
function lastJwtSent(emulator: Emulator): string {
  const hits = emulator.requests({ origin: 'app', endpoint: 'resource' });
  assert.ok(hits.length > 0, 'the app served an authenticated request');
  const headers = hits[hits.length - 1]!.headers;
  assert.equal(headers.authorization, undefined);
  assert.ok(headers['cf-access-token'], 'the JWT went in cf-access-token');
  jwts.push(headers['cf-access-token']);
  return headers['cf-access-token'];
}

before(async () => {
  classic = await startEmulator({ mode: 'classic' });
});

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await classic.close();
  cleanupHomes();
  assertNoSecretsLeaked(jwts);
});

describe('classic Access through cloudflared', () => {
  it('logs in with cloudflared, sends cf-access-token, and reuses the session', async () => {
    const stand = standIn();
    const server = await startServer(stand);
    classic.clearLog();
    const result = await server.call('access_fetch', { url: `${classic.appUrl}/` });
    assertContent(result);
    lastJwtSent(classic);
    assert.deepEqual(server.browserOpens(), [], 'the scripted OAuth browser is not used');
    assert.equal(classic.requests({ endpoint: 'registration' }).length, 0);
    assert.deepEqual(
      stand.lines().map((l) => l.replace(/ https?:.*$/, '')),
      ['token', 'error Unable to find token for provided application.', 'login', 'login done'],
      'token (none cached) then one login',
    );
    assert.equal(stand.logins(), 1);

    const again = await server.call('access_fetch', { url: `${classic.appUrl}/long` });
    assert.notEqual(again.isError, true, textOf(again));
    assert.equal(stand.lines().length, 4, 'the stored session was reused: cloudflared not run again');

    const status = await server.call('access_status', {});
    assert.match(textOf(status), /authenticated, method cloudflared/);
    collectJwts(stand);
  });

  it('uses the token cloudflared already cached, without a login', async () => {
    const stand = standIn();
    mkdirSync(stand.dir, { recursive: true, mode: 0o700 });
    const cached = classic.issueClassicJwt({ lifetimeSeconds: 3600 });
    jwts.push(cached);
    writeFileSync(join(stand.dir, `${new URL(classic.appUrl).host.replace(/[^a-zA-Z0-9.-]/g, '_')}-token`), cached, { mode: 0o600 });
    const server = await startServer(stand);
    classic.clearLog();
    assertContent(await server.call('access_fetch', { url: `${classic.appUrl}/` }));
    assert.equal(lastJwtSent(classic), cached);
    assert.equal(stand.logins(), 0);
  });

  it('drops a token the app refuses (302 to the login page) and logs in exactly once more', async () => {
    const stand = standIn();
    mkdirSync(stand.dir, { recursive: true, mode: 0o700 });
    // A well-formed, unexpired JWT naming this app whose signature the app rejects: cloudflared hands it out, the app refuses it.
    // (A token for another application is never sent at all: see cloudflared-spoof.test.ts.)
    const valid = classic.issueClassicJwt({ lifetimeSeconds: 3600 });
    const wrong = `${valid.slice(0, valid.lastIndexOf('.') + 1)}${Buffer.from('not the signature').toString('base64url')}`;
    jwts.push(valid, wrong);
    writeFileSync(join(stand.dir, `${new URL(classic.appUrl).host.replace(/[^a-zA-Z0-9.-]/g, '_')}-token`), wrong, { mode: 0o600 });
    const server = await startServer(stand);
    classic.clearLog();
    const result = await server.call('access_fetch', { url: `${classic.appUrl}/` });
    assertContent(result);
    assert.notEqual(lastJwtSent(classic), wrong);
    assert.ok(classic.requests({ origin: 'app' }).some((e) => e.headers['cf-access-token'] === wrong), 'the cached token was tried and refused');
    assert.equal(stand.logins(), 1);
    assert.equal(stand.lines().filter((l) => /^token https?:/.test(l)).length, 1, `the refused cached token is not asked for again: ${stand.lines().join(" | ")}`);
    collectJwts(stand);
  });

  it('logs in exactly once more when the JWT has expired', async () => {
    const stand = standIn();
    const server = await startServer(stand);
    classic.options.jwtLifetimeSeconds = 8; // long enough to outlast a login on a loaded machine, short enough to wait for
    let first: string;
    try {
      assertContent(await server.call('access_fetch', { url: `${classic.appUrl}/` }));
      first = lastJwtSent(classic);
    } finally {
      classic.options.jwtLifetimeSeconds = 3600;
    }
    assert.equal(stand.logins(), 1);
    await eventually(() => !classic.isTokenActive(first), 30_000, 'the short JWT to expire');

    classic.clearLog();
    const result = await server.call('access_fetch', { url: `${classic.appUrl}/` });
    assertContent(result);
    assert.notEqual(lastJwtSent(classic), first);
    assert.equal(stand.logins(), 2, 'exactly one new login');
    assert.ok(stand.lines().includes('token expired'), 'cloudflared access token reported no valid token first');
    collectJwts(stand);
  });

  it('returns a pending result while cloudflared waits for the browser, and the next call picks the login up', async () => {
    const gateDir = tempHome('cfam-gate-');
    const gate = join(gateDir, 'open');
    const stand = standIn({ TEST_CLOUDFLARED_GATE: gate });
    const server = await startServer(stand);

    const pending = await server.call('access_fetch', { url: `${classic.appUrl}/`, wait_seconds: 0 });
    assert.notEqual(pending.isError, true, 'a pending login is an expected step, not a failure');
    assert.match(textOf(pending), /^Login pending: .* through cloudflared/);

    const login = await server.call('access_login', { url: `${classic.appUrl}/`, wait_seconds: 0 });
    assert.notEqual(login.isError, true, textOf(login));
    assert.equal(structured(login).status, 'pending');
    assert.equal(structured(login).method, 'cloudflared');
    assert.equal(structured(pending).status, 'pending', 'the fetch reports the same pending shape');
    const status = await server.call('access_status', { url: `${classic.appUrl}/` });
    assert.equal((structured(status).sessions as Array<{ state: string }>)[0]!.state, 'pending');

    writeFileSync(gate, '');
    const done = await server.call('access_fetch', { url: `${classic.appUrl}/`, wait_seconds: 30 });
    assertContent(done);
    assert.equal(stand.logins(), 1, 'one cloudflared login served all three calls');
    collectJwts(stand);
  });

  it('reports a failed cloudflared login plainly', async () => {
    const stand = standIn({ TEST_CLOUDFLARED_ACTION: 'fail' });
    const server = await startServer(stand);
    const result = await server.call('access_login', { url: `${classic.appUrl}/`, method: 'cloudflared' });
    assert.equal(result.isError, true);
    assert.match(textOf(result), /cloudflared access login .* failed \(exit 1\): failed to log in/);
    assert.match(textOf(result), /Next step:/);
  });

  it('names how to install cloudflared, and the service-token alternative, when it is missing', async () => {
    const stand = standIn();
    const server = await startServer(stand, { CF_ACCESS_MCP_CLOUDFLARED: join(tempHome('cfam-nocf-'), 'missing', 'cloudflared') });
    const result = await server.call('access_fetch', { url: `${classic.appUrl}/` });
    assert.equal(result.isError, true);
    const text = textOf(result);
    assert.match(text, /does not exist/);
    assert.match(text, /brew install cloudflared/);
    assert.match(text, /CF_ACCESS_CLIENT_ID/);
    assert.equal(stand.lines().length, 0);

    const stillUp = await server.call('access_status', {});
    assert.notEqual(stillUp.isError, true);
  });
});

describe('access_status reports what each URL offers', () => {
  let managed: Emulator;
  let serviceOnly: Emulator;
  before(async () => {
    managed = await startEmulator({ mode: 'managed' });
    serviceOnly = await startEmulator({ mode: 'service-auth-only' });
  });
  after(async () => {
    await managed.close();
    await serviceOnly.close();
  });

  it('managed OAuth, classic, service auth only and unprotected', async () => {
    const server = await startServer(standIn());
    const offerOf = async (url: string) => {
      const result = await server.call('access_status', { url });
      assert.notEqual(result.isError, true, textOf(result));
      return structured(result).probe as { offer: string; method?: string; protected: boolean; detail: string };
    };
    const m = await offerOf(`${managed.appUrl}/`);
    assert.equal(m.offer, 'managed_oauth');
    assert.equal(m.method, 'oauth');
    const c = await offerOf(`${classic.appUrl}/`);
    assert.equal(c.offer, 'classic');
    assert.equal(c.method, 'cloudflared');
    assert.match(c.detail, /lists no oauth method/);
    const s = await offerOf(`${serviceOnly.appUrl}/`);
    assert.equal(s.offer, 'service_auth_only');
    const p = await offerOf(`${classic.plainUrl}/`);
    assert.equal(p.offer, 'none');
    assert.equal(p.protected, false);
    assert.deepEqual(server.browserOpens(), []);
  });
});
