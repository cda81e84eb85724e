import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { parseTargetUrl } from '../../core/url-policy.js';
import { isLoginPending } from '../../service/pending.js';
import { toolInput } from '../arguments.js';
import { loginHooks } from '../progress.js';
import type { ServiceProvider } from '../server.js';
import { fail, structuredResult } from '../tool-result.js';

const input = toolInput(
  'access_proxy',
  {
    url: z.string().describe('Any URL of the Access application; the proxy forwards to its origin.'),
    port: z.number().int().min(1).max(65535).optional().describe('Local port to listen on (default: a free one).'),
    wait_seconds: z.number().int().min(0).max(3600).optional().describe('How long to wait for a sign-in now (default 45).'),
  },
  { url: 'https://app.example.com/' },
);

const LIFETIME = 'until this MCP server exits, or access_logout for the application';

export function registerAccessProxy(server: McpServer, getService: ServiceProvider): void {
  server.registerTool(
    'access_proxy',
    {
      title: 'Local proxy to a Cloudflare Access application',
      description:
        'Starts (or returns) a reverse proxy on 127.0.0.1 for one Access application: http://127.0.0.1:<port>/<path> reaches <origin>/<path> with the user\'s Access credential added, so shell tools (curl, git, test runners, browsers) reach it without any token. ' +
        'Use the returned base_url instead of the application URL in commands. Never put tokens in commands.',
      inputSchema: input.advertised,
      outputSchema: {
        base_url: z.string(),
        origin: z.string(),
        lifetime: z.string(),
        reused: z.boolean(),
        signed_in: z.boolean(),
        login_url: z.string().optional(),
        message: z.string().describe('Everything above as sentences: the text of this result.'),
        next_step: z.string().optional(),
        warnings: z.array(z.string()).optional(),
      },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    },
    async (raw, extra): Promise<CallToolResult> => {
      try {
        const { args, warnings } = input.parse(raw);
        const target = parseTargetUrl(args.url);
        const service = await getService();
        // Loaded on first use: the proxy and its login path are not needed to answer initialize.
        const { proxiesOf } = await import('../../bridge/registry.js');
        const { proxy, reused } = await proxiesOf(service).start(target.href, { port: args.port, loginWaitSeconds: service.config.defaultWaitSeconds });
        let signedIn = true;
        let loginUrl: string | undefined;
        let nextStep: string | undefined;
        try {
          const { credentialHeadersFor } = await import('../../service/credentials.js');
          await credentialHeadersFor(service, target, { waitSeconds: args.wait_seconds ?? service.config.defaultWaitSeconds, hooks: loginHooks(extra, server) });
        } catch (error) {
          if (!isLoginPending(error)) throw error;
          signedIn = false;
          loginUrl = error.pending.login_url;
          nextStep = `${error.pending.next_step} Until then requests through the proxy get HTTP 503 with the sign-in link.`;
        }
        const lines = [
          `${reused ? 'Proxy already running' : 'Proxy started'}: ${proxy.baseUrl} → ${proxy.origin} (lives ${LIFETIME}).`,
          `Use ${proxy.baseUrl}/<path> in place of ${proxy.origin}/<path>; the Access credential is added by the proxy, never shown.`,
          ...(signedIn ? [] : [`Not signed in yet${loginUrl ? `: ${loginUrl}` : ''}.`]),
        ];
        const message = lines.join(' ');
        const text = [message, ...(nextStep ? [`Next step: ${nextStep}`] : []), ...warnings.map((w) => `Warning: ${w}`)].join('\n');
        return structuredResult(
          {
            base_url: proxy.baseUrl,
            origin: proxy.origin,
            lifetime: LIFETIME,
            reused,
            signed_in: signedIn,
            ...(loginUrl ? { login_url: loginUrl } : {}),
            message,
            ...(nextStep ? { next_step: nextStep } : {}),
            ...(warnings.length ? { warnings } : {}),
          },
          text,
        );
      } catch (error) {
        return fail(error);
      }
    },
  );
}
