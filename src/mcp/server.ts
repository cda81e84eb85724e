import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { AccessService } from '../service/access-service.js';

/** The service is created on first use, so start-up does not load the HTTP stack, store or auth core. */
export type ServiceProvider = () => Promise<AccessService>;
import { VERSION } from '../version.js';
import { registerAccessFetch } from './tools/access-fetch.js';
import { registerAccessLogin } from './tools/access-login.js';
import { registerAccessLogout } from './tools/access-logout.js';
import { registerAccessProxy } from './tools/access-proxy.js';
import { registerAccessStatus } from './tools/access-status.js';
import { ToolTable } from './tool-table.js';

/** McpServer whose tool calls are answered by its tool table from the moment it connects. */
export class AccessMcpServer extends McpServer {
  readonly tools = new ToolTable(this);

  override async connect(transport: Transport): Promise<void> {
    await super.connect(transport);
    this.tools.takeCallsFrom(transport);
  }
}

/** The MCP surface: five tools over the access service. */
export function createMcpServer(service: ServiceProvider): AccessMcpServer {
  const server = new AccessMcpServer(
    { name: 'cf-access-mcp', title: 'Cloudflare Access for agents', version: VERSION },
    {
      capabilities: { logging: {} },
      instructions:
        'Use access_fetch to read URLs behind Cloudflare Access (it logs in when needed). If a result says a login is pending, show the user the URL, wait for them to sign in, then call again. ' +
        'To use shell tools (curl, git, test runners) on such a site, call access_proxy and use its local base_url; never put tokens in commands. ' +
        'If the user signs in on another machine and the browser ends on a localhost /callback address that does not load, pass that address to access_login as callback_url.',
    },
  );
  const { tools } = server;
  registerAccessFetch(tools, service);
  registerAccessLogin(tools, service);
  registerAccessStatus(tools, service);
  registerAccessLogout(tools, service);
  registerAccessProxy(tools, service);
  tools.answerCalls();
  return server;
}
