import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { AccessService } from '../service/access-service.js';
import { loadConfig } from '../service/config.js';
import { createLogger } from './logging.js';
import { createMcpServer } from './server.js';

/** Runs the MCP server on stdio until the client closes stdin or a signal arrives. */
export async function runStdioServer(): Promise<void> {
  const { log, attach } = createLogger();
  const service = new AccessService(loadConfig(), log);
  const server = createMcpServer(service);
  attach(server);
  const transport = new StdioServerTransport();

  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    await service.close().catch(() => {});
    await server.close().catch(() => {});
    process.exit(0);
  };
  // The SDK's stdio transport does not watch stdin closing: without this the
  // callback listener would keep the process alive after the client is gone.
  process.stdin.on('end', shutdown);
  process.stdin.on('close', shutdown);
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);

  await server.connect(transport);
}
