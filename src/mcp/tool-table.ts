import type { McpServer, ToolCallback } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { AnySchema, ZodRawShapeCompat } from '@modelcontextprotocol/sdk/server/zod-compat.js';
import { ErrorCode, McpError, type CallToolResult, type JSONRPCRequest, type ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import { AccessError } from '../core/errors.js';
import { truncate } from '../core/url-policy.js';
import type { ToolExtra } from './progress.js';
import { fail } from './tool-result.js';

/** A tool's arguments arrive as sent: each tool reads them itself (see arguments.ts). */
export type ToolHandler = (args: unknown, extra: ToolExtra) => Promise<CallToolResult>;

export interface ToolConfig {
  title: string;
  description: string;
  /** What tools/list advertises (toolInput's `advertised`). */
  inputSchema: AnySchema;
  outputSchema?: ZodRawShapeCompat;
  annotations: ToolAnnotations;
}

/**
 * The server's tools: McpServer lists them (tools/list, from each tool's
 * schemas), and this table answers tools/call itself. The SDK's own path for a
 * call parses its request twice, checks the arguments against a schema that
 * accepts anything (ours are read in arguments.ts, with our own messages) and
 * parses the result once more, copying it: on a warm access_fetch that was the
 * largest single share of what we spend beyond a bare tool (README, "per
 * call"). What it checked is kept here: the tool's name, arguments that are
 * an object (null reads as none), no task mode. Results are built by
 * tool-result.ts (contract.test.ts checks them against each outputSchema);
 * a handler that throws still gets an error result.
 */
export class ToolTable {
  private readonly handlers = new Map<string, ToolHandler>();

  constructor(readonly server: McpServer) {}

  register(name: string, config: ToolConfig, handler: ToolHandler): void {
    this.server.registerTool(name, config, handler as ToolCallback<AnySchema>);
    this.handlers.set(name, handler);
  }

  /** From now on tools/call is answered by call(); the rest of the protocol stays with the SDK. */
  answerCalls(): void {
    const protocol = this.server.server;
    protocol.removeRequestHandler('tools/call');
    // Only methods without a handler of their own come here.
    protocol.fallbackRequestHandler = async (request, extra) => {
      if (request.method !== 'tools/call') throw new McpError(ErrorCode.MethodNotFound, 'Method not found');
      return this.call(request, extra);
    };
  }

  private async call(request: JSONRPCRequest, extra: ToolExtra): Promise<CallToolResult> {
    const params = (request.params ?? {}) as { name?: unknown; arguments?: unknown; task?: unknown };
    if (typeof params.name !== 'string') throw new McpError(ErrorCode.InvalidParams, 'tools/call needs the name of a tool in params.name.');
    const handler = this.handlers.get(params.name);
    // A result the agent reads, as McpServer gave it, in our words.
    if (!handler) return fail(new AccessError('invalid_arguments', `There is no tool ${JSON.stringify(truncate(params.name, 60))} on this server.`, `Call one of ${[...this.handlers.keys()].join(', ')}.`));
    if (params.task !== undefined) throw new McpError(ErrorCode.InvalidParams, `${params.name} does not run as a task: call it without params.task.`);
    const args = params.arguments ?? {};
    if (typeof args !== 'object' || Array.isArray(args)) {
      const came = Array.isArray(args) ? 'an array' : `a ${typeof args}`;
      return fail(new AccessError('invalid_arguments', `${params.name} was called with ${came} as its arguments; they must be an object of named values.`, `Call ${params.name} again with its arguments as an object, as its input schema in tools/list shows.`));
    }
    try {
      const result = await handler(args, extra);
      // Never an answer without a result (the client would wait for ever): the one check of the SDK's that costs nothing.
      if (!result || !Array.isArray(result.content)) throw new Error(`${params.name} produced no result.`);
      return result;
    } catch (error) {
      // Handlers answer their own failures; this is the net under them, as McpServer's was.
      return fail(error);
    }
  }
}
