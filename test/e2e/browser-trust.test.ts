import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ElicitRequestSchema, type CallToolResult, type ElicitRequestFormParams } from '@modelcontextprotocol/sdk/types.js';
import type { Emulator } from '../../src/emulator/index.js';
import { cleanupHomes, eventually, ROOT, startEmulator, tempHome, TestServer, textOf, resultData, type ServerOptions } from '../helpers/harness.js';
import { assertNoSecretsLeaked } from '../helpers/leaks.js';

/**
 * Issue 11, items 6–8, end to end through the built server: the browser opens
 * only for a team the user trusts; the opener's command line carries a
 * one-time loopback start address, never the state or PKCE challenge, and
 * the callback then requires the start address's cookie; children (browser
 * opener, cloudflared) get no CF_ACCESS_* secrets.
 */

let emulator: Emulator;
let classic: Emulator;
const servers: TestServer[] = [];

async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const server = await TestServer.start(options);
  servers.push(server);
  return server;
}

function structured(result: CallToolResult): Record<string, unknown> {
  return resultData(result);
}

const team = () => new URL(emulator.teamUrl).host;
const appHost = () => new URL(emulator.appUrl).host;

/** Another local user (or the test as the user): follows a URL to the loopback callback, optionally with a cookie. */
async function browseToCallback(start: string, cookie?: string): Promise<{ status: number; body: string }> {
  let url = new URL(start);
  for (let hop = 0; hop < 10; hop++) {
    const isCallback = url.pathname === '/callback' && url.hostname === 'localhost';
    const response = await fetch(url, { redirect: 'manual', headers: { accept: 'text/html', ...(isCallback && cookie ? { cookie } : {}) } });
    const body = await response.text();
    if (isCallback) return { status: response.status, body };
    const location = response.headers.get('location');
    assert.ok(response.status >= 300 && response.status < 400 && location, `stuck at ${url.pathname} (HTTP ${response.status})`);
    url = new URL(location, url);
  }
  assert.fail('too many redirects before the callback');
}

const heading = (html: string) => /<h1[^>]*>([^<]*)<\/h1>/.exec(html)?.[1] ?? '';

before(async () => {
  emulator = await startEmulator({ approval: 'auto' });
  classic = await startEmulator({ mode: 'classic' });
});

after(async () => {
  for (const server of servers) await server.close();
  assertNoSecretsLeaked([...emulator.secrets(), ...classic.secrets()]);
  await emulator.close();
  await classic.close();
  cleanupHomes();
});

describe('trusted teams (issue 11 item 6)', () => {
  it('does not open the sign-in page of a team the user never used; the pending result names the team and the fix', async () => {
    const server = await startServer({ untrustedTeams: true });
    const result = await server.call('access_login', { url: `${emulator.appUrl}/`, wait_seconds: 1 });
    const content = structured(result);
    assert.equal(content.status, 'pending');
    assert.match(String(content.login_url), /\/cdn-cgi\/access\/oauth\/authorization\?/);
    const text = textOf(result);
    assert.ok(text.includes(`${team()} is not a team you have signed in to before`), text);
    assert.ok(text.includes(`CF_ACCESS_MCP_TEAMS=${team()}`), text);
    assert.deepEqual(server.browserLines(), [], 'the scripted browser was never started');
  });

  it('opens it for a team listed in CF_ACCESS_MCP_TEAMS (spaces and case ignored)', async () => {
    const server = await startServer({ untrustedTeams: true, env: { CF_ACCESS_MCP_TEAMS: ` other.cloudflareaccess.com , ${team().toUpperCase()} ` } });
    const result = await server.call('access_login', { url: `${emulator.appUrl}/`, wait_seconds: 30 });
    assert.equal(structured(result).status, 'authenticated', textOf(result));
    assert.equal(server.browserArgv().length, 1);
  });

  it('trusts a team once a sign-in through its link completed: the next login opens the browser', async () => {
    const home = tempHome();
    const server = await startServer({ home, untrustedTeams: true });
    const pending = structured(await server.call('access_login', { url: `${emulator.appUrl}/`, wait_seconds: 0 }));
    assert.equal(pending.status, 'pending');
    // No browser was opened by us: the plain link works without any cookie.
    const callback = await browseToCallback(String(pending.login_url));
    assert.equal(callback.status, 200, heading(callback.body));
    await eventually(async () => structured(await server.call('access_login', { url: `${emulator.appUrl}/`, wait_seconds: 0 })).status === 'authenticated', 10_000, 'the login');
    assert.deepEqual(server.browserLines(), []);

    await server.close();

    // Signed out (session gone), a later server on the same store: the team is trusted now.
    const later = await startServer({ home, untrustedTeams: true });
    const logout = await later.call('access_logout', { url: `${emulator.appUrl}/` });
    assert.notEqual(logout.isError, true, textOf(logout));
    const again = await later.call('access_login', { url: `${emulator.appUrl}/`, wait_seconds: 30 });
    assert.equal(structured(again).status, 'authenticated', textOf(again));
    assert.equal(later.browserArgv().length, 1, 'the browser opened for the now trusted team');
  });

  it('asks a form-elicitation client to confirm; accepting opens the page and remembers the team', async () => {
    const home = tempHome();
    const server = await startServer({ home, untrustedTeams: true, capabilities: { elicitation: { form: {} } } });
    const asked: ElicitRequestFormParams[] = [];
    server.client.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(request.params as ElicitRequestFormParams);
      return { action: 'accept', content: {} };
    });
    const result = await server.call('access_login', { url: `${emulator.appUrl}/`, wait_seconds: 30 });
    assert.equal(structured(result).status, 'authenticated', textOf(result));
    assert.equal(asked.length, 1);
    assert.ok(asked[0]!.message.startsWith(`Open the sign-in page of team ${team()} for ${appHost()}?`), asked[0]!.message);
    assert.equal(server.browserArgv().length, 1);
    await server.close();

    // A later server on the same store, without elicitation and without the session: the team is remembered.
    const later = await startServer({ home, untrustedTeams: true });
    const again = await later.call('access_login', { url: `${emulator.appUrl}/`, force: true, wait_seconds: 30 });
    assert.equal(structured(again).status, 'authenticated', textOf(again));
    assert.equal(later.browserArgv().length, 1);
  });

  it('declining the confirmation opens nothing and leaves the link pending', async () => {
    const server = await startServer({ untrustedTeams: true, capabilities: { elicitation: { form: {} } } });
    let asked = 0;
    server.client.setRequestHandler(ElicitRequestSchema, async () => {
      asked++;
      return { action: 'decline' };
    });
    const result = await server.call('access_login', { url: `${emulator.appUrl}/`, wait_seconds: 2 });
    assert.equal(structured(result).status, 'pending');
    assert.equal(asked, 1);
    assert.ok(textOf(result).includes(team()), textOf(result));
    assert.deepEqual(server.browserLines(), []);
  });
});

describe('the sign-in URL stays private (issue 11 item 7)', () => {
  it("hands the opener a one-time loopback start address: no state or code_challenge on its command line", async () => {
    const server = await startServer();
    const result = await server.call('access_login', { url: `${emulator.appUrl}/`, wait_seconds: 30 });
    assert.equal(structured(result).status, 'authenticated', textOf(result));
    const [argv] = server.browserArgv();
    assert.equal(argv!.length, 1);
    assert.match(argv![0]!, /^http:\/\/localhost:\d+\/start\/[A-Za-z0-9_-]{20,}$/);
    assert.doesNotMatch(argv!.join(' '), /state|code_challenge|authorization/);
    assert.ok(server.browserOpens()[0]!.startsWith(`${emulator.teamUrl}/cdn-cgi/access/oauth/authorization?`), 'the start address led to the sign-in page');
  });

  it('once the browser loaded the start address, refuses a callback (code or access_denied) without its cookie; the login completes with it; the start address works once', async () => {
    const server = await startServer({ browser: 'unopened' });
    const pending = structured(await server.call('access_login', { url: `${emulator.appUrl}/`, wait_seconds: 0 }));
    assert.equal(pending.status, 'pending');
    const [argv] = await eventually(() => server.browserArgv(), 10_000, 'the opener');
    const start = argv![0]!;

    // The user's browser loads the start address: one redirect to the sign-in page and a cookie for /callback.
    const first = await fetch(start, { redirect: 'manual' });
    await first.text();
    assert.equal(first.status, 302);
    assert.equal(first.headers.get('location'), String(pending.login_url));
    const setCookie = first.headers.get('set-cookie')!;
    assert.match(setCookie, /; HttpOnly/);
    assert.match(setCookie, /; SameSite=Lax/);
    assert.match(setCookie, /; Path=\/callback/);
    const second = await fetch(start, { redirect: 'manual' });
    await second.text();
    assert.equal(second.status, 410, 'a start address works once');

    // Another local user who learned the authorization URL (state included) tries to complete or deny the login.
    const forged = await browseToCallback(String(pending.login_url));
    assert.equal(forged.status, 403);
    assert.match(heading(forged.body), /did not start this sign-in/);
    const authorizationUrl = new URL(String(pending.login_url));
    const denial = new URL(authorizationUrl.searchParams.get('redirect_uri')!);
    denial.searchParams.set('state', authorizationUrl.searchParams.get('state')!);
    denial.searchParams.set('error', 'access_denied');
    const denied = await fetch(denial, { redirect: 'manual' });
    assert.equal(denied.status, 403);
    await denied.text();
    assert.equal(structured(await server.call('access_login', { url: `${emulator.appUrl}/`, wait_seconds: 0 })).status, 'pending', 'still pending');

    const done = await browseToCallback(first.headers.get('location')!, setCookie.split(';')[0]);
    assert.equal(done.status, 200, heading(done.body));
    const after = await server.call('access_login', { url: `${emulator.appUrl}/`, wait_seconds: 10 });
    assert.equal(structured(after).status, 'authenticated', textOf(after));
  });

  it('an opener that reported success but showed nothing: the link in the pending result still signs the user in', async () => {
    const server = await startServer({ browser: 'unopened' });
    const pending = structured(await server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 0 }));
    assert.equal(pending.browser_opened, true);
    assert.match(String(pending.next_step), /if no window appeared, ask them to open http/);
    // Nobody loaded the start address: the user opens the link from the result in another browser.
    const done = await browseToCallback(String(pending.login_url));
    assert.equal(done.status, 200, heading(done.body));
    const after = await server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 10 });
    assert.notEqual(after.isError, true, textOf(after));
    assert.match(textOf(after), /^HTTP 200/);
  });
});

describe('children inherit no secrets (issue 11 item 8)', () => {
  const SECRET = 'child-env-secret-value-0123456789';
  const FILE_ID = 'file-named-id.access';
  const FILE_SECRET = 'file-named-secret-value-9876543210';

  function secretEnv(): Record<string, string> {
    const dir = tempHome('cfam-child-env-');
    const file = join(dir, 'tokens.json');
    writeFileSync(file, JSON.stringify({ 'elsewhere.example.com': { client_id_env: 'MY_TEAM_TOKEN_ID', client_secret_env: 'MY_TEAM_TOKEN_SECRET' } }));
    return {
      CF_ACCESS_CLIENT_ID: 'pair-id.access',
      CF_ACCESS_CLIENT_SECRET: SECRET,
      CF_ACCESS_SERVICE_TOKEN_HOSTS: 'other.example.com',
      CF_ACCESS_SERVICE_TOKENS: file,
      MY_TEAM_TOKEN_ID: FILE_ID,
      MY_TEAM_TOKEN_SECRET: FILE_SECRET,
    };
  }

  function assertClean(dump: string): void {
    const env = JSON.parse(readFileSync(dump, 'utf8')) as Record<string, string>;
    const names = Object.keys(env);
    assert.deepEqual(names.filter((n) => /^CF_ACCESS_/i.test(n) || /^MY_TEAM_TOKEN_/.test(n)), []);
    const text = JSON.stringify(env);
    for (const value of [SECRET, 'pair-id.access', FILE_ID, FILE_SECRET]) assert.ok(!text.includes(value), `${value} reached the child`);
    assert.ok(env.PATH, 'the rest of the environment is kept');
  }

  it('the browser opener gets no CF_ACCESS_* variables and none the service-token file names', async () => {
    const dump = join(tempHome('cfam-env-dump-'), 'browser-env.json');
    const server = await startServer({ env: { ...secretEnv(), TEST_BROWSER_ENV_DUMP: dump } });
    const result = await server.call('access_login', { url: `${emulator.appUrl}/`, wait_seconds: 30 });
    assert.equal(structured(result).status, 'authenticated', textOf(result));
    assertClean(dump);
  });

  it('cloudflared gets no CF_ACCESS_* variables and none the service-token file names', async () => {
    const dump = join(tempHome('cfam-env-dump-'), 'cloudflared-env.json');
    const server = await startServer({
      env: {
        ...secretEnv(),
        CF_ACCESS_MCP_CLOUDFLARED: resolve(ROOT, 'test', 'fixtures', 'cloudflared.mjs'),
        TEST_CLOUDFLARED_DIR: tempHome('cfam-cf-cache-'),
        TEST_CLOUDFLARED_ENV_DUMP: dump,
      },
    });
    await server.call('access_login', { url: `${classic.appUrl}/`, wait_seconds: 30 });
    await eventually(() => {
      try {
        return readFileSync(dump, 'utf8').length > 0;
      } catch {
        return false;
      }
    }, 10_000, 'the stand-in cloudflared to run');
    assertClean(dump);
  });
});
