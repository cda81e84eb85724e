import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { LoginResultSchema } from '../../service/results.js';
import { LoginChoiceSchema } from '../../auth/methods.js';
import { toolInput } from '../arguments.js';
import { loginHooks } from '../progress.js';
import type { ServiceProvider } from '../server.js';
import type { ToolTable } from '../tool-table.js';
import { fail, messageText, structuredResult } from '../tool-result.js';

const input = toolInput(
  'access_login',
  {
    url: z.string().describe('Any URL of the protected application (several applications may share a host under different paths).'),
    force: z.boolean().optional().describe('Discard the stored session and log in again, also when the application refused the account a moment ago. A login already waiting for the user is continued, not started twice.'),
    wait_seconds: z.number().int().min(0).max(3600).optional().describe('How long to wait for the user to finish (default 45).'),
    method: LoginChoiceSchema
      .optional()
      .describe('auto (default): a configured service token for the host, else a live session, else managed OAuth when the site offers it, else cloudflared. oauth/cloudflared force that browser login (also on a service-token host); service_token only checks the configured token.'),
    callback_url: z
      .string()
      .optional()
      .describe('Paste-back: the full address the browser ended on after signing in (http://localhost:<port>/callback?code=…&state=…) when that page could not load.'),
  },
  { url: 'https://app.example.com/' },
);

const outputSchema = LoginResultSchema.extend({ warnings: z.array(z.string()).optional() });

export function registerAccessLogin(tools: ToolTable, getService: ServiceProvider): void {
  const server = tools.server;
  tools.register(
    'access_login',
    {
      title: 'Log in to a Cloudflare Access site',
      description:
        'Starts or continues the browser login for a site behind Cloudflare Access. Returns status "authenticated" (with expiry) or "pending" with login_url for the user to open (the same result access_fetch gives when it needs a login); once the user has signed in, call again. force: true discards the stored session and logs in anew. ' +
        'When the user\'s browser cannot reach this machine (SSH, remote host), it ends on a page that does not load: pass that full address as callback_url to finish the pending login.',
      inputSchema: input.advertised,
      outputSchema: outputSchema.shape,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    },
    async (raw, extra): Promise<CallToolResult> => {
      try {
        const { args, warnings } = input.parse(raw);
        const { callback_url, ...login } = args;
        const hooks = loginHooks(extra, server);
        const service = await getService();
        const result = callback_url
          ? await service.completeFromCallbackUrl({ url: login.url, callback_url, wait_seconds: login.wait_seconds }, hooks)
          : await service.login(login, hooks);
        return structuredResult({ ...result, ...(warnings.length ? { warnings } : {}) }, messageText(result, warnings));
      } catch (error) {
        return fail(error);
      }
    },
  );
}
