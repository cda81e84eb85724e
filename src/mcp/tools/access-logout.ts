import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ServiceProvider } from '../server.js';
import { z } from 'zod';
import { fail, ok } from '../tool-result.js';

export function registerAccessLogout(server: McpServer, getService: ServiceProvider): void {
  server.registerTool(
    'access_logout',
    {
      title: 'Log out of Cloudflare Access sites',
      description: 'Revokes (when the server supports it) and deletes the stored session for one site (url), or for every site (all: true).',
      inputSchema: {
        url: z.string().optional().describe('Any URL on the site to log out of.'),
        all: z.boolean().optional().describe('Log out of every stored site.'),
      },
      outputSchema: {
        logged_out: z.array(z.object({ host: z.string(), revoked: z.boolean(), detail: z.string() })),
      },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
    },
    async (args) => {
      try {
        const service = await getService();
        const result = await service.logout(args);
        const text = result.logged_out.length ? result.logged_out.map((r) => `${r.host}: ${r.detail}`).join('\n') : 'No stored sessions to log out of.';
        return ok({ ...result }, text);
      } catch (error) {
        return fail(error);
      }
    },
  );
}
