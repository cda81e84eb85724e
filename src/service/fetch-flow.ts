import { resolve } from 'node:path';
import type { Dispatcher } from 'undici';
import { detectAccess, mayBeChallenge, type AccessChallenge } from '../auth/detect.js';
import { AccessError } from '../core/errors.js';
import { currentSecrets, redactWith } from '../core/redact.js';
import { parseTargetUrl, truncate } from '../core/url-policy.js';
import { discard, headerValue, startDeadline, type RawResponse } from '../http/client.js';
import type { Format } from '../http/convert.js';
import { DEFAULT_MAX_LENGTH, paginate } from '../http/paging.js';
import { sendFollowingRedirects, type Followed } from '../http/redirects.js';
import { readResponseContent } from '../http/response-content.js';
import { confineSavePath, isWithin, realTarget, relativeBase, resolveSavePath } from '../http/save-path.js';
import type { BodySink, SaveOptions } from '../http/save-to-file.js';
import type { AccessService, LoginHooks } from './access-service.js';
import { cachedPage, rememberPage } from './fetch-cache.js';
import { loginFor, methodForOffer, offerFor } from './login-flow.js';
import { appLabel, type AppKey } from '../auth/app-key.js';
import { RefreshRefusedError } from '../auth/sessions.js';
import { sessionKey, type StoredSession } from '../auth/store.js';
import { arg, cap, step } from '../core/next-step.js';
import { policyDenied, recordRefusal } from './refusals.js';
import { configuredRefusal } from './configured-refusal.js';
import type { AuthMethod, FetchResult } from './results.js';

export interface FetchParams {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | object;
  format?: Format;
  max_length?: number;
  start_index?: number;
  wait_seconds?: number;
  /** A file path: the whole body is streamed there instead of being returned. */
  save_to?: string;
  /** Replace an existing file at save_to (refused otherwise). */
  overwrite?: boolean;
  /**
   * Set by the caller, never taken from an agent. The directories save_to may
   * write under (the MCP client's roots); default: the working directory.
   */
  saveRoots?: string[];
  /**
   * Set by the CLI: a person typed this request and can interrupt it, as with
   * curl: save_to writes wherever they can (no roots, no byte cap) and no
   * total deadline applies.
   */
  typedByUser?: boolean;
  /** Set by the CLI only (--create-dirs): save_to's missing directories are created once the body is there to write. */
  createDirectories?: boolean;
  /** Set by the CLI only: stream the body as served into this (stdout) instead of converting it. */
  sink?: BodySink;
}

/** Set only by the idle warm-up (see warm-up.ts), never from a caller's arguments. */
export interface FetchInternals {
  /** Sent through this pool instead of the service's (the warm-up's own, to its own loopback listener, which no proxy setting applies to). */
  dispatcher?: Dispatcher;
  /** The warm-up's own page: no store warning is taken from the callers, nothing is cached, and a challenge ends the call (never a login). */
  warmUp?: boolean;
}

/** Where and how the body is saved, checked before anything is requested. */
interface SavePlan {
  path: string;
  options: SaveOptions;
}

const SELECTED_HEADERS = ['content-type', 'content-length', 'content-disposition', 'last-modified', 'etag', 'cache-control', 'location', 'retry-after', 'www-authenticate'];
const MAX_AUTH_ROUNDS = 4;

interface PreparedRequest {
  target: URL;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

/** Checks the agent's request before anything is sent. */
function prepareRequest(params: FetchParams): PreparedRequest {
  const target = parseTargetUrl(params.url);
  const method = (params.method ?? 'GET').toUpperCase();
  if (!/^[A-Z]+$/.test(method)) {
    throw new AccessError('invalid_url', `"${params.method}" is not an HTTP method.`, 'Use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS.');
  }
  const headers: Record<string, string> = { 'user-agent': 'cf-access-mcp', accept: '*/*' };
  for (const [name, value] of Object.entries(params.headers ?? {})) {
    // Checked here, or undici's "invalid header" would read like a network failure.
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n\0]/.test(String(value))) {
      // The name as a JSON string: a line break in it must not start a line of its own (a forged "Next step:") in our message.
      throw new AccessError('invalid_url', `The request header ${JSON.stringify(truncate(name, 60))} has an invalid name or value.`, 'Use header names made of letters, digits and "-", and values without line breaks; then call again.');
    }
    // Our credentials for the URL's origin must not be steered to another virtual host on the same server (or proxy).
    if (name.toLowerCase() === 'host') {
      throw new AccessError('invalid_url', 'The Host header cannot be set: it always names the URL\'s own host.', 'Remove the host header and put the host you want in the URL; then call again.');
    }
    headers[name.toLowerCase()] = String(value);
  }
  let body: string | undefined;
  if (params.body !== undefined && params.body !== null) {
    if (typeof params.body === 'string') body = params.body;
    else {
      body = JSON.stringify(params.body);
      headers['content-type'] ??= 'application/json';
    }
  }
  return { target, method, headers, body };
}

/**
 * access_fetch: sends the request (credentials per hop, for that hop's own
 * origin), and when Access challenges a hop, refreshes once, or logs in once
 * for that origin, then sends again. Bounded: never a loop.
 */
export async function fetchThroughAccess(svc: AccessService, params: FetchParams, hooks: LoginHooks = {}, internals: FetchInternals = {}): Promise<FetchResult> {
  const prepared = prepareRequest(params);
  const { target, method, headers, body } = prepared;
  // Read now, in the same turn as the credential lookup below, so a warm call looks at the store once.
  const targetSecrets = svc.methods.secretsFor(target);
  const cached = cachedPage(svc, params, prepared);
  if (cached) return cached;
  const save = params.save_to !== undefined ? await planSave(svc, params, params.save_to, target) : undefined;
  const deadlineMs = params.typedByUser ? 0 : svc.config.deadlineMs;

  const refreshed = new Set<string>();
  const loggedIn = new Set<string>();
  /** Origins where Access refused a configured credential (a service token) in this call. */
  const configuredRefused = new Set<string>();
  const tokenDropped = new Set<string>();
  let loginsThisCall = 0;
  const credentials = async (url: URL) => withoutConflict(url, headers, await svc.credentialsFor(url, configuredRefused));
  for (let round = 0; round < MAX_AUTH_ROUNDS; round++) {
    // Each attempt (redirects and body included) gets the whole deadline; a login in between does not count.
    const deadline = startDeadline(deadlineMs, target, hooks.signal);
    let followed: Followed;
    let challenge: AccessChallenge | undefined;
    try {
      try {
        followed = await sendFollowingRedirects(internals.dispatcher ?? svc.dispatcher, { url: target, method, headers, body, signal: deadline.signal }, credentials);
      } catch (error) {
        // The session was due for renewal and Access refused to renew it: the policy no longer admits the user.
        if (error instanceof RefreshRefusedError) throw await refused(svc, error.key, undefined, { status: 400, refresh: true });
        throw error;
      }
      const finalUrl = followed.hops[followed.hops.length - 1]!;
      challenge = mayBeChallenge(followed.response.status) ? await detectAccess(followed.response, finalUrl) : undefined;
      if (!challenge) {
        const auth = svc.methodOfHeaders(finalUrl, followed.credentialHeaders, configuredRefused);
        // After a redirect, a refresh or a login (a later round), the final URL's credentials are looked up again.
        const secrets = round === 0 && finalUrl.href === target.href ? targetSecrets : svc.methods.secretsFor(finalUrl);
        return await buildResult(svc, params, prepared, finalUrl, followed.response, auth, secrets, { save, redirectNotes: followed.unfollowed ? [followed.unfollowed] : [], warmUp: internals.warmUp });
      }
    } finally {
      deadline.dispose();
    }
    const { response, hops } = followed;
    const finalUrl = hops[hops.length - 1]!;
    const configured = followed.credentialHeaders.length > 0 ? svc.methods.configuredFor(finalUrl, configuredRefused) : undefined;
    discard(response.body);
    if (internals.warmUp) throw new Error('The warm-up page was challenged.');
    const origin = finalUrl.origin;
    if (configured) {
      // Never a browser login here: only a user session from an explicit login may still get in.
      configuredRefused.add(origin);
      if (await svc.sessions.usable(svc.store.appKeyFor(finalUrl))) continue;
      throw await configuredRefusal(svc, configured, finalUrl, response.status, challenge!, hooks.signal);
    }
    // The application whose session we sent, and the one that answered: a path under another application needs its own login.
    const sentKey = followed.credentialHeaders.length > 0 ? svc.store.appKeyFor(finalUrl) : undefined;
    const session = sentKey === undefined ? undefined : svc.store.getSession(sentKey);
    if (sentKey !== undefined && challenge!.style === 'forbidden') {
      // Signed in, and Access still says no (its block page, or the deny URL): the policy refuses this account.
      throw await refused(svc, sentKey, session, { status: response.status, challenge: challenge! });
    }
    // Only asked when our session was refused (discovery is cached, and a login would run it anyway).
    const challengedKey = sentKey === undefined ? origin : await svc.appOfChallenge(finalUrl, challenge!).catch(() => sentKey);
    if (sentKey !== undefined && challengedKey === sentKey) {
      if (loggedIn.has(sentKey)) throw await refused(svc, sentKey, session, { status: response.status, challenge: challenge! });
      if (session && !refreshed.has(sentKey) && session.refresh_token) {
        refreshed.add(sentKey);
        try {
          if (await svc.sessions.refresh(sentKey, session)) continue;
        } catch (error) {
          if (error instanceof RefreshRefusedError) throw await refused(svc, sentKey, session, { status: response.status, refresh: true, challenge: challenge! });
        }
      } else if (session) {
        await svc.sessions.drop(sentKey, session);
        tokenDropped.add(sentKey);
      }
    }
    const configuredHere = svc.methods.configuredFor(finalUrl);
    if (configuredHere) throw await configuredRefusal(svc, configuredHere, finalUrl, response.status, challenge!, hooks.signal);
    if (loggedIn.has(challengedKey)) throw await refused(svc, challengedKey, svc.store.getSession(challengedKey), { status: response.status, challenge: challenge! });
    if (loginsThisCall > 0) {
      // At most one browser login per call.
      throw new AccessError(
        'login_pending',
        `${appLabel(challengedKey)} is a separate Access application and needs its own sign-in; this call already signed in once, so no second browser window was opened.`,
        `Repeat the same call: it starts the sign-in to ${appLabel(challengedKey)}.`,
      );
    }
    await refuseAgentCredentialForLogin(svc, finalUrl, headers, challenge!);
    loginsThisCall++;
    const { session: fresh, fromCache } = await loginFor(svc, finalUrl, challenge!, params.wait_seconds ?? svc.config.defaultWaitSeconds, hooks, { skipCache: tokenDropped.has(challengedKey) });
    // A token cloudflared only had cached is no login yet: if the app refuses it, one real login follows.
    if (!fromCache) loggedIn.add(sessionKey(fresh));
    else loginsThisCall--;
  }
  throw new AccessError('authorization_failed', `Could not get past Cloudflare Access for ${target.host}.`, `${cap(step('status', { url: target.href }))} to see what the application offers.`);
}

/** Records the refusal (no new browser for a while) and returns the error that says so. */
async function refused(svc: AccessService, key: AppKey, session: StoredSession | undefined, detail: Parameters<typeof policyDenied>[2]): Promise<AccessError> {
  const error = policyDenied(key, session, detail);
  await recordRefusal(svc, key, error);
  return error;
}

/**
 * The agent's own credential headers are never silently replaced: when ours
 * for this hop would go in a header the agent set (Authorization for managed
 * OAuth, a service token in single-header mode), the request is refused with
 * the way that works. cloudflared's token and the service-token pair travel
 * in their own headers, so the agent's Authorization (and Cookie) pass intact.
 */
function withoutConflict(url: URL, agent: Record<string, string>, ours: Record<string, string>): Record<string, string> {
  const clash = Object.keys(ours).find((name) => name in agent);
  if (clash) throw headerConflict(url, clash, 'our credential');
  return ours;
}

/**
 * Before a browser login: would the session it gets travel in a header the
 * agent set (Authorization, for managed OAuth)? Then nothing is sent. A
 * cloudflared login (an application without managed OAuth) leaves it alone.
 */
async function refuseAgentCredentialForLogin(svc: AccessService, url: URL, agent: Record<string, string>, challenge: AccessChallenge): Promise<void> {
  if (challenge.style === 'forbidden' || !Object.keys(agent).some((name) => svc.methods.all().some((m) => m.logsIn && m.headerNames.includes(name)))) return;
  const { offer } = await offerFor(svc, url, challenge);
  if (offer === 'unknown') return; // the login reports why discovery failed
  const method = svc.methods.get(methodForOffer(offer));
  const clash = method.headerNames.find((name) => name in agent);
  if (clash) throw headerConflict(url, clash, `the ${method.label} session`);
}

function headerConflict(url: URL, header: string, ours: string): AccessError {
  return new AccessError(
    'header_conflict',
    `The request sets its own ${header} header for ${url.host}, and ${ours} would travel in that same header; the request was not sent, so that neither credential is silently replaced.`,
    `Send the request without the ${header} header, or keep it and reach the application another way that leaves it alone: a service token (CF_ACCESS_CLIENT_ID/CF_ACCESS_CLIENT_SECRET with CF_ACCESS_SERVICE_TOKEN_HOSTS), or ${step('login', { url: url.href, method: 'cloudflared' })} and then repeat the request.`,
  );
}


async function buildResult(
  svc: AccessService,
  params: FetchParams,
  request: PreparedRequest,
  finalUrl: URL,
  response: RawResponse,
  auth: AuthMethod,
  secrets: string[],
  { save, redirectNotes = [], warmUp = false }: { save?: SavePlan; redirectNotes?: string[]; warmUp?: boolean },
): Promise<FetchResult> {
  // The list once per call: each of the fields below is scrubbed of the same secrets.
  const every = currentSecrets(secrets);
  const scrub = (text: string) => redactWith(text, every);
  const content = await readResponseContent(response, finalUrl, {
    format: params.format ?? 'markdown',
    maxBodyBytes: svc.config.maxBodyBytes,
    maxImageBytes: svc.config.maxImageBytes,
    saveTo: save?.path,
    save: save?.options,
    secrets,
    sink: params.sink,
    warmUp,
  });
  const requested = request.target;
  const pageWarnings = [...redirectNotes, ...content.notes];
  const warnings = [...(warmUp ? [] : svc.takeStoreWarnings()), ...pageWarnings];
  // An image, a binary or a saved file comes back as one sentence of ours, never cut into parts (and the image sent again with each).
  const described = content.kind === 'image' || content.kind === 'binary' || content.kind === 'saved';
  const page = described ? paginate(content.text, 0, Math.max(1, content.text.length)) : paginate(content.text, params.start_index ?? 0, params.max_length ?? DEFAULT_MAX_LENGTH);
  const selected: Record<string, string> = {};
  // A site may echo our credential anywhere it controls, not only in the body.
  for (const name of SELECTED_HEADERS) {
    const value = headerValue(response.headers, name);
    if (value !== undefined) selected[name] = scrub(value);
  }
  const result: FetchResult = {
    url: requested.href,
    final_url: scrub(finalUrl.href),
    status: response.status,
    content_type: content.contentType,
    auth,
    title: content.title === undefined ? undefined : scrub(content.title),
    text: page.text,
    note: page.note,
    image: content.image,
    ...(content.kind === 'binary' ? { binary: true as const } : {}),
    total_length: page.total_length,
    start_index: page.start_index,
    truncated: page.truncated,
    next_start_index: page.next_start_index,
    headers: selected,
    saved_to: content.saved?.path,
    bytes: content.saved?.bytes ?? content.streamedBytes,
    warnings,
  };
  if (!warmUp) result.warnings.push(...rememberPage(svc, params, request, { ...result, warnings: pageWarnings }, content.text, secrets));
  return result;
}

/**
 * Resolves save_to and refuses what it must never replace: the session store
 * (planted sessions, or a login record showing a phishing URL) always, and for
 * an agent anything outside the allowed roots (see confineSavePath).
 */
async function planSave(svc: AccessService, params: FetchParams, input: string, target: URL): Promise<SavePlan> {
  const roots = params.saveRoots ?? [process.cwd()];
  const path = await resolveSavePath(input, target, params.typedByUser ? process.cwd() : relativeBase(roots));
  await assertOutsideStore(svc, path);
  if (params.typedByUser) return { path, options: { createDirectories: params.createDirectories === true } };
  const confined = await confineSavePath(path, target, { roots, overwrite: params.overwrite === true });
  return { path: confined, options: { confined: { overwrite: params.overwrite === true, maxBytes: svc.config.maxSaveBytes } } };
}

/** Nothing is ever written into the session store (planted sessions, or a login record showing a phishing URL). */
export async function assertOutsideStore(svc: AccessService, path: string): Promise<void> {
  if (await isInside(path, svc.store.dir)) {
    throw new AccessError('save_failed', `${arg('save')} points into the session store directory (${svc.store.dir}); refusing to write there.`, 'Choose a path outside that directory, e.g. in the project directory, and call again.');
  }
}

/** Is `path` (which may not exist yet) inside `dir` once symlinks are resolved? */
async function isInside(path: string, dir: string): Promise<boolean> {
  return isWithin(await realTarget(resolve(path)), await realTarget(resolve(dir)));
}
