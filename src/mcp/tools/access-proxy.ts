import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { parseTargetUrl, shownUrl } from '../../core/url-policy.js';
import { isLoginPending } from '../../service/pending.js';
import { toolInput } from '../arguments.js';
import { loginHooks } from '../progress.js';
import type { ServiceProvider } from '../server.js';
import type { ToolTable } from '../tool-table.js';
import { fail, structuredResult } from '../tool-result.js';

const input = toolInput(
  'access_proxy',
  {
    url: z.string().describe('Any URL of the Access application; the proxy forwards to its origin.'),
    port: z.number().int().min(1).max(65535).optional().describe('Local port to listen on (default: a free one).'),
    wait_seconds: z.number().int().min(0).max(3600).optional().describe('How long to wait for a sign-in now (default 45).'),
    idle_timeout_seconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 3600)
      .optional()
      .describe('Stop the proxy after this many seconds without a request or open connection (default: CF_ACCESS_MCP_PROXY_IDLE_TIMEOUT, else it lives as long as this server).'),
  },
  { url: 'https://app.example.com/' },
);

export function registerAccessProxy(tools: ToolTable, getService: ServiceProvider): void {
  const server = tools.server;
  tools.register(
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
        application: z.string().describe('The Access application whose credential the proxy adds.'),
        lifetime: z.string(),
        idle_timeout_seconds: z.number().optional(),
        reused: z.boolean(),
        signed_in: z.boolean(),
        protected: z.boolean().describe('False when the URL answered without an Access challenge (nothing to sign in to).'),
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
        const { proxiesOf, lifetimeOf } = await import('../../bridge/registry.js');
        const { appLabel } = await import('../../auth/app-key.js');
        let signedIn = true;
        let guarded = true;
        let loginUrl: string | undefined;
        let nextStep: string | undefined;
        try {
          // Signed in first: the application (and so the proxy that serves it) is known once its session is.
          const { credentialHeadersFor } = await import('../../service/credentials.js');
          const headers = await credentialHeadersFor(service, target, { waitSeconds: args.wait_seconds ?? service.config.defaultWaitSeconds, hooks: loginHooks(extra, server) });
          // No credential and no login: the URL answered without an Access challenge.
          guarded = signedIn = Object.keys(headers).length > 0;
        } catch (error) {
          if (!isLoginPending(error)) throw error;
          signedIn = false;
          loginUrl = error.pending.login_url;
          nextStep = `${error.pending.next_step} Until then requests through the proxy get HTTP 503 with the sign-in link.`;
        }
        const idleSeconds = args.idle_timeout_seconds ?? service.config.proxyIdleSeconds;
        const { proxy, reused, idleChanged, replaced } = await proxiesOf(service).start(target.href, {
          port: args.port,
          loginWaitSeconds: service.config.defaultWaitSeconds,
          idleSeconds,
          idleRequested: args.idle_timeout_seconds !== undefined,
        });
        const lifetime = lifetimeOf(proxy);
        const application = appLabel(proxy.appKey);
        const lines = [
          `${reused ? 'Proxy already running' : 'Proxy started'}: ${proxy.baseUrl} → ${proxy.origin} for the application ${application} (lives ${lifetime}).`,
          ...(idleChanged ? [`Its idle timeout is now ${proxy.idleSeconds} s, counted from now.`] : []),
          ...(replaced ? [`It replaces the proxy at ${replaced}, which stopped (another port was asked for).`] : []),
          guarded
            ? `Use ${proxy.baseUrl}/<path> in place of ${proxy.origin}/<path>; the Access credential is added by the proxy, never shown.`
            : `${shownUrl(target)} answered without an Access challenge, so there was nothing to sign in to: the proxy forwards to ${proxy.origin} without a credential until a path asks for one (then it signs in as access_fetch would). If the site is public, use it directly.`,
          ...(signedIn || !guarded ? [] : [`Not signed in yet${loginUrl ? `: ${loginUrl}` : ''}.`]),
        ];
        const message = lines.join(' ');
        const text = [message, ...(nextStep ? [`Next step: ${nextStep}`] : []), ...warnings.map((w) => `Warning: ${w}`)].join('\n');
        return structuredResult(
          {
            base_url: proxy.baseUrl,
            origin: proxy.origin,
            application,
            lifetime,
            ...(proxy.idleSeconds === undefined ? {} : { idle_timeout_seconds: proxy.idleSeconds }),
            reused,
            signed_in: signedIn,
            protected: guarded,
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
