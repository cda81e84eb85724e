import { generateKeyPair, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { escapeHtml, header, htmlPage, sendHtml, sendJson, type RequestContext } from './http-util.js';
import { blockPage } from './challenge.js';
import { appByHost, policyDenies, type ProtectedApp, type Runtime } from './runtime.js';
import { randomToken } from './state.js';

export interface ClassicKeys {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

const generateRsa = promisify(generateKeyPair);
let sharedKeys: Promise<ClassicKeys> | undefined;

/** One RSA key pair per process: RSA generation is slow enough to matter in a test suite. */
export function classicKeys(): Promise<ClassicKeys> {
  sharedKeys ??= generateRsa('rsa', { modulusLength: 2048 }).then(({ privateKey, publicKey }) => ({
    kid: randomToken(16),
    privateKey,
    publicKey,
  }));
  return sharedKeys;
}

const AGENT_EMAIL = 'agent@example.com';
const AGENT_SUB = randomUUID();
const JWT_HEADER_ALG = 'RS256';

function b64json(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function issueClassicJwt(rt: Runtime, app: ProtectedApp, lifetimeSeconds: number): string {
  const now = Math.floor(Date.now() / 1000);
  const head = b64json({ alg: JWT_HEADER_ALG, kid: rt.keys.kid, typ: 'JWT' });
  const claims = b64json({
    aud: [app.aud],
    email: AGENT_EMAIL,
    exp: now + lifetimeSeconds,
    iat: now,
    nbf: now,
    iss: rt.teamUrl,
    type: 'app',
    identity_nonce: randomToken(12),
    sub: AGENT_SUB,
    country: 'XX',
  });
  const signature = sign('sha256', Buffer.from(`${head}.${claims}`), rt.keys.privateKey).toString('base64url');
  const jwt = `${head}.${claims}.${signature}`;
  rt.state.otherSecrets.add(jwt);
  return jwt;
}

/**
 * The signed application metadata the edge returns for `cf-access-metadata-request: true`
 * (cloudflared 2026.8, access-facts.md). On loopback every host carries its port.
 */
export function issueAppMetadata(rt: Runtime, app: ProtectedApp, now = Date.now()): string {
  const head = b64json({ alg: JWT_HEADER_ALG, kid: rt.keys.kid, typ: 'JWT' });
  const claims = b64json({
    type: 'match',
    hostname: app.host,
    app_hostname: app.host,
    auth_domain: rt.teamHost,
    aud: app.aud,
    iat: Math.floor(now / 1000),
  });
  const signature = sign('sha256', Buffer.from(`${head}.${claims}`), rt.keys.privateKey).toString('base64url');
  return `${head}.${claims}.${signature}`;
}

/** True when `jwt` is a current Access JWT signed by this emulator for `app`. */
export function verifyClassicJwt(rt: Runtime, jwt: string, app: ProtectedApp): boolean {
  const parts = jwt.split('.');
  if (parts.length !== 3) return false;
  const [head, claims, signature] = parts as [string, string, string];
  try {
    const headObj = JSON.parse(Buffer.from(head, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (headObj.alg !== JWT_HEADER_ALG || headObj.kid !== rt.keys.kid) return false;
    const signed = Buffer.from(`${head}.${claims}`);
    if (!verify('sha256', signed, rt.keys.publicKey, Buffer.from(signature, 'base64url'))) return false;
    const payload = JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')) as Record<string, unknown>;
    const now = Math.floor(Date.now() / 1000);
    const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    return (
      aud.includes(app.aud) &&
      payload.iss === rt.teamUrl &&
      typeof payload.exp === 'number' &&
      payload.exp > now &&
      (typeof payload.nbf !== 'number' || payload.nbf <= now + 1)
    );
  } catch {
    return false;
  }
}

/**
 * Shaped like Cloudflare's /cdn-cgi/access/certs. Node cannot mint X.509 certificates, so the
 * `cert` fields carry the public key as SPKI PEM; createPublicKey() accepts either.
 */
export function certsDocument(keys: ClassicKeys): Record<string, unknown> {
  const jwk = keys.publicKey.export({ format: 'jwk' });
  const pem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const cert = { kid: keys.kid, cert: pem };
  return {
    keys: [{ kid: keys.kid, kty: jwk.kty, alg: JWT_HEADER_ALG, use: 'sig', e: jwk.e, n: jwk.n }],
    public_cert: cert,
    public_certs: [cert],
  };
}

/**
 * GET /cdn-cgi/access/login/<app host>: completes a login at once. Our cloudflared stand-in
 * sends `x-emulator-cli: 1` and receives the JWT as JSON; a browser gets a page plus the
 * CF_Authorization cookie (cookies ignore ports, so it reaches the app on 127.0.0.1 too).
 */
export function handleLogin(ctx: RequestContext, appHost: string): void {
  const { rt } = ctx;
  const app = appByHost(rt, appHost, ctx.url.searchParams.get('kid'));
  if (!app) {
    sendHtml(ctx, 404, htmlPage('Unknown application', `<p>No Access application for ${escapeHtml(appHost)}.</p>`));
    return;
  }
  if (policyDenies(rt, app)) {
    ctx.entry.endpoint = 'login_denied';
    blockPage(ctx, 403, { 'cf-access-aud': app.aud, 'cf-access-domain': rt.teamHost });
    return;
  }
  const jwt = issueClassicJwt(rt, app, rt.options.jwtLifetimeSeconds);
  if (header(ctx.req, 'x-emulator-cli') === '1') {
    sendJson(ctx, 200, { token: jwt }, { 'cache-control': 'no-store' });
    return;
  }
  const redirectUrl = ctx.url.searchParams.get('redirect_url') ?? '/';
  const target = app.url + (redirectUrl.startsWith('/') && !redirectUrl.startsWith('//') ? redirectUrl : '/');
  const body = [
    `<h1>You are signed in</h1>`,
    `<p>Signed in to ${escapeHtml(app.host)} as ${AGENT_EMAIL}.</p>`,
    `<p><a id="continue" href="${escapeHtml(target)}">Continue to ${escapeHtml(target)}</a></p>`,
  ].join('\n');
  sendHtml(ctx, 200, htmlPage('Signed in', body), {
    'set-cookie': `CF_Authorization=${jwt}; Path=/; HttpOnly; SameSite=Lax`,
    'cache-control': 'no-store',
  });
}
