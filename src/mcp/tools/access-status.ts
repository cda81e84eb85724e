import type { ServiceProvider } from '../server.js';
import type { ToolTable } from '../tool-table.js';
import { z } from 'zod';
import type { ServiceTokenSummary, SessionInfo } from '../../service/results.js';
import { toolInput } from '../arguments.js';
import { AuthMethodSchema } from '../../auth/methods.js';
import { fail, structuredResult } from '../tool-result.js';
import { shownUrl } from '../../core/url-policy.js';

const sessionSchema = z.object({
  host: z.string(),
  origin: z.string(),
  application: z.string().describe('The Access application: host, plus its path when it lives under one (several may share a host).'),
  resource: z.string(),
  state: z.enum(['authenticated', 'expired', 'pending', 'none']),
  method: z.string(),
  expires_at: z.string().optional(),
  expires_in_seconds: z.number().optional(),
  refreshable: z.boolean().optional(),
  refresh_note: z.string().optional(),
  login_url: z.string().optional(),
  refused: z.string().optional(),
});

function describeSession(s: SessionInfo): string {
  const parts = [`${s.application}: ${s.state}`];
  if (s.method !== 'unknown') parts.push(`method ${s.method}`);
  if (s.expires_at) parts.push(`${s.state === 'expired' ? 'expired at' : 'expires'} ${s.expires_at}${s.refreshable ? ' (refreshable)' : ''}`);
  if (s.login_url) parts.push(`login URL ${s.login_url}`);
  if (s.refresh_note) parts.push(`note: ${s.refresh_note}`);
  if (s.refused) parts.push(`no new login for now: ${s.refused}`);
  return parts.join(', ');
}

/** Host patterns only: credentials are never shown. */
function describeServiceTokens(summary: ServiceTokenSummary | undefined): string[] {
  if (!summary) return [];
  const lines: string[] = [];
  if (summary.hosts.length) {
    lines.push(`Service tokens are sent to: ${summary.hosts.join(', ')}${summary.header ? ` (as JSON in the ${summary.header} header)` : ' (CF-Access-Client-Id/Secret headers)'}.`);
  }
  for (const reason of summary.unused) lines.push(`Service token unused: ${reason}`);
  for (const problem of summary.problems) lines.push(`Service token configuration: ${problem}`);
  return lines;
}

const input = toolInput('access_status', { url: z.string().optional().describe('A URL to check; omit to list every stored host.') }, {});

export function registerAccessStatus(tools: ToolTable, getService: ServiceProvider): void {
  const server = tools.server;
  tools.register(
    'access_status',
    {
      title: 'Cloudflare Access session status',
      description:
        'Lists the Access applications with a session (authenticated, expired, pending): application (host, plus path for an application under a path), method and expiry. With a url, also checks whether Cloudflare Access guards it and which login methods it offers. Never shows tokens.',
      inputSchema: input.advertised,
      outputSchema: {
        sessions: z.array(sessionSchema),
        probe: z
          .object({
            url: z.string(),
            protected: z.boolean(),
            offer: z.enum(['managed_oauth', 'classic', 'service_auth_only', 'none', 'unknown']),
            method: AuthMethodSchema.optional(),
            detail: z.string(),
          })
          .optional(),
        warnings: z.array(z.string()),
        proxies: z
          .array(
            z.object({
              application: z.string(),
              origin: z.string(),
              base_url: z.string(),
              started_at: z.string(),
              requests: z.number(),
              idle_timeout_seconds: z.number().optional(),
              stops_at: z.string().optional(),
            }),
          )
          .describe('Local proxies (access_proxy) this server runs, one per application.'),
        store: z.string(),
        message: z.string().describe('Everything above as sentences: the text of this result.'),
        service_tokens: z
          .object({ hosts: z.array(z.string()), header: z.string().optional(), unused: z.array(z.string()), problems: z.array(z.string()) })
          .optional(),
      },
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    },
    async (raw, extra) => {
      try {
        const { args, warnings } = input.parse(raw);
        const service = await getService();
        const result = await service.status(args, extra.signal);
        result.warnings.unshift(...warnings);
        const lines = result.sessions.length ? result.sessions.map(describeSession) : ['No stored sessions.'];
        if (result.probe) {
          const via = result.probe.method && result.probe.method !== 'none' ? ` access_fetch would use: ${result.probe.method}.` : '';
          lines.push(`${shownUrl(result.probe.url)}: ${result.probe.protected ? `protected by Cloudflare Access (offer: ${result.probe.offer})` : 'not protected'} — ${result.probe.detail}${via}`);
        }
        lines.push(...describeServiceTokens(result.service_tokens));
        const proxies = await (await import('../../bridge/registry.js')).proxiesOf(service).list();
        for (const p of proxies) {
          const lives = p.stops_at ? `stops after ${p.idle_timeout_seconds} s unused, at ${p.stops_at} if unused until then` : 'lives as long as this server';
          lines.push(`Proxy ${p.base_url} → ${p.origin} for ${p.application} (running since ${p.started_at}, ${p.requests} requests; ${lives}).`);
        }
        for (const w of result.warnings) lines.push(`Warning: ${w}`);
        const message = lines.join('\n');
        return structuredResult({ ...result, proxies, message }, message);
      } catch (error) {
        return fail(error);
      }
    },
  );
}
