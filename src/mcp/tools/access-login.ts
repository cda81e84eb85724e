import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ServiceProvider } from '../server.js';
import { z } from 'zod';
import { loginHooks } from '../progress.js';
import { fail, ok } from '../tool-result.js';

export function registerAccessLogin(server: McpServer, getService: ServiceProvider): void {
  server.registerTool(
    'access_login',
    {
      title: 'Log in to a Cloudflare Access site',
      description:
        'Starts or continues the browser login for a site behind Cloudflare Access. Returns "authenticated" (with expiry) or "pending" with a URL the user must open; call again after the user has signed in. force: true discards the stored session and logs in anew. ' +
        'When the user\'s browser cannot reach this machine (SSH, remote host), it ends on a page that does not load: pass that full address as callback_url to finish the pending login.',
      inputSchema: {
        url: z.string().describe('Any URL on the protected site.'),
        force: z.boolean().optional().describe('Discard the stored session and log in again.'),
        wait_seconds: z.number().int().min(0).max(3600).optional().describe('How long to wait for the user to finish (default 45).'),
        method: z
          .enum(['auto', 'oauth', 'cloudflared', 'service_token'])
          .optional()
          .describe('auto (default): a configured service token for the host, else a live session, else managed OAuth when the site offers it, else cloudflared. oauth/cloudflared force that browser login (also on a service-token host); service_token only checks the configured token.'),
        callback_url: z
          .string()
          .optional()
          .describe('Paste-back: the full address the browser ended on after signing in (http://localhost:<port>/callback?code=…&state=…) when that page could not load.'),
      },
      outputSchema: {
        status: z.enum(['authenticated', 'pending', 'not_protected']),
        host: z.string(),
        method: z.enum(['oauth', 'cloudflared', 'service_token', 'none']),
        expires_at: z.string().optional(),
        login_url: z.string().optional(),
        message: z.string(),
      },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    },
    async (args, extra) => {
      try {
        const { callback_url, ...login } = args;
        const hooks = loginHooks(extra, server);
        const service = await getService();
        const result = callback_url
          ? await service.completeFromCallbackUrl({ url: login.url, callback_url, wait_seconds: login.wait_seconds }, hooks)
          : await service.login(login, hooks);
        return ok({ ...result }, result.message);
      } catch (error) {
        return fail(error);
      }
    },
  );
}
