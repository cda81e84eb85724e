import type { AccessChallenge } from '../auth/detect.js';
import { configuredRefusal } from './configured-refusal.js';
import type { AccessService, LoginHooks } from './access-service.js';
import { challengedApp, loginFor } from './login-flow.js';
import { keyServes, type AppKey } from '../auth/app-key.js';
import { untilAborted } from '../core/until-aborted.js';

export interface CredentialOptions {
  /** Seconds to wait for a browser login before a LoginPendingError is thrown. */
  waitSeconds: number;
  /** The credential headers Access just refused (maybe {}): renew them (refresh, else a new login) unless another caller already did. */
  refused?: Record<string, string>;
  hooks?: LoginHooks;
  /** Set when this call already waited for another caller's handling of the same refusal: it then goes on alone. */
  joined?: boolean;
}

/**
 * The credential headers for a URL's Access application, logging in when
 * needed: the one narrow entry the bridges (proxy, MCP bridge) use, so the
 * login method behind it can change without them. Returns {} when the URL is
 * not behind Access. Throws LoginPendingError when the user has not finished
 * signing in within `waitSeconds` (the login keeps waiting), and the usual
 * AccessErrors otherwise. Logins are single-flight per application, shared with the tools.
 */
export async function credentialHeadersFor(svc: AccessService, url: URL, options: CredentialOptions): Promise<Record<string, string>> {
  // The application serving the URL (sessions are kept per Access application).
  const key = svc.store.appKeyFor(url);
  const signal = options.hooks?.signal;
  let probed: { challenge?: AccessChallenge } | undefined;
  if (options.refused) {
    const current = await svc.credentialsFor(url);
    if (renewedSince(current, options.refused)) return current;
    const configured = svc.methods.configuredFor(url);
    if (configured) throw await configuredRefusal(svc, configured, url, 401, undefined, signal);
    const refusal = `${key}\n${JSON.stringify(options.refused)}`;
    const handling = options.joined ? undefined : svc.refusalsHandled.get(refusal);
    let outcome: RefusalOutcome | undefined;
    if (handling) {
      // Another request saw this credential refused a moment ago: what Access told it most likely holds here too.
      outcome = await untilAborted(handling.catch(() => undefined), signal);
      const now = outcome && (await svc.credentialsFor(url));
      if (now && renewedSince(now, options.refused)) return now;
      // The session it dropped serves this URL too: sign in with the challenge it got (logins are single-flight, so this
      // joins its login). Otherwise (it failed, another application refused its URL, there was no session) this call asks Access itself.
      const joinable = now !== undefined && Object.keys(now).length === 0 && outcome?.dropped !== undefined && keyServes(outcome.dropped, url);
      if (!joinable) return credentialHeadersFor(svc, url, { ...options, joined: true });
    } else {
      const handled = renewRefused(svc, url, key, signal);
      if (!svc.refusalsHandled.has(refusal)) {
        svc.refusalsHandled.set(refusal, handled);
        void handled.catch(() => {}).finally(() => svc.refusalsHandled.get(refusal) === handled && svc.refusalsHandled.delete(refusal));
      }
      outcome = await handled;
      if (outcome.renewed) return outcome.renewed;
    }
    probed = outcome!.probed;
    if (!probed.challenge) return {};
  } else {
    const headers = await svc.credentialsFor(url);
    // A session of a broader application is no credential for a path application known here without one
    // (its login pending, refused, discovered): that application's own login is joined or started below.
    const broader = !svc.methods.configuredFor(url) && svc.applicationFor(url) !== key;
    if (Object.keys(headers).length > 0 && !broader) return headers;
  }
  const { challenge } = probed ?? (await svc.probe(url, signal));
  if (!challenge) return {};
  await loginFor(svc, url, challenge, options.waitSeconds, options.hooks ?? {}, { skipCache: options.refused !== undefined });
  return svc.credentialsFor(url);
}

/** Every secret value we may send to `url` (to scrub from what goes back to a local client). */
export function credentialSecretsFor(svc: AccessService, url: URL): string[] {
  return svc.methods.secretsFor(url);
}

export interface RefusalOutcome {
  /** What Access answered the unauthenticated request. */
  probed: { challenge?: AccessChallenge };
  /** The session's new headers, when it was the one refusing and a refresh renewed it. */
  renewed?: Record<string, string>;
  /** The application whose session was dropped (it refused and could not be renewed): a new sign-in there is next. */
  dropped?: AppKey;
}

/** Headers other than the refused ones: someone renewed the credential meanwhile. */
function renewedSince(current: Record<string, string>, refused: Record<string, string>): boolean {
  return Object.keys(current).length > 0 && JSON.stringify(current) !== JSON.stringify(refused);
}

/**
 * After Access refused the credential `key`'s session gave for `url`: asks
 * Access which application refused (the session's own, or a path application
 * under it such as /admin under /, which needs its own login: renewing the
 * broader session would not get in) and renews the session by refresh when it
 * was its own, else drops it. `renewed`: the new headers when that worked.
 */
async function renewRefused(svc: AccessService, url: URL, key: AppKey, signal: AbortSignal | undefined): Promise<RefusalOutcome> {
  const probed = await svc.probe(url, signal);
  if (!probed.challenge) return { probed };
  // A challenge without metadata names no application: the session's own is the one refusing.
  const named = await challengedApp(svc, url, probed.challenge, key);
  const session = named === key ? svc.store.getSession(key) : undefined;
  if (session?.refresh_token && (await svc.sessions.refresh(key, session).catch(() => undefined))) {
    const renewed = await svc.credentialsFor(url);
    if (Object.keys(renewed).length > 0) return { probed, renewed };
  } else if (session) {
    await svc.sessions.drop(key, session);
    return { probed, dropped: key };
  }
  return { probed };
}
