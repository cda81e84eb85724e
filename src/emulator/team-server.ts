import { certsDocument, handleLogin } from './classic.js';
import { enterEndpoint } from './endpoint.js';
import { sendJson, type RequestContext } from './http-util.js';
import { OAUTH_PATHS, SERVER_METADATA_PATH, serverMetadata } from './metadata.js';
import { handleAuthorize, handleDecision, handleSignIn } from './oauth-authorize.js';
import { handleRegistration } from './oauth-registration.js';
import { handleRevoke, handleToken } from './oauth-token.js';

const LOGIN_PREFIX = '/cdn-cgi/access/login/';
export const ADMIN_PREFIX = '/__emulator/';

type Route = { method: 'GET' | 'POST'; endpoint: string; handle: (ctx: RequestContext) => void | Promise<void> };

const ROUTES: Record<string, Route> = {
  [SERVER_METADATA_PATH]: {
    method: 'GET',
    endpoint: 'server_metadata',
    handle: async (ctx) => {
      if (await enterEndpoint(ctx, 'server_metadata')) return;
      sendJson(ctx, 200, serverMetadata(ctx.rt));
    },
  },
  [OAUTH_PATHS.registration]: { method: 'POST', endpoint: 'registration', handle: handleRegistration },
  [OAUTH_PATHS.authorization]: { method: 'GET', endpoint: 'authorize', handle: handleAuthorize },
  [OAUTH_PATHS.decision]: { method: 'POST', endpoint: 'authorize_decision', handle: handleDecision },
  [OAUTH_PATHS.signIn]: { method: 'GET', endpoint: 'sign_in', handle: handleSignIn },
  [OAUTH_PATHS.token]: { method: 'POST', endpoint: 'token', handle: handleToken },
  [OAUTH_PATHS.revoke]: { method: 'POST', endpoint: 'revoke', handle: handleRevoke },
  '/cdn-cgi/access/certs': {
    method: 'GET',
    endpoint: 'certs',
    handle: (ctx) => {
      sendJson(ctx, 200, certsDocument(ctx.rt.keys));
    },
  },
};

/** The team domain: authorization server, login pages, signing keys and the admin API. */
export async function handleTeam(
  ctx: RequestContext,
  admin: (ctx: RequestContext) => Promise<void>,
): Promise<void> {
  const path = ctx.url.pathname;
  const method = ctx.req.method === 'HEAD' ? 'GET' : ctx.req.method;
  if (path.startsWith(ADMIN_PREFIX)) {
    ctx.entry.endpoint = 'admin';
    return admin(ctx);
  }
  if (path.startsWith(LOGIN_PREFIX) && method === 'GET') {
    ctx.entry.endpoint = 'login';
    let host = path.slice(LOGIN_PREFIX.length);
    try {
      host = decodeURIComponent(host);
    } catch {
      // keep it as sent; handleLogin answers 404 for unknown hosts
    }
    return handleLogin(ctx, host);
  }
  const route = ROUTES[path];
  if (!route) {
    ctx.entry.endpoint = 'not_found';
    return sendJson(ctx, 404, { error: 'not_found' });
  }
  ctx.entry.endpoint = route.endpoint;
  if (method !== route.method) {
    return sendJson(ctx, 405, { error: 'invalid_request', error_description: `Use ${route.method}` }, { allow: route.method });
  }
  await route.handle(ctx);
}
