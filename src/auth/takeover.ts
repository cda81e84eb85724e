import type { CallbackListener, CallbackParams } from './callback-server.js';
import { CallbackListener as Listener } from './callback-server.js';
import type { Logger } from '../core/logger.js';
import { appLabel, type AppKey } from './app-key.js';
import type { Discovery, PendingLogin } from './oauth-login.js';
import type { ResumableLogin } from './pending-store.js';
import type { Registration } from './registration.js';
import type { StoredSession } from './store.js';

/** Steps 6–7 of a login (check the callback, exchange the code, store the session), as OAuthLogin runs them. */
export type FinishLogin = (target: URL, discovery: Discovery, registration: Registration, redirectUri: string, verifier: string, params: CallbackParams) => Promise<StoredSession>;

export interface ResumedLogin {
  login: PendingLogin;
  /** Listens on the login's own callback port (its redirect URI names it); close it when the login ends. */
  listener: CallbackListener;
}

/**
 * Continues a login another process began and can no longer finish (it was
 * killed, restarted, or handed the login over): listens on that login's
 * callback port and exchanges the code with its verifier when the browser (or
 * a pasted address) arrives. If the port is taken, only the paste-back works.
 */
export async function resumeLogin(record: ResumableLogin, options: { bind?: string; log: Logger; finish: FinishLogin }): Promise<ResumedLogin> {
  const redirect = new URL(record.redirect_uri);
  const target = new URL(record.origin);
  const listener = new Listener({ preferredPort: Number(redirect.port), fixedPort: true, bind: options.bind, log: (level, message) => options.log(level, message) });
  const result = listener
    .expect(record.state, appLabel(record.origin), Math.max(1, record.expires_at - Date.now()), target.href)
    .then((params) => options.finish(target, discoveryOf(record), registrationOf(record), record.redirect_uri, record.verifier, params));
  result.catch(() => {});
  if (record.cookie) listener.requireCookie(record.state, record.cookie);
  try {
    await listener.start();
  } catch (error) {
    options.log('warning', `The login to ${record.origin} taken over from process ${record.pid} cannot receive its browser callback here (${(error as Error).message}); pasting the address the browser ends on still completes it.`);
  }
  const login: PendingLogin = {
    origin: target.origin,
    key: record.origin as AppKey,
    method: 'oauth',
    source: 'this-process',
    authorizationUrl: record.authorization_url,
    startedAt: record.started_at,
    expiresAt: record.expires_at,
    // The process that began it opened (or showed) the sign-in page; none is opened again (`resumed` says so).
    browser: { opened: true },
    resumed: { pid: record.pid, cookie: Boolean(record.cookie) },
    redirectUri: record.redirect_uri,
    done: result,
    deliver: (url) => listener.deliver(url),
  };
  return { login, listener };
}

function discoveryOf(record: ResumableLogin): Discovery {
  return {
    origin: new URL(record.origin).origin,
    app: record.origin as AppKey,
    // Not known here; only used to drop a cached discovery after a failure.
    metadataUrl: '',
    resource: record.resource,
    resourceMetadata: record.resource_metadata,
    authorizationServer: new URL(record.authorization_server),
    server: record.server,
    at: record.started_at,
  };
}

function registrationOf(record: ResumableLogin): Registration {
  return {
    client_id: record.client_id,
    redirect_uri: record.redirect_uri,
    registration_endpoint: record.server.registration_endpoint ?? '',
    registered_at: record.started_at,
    ...(record.grant_types ? { grant_types: record.grant_types } : {}),
  };
}
