import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Emulator } from '../../src/emulator/index.js';
import { tempHome, TestServer, textOf, type ServerOptions } from '../helpers/harness.js';
import { assertContent, e2eSuite } from '../helpers/suite.js';

/**
 * Issue 3, "Done when" (one process): refresh before expiry, a dead refresh
 * token, logout with RFC 7009 revocation, a stale registration — through the
 * built server over stdio against the emulator.
 */

const suite = e2eSuite();
const { emulator: emulatorWith } = suite;

const serverOn = (home: string, options: Omit<ServerOptions, 'home'> = {}) => suite.server({ ...options, home });

function count(e: Emulator, endpoint: string): number {
  return e.requests({ endpoint }).length;
}

interface StoredTokens {
  access_token: string;
  refresh_token?: string;
  expires_at?: number;
}

/** The tokens the server stored for an origin (read from its store file, as another process would). */
const storedTokens = (home: string, origin: string) => suite.readStore<{ sessions: Record<string, StoredTokens> }>(home).sessions[origin];

async function fetchPage(server: TestServer, url: string): Promise<CallToolResult> {
  return server.call('access_fetch', { url: `${url}/`, wait_seconds: 30 });
}

/**
 * A free loopback port for the callback listener. Registrations are kept per
 * redirect URI, so tests about reusing one need the same port for every login
 * (the harness default, port 0, gives each login a new one).
 */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

async function fixedPortEnv(): Promise<Record<string, string>> {
  return { CF_ACCESS_MCP_CALLBACK_PORT: String(await freePort()) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('token lifetime and refresh', () => {
  it('refreshes an expired token before use: no browser, no 401', async () => {
    const e = await emulatorWith({ tokenLifetimeSeconds: 3 });
    const home = tempHome();
    const server = await serverOn(home, { env: { CF_ACCESS_MCP_REFRESH_SKEW: '1' } });

    assertContent(await fetchPage(server, e.appUrl));
    assert.equal(server.browserOpens().length, 1);
    assert.equal(count(e, 'token'), 1, 'only the code exchange so far: 3 s left is more than the 1 s skew');
    const first = storedTokens(home, e.appUrl)!;

    await sleep(4_000);
    e.clearLog();
    assertContent(await fetchPage(server, e.appUrl));
    assert.equal(server.browserOpens().length, 1, 'no new browser login');
    assert.equal(count(e, 'token'), 1, 'one refresh');
    assert.equal(count(e, 'authorize'), 0);
    const resourceStatuses = e.requests({ endpoint: 'resource' }).map((r) => r.status);
    assert.deepEqual(resourceStatuses, [200], 'the refreshed token was sent at once: the origin never answered 401');
    const second = storedTokens(home, e.appUrl)!;
    assert.notEqual(second.access_token, first.access_token);
    assert.equal(second.refresh_token, first.refresh_token, 'no rotation: the old refresh token is kept');
    assert.ok(second.expires_at! > Date.now(), 'expires_at is stored as a time, from expires_in');
  });

  it('makes no refresh with 40 s left under a 30 s skew, and refreshes the same token under the 60 s default', async () => {
    const e = await emulatorWith({ tokenLifetimeSeconds: 40 });
    const home = tempHome();
    const relaxed = await serverOn(home, { env: { CF_ACCESS_MCP_REFRESH_SKEW: '30' } });
    assertContent(await fetchPage(relaxed, e.appUrl));
    const before = storedTokens(home, e.appUrl)!;
    e.clearLog();
    assertContent(await fetchPage(relaxed, e.appUrl));
    assert.equal(count(e, 'token'), 0, 'no refresh with ~40 s left and a 30 s skew');
    assert.equal(storedTokens(home, e.appUrl)!.access_token, before.access_token);

    // The same session, seen by a server with the default skew (60 s): 40 s left is too little.
    const strict = await serverOn(home);
    e.clearLog();
    assertContent(await fetchPage(strict, e.appUrl));
    assert.equal(count(e, 'token'), 1, 'one refresh with ~40 s left and the 60 s default skew');
    assert.equal(strict.browserOpens().length, 0);
    assert.notEqual(storedTokens(home, e.appUrl)!.access_token, before.access_token);
  });

  it('a revoked refresh token gives exactly one new browser login, then content', async () => {
    const e = await emulatorWith();
    const home = tempHome();
    const server = await serverOn(home, { env: await fixedPortEnv() });
    assertContent(await fetchPage(server, e.appUrl));
    const old = storedTokens(home, e.appUrl)!;

    e.revokeRefreshTokens();
    e.expireAccessTokens(); // the origin now refuses the token our clock still trusts: 401 → refresh → invalid_grant
    e.clearLog();
    const result = await fetchPage(server, e.appUrl);
    assertContent(result);
    assert.equal(server.browserOpens().length, 2, 'exactly one new browser login');
    assert.equal(count(e, 'authorize'), 1);
    assert.equal(count(e, 'registration'), 0, 'the registration is reused');
    assert.equal(count(e, 'token'), 2, 'the failed refresh and one code exchange');
    assert.notEqual(storedTokens(home, e.appUrl)!.refresh_token, old.refresh_token);

    // And when our clock says it is time to refresh (30 s left, 60 s skew): same outcome, one login.
    e.options.tokenLifetimeSeconds = 30;
    const forced = await server.call('access_login', { url: e.appUrl, force: true, wait_seconds: 30 });
    assert.equal((forced.structuredContent as { status: string }).status, 'authenticated', textOf(forced));
    assert.equal(server.browserOpens().length, 3);
    e.revokeRefreshTokens();
    e.options.tokenLifetimeSeconds = 900;
    e.clearLog();
    assertContent(await fetchPage(server, e.appUrl));
    const flow = e.log.filter((r) => ['token', 'probe', 'authorize', 'resource'].includes(r.endpoint)).map((r) => `${r.endpoint} ${r.status}`);
    assert.deepEqual(flow, ['token 400', 'probe 401', 'authorize 302', 'token 200', 'resource 200'], 'the refresh failed before use, so no stale token was sent; one login');
    assert.equal(server.browserOpens().length, 4, 'one more login, no loop');
  });
});

describe('logout', () => {
  it('revokes at the revocation endpoint, and the old tokens are refused afterwards; all: true does every host', async () => {
    const e = await emulatorWith();
    const home = tempHome();
    const server = await serverOn(home);
    assertContent(await fetchPage(server, e.appUrl));
    assertContent(await fetchPage(server, e.app2Url));
    const app = storedTokens(home, e.appUrl)!;
    const app2 = storedTokens(home, e.app2Url)!;

    const one = await server.call('access_logout', { url: `${e.appUrl}/anything` });
    assert.notEqual(one.isError, true, textOf(one));
    assert.deepEqual(
      (one.structuredContent as { logged_out: Array<{ revoked: boolean }> }).logged_out.map((r) => r.revoked),
      [true],
    );
    assert.deepEqual(e.revocations.map((r) => r.kind).sort(), ['access', 'refresh']);
    assert.equal(e.isTokenActive(app.access_token), false);
    assert.equal(e.isTokenActive(app.refresh_token!), false);
    const direct = await fetch(`${e.appUrl}/`, { headers: { authorization: `Bearer ${app.access_token}` }, redirect: 'manual' });
    assert.equal(direct.status, 401, 'the origin refuses the old access token');
    assert.equal(storedTokens(home, e.appUrl), undefined, 'deleted locally');
    assert.equal(e.isTokenActive(app2.access_token), true, 'the other host is untouched');

    const all = await server.call('access_logout', { all: true });
    assert.notEqual(all.isError, true, textOf(all));
    assert.equal(e.revocations.length, 4);
    assert.equal(e.isTokenActive(app2.access_token), false);
    assert.equal(e.isTokenActive(app2.refresh_token!), false);
    assert.equal(storedTokens(home, e.app2Url), undefined);

    // Logged out means the next fetch logs in again.
    assertContent(await fetchPage(server, e.appUrl));
    assert.equal(server.browserOpens().length, 3);
  });

  it('deletes locally and says so when the revocation fails', async () => {
    const e = await emulatorWith();
    const home = tempHome();
    const server = await serverOn(home);
    assertContent(await fetchPage(server, e.appUrl));
    storedTokens(home, e.appUrl);
    e.setFault({ endpoint: 'revoke', kind: '5xx' });
    const result = await server.call('access_logout', { url: e.appUrl });
    assert.notEqual(result.isError, true, textOf(result));
    const [entry] = (result.structuredContent as { logged_out: Array<{ revoked: boolean; detail: string }> }).logged_out;
    assert.equal(entry!.revoked, false);
    assert.match(entry!.detail, /deleted locally/);
    assert.equal(storedTokens(home, e.appUrl), undefined);
  });
});

describe('registrations', () => {
  it('a stale registration is replaced once at the authorize step, and the login completes', async () => {
    const e = await emulatorWith({ unknownClientAtAuthorize: 'redirect' });
    const home = tempHome();
    const server = await serverOn(home, { env: await fixedPortEnv() });
    assertContent(await fetchPage(server, e.appUrl));
    assert.equal(count(e, 'registration'), 1);

    e.forgetRegistrations();
    // Registering again slower than the callback listener's close-when-idle (200 ms after a callback): the retry
    // must keep the listener it registers with (on a loaded machine this happened by chance, and it stayed pending).
    e.setFault({ endpoint: 'registration', kind: 'delay', delayMs: 1_000 });
    const login = await server.call('access_login', { url: e.appUrl, force: true, wait_seconds: 30 });
    assert.notEqual(login.isError, true, textOf(login));
    assert.equal((login.structuredContent as { status: string }).status, 'authenticated', textOf(login));
    assert.equal(count(e, 'registration'), 2, 'exactly one new registration');
    const lines = server.browserLines().filter((l) => l.startsWith('callback'));
    assert.equal(lines.length, 3, 'first login, the invalid_client callback, the retried login');
    assertContent(await fetchPage(server, e.appUrl));
    assert.equal(count(e, 'registration'), 2);
  });

  it('a registration refused at the token step (refresh) is dropped, and one login registers anew', async () => {
    const e = await emulatorWith();
    const home = tempHome();
    const server = await serverOn(home, { env: await fixedPortEnv() });
    assertContent(await fetchPage(server, e.appUrl));

    e.forgetRegistrations();
    e.expireAccessTokens();
    e.clearLog();
    assertContent(await fetchPage(server, e.appUrl));
    assert.equal(count(e, 'registration'), 1, 'registered again before the browser opened');
    assert.equal(count(e, 'authorize'), 1, 'one browser login');
    assert.equal(server.browserOpens().length, 2);
  });
});
