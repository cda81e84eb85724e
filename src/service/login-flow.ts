import { detectAccess, type AccessChallenge } from '../auth/detect.js';
import { offersOAuth } from '../auth/discovery.js';
import { AccessError } from '../core/errors.js';
import { appLabel, type AppKey } from '../auth/app-key.js';
import type { LoginInProgress, LoginMethod } from '../auth/login-method.js';
import type { CredentialMethod, LoginChoice } from '../auth/methods.js';
import { cap, step } from '../core/next-step.js';
import { assertMayLogIn, endsInCoolDown, recordRefusal } from './refusals.js';
import { serviceAuthOnlyError } from '../auth/service-tokens.js';
import { configuredRefusal } from './configured-refusal.js';
import { sessionKey, type StoredSession } from '../auth/store.js';
import { sessionState } from '../auth/sessions.js';
import { parseTargetUrl } from '../core/url-policy.js';
import { discard } from '../http/client.js';
import { sendFollowingRedirects } from '../http/redirects.js';
import type { AccessService, LoginHooks } from './access-service.js';
import { refreshNote } from './refresh-note.js';
import { describePending, LoginPendingError, type PendingLoginResult } from './pending.js';
import type { LoginResult, ProbeInfo } from './results.js';
import { waitAtMost } from './wait.js';

type BrowserChoice = Exclude<LoginChoice, 'service_token'>;

/** Starts (or joins) the login for the application serving `target` and waits a bounded time for it; throws a pending error when the user has not finished. */
export async function loginFor(
  svc: AccessService,
  target: URL,
  challenge: AccessChallenge,
  waitSeconds: number,
  hooks: LoginHooks,
  options: { method?: BrowserChoice; skipCache?: boolean; force?: boolean } = {},
): Promise<{ session: StoredSession; fromCache: boolean }> {
  const begun = await beginLogin(svc, target, challenge, { ...options, signal: hooks.signal });
  announce(begun, hooks);
  const waited = await waitAtMost<StoredSession>(begun.done, Math.max(0, waitSeconds), hooks);
  if (waited.done) return { session: waited.value, fromCache: begun.fromCache === true };
  throw new LoginPendingError(pendingOf(svc, begun, waited.reason === 'cancelled'));
}

/** What a taken-over login that force replaced ends with, for every caller that followed it. */
function replacedByForce(key: AppKey): AccessError {
  return new AccessError(
    'login_cancelled',
    `The sign-in to ${appLabel(key)} taken over from a cf-access-mcp process that is gone was replaced by a new one (a login with force), since its link worked only in the browser that process opened.`,
    `${cap(step('login', { url: key }))} to follow the new sign-in.`,
  );
}

/** Tells the caller the sign-in page as soon as there is one (elicitation, a CLI spinner). */
function announce(begun: LoginInProgress, hooks: LoginHooks): void {
  if (begun.authorizationUrl && begun.source !== 'store') hooks.onLoginUrl?.(begun);
}

/** The one pending shape, from whichever method is waiting. */
function pendingOf(svc: AccessService, login: LoginInProgress, cancelled: boolean, forceJoined = false): PendingLoginResult {
  return describePending(
    {
      origin: login.key,
      method: login.method,
      authorizationUrl: login.authorizationUrl,
      expiresAt: login.expiresAt,
      browser: login.browser,
      resumed: login.resumed,
      replaced: login.replaced,
      refreshNote: expiredRefreshNote(svc, login.key),
    },
    { cancelled, forceJoined, callbackUri: login.redirectUri ?? (login.source === undefined ? undefined : (svc.callback.redirectUri ?? 'http://localhost:<port>/callback')) },
  );
}

/** Why the stored session, now expired, was not renewed (no refresh token, refresh grant refused). */
function expiredRefreshNote(svc: AccessService, key: AppKey): string | undefined {
  const session = svc.store.getSession(key);
  return session && sessionState(session) === 'expired' ? refreshNote(session) : undefined;
}

/** The methods a login choice allows (auto: all of them). */
function allowed(svc: AccessService, choice: LoginChoice): LoginMethod[] {
  return choice === 'auto' ? svc.methods.all() : [svc.methods.get(choice)];
}

/**
 * Starts (or joins) a browser login: the method `method` names, or for `auto`
 * the one the application offers (managed OAuth when offered, else cloudflared).
 * A new login for an application that just refused the user is held back (unless forced).
 */
async function beginLogin(
  svc: AccessService,
  target: URL,
  challenge: AccessChallenge,
  options: { method?: BrowserChoice; skipCache?: boolean; force?: boolean; signal?: AbortSignal },
): Promise<LoginInProgress> {
  const choice = options.method ?? 'auto';
  const existing = svc.methods.pendingFor(target, allowed(svc, choice));
  // Joined only when it is for the application this challenge names: a login pending for / is no way into /admin.
  if (existing && (await challengedApp(svc, target, challenge, existing.key)) === existing.key) return existing;
  if (challenge.style === 'forbidden') throw serviceAuthOnlyError(target, svc.serviceTokens);
  let name: CredentialMethod;
  if (choice === 'auto') {
    const { offer, error } = await offerFor(svc, target, challenge);
    if (offer === 'unknown') throw error;
    name = methodForOffer(offer);
  } else name = choice;
  const mayStart = (key: AppKey) => {
    if (!options.force) assertMayLogIn(svc, key, target);
  };
  const login = await svc.methods.get(name).begin(target, challenge, { skipCache: options.skipCache, signal: options.signal, mayStart });
  // A sign-in that was denied (by the user, or the policy at authorization) or failed holds back the next browser for this application.
  // Recorded before anyone waiting hears of the failure: a logout right after it must find the record to clear.
  const recorded = login.done.catch(async (error: unknown) => {
    if (endsInCoolDown(error) && login.source !== 'other-process') await recordRefusal(svc, login.key, error);
    throw error;
  });
  recorded.catch(() => {}); // nobody may be waiting any more
  login.done = recorded;
  return login;
}

/** The application a challenge names (discovery is cached); `known` when it names none or discovery fails (the login reports that). */
export function challengedApp(svc: AccessService, target: URL, challenge: AccessChallenge, known: AppKey): Promise<AppKey> {
  if (challenge.style === 'forbidden' || !challenge.resourceMetadataUrl) return Promise.resolve(known);
  return svc.appOfChallenge(target, challenge).catch(() => known);
}

/** The method `auto` logs in with for what the application offers (managed OAuth when offered, else cloudflared). */
export function methodForOffer(offer: Exclude<ProbeInfo['offer'], 'unknown'>): CredentialMethod {
  return offer === 'managed_oauth' ? 'oauth' : 'cloudflared';
}

/**
 * What Access offers for a challenged URL. Managed OAuth needs both signals:
 * resource metadata that does not leave out `oauth`, and a server with a
 * registration_endpoint. A discovery failure after a redirect to the login
 * page still leaves the classic (cloudflared) login; after a 401 it is reported.
 */
export async function offerFor(svc: AccessService, target: URL, challenge: AccessChallenge): Promise<{ offer: ProbeInfo['offer']; detail: string; error?: unknown }> {
  if (challenge.style === 'forbidden') {
    return { offer: 'service_auth_only', detail: 'Access answers 403 with cf-access-aud (only Service Auth policies): only a service token can reach it.' };
  }
  if (!challenge.resourceMetadataUrl) {
    return { offer: 'classic', detail: 'Access redirects to its login page and names no resource metadata (no managed OAuth): the cloudflared login or a service token gets in.' };
  }
  try {
    const discovery = await svc.oauth.discover(target, challenge.resourceMetadataUrl);
    const listed = offersOAuth(discovery.resourceMetadata);
    if (listed !== false && discovery.server.registration_endpoint) {
      return { offer: 'managed_oauth', detail: `Managed OAuth via ${discovery.authorizationServer.host}.` };
    }
    const why = listed === false ? 'its resource metadata lists no oauth method' : `${discovery.authorizationServer.host} has no registration_endpoint`;
    return { offer: 'classic', detail: `Access without managed OAuth (${why}): the cloudflared login or a service token gets in.` };
  } catch (error) {
    const reason = (error as Error).message;
    if (challenge.style === 'redirect') {
      return { offer: 'classic', detail: `Access redirects to its login page; its OAuth metadata could not be used (${reason}), so the cloudflared login applies.`, error };
    }
    return { offer: 'unknown', detail: `Protected by Access, but discovery failed: ${reason}`, error };
  }
}

/**
 * access_login with a method that does not log in (a service token): one
 * request with the configured credential shows whether Access takes it. The
 * method itself says why not (begin is immediate for it: refused, or nothing
 * configured for that host).
 */
async function checkConfigured(svc: AccessService, method: LoginMethod, target: URL, signal?: AbortSignal): Promise<LoginResult> {
  const noLogin = { mayStart: () => {}, signal };
  if (!method.configuredHeaders(target)) await method.begin(target, { style: 'forbidden' }, noLogin);
  const followed = await sendFollowingRedirects(
    svc.dispatcher,
    { url: target, method: 'GET', headers: { 'user-agent': 'cf-access-mcp', accept: 'application/json' }, signal },
    (url) => svc.credentialsFor(url),
  );
  discard(followed.response.body);
  const finalUrl = followed.hops[followed.hops.length - 1]!;
  const challenge = await detectAccess(followed.response, finalUrl);
  if (challenge) {
    const status = followed.response.status;
    if (!method.configuredHeaders(finalUrl)) {
      throw new AccessError(
        'authorization_failed',
        `${target.host} redirected to ${finalUrl.host}, which is behind Access and has no ${method.label} configured.`,
        `Configure the ${method.label} for ${finalUrl.host} too if the same one should go there, or ${step('login', { url: finalUrl.origin })}.`,
      );
    }
    throw await configuredRefusal(svc, method, finalUrl, status, challenge, signal);
  }
  return {
    status: 'authenticated',
    host: target.host,
    method: method.name,
    message: `The ${method.label} for ${target.host} is accepted (HTTP ${followed.response.status}). It is sent with every request to this host; no browser login is needed.`,
  };
}

/** access_login: starts or continues a login and reports authenticated or pending. */
export async function login(
  svc: AccessService,
  params: { url: string; force?: boolean; wait_seconds?: number; method?: LoginChoice },
  hooks: LoginHooks = {},
): Promise<LoginResult> {
  const target = parseTargetUrl(params.url);
  const method = params.method ?? 'auto';
  // A credential configured for the host (a service token) is used and never a browser, unless the call names a method that logs in.
  const chosen = method === 'auto' ? svc.methods.configuredFor(target) : svc.methods.get(method);
  if (chosen && !chosen.logsIn) return checkConfigured(svc, chosen, target, hooks.signal);
  const browserMethod = method as BrowserChoice;
  // The application serving the URL (a path application without a session of its own is still itself): never answered
  // for, nor its session ended, by a broader application's session. For a URL deeper than any known here Access says which.
  const key = await svc.servingApplication(target, hooks.signal);
  if (!params.force) {
    const session = await svc.sessions.usable(key);
    if (session && (method === 'auto' || method === session.method)) return authenticatedResult(svc, target, session, 'Already logged in.');
  }
  const waitSeconds = params.wait_seconds ?? svc.config.defaultWaitSeconds;
  let begun = svc.methods.pendingFor(target, allowed(svc, browserMethod));
  // A login pending for / is no way into /admin.
  if (begun && begun.key !== key) begun = undefined;
  if (begun?.resumed?.cookie && params.force) {
    // Taken over from a process that is gone, and its link works only in the browser that process opened: force starts afresh.
    // (A link that works in any browser is joined, as any pending login is: the user may be signing in with it right now.)
    await svc.oauth.cancel(begun.key, replacedByForce(begun.key));
    await begun.done.catch(() => {});
    begun = undefined;
  }
  const forceJoined = Boolean(begun && params.force);
  if (begun && params.force && svc.store.getSession(begun.key)) await svc.store.deleteSession(begun.key);
  if (!begun) {
    const { challenge } = await svc.probe(target, hooks.signal);
    if (!challenge) {
      return { status: 'not_protected', host: target.host, method: 'none', message: `${target.host} did not answer with a Cloudflare Access challenge; no login is needed. ${cap(step('fetch', { url: target.href }))} directly.` };
    }
    if (params.force) {
      // The user asked: the application the challenge names starts over (its session and an earlier refusal go); no other one does.
      const challenged = await svc.appOfChallenge(target, challenge).catch(() => key);
      await svc.store.deleteRefusal(challenged).catch(() => {});
      if (svc.store.getSession(challenged)) await svc.store.deleteSession(challenged);
    }
    begun = await beginLogin(svc, target, challenge, { method: browserMethod, skipCache: params.force, force: params.force, signal: hooks.signal });
  }
  announce(begun, hooks);
  const waited = await waitAtMost<StoredSession>(begun.done, Math.max(0, waitSeconds), hooks);
  if (waited.done) return authenticatedResult(svc, target, waited.value, 'Login completed.');
  return pendingOf(svc, begun, waited.reason === 'cancelled', forceJoined);
}

/**
 * Paste-back: completes the pending login for `url` from the address the
 * user's browser was redirected to but could not load (our loopback
 * callback, seen from another machine). The pasted `state` must be the one
 * this login sent; anything else is refused and the login stays pending.
 */
export async function completeFromCallbackUrl(
  svc: AccessService,
  params: { url: string; callback_url: string; wait_seconds?: number },
  hooks: LoginHooks = {},
): Promise<LoginResult> {
  const target = parseTargetUrl(params.url);
  const pending = svc.oauth.pendingForUrl(target);
  if (!pending) {
    const session = await svc.sessions.usable(svc.applicationFor(target));
    if (session) return authenticatedResult(svc, target, session, 'Already logged in; the pasted address was not needed.');
    throw new AccessError(
      'callback_failed',
      `No login to ${target.host} is waiting for its callback (it finished, expired, or the server restarted since it began).`,
      `To start a new login, ${step('login', { url: target.href })}; sign in at the URL it gives, then paste the address the browser ends on.`,
    );
  }
  let pasted: URL | undefined;
  try {
    pasted = new URL(params.callback_url.trim());
  } catch {
    pasted = undefined;
  }
  const expectedState = new URL(pending.authorizationUrl).searchParams.get('state');
  const pastedState = pasted?.searchParams.get('state');
  const redirectUri = pending.redirectUri ?? svc.callback.redirectUri;
  if (!pasted || !pastedState || pastedState !== expectedState) {
    throw new AccessError(
      'callback_failed',
      !pasted
        ? `The pasted text is not a URL; the login to ${target.host} is still pending.`
        : `The pasted address does not belong to the pending login to ${target.host} (its state ${pastedState ? 'does not match' : 'is missing'}); it was refused and the login is still pending.`,
      `Sign in at ${pending.authorizationUrl} and paste the complete address from the browser's address bar afterwards${redirectUri ? ` (it starts with ${redirectUri}?)` : ''}.`,
    );
  }
  const delivered = pending.deliver ? pending.deliver(pasted.href) : svc.callback.deliver(pasted.href);
  if (delivered.cancelled) {
    // Ended by a logout a moment ago (still winding down): nothing is pending any more, so pasting again cannot help.
    throw new AccessError('callback_failed', delivered.message, `If the user still needs ${target.host}, ${step('login', { url: target.href })} and paste the address the new sign-in ends on.`);
  }
  if (!delivered.ok) {
    throw new AccessError('callback_failed', `${delivered.message} The login to ${target.host} is still pending.`, `Paste the complete address the browser ended on after signing in at ${pending.authorizationUrl}.`);
  }
  svc.log('info', `Login callback for ${target.origin} received by paste-back.`);
  const outcome = await waitAtMost(pending.done, Math.max(0, params.wait_seconds ?? svc.config.defaultWaitSeconds), hooks);
  if (outcome.done) return authenticatedResult(svc, target, outcome.value, 'Login completed.');
  return pendingOf(svc, pending, outcome.reason === 'cancelled');
}

function authenticatedResult(svc: AccessService, target: URL, session: StoredSession, message: string): LoginResult {
  const method = svc.methods.get(session.method);
  const until = session.expires_at ? ` until ${new Date(session.expires_at).toISOString()}${method.refreshes ? ' (refreshed automatically)' : ''}` : '';
  return {
    status: 'authenticated',
    host: target.host,
    method: session.method,
    expires_at: session.expires_at ? new Date(session.expires_at).toISOString() : undefined,
    message: `${message} Authenticated to ${appLabel(sessionKey(session))} via ${method.label}${until}.`,
  };
}

