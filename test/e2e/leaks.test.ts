import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Emulator } from '../../src/emulator/index.js';
import { cleanupHomes, ROOT, type ServerOptions, startEmulator, tempHome, TestServer, textOf, callbackAddress } from '../helpers/harness.js';
import { allOutputs, assertNoSecretsLeaked } from '../helpers/leaks.js';

/**
 * Issue 7, leak proofing: every tool through its success and failure paths, with
 * debug logging and progress on, against managed OAuth, classic Access
 * (cloudflared) and service tokens. Then no access token, refresh token, code,
 * verifier, classic JWT or service-token secret may appear in anything the
 * server showed: tool results, errors, progress, log notifications, stderr.
 */

const SERVICE_ID = 'leak-test.access';
const SERVICE_SECRET = 'service-token-secret-0123456789abcdef';
const WRONG_SECRET = 'wrong-service-secret-fedcba9876543210';
const CLOUDFLARED = resolve(ROOT, 'test', 'fixtures', 'cloudflared.mjs');

let managed: Emulator;
let classic: Emulator;
const servers: TestServer[] = [];

async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const server = await TestServer.start(options);
  servers.push(server);
  await server.client.setLoggingLevel('debug');
  return server;
}

/** Every call asks for progress, so progress messages are collected too. */
function call(server: TestServer, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  return server.call(name, args, { onprogress: () => {} });
}

function ok(result: CallToolResult): CallToolResult {
  assert.notEqual(result.isError, true, `unexpected error: ${textOf(result).slice(0, 400)}`);
  return result;
}

function failed(result: CallToolResult): CallToolResult {
  assert.equal(result.isError, true, `expected an error: ${textOf(result).slice(0, 400)}`);
  assert.match(textOf(result), /Next step: \S/);
  return result;
}

const secrets = (): string[] => [...managed.secrets(), ...classic.secrets(), SERVICE_SECRET, WRONG_SECRET];

before(async () => {
  managed = await startEmulator({
    rotateRefreshTokens: true,
    serviceTokens: [{ clientId: SERVICE_ID, clientSecret: SERVICE_SECRET }],
  });
  classic = await startEmulator({ mode: 'classic' });
});

after(async () => {
  managed.setFault(null);
  await Promise.all(servers.map((s) => s.close()));
  assertNoSecretsLeaked(secrets());
  await managed.close();
  await classic.close();
  cleanupHomes();
});

describe('managed OAuth: every tool, success paths', () => {
  let server: TestServer;
  const app = () => `${managed.appUrl}/`;

  before(async () => {
    server = await startServer();
  });

  it('fetches cold (login), warm, reflected headers, every format, a file and JSON', async () => {
    ok(await call(server, 'access_fetch', { url: app(), wait_seconds: 30 }));
    ok(await call(server, 'access_fetch', { url: `${managed.appUrl}/echo` }));
    ok(await call(server, 'access_fetch', { url: `${managed.appUrl}/echo`, method: 'POST', body: { hello: 'world' }, format: 'raw' }));
    ok(await call(server, 'access_fetch', { url: `${managed.appUrl}/long`, format: 'text', max_length: 500 }));
    ok(await call(server, 'access_fetch', { url: `${managed.appUrl}/api/data.json` }));
    ok(await call(server, 'access_fetch', { url: `${managed.appUrl}/files/blob.bin`, save_to: join(server.cwd, 'blob.bin') }));
    ok(await call(server, 'access_fetch', { url: `${managed.appUrl}/redirect/app2` }));
    ok(await call(server, 'access_fetch', { url: `${managed.appUrl}/redirect/plain` }));
  });

  it('refreshes an expired token (with rotation), and logs in again when the refresh token is revoked', async () => {
    managed.expireAccessTokens();
    ok(await call(server, 'access_fetch', { url: app() }));
    managed.revokeRefreshTokens();
    managed.expireAccessTokens();
    ok(await call(server, 'access_fetch', { url: app(), wait_seconds: 30 }));
  });

  it('access_login: already logged in, forced, and completed by a pasted callback address', async () => {
    ok(await call(server, 'access_login', { url: app() }));
    ok(await call(server, 'access_login', { url: app(), force: true, wait_seconds: 30 }));
    const pasting = await startServer({ browser: 'none' });
    const pending = ok(await call(pasting, 'access_login', { url: app(), wait_seconds: 0 }));
    const loginUrl = (pending.structuredContent as { login_url?: string }).login_url;
    assert.ok(loginUrl, textOf(pending));
    const address = await callbackAddress(loginUrl);
    ok(await call(pasting, 'access_login', { url: app(), callback_url: address, wait_seconds: 10 }));
    ok(await call(pasting, 'access_fetch', { url: app() }));
  });

  it('access_status and access_logout, one host and all', async () => {
    ok(await call(server, 'access_status', {}));
    ok(await call(server, 'access_status', { url: app() }));
    ok(await call(server, 'access_status', { url: `${managed.plainUrl}/` }));
    ok(await call(server, 'access_logout', { url: app() }));
    ok(await call(server, 'access_fetch', { url: app(), wait_seconds: 30 }));
    ok(await call(server, 'access_logout', { all: true }));
  });
});

describe('managed OAuth: failure paths', () => {
  const app = () => `${managed.appUrl}/`;

  it('faults after the code was issued (token endpoint) and during refresh', async () => {
    const server = await startServer({ env: { CF_ACCESS_MCP_TIMEOUT_MS: '1000' } });
    for (const kind of ['5xx', 'missing_fields', 'no_access_token', 'malformed_json', 'huge_body', 'drop', 'huge_header'] as const) {
      managed.setFault({ endpoint: 'token', kind });
      try {
        failed(await call(server, 'access_fetch', { url: app(), wait_seconds: 20 }));
      } finally {
        managed.setFault(null);
      }
      // A failed login holds back the next browser (its text says why, without a token); logging out starts over.
      failed(await call(server, 'access_fetch', { url: app(), wait_seconds: 20 }));
      ok(await call(server, 'access_logout', { url: app() }));
    }
    ok(await call(server, 'access_fetch', { url: app(), wait_seconds: 20 }));
    managed.expireAccessTokens();
    managed.setFault({ endpoint: 'token', kind: '5xx', times: 1 });
    // The refresh fails; the server may log in again or report the failure, but shows no token either way.
    await call(server, 'access_fetch', { url: app(), wait_seconds: 20 });
    managed.setFault(null);
    managed.revokeAllTokens();
    managed.setFault({ endpoint: 'revoke', kind: 'drop' });
    try {
      ok(await call(server, 'access_logout', { all: true }));
    } finally {
      managed.setFault(null);
    }
  });

  it('denied, abandoned, forged and pasted-wrong logins', async () => {
    managed.options.approval = 'interactive';
    try {
      const denying = await startServer({ browser: 'deny' });
      failed(await call(denying, 'access_fetch', { url: app(), wait_seconds: 20 }));
    } finally {
      managed.options.approval = 'auto';
    }
    const forged = await startServer({ browser: 'wrong-state', env: { CF_ACCESS_MCP_LOGIN_TIMEOUT: '2' } });
    failed(await call(forged, 'access_fetch', { url: app(), wait_seconds: 10 }));

    const pasting = await startServer({ browser: 'none', env: { CF_ACCESS_MCP_LOGIN_TIMEOUT: '3' } });
    const pending = ok(await call(pasting, 'access_login', { url: app(), wait_seconds: 0 }));
    const address = new URL(await callbackAddress((pending.structuredContent as { login_url: string }).login_url));
    address.searchParams.set('state', 'not-the-state-of-this-login');
    failed(await call(pasting, 'access_login', { url: app(), callback_url: address.href, wait_seconds: 0 }));
    failed(await call(pasting, 'access_login', { url: app(), callback_url: 'not a url', wait_seconds: 0 }));
    failed(await call(pasting, 'access_login', { url: app(), wait_seconds: 10 }));
    ok(await call(pasting, 'access_status', { url: app() }));
  });

  it('refused inputs', async () => {
    const server = await startServer();
    for (const url of ['ftp://x', 'not a url', 'http://example.com/', 'https://user:pass@/']) {
      failed(await call(server, 'access_fetch', { url }));
    }
    failed(await call(server, 'access_logout', {}));
    ok(await call(server, 'access_logout', { url: app() }));
  });
});

describe('service tokens and classic Access', () => {
  it('a service token on its host (reflected by /echo), a wrong secret, and a host it must not go to', async () => {
    const env = {
      CF_ACCESS_CLIENT_ID: SERVICE_ID,
      CF_ACCESS_CLIENT_SECRET: SERVICE_SECRET,
      CF_ACCESS_SERVICE_TOKEN_HOSTS: new URL(managed.app2Url).host,
    };
    const server = await startServer({ env });
    ok(await call(server, 'access_fetch', { url: `${managed.app2Url}/echo` }));
    ok(await call(server, 'access_status', { url: `${managed.app2Url}/` }));
    ok(await call(server, 'access_login', { url: `${managed.app2Url}/`, method: 'service_token' }));
    ok(await call(server, 'access_fetch', { url: `${managed.plainUrl}/echo` }));

    managed.options.strictServiceTokens = true;
    try {
      const wrong = await startServer({ env: { ...env, CF_ACCESS_CLIENT_SECRET: WRONG_SECRET } });
      const result = await call(wrong, 'access_fetch', { url: `${managed.app2Url}/`, wait_seconds: 0 });
      assert.equal(result.isError, true, textOf(result));
      await call(wrong, 'access_login', { url: `${managed.app2Url}/`, method: 'service_token' });
      ok(await call(wrong, 'access_status', { url: `${managed.app2Url}/` }));
    } finally {
      managed.options.strictServiceTokens = false;
    }
  });

  it('classic Access through cloudflared: login, reuse, refusal, logout', async () => {
    const cache = tempHome('cfam-cloudflared-');
    const env = {
      CF_ACCESS_MCP_CLOUDFLARED: CLOUDFLARED,
      TEST_CLOUDFLARED_DIR: join(cache, 'tokens'),
      TEST_CLOUDFLARED_LOG: join(cache, 'cloudflared.log'),
    };
    const server = await startServer({ env });
    ok(await call(server, 'access_fetch', { url: `${classic.appUrl}/`, wait_seconds: 30 }));
    ok(await call(server, 'access_fetch', { url: `${classic.appUrl}/echo` }));
    ok(await call(server, 'access_status', { url: `${classic.appUrl}/` }));
    classic.revokeAllTokens();
    await call(server, 'access_fetch', { url: `${classic.appUrl}/api/data.json`, wait_seconds: 30 });
    ok(await call(server, 'access_logout', { all: true }));
    const failing = await startServer({ env: { ...env, TEST_CLOUDFLARED_ACTION: 'fail', TEST_CLOUDFLARED_DIR: join(cache, 'none') } });
    failed(await call(failing, 'access_fetch', { url: `${classic.app2Url}/`, wait_seconds: 10 }));
  });
});

describe('the leak check itself', () => {
  it('saw debug logs, progress, errors and stderr, and issued the secrets it looks for', () => {
    const kinds = new Set(allOutputs().map((o) => o.kind.split(' ')[0]));
    for (const kind of ['tool', 'log', 'stderr', 'progress']) assert.ok(kinds.has(kind), `nothing of kind ${kind} was collected`);
    assert.ok(allOutputs().some((o) => o.kind === 'log' && o.text.includes('"level":"info"')), 'MCP log notifications reached the client');
    const issued = managed.secrets();
    assert.ok(issued.filter((s) => s.startsWith('oauth:')).length >= 6, 'access and refresh tokens were issued');
    assert.ok(classic.secrets().length >= 1, 'a classic JWT was issued');
  });

  it('no secret appears in any output', () => {
    assertNoSecretsLeaked(secrets());
  });
});
