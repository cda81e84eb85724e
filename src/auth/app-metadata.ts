import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { discard, headerValue, send } from '../http/client.js';
import { requestJson, type JsonClient } from '../http/json.js';
import { AccessError } from '../core/errors.js';
import { isLoopbackHost, truncate } from '../core/url-policy.js';

/**
 * Proves which Access application a URL belongs to before any cloudflared
 * token is fetched for it, as cloudflared 2026.8 does (VULN-141860, see
 * access-facts.md): `HEAD <url>` with `cf-access-metadata-request: true`
 * (redirects not followed) returns a `cf-access-metadata` RS256 JWT signed by
 * the team's key. Everything else a response says (`kid` in a login redirect,
 * `CF-Access-Domain`, `cf-access-aud`, a `Cloudflare-Access` challenge) is
 * written by the page itself and proves nothing.
 */
export interface VerifiedApp {
  /** The application's AUD tag: a cloudflared JWT is sent only if its `aud` contains it. */
  aud: string;
  /** The application's host (a wildcard application shares one token across hosts). */
  appHostname: string;
  /** The team domain that signed the metadata, e.g. `team.cloudflareaccess.com`. */
  team: string;
  /** The URL host the metadata was issued for (`URL.host`). */
  hostname: string;
}

export const METADATA_REQUEST_HEADER = 'cf-access-metadata-request';
export const METADATA_HEADER = 'cf-access-metadata';

const MAX_AGE_S = 24 * 60 * 60;
const MAX_FUTURE_S = 5 * 60;
const MAX_JWT_LENGTH = 16 * 1024;

const HeaderSchema = z.object({ alg: z.literal('RS256'), kid: z.string().min(1).max(200) }).loose();
const ClaimsSchema = z
  .object({
    type: z.string(),
    hostname: z.string().min(1).max(300),
    app_hostname: z.string().min(1).max(300),
    auth_domain: z.string().min(1).max(300),
    aud: z.string().min(1).max(300),
    iat: z.number(),
  })
  .loose();
const JwkSchema = z.object({ kid: z.string(), kty: z.literal('RSA'), n: z.string(), e: z.string() }).loose();
const CertsSchema = z.object({ keys: z.array(z.unknown()).max(50) }).loose();

/** What to say when the application cannot be proven: never suggest running cloudflared by hand for this URL. */
function unverified(target: URL, why: string, cause?: unknown): AccessError {
  return new AccessError(
    'app_not_verified',
    `${target.host} did not prove which Cloudflare Access application it is (${why}), so no cloudflared token is fetched or sent for it: a page that only imitates Access could otherwise receive another application's token.`,
    `Check that ${target.origin} is really the application you mean (a link in a page may lead to an imitation). ` +
      'If it is, use a service token for this host (CF_ACCESS_CLIENT_ID, CF_ACCESS_CLIENT_SECRET and CF_ACCESS_SERVICE_TOKEN_HOSTS), or managed OAuth if the application enables it.',
    cause === undefined ? undefined : { cause },
  );
}

/** The team domain the metadata names may sign for `target`: a Cloudflare team, or a loopback emulator for a loopback target. */
export function allowedTeam(authDomain: string, target: URL): boolean {
  let team: URL;
  try {
    team = new URL(`https://${authDomain}`);
  } catch {
    return false;
  }
  if (team.host !== authDomain.toLowerCase() || team.pathname !== '/') return false;
  const host = team.hostname.replace(/\.$/, '');
  if (host.endsWith('.cloudflareaccess.com') && team.port === '') return true;
  return isLoopbackHost(host) && isLoopbackHost(target.hostname);
}

/** Where the team publishes its signing keys: https, or http on loopback (the emulator). */
export function certsUrl(authDomain: string): URL {
  const host = new URL(`https://${authDomain}`).hostname;
  return new URL(`${isLoopbackHost(host) ? 'http' : 'https'}://${authDomain}/cdn-cgi/access/certs`);
}

function decodeJson(part: string): unknown {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/** Fetches a team's JWKS: one key set per team, fetched again (once per verification) when a `kid` is unknown. */
export type KeyLookup = (authDomain: string, kid: string) => Promise<KeyObject | undefined>;

export class TeamKeys {
  private readonly cache = new Map<string, Map<string, KeyObject>>();

  constructor(
    private readonly http: JsonClient,
    private readonly timeoutMs = 15_000,
  ) {}

  readonly lookup: KeyLookup = async (authDomain, kid) => {
    const cached = this.cache.get(authDomain)?.get(kid);
    if (cached) return cached;
    const keys = await this.fetchKeys(authDomain);
    this.cache.set(authDomain, keys);
    return keys.get(kid);
  };

  private async fetchKeys(authDomain: string): Promise<Map<string, KeyObject>> {
    const response = await requestJson(this.http, certsUrl(authDomain), { signal: AbortSignal.timeout(this.timeoutMs) });
    if (response.status !== 200) throw new Error(`${authDomain} answered HTTP ${response.status} for its signing keys`);
    const parsed = CertsSchema.safeParse(response.json);
    if (!parsed.success) throw new Error(`the signing keys of ${authDomain} are not a JWKS`);
    const keys = new Map<string, KeyObject>();
    for (const entry of parsed.data.keys) {
      const jwk = JwkSchema.safeParse(entry);
      if (!jwk.success) continue;
      try {
        keys.set(jwk.data.kid, createPublicKey({ key: { kty: 'RSA', n: jwk.data.n, e: jwk.data.e }, format: 'jwk' }));
      } catch {
        // one unusable key does not spoil the others
      }
    }
    return keys;
  }
}

/** Checks a `cf-access-metadata` JWT for `target`; throws app_not_verified saying why. */
export async function verifyMetadataJwt(jwt: string, target: URL, keys: KeyLookup, now = Date.now()): Promise<VerifiedApp> {
  const parts = jwt.length <= MAX_JWT_LENGTH ? jwt.trim().split('.') : [];
  if (parts.length !== 3) throw unverified(target, 'its signed application metadata is not a JWT');
  const [head, body, signature] = parts as [string, string, string];
  let header: z.infer<typeof HeaderSchema>;
  let claims: z.infer<typeof ClaimsSchema>;
  try {
    header = HeaderSchema.parse(decodeJson(head));
    claims = ClaimsSchema.parse(decodeJson(body));
  } catch (error) {
    throw unverified(target, 'its signed application metadata is malformed', error);
  }
  if (claims.type !== 'match') throw unverified(target, `the metadata is of type "${truncate(claims.type, 40)}", not "match"`);
  if (claims.hostname.toLowerCase() !== target.host.toLowerCase()) {
    throw unverified(target, `the metadata was issued for ${truncate(claims.hostname, 80)}, not ${target.host}`);
  }
  if (!allowedTeam(claims.auth_domain, target)) {
    throw unverified(target, `the metadata names ${truncate(claims.auth_domain, 80)} as its team, which is not a Cloudflare Access team domain (*.cloudflareaccess.com)`);
  }
  const nowS = Math.floor(now / 1000);
  if (claims.iat < nowS - MAX_AGE_S) throw unverified(target, 'the signed metadata is more than 24 hours old');
  if (claims.iat > nowS + MAX_FUTURE_S) throw unverified(target, 'the signed metadata is dated in the future (check the system clock)');
  let key: KeyObject | undefined;
  try {
    key = await keys(claims.auth_domain, header.kid);
  } catch (error) {
    throw unverified(target, `the signing keys of ${truncate(claims.auth_domain, 80)} could not be fetched: ${truncate((error as Error).message, 200)}`, error);
  }
  if (!key) throw unverified(target, `the metadata is signed with a key ${truncate(claims.auth_domain, 80)} does not publish`);
  const valid = verify('sha256', Buffer.from(`${head}.${body}`), key, Buffer.from(signature, 'base64url'));
  if (!valid) throw unverified(target, 'the signature of its application metadata is invalid');
  return { aud: claims.aud, appHostname: claims.app_hostname, team: claims.auth_domain.toLowerCase(), hostname: target.host };
}

/** `HEAD <url>` asking for the signed metadata, redirects not followed, no credentials. */
export async function fetchMetadataJwt(dispatcher: Dispatcher, target: URL, signal?: AbortSignal): Promise<string | undefined> {
  const response = await send(dispatcher, target, {
    method: 'HEAD',
    headers: { [METADATA_REQUEST_HEADER]: 'true', 'user-agent': 'cf-access-mcp' },
    signal,
  });
  discard(response.body);
  return headerValue(response.headers, METADATA_HEADER);
}

/** Verifies which application `target` belongs to; throws app_not_verified when it cannot be proven. */
export class AppMetadataVerifier {
  private readonly keys: TeamKeys;

  constructor(private readonly http: JsonClient) {
    this.keys = new TeamKeys(http);
  }

  async verify(target: URL, signal?: AbortSignal): Promise<VerifiedApp> {
    const jwt = await fetchMetadataJwt(this.http.dispatcher, target, signal);
    if (!jwt) throw unverified(target, 'it sent no signed application metadata (cf-access-metadata)');
    return verifyMetadataJwt(jwt, target, this.keys.lookup);
  }
}

/** The `aud` claim of a JWT as a list (string or array); the signature is not checked here. */
export function jwtAudiences(jwt: string): string[] {
  try {
    const claims = z.object({ aud: z.union([z.string(), z.array(z.string())]) }).loose().safeParse(decodeJson(jwt.split('.')[1] ?? ''));
    if (!claims.success) return [];
    return typeof claims.data.aud === 'string' ? [claims.data.aud] : claims.data.aud;
  } catch {
    return [];
  }
}
