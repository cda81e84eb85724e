import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Emulator } from '../../src/emulator/index.js';
import { resultData, tempHome, TestServer, textOf } from '../helpers/harness.js';
import { assertContent, e2eSuite } from '../helpers/suite.js';

/**
 * Issue 13 items 1, 2, 7: real Access applications allow only one loopback
 * redirect form, may refuse the refresh grant at registration, and with a
 * grant session duration of 0 issue no refresh token. Built server over stdio
 * against the emulator.
 */

const suite = e2eSuite();
const { secrets, emulator: emulatorWith } = suite;

const serverOn = (home: string, env: Record<string, string> = {}) => suite.server({ home, env });

function fetchPage(server: TestServer, url: string, wait = 30): Promise<CallToolResult> {
  return server.call('access_fetch', { url: `${url}/`, wait_seconds: wait });
}

/** Registration answers in order, e.g. [400, 201]. */
function registrations(e: Emulator): number[] {
  return e.requests({ endpoint: 'registration' }).map((r) => r.status);
}

function registeredHosts(e: Emulator): string[] {
  return e.clients().map((c) => new URL(c.redirect_uris[0]!).hostname);
}

function storedSession(home: string, origin: string): Record<string, unknown> | undefined {
  const data = JSON.parse(readFileSync(join(home, 'store.json'), 'utf8')) as { sessions: Record<string, Record<string, unknown>> };
  const session = data.sessions[origin];
  for (const name of ['access_token', 'refresh_token']) if (typeof session?.[name] === 'string') secrets.add(session[name] as string);
  return session;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const only of ['127.0.0.1', 'localhost'] as const) {
  describe(`an application that allows only ${only} redirect URIs`, () => {
    it('a cold fetch succeeds with at most one extra registration, and the next process uses the remembered form at once', async () => {
      const e = await emulatorWith({ redirectHosts: only });
      const home = tempHome();
      const first = await serverOn(home);
      assertContent(await fetchPage(first, e.appUrl));
      const refused = registrations(e).filter((status) => status === 400).length;
      assert.ok(refused <= 1, `at most one refused registration, got ${JSON.stringify(registrations(e))}`);
      assert.equal(registrations(e).filter((status) => status === 201).length, 1);
      assert.equal(first.browserOpens().length, 1);
      await first.close();

      // A new process (callback port 0: a new port, so a new registration) on the same store, after the session is gone.
      const data = JSON.parse(readFileSync(join(home, 'store.json'), 'utf8')) as { callback_hosts: Record<string, string> };
      assert.deepEqual(Object.values(data.callback_hosts), [only], 'the working form is remembered per team');
      e.clearLog();
      const second = await serverOn(home);
      assertContent(await second.call('access_login', { url: e.app2Url, wait_seconds: 30 }).then(() => fetchPage(second, e.app2Url)));
      assert.deepEqual(registrations(e), [201], 'the remembered form is registered first: nothing refused');
      assert.ok(registeredHosts(e).every((host) => host === only), JSON.stringify(registeredHosts(e)));
    });
  });
}

describe('the pending text with only 127.0.0.1 allowed', () => {
  it('names the 127.0.0.1 callback address the browser will end on', async () => {
    const e = await emulatorWith({ redirectHosts: '127.0.0.1' });
    const server = await suite.server({ home: tempHome(), browser: 'none' });
    const pending = await fetchPage(server, e.appUrl, 0);
    assert.equal(resultData(pending).status, 'pending', textOf(pending));
    assert.match(textOf(pending), /starting with http:\/\/127\.0\.0\.1:\d+\/callback/);
    assert.match(String(resultData(pending).login_url), /redirect_uri=http%3A%2F%2F127\.0\.0\.1/);
  });
});

describe('CF_ACCESS_MCP_CALLBACK_HOST', () => {
  it('127.0.0.1 registers that form first', async () => {
    const e = await emulatorWith({});
    const server = await serverOn(tempHome(), { CF_ACCESS_MCP_CALLBACK_HOST: '127.0.0.1' });
    assertContent(await fetchPage(server, e.appUrl));
    assert.deepEqual(registrations(e), [201]);
    assert.deepEqual(registeredHosts(e), ['127.0.0.1']);
  });

  it('a bad value is reported and the default order used', async () => {
    const e = await emulatorWith({ redirectHosts: '127.0.0.1' });
    const server = await serverOn(tempHome(), { CF_ACCESS_MCP_CALLBACK_HOST: 'example.com' });
    assertContent(await fetchPage(server, e.appUrl));
    assert.deepEqual(registrations(e), [400, 201], 'localhost first (refused), then 127.0.0.1');
    assert.ok(server.stderr.join('').includes('CF_ACCESS_MCP_CALLBACK_HOST'), 'the bad value is reported');
  });

  it('forcing a form the application refuses fails with a clear next step, and the server stays up', async () => {
    const e = await emulatorWith({ redirectHosts: 'localhost' });
    const server = await serverOn(tempHome(), { CF_ACCESS_MCP_CALLBACK_HOST: '127.0.0.1' });
    const result = await fetchPage(server, e.appUrl, 5);
    assert.equal(result.isError, true, textOf(result));
    assert.match(textOf(result), /CF_ACCESS_MCP_CALLBACK_HOST/);
    assert.deepEqual(registrations(e), [400], 'no other form tried when one is forced');
    const status = await server.call('access_status', {});
    assert.notEqual(status.isError, true);
  });
});

describe('grants', () => {
  it('strict grants, 2-second tokens: ten fetches over ten seconds open one browser (refresh_token was registered)', async () => {
    const e = await emulatorWith({ strictGrants: true, tokenLifetimeSeconds: 2 });
    const server = await serverOn(tempHome(), { CF_ACCESS_MCP_REFRESH_SKEW: '1' });
    for (let i = 0; i < 10; i++) {
      assertContent(await fetchPage(server, e.appUrl));
      await sleep(1_000);
    }
    assert.equal(server.browserOpens().length, 1, 'one browser');
    assert.ok(e.requests({ endpoint: 'token' }).filter((r) => r.status === 200).length >= 3, 'refreshes happened');
    assert.equal(e.requests({ endpoint: 'token' }).filter((r) => r.status !== 200).length, 0, 'no refresh refused');
  });

  it('an application that refuses the refresh grant at registration: code grant alone, and status says refresh may not work', async () => {
    const e = await emulatorWith({ registrableGrants: ['authorization_code'] });
    const home = tempHome();
    const server = await serverOn(home);
    assertContent(await fetchPage(server, e.appUrl));
    assert.deepEqual(registrations(e), [400, 201]);
    const status = await server.call('access_status', {});
    assert.match(textOf(status), /refresh may not work/);
  });

  it('no refresh token (grant session 0): access_status and the next login say why', async () => {
    const e = await emulatorWith({ issueRefreshTokens: false, tokenLifetimeSeconds: 120 });
    const home = tempHome();
    const server = await serverOn(home);
    assertContent(await fetchPage(server, e.appUrl));
    assert.equal(storedSession(home, e.appUrl)?.refresh_token, undefined);
    const status = await server.call('access_status', {});
    const expected = 'this application issues no refresh token — its grant session duration is 0; you will sign in again every 2 minutes';
    assert.ok(textOf(status).includes(expected), textOf(status));

    e.expireAccessTokens();
    await server.close();
    // The stored token ran out: a new process sees an expired session without a refresh token.
    const data = JSON.parse(readFileSync(join(home, 'store.json'), 'utf8')) as { sessions: Record<string, { expires_at: number; obtained_at: number }> };
    const session = data.sessions[e.appUrl]!;
    session.expires_at = Date.now() - 1_000;
    session.obtained_at = session.expires_at - 120_000;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(home, 'store.json'), JSON.stringify(data), { mode: 0o600 });
    const next = await suite.server({ home, browser: 'ignore' });
    const pending = await fetchPage(next, e.appUrl, 0);
    assert.equal(resultData(pending).status, 'pending', textOf(pending));
    assert.ok(textOf(pending).includes(expected), textOf(pending));
  });
});
