import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BROWSER_SCRIPT, resultData, tempHome, TestServer, textOf, trustedTeamsEnv, type ServerOptions } from '../helpers/harness.js';
import { runCliText } from '../helpers/cli-run.js';
import { e2eSuite } from '../helpers/suite.js';

/**
 * Issue 12, "Done when": several Access applications on one host (`/` and
 * `/admin`), policy denials without login loops, the agent's own
 * Authorization header, and stores from before applications were told apart
 * — through the built server over stdio (and the CLI) against the emulator.
 */

const suite = e2eSuite({ pathApps: ['/admin'] });
const { emulator: emulatorWith } = suite;

const serverOn = (home = tempHome(), options: Omit<ServerOptions, 'home'> = {}) => suite.server({ ...options, home });

const storeOf = (home: string) =>
  suite.readStore<{ sessions: Record<string, { access_token: string; refresh_token?: string; app?: string; origin: string }>; registrations: Record<string, unknown>; refusals?: Record<string, unknown> }>(home);

const logins = (server: TestServer) => server.browserArgv().length;

describe('two Access applications on one host', () => {
  it('alternating 20 fetches between / and /admin: two browser logins, both sessions kept, one request per warm fetch', async () => {
    const e = await emulatorWith();
    const server = await serverOn();
    const urls = [`${e.appUrl}/`, `${e.appUrl}/admin/users`];
    for (let i = 0; i < 20; i++) {
      const before = e.log.length;
      const result = await server.call('access_fetch', { url: urls[i % 2], wait_seconds: 30 });
      assert.ok(!result.isError, textOf(result));
      if (i >= 2) assert.equal(e.log.length - before, 1, `warm fetch ${i} of ${urls[i % 2]} took ${e.log.length - before} requests`);
    }
    assert.equal(logins(server), 2);
    const store = storeOf(server.home);
    assert.deepEqual(Object.keys(store.sessions).sort(), [e.appUrl, `${e.appUrl}/admin`]);
    // Registrations are per team, application and redirect URI.
    assert.ok(Object.keys(store.registrations).some((k) => k.includes(` ${e.appUrl}/admin `)), Object.keys(store.registrations).join('; '));

    const status = await server.call('access_status', {});
    const sessions = resultData(status).sessions as Array<{ application: string; state: string; method: string; expires_at?: string }>;
    const host = new URL(e.appUrl).host;
    assert.deepEqual(sessions.map((s) => [s.application, s.state, s.method]), [[host, 'authenticated', 'oauth'], [`${host}/admin`, 'authenticated', 'oauth']]);
    assert.ok(sessions.every((s) => s.expires_at));

    const out = await server.call('access_logout', { url: `${e.appUrl}/admin/users` });
    assert.match(textOf(out), /\/admin/);
    assert.deepEqual(Object.keys(storeOf(server.home).sessions), [e.appUrl]);
    const before = e.log.length;
    assert.ok(!(await server.call('access_fetch', { url: `${e.appUrl}/` })).isError);
    assert.equal(e.log.length - before, 1);
    assert.equal(logins(server), 2);
  });

  it('a store written before applications were told apart keeps its session (migration)', async () => {
    const e = await emulatorWith();
    const home = tempHome();
    const first = await serverOn(home);
    assert.ok(!(await first.call('access_fetch', { url: `${e.appUrl}/` })).isError);
    await first.close();
    // Rewrite the store as the earlier version kept it: no application field, registrations per team and redirect URI.
    const data = storeOf(home);
    for (const session of Object.values(data.sessions)) delete session.app;
    data.registrations = Object.fromEntries(Object.entries(data.registrations).map(([key, value]) => {
      const parts = key.split(' ');
      return [`${parts[0]} ${parts[parts.length - 1]}`, value];
    }));
    delete data.refusals;
    writeFileSync(join(home, 'store.json'), JSON.stringify(data), { mode: 0o600 });

    const server = await serverOn(home);
    const before = e.log.length;
    assert.ok(!(await server.call('access_fetch', { url: `${e.appUrl}/` })).isError);
    assert.equal(e.log.length - before, 1, 'the old session is used as it is');
    const registrations = e.requests({ endpoint: 'registration' }).length;
    assert.ok(!(await server.call('access_fetch', { url: `${e.appUrl}/admin`, wait_seconds: 30 })).isError);
    assert.equal(logins(server), 1);
    assert.equal(e.requests({ endpoint: 'registration' }).length, registrations + 1, '/admin registers for itself');
    assert.deepEqual(Object.keys(storeOf(home).sessions).sort(), [e.appUrl, `${e.appUrl}/admin`]);
  });
});

describe('policy denials end with one clear result and no second browser', () => {
  it('denied after signing in, in the browser: the pending login says what the block page means, and the next call opens no second browser', async () => {
    const e = await emulatorWith({ deny: ['/admin'] });
    const server = await serverOn();
    const first = await server.call('access_fetch', { url: `${e.appUrl}/admin`, wait_seconds: 2 });
    assert.match(textOf(first), /Login pending/);
    assert.match(textOf(first), /That account does not have access\u201d means the application's policy refused the account/);
    const second = await server.call('access_fetch', { url: `${e.appUrl}/admin`, wait_seconds: 1 });
    assert.match(textOf(second), /Login pending/);
    assert.equal(logins(server), 1);
  });

  it('refused after signing in (403 block page, refresh refused, deny URL): policy_denied with status and ray id, then held back until forced', async () => {
    const e = await emulatorWith();
    const server = await serverOn();
    assert.ok(!(await server.call('access_fetch', { url: `${e.appUrl}/admin/x`, wait_seconds: 30 })).isError);
    assert.ok(!(await server.call('access_fetch', { url: `${e.appUrl}/` })).isError);
    e.options.deny = ['/admin'];

    const blocked = await server.call('access_fetch', { url: `${e.appUrl}/admin/x` });
    assert.equal(blocked.isError, true);
    const text = textOf(blocked);
    assert.match(text, /Signed in, but the policy of the application .*\/admin does not admit this account: Access answered HTTP 403 \(ray id [0-9a-f]+\)/);
    assert.match(text, /no new login was started/);
    assert.match(text, /call access_login with url: \S+\/admin, force: true/);

    e.options.denyUrl = 'https://deny.example.com/sorry';
    const redirected = await server.call('access_fetch', { url: `${e.appUrl}/admin/x` });
    assert.match(textOf(redirected), /HTTP 302 to its deny page https:\/\/deny\.example\.com\/sorry/);

    e.expireAccessTokens();
    const renewal = await server.call('access_fetch', { url: `${e.appUrl}/admin/x` });
    assert.match(textOf(renewal), /refused to renew the session/);
    // The session is gone and the application refused the user: no browser until the user forces one.
    const held = await server.call('access_fetch', { url: `${e.appUrl}/admin/x` });
    assert.match(textOf(held), /No new browser login was started for .*\/admin/);
    assert.equal(logins(server), 2);
    // The other application on the host is untouched.
    const root = await server.call('access_fetch', { url: `${e.appUrl}/` });
    assert.ok(!root.isError, textOf(root));
    const status = textOf(await server.call('access_status', {}));
    assert.match(status, /no new login for now/);

    const forced = await server.call('access_login', { url: `${e.appUrl}/admin/x`, force: true, wait_seconds: 1 });
    assert.equal(resultData(forced).status, 'pending');
    assert.equal(logins(server), 3);
  });

  it('the CLI says the same in its own words: commands, no tool names', async () => {
    const e = await emulatorWith();
    const home = tempHome();
    const server = await serverOn(home);
    assert.ok(!(await server.call('access_fetch', { url: `${e.appUrl}/admin/x`, wait_seconds: 30 })).isError);
    await server.close();
    e.options.deny = ['/admin'];
    const browserLog = join(tempHome('cfam-cli-browser-'), 'browser.log');
    const env = { ...process.env, CF_ACCESS_MCP_HOME: home, CF_ACCESS_MCP_CALLBACK_PORT: '0', CF_ACCESS_MCP_BROWSER: `${process.execPath} ${BROWSER_SCRIPT}`, TEST_BROWSER_LOG: browserLog, ...trustedTeamsEnv() };
    for (const expected of [/does not admit this account: Access answered HTTP 403/, /Access refused to renew the session/, /No new browser login was started/]) {
      if (expected.source.includes('renew')) e.expireAccessTokens();
      const run = await cli(['fetch', `${e.appUrl}/admin/x`], env);
      assert.notEqual(run.code, 0);
      assert.match(run.stderr, expected);
      assert.match(run.stderr, /run `cf-access-mcp login http:\/\/[^`]+\/admin\S* --force`/);
      assert.doesNotMatch(run.stderr + run.stdout, /access_(login|fetch|status|logout)|callback_url|force: true/);
    }
    let opened = '';
    try {
      opened = readFileSync(browserLog, 'utf8');
    } catch {
      /* never opened */
    }
    assert.equal(opened, '');
  });
});

describe("the agent's own Authorization header", () => {
  it('is never silently replaced: refused with the ways that work, before anything is sent or any browser opens', async () => {
    const e = await emulatorWith();
    const server = await serverOn();
    const cold = await server.call('access_fetch', { url: `${e.appUrl}/`, headers: { Authorization: 'Bearer agent-own-token' } });
    assert.equal(cold.isError, true);
    assert.match(textOf(cold), /sets its own authorization header/);
    assert.match(textOf(cold), /service token/);
    assert.match(textOf(cold), /call access_login with url: \S+, method: cloudflared/);
    assert.equal(logins(server), 0);

    assert.ok(!(await server.call('access_fetch', { url: `${e.appUrl}/` })).isError);
    const before = e.log.length;
    const warm = await server.call('access_fetch', { url: `${e.appUrl}/`, headers: { Authorization: 'Basic YWdlbnQ6b3du' } });
    assert.equal(warm.isError, true);
    assert.match(textOf(warm), /was not sent/);
    assert.equal(e.log.length, before, 'nothing was sent');
    // A Cookie of the agent's own is sent along with our token.
    const withCookie = await server.call('access_fetch', { url: `${e.appUrl}/echo`, headers: { Cookie: 'theme=dark' }, format: 'raw' });
    assert.ok(!withCookie.isError, textOf(withCookie));
    assert.match(textOf(withCookie), /theme=dark/);
  });
});

const cli = runCliText;
