import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Emulator } from '../../src/emulator/index.js';
import { eventually, tempHome, TestServer, textOf, type ServerOptions, processGone } from '../helpers/harness.js';
import { assertContent, e2eSuite } from '../helpers/suite.js';

/**
 * Issue 3, "Done when" (concurrency): one login per host in a process and
 * across server processes sharing one store, refresh serialised across
 * processes with rotating refresh tokens, and a SIGKILLed login holder that
 * blocks nothing.
 */

const suite = e2eSuite();
const { emulator: emulatorWith } = suite;

const serverOn = (home: string, options: Omit<ServerOptions, 'home'> = {}) => suite.server({ ...options, home });

function count(e: Emulator, endpoint: string): number {
  return e.requests({ endpoint }).length;
}

interface StoreFile {
  sessions: Record<string, { access_token: string; refresh_token?: string }>;
  logins?: Record<string, { state: string; authorization_url?: string; pid: number }>;
}

/**
 * What the user's browser (the one the holder opened, with the cookies it keeps in `jarFile`) does after signing in:
 * the authorization endpoint sends it to our callback, which it loads with the start cookie.
 */
async function finishSignIn(authorizationUrl: string, jarFile: string): Promise<void> {
  const response = await fetch(authorizationUrl, { redirect: 'manual' });
  await response.arrayBuffer();
  const callback = response.headers.get('location');
  assert.ok(callback && /\/callback\?/.test(callback), `redirected to the callback (got ${response.status})`);
  // No jar when the holder died before its browser loaded the start address (then no cookie is required either).
  const jar = (existsSync(jarFile) ? JSON.parse(readFileSync(jarFile, 'utf8')) : []) as Array<[string, Array<{ name: string; value: string }>]>;
  const cookie = jar.flatMap(([, cookies]) => cookies).map((c) => `${c.name}=${c.value}`).join('; ');
  await eventually(async () => (await fetch(callback, { headers: { cookie } }).catch(() => undefined))?.status === 200, 20_000, 'a process to answer the callback');
}

const readStore = (home: string) => suite.readStore<StoreFile>(home);

function fetchPage(server: TestServer, url: string, waitSeconds = 30): Promise<CallToolResult> {
  return server.call('access_fetch', { url: `${url}/`, wait_seconds: waitSeconds });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const waitForExit = (server: TestServer) => processGone(server.pid!, 'the killed server to exit');

describe('one login per host', () => {
  it('50 concurrent fetches on a cold host in one process: 1 browser, 1 registration, 1 code exchange, 50 contents', async () => {
    const e = await emulatorWith();
    const server = await serverOn(tempHome());
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => server.call('access_fetch', { url: `${e.appUrl}/?n=${i}`, wait_seconds: 60 })));
    for (const result of results) assertContent(result);
    assert.equal(server.browserOpens().length, 1);
    assert.equal(count(e, 'registration'), 1);
    assert.equal(count(e, 'authorize'), 1);
    assert.equal(count(e, 'token'), 1);
  });

  it('2 server processes on one store, cold host, fetching at once: 1 browser, both get content', async () => {
    const e = await emulatorWith();
    const home = tempHome();
    const [a, b] = await Promise.all([serverOn(home), serverOn(home)]);
    const results = await Promise.all([fetchPage(a!, e.appUrl), fetchPage(b!, e.appUrl)]);
    for (const result of results) assertContent(result);
    assert.equal(a!.browserOpens().length + b!.browserOpens().length, 1, 'one browser for both processes');
    assert.equal(count(e, 'authorize'), 1);
    assert.equal(count(e, 'token'), 1, 'one code exchange');
    assert.deepEqual(readStore(home).logins ?? {}, {}, 'the finished login left no record behind');
  });

  it('with rotating refresh tokens, 2 processes refreshing at once both keep working', async () => {
    const e = await emulatorWith({ rotateRefreshTokens: true, tokenLifetimeSeconds: 3 });
    const home = tempHome();
    const env = { CF_ACCESS_MCP_REFRESH_SKEW: '1' };
    const a = await serverOn(home, { env });
    assertContent(await fetchPage(a, e.appUrl));
    const b = await serverOn(home, { env });

    for (let round = 1; round <= 2; round++) {
      const before = readStore(home).sessions[e.appUrl]!;
      await sleep(4_000); // past expiry: every fetch below must refresh first
      e.clearLog();
      const results = await Promise.all([
        ...Array.from({ length: 5 }, () => fetchPage(a, e.appUrl)),
        ...Array.from({ length: 5 }, () => fetchPage(b, e.appUrl)),
      ]);
      for (const result of results) assertContent(result);
      assert.equal(count(e, 'token'), 1, `round ${round}: one refresh for 10 fetches in 2 processes`);
      assert.equal(count(e, 'authorize'), 0, `round ${round}: no login`);
      const afterRound = readStore(home).sessions[e.appUrl]!;
      assert.notEqual(afterRound.refresh_token, before.refresh_token, 'the rotated refresh token was kept');
      assert.equal(e.isTokenActive(before.refresh_token!), false, 'rotation invalidated the old one');
      assert.equal(e.isTokenActive(afterRound.refresh_token!), true);
    }
    assert.equal(a.browserOpens().length + b.browserOpens().length, 1);
  });
});

describe('a login run by another process', () => {
  it('is shown with the same URL instead of a second browser, and taken over when its process is SIGKILLed', async () => {
    const e = await emulatorWith();
    const home = tempHome();
    const holder = await serverOn(home, { browser: 'ignore' }); // the user never finishes here
    const started = await holder.call('access_login', { url: e.appUrl, wait_seconds: 0 });
    const loginUrl = (started.structuredContent as { status: string; login_url: string }).login_url;
    assert.equal((started.structuredContent as { status: string }).status, 'pending', textOf(started));

    const raw = readFileSync(join(home, 'store.json'), 'utf8');
    const record = readStore(home).logins?.[e.appUrl];
    assert.equal(record?.state, 'pending');
    assert.equal(record?.authorization_url, loginUrl);
    assert.equal(record?.pid, holder.pid);
    // Issue 13: the verifier is kept (0600) so that another process can finish this login, but never in the record other processes show.
    assert.ok(!JSON.stringify(record).includes('verifier'), 'no code verifier in the shared login record');
    assert.ok(/"pending_logins"[\s\S]*"verifier"/.test(raw), 'the resumable login is in the store');

    const waiter = await serverOn(home);
    const pending = await fetchPage(waiter, e.appUrl, 1);
    assert.notEqual(pending.isError, true, 'a pending login is not an error');
    assert.match(textOf(pending), /^Login pending: /);
    assert.ok(textOf(pending).includes(loginUrl), `the other process's URL is shown: ${textOf(pending)}`);
    const status = await waiter.call('access_status', { url: e.appUrl });
    assert.equal((status.structuredContent as { sessions: Array<{ state: string; login_url?: string }> }).sessions[0]?.login_url, loginUrl);
    assert.equal(waiter.browserOpens().length, 0, 'no second browser');
    assert.equal(count(e, 'authorize'), 0, 'nobody finished the login yet');

    process.kill(holder.pid!, 'SIGKILL');
    await waitForExit(holder);
    // The waiting process notices the dead holder and takes its login over (issue 13): no second browser,
    // the user finishes the sign-in they already have open, and the waiting process answers the callback.
    await eventually(() => waiter.stderr.join('').includes('Took over the pending login'), 20_000, 'the waiting process to take the login over');
    await finishSignIn(loginUrl, holder.browserJar);
    await eventually(() => readStore(home).sessions[e.appUrl], 20_000, 'the session');
    assertContent(await fetchPage(waiter, e.appUrl));
    assert.equal(waiter.browserOpens().length, 0, 'no second browser');
  });

  it('a SIGKILLed holder leaves nothing that blocks a new process', async () => {
    const e = await emulatorWith();
    const home = tempHome();
    const holder = await serverOn(home, { browser: 'ignore' });
    const started = await holder.call('access_login', { url: e.appUrl, wait_seconds: 0 });
    assert.equal((started.structuredContent as { status: string }).status, 'pending', textOf(started));
    const loginUrl = (started.structuredContent as { login_url: string }).login_url;
    process.kill(holder.pid!, 'SIGKILL');
    await waitForExit(holder);

    const next = await serverOn(home);
    const pending = await fetchPage(next, e.appUrl, 0);
    assert.match(textOf(pending), /^Login pending: /);
    assert.ok(textOf(pending).includes(loginUrl), 'the login taken over, with its link');
    assert.ok(next.stderr.join('').includes('is gone; taking over'), 'taken over because the pid is gone, not after the lock went stale');
    await finishSignIn(loginUrl, holder.browserJar);
    assertContent(await fetchPage(next, e.appUrl));
    assert.equal(next.browserOpens().length, 0, 'the sign-in already open is finished: no second browser');
    assert.deepEqual(readStore(home).logins ?? {}, {});
  });

  it('a login denied in the other process is reported to the waiting one, with no second browser', async () => {
    const e = await emulatorWith({ approval: 'interactive' });
    const home = tempHome();
    const [holder, waiter] = await Promise.all([serverOn(home, { browser: 'deny', env: { TEST_BROWSER_DELAY_MS: '2000' } }), serverOn(home)]);
    const started = await holder!.call('access_login', { url: e.appUrl, wait_seconds: 0 });
    assert.equal((started.structuredContent as { status: string }).status, 'pending', textOf(started));
    const result = await fetchPage(waiter!, e.appUrl, 20);
    assert.equal(result.isError, true, textOf(result));
    assert.match(textOf(result), /another cf-access-mcp process, failed: .*denied/);
    assert.equal(waiter!.browserOpens().length, 0);
  });
});
