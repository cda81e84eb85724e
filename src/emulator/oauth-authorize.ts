import { styledPage } from '../auth/callback-pages.js';
import { enterEndpoint } from './endpoint.js';
import { escapeHtml, htmlPage, readForm, redirect, sendHtml, type RequestContext } from './http-util.js';
import { OAUTH_PATHS } from './metadata.js';
import { redirectHostAllowed } from './redirect-hosts.js';
import { blockPage } from './challenge.js';
import { appByResource, policyDenies } from './runtime.js';
import type { PendingAuthorization } from './state.js';

const PKCE_ERROR = 'code_challenge_method must be S256 for public clients';

/** Errors about the client or redirect URI are shown, never redirected (RFC 6749 §4.1.2.1). */
function errorPage(ctx: RequestContext, error: string, description: string): void {
  const json = JSON.stringify({ error, error_description: description });
  const body = `<h1>Authorization error</h1>\n<p>${escapeHtml(description)}</p>\n<pre id="error">${escapeHtml(json)}</pre>`;
  sendHtml(ctx, 400, htmlPage('Authorization error', body));
}

function callbackUrl(redirectUri: string, params: Record<string, string | null>): string {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries(params)) if (value !== null) url.searchParams.append(name, value);
  return url.toString();
}

/** The redirect URI when it is an http loopback address (where a native client listens), else undefined. */
function loopbackUri(value: string | null): string | undefined {
  if (!value) return undefined;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname) ? value : undefined;
  } catch {
    return undefined;
  }
}

function approve(ctx: RequestContext, grant: PendingAuthorization | Omit<PendingAuthorization, 'expiresAt'>): void {
  const code = ctx.rt.state.issueCode(
    { clientId: grant.clientId, redirectUri: grant.redirectUri, challenge: grant.challenge, resource: grant.resource },
    ctx.rt.options.codeLifetimeSeconds,
  );
  redirect(ctx, callbackUrl(grant.redirectUri, { code, state: grant.state }));
}

function consentPage(ctx: RequestContext, requestId: string, appUrl: string, clientLabel: string, redirectUri: string): void {
  const appHost = new URL(appUrl).host;
  const body = `<p>Application: <strong id="app">${escapeHtml(appUrl)}</strong></p>
<p>Client: <strong id="client">${escapeHtml(clientLabel)}</strong></p>
<p>This is the cf-access-mcp emulator standing in for Cloudflare Access. Approve lets this client reach the application as you; Deny refuses it.</p>
<p>After you decide, your browser returns to <code>${escapeHtml(redirectUri)}</code>.</p>
<form method="post" action="${OAUTH_PATHS.decision}">
<input type="hidden" name="request_id" id="request_id" value="${escapeHtml(requestId)}">
<div class="actions">
<button name="decision" value="approve" id="approve">Approve</button>
<button name="decision" value="deny" id="deny">Deny</button>
</div>
</form>`;
  // Styled like the callback pages the user sees next (one look for the whole sign-in).
  sendHtml(ctx, 200, styledPage(`Sign in to ${appHost}`, `Sign in to ${appHost}`, body, 'neutral', 'cf-access-mcp emulator · stands in for Cloudflare Access'), { 'cache-control': 'no-store' });
}

export async function handleAuthorize(ctx: RequestContext): Promise<void> {
  if (await enterEndpoint(ctx, 'authorize')) return;
  const { rt } = ctx;
  const q = ctx.url.searchParams;
  const client = rt.state.clients.get(q.get('client_id') ?? '');
  if (!client) {
    const back = rt.options.unknownClientAtAuthorize === 'redirect' ? loopbackUri(q.get('redirect_uri')) : undefined;
    if (back) {
      return redirect(ctx, callbackUrl(back, { error: 'invalid_client', error_description: 'The client_id is not registered with this team', state: q.get('state') }));
    }
    return errorPage(ctx, 'invalid_client', 'The client_id is not registered with this team');
  }
  const redirectUri = q.get('redirect_uri');
  if (!redirectUri || !client.redirect_uris.includes(redirectUri)) {
    return errorPage(ctx, 'invalid_request', 'redirect_uri does not match any registered redirect URI');
  }
  // The switches apply at authorize too: a form allowed when the client registered may have been switched off since.
  if (!redirectHostAllowed(rt.options, new URL(redirectUri).hostname)) {
    // Checked only here: the registered (so verified) redirect URI gets the refusal, as RFC 6749 §4.1.2.1 allows.
    if (rt.options.redirectHostsCheckedAt === 'authorize') {
      return redirect(ctx, callbackUrl(redirectUri, { error: 'invalid_request', error_description: 'redirect_uri is not allowed by the account configuration', state: q.get('state') }));
    }
    return errorPage(ctx, 'invalid_request', 'redirect_uri is not allowed');
  }
  const state = q.get('state');
  const fail = (error: string, description: string): void =>
    redirect(ctx, callbackUrl(redirectUri, { error, error_description: description, state }));

  if (q.get('response_type') !== 'code') return fail('unsupported_response_type', 'response_type must be code');
  const challenge = q.get('code_challenge');
  // Cloudflare mis-parses challenges that start with "-" or "_" and reports the method error.
  if (q.get('code_challenge_method') !== 'S256' || !challenge || /^[-_]/.test(challenge)) {
    return fail('invalid_request', PKCE_ERROR);
  }
  const resourceParam = q.get('resource');
  if (resourceParam && ctx.fault?.kind === 'resource_refused') return fail('invalid_target', 'The resource parameter is not supported');
  const app = resourceParam ? appByResource(rt, resourceParam) : undefined;
  if (!app) {
    return fail('invalid_target', resourceParam ? 'resource is not an application of this team' : 'resource is required');
  }
  const grant = { clientId: client.client_id, redirectUri, challenge, resource: app.resource, state };
  if (rt.options.approval === 'interactive') {
    const requestId = rt.state.addPending(grant);
    return consentPage(ctx, requestId, app.resource, client.client_name ?? client.client_id, redirectUri);
  }
  // Who signs in is not known yet here: Access shows its sign-in page and applies the policy after it.
  // Auto approval signs in at once, so an admitted user goes straight back; a refused one goes through sign-in first.
  if (policyDenies(rt, app)) return redirect(ctx, `${rt.teamUrl}${OAUTH_PATHS.signIn}?${new URLSearchParams({ request_id: rt.state.addPending(grant) })}`);
  approve(ctx, grant);
}

/** GET of the sign-in step (auto approval): the user has signed in, so the policy applies now. */
export function handleSignIn(ctx: RequestContext): void {
  const pending = ctx.rt.state.takePending(ctx.url.searchParams.get('request_id') ?? '');
  if (!pending) return errorPage(ctx, 'invalid_request', 'The authorization request is unknown or has expired');
  approveUnlessDenied(ctx, pending);
}

/** The user signed in; a policy that refuses them gets Access's block page, and the callback never comes. */
function approveUnlessDenied(ctx: RequestContext, grant: PendingAuthorization | Omit<PendingAuthorization, 'expiresAt'>): void {
  const app = appByResource(ctx.rt, grant.resource);
  if (app && policyDenies(ctx.rt, app)) {
    ctx.entry.endpoint = 'authorize_denied';
    return blockPage(ctx, 403, { 'cf-access-aud': app.aud, 'cf-access-domain': ctx.rt.teamHost });
  }
  approve(ctx, grant);
}

/** POST from the interactive consent page. */
export async function handleDecision(ctx: RequestContext): Promise<void> {
  await enterEndpoint(ctx, 'authorize_decision');
  const form = await readForm(ctx.req);
  const pending = ctx.rt.state.takePending(form.get('request_id') ?? '');
  if (!pending) return errorPage(ctx, 'invalid_request', 'The authorization request is unknown or has expired');
  if (!ctx.rt.state.clients.has(pending.clientId)) {
    return errorPage(ctx, 'invalid_client', 'The client_id is not registered with this team');
  }
  if (form.get('decision') === 'approve') return approveUnlessDenied(ctx, pending);
  redirect(
    ctx,
    callbackUrl(pending.redirectUri, {
      error: 'access_denied',
      error_description: 'The user denied the authorization request',
      state: pending.state,
    }),
  );
}
