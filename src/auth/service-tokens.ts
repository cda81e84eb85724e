import { readFileSync } from 'node:fs';
import { step } from '../core/next-step.js';
import { z } from 'zod';
import { AccessError } from '../core/errors.js';
import { expandUserPath } from './user-path.js';
import { hostMatches, parseHostList, parseHostPattern, specificity, type HostPattern } from './host-match.js';
import { pinSecret } from '../core/redact.js';

/**
 * Service tokens from the environment. They are sent only to hosts the user
 * listed; a host that merely claims to be behind Access never gets them.
 *
 *   CF_ACCESS_CLIENT_ID + CF_ACCESS_CLIENT_SECRET + CF_ACCESS_SERVICE_TOKEN_HOSTS
 *   CF_ACCESS_SERVICE_TOKENS   path of a JSON file: { "<host pattern>": { client_id, client_secret }
 *                              or { client_id_env, client_secret_env } (names of variables holding them) }
 *   CF_ACCESS_SERVICE_TOKEN_HEADER   send one header carrying lowercase JSON instead of the pair
 *
 * Nothing here ever puts a secret into a message.
 */
export interface ServiceToken {
  pattern: HostPattern;
  clientId: string;
  clientSecret: string;
  /** Where it was configured (for status), e.g. "CF_ACCESS_CLIENT_ID" or the file path. */
  from: string;
}

export interface ServiceTokenConfig {
  tokens: ServiceToken[];
  /** Single-header mode: the header carrying `{"cf-access-client-id","cf-access-client-secret"}`. */
  header?: string;
  /** Why configured credentials are not used (e.g. a pair without a host list). */
  unused: string[];
  /** Configuration mistakes, each naming the variable or file to fix. */
  problems: string[];
}

export const EMPTY_SERVICE_TOKENS: ServiceTokenConfig = { tokens: [], unused: [], problems: [] };

const nonEmpty = z.string().trim().min(1, 'must be a non-empty string');

const FileEntrySchema = z.union([
  z.object({ client_id: nonEmpty, client_secret: nonEmpty }).strict(),
  z.object({ client_id_env: nonEmpty, client_secret_env: nonEmpty }).strict(),
]);
const FileSchema = z.record(z.string(), z.unknown());

const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers that would break the request if used to carry the token. */
const UNUSABLE_HEADERS = new Set(['host', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'cookie', 'cf-access-client-id', 'cf-access-client-secret']);

function present(value: string | undefined): value is string {
  return value !== undefined && value.trim() !== '';
}

function fromEnvPair(env: NodeJS.ProcessEnv, config: ServiceTokenConfig): void {
  const id = env.CF_ACCESS_CLIENT_ID;
  const secret = env.CF_ACCESS_CLIENT_SECRET;
  const hosts = env.CF_ACCESS_SERVICE_TOKEN_HOSTS;
  if (!present(id) && !present(secret)) {
    if (present(hosts)) config.unused.push('CF_ACCESS_SERVICE_TOKEN_HOSTS is set, but CF_ACCESS_CLIENT_ID and CF_ACCESS_CLIENT_SECRET are not: no service token is sent.');
    return;
  }
  if (!present(id) || !present(secret)) {
    config.problems.push(
      `${present(id) ? 'CF_ACCESS_CLIENT_SECRET' : 'CF_ACCESS_CLIENT_ID'} is missing: a service token needs both CF_ACCESS_CLIENT_ID and CF_ACCESS_CLIENT_SECRET, so the one that is set is not used.`,
    );
    return;
  }
  if (!present(hosts)) {
    config.unused.push(
      'CF_ACCESS_CLIENT_ID and CF_ACCESS_CLIENT_SECRET are set, but CF_ACCESS_SERVICE_TOKEN_HOSTS is empty, so the service token is not sent anywhere: ' +
        'it only goes to hosts you list, never to a host just because it claims to be behind Access. Set CF_ACCESS_SERVICE_TOKEN_HOSTS, e.g. "app.example.com,*.internal.example.com".',
    );
    return;
  }
  const { patterns, errors } = parseHostList(hosts);
  for (const error of errors) config.problems.push(`CF_ACCESS_SERVICE_TOKEN_HOSTS: ${error}; that entry is ignored.`);
  for (const pattern of patterns) config.tokens.push({ pattern, clientId: id.trim(), clientSecret: secret.trim(), from: 'CF_ACCESS_CLIENT_ID/CF_ACCESS_CLIENT_SECRET' });
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => (issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}

function fromFile(env: NodeJS.ProcessEnv, config: ServiceTokenConfig): void {
  const path = env.CF_ACCESS_SERVICE_TOKENS?.trim();
  if (!path) return;
  const where = `CF_ACCESS_SERVICE_TOKENS (${path})`;
  let text: string;
  try {
    text = readFileSync(expandUserPath(path), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    config.problems.push(`${where} could not be read (${code === 'ENOENT' ? 'no such file' : (code ?? 'read error')}); its service tokens are not used.`);
    return;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the file's text, which may hold secrets: say only that it failed.
    config.problems.push(`${where} is not valid JSON; its service tokens are not used. Expected {"app.example.com": {"client_id": "…", "client_secret": "…"}}.`);
    return;
  }
  const file = FileSchema.safeParse(json);
  if (!file.success) {
    config.problems.push(`${where} must be a JSON object mapping host patterns to {"client_id", "client_secret"} or {"client_id_env", "client_secret_env"}; its service tokens are not used.`);
    return;
  }
  for (const [key, value] of Object.entries(file.data)) {
    let pattern: HostPattern;
    try {
      pattern = parseHostPattern(key);
    } catch (error) {
      config.problems.push(`${where}: ${(error as Error).message}; that entry is ignored.`);
      continue;
    }
    const entry = FileEntrySchema.safeParse(value);
    if (!entry.success) {
      config.problems.push(
        `${where}: the entry for "${key}" must be {"client_id", "client_secret"} or {"client_id_env", "client_secret_env"} (${describeIssues(entry.error)}); it is ignored.`,
      );
      continue;
    }
    let clientId: string | undefined;
    let clientSecret: string | undefined;
    if ('client_id' in entry.data) {
      clientId = entry.data.client_id;
      clientSecret = entry.data.client_secret;
    } else {
      const { client_id_env: idVar, client_secret_env: secretVar } = entry.data;
      clientId = env[idVar]?.trim();
      clientSecret = env[secretVar]?.trim();
      const missing = [!clientId && idVar, !clientSecret && secretVar].filter(Boolean);
      if (missing.length) {
        config.problems.push(`${where}: the entry for "${key}" names ${missing.join(' and ')}, which ${missing.length > 1 ? 'are' : 'is'} not set; it is ignored.`);
        continue;
      }
    }
    config.tokens.push({ pattern, clientId: clientId!, clientSecret: clientSecret!, from: where });
  }
}

function headerFrom(env: NodeJS.ProcessEnv, config: ServiceTokenConfig): string | undefined {
  const raw = env.CF_ACCESS_SERVICE_TOKEN_HEADER?.trim();
  if (!raw) return undefined;
  const name = raw.toLowerCase();
  if (!HTTP_TOKEN.test(name) || UNUSABLE_HEADERS.has(name)) {
    config.problems.push(`CF_ACCESS_SERVICE_TOKEN_HEADER "${raw}" is not a usable header name; the CF-Access-Client-Id/Secret pair is sent instead.`);
    return undefined;
  }
  return name;
}

/** Reads every service-token variable. Never throws: mistakes become `problems`. */
export function loadServiceTokens(env: NodeJS.ProcessEnv = process.env): ServiceTokenConfig {
  const config: ServiceTokenConfig = { tokens: [], unused: [], problems: [] };
  fromEnvPair(env, config);
  fromFile(env, config);
  const header = headerFrom(env, config);
  if (header) config.header = header;
  // Even a secret that ends up in a message by mistake (a variable set to the wrong value) is scrubbed from it.
  pinSecret(env.CF_ACCESS_CLIENT_SECRET?.trim(), ...config.tokens.map((t) => t.clientSecret));
  return config;
}

/** The most specific token whose pattern covers the URL (earlier wins a tie), if any. */
export function serviceTokenFor(config: ServiceTokenConfig, url: URL): ServiceToken | undefined {
  let best: ServiceToken | undefined;
  for (const token of config.tokens) {
    if (!hostMatches(token.pattern, url)) continue;
    if (!best || specificity(token.pattern) > specificity(best.pattern)) best = token;
  }
  return best;
}

/** The request headers carrying a token: the documented pair, or the configured single header. */
export function serviceTokenHeaders(token: ServiceToken, header?: string): Record<string, string> {
  if (header) {
    return { [header]: JSON.stringify({ 'cf-access-client-id': token.clientId, 'cf-access-client-secret': token.clientSecret }) };
  }
  return { 'cf-access-client-id': token.clientId, 'cf-access-client-secret': token.clientSecret };
}

/** Every secret value the configuration holds (to scrub from anything shown). */
export function serviceTokenSecrets(config: ServiceTokenConfig): string[] {
  return [...new Set(config.tokens.map((t) => t.clientSecret))];
}

/** Where the variables go for both ways of running: an MCP client's config entry, or the shell for the command line. */
const configure = (url: URL) =>
  `set CF_ACCESS_CLIENT_ID, CF_ACCESS_CLIENT_SECRET and CF_ACCESS_SERVICE_TOKEN_HOSTS=${url.host} (or an entry for ${url.host} in the CF_ACCESS_SERVICE_TOKENS file) where cf-access-mcp runs: the env of its entry in your MCP client's config (then restart the client), or your shell for the command line`;

/**
 * Access refused the service token we sent to a listed host: say so, never
 * fall into a browser login. `signIn` is false when the application lets no
 * person sign in (only Service Auth policies): then the token is the one way
 * in, and logging in as a person is not offered.
 */
export function serviceTokenRefusedError(url: URL, status: number, signIn = true): AccessError {
  const how = status >= 300 && status < 400 ? 'redirected to the Access login page' : `answered HTTP ${status}`;
  const refused = `${url.host} refused the service token: Access ${how} although the configured service token was sent.`;
  if (!signIn) {
    return new AccessError(
      'service_token_refused',
      `${refused} The application accepts only service tokens (it has only Service Auth policies), so signing in as a person cannot help. No browser login was started.`,
      `Check the service token: that its client ID (ends in .access) and secret belong together and are current (not rotated, revoked or expired) where cf-access-mcp runs (CF_ACCESS_CLIENT_ID and CF_ACCESS_CLIENT_SECRET, or the entry for ${url.host} in the CF_ACCESS_SERVICE_TOKENS file), ` +
        `and that the Access application for ${url.host} has a Service Auth policy that includes this service token.`,
    );
  }
  return new AccessError(
    'service_token_refused',
    `${refused} No browser login was started.`,
    `Check that the Access application for ${url.host} has a Service Auth policy that includes this service token, and that the client ID and secret are current (not rotated, revoked or expired). ` +
      `To log in as a person instead, ${step('login', { url: url.href, method: 'oauth' })} (or method cloudflared).`,
  );
}

/** An app with only Service Auth policies (403 + cf-access-aud) and no token configured for its host. */
export function serviceAuthOnlyError(url: URL, config: ServiceTokenConfig): AccessError {
  if (serviceTokenFor(config, url)) {
    // A browser login was asked for: the token configured for this host is the only way in.
    return new AccessError(
      'authorization_failed',
      `${url.host} accepts only service tokens (Access answers 403 with cf-access-aud: the application has only Service Auth policies), so a browser login cannot help. A service token is configured for this host.`,
      `To see whether Access takes it, ${step('login', { url: url.href, method: 'service_token' })}.`,
    );
  }
  const unused = config.unused.length ? ` Note: ${config.unused[0]}` : '';
  return new AccessError(
    'service_token_missing',
    `${url.host} accepts only service tokens (Access answers 403 with cf-access-aud: the application has only Service Auth policies), and none is configured for this host. A browser login cannot help here.${unused}`,
    `Create a service token that the application's Service Auth policy includes, then ${configure(url)}.`,
  );
}

/** access_login with method "service_token" for a host no token is configured for. */
export function serviceTokenMissingError(url: URL, config: ServiceTokenConfig): AccessError {
  const unused = config.unused.length ? ` ${config.unused[0]}` : '';
  const listed = config.tokens.length ? ` Service tokens are configured for: ${config.tokens.map((t) => t.pattern.source).join(', ')}.` : '';
  return new AccessError(
    'service_token_missing',
    `No service token is configured for ${url.host}.${listed}${unused}`,
    `To use one, ${configure(url)}; otherwise ${step('login', { url: url.href, method: 'auto' })}.`,
  );
}
