import type { ServiceProvider } from '../server.js';
import type { ToolTable } from '../tool-table.js';
import { z } from 'zod';
import type { proxiesOf } from '../../bridge/registry.js';
import { parseTargetUrl } from '../../core/url-policy.js';
import { toolInput } from '../arguments.js';
import { fail, structuredResult } from '../tool-result.js';

const input = toolInput(
  'access_logout',
  {
    url: z.string().optional().describe('Any URL of the application to log out of (other applications on the same host keep their sessions).'),
    all: z.boolean().optional().describe('Log out of every stored site.'),
  },
  { all: true },
);

export function registerAccessLogout(tools: ToolTable, getService: ServiceProvider): void {
  const server = tools.server;
  tools.register(
    'access_logout',
    {
      title: 'Log out of Cloudflare Access sites',
      description: 'Revokes (when the server supports it) and deletes the stored session of the Access application serving url, or of every application (all: true); a login still pending for it is cancelled.',
      inputSchema: input.advertised,
      outputSchema: {
        logged_out: z.array(z.object({ host: z.string(), application: z.string(), revoked: z.boolean(), detail: z.string() })),
        stopped_proxies: z.array(z.string()).optional().describe('Applications whose local proxy (access_proxy) was stopped.'),
        message: z.string().describe('Everything above as sentences: the text of this result.'),
        warnings: z.array(z.string()).optional(),
      },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
    },
    async (raw, extra) => {
      try {
        const { args, warnings } = input.parse(raw);
        const service = await getService();
        // The application serving the URL, worked out before its session is deleted (the store cannot tell afterwards).
        const target = args.url && !args.all ? parseTargetUrl(args.url) : undefined;
        const key = target && (await service.servingApplication(target, extra.signal));
        const result = await service.logout({ ...args, application: key });
        const lines = result.logged_out.length ? result.logged_out.map((r) => `${r.application}: ${r.detail}`) : ['No stored sessions to log out of.'];
        const stopped = await stopProxies(service, args.all === true, target, key);
        for (const application of stopped) lines.push(`Stopped the local proxy of ${application}.`);
        const message = [...lines, ...warnings.map((w) => `Warning: ${w}`)].join('\n');
        return structuredResult({ ...result, ...(stopped.length ? { stopped_proxies: stopped } : {}), message, ...(warnings.length ? { warnings } : {}) }, message);
      } catch (error) {
        return fail(error);
      }
    },
  );
}

/** The local proxy of the application logged out of (or every one) stops too: it would only answer 503 now. */
async function stopProxies(service: Parameters<typeof proxiesOf>[0], all: boolean, target: URL | undefined, key: string | undefined): Promise<string[]> {
  const registry = (await import('../../bridge/registry.js')).proxiesOf(service);
  if (all) return registry.stopAll();
  return target ? registry.stopFor(target, key) : [];
}
