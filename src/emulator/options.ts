import { z } from 'zod';
import type { EmulatorLiveOptions, EmulatorOptions } from './types.js';

export function resolveOptions(options: EmulatorOptions = {}): EmulatorLiveOptions {
  const live: EmulatorLiveOptions = {
    approval: options.approval ?? 'auto',
    issuerStyle: options.issuerStyle ?? 'bare',
    tokenLifetimeSeconds: options.tokenLifetimeSeconds ?? 900,
    codeLifetimeSeconds: options.codeLifetimeSeconds ?? 60,
    rotateRefreshTokens: options.rotateRefreshTokens ?? false,
    unknownClientAtAuthorize: options.unknownClientAtAuthorize ?? 'page',
    mode: options.mode ?? 'managed',
    jwtLifetimeSeconds: options.jwtLifetimeSeconds ?? 86400,
    serviceTokens: options.serviceTokens ?? [],
    strictServiceTokens: options.strictServiceTokens ?? false,
    redirectHosts: options.redirectHosts ?? 'both',
    redirectHostsCheckedAt: options.redirectHostsCheckedAt ?? 'registration',
    registrableGrants: options.registrableGrants ?? ['authorization_code', 'refresh_token'],
    strictGrants: options.strictGrants ?? false,
    issueRefreshTokens: options.issueRefreshTokens ?? true,
    clockSkewSeconds: options.clockSkewSeconds ?? 0,
    pathApps: options.pathApps ?? [],
    deny: options.deny ?? [],
    denyRequests: options.denyRequests ?? [],
    host: options.host ?? '127.0.0.1',
    appPort: options.appPort ?? 0,
    app2Port: options.app2Port ?? 0,
    plainPort: options.plainPort ?? 0,
    teamPort: options.teamPort ?? 0,
  };
  if (options.serviceTokenHeader !== undefined) live.serviceTokenHeader = options.serviceTokenHeader;
  if (options.trace !== undefined) live.trace = options.trace;
  if (options.gitRoot !== undefined) live.gitRoot = options.gitRoot;
  if (options.denyUrl !== undefined) live.denyUrl = options.denyUrl;
  return live;
}

/** What the admin API may change at run time (host and ports are fixed once listening). */
const adjustableOptions = z
  .object({
    approval: z.enum(['auto', 'interactive']),
    issuerStyle: z.enum(['bare', 'https']),
    tokenLifetimeSeconds: z.number().positive(),
    codeLifetimeSeconds: z.number().positive(),
    rotateRefreshTokens: z.boolean(),
    unknownClientAtAuthorize: z.enum(['page', 'redirect']),
    mode: z.enum(['managed', 'classic', 'service-auth-only']),
    jwtLifetimeSeconds: z.number(),
    serviceTokens: z.array(z.object({ clientId: z.string(), clientSecret: z.string() })),
    serviceTokenHeader: z.string().nullable(),
    strictServiceTokens: z.boolean(),
    redirectHosts: z.enum(['both', 'localhost', '127.0.0.1']),
    redirectHostsCheckedAt: z.enum(['registration', 'authorize']),
    registrableGrants: z.array(z.enum(['authorization_code', 'refresh_token'])),
    strictGrants: z.boolean(),
    issueRefreshTokens: z.boolean(),
    clockSkewSeconds: z.number(),
    deny: z.array(z.string()),
    denyRequests: z.array(z.string()),
    denyUrl: z.string().url().nullable(),
  })
  .partial()
  .strict();

export function mergeOptions(live: EmulatorLiveOptions, patch: unknown): { ok: true } | { ok: false; error: string } {
  const parsed = adjustableOptions.safeParse(patch);
  if (!parsed.success) return { ok: false, error: parsed.error.message };
  const { serviceTokenHeader, denyUrl, ...rest } = parsed.data;
  Object.assign(live, rest);
  if (denyUrl === null) delete live.denyUrl;
  else if (denyUrl !== undefined) live.denyUrl = denyUrl;
  if (serviceTokenHeader === null) delete live.serviceTokenHeader;
  else if (serviceTokenHeader !== undefined) live.serviceTokenHeader = serviceTokenHeader;
  return { ok: true };
}

/** Options as plain JSON (no functions), for the admin API and the CLI banner. */
export function publicOptions(live: EmulatorLiveOptions): Record<string, unknown> {
  const { trace: _trace, ...rest } = live;
  return { ...rest };
}
