import { bearerChallenge, loginRedirect, policyRefusal, serviceAuthForbidden, strictServiceTokenError, wantsHtml } from './challenge.js';
import { issueAppMetadata, verifyClassicJwt } from './classic.js';
import { serveContent } from './content.js';
import { enterEndpoint } from './endpoint.js';
import { header, parseCookies, send, sendJson, type RequestContext } from './http-util.js';
import {
  RESOURCE_METADATA_PATH,
  resourceMetadata,
  SERVER_METADATA_PATH,
  serverMetadata,
} from './metadata.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { appForPath, requestDenied, type ProtectedApp, type Runtime } from './runtime.js';
import { webSocketEcho } from './ws-echo.js';
import { checkServiceToken } from './service-tokens.js';

type AuthOutcome = { kind: 'ok' } | { kind: 'user' } | { kind: 'none' } | { kind: 'strict'; status: 401 | 403 };

function bearerToken(ctx: RequestContext): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header(ctx.req, 'authorization') ?? '');
  return match?.[1];
}

function accessJwt(ctx: RequestContext): string | undefined {
  return header(ctx.req, 'cf-access-token') ?? parseCookies(header(ctx.req, 'cookie')).get('CF_Authorization');
}

function authenticate(ctx: RequestContext, app: ProtectedApp): AuthOutcome {
  const { rt } = ctx;
  const mode = rt.options.mode;
  const service = checkServiceToken(rt, ctx.req);
  if (service === 'valid') return { kind: 'ok' };

  if (mode === 'managed') {
    const token = bearerToken(ctx);
    const record = token ? rt.state.activeToken(token, 'access') : undefined;
    // A token belongs to one application: the app at / does not admit a token of /admin, nor the reverse.
    if (record && record.resource === app.resource) return { kind: 'user' };
  }
  // Access JWTs (cloudflared, CF_Authorization cookie) work on identity apps, never via Authorization.
  if (mode !== 'service-auth-only') {
    const jwt = accessJwt(ctx);
    if (jwt && verifyClassicJwt(rt, jwt, app)) return { kind: 'user' };
  }
  if (rt.options.strictServiceTokens && service !== 'none') {
    return { kind: 'strict', status: service === 'wrong_secret' ? 401 : 403 };
  }
  return { kind: 'none' };
}

async function handleWellKnown(ctx: RequestContext, origin: ProtectedApp): Promise<void> {
  const path = ctx.url.pathname;
  if (path === RESOURCE_METADATA_PATH || path.startsWith(RESOURCE_METADATA_PATH + '/')) {
    if (await enterEndpoint(ctx, 'resource_metadata')) return;
    // RFC 9728: the document under /…/admin describes the application serving /admin.
    const app = appForPath(ctx.rt, origin, path.slice(RESOURCE_METADATA_PATH.length) || '/');
    sendJson(ctx, 200, resourceMetadata(ctx.rt, app));
    return;
  }
  if (path === SERVER_METADATA_PATH) {
    if (await enterEndpoint(ctx, 'server_metadata')) return;
    sendJson(ctx, 200, serverMetadata(ctx.rt));
    return;
  }
  await enterEndpoint(ctx, 'not_found');
  sendJson(ctx, 404, { error: 'not_found' });
}

/** A WebSocket upgrade on a protected app: /ws echoes once the request carries a credential Access accepts; anything else is refused. */
export function handleAppUpgrade(rt: Runtime, origin: ProtectedApp, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const path = (req.url ?? '').split('?')[0] ?? '/';
  const app = appForPath(rt, origin, path);
  const kind = authenticate({ rt, req } as RequestContext, app).kind;
  const ok = kind === 'ok' || kind === 'user';
  const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
  rt.log.push({ time: Date.now(), origin: origin.name === 'app2' ? 'app2' : 'app', endpoint: ok ? 'websocket' : 'probe', method: 'GET', path: req.url ?? '/', status: ok && path === '/ws' ? 101 : ok ? 404 : 401, headers });
  if (ok && path === '/ws') return webSocketEcho(req, socket, head);
  socket.end(`HTTP/1.1 ${ok ? '404 Not Found' : '401 Unauthorized'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
}

/** `cf-access-metadata-request: true` (HEAD or GET, any path): the signed application metadata, no content. */
function isMetadataRequest(ctx: RequestContext): boolean {
  return (ctx.req.method === 'HEAD' || ctx.req.method === 'GET') && header(ctx.req, 'cf-access-metadata-request')?.trim().toLowerCase() === 'true';
}

/** A protected application origin: metadata is public, everything else needs credentials. */
export async function handleApp(ctx: RequestContext, origin: ProtectedApp): Promise<void> {
  const app = appForPath(ctx.rt, origin, ctx.url.pathname);
  if (isMetadataRequest(ctx)) {
    ctx.entry.endpoint = 'app_metadata';
    send(ctx, 200, { 'cf-access-metadata': issueAppMetadata(ctx.rt, app), 'cache-control': 'no-store' });
    return;
  }
  if (ctx.url.pathname.startsWith('/.well-known/')) return handleWellKnown(ctx, origin);

  const outcome = authenticate(ctx, app);
  if (outcome.kind === 'user' && requestDenied(ctx.rt, app)) {
    // Signed in, but the policy says no: Access's block page (or the configured deny URL), never content.
    if (await enterEndpoint(ctx, 'probe')) return;
    ctx.entry.endpoint = 'policy_denied';
    policyRefusal(ctx, app);
    return;
  }
  if (outcome.kind === 'ok' || outcome.kind === 'user') {
    if (await enterEndpoint(ctx, 'resource')) return;
    await serveContent(ctx, app);
    return;
  }

  if (await enterEndpoint(ctx, 'probe')) return;
  if (outcome.kind === 'strict') {
    strictServiceTokenError(ctx, app, outcome.status);
    return;
  }
  switch (ctx.rt.options.mode) {
    case 'service-auth-only':
      serviceAuthForbidden(ctx, app);
      return;
    case 'classic':
      ctx.entry.endpoint = 'login_redirect';
      loginRedirect(ctx, app);
      return;
    case 'managed':
      if (wantsHtml(ctx)) loginRedirect(ctx, app);
      else bearerChallenge(ctx, app);
      return;
  }
}
