import { ownSignals } from '../core/own-signals.js';
import type { AccessService } from '../service/access-service.js';
import { DroppedLine, LineTransport } from './line-transport.js';
import { createLogger } from './logging.js';
import { createMcpServer } from './server.js';
import { reportStalls } from './stall-report.js';
import { warmAccessFetch } from './tools/access-fetch.js';

/** Runs the MCP server on stdio until the client closes stdin or a signal arrives. */
export async function runStdioServer(): Promise<void> {
  const { log, attach } = createLogger();
  // Loaded on first use (or shortly after start-up), so the client's
  // initialize and tools/list are answered without waiting for undici, conf
  // and the auth core to load.
  let service: Promise<AccessService> | undefined;
  const getService = () =>
    (service ??= Promise.all([import('../service/access-service.js'), import('../service/config.js')]).then(
      ([{ AccessService }, { loadConfig }]) => new AccessService(loadConfig(), log),
    ));
  const server = createMcpServer(getService);
  attach(server);
  // A malformed line from the client, or a message the protocol cannot place: said, and the server goes on. Only what
  // kind of problem: the SDK's own messages quote the client's message, which may carry a credential or a form's answers.
  server.server.onerror = (error) => log('warning', `MCP: ${problemOf(error)}`);
  const transport = new LineTransport();

  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    if (service) await (await service).close().catch(() => {});
    await server.close().catch(() => {});
    process.exit(0);
  };
  // The transport does not watch stdin closing: without this the
  // callback listener would keep the process alive after the client is gone.
  process.stdin.on('end', shutdown);
  process.stdin.on('close', shutdown);
  // The client is gone (EPIPE on stdout): nothing more can be answered.
  process.stdout.on('error', () => void shutdown());
  // The server owns SIGINT and SIGTERM (see ownSignals): a library that re-raises them once the store's
  // writer has loaded would cut the shutdown short (the login lock, a pending login kept for the next process).
  ownSignals(['SIGINT', 'SIGTERM'], () => void shutdown());

  await server.connect(transport);
  // Idle warm-up: the service, then what its first fetch would pay for once (see warm-up.ts).
  setTimeout(
    () =>
      void getService()
        .then(async (svc) => (await import('../service/warm-up.js')).warmUp(svc, { fetched: warmAccessFetch, busy: () => server.tools.callsUnderWay > 0 }))
        .catch((error: unknown) => log('error', `Could not start: ${(error as Error).message}`)),
    300,
  ).unref();
  reportStalls();
}

/** An error's kind without its details: the text before the first colon (the SDK writes "<what>: <the message as JSON>"). */
function problemOf(error: Error): string {
  return error instanceof DroppedLine ? error.message : `${error.message.split(':')[0]!.slice(0, 80)} (details not shown).`;
}
