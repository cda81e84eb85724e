import assert from 'node:assert/strict';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import { crc32, inflateSync } from 'node:zlib';
import { startEmulator, type Emulator, type EmulatorOptions, type LogEntry } from '../../src/emulator/index.js';

const SENTENCE = 'The protected resource was reached through Cloudflare Access.';
const REDIRECT_URI = 'http://127.0.0.1:8400/callback';

async function withEmulator(options: EmulatorOptions, fn: (e: Emulator) => Promise<void>): Promise<void> {
  const emulator = await startEmulator(options);
  try {
    await fn(emulator);
  } finally {
    await emulator.close();
  }
}

function get(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { redirect: 'manual', headers });
}

function postForm(url: string, params: Record<string, string>): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
}

function pkce(): { verifier: string; challenge: string } {
  for (;;) {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    if (/^[A-Za-z0-9]/.test(challenge)) return { verifier, challenge };
  }
}

async function register(e: Emulator, redirectUris: unknown = [REDIRECT_URI]): Promise<Response> {
  return fetch(`${e.teamUrl}/cdn-cgi/access/oauth/registration`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: redirectUris,
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      client_name: 'emulator test',
    }),
  });
}

async function registerClient(e: Emulator): Promise<string> {
  const res = await register(e);
  assert.equal(res.status, 201);
  return ((await res.json()) as { client_id: string }).client_id;
}

function authorizeUrl(e: Emulator, params: Record<string, string | undefined>): string {
  const url = new URL(`${e.teamUrl}/cdn-cgi/access/oauth/authorization`);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return url.toString();
}

interface AuthRequest {
  clientId: string;
  challenge: string;
  resource?: string;
  state?: string;
}

function authorize(e: Emulator, req: AuthRequest, overrides: Record<string, string | undefined> = {}): Promise<Response> {
  return get(
    authorizeUrl(e, {
      client_id: req.clientId,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      code_challenge: req.challenge,
      code_challenge_method: 'S256',
      resource: req.resource ?? e.appUrl,
      state: req.state,
      ...overrides,
    }),
  );
}

function callbackParams(res: Response): URLSearchParams {
  assert.equal(res.status, 302);
  const location = res.headers.get('location') ?? '';
  assert.ok(location.startsWith(`${REDIRECT_URI}?`), location);
  return new URL(location).searchParams;
}

async function exchangeCode(e: Emulator, clientId: string, code: string, verifier: string, extra: Record<string, string> = {}) {
  return postForm(`${e.teamUrl}/cdn-cgi/access/oauth/token`, {
    grant_type: 'authorization_code',
    code,
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    code_verifier: verifier,
    ...extra,
  });
}

interface Tokens {
  access_token: string;
  refresh_token?: string;
  expires_in: number;
  resource: string;
  token_type: string;
  scope: string;
}

/** Register + authorize + exchange; returns the client id and the token response. */
async function login(e: Emulator, resource = e.appUrl): Promise<{ clientId: string; tokens: Tokens }> {
  const clientId = await registerClient(e);
  const { verifier, challenge } = pkce();
  const code = callbackParams(await authorize(e, { clientId, challenge, resource })).get('code');
  assert.ok(code);
  const res = await exchangeCode(e, clientId, code, verifier);
  assert.equal(res.status, 200);
  return { clientId, tokens: (await res.json()) as Tokens };
}

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

async function refresh(e: Emulator, clientId: string, refreshToken: string): Promise<Response> {
  return postForm(`${e.teamUrl}/cdn-cgi/access/oauth/token`, {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: clientId,
  });
}

async function errorOf(res: Response): Promise<string> {
  return ((await res.json()) as { error: string }).error;
}

describe('emulator: managed OAuth challenge and metadata', () => {
  it('answers JSON clients with a Bearer 401 and browsers with a 302 to the login page', async () => {
    await withEmulator({}, async (e) => {
      const res = await get(`${e.appUrl}/api/data.json`);
      assert.equal(res.status, 401);
      const metadataUrl = `${e.appUrl}/.well-known/cloudflare-access-protected-resource/api/data.json`;
      assert.equal(
        res.headers.get('www-authenticate'),
        `Bearer realm="OAuth", error="invalid_token", error_description="Missing or invalid access token", resource_metadata="${metadataUrl}"`,
      );
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      assert.deepEqual(await res.json(), {
        error: 'invalid_token',
        error_description: 'Missing or invalid access token',
        resource_metadata: metadataUrl,
      });

      const root = await get(`${e.appUrl}/`);
      assert.match(root.headers.get('www-authenticate') ?? '', /cloudflare-access-protected-resource\/"$/);
      await root.arrayBuffer();

      const html = await get(`${e.appUrl}/docs?page=2`, { accept: 'text/html,application/xhtml+xml' });
      assert.equal(html.status, 302);
      const location = new URL(html.headers.get('location') ?? '');
      assert.equal(location.origin, e.teamUrl);
      assert.equal(location.pathname, `/cdn-cgi/access/login/${new URL(e.appUrl).host}`);
      assert.equal(location.searchParams.get('kid'), e.aud.app);
      assert.equal(location.searchParams.get('redirect_url'), '/docs?page=2');
      assert.ok(location.searchParams.get('meta'));
      assert.match(html.headers.get('set-cookie') ?? '', /^CF_AppSession=[0-9a-f]+/);
      assert.equal(
        html.headers.get('www-authenticate'),
        `Cloudflare-Access resource_metadata="${e.appUrl}/.well-known/cloudflare-access-protected-resource/docs"`,
      );
      assert.deepEqual(
        e.requests({ origin: 'app' }).map((r) => [r.endpoint, r.status]),
        [['probe', 401], ['probe', 401], ['probe', 302]],
      );
    });
  });

  it('serves resource metadata and authorization server metadata', async () => {
    await withEmulator({}, async (e) => {
      for (const path of ['', '/', '/some/deep/path']) {
        const res = await get(`${e.appUrl}/.well-known/cloudflare-access-protected-resource${path}`);
        assert.equal(res.status, 200);
        const doc = (await res.json()) as Record<string, unknown>;
        assert.equal(doc.resource, e.appUrl);
        assert.equal(doc.protected, true);
        assert.equal(doc.team_domain, new URL(e.teamUrl).host);
        assert.deepEqual(doc.authorization_servers, [e.teamUrl]);
        assert.equal(doc.authentication_method, 'cloudflared');
        const methods = (doc.authentication_methods as Array<{ name: string }>).map((m) => m.name);
        assert.deepEqual(methods, ['oauth', 'cloudflared']);
      }
      const app2Doc = (await (await get(`${e.app2Url}/.well-known/cloudflare-access-protected-resource/`)).json()) as {
        resource: string;
      };
      assert.equal(app2Doc.resource, e.app2Url);

      const expected = {
        issuer: new URL(e.teamUrl).host,
        authorization_endpoint: `${e.teamUrl}/cdn-cgi/access/oauth/authorization`,
        token_endpoint: `${e.teamUrl}/cdn-cgi/access/oauth/token`,
        response_types_supported: ['code'],
        response_modes_supported: ['query'],
        grant_types_supported: ['authorization_code', 'refresh_token'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
        revocation_endpoint: `${e.teamUrl}/cdn-cgi/access/oauth/revoke`,
        registration_endpoint: `${e.teamUrl}/cdn-cgi/access/oauth/registration`,
        code_challenge_methods_supported: ['S256'],
      };
      assert.deepEqual(await (await get(`${e.teamUrl}/.well-known/oauth-authorization-server`)).json(), expected);
      assert.deepEqual(await (await get(`${e.appUrl}/.well-known/oauth-authorization-server`)).json(), expected);
      e.options.issuerStyle = 'https';
      const https = (await (await get(`${e.teamUrl}/.well-known/oauth-authorization-server`)).json()) as { issuer: string };
      assert.equal(https.issuer, e.teamUrl);
      assert.deepEqual(
        e.requests().map((r) => `${r.origin}:${r.endpoint}`),
        [
          'app:resource_metadata',
          'app:resource_metadata',
          'app:resource_metadata',
          'app2:resource_metadata',
          'team:server_metadata',
          'app:server_metadata',
          'team:server_metadata',
        ],
      );
    });
  });
});

describe('emulator: dynamic client registration', () => {
  it('accepts loopback http redirect URIs and refuses others', async () => {
    await withEmulator({}, async (e) => {
      const ok = await register(e, ['http://localhost:8400/callback', 'http://127.0.0.1:1/cb', 'http://[::1]:9/x']);
      assert.equal(ok.status, 201);
      const body = (await ok.json()) as Record<string, unknown>;
      assert.match(String(body.client_id), /^[0-9a-f-]{36}$/);
      assert.equal(body.token_endpoint_auth_method, 'none');
      assert.equal(body.client_name, 'emulator test');
      assert.equal(typeof body.client_id_issued_at, 'number');
      assert.ok(String(body.registration_client_uri).startsWith(e.teamUrl));
      assert.deepEqual(e.clients(), [
        { client_id: body.client_id, redirect_uris: ['http://localhost:8400/callback', 'http://127.0.0.1:1/cb', 'http://[::1]:9/x'] },
      ]);

      for (const uri of ['https://example.com/callback', 'https://localhost:8400/callback', 'http://10.0.0.1/cb']) {
        const denied = await register(e, [uri]);
        assert.equal(denied.status, 400);
        assert.deepEqual(await denied.json(), {
          error: 'invalid_client_metadata',
          error_description: 'redirect_uri is not allowed by the account configuration',
        });
      }
      const missing = await fetch(`${e.teamUrl}/cdn-cgi/access/oauth/registration`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_name: 'no redirect' }),
      });
      assert.equal(missing.status, 400);
      assert.equal(await errorOf(missing), 'invalid_redirect_uri');
      const malformed = await fetch(`${e.teamUrl}/cdn-cgi/access/oauth/registration`, { method: 'POST', body: '{nope' });
      assert.equal(malformed.status, 400);
      assert.equal(await errorOf(malformed), 'invalid_client_metadata');
      assert.equal(e.clients().length, 1);
    });
  });
});

describe('emulator: authorization code flow', () => {
  it('runs the whole auto-approved flow by hand', async () => {
    await withEmulator({}, async (e) => {
      const clientId = await registerClient(e);
      const { verifier, challenge } = pkce();
      const state = 'st@te with spaces&symbols=1';
      const params = callbackParams(await authorize(e, { clientId, challenge, state }));
      assert.equal(params.get('state'), state);
      const code = params.get('code');
      assert.ok(code);

      const tokenRes = await exchangeCode(e, clientId, code, verifier);
      assert.equal(tokenRes.status, 200);
      assert.equal(tokenRes.headers.get('cache-control'), 'no-store');
      const tokens = (await tokenRes.json()) as Tokens;
      assert.match(tokens.access_token, /^oauth:/);
      assert.match(tokens.refresh_token ?? '', /^oauth:/);
      assert.equal(tokens.token_type, 'bearer');
      assert.equal(tokens.expires_in, 900);
      assert.equal(tokens.scope, '');
      assert.equal(tokens.resource, `${e.appUrl}/`);
      assert.ok(e.isTokenActive(tokens.access_token));

      const page = await get(`${e.appUrl}/`, bearer(tokens.access_token));
      assert.equal(page.status, 200);
      const html = await page.text();
      assert.ok(html.includes(SENTENCE));
      assert.ok(html.includes('<h1>Emulated Access Report</h1>'));

      assert.deepEqual(
        e.requests().map((r) => `${r.origin}:${r.endpoint}:${r.status}`),
        ['team:registration:201', 'team:authorize:302', 'team:token:200', 'app:resource:200'],
      );
      assert.equal(e.requests({ endpoint: 'resource' })[0]?.headers.authorization, `Bearer ${tokens.access_token}`);
    });
  });

  it('omits state when none was sent and binds codes to app2 when asked', async () => {
    await withEmulator({}, async (e) => {
      const { tokens } = await login(e, `${e.app2Url}/`);
      assert.equal(tokens.resource, `${e.app2Url}/`);
      assert.equal((await get(`${e.app2Url}/echo`, bearer(tokens.access_token))).status, 200);
      assert.equal((await get(`${e.appUrl}/echo`, bearer(tokens.access_token))).status, 401);
      const clientId = await registerClient(e);
      const params = callbackParams(await authorize(e, { clientId, challenge: pkce().challenge }));
      assert.equal(params.has('state'), false);
    });
  });

  it('refuses a token for app on app2', async () => {
    await withEmulator({}, async (e) => {
      const { tokens } = await login(e);
      assert.equal((await get(`${e.appUrl}/api/data.json`, bearer(tokens.access_token))).status, 200);
      const other = await get(`${e.app2Url}/api/data.json`, bearer(tokens.access_token));
      assert.equal(other.status, 401);
      assert.equal(e.requests({ origin: 'app2' })[0]?.endpoint, 'probe');
    });
  });

  it('reports authorization errors in the right place', async () => {
    await withEmulator({}, async (e) => {
      const clientId = await registerClient(e);
      const { challenge } = pkce();

      const unknown = await authorize(e, { clientId: 'not-a-client', challenge });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.headers.get('location'), null);
      assert.match(await unknown.text(), /invalid_client/);

      const badRedirect = await authorize(e, { clientId, challenge }, { redirect_uri: 'http://127.0.0.1:9999/other' });
      assert.equal(badRedirect.status, 400);
      assert.match(await badRedirect.text(), /invalid_request/);

      const responseType = callbackParams(await authorize(e, { clientId, challenge, state: 's1' }, { response_type: 'token' }));
      assert.equal(responseType.get('error'), 'unsupported_response_type');
      assert.equal(responseType.get('state'), 's1');

      for (const bad of [{ code_challenge: `-${challenge.slice(1)}` }, { code_challenge: `_${challenge.slice(1)}` }, { code_challenge_method: 'plain' }, { code_challenge: undefined }]) {
        const p = callbackParams(await authorize(e, { clientId, challenge, state: 's2' }, bad));
        assert.equal(p.get('error'), 'invalid_request');
        assert.equal(p.get('error_description'), 'code_challenge_method must be S256 for public clients');
        assert.equal(p.get('state'), 's2');
      }

      for (const resource of [undefined, 'https://example.com', `${e.appUrl}/sub`]) {
        const p = callbackParams(await authorize(e, { clientId, challenge }, { resource }));
        assert.equal(p.get('error'), 'invalid_target', String(resource));
      }
      assert.ok(callbackParams(await authorize(e, { clientId, challenge, resource: `${e.appUrl}/` })).get('code'));
    });
  });

  it('refuses wrong verifiers, reused codes, expired codes and unknown clients', async () => {
    await withEmulator({ codeLifetimeSeconds: 0.2 }, async (e) => {
      const clientId = await registerClient(e);
      const newCode = async (): Promise<{ code: string; verifier: string }> => {
        const { verifier, challenge } = pkce();
        const code = callbackParams(await authorize(e, { clientId, challenge })).get('code') ?? '';
        return { code, verifier };
      };

      const wrong = await newCode();
      const bad = await exchangeCode(e, clientId, wrong.code, pkce().verifier);
      assert.equal(bad.status, 400);
      assert.equal(await errorOf(bad), 'invalid_grant');

      const reused = await newCode();
      assert.equal((await exchangeCode(e, clientId, reused.code, reused.verifier)).status, 200);
      const again = await exchangeCode(e, clientId, reused.code, reused.verifier);
      assert.equal(again.status, 400);
      assert.equal(await errorOf(again), 'invalid_grant');

      const expired = await newCode();
      await new Promise((r) => setTimeout(r, 300));
      const late = await exchangeCode(e, clientId, expired.code, expired.verifier);
      assert.equal(await errorOf(late), 'invalid_grant');

      e.options.codeLifetimeSeconds = 60;
      const target = await newCode();
      const wrongTarget = await exchangeCode(e, clientId, target.code, target.verifier, { resource: e.app2Url });
      assert.equal(await errorOf(wrongTarget), 'invalid_target');

      const other = await newCode();
      const unknown = await exchangeCode(e, 'unknown-client', other.code, other.verifier);
      assert.equal(unknown.status, 401);
      assert.equal(await errorOf(unknown), 'invalid_client');

      const grant = await postForm(`${e.teamUrl}/cdn-cgi/access/oauth/token`, { grant_type: 'password', client_id: clientId });
      assert.equal(await errorOf(grant), 'unsupported_grant_type');
    });
  });

  it('refreshes without rotation by default and with rotation when asked', async () => {
    await withEmulator({ tokenLifetimeSeconds: 3 }, async (e) => {
      const { clientId, tokens } = await login(e);
      assert.equal(tokens.expires_in, 3);
      const refreshToken = tokens.refresh_token ?? '';

      const first = await refresh(e, clientId, refreshToken);
      assert.equal(first.status, 200);
      const renewed = (await first.json()) as Tokens;
      assert.notEqual(renewed.access_token, tokens.access_token);
      assert.equal(renewed.refresh_token, undefined);
      assert.equal(renewed.resource, `${e.appUrl}/`);
      assert.equal((await get(`${e.appUrl}/`, bearer(renewed.access_token))).status, 200);
      assert.equal((await refresh(e, clientId, refreshToken)).status, 200, 'old refresh token still valid');

      const otherClient = await registerClient(e);
      assert.equal(await errorOf(await refresh(e, otherClient, refreshToken)), 'invalid_grant');
      assert.equal(await errorOf(await refresh(e, clientId, 'oauth:bogus')), 'invalid_grant');

      e.options.rotateRefreshTokens = true;
      const rotated = (await (await refresh(e, clientId, refreshToken)).json()) as Tokens;
      assert.match(rotated.refresh_token ?? '', /^oauth:/);
      assert.notEqual(rotated.refresh_token, refreshToken);
      assert.equal(e.isTokenActive(refreshToken), false);
      const stale = await refresh(e, clientId, refreshToken);
      assert.equal(stale.status, 400);
      assert.equal(await errorOf(stale), 'invalid_grant');
      assert.equal((await refresh(e, clientId, rotated.refresh_token ?? '')).status, 200);
    });
  });

  it('expires, revokes and forgets on request', async () => {
    await withEmulator({}, async (e) => {
      const { clientId, tokens } = await login(e);
      e.expireAccessTokens();
      assert.equal((await get(`${e.appUrl}/`, bearer(tokens.access_token))).status, 401);
      const renewed = (await (await refresh(e, clientId, tokens.refresh_token ?? '')).json()) as Tokens;
      assert.equal((await get(`${e.appUrl}/`, bearer(renewed.access_token))).status, 200);

      const revoke = await postForm(`${e.teamUrl}/cdn-cgi/access/oauth/revoke`, {
        token: renewed.access_token,
        token_type_hint: 'access_token',
        client_id: clientId,
      });
      assert.equal(revoke.status, 200);
      assert.equal(await revoke.text(), '');
      assert.equal((await get(`${e.appUrl}/`, bearer(renewed.access_token))).status, 401);
      assert.equal(e.isTokenActive(renewed.access_token), false);

      await postForm(`${e.teamUrl}/cdn-cgi/access/oauth/revoke`, { token: tokens.refresh_token ?? '', client_id: clientId });
      await postForm(`${e.teamUrl}/cdn-cgi/access/oauth/revoke`, { token: 'oauth:never-issued' });
      assert.deepEqual(
        e.revocations.map((r) => [r.kind, r.token_type_hint]),
        [['access', 'access_token'], ['refresh', undefined], ['unknown', undefined]],
      );
      assert.ok(!JSON.stringify(e.revocations).includes('oauth:'));
      assert.equal(await errorOf(await refresh(e, clientId, tokens.refresh_token ?? '')), 'invalid_grant');

      const second = await login(e);
      e.revokeRefreshTokens();
      assert.equal(e.isTokenActive(second.tokens.access_token), true);
      assert.equal(e.isTokenActive(second.tokens.refresh_token ?? ''), false);
      e.revokeAllTokens();
      assert.equal((await get(`${e.appUrl}/`, bearer(second.tokens.access_token))).status, 401);

      e.forgetRegistrations();
      assert.deepEqual(e.clients(), []);
      const authorizeAfter = await authorize(e, { clientId: second.clientId, challenge: pkce().challenge });
      assert.equal(authorizeAfter.status, 400);
      assert.match(await authorizeAfter.text(), /invalid_client/);
      const refreshAfter = await refresh(e, second.clientId, second.tokens.refresh_token ?? '');
      assert.equal(refreshAfter.status, 401);
      assert.equal(await errorOf(refreshAfter), 'invalid_client');
    });
  });

  it('asks the user in interactive mode: approve and deny', async () => {
    await withEmulator({ approval: 'interactive' }, async (e) => {
      const clientId = await registerClient(e);
      const { verifier, challenge } = pkce();
      const decide = async (decision: 'approve' | 'deny', state: string): Promise<URLSearchParams> => {
        const page = await authorize(e, { clientId, challenge, state });
        assert.equal(page.status, 200);
        const html = await page.text();
        assert.match(html, /Sign in to 127\.0\.0\.1:\d+/);
        assert.ok(html.includes('emulator test'));
        assert.ok(html.includes('<button name="decision" value="approve" id="approve">Approve</button>'));
        assert.ok(html.includes('<button name="decision" value="deny" id="deny">Deny</button>'));
        const requestId = /name="request_id"[^>]*value="([^"]+)"/.exec(html)?.[1];
        assert.ok(requestId);
        return callbackParams(
          await postForm(`${e.teamUrl}/cdn-cgi/access/oauth/authorization/decision`, { request_id: requestId, decision }),
        );
      };
      const denied = await decide('deny', 'd1');
      assert.equal(denied.get('error'), 'access_denied');
      assert.ok(denied.get('error_description'));
      assert.equal(denied.get('state'), 'd1');

      const approved = await decide('approve', 'a1');
      assert.equal(approved.get('state'), 'a1');
      const res = await exchangeCode(e, clientId, approved.get('code') ?? '', verifier);
      assert.equal(res.status, 200);
      assert.deepEqual(
        e.requests({ origin: 'team' }).map((r) => r.endpoint),
        ['registration', 'authorize', 'authorize_decision', 'authorize', 'authorize_decision', 'token'],
      );
    });
  });
});

describe('emulator: content', () => {
  it('serves pages, data, files, redirects and statuses behind the token', async () => {
    await withEmulator({}, async (e) => {
      const { tokens } = await login(e);
      const auth = bearer(tokens.access_token);
      const fetchOk = async (path: string): Promise<Response> => {
        const res = await get(`${e.appUrl}${path}`, auth);
        assert.equal(res.status, 200, path);
        return res;
      };

      const long = await (await fetchOk('/long')).text();
      assert.ok(long.length >= 60_000, `long is ${long.length}`);
      const numbers = [...long.matchAll(/Paragraph (\d+):/g)].map((m) => Number(m[1]));
      assert.deepEqual(numbers, numbers.map((_, i) => i + 1));
      const paragraphs = [...long.matchAll(/<p>Paragraph \d+: ([^<]+)<\/p>/g)].map((m) => m[1]);
      assert.equal(new Set(paragraphs).size, paragraphs.length);

      const tables = await (await fetchOk('/tables')).text();
      assert.match(tables, /<thead><tr>(<th>[^<]+<\/th>){3}<\/tr><\/thead>/);
      assert.ok((tables.match(/<tr><td>/g) ?? []).length >= 3);
      assert.match(tables, /<pre><code>/);

      const tenK = (await (await fetchOk('/page-10k')).arrayBuffer()).byteLength;
      assert.ok(tenK > 9_000 && tenK < 12_000, String(tenK));

      const data = await fetchOk('/api/data.json');
      assert.equal(data.headers.get('content-type'), 'application/json');
      const json = (await data.json()) as { items: unknown[] };
      assert.ok(Array.isArray(json.items));

      const notes = await fetchOk('/files/notes.txt');
      assert.match(notes.headers.get('content-type') ?? '', /^text\/plain/);
      assert.ok((await notes.text()).split('\n').length >= 3);

      const png = await fetchOk('/images/pixel.png');
      assert.equal(png.headers.get('content-type'), 'image/png');
      assertValidPng(Buffer.from(await png.arrayBuffer()));

      const blob1 = Buffer.from(await (await fetchOk('/files/blob.bin')).arrayBuffer());
      const blob2 = Buffer.from(await (await fetchOk('/files/blob.bin')).arrayBuffer());
      assert.equal(blob1.length, 100 * 1024);
      assert.ok(blob1.equals(blob2));

      const echo = await fetch(`${e.appUrl}/echo?x=1`, { method: 'PUT', headers: { ...auth, 'x-test': 'yes' }, body: 'héllo' });
      const echoed = (await echo.json()) as { method: string; path: string; headers: Record<string, string>; body: string };
      assert.deepEqual([echoed.method, echoed.path, echoed.headers['x-test'], echoed.body], ['PUT', '/echo?x=1', 'yes', 'héllo']);

      const location = async (path: string): Promise<string | null> => {
        const res = await get(`${e.appUrl}${path}`, auth);
        assert.equal(res.status, 302, path);
        return res.headers.get('location');
      };
      assert.equal(await location('/redirect/same'), '/');
      assert.equal(await location('/redirect/chain?n=3'), '/redirect/chain?n=2');
      assert.equal(await location('/redirect/chain?n=1'), '/');
      assert.equal(await location('/redirect/loop'), '/redirect/loop');
      assert.equal(await location('/redirect/plain'), `${e.plainUrl}/echo`);
      assert.equal(await location('/redirect/app2'), `${e.app2Url}/echo`);

      const status = await get(`${e.appUrl}/status/503`, auth);
      assert.equal(status.status, 503);
      assert.ok((await status.text()).length > 0);
      const missing = await get(`${e.appUrl}/no/such/page`, auth);
      assert.equal(missing.status, 404);
      assert.match(missing.headers.get('content-type') ?? '', /text\/html/);
      await missing.arrayBuffer();

      const started = Date.now();
      assert.equal((await get(`${e.appUrl}/slow?ms=150`, auth)).status, 200);
      assert.ok(Date.now() - started >= 140);
    });
  });

  it('streams /big chunk by chunk and records how much was written when the client aborts', async () => {
    const finished: LogEntry[] = [];
    let onFinished: (() => void) | undefined;
    const trace = (entry: LogEntry): void => {
      finished.push(entry);
      if (entry.path.startsWith('/big')) onFinished?.();
    };
    await withEmulator({ trace }, async (e) => {
      const { tokens } = await login(e);
      const small = await get(`${e.appUrl}/big?size=300000`, bearer(tokens.access_token));
      assert.equal((await small.arrayBuffer()).byteLength, 300_000);
      assert.equal(e.requests({ endpoint: 'resource' }).at(-1)?.bytesSent, 300_000);

      const done = new Promise<void>((resolve) => (onFinished = resolve));
      const controller = new AbortController();
      const res = await fetch(`${e.appUrl}/big`, { headers: bearer(tokens.access_token), signal: controller.signal });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-length'), String(200 * 1024 * 1024));
      const reader = res.body!.getReader();
      let received = 0;
      while (received < 256 * 1024) received += (await reader.read()).value?.byteLength ?? 0;
      controller.abort();
      await done;
      const entry = finished.find((f) => f.path === '/big');
      assert.ok(entry?.bytesSent !== undefined);
      assert.ok(entry.bytesSent >= received, `${entry.bytesSent} >= ${received}`);
      assert.ok(entry.bytesSent < 50 * 1024 * 1024, `bytesSent ${entry.bytesSent}`);
    });
  });

  it('logs the plain origin and shows what reached it', async () => {
    await withEmulator({}, async (e) => {
      const { tokens } = await login(e);
      const hop = await get(`${e.appUrl}/redirect/plain`, bearer(tokens.access_token));
      const next = await get(hop.headers.get('location') ?? '');
      assert.equal(next.status, 200);
      const plain = e.requests({ origin: 'plain' });
      assert.equal(plain.length, 1);
      assert.equal(plain[0]?.endpoint, 'plain');
      assert.equal(plain[0]?.headers.authorization, undefined);
      assert.equal((await get(`${e.plainUrl}/`)).status, 200);
    });
  });
});

function assertValidPng(png: Buffer): void {
  assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])));
  let offset = 8;
  const chunks = new Map<string, Buffer>();
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const typed = png.subarray(offset + 4, offset + 8 + length);
    assert.equal(png.readUInt32BE(offset + 8 + length), crc32(typed) >>> 0);
    chunks.set(typed.subarray(0, 4).toString('ascii'), typed.subarray(4));
    offset += 12 + length;
  }
  const ihdr = chunks.get('IHDR');
  assert.ok(ihdr && chunks.has('IEND'));
  const [width, height] = [ihdr.readUInt32BE(0), ihdr.readUInt32BE(4)];
  assert.equal(inflateSync(chunks.get('IDAT') ?? Buffer.alloc(0)).length, height * (1 + width * 3));
}

describe('emulator: classic Access', () => {
  it('redirects every client, accepts the JWT as header or cookie but not as Bearer', async () => {
    await withEmulator({ mode: 'classic' }, async (e) => {
      const probe = await get(`${e.appUrl}/api/data.json`, { accept: 'application/json' });
      assert.equal(probe.status, 302);
      assert.match(probe.headers.get('location') ?? '', /\/cdn-cgi\/access\/login\//);
      assert.match(probe.headers.get('www-authenticate') ?? '', /^Cloudflare-Access resource_metadata="/);
      assert.match(probe.headers.get('set-cookie') ?? '', /CF_AppSession=/);
      assert.equal(e.requests({ origin: 'app' })[0]?.endpoint, 'login_redirect');

      const rm = (await (await get(`${e.appUrl}/.well-known/cloudflare-access-protected-resource/`)).json()) as {
        authentication_methods: Array<{ name: string }>;
      };
      assert.deepEqual(rm.authentication_methods.map((m) => m.name), ['cloudflared']);
      const sm = (await (await get(`${e.teamUrl}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
      assert.equal(sm.registration_endpoint, undefined);

      const jwt = e.issueClassicJwt();
      assert.equal((await get(`${e.appUrl}/`, { 'cf-access-token': jwt })).status, 200);
      assert.equal((await get(`${e.appUrl}/`, { cookie: `other=1; CF_Authorization=${jwt}` })).status, 200);
      assert.equal((await get(`${e.appUrl}/`, bearer(jwt))).status, 302);
      assert.equal((await get(`${e.app2Url}/`, { 'cf-access-token': jwt })).status, 302, 'JWT of app refused by app2');
      assert.equal((await get(`${e.app2Url}/`, { 'cf-access-token': e.issueClassicJwt({ app: 'app2' }) })).status, 200);
      const expired = e.issueClassicJwt({ lifetimeSeconds: -10 });
      assert.equal((await get(`${e.appUrl}/`, { 'cf-access-token': expired })).status, 302);
      const tampered = jwt.slice(0, -4) + (jwt.endsWith('AAAA') ? 'BBBB' : 'AAAA');
      assert.equal((await get(`${e.appUrl}/`, { 'cf-access-token': tampered })).status, 302);
    });
  });

  it('publishes certs that verify the JWT, and logs the cloudflared stand-in in', async () => {
    await withEmulator({ mode: 'classic' }, async (e) => {
      const certs = (await (await get(`${e.teamUrl}/cdn-cgi/access/certs`)).json()) as {
        keys: Array<{ kid: string; kty: string; n: string; e: string }>;
        public_cert: { kid: string; cert: string };
        public_certs: Array<{ kid: string; cert: string }>;
      };
      const login = await get(`${e.teamUrl}/cdn-cgi/access/login/${new URL(e.appUrl).host}?kid=${e.aud.app}&redirect_url=%2F`, {
        'x-emulator-cli': '1',
      });
      assert.equal(login.status, 200);
      const { token } = (await login.json()) as { token: string };
      const [head, payload, signature] = token.split('.') as [string, string, string];
      const header = JSON.parse(Buffer.from(head, 'base64url').toString()) as { alg: string; kid: string };
      assert.equal(header.alg, 'RS256');
      const jwk = certs.keys.find((k) => k.kid === header.kid);
      assert.ok(jwk);
      const key = createPublicKey({ key: { kty: jwk.kty, n: jwk.n, e: jwk.e }, format: 'jwk' });
      assert.ok(verify('sha256', Buffer.from(`${head}.${payload}`), key, Buffer.from(signature, 'base64url')));
      const pemKey = createPublicKey(certs.public_cert.cert);
      assert.ok(verify('sha256', Buffer.from(`${head}.${payload}`), pemKey, Buffer.from(signature, 'base64url')));
      assert.equal(certs.public_certs[0]?.kid, header.kid);

      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
      assert.deepEqual(claims.aud, [e.aud.app]);
      assert.equal(claims.email, 'agent@example.com');
      assert.equal(claims.iss, e.teamUrl);
      assert.equal(claims.type, 'app');
      for (const claim of ['exp', 'iat', 'nbf', 'identity_nonce', 'sub', 'country']) assert.ok(claim in claims, claim);
      assert.equal((await get(`${e.appUrl}/`, { 'cf-access-token': token })).status, 200);

      const browser = await get(`${e.teamUrl}/cdn-cgi/access/login/${new URL(e.appUrl).host}?redirect_url=%2Ftables`);
      assert.equal(browser.status, 200);
      assert.match(await browser.text(), /signed in/i);
      assert.match(browser.headers.get('set-cookie') ?? '', /^CF_Authorization=/);
      assert.deepEqual(e.requests({ origin: 'team' }).map((r) => r.endpoint), ['certs', 'login', 'login']);
    });
  });
});

describe('emulator: service tokens and service-auth-only apps', () => {
  const serviceTokens = [{ clientId: 'abc123.access', clientSecret: 'cfast_secret' }];
  const pair = { 'CF-Access-Client-Id': 'abc123.access', 'CF-Access-Client-Secret': 'cfast_secret' };

  it('answers service-auth-only apps with 403 naming the aud and team', async () => {
    await withEmulator({ mode: 'service-auth-only', serviceTokens }, async (e) => {
      const json = await get(`${e.appUrl}/`, { accept: 'application/json' });
      assert.equal(json.status, 403);
      assert.equal(json.headers.get('cf-access-aud'), e.aud.app);
      assert.equal(json.headers.get('cf-access-domain'), new URL(e.teamUrl).host);
      const body = (await json.json()) as Record<string, unknown>;
      assert.equal(body.status_code, 403);
      assert.equal(body.aud, e.aud.app);
      assert.match(String(body.message), /^Forbidden/);
      assert.ok(body.ray_id);

      const html = await get(`${e.appUrl}/`, { accept: 'text/html' });
      assert.equal(html.status, 403);
      assert.match(html.headers.get('content-type') ?? '', /text\/html/);
      await html.arrayBuffer();
      assert.equal((await get(`${e.appUrl}/`, pair)).status, 200);
      assert.equal((await get(`${e.appUrl}/`, { 'cf-access-token': e.issueClassicJwt() })).status, 403);
    });
  });

  it('accepts the header pair and the single header, and refuses wrong pairs', async () => {
    await withEmulator({ serviceTokens }, async (e) => {
      assert.equal((await get(`${e.appUrl}/`, pair)).status, 200);
      const wrong = await get(`${e.appUrl}/`, { ...pair, 'CF-Access-Client-Secret': 'nope' });
      assert.equal(wrong.status, 401, 'same as no credentials in managed mode');
      await wrong.arrayBuffer();

      const single = JSON.stringify({ 'cf-access-client-id': 'abc123.access', 'cf-access-client-secret': 'cfast_secret' });
      assert.equal((await get(`${e.appUrl}/`, { authorization: single })).status, 401, 'single header is off');
      e.options.serviceTokenHeader = 'Authorization';
      assert.equal((await get(`${e.appUrl}/`, { authorization: single })).status, 200);
      const upper = JSON.stringify({ 'CF-Access-Client-Id': 'abc123.access', 'CF-Access-Client-Secret': 'cfast_secret' });
      assert.equal((await get(`${e.appUrl}/`, { authorization: upper })).status, 401, 'keys must be lowercase');
      const { tokens } = await login(e);
      assert.equal((await get(`${e.appUrl}/`, bearer(tokens.access_token))).status, 200, 'Bearer still works');

      e.options.mode = 'classic';
      assert.equal((await get(`${e.appUrl}/`, { ...pair, 'CF-Access-Client-Secret': 'nope' })).status, 302);
      assert.equal((await get(`${e.appUrl}/`, pair)).status, 200);
    });
  });

  it('answers 401/403 under strict service token authentication', async () => {
    await withEmulator({ serviceTokens, strictServiceTokens: true, mode: 'classic' }, async (e) => {
      const badSecret = await get(`${e.appUrl}/`, { ...pair, 'CF-Access-Client-Secret': 'nope' });
      assert.equal(badSecret.status, 401);
      assert.match(badSecret.headers.get('content-type') ?? '', /application\/json/);
      await badSecret.json();
      const unknownId = await get(`${e.appUrl}/`, { ...pair, 'CF-Access-Client-Id': 'zzz.access' });
      assert.equal(unknownId.status, 403);
      await unknownId.json();
      assert.equal((await get(`${e.appUrl}/`)).status, 302, 'no credentials: the mode challenge');
      assert.equal((await get(`${e.appUrl}/`, pair)).status, 200);
    });
  });
});

describe('emulator: faults', () => {
  it('injects 5xx for a number of requests, then clears itself', async () => {
    await withEmulator({}, async (e) => {
      e.setFault({ endpoint: 'server_metadata', kind: '5xx', times: 2 });
      const url = `${e.teamUrl}/.well-known/oauth-authorization-server`;
      assert.equal((await get(url)).status, 503);
      const second = await get(url);
      assert.equal(second.status, 503);
      assert.deepEqual(await second.json(), { error: 'temporarily_unavailable', error_description: 'Injected fault' });
      assert.equal((await get(url)).status, 200);
    });
  });

  it('reshapes or breaks metadata and token responses', async () => {
    await withEmulator({}, async (e) => {
      const rmUrl = `${e.appUrl}/.well-known/cloudflare-access-protected-resource/`;
      e.setFault({ endpoint: 'resource_metadata', kind: 'malformed_json', times: 1 });
      const malformed = await get(rmUrl);
      assert.equal(malformed.status, 200);
      await assert.rejects(malformed.json());

      e.setFault({ endpoint: 'resource_metadata', kind: 'missing_fields', times: 1 });
      const missing = (await (await get(rmUrl)).json()) as Record<string, unknown>;
      assert.equal(missing.resource, undefined);
      assert.equal(missing.authorization_servers, undefined);

      e.setFault({ endpoint: 'resource_metadata', kind: 'metadata_other_origin', times: 1 });
      assert.equal(((await (await get(rmUrl)).json()) as { resource: string }).resource, 'https://evil.example.com');
      e.setFault({ endpoint: 'resource_metadata', kind: 'http_authorization_server', times: 1 });
      assert.deepEqual(((await (await get(rmUrl)).json()) as { authorization_servers: string[] }).authorization_servers, [
        'http://auth.evil.example.com',
      ]);

      e.setFault({ endpoint: 'server_metadata', kind: 'authorization_server_other_host', times: 1 });
      const other = (await (await get(`${e.teamUrl}/.well-known/oauth-authorization-server`)).json()) as Record<string, string>;
      assert.equal(other.token_endpoint, 'https://other.example.net/cdn-cgi/access/oauth/token');
      assert.equal(other.authorization_endpoint, 'https://other.example.net/cdn-cgi/access/oauth/authorization');

      e.setFault({ endpoint: 'registration', kind: 'missing_fields', times: 1 });
      const reg = (await (await register(e)).json()) as Record<string, unknown>;
      assert.equal(reg.client_id, undefined);

      const clientId = await registerClient(e);
      const { verifier, challenge } = pkce();
      const code = callbackParams(await authorize(e, { clientId, challenge })).get('code') ?? '';
      e.setFault({ endpoint: 'token', kind: 'no_access_token' });
      const tokens = (await (await exchangeCode(e, clientId, code, verifier)).json()) as Record<string, unknown>;
      assert.equal(tokens.access_token, undefined);
      assert.match(String(tokens.refresh_token), /^oauth:/);
      e.setFault(null);
    });
  });

  it('drops connections, sends huge headers and bodies, and delays until close()', async () => {
    const emulator = await startEmulator({});
    try {
      emulator.setFault({ endpoint: 'probe', kind: 'drop', times: 1 });
      await assert.rejects(get(`${emulator.appUrl}/`));
      assert.equal((await get(`${emulator.appUrl}/`)).status, 401);

      emulator.setFault({ endpoint: 'resource_metadata', kind: 'huge_header', times: 1 });
      await assert.rejects(get(`${emulator.appUrl}/.well-known/cloudflare-access-protected-resource/`));

      emulator.setFault({ endpoint: 'server_metadata', kind: 'huge_body', times: 1 });
      const huge = await get(`${emulator.teamUrl}/.well-known/oauth-authorization-server`);
      assert.equal(huge.status, 200);
      const reader = huge.body!.getReader();
      const first = await reader.read();
      assert.ok(Buffer.from(first.value ?? []).toString().startsWith('{"padding":"'));
      await reader.cancel();

      emulator.setFault({ endpoint: 'token', kind: 'delay', delayMs: 30_000 });
      const pending = postForm(`${emulator.teamUrl}/cdn-cgi/access/oauth/token`, { grant_type: 'refresh_token' });
      const settled = pending.then(
        () => 'resolved',
        () => 'rejected',
      );
      await new Promise((r) => setTimeout(r, 100));
      const started = Date.now();
      await emulator.close();
      assert.ok(Date.now() - started < 2_000, 'close() does not wait for the delay');
      assert.equal(await settled, 'rejected');
    } finally {
      await emulator.close();
    }
  });
});

describe('emulator: admin API', () => {
  it('exposes info, log, options, token expiry and faults over HTTP', async () => {
    await withEmulator({}, async (e) => {
      const admin = (path: string, body?: unknown): Promise<Response> =>
        body === undefined && !path.startsWith('POST ')
          ? get(`${e.teamUrl}/__emulator/${path}`)
          : fetch(`${e.teamUrl}/__emulator/${path.replace(/^POST /, '')}`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(body ?? {}),
            });
      const info = (await (await admin('info')).json()) as { appUrl: string; options: Record<string, unknown> };
      assert.equal(info.appUrl, e.appUrl);
      assert.equal(info.options.mode, 'managed');

      const { tokens } = await login(e);
      assert.equal((await admin('POST expire-tokens')).status, 200);
      assert.equal((await get(`${e.appUrl}/`, bearer(tokens.access_token))).status, 401);

      assert.equal((await admin('POST options', { tokenLifetimeSeconds: 5, approval: 'interactive' })).status, 200);
      assert.equal(e.options.tokenLifetimeSeconds, 5);
      assert.equal(e.options.approval, 'interactive');
      assert.equal((await admin('POST options', { mode: 'nonsense' })).status, 400);

      assert.equal((await admin('POST fault', { endpoint: 'probe', kind: '5xx', times: 1 })).status, 200);
      assert.equal((await get(`${e.appUrl}/`)).status, 503);

      const log = (await (await admin('log')).json()) as LogEntry[];
      assert.ok(log.some((entry) => entry.endpoint === 'token'));
      assert.ok(log.every((entry) => typeof entry.headers === 'object'));
      await admin('POST clear-log');
      assert.deepEqual(e.log, []);
      await admin('POST forget-registrations');
      assert.deepEqual(e.clients(), []);
      assert.deepEqual(
        e.requests({ endpoint: 'admin' }).map((r) => r.status),
        [200],
      );
    });
  });
});

describe('emulator: redirect-URI switches and grants (issue 13)', () => {
  const LOCALHOST_URI = 'http://localhost:8400/callback';

  it('allows both loopback forms by default, one when set; a refused form gets 400 invalid_redirect_uri', async () => {
    await withEmulator({}, async (e) => {
      assert.equal((await register(e, [LOCALHOST_URI])).status, 201);
      assert.equal((await register(e, [REDIRECT_URI])).status, 201);
    });
    await withEmulator({ redirectHosts: 'localhost' }, async (e) => {
      const refused = await register(e, [REDIRECT_URI]);
      assert.equal(refused.status, 400);
      assert.equal(await errorOf(refused), 'invalid_redirect_uri');
      assert.equal((await register(e, [LOCALHOST_URI])).status, 201);
    });
    await withEmulator({ redirectHosts: '127.0.0.1' }, async (e) => {
      assert.equal(await errorOf(await register(e, [LOCALHOST_URI])), 'invalid_redirect_uri');
      assert.equal((await register(e, [REDIRECT_URI])).status, 201);
    });
  });

  it('authorize refuses a form switched off after registration (shown, not redirected)', async () => {
    await withEmulator({}, async (e) => {
      const clientId = await registerClient(e);
      e.options.redirectHosts = 'localhost';
      const res = await authorize(e, { clientId, challenge: pkce().challenge });
      assert.equal(res.status, 400);
      assert.match(await res.text(), /redirect_uri is not allowed/);
    });
  });

  it('registration with refresh_token is refused when only authorization_code is allowed', async () => {
    await withEmulator({ registrableGrants: ['authorization_code'] }, async (e) => {
      const refused = await register(e);
      assert.equal(refused.status, 400);
      assert.equal(await errorOf(refused), 'invalid_client_metadata');
    });
  });

  it('strict grants: refresh is refused (unauthorized_client) for a client that registered authorization_code only', async () => {
    await withEmulator({ strictGrants: true }, async (e) => {
      const res = await fetch(`${e.teamUrl}/cdn-cgi/access/oauth/registration`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'] }),
      });
      const clientId = ((await res.json()) as { client_id: string }).client_id;
      const { verifier, challenge } = pkce();
      const code = callbackParams(await authorize(e, { clientId, challenge })).get('code')!;
      const tokens = (await (await exchangeCode(e, clientId, code, verifier)).json()) as Tokens;
      const refused = await refresh(e, clientId, tokens.refresh_token!);
      assert.equal(refused.status, 400);
      assert.equal(await errorOf(refused), 'unauthorized_client');
      // A client that registered both grants refreshes.
      const both = await login(e);
      assert.equal((await refresh(e, both.clientId, both.tokens.refresh_token!)).status, 200);
    });
  });

  it('grant session duration 0: no refresh token', async () => {
    await withEmulator({ issueRefreshTokens: false }, async (e) => {
      const { tokens } = await login(e);
      assert.equal(tokens.refresh_token, undefined);
      assert.ok(tokens.access_token);
    });
  });
});

describe('emulator: several applications on one host, and policy denials', () => {
  const metadataOf = async (url: string) => {
    const res = await fetch(url, { method: 'HEAD', headers: { 'cf-access-metadata-request': 'true' } });
    const jwt = res.headers.get('cf-access-metadata') ?? '';
    return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { aud: string; hostname: string };
  };

  it('gives /admin its own resource, AUD and signed metadata; a token serves only its own application', async () => {
    await withEmulator({ pathApps: ['/admin'] }, async (e) => {
      const admin = e.applications.find((a) => a.name === '/admin')!;
      assert.equal(admin.resource, `${e.appUrl}/admin`);
      assert.notEqual(admin.aud, e.aud.app);
      const challenge = await get(`${e.appUrl}/admin/users`);
      assert.equal(challenge.status, 401);
      const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge.headers.get('www-authenticate') ?? '')?.[1];
      assert.ok(metadataUrl?.endsWith('/admin/users'));
      assert.equal(((await (await get(metadataUrl!)).json()) as { resource: string }).resource, `${e.appUrl}/admin`);
      assert.equal(((await (await get(`${e.appUrl}/.well-known/cloudflare-access-protected-resource/`)).json()) as { resource: string }).resource, e.appUrl);
      assert.equal((await metadataOf(`${e.appUrl}/admin/x`)).aud, admin.aud);
      assert.equal((await metadataOf(`${e.appUrl}/`)).aud, e.aud.app);
      // "/administrator" is not under "/admin": whole path segments only.
      assert.equal((await metadataOf(`${e.appUrl}/administrator`)).aud, e.aud.app);

      const root = await login(e, e.appUrl);
      const adminLogin = await login(e, `${e.appUrl}/admin`);
      assert.equal(adminLogin.tokens.resource, `${e.appUrl}/admin/`);
      assert.equal((await get(`${e.appUrl}/`, bearer(root.tokens.access_token))).status, 200);
      assert.equal((await get(`${e.appUrl}/admin`, bearer(root.tokens.access_token))).status, 401);
      assert.equal((await get(`${e.appUrl}/admin/x`, bearer(adminLogin.tokens.access_token))).status, 404);
      assert.equal((await get(`${e.appUrl}/`, bearer(adminLogin.tokens.access_token))).status, 401);
    });
  });

  it('deny policy: block page after the sign-in (not at the authorization endpoint, which knows no user yet), refresh refused, 403 block page with Access headers, custom deny URL', async () => {
    await withEmulator({ pathApps: ['/admin'] }, async (e) => {
      const { clientId, tokens } = await login(e, `${e.appUrl}/admin`);
      e.options.deny = ['/admin'];
      const { challenge } = pkce();
      const authorization = await authorize(e, { clientId: await registerClient(e), challenge, resource: `${e.appUrl}/admin`, state: 's1' });
      assert.equal(authorization.status, 302, 'the sign-in starts');
      const signIn = new URL(authorization.headers.get('location')!);
      assert.equal(signIn.origin, e.teamUrl);
      assert.ok(!signIn.href.startsWith(REDIRECT_URI), 'no code and no error for the client before anyone signed in');
      const blocked = await get(signIn.href);
      assert.equal(blocked.status, 403);
      assert.match(await blocked.text(), /That account does not have access/);
      assert.equal(blocked.headers.get('location'), null, 'the callback never comes');
      assert.equal((await get(signIn.href)).status, 400, 'each sign-in is used once');
      const refused = await refresh(e, clientId, tokens.refresh_token!);
      assert.equal(refused.status, 400);
      assert.equal(await errorOf(refused), 'access_denied');
      const page = await get(`${e.appUrl}/admin/x`, bearer(tokens.access_token));
      assert.equal(page.status, 403);
      assert.equal(page.headers.get('cf-access-aud'), e.applications.find((a) => a.name === '/admin')!.aud);
      assert.ok(page.headers.get('cf-ray'));
      assert.match(await page.text(), /That account does not have access/);
      e.options.denyUrl = 'https://deny.example.com/sorry';
      const redirected = await get(`${e.appUrl}/admin/x`, bearer(tokens.access_token));
      assert.equal(redirected.status, 302);
      assert.equal(redirected.headers.get('location'), 'https://deny.example.com/sorry');
      // The application at / is not affected.
      assert.equal((await get(`${e.appUrl}/`, bearer((await login(e)).tokens.access_token))).status, 200);
    });
  });
});

describe('emulator: the remote MCP endpoints', () => {
  it('a session belongs to the endpoint that made it: /mcp and /mcp-resumable are two servers', async () => {
    await withEmulator({}, async (e) => {
      const credential = { 'cf-access-token': e.issueClassicJwt() };
      const post = (path: string, body: unknown, session?: string) =>
        fetch(`${e.appUrl}${path}`, {
          method: 'POST',
          headers: { ...credential, 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(session ? { 'mcp-session-id': session } : {}) },
          body: JSON.stringify(body),
        });
      const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } };
      const made = await post('/mcp', initialize);
      assert.equal(made.status, 200);
      const session = made.headers.get('mcp-session-id')!;
      await made.body?.cancel();
      assert.ok(session);
      const ping = { jsonrpc: '2.0', id: 2, method: 'ping' };
      const elsewhere = await post('/mcp-resumable', ping, session);
      assert.equal(elsewhere.status, 404, 'the other endpoint does not know the session');
      await elsewhere.body?.cancel();
      const here = await post('/mcp', ping, session);
      assert.equal(here.status, 200);
      await here.body?.cancel();
    });
  });
});
