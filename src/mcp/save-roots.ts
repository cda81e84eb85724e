/**
 * The directories an agent's save_to may write under: the client's declared
 * roots (MCP roots/list, file:// URIs), asked for at call time and cached
 * until the client says they changed; or else the server's working directory
 * (the one the client started it in).
 */
import { fileURLToPath } from 'node:url';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { RootsListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

const LIST_ROOTS_TIMEOUT_MS = 10_000;

export class SaveRoots {
  private cached?: Promise<string[]>;

  constructor(private readonly server: McpServer) {
    server.server.setNotificationHandler(RootsListChangedNotificationSchema, async () => {
      this.cached = undefined;
    });
  }

  /** The allowed directories for this call. */
  current(): Promise<string[]> {
    if (!this.server.server.getClientCapabilities()?.roots) return Promise.resolve([process.cwd()]);
    this.cached ??= this.list().catch(() => {
      // Not cached: the next call asks again.
      this.cached = undefined;
      return [process.cwd()];
    });
    return this.cached;
  }

  private async list(): Promise<string[]> {
    const { roots } = await this.server.server.listRoots(undefined, { timeout: LIST_ROOTS_TIMEOUT_MS });
    const dirs = roots.flatMap((root) => {
      try {
        const url = new URL(root.uri);
        return url.protocol === 'file:' ? [fileURLToPath(url)] : [];
      } catch {
        return [];
      }
    });
    // A client that declares the capability but no usable root: the working directory, as without roots.
    return dirs.length > 0 ? dirs : [process.cwd()];
  }
}
