import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { allowedTeam, AppMetadataVerifier, TeamKeys, verifyMetadataJwt } from '../../src/auth/app-metadata.js';
import { cloudflaredSessionVerified, tokenMatchesApp } from '../../src/auth/cloudflared.js';
import { accessLoginRedirect } from '../../src/auth/detect.js';
import { AccessError } from '../../src/core/errors.js';
import { createDispatcher } from '../../src/http/client.js';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';

/**
 * Issue 11 item 1: the signed application metadata check that stands between
 * a page and a cloudflared token. A JWKS server on loopback plays the team.
 */

interface Key {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

function newKey(kid: string): Key {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, privateKey, publicKey };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function signJwt(key: Key, claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const head = b64({ alg: 'RS256', kid: key.kid, typ: 'JWT', ...header });
  const body = b64(claims);
  return `${head}.${body}.${sign('sha256', Buffer.from(`${head}.${body}`), key.privateKey).toString('base64url')}`;
}

const dispatcher = createDispatcher();
/** JSON calls (the team's keys) through that pool, each bounded in all as CF_ACCESS_MCP_DEADLINE_MS would. */
const http = { dispatcher, deadlineMs: 30_000 };
let team: Server;
let teamHost: string;
let published: Key[] = [];
let certsFetches = 0;
const keyA = newKey('key-a');
const keyB = newKey('key-b');
const target = new URL('http://127.0.0.1:45678/docs');

before(async () => {
  team = createServer((req, res) => {
    if (req.url !== '/cdn-cgi/access/certs') return void res.writeHead(404).end();
    certsFetches++;
    const keys = published.map((k) => ({ kid: k.kid, alg: 'RS256', use: 'sig', ...k.publicKey.export({ format: 'jwk' }) }));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => team.listen(0, '127.0.0.1', resolve));
  teamHost = `127.0.0.1:${(team.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise((resolve) => team.close(resolve));
  await dispatcher.close();
});

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'match', hostname: target.host, app_hostname: target.host, auth_domain: teamHost, aud: 'a'.repeat(64), iat: Math.floor(Date.now() / 1000), ...overrides };
}

async function refused(promise: Promise<unknown>, why: RegExp): Promise<AccessError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AccessError, String(error));
    assert.equal(error.code, 'app_not_verified');
    assert.match(error.message, why);
    assert.match(error.nextStep, /service token/);
    assert.match(error.nextStep, /really the application/);
    assert.doesNotMatch(error.nextStep, /cloudflared access login/);
    return error;
  }
  assert.fail('the metadata was accepted');
}

describe('signed application metadata (cf-access-metadata)', () => {
  it('accepts metadata signed by the team for this host', async () => {
    published = [keyA];
    const keys = new TeamKeys(http);
    const app = await verifyMetadataJwt(signJwt(keyA, claims()), target, keys.lookup);
    assert.deepEqual(app, { aud: 'a'.repeat(64), appHostname: target.host, team: teamHost, hostname: target.host });
  });

  it('refuses a bad signature', async () => {
    published = [keyA];
    const forged = signJwt({ ...keyB, kid: keyA.kid }, claims());
    await refused(verifyMetadataJwt(forged, target, new TeamKeys(http).lookup), /signature .* invalid/);
    const [h, , s] = signJwt(keyA, claims()).split('.');
    const tampered = `${h}.${b64(claims({ aud: 'b'.repeat(64) }))}.${s}`;
    await refused(verifyMetadataJwt(tampered, target, new TeamKeys(http).lookup), /signature .* invalid/);
  });

  it('refuses another type than "match", and another algorithm', async () => {
    published = [keyA];
    await refused(verifyMetadataJwt(signJwt(keyA, claims({ type: 'nomatch' })), target, new TeamKeys(http).lookup), /type "nomatch"/);
    await refused(verifyMetadataJwt(signJwt(keyA, claims(), { alg: 'none' }), target, new TeamKeys(http).lookup), /malformed/);
  });

  it('refuses metadata issued for another host (a page relaying the real application\'s header)', async () => {
    published = [keyA];
    const other = signJwt(keyA, claims({ hostname: '127.0.0.1:45679' }));
    await refused(verifyMetadataJwt(other, target, new TeamKeys(http).lookup), /issued for 127\.0\.0\.1:45679, not 127\.0\.0\.1:45678/);
    const noPort = signJwt(keyA, claims({ hostname: '127.0.0.1' }));
    await refused(verifyMetadataJwt(noPort, target, new TeamKeys(http).lookup), /issued for/);
  });

  it('refuses metadata older than 24 h or more than 5 min in the future', async () => {
    published = [keyA];
    const now = Math.floor(Date.now() / 1000);
    await refused(verifyMetadataJwt(signJwt(keyA, claims({ iat: now - 25 * 3600 })), target, new TeamKeys(http).lookup), /more than 24 hours old/);
    await refused(verifyMetadataJwt(signJwt(keyA, claims({ iat: now + 10 * 60 })), target, new TeamKeys(http).lookup), /in the future/);
    // Within the bounds: a few hours old, a minute ahead.
    await verifyMetadataJwt(signJwt(keyA, claims({ iat: now - 3 * 3600 })), target, new TeamKeys(http).lookup);
    await verifyMetadataJwt(signJwt(keyA, claims({ iat: now + 60 })), target, new TeamKeys(http).lookup);
  });

  it('refuses a team outside *.cloudflareaccess.com without fetching its keys', async () => {
    published = [keyA];
    const remote = new URL('https://app.example.com/');
    const before = certsFetches;
    const evil = signJwt(keyA, claims({ hostname: 'app.example.com', auth_domain: 'evil.example.com' }));
    await refused(verifyMetadataJwt(evil, remote, new TeamKeys(http).lookup), /not a Cloudflare Access team domain/);
    assert.equal(certsFetches, before);
  });

  it('refuses a loopback team for a non-loopback URL', async () => {
    published = [keyA];
    const remote = new URL('https://app.example.com/');
    const before = certsFetches;
    const local = signJwt(keyA, claims({ hostname: 'app.example.com' }));
    await refused(verifyMetadataJwt(local, remote, new TeamKeys(http).lookup), /not a Cloudflare Access team domain/);
    assert.equal(certsFetches, before, 'no request to this machine on behalf of a remote page');
  });

  it('fetches the keys once, again exactly once on an unknown kid, and refuses a kid still unknown', async () => {
    published = [keyA];
    const keys = new TeamKeys(http);
    const start = certsFetches;
    await verifyMetadataJwt(signJwt(keyA, claims()), target, keys.lookup);
    await verifyMetadataJwt(signJwt(keyA, claims()), target, keys.lookup);
    assert.equal(certsFetches - start, 1, 'cached');
    published = [keyA, keyB]; // key rotation
    await verifyMetadataJwt(signJwt(keyB, claims()), target, keys.lookup);
    assert.equal(certsFetches - start, 2, 'refetched once for the new kid');
    await refused(verifyMetadataJwt(signJwt(newKey('key-c'), claims()), target, keys.lookup), /key .* does not publish/);
    assert.equal(certsFetches - start, 3, 'one refetch, then refused');
  });

  it('names which teams may sign', () => {
    const remote = new URL('https://app.example.com/');
    assert.equal(allowedTeam('team.cloudflareaccess.com', remote), true);
    assert.equal(allowedTeam('TEAM.cloudflareaccess.com', remote), true);
    for (const bad of ['cloudflareaccess.com.evil.com', 'evilcloudflareaccess.com', 'team.cloudflareaccess.com:8443', 'team.cloudflareaccess.com/x', 'u@team.cloudflareaccess.com', 'localhost:1234', '127.0.0.1:1234', '']) {
      assert.equal(allowedTeam(bad, remote), false, bad);
    }
    assert.equal(allowedTeam('127.0.0.1:1234', new URL('http://127.0.0.1:99/')), true);
  });
});

describe('tokens and sessions belong to the proven application', () => {
  const app = { aud: 'aud-1', team: 'team.cloudflareaccess.com' };
  const jwt = (payload: Record<string, unknown>) => `${b64({ alg: 'RS256' })}.${b64(payload)}.sig`;

  it('matches aud as a string or an array, and iss against the team', () => {
    assert.equal(tokenMatchesApp(jwt({ aud: 'aud-1' }), app), true);
    assert.equal(tokenMatchesApp(jwt({ aud: ['x', 'aud-1'], iss: 'https://team.cloudflareaccess.com' }), app), true);
    assert.equal(tokenMatchesApp(jwt({ aud: ['aud-2'] }), app), false);
    assert.equal(tokenMatchesApp(jwt({}), app), false);
    assert.equal(tokenMatchesApp(jwt({ aud: 'aud-1', iss: 'https://other.cloudflareaccess.com' }), app), false);
    assert.equal(tokenMatchesApp('not a jwt', app), false);
  });

  it('does not trust a cloudflared session stored without its application (an older store)', () => {
    const base = { origin: 'https://a.example.com', method: 'cloudflared' as const, access_token: jwt({ aud: 'aud-1' }), obtained_at: 1 };
    assert.equal(cloudflaredSessionVerified(base), false);
    assert.equal(cloudflaredSessionVerified({ ...base, app_aud: 'aud-1', team: app.team }), true);
    assert.equal(cloudflaredSessionVerified({ ...base, app_aud: 'aud-2', team: app.team }), false);
    assert.equal(cloudflaredSessionVerified({ ...base, method: 'oauth' }), true);
  });
});

describe('login redirects are hints, and a remote page cannot point at this machine', () => {
  it('takes a loopback login page only for a loopback URL', () => {
    const login = 'http://127.0.0.1:9/cdn-cgi/access/login/app?kid=x';
    assert.equal(accessLoginRedirect(login, new URL('https://remote.example.com/')), undefined);
    assert.equal(accessLoginRedirect(login, new URL('http://127.0.0.1:8/'))?.host, '127.0.0.1:9');
    assert.equal(accessLoginRedirect('https://team.cloudflareaccess.com/cdn-cgi/access/login/x', new URL('https://remote.example.com/'))?.host, 'team.cloudflareaccess.com');
  });
});

describe('the emulator signs its applications like the edge', () => {
  let emulator: Emulator;
  before(async () => {
    emulator = await startEmulator({ mode: 'classic' });
  });
  after(async () => {
    await emulator.close();
  });

  it('proves each app, and the plain origin proves nothing', async () => {
    const verifier = new AppMetadataVerifier(http);
    const app = await verifier.verify(new URL(`${emulator.appUrl}/some/page`));
    assert.equal(app.aud, emulator.aud.app);
    assert.equal(app.team, new URL(emulator.teamUrl).host);
    assert.equal(app.appHostname, new URL(emulator.appUrl).host);
    assert.equal((await verifier.verify(new URL(emulator.app2Url))).aud, emulator.aud.app2);
    await refused(verifier.verify(new URL(`${emulator.plainUrl}/`)), /sent no signed application metadata/);
    assert.equal(emulator.requests({ endpoint: 'app_metadata' }).length, 2);
  });
});
