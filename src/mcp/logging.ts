import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Logger, LogLevel } from '../core/logger.js';
import { redactSecrets } from '../core/redact.js';

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, notice: 2, warning: 3, error: 4 };

/**
 * Logs to stderr (never stdout: it carries the protocol) and, once connected,
 * as MCP log notifications (the SDK applies the client's logging/setLevel).
 */
export function createLogger(options: { stderrLevel?: LogLevel } = {}): { log: Logger; attach: (server: McpServer) => void } {
  let server: McpServer | undefined;
  const threshold = RANK[options.stderrLevel ?? 'info'];
  const log: Logger = (level, raw) => {
    const message = redactSecrets(raw);
    if (RANK[level] >= threshold) process.stderr.write(`[cf-access-mcp] ${level}: ${message}\n`);
    if (server?.isConnected()) {
      server.server.sendLoggingMessage({ level, logger: 'cf-access-mcp', data: message }).catch(() => {});
    }
  };
  return { log, attach: (s) => (server = s) };
}
