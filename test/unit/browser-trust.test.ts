import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CallbackListener, type CallbackParams } from '../../src/auth/callback-server.js';
import { childEnv } from '../../src/auth/child-env.js';
import { SessionStore } from '../../src/auth/store.js';
import { isTrustedTeam, parseTeamList, teamHost } from '../../src/auth/trusted-teams.js';

/** Issue 11 items 6–8 at unit level: the start address and its cookie, the team list, the children's environment. */

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, path: string, cookie?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', headers: { host: `localhost:${port}`, ...(cookie ? { cookie } : {}) } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const heading = (html: string) => /<h1[^>]*>([^<]*)<\/h1>/.exec(html)?.[1] ?? '';

const listeners: CallbackListener[] = [];
const dirs: string[] = [];
after(() => {
  for (const l of listeners) l.shutdown(new Error('test over'));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function listening(): Promise<{ listener: CallbackListener; port: number }> {
  const listener = new CallbackListener({ preferredPort: 0 });
  listeners.push(listener);
  const port = Number(new URL(await listener.start()).port);
  return { listener, port };
}

function settled(promise: Promise<CallbackParams>): () => boolean {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  return () => done;
}

describe('one-time start address and its cookie', () => {
  it('redirects once to the authorization URL with an HttpOnly, SameSite=Lax, Path=/callback cookie; then 410', async () => {
    const { listener, port } = await listening();
    void listener.expect('s1', 'app.example.com', 30_000).catch(() => {});
    const start = listener.issueStart('s1', 'https://team.cloudflareaccess.com/authorize?state=s1');
    assert.match(start, new RegExp(`^http://localhost:${port}/start/[A-Za-z0-9_-]{32}$`));
    const path = new URL(start).pathname;
    const first = await get(port, path);
    assert.equal(first.status, 302);
    assert.equal(first.headers.location, 'https://team.cloudflareaccess.com/authorize?state=s1');
    const [cookie] = first.headers['set-cookie'] as string[];
    assert.match(cookie!, /^cfam_[0-9a-f]{12}=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Lax; Path=\/callback; Max-Age=\d+$/);
    const second = await get(port, path);
    assert.equal(second.status, 410);
    assert.match(heading(second.body), /already used/);
    assert.equal((await get(port, '/start/never-issued')).status, 410);
  });

  it('refuses a callback with the right state but without the cookie (code or access_denied); it completes with the cookie', async () => {
    const { listener, port } = await listening();
    const login = listener.expect('s2', 'app.example.com', 30_000);
    const done = settled(login);
    const first = await get(port, new URL(listener.issueStart('s2', 'https://t.cloudflareaccess.com/a')).pathname);
    const cookie = (first.headers['set-cookie'] as string[])[0]!.split(';')[0]!;

    const forged = await get(port, '/callback?code=attacker-code&state=s2');
    assert.equal(forged.status, 403);
    assert.match(heading(forged.body), /did not start this sign-in/);
    const denied = await get(port, '/callback?error=access_denied&state=s2');
    assert.equal(denied.status, 403);
    const wrongValue = await get(port, '/callback?code=c&state=s2', `${cookie.split('=')[0]}=wrong-value-of-the-same-length-0123456789ab`);
    assert.equal(wrongValue.status, 403);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(done(), false, 'the login is still waiting');

    const good = await get(port, '/callback?code=the-code&state=s2', `other=1; ${cookie}`);
    assert.equal(good.status, 200);
    assert.deepEqual(await login, { code: 'the-code', error: undefined, error_description: undefined });
  });

  it('paste-back (deliver) needs no cookie: the caller checked state, and it comes from the user through the agent', async () => {
    const { listener } = await listening();
    const login = listener.expect('s3', 'app.example.com', 30_000);
    listener.issueStart('s3', 'https://t.cloudflareaccess.com/a');
    assert.equal(listener.deliver('http://localhost:1/callback?code=pasted&state=s3').ok, true);
    assert.equal((await login).code, 'pasted');
  });

  it('when the opener failed (withdrawStart), the start address is gone and a cookie-less callback is accepted', async () => {
    const { listener, port } = await listening();
    const login = listener.expect('s4', 'app.example.com', 30_000);
    const start = listener.issueStart('s4', 'https://t.cloudflareaccess.com/a');
    listener.withdrawStart('s4');
    assert.equal((await get(port, new URL(start).pathname)).status, 410);
    assert.equal((await get(port, '/callback?code=c4&state=s4')).status, 200);
    assert.equal((await login).code, 'c4');
  });

  it('a login without a start address takes a cookie-less callback as before', async () => {
    const { listener, port } = await listening();
    const login = listener.expect('s5', 'app.example.com', 30_000);
    assert.equal((await get(port, '/callback?code=c5&state=s5')).status, 200);
    assert.equal((await login).code, 'c5');
  });
});

describe('CF_ACCESS_MCP_TEAMS and trusted teams', () => {
  it('parses comma-separated host or host:port, spaces and case ignored; reports what is not a host', () => {
    const { teams, problems } = parseTeamList(' MyTeam.cloudflareaccess.com , 127.0.0.1:8443,,other.cloudflareaccess.com:443, https://x/ , a b.example.com');
    assert.deepEqual(teams, ['myteam.cloudflareaccess.com', '127.0.0.1:8443', 'other.cloudflareaccess.com', 'ab.example.com']);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /"https:\/\/x\/" is not a host/);
    assert.deepEqual(parseTeamList(undefined), { teams: [], problems: [] });
  });

  it('compares teams as URL.host: default port dropped, trailing dot and case ignored', () => {
    assert.equal(teamHost(new URL('https://Team.CloudflareAccess.com.:443/x')), 'team.cloudflareaccess.com');
    assert.equal(teamHost(new URL('http://127.0.0.1:8443')), '127.0.0.1:8443');
  });

  it('trusts a team with a session or an unflagged registration, not one registered for an unconfirmed login', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfam-teams-'));
    dirs.push(dir);
    const store = new SessionStore(dir);
    const team = new URL('https://new.cloudflareaccess.com');
    assert.equal(isTrustedTeam(team, store, []), false);
    assert.equal(isTrustedTeam(team, store, ['new.cloudflareaccess.com']), true);
    const registration = { client_id: 'c', redirect_uri: 'http://localhost:8400/callback', registration_endpoint: 'https://new.cloudflareaccess.com/reg', registered_at: 1 };
    await store.putRegistration(`${team.origin} http://localhost:8400/callback`, { ...registration, team_trusted: false } as typeof registration);
    assert.equal(isTrustedTeam(team, store, []), false, 'registering alone earns no trust');
    await store.putRegistration(`${team.origin} http://localhost:8400/callback`, registration);
    assert.equal(isTrustedTeam(team, store, []), true, 'a registration from before the flag counts');
    const other = new URL('https://other.cloudflareaccess.com');
    await store.putSession({ origin: 'https://app.example.com', method: 'oauth', access_token: 'a'.repeat(40), authorization_server: `${other.href}`, obtained_at: 1 });
    assert.equal(isTrustedTeam(other, store, []), true);
  });
});

describe('the environment of children', () => {
  it('drops every CF_ACCESS_* variable and any variable holding a configured client ID or secret', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfam-childenv-'));
    dirs.push(dir);
    const file = join(dir, 'tokens.json');
    writeFileSync(file, JSON.stringify({ 'a.example.com': { client_id_env: 'TEAM_A_ID', client_secret_env: 'TEAM_A_SECRET' }, 'b.example.com': { client_id: 'inline-id', client_secret: 'inline-secret-0123456789' } }));
    const env = childEnv({
      PATH: '/usr/bin',
      DISPLAY: ':0',
      CF_ACCESS_CLIENT_ID: 'pair-id',
      CF_ACCESS_CLIENT_SECRET: 'pair-secret-0123456789',
      CF_ACCESS_SERVICE_TOKEN_HOSTS: 'x.example.com',
      CF_ACCESS_SERVICE_TOKENS: file,
      cf_access_lowercase: 'x',
      TEAM_A_ID: ' team-a-id ',
      TEAM_A_SECRET: 'team-a-secret-0123456789',
      COPY_OF_INLINE: 'inline-secret-0123456789',
      CF_ACCESS_MCP_HOME: dir,
    });
    assert.deepEqual(env, { PATH: '/usr/bin', DISPLAY: ':0' });
  });
});
