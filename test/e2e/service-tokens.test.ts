import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { REPORT_SENTENCE, type Emulator, type LogEntry } from '../../src/emulator/index.js';
import { cleanupHomes, startEmulator, tempHome, TestServer, textOf, resultData } from '../helpers/harness.js';
import { assertNoSecretsLeaked } from '../helpers/leaks.js';
import { cliEnv, runCliText } from '../helpers/cli-run.js';

/**
 * Issue 4, service tokens, end to end over stdio against the emulator: a
 * listed host gets the token and content without any browser; no other origin
 * ever sees it (the emulator's request log is the proof, redirects included);
 * a refused token is reported plainly instead of starting a browser login.
 */

const CLIENT_ID = 'e2e-client.access';
const SECRET = 'cfast_e2e-service-token-secret-7f3a9c';
const WRONG_SECRET = 'cfast_e2e-wrong-secret-0000000000';
const FILE_SECRET = 'cfast_e2e-file-token-secret-5b21d8';
const STORE_TOKENS: string[] = [];

let emulator: Emulator;
const servers: TestServer[] = [];

const hostOf = (url: string) => new URL(url).host;

async function startServer(options: Parameters<typeof TestServer.start>[0] = {}): Promise<TestServer> {
  const server = await TestServer.start(options);
  servers.push(server);
  return server;
}

function tokenEnv(secret = SECRET, hosts = hostOf(emulator.appUrl)): Record<string, string> {
  return { CF_ACCESS_CLIENT_ID: CLIENT_ID, CF_ACCESS_CLIENT_SECRET: secret, CF_ACCESS_SERVICE_TOKEN_HOSTS: hosts };
}

function structured(result: CallToolResult): Record<string, unknown> {
  return resultData(result);
}

function assertOk(result: CallToolResult): void {
  assert.notEqual(result.isError, true, `unexpected error result: ${textOf(result)}`);
}

/** Did this request carry any part of a service token (the pair, or JSON in any header)? */
function carriesToken(entry: LogEntry, secrets = [SECRET, WRONG_SECRET, FILE_SECRET]): boolean {
  return Object.entries(entry.headers).some(
    ([name, value]) => name.startsWith('cf-access-client') || secrets.some((s) => value.includes(s)) || value.includes(CLIENT_ID),
  );
}

/** Access tokens a server stored (for the leak check). */
function rememberStoredTokens(server: TestServer): void {
  const file = join(server.home, 'store.json');
  if (!existsSync(file)) return;
  const data = JSON.parse(readFileSync(file, 'utf8')) as { sessions?: Record<string, { access_token: string; refresh_token?: string }> };
  for (const s of Object.values(data.sessions ?? {})) STORE_TOKENS.push(s.access_token, ...(s.refresh_token ? [s.refresh_token] : []));
}

before(async () => {
  emulator = await startEmulator({ mode: 'service-auth-only', serviceTokens: [{ clientId: CLIENT_ID, clientSecret: SECRET }] });
});

after(async () => {
  for (const s of servers) rememberStoredTokens(s);
  await Promise.all(servers.map((s) => s.close()));
  await emulator.close();
  cleanupHomes();
  assertNoSecretsLeaked([SECRET, WRONG_SECRET, FILE_SECRET, ...STORE_TOKENS]);
});

describe('a host listed for a service token', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ env: tokenEnv() });
  });

  it('returns the content with the service token and opens no browser', async () => {
    emulator.clearLog();
    const result = await server.call('access_fetch', { url: `${emulator.appUrl}/` });
    assertOk(result);
    assert.ok(textOf(result).includes(REPORT_SENTENCE), textOf(result).slice(0, 300));
    assert.equal(structured(result).auth, 'service_token');
    assert.deepEqual(server.browserOpens(), []);
    const hits = emulator.requests({ origin: 'app', endpoint: 'resource' });
    assert.equal(hits.length, 1);
    assert.equal(hits[0]!.headers['cf-access-client-id'], CLIENT_ID);
    assert.equal(emulator.requests({ endpoint: 'authorize' }).length, 0);
  });

  it('never lets the secret into a result, even when the site echoes the request headers', async () => {
    const result = await server.call('access_fetch', { url: `${emulator.appUrl}/echo`, format: 'raw' });
    assertOk(result);
    assert.ok(!textOf(result).includes(SECRET));
    assert.match(textOf(result), /\[redacted\]/);
  });

  it('does not send the token to the plain origin a redirect leads to', async () => {
    emulator.clearLog();
    const result = await server.call('access_fetch', { url: `${emulator.appUrl}/redirect/plain` });
    assertOk(result);
    const plain = emulator.requests({ origin: 'plain' });
    assert.equal(plain.length, 1, 'the redirect reached the plain origin');
    assert.ok(!carriesToken(plain[0]!), `token headers reached the plain origin: ${Object.keys(plain[0]!.headers).join(', ')}`);
    assert.ok(carriesToken(emulator.requests({ origin: 'app' })[0]!), 'the listed app itself did get the token');
  });

  it('does not send the token to another Access app a redirect leads to, and starts no browser there', async () => {
    emulator.clearLog();
    const result = await server.call('access_fetch', { url: `${emulator.appUrl}/redirect/app2`, wait_seconds: 0 });
    assert.equal(result.isError, true);
    assert.match(textOf(result), /accepts only service tokens/);
    const app2 = emulator.requests({ origin: 'app2' });
    assert.ok(app2.length >= 1);
    for (const entry of app2) assert.ok(!carriesToken(entry), 'token headers reached app2');
    assert.deepEqual(server.browserOpens(), []);
  });

  it('does not send the token to an unlisted host asked for directly', async () => {
    emulator.clearLog();
    const result = await server.call('access_fetch', { url: `${emulator.app2Url}/`, wait_seconds: 0 });
    assert.equal(result.isError, true);
    assert.match(textOf(result), /CF_ACCESS_SERVICE_TOKEN_HOSTS/);
    for (const entry of emulator.log) assert.ok(!carriesToken(entry));
  });

  it('reports the method and the offer in access_status, and access_login checks the token without a browser', async () => {
    const status = await server.call('access_status', { url: `${emulator.appUrl}/` });
    assertOk(status);
    const probe = structured(status).probe as Record<string, unknown>;
    assert.equal(probe.offer, 'service_auth_only');
    assert.equal(probe.method, 'service_token');
    assert.deepEqual((structured(status).service_tokens as { hosts: string[] }).hosts, [hostOf(emulator.appUrl)]);
    assert.match(textOf(status), /Service tokens are sent to/);

    const login = await server.call('access_login', { url: `${emulator.appUrl}/` });
    assertOk(login);
    assert.equal(structured(login).status, 'authenticated');
    assert.equal(structured(login).method, 'service_token');
    assert.deepEqual(server.browserOpens(), []);
  });
});

describe('a refused service token', () => {
  it('gives a clear error and no browser (default and strict checks, managed OAuth app)', async () => {
    emulator.options.mode = 'managed';
    try {
      const server = await startServer({ env: tokenEnv(WRONG_SECRET) });
      for (const strict of [false, true]) {
        emulator.options.strictServiceTokens = strict;
        emulator.clearLog();
        const result = await server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 0 });
        assert.equal(result.isError, true, `strict=${strict}: ${textOf(result)}`);
        assert.match(textOf(result), /refused the service token/);
        assert.match(textOf(result), /Service Auth policy/);
        assert.match(textOf(result), /No browser login was started/);
        assert.deepEqual(server.browserOpens(), []);
        assert.equal(emulator.requests({ endpoint: 'authorize' }).length, 0);
      }

      // access_login with the service token (auto) says the same.
      const check = await server.call('access_login', { url: `${emulator.appUrl}/` });
      assert.equal(check.isError, true);
      assert.match(textOf(check), /refused the service token/);
      assert.deepEqual(server.browserOpens(), []);
    } finally {
      emulator.options.strictServiceTokens = false;
      emulator.options.mode = 'service-auth-only';
    }
  });

  it('on an application that accepts only service tokens, says to check the token and the policy, and offers no browser login (tools and CLI)', async () => {
    const server = await startServer({ env: tokenEnv(WRONG_SECRET) });
    const checkToken = (text: string, what: string) => {
      assert.match(text, /refused the service token/, what);
      assert.match(text, /accepts only service tokens/, what);
      assert.match(text, /client ID \(ends in \.access\) and secret belong together/, what);
      assert.match(text, /has a Service Auth policy that includes this service token/, what);
      assert.doesNotMatch(text, /oauth|cloudflared|as a person instead/i, `${what} offered a browser login: ${text}`);
    };
    const fetched = await server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 0 });
    assert.equal(fetched.isError, true);
    checkToken(textOf(fetched), 'access_fetch');
    const login = await server.call('access_login', { url: `${emulator.appUrl}/` });
    assert.equal(login.isError, true);
    checkToken(textOf(login), 'access_login');
    // Asked for OAuth anyway: the app has none, and the token is the way in.
    const oauth = await server.call('access_login', { url: `${emulator.appUrl}/`, method: 'oauth' });
    assert.equal(oauth.isError, true);
    assert.match(textOf(oauth), /accepts only service tokens \([^)]*\), so a browser login cannot help\. A service token is configured for this host/);
    assert.match(textOf(oauth), /call access_login with url: \S+, method: service_token/);
    assert.deepEqual(server.browserOpens(), []);

    const env = cliEnv(tempHome(), 'none', tokenEnv(WRONG_SECRET));
    for (const args of [['fetch', `${emulator.appUrl}/`], ['login', `${emulator.appUrl}/`]]) {
      const run = await runCliText(args, env);
      assert.equal(run.code, 3, run.stderr);
      checkToken(run.stderr, `cf-access-mcp ${args[0]}`);
      assert.ok(!(run.stderr + run.stdout).includes(WRONG_SECRET));
    }
    assert.equal(emulator.requests({ endpoint: 'authorize' }).length, 0);
  });

  it('lets a call that asks for a browser login have one, and fetches with that session afterwards', async () => {
    emulator.options.mode = 'managed';
    try {
      const server = await startServer({ env: tokenEnv(WRONG_SECRET) });
      const login = await server.call('access_login', { url: `${emulator.appUrl}/`, method: 'oauth' });
      assertOk(login);
      assert.equal(structured(login).method, 'oauth');
      assert.equal(server.browserOpens().length, 1);

      emulator.clearLog();
      const result = await server.call('access_fetch', { url: `${emulator.appUrl}/` });
      assertOk(result);
      assert.equal(structured(result).auth, 'oauth');
      assert.ok(textOf(result).includes(REPORT_SENTENCE));
      assert.equal(server.browserOpens().length, 1, 'no second browser');
    } finally {
      emulator.options.mode = 'service-auth-only';
    }
  });
});

describe('service token configuration', () => {
  it('does not use credentials without a host list, and access_status says why', async () => {
    const server = await startServer({ env: { CF_ACCESS_CLIENT_ID: CLIENT_ID, CF_ACCESS_CLIENT_SECRET: SECRET } });
    emulator.clearLog();
    const result = await server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 0 });
    assert.equal(result.isError, true);
    assert.match(textOf(result), /CF_ACCESS_SERVICE_TOKEN_HOSTS is empty/);
    for (const entry of emulator.log) assert.ok(!carriesToken(entry), 'unlisted credentials were sent');

    const status = await server.call('access_status', {});
    assertOk(status);
    assert.match(textOf(status), /Service token unused: .*CF_ACCESS_SERVICE_TOKEN_HOSTS is empty/);
    assert.equal((structured(status).service_tokens as { unused: string[] }).unused.length, 1);
  });

  it('reads a CF_ACCESS_SERVICE_TOKENS file and the single-header form', async () => {
    const dir = tempHome('cfam-st-file-');
    const file = join(dir, 'tokens.json');
    writeFileSync(file, JSON.stringify({ [hostOf(emulator.appUrl)]: { client_id_env: 'E2E_ID', client_secret_env: 'E2E_SECRET' } }));
    emulator.options.serviceTokens = [{ clientId: CLIENT_ID, clientSecret: SECRET }, { clientId: 'file-client.access', clientSecret: FILE_SECRET }];
    emulator.options.serviceTokenHeader = 'x-service-auth';
    try {
      const server = await startServer({
        env: { CF_ACCESS_SERVICE_TOKENS: file, E2E_ID: 'file-client.access', E2E_SECRET: FILE_SECRET, CF_ACCESS_SERVICE_TOKEN_HEADER: 'X-Service-Auth' },
      });
      emulator.clearLog();
      const result = await server.call('access_fetch', { url: `${emulator.appUrl}/` });
      assertOk(result);
      assert.equal(structured(result).auth, 'service_token');
      const hit = emulator.requests({ origin: 'app', endpoint: 'resource' })[0]!;
      assert.equal(hit.headers['cf-access-client-id'], undefined, 'single-header mode sends no pair');
      assert.deepEqual(JSON.parse(hit.headers['x-service-auth']!), { 'cf-access-client-id': 'file-client.access', 'cf-access-client-secret': FILE_SECRET });

      emulator.clearLog();
      await server.call('access_fetch', { url: `${emulator.appUrl}/redirect/plain` });
      for (const entry of emulator.requests({ origin: 'plain' })) assert.ok(!carriesToken(entry));
    } finally {
      emulator.options.serviceTokens = [{ clientId: CLIENT_ID, clientSecret: SECRET }];
      delete emulator.options.serviceTokenHeader;
    }
  });
});
