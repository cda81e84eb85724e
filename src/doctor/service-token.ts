/**
 * Whether a configured service token goes to this host, and if so whether
 * Access takes it; a refusal's `service_token_status` (from the login
 * redirect's `meta`) says why. Shows host patterns and client ids' presence only.
 */
import { detectAccess } from '../auth/detect.js';
import { serviceTokenHeaders } from '../auth/service-tokens.js';
import { discard, headerValue, send } from '../http/client.js';
import { finding, type DoctorContext, type Finding } from './finding.js';

const CHECK = 'service_token';

/** The `service_token_status` claim of the meta JWT in a redirect to the Access sign-in page (read, not verified: it only explains). */
export function serviceTokenStatus(location: string | undefined): string | undefined {
  if (!location) return undefined;
  try {
    const meta = new URL(location).searchParams.get('meta');
    const payload = meta?.split('.')[1];
    if (!payload) return undefined;
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const status = claims.service_token_status;
    return typeof status === 'string' ? status.slice(0, 80).replace(/[^\w .:-]/g, '') : undefined;
  } catch {
    return undefined;
  }
}

/** `required`: the application takes only service tokens, so without one for this host nothing gets in. */
export async function checkServiceToken(ctx: DoctorContext, required = false): Promise<Finding[]> {
  // A mistake in the configuration (a secret without its id, a bad host pattern, an unreadable tokens file) comes first:
  // it is often why no token is configured for this host.
  const problems = ctx.service.serviceTokens.problems.map((problem) => finding(CHECK, 'service_token_config_problem', 'warn', problem));
  return [...problems, ...(await checkServiceTokenFor(ctx, required))];
}

async function checkServiceTokenFor(ctx: DoctorContext, required: boolean): Promise<Finding[]> {
  const { service, url } = ctx;
  const config = service.serviceTokens;
  const level = required ? 'fail' : 'info';
  const why = required ? ` ${url.host} accepts only service tokens, so nothing else can get in.` : '';
  if (config.tokens.length === 0) {
    const unused = config.unused.length > 0 ? ` ${config.unused.join(' ')}` : '';
    return [
      finding(
        CHECK,
        'service_token_none',
        level,
        `No service token is configured for any host.${unused}${why}`,
        required ? `Create a service token that the application's Service Auth policy includes, and set CF_ACCESS_CLIENT_ID, CF_ACCESS_CLIENT_SECRET and CF_ACCESS_SERVICE_TOKEN_HOSTS=${url.host}.` : undefined,
      ),
    ];
  }
  const token = service.serviceTokenFor(url);
  if (!token) {
    return [finding(CHECK, 'service_token_not_for_host', level, `A service token is configured, but not for ${url.host}.${why}`, `List ${url.host} in CF_ACCESS_SERVICE_TOKEN_HOSTS (or the CF_ACCESS_SERVICE_TOKENS file) if the token is meant for it.`)];
  }
  let status: number;
  let refusal: string | undefined;
  let challenged: boolean;
  try {
    // Accept: text/html makes Access answer a refusal with its sign-in redirect, whose meta says why.
    const response = await send(service.dispatcher, url, { headers: { 'user-agent': 'cf-access-mcp doctor', accept: 'text/html', ...serviceTokenHeaders(token, config.header) }, signal: ctx.signal });
    discard(response.body);
    status = response.status;
    challenged = (await detectAccess(response, url)) !== undefined || status === 401 || status === 403;
    refusal = serviceTokenStatus(headerValue(response.headers, 'location'));
  } catch {
    return [];
  }
  if (!challenged) return [finding(CHECK, 'service_token_accepted', 'ok', `Access accepts the configured service token for ${url.host} (HTTP ${status}).`)];
  return [
    finding(
      CHECK,
      'service_token_refused',
      'fail',
      `Access refuses the configured service token for ${url.host} (HTTP ${status}${refusal ? `, service_token_status: ${refusal}` : ''}).`,
      "Check that the application has a Service Auth policy that includes this token, and that CF_ACCESS_CLIENT_ID (ends in .access) and the secret belong together.",
    ),
  ];
}
