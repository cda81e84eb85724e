import { z } from 'zod';
import { readBody, sendJson, type RequestContext } from './http-util.js';
import { mergeOptions, publicOptions } from './options.js';
import { ADMIN_PREFIX } from './team-server.js';
import type { Emulator, McpRestartOptions } from './types.js';

const faultSchema = z
  .object({
    endpoint: z.enum(['resource_metadata', 'server_metadata', 'registration', 'authorize', 'token', 'revoke', 'probe', 'resource']),
    kind: z.enum([
      '5xx',
      'delay',
      'drop',
      'malformed_json',
      'missing_fields',
      'metadata_other_origin',
      'http_authorization_server',
      'authorization_server_other_host',
      'no_access_token',
      'huge_header',
      'huge_body',
      'registration_off',
      'resource_refused',
    ]),
    delayMs: z.number().nonnegative().optional(),
    times: z.number().int().positive().optional(),
  })
  .nullable();

const jwtRequestSchema = z
  .object({ lifetimeSeconds: z.number().optional(), app: z.string().optional() })
  .optional();

async function jsonBody(ctx: RequestContext): Promise<unknown> {
  const text = (await readBody(ctx.req)).toString('utf8').trim();
  return text === '' ? undefined : JSON.parse(text);
}

export function emulatorInfo(emulator: Emulator): Record<string, unknown> {
  return {
    appUrl: emulator.appUrl,
    app2Url: emulator.app2Url,
    plainUrl: emulator.plainUrl,
    teamUrl: emulator.teamUrl,
    aud: emulator.aud,
    applications: emulator.applications,
    options: publicOptions(emulator.options),
  };
}

/**
 * /__emulator/* on the team origin: the library API for processes that cannot hold the
 * Emulator object (the CLI, child processes, benchmarks).
 */
export async function handleAdmin(ctx: RequestContext, emulator: Emulator): Promise<void> {
  const action = `${ctx.req.method} ${ctx.url.pathname.slice(ADMIN_PREFIX.length)}`;
  const ok = (extra: Record<string, unknown> = {}): void => sendJson(ctx, 200, { ok: true, ...extra });
  let body: unknown;
  try {
    body = ctx.req.method === 'POST' ? await jsonBody(ctx) : undefined;
  } catch {
    return sendJson(ctx, 400, { error: 'invalid_json' });
  }
  switch (action) {
    case 'GET log':
      return sendJson(ctx, 200, emulator.log);
    case 'GET info':
      return sendJson(ctx, 200, emulatorInfo(emulator));
    case 'GET clients':
      return sendJson(ctx, 200, emulator.clients());
    case 'GET revocations':
      return sendJson(ctx, 200, emulator.revocations);
    case 'POST clear-log':
      emulator.clearLog();
      return ok();
    case 'POST expire-tokens':
      emulator.expireAccessTokens();
      return ok();
    case 'POST revoke-all':
      emulator.revokeAllTokens();
      return ok();
    case 'POST revoke-refresh':
      emulator.revokeRefreshTokens();
      return ok();
    case 'POST forget-registrations':
      emulator.forgetRegistrations();
      return ok();
    case 'POST end-mcp-sessions':
      await emulator.endMcpSessions(body as McpRestartOptions | undefined);
      return ok();
    case 'POST options': {
      const merged = mergeOptions(emulator.options, body ?? {});
      if (!merged.ok) return sendJson(ctx, 400, { error: 'invalid_options', error_description: merged.error });
      return ok({ options: publicOptions(emulator.options) });
    }
    case 'POST fault': {
      const parsed = faultSchema.safeParse(body ?? null);
      if (!parsed.success) return sendJson(ctx, 400, { error: 'invalid_fault', error_description: parsed.error.message });
      emulator.setFault(parsed.data);
      return ok();
    }
    case 'POST classic-jwt': {
      const parsed = jwtRequestSchema.safeParse(body);
      if (!parsed.success) return sendJson(ctx, 400, { error: 'invalid_request', error_description: parsed.error.message });
      return ok({ token: emulator.issueClassicJwt(parsed.data ?? {}) });
    }
    case 'POST token-active': {
      const token = (body as { token?: unknown } | undefined)?.token;
      return ok({ active: typeof token === 'string' && emulator.isTokenActive(token) });
    }
    default:
      return sendJson(ctx, 404, { error: 'not_found', error_description: `Unknown admin action ${action}` });
  }
}
