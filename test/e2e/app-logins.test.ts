import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { BROWSER_SCRIPT, eventually, resultData, ROOT, tempHome, TestServer, textOf, trustedTeamsEnv } from '../helpers/harness.js';
import { runCliText } from '../helpers/cli-run.js';
import { e2eSuite } from '../helpers/suite.js';

/**
 * Issue 12, the rest of it, through the built server over stdio against the
 * emulator: cloudflared sessions per Access application (not per host), a
 * failed login holding back the next browser like a denied one, a refusal
 * right after a successful login, and the agent's own Authorization reaching
 * an application reached through cloudflared.
 */

const CLOUDFLARED = resolve(ROOT, 'test', 'fixtures', 'cloudflared.mjs');
const suite = e2eSuite({ pathApps: ['/admin'] });
const { secrets, emulator: emulatorWith } = suite;

/** A server whose cloudflared is the stand-in, with its own token cache and invocation log. */
async function serverWithCloudflared(home = tempHome(), env: Record<string, string> = {}): Promise<{ server: TestServer; cloudflaredLogins: () => number; cacheDir: string }> {
  const base = tempHome('cfam-cloudflared-');
  const log = join(base, 'cloudflared.log');
  const cacheDir = join(base, 'cache');
  const server = await suite.server({
    home,
    env: { CF_ACCESS_MCP_CLOUDFLARED: CLOUDFLARED, TEST_CLOUDFLARED_LOG: log, TEST_CLOUDFLARED_DIR: cacheDir, ...env },
  });
  const cloudflaredLogins = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => /^login https?:/.test(l)).length : 0);
  return { server, cloudflaredLogins, cacheDir };
}

interface StoreFile {
  sessions: Record<string, { access_token: string; refresh_token?: string; app?: string; origin: string; method: string }>;
  refusals?: Record<string, { kind?: string; message: string }>;
}

const storeOf = (home: string) => suite.readStore<StoreFile>(home);

function collectCache(dir: string): void {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) secrets.add(readFileSync(join(dir, name), 'utf8'));
}

describe('cloudflared sessions per application', () => {
  it('/ and /admin of one host are two applications: two cloudflared logins, two sessions, status lists both, logout of one keeps the other', async () => {
    const e = await emulatorWith({ mode: 'classic' });
    const { server, cloudflaredLogins, cacheDir } = await serverWithCloudflared();
    const urls = [`${e.appUrl}/`, `${e.appUrl}/admin/users`];
    for (let i = 0; i < 6; i++) {
      const before = e.log.length;
      const result = await server.call('access_fetch', { url: urls[i % 2], wait_seconds: 30 });
      assert.ok(!result.isError, textOf(result));
      assert.equal(resultData(result).auth, 'cloudflared');
      if (i >= 2) assert.equal(e.log.length - before, 1, `warm fetch ${i} of ${urls[i % 2]} took ${e.log.length - before} requests`);
    }
    assert.equal(cloudflaredLogins(), 2, 'one cloudflared login per application, none on switching');
    const store = storeOf(server.home);
    assert.deepEqual(Object.keys(store.sessions).sort(), [e.appUrl, `${e.appUrl}/admin`]);
    assert.ok(Object.values(store.sessions).every((s) => s.method === 'cloudflared'));

    const status = resultData(await server.call('access_status', {})).sessions as Array<{ application: string; state: string; method: string }>;
    const host = new URL(e.appUrl).host;
    assert.deepEqual(status.map((s) => [s.application, s.state, s.method]), [[host, 'authenticated', 'cloudflared'], [`${host}/admin`, 'authenticated', 'cloudflared']]);

    const out = await server.call('access_logout', { url: `${e.appUrl}/admin/users` });
    assert.match(textOf(out), /\/admin/);
    assert.deepEqual(Object.keys(storeOf(server.home).sessions), [e.appUrl]);
    const before = e.log.length;
    assert.ok(!(await server.call('access_fetch', { url: `${e.appUrl}/` })).isError);
    assert.equal(e.log.length - before, 1, 'the / session was kept');
    assert.equal(cloudflaredLogins(), 2);
    collectCache(cacheDir);
  });

  it('a store from before (a cloudflared session kept per host) keeps its session; /admin gets its own', async () => {
    const e = await emulatorWith({ mode: 'classic' });
    const home = tempHome();
    const first = await serverWithCloudflared(home);
    assert.ok(!(await first.server.call('access_fetch', { url: `${e.appUrl}/`, wait_seconds: 30 })).isError);
    await first.server.close();
    collectCache(first.cacheDir);
    // As an earlier version kept it: under the origin, without an application field.
    const data = storeOf(home);
    assert.deepEqual(Object.keys(data.sessions), [e.appUrl]);
    delete data.sessions[e.appUrl]!.app;
    writeFileSync(join(home, 'store.json'), JSON.stringify(data), { mode: 0o600 });

    const next = await serverWithCloudflared(home);
    const before = e.log.length;
    assert.ok(!(await next.server.call('access_fetch', { url: `${e.appUrl}/` })).isError);
    assert.equal(e.log.length - before, 1, 'the old session is used as it is');
    assert.ok(!(await next.server.call('access_fetch', { url: `${e.appUrl}/admin/x`, wait_seconds: 30 })).isError);
    assert.equal(next.cloudflaredLogins(), 1, 'one login, for /admin only');
    const sessions = storeOf(home).sessions;
    assert.deepEqual(Object.keys(sessions).sort(), [e.appUrl, `${e.appUrl}/admin`]);
    assert.equal(sessions[`${e.appUrl}/admin`]!.app, `${e.appUrl}/admin`);
    collectCache(next.cacheDir);
  });
});

describe("the agent's own Authorization with cloudflared", () => {
  it('reaches a classic application intact, beside the cloudflared token in cf-access-token', async () => {
    const e = await emulatorWith({ mode: 'classic' });
    const { server, cacheDir } = await serverWithCloudflared();
    const result = await server.call('access_fetch', { url: `${e.appUrl}/echo`, headers: { Authorization: 'Bearer agent-own-token' }, format: 'raw', wait_seconds: 30 });
    assert.ok(!result.isError, textOf(result));
    assert.equal(resultData(result).auth, 'cloudflared');
    const seen = e.requests({ origin: 'app', endpoint: 'resource' }).at(-1)!.headers;
    assert.equal(seen.authorization, 'Bearer agent-own-token');
    assert.ok(seen['cf-access-token'], 'the cloudflared token went in its own header');
    secrets.add(seen['cf-access-token']);
    assert.match(textOf(result), /Bearer agent-own-token/);
    collectCache(cacheDir);
  });

  it('reaches a managed-OAuth application once the user signed in with method cloudflared (the way the refusal names)', async () => {
    const e = await emulatorWith();
    const { server, cloudflaredLogins, cacheDir } = await serverWithCloudflared();
    const refused = await server.call('access_fetch', { url: `${e.appUrl}/echo`, headers: { Authorization: 'Bearer agent-own-token' } });
    assert.equal(refused.isError, true);
    assert.match(textOf(refused), /method: cloudflared/);
    const login = await server.call('access_login', { url: `${e.appUrl}/`, method: 'cloudflared', wait_seconds: 30 });
    assert.equal(resultData(login).status, 'authenticated', textOf(login));
    assert.equal(cloudflaredLogins(), 1);
    const result = await server.call('access_fetch', { url: `${e.appUrl}/echo`, headers: { Authorization: 'Bearer agent-own-token' }, format: 'raw' });
    assert.ok(!result.isError, textOf(result));
    const seen = e.requests({ origin: 'app', endpoint: 'resource' }).at(-1)!.headers;
    assert.equal(seen.authorization, 'Bearer agent-own-token');
    assert.ok(seen['cf-access-token']);
    secrets.add(seen['cf-access-token']);
    assert.equal(server.browserOpens().length, 0, 'no managed OAuth login');
    collectCache(cacheDir);
  });
});

describe('no login loops: failures and refusals right after success', () => {
  it('refused again right after a successful login (403 block page): one clear result, no second browser, on the next call too', async () => {
    const e = await emulatorWith({ denyRequests: ['/admin'] });
    const server = await suite.server();
    const first = await server.call('access_fetch', { url: `${e.appUrl}/admin/x`, wait_seconds: 30 });
    assert.equal(first.isError, true);
    assert.match(textOf(first), /Signed in, but the policy of the application .*\/admin does not admit this account: Access answered HTTP 403 \(ray id [0-9a-f]+\)/);
    assert.equal(server.browserOpens().length, 1);
    assert.equal(e.requests({ endpoint: 'token' }).length, 1, 'the login itself succeeded');

    const second = await server.call('access_fetch', { url: `${e.appUrl}/admin/x`, wait_seconds: 30 });
    assert.equal(second.isError, true);
    assert.match(textOf(second), /does not admit this account/);
    assert.equal(server.browserOpens().length, 1, 'no second browser');
    storeOf(server.home);
  });

  it('a failed token exchange holds back the next browser until forced; the result says why', async () => {
    const e = await emulatorWith();
    const server = await suite.server();
    e.setFault({ endpoint: 'token', kind: '5xx', times: 1 });
    const failed = await server.call('access_fetch', { url: `${e.appUrl}/`, wait_seconds: 30 });
    assert.equal(failed.isError, true);
    assert.match(textOf(failed), /The code exchange at \S+ failed/);
    assert.equal(server.browserOpens().length, 1);

    const held = await server.call('access_fetch', { url: `${e.appUrl}/`, wait_seconds: 30 });
    assert.equal(held.isError, true);
    assert.match(textOf(held), /No new browser login was started for .*: the last login to it failed at/);
    assert.match(textOf(held), /call access_login with url: \S+, force: true/);
    assert.equal(server.browserOpens().length, 1, 'no second browser');
    assert.equal(storeOf(server.home).refusals?.[e.appUrl]?.kind, 'failed');

    const forced = await server.call('access_login', { url: `${e.appUrl}/`, force: true, wait_seconds: 30 });
    assert.equal(resultData(forced).status, 'authenticated', textOf(forced));
    assert.equal(server.browserOpens().length, 2);
    assert.ok(!(await server.call('access_fetch', { url: `${e.appUrl}/` })).isError);
    storeOf(server.home);
  });

  it('an error sent back to the callback (authorization refused the request) holds back the next browser too', async () => {
    const e = await emulatorWith();
    const server = await suite.server();
    e.setFault({ endpoint: 'authorize', kind: 'resource_refused' });
    const failed = await server.call('access_fetch', { url: `${e.appUrl}/`, wait_seconds: 30 });
    assert.equal(failed.isError, true);
    assert.match(textOf(failed), /invalid_target/);
    e.setFault(null);
    const held = await server.call('access_login', { url: `${e.appUrl}/`, wait_seconds: 30 });
    assert.equal(held.isError, true);
    assert.match(textOf(held), /the last login to it failed/);
    assert.equal(server.browserOpens().length, 1);
  });

  it('a login the user did not finish in time holds nothing back: the next call opens the browser again', async () => {
    const e = await emulatorWith();
    const server = await suite.server({ browser: 'ignore', env: { CF_ACCESS_MCP_LOGIN_TIMEOUT: '2' } });
    // The call waits longer than the login lives: it ends with the login's timeout.
    const first = await server.call('access_login', { url: `${e.appUrl}/`, wait_seconds: 60 });
    assert.equal(first.isError, true, textOf(first));
    assert.match(textOf(first), /was not completed within 2 s/);
    assert.equal(server.browserOpens().length, 1);
    const again = await server.call('access_login', { url: `${e.appUrl}/`, wait_seconds: 0 });
    assert.doesNotMatch(textOf(again), /No new browser login/);
    assert.equal(resultData(again).status, 'pending', textOf(again));
    await eventually(() => server.browserOpens().length === 2, 20_000, 'the second browser to open');
  });
});

const cli = runCliText;

describe('the CLI: a refusal right after a successful login, and a deny URL', () => {
  it('cf-access-mcp fetch signs in once, then says plainly that the policy refuses the account; later runs open no browser', async () => {
    const e = await emulatorWith({ denyRequests: ['/admin'] });
    const home = tempHome();
    const browserLog = join(tempHome('cfam-cli-browser-'), 'browser.log');
    const env: NodeJS.ProcessEnv = { ...process.env, CF_ACCESS_MCP_HOME: home, CF_ACCESS_MCP_CALLBACK_PORT: '0', CF_ACCESS_MCP_BROWSER: `${process.execPath} ${BROWSER_SCRIPT}`, TEST_BROWSER_LOG: browserLog, ...trustedTeamsEnv() };
    const opened = () => (existsSync(browserLog) ? readFileSync(browserLog, 'utf8').split('\n').filter((l) => l.startsWith('argv ')).length : 0);

    const first = await cli(['fetch', `${e.appUrl}/admin/x`], env);
    assert.equal(first.code, 1, first.stderr);
    assert.match(first.stderr, /Signed in, but the policy of the application .*\/admin does not admit this account: Access answered HTTP 403 \(ray id [0-9a-f]+\)/);
    assert.match(first.stderr, /run `cf-access-mcp login http:\/\/[^`]+\/admin --force`/);
    assert.doesNotMatch(first.stderr + first.stdout, /access_(login|fetch|status|logout)|force: true/);
    assert.equal(opened(), 1, 'one browser login');

    e.options.denyUrl = 'https://deny.example.com/sorry';
    const second = await cli(['fetch', `${e.appUrl}/admin/x`], env);
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, /HTTP 302 to its deny page https:\/\/deny\.example\.com\/sorry/);
    assert.equal(opened(), 1, 'no second browser');
    storeOf(home);
  });
});
