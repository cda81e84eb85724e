/**
 * What Access offers at the URL, step by step as a login would go: the
 * challenge, the resource metadata (RFC 9728), the authorization server
 * metadata (RFC 8414), registration for each loopback redirect form
 * (RFC 7591), and whether the authorization endpoint accepts `resource`
 * (RFC 8707). Registrations doctor makes are ordinary public clients, never used.
 */
import { randomBytes, createHash } from 'node:crypto';
import { authorizationServerOf, assertSupportsPublicClient, fetchResourceMetadata, fetchServerMetadata, offersOAuth } from '../auth/discovery.js';
import { RegistrationRefusedError, registerClient } from '../auth/registration.js';
import type { ResourceMetadata, ServerMetadata } from '../auth/schemas.js';
import { discard, headerValue, send } from '../http/client.js';
import { isTrustedTeam, teamHost } from '../auth/trusted-teams.js';
import { isTrustedLoginHost } from '../core/url-policy.js';
import { finding, type DoctorContext, type Finding } from './finding.js';
import { stepFailure } from './step-failure.js';

export interface AccessFacts {
  findings: Finding[];
  /** Access guards the URL at all. */
  protected: boolean;
  /** The application has only Service Auth policies: a service token is the one way in (no browser, no cloudflared). */
  serviceAuthOnly: boolean;
  /**
   * Access shows managed OAuth is off here (no resource metadata, no "oauth" method, no registration endpoint),
   * so a person signs in with cloudflared. False when managed OAuth is offered but a step of it failed: that step is the finding.
   */
  managedOAuthOff: boolean;
}

const CHECK = 'access';

export async function checkAccess(ctx: DoctorContext): Promise<AccessFacts> {
  const { url, service } = ctx;
  const findings: Finding[] = [];
  const done = (isProtected = true, serviceAuthOnly = false): AccessFacts => ({ findings, protected: isProtected, serviceAuthOnly, managedOAuthOff: false });
  const off = (): AccessFacts => ({ ...done(), managedOAuthOff: true });

  let probe: Awaited<ReturnType<typeof service.probe>>;
  try {
    probe = await service.probe(url, ctx.signal);
  } catch (error) {
    findings.push(stepFailure(CHECK, 'app', error));
    return done(false);
  }
  const challenge = probe.challenge;
  if (!challenge) {
    if (probe.status === 401) {
      findings.push(
        finding(CHECK, 'challenge_without_metadata', 'warn', `${url.host} answered HTTP 401 with no Access challenge that names resource metadata, so no managed OAuth login can start from it.`, 'Check that the URL is behind Cloudflare Access; if it is, ask its administrator to enable managed OAuth, or use cloudflared or a service token.'),
      );
    } else if (probe.status >= 500) {
      findings.push(finding(CHECK, 'app_http_error', 'fail', `${url.host} answered HTTP ${probe.status} without an Access challenge.`, 'The application itself fails; try again later or tell its owner.'));
    } else {
      findings.push(finding(CHECK, 'not_protected', 'info', `Cloudflare Access does not guard ${url.href} (HTTP ${probe.status} without a challenge).`, 'Nothing to sign in to: cf-access-mcp fetch and access_fetch reach it without credentials.'));
    }
    return done(false);
  }
  const described = challenge.style === 'bearer' ? 'a 401 Bearer challenge' : challenge.style === 'redirect' ? 'a redirect to the Access sign-in page' : 'a 403 (service authentication only)';
  if (challenge.style === 'forbidden') {
    const configured = service.serviceTokenFor(url) !== undefined;
    findings.push(
      finding(
        CHECK,
        'service_auth_only',
        'info',
        `Access guards ${url.host} with ${described}: only service tokens get in (neither a browser sign-in nor cloudflared can).`,
        configured ? undefined : 'Configure a service token for this host (CF_ACCESS_CLIENT_ID, CF_ACCESS_CLIENT_SECRET, CF_ACCESS_SERVICE_TOKEN_HOSTS).',
      ),
    );
    return done(true, true);
  }
  if (!challenge.resourceMetadataUrl) {
    findings.push(
      finding(CHECK, 'no_resource_metadata', 'warn', `Access guards ${url.host} (${described}) but names no resource metadata: managed OAuth looks off for this application.`, 'Install cloudflared (used automatically), configure a service token, or ask the Access administrator to enable managed OAuth.'),
    );
    return off();
  }
  findings.push(finding(CHECK, 'access_challenge', 'ok', `Access guards ${url.host} with ${described}.`));

  let metadata: ResourceMetadata;
  let server: ServerMetadata;
  let authorizationServer: URL;
  try {
    metadata = await fetchResourceMetadata(service.http, challenge.resourceMetadataUrl, url);
  } catch (error) {
    findings.push(resourceMetadataFailure(error));
    return done();
  }
  if (offersOAuth(metadata) === false) {
    findings.push(finding(CHECK, 'managed_oauth_off', 'warn', `The resource metadata of ${url.host} lists no "oauth" authentication method: managed OAuth is off.`, 'Install cloudflared (used automatically), configure a service token, or ask the administrator to enable managed OAuth.'));
    return off();
  }
  try {
    authorizationServer = authorizationServerOf(metadata, url);
    server = await fetchServerMetadata(service.http, authorizationServer);
  } catch (error) {
    findings.push(serverMetadataFailure(error));
    return done();
  }
  findings.push(finding(CHECK, 'metadata_ok', 'ok', `Resource metadata names ${metadata.resource} and the team ${authorizationServer.host}; its server metadata is complete.`));
  findings.push(teamTrust(ctx, authorizationServer));
  if (!server.registration_endpoint) {
    findings.push(
      finding(CHECK, 'registration_unavailable', 'fail', `The team ${authorizationServer.host} offers no dynamic client registration (no registration_endpoint), so no managed OAuth login can start.`, 'Ask the Access administrator to enable managed OAuth (dynamic registration) for this application; meanwhile use cloudflared or a service token.'),
    );
    return off();
  }
  try {
    assertSupportsPublicClient(server, authorizationServer.host);
  } catch (error) {
    findings.push(finding(CHECK, 'server_unsupported', 'fail', (error as Error).message, (error as { nextStep?: string }).nextStep));
    return done();
  }

  const registered = await checkRegistration(ctx, server.registration_endpoint, metadata.resource, findings);
  if (!registered) return done();
  await checkResourceAccepted(ctx, server.authorization_endpoint, registered, metadata.resource, findings);
  return done();
}

/** Whether a sign-in opens the team's page by itself, or gives a link (README "The browser opens only for teams you already use"). */
function teamTrust(ctx: DoctorContext, authorizationServer: URL): Finding {
  const { url, service } = ctx;
  const team = teamHost(authorizationServer);
  if (!isTrustedLoginHost(authorizationServer, url)) {
    return finding(CHECK, 'team_not_access_domain', 'warn', `The sign-in server ${team} is not a *.cloudflareaccess.com team domain: no browser is opened for it, every sign-in gives a link.`, `Check that ${url.host} is the application you mean; open the link only if you trust ${team}.`);
  }
  if (isTrustedTeam(authorizationServer, service.store, service.config.trustedTeams ?? [])) {
    return finding(CHECK, 'team_trusted', 'ok', `The sign-in page of the team ${team} opens in the browser by itself (listed in CF_ACCESS_MCP_TEAMS, or signed in to before).`);
  }
  return finding(
    CHECK,
    'team_untrusted',
    'info',
    `${team} is not a team you have signed in to before, so a sign-in to ${url.host} gives a link to open instead of opening the browser (any site can name any Access team).`,
    `If ${team} is your organisation's team, set CF_ACCESS_MCP_TEAMS=${team} where cf-access-mcp runs (the env of its entry in your MCP client's config, or your shell for the command line).`,
  );
}

function resourceMetadataFailure(error: unknown): Finding {
  const message = (error as Error).message ?? '';
  if (/claims to describe|points its resource metadata at another origin/.test(message)) {
    return finding(CHECK, 'resource_metadata_other_origin', 'fail', message, (error as { nextStep?: string }).nextStep);
  }
  return stepFailure(CHECK, 'resource_metadata', error);
}

function serverMetadataFailure(error: unknown): Finding {
  const message = (error as Error).message ?? '';
  const next = (error as { nextStep?: string }).nextStep;
  if (/is not served over https/.test(message)) return finding(CHECK, 'authorization_server_insecure', 'fail', message, next);
  if (/points at another host/.test(message)) return finding(CHECK, 'authorization_server_other_host', 'fail', message, next);
  if (/different issuer/.test(message)) return finding(CHECK, 'issuer_mismatch', 'fail', message, next);
  if (/lists no authorization server|lists an invalid authorization server/.test(message)) return finding(CHECK, 'resource_metadata_incomplete', 'fail', message, next);
  return stepFailure(CHECK, 'server_metadata', error);
}

/** Registers once per redirect form; returns the redirect URI and client of one that worked. */
async function checkRegistration(ctx: DoctorContext, endpoint: string, resource: string, findings: Finding[]): Promise<{ clientId: string; redirectUri: string } | undefined> {
  const port = ctx.service.config.callbackPort || 8400;
  const forms = ['localhost', '127.0.0.1'] as const;
  const allowed: Array<{ clientId: string; redirectUri: string; form: string }> = [];
  const refused: string[] = [];
  for (const form of forms) {
    const redirectUri = `http://${form}:${port}/callback`;
    try {
      const registration = await registerClient(ctx.service.http, endpoint, redirectUri, resource);
      allowed.push({ clientId: registration.client_id, redirectUri, form });
    } catch (error) {
      if (error instanceof RegistrationRefusedError && error.reason === 'redirect_uri') refused.push(form);
      else if (error instanceof RegistrationRefusedError && error.reason === 'grants') {
        // The refresh grant refused: logins still work (without silent renewal); registration itself is allowed.
        findings.push(finding(CHECK, 'refresh_grant_refused', 'warn', `Registration refuses the refresh_token grant for ${redirectUri}: sessions cannot be renewed without signing in again.`, 'Ask the administrator to allow the refresh_token grant; logins still work.'));
        return undefined;
      } else {
        findings.push(stepFailure(CHECK, 'registration', error));
        return undefined;
      }
    }
  }
  const uri = (form: string) => `http://${form}:${port}/callback`;
  if (allowed.length === 0) {
    findings.push(
      finding(CHECK, 'redirect_uris_refused', 'fail', `Registration refuses both loopback redirect URIs (${forms.map(uri).join(', ')}).`, "Ask the Access administrator to allow localhost or loopback-IP (127.0.0.1) redirect URIs in the application's managed OAuth settings."),
    );
    return undefined;
  }
  if (refused.length > 0) {
    findings.push(
      finding(
        CHECK,
        'redirect_form_refused',
        'warn',
        `Registration refuses ${refused.map(uri).join(', ')} and allows ${allowed.map((a) => a.redirectUri).join(', ')}.`,
        `Nothing to do: cf-access-mcp registers the allowed form and remembers it for this team. To use only it from the start, set CF_ACCESS_MCP_CALLBACK_HOST=${allowed[0]!.form}.`,
      ),
    );
  } else {
    findings.push(finding(CHECK, 'registration_ok', 'ok', `Dynamic registration accepts both loopback redirect URIs (${forms.map(uri).join(', ')}).`));
  }
  return allowed[0];
}

/** Asks the authorization endpoint to start a login (never followed) and reads whether it took `resource`. */
async function checkResourceAccepted(ctx: DoctorContext, endpoint: string, client: { clientId: string; redirectUri: string }, resource: string, findings: Finding[]): Promise<boolean> {
  const verifier = randomBytes(32).toString('base64url');
  const url = new URL(endpoint);
  const params = {
    client_id: client.clientId,
    redirect_uri: client.redirectUri,
    response_type: 'code',
    code_challenge: `A${createHash('sha256').update(verifier).digest('base64url').slice(1)}`,
    code_challenge_method: 'S256',
    state: randomBytes(16).toString('base64url'),
    resource,
  };
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  let status: number;
  let location: string | undefined;
  try {
    const response = await send(ctx.service.dispatcher, url, { headers: { 'user-agent': 'cf-access-mcp doctor', accept: 'text/html' }, signal: ctx.signal });
    discard(response.body);
    status = response.status;
    location = headerValue(response.headers, 'location');
  } catch (error) {
    findings.push(stepFailure(CHECK, 'authorize', error));
    return false;
  }
  const back = location && location.startsWith(client.redirectUri) ? new URL(location) : undefined;
  const error = back?.searchParams.get('error');
  if (error === 'invalid_target') {
    findings.push(
      finding(CHECK, 'resource_refused', 'fail', `The authorization endpoint refuses the resource parameter (${resource}) with invalid_target.`, 'Check that the URL is the application itself (its resource metadata names it); if it is, the Access application is misconfigured: tell its administrator.'),
    );
    return false;
  }
  if (error) {
    findings.push(finding(CHECK, 'authorize_error', 'fail', `The authorization endpoint answered error=${error.slice(0, 60)}.`, 'Run cf-access-mcp login with --verbose to see the whole exchange.'));
    return false;
  }
  if (status >= 500) {
    findings.push(finding(CHECK, 'authorize_http_error', 'fail', `The authorization endpoint answered HTTP ${status}.`, 'Try again in a moment; if it persists, the team domain has a problem.'));
    return false;
  }
  if (status >= 400) {
    findings.push(finding(CHECK, 'authorize_refused', 'fail', `The authorization endpoint refused the request (HTTP ${status}), e.g. the redirect URI ${client.redirectUri}.`, 'Set CF_ACCESS_MCP_CALLBACK_HOST to the other form (localhost or 127.0.0.1) and try again.'));
    return false;
  }
  findings.push(finding(CHECK, 'resource_accepted', 'ok', `The authorization endpoint accepts the resource parameter and starts a sign-in (HTTP ${status}).`));
  return true;
}
