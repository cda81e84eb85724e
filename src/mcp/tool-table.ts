import type { McpServer, ToolCallback } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { AnySchema, ZodRawShapeCompat } from '@modelcontextprotocol/sdk/server/zod-compat.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, McpError, type CallToolResult, type JSONRPCMessage, type JSONRPCRequest, type RequestId, type ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
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
 *
 * Once connected, calls are taken off the transport before the SDK's Protocol
 * sees them (takeCallsFrom): its classification of each message and its
 * request bookkeeping were the rest of the SDK's share of a call.
 */
export class ToolTable {
  private readonly handlers = new Map<string, ToolHandler>();
  /** Calls taken off the transport and not yet answered, for notifications/cancelled and the connection closing. */
  private readonly inFlight = new Map<RequestId, AbortController>();
  /** Calls the SDK's Protocol handed over (before takeCallsFrom, or without it). */
  private protocolCalls = 0;

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
      this.protocolCalls++;
      try {
        return await this.call(request, extra);
      } finally {
        this.protocolCalls--;
      }
    };
  }

  /**
   * Answers tools/call as it arrives, ahead of the SDK's Protocol; every other
   * message goes on to it. Call after server.connect(transport), which sets
   * the transport's handlers. What the Protocol did for a request is done
   * here: the handler's signal (notifications/cancelled, the connection
   * closing), progress and requests related to the call, and no answer to a
   * cancelled call.
   */
  takeCallsFrom(transport: Transport): void {
    const toProtocol = transport.onmessage;
    const closed = transport.onclose;
    transport.onmessage = (message, extra) => {
      if (isToolCall(message)) return this.answer(message, transport);
      const cancelled = cancelledCall(message);
      if (cancelled) this.inFlight.get(cancelled.requestId)?.abort(cancelled.reason);
      toProtocol?.(message, extra);
    };
    transport.onclose = () => {
      for (const controller of this.inFlight.values()) controller.abort();
      this.inFlight.clear();
      closed?.();
    };
  }

  private answer(request: JSONRPCRequest, transport: Transport): void {
    const protocol = this.server.server;
    const { id } = request;
    const controller = new AbortController();
    this.inFlight.set(id, controller);
    const extra: ToolExtra = {
      signal: controller.signal,
      requestId: id,
      _meta: request.params?._meta,
      sendNotification: async (notification) => {
        if (!controller.signal.aborted) await protocol.notification(notification, { relatedRequestId: id });
      },
      sendRequest: async (sent, resultSchema, options) => {
        if (controller.signal.aborted) throw new McpError(ErrorCode.ConnectionClosed, 'Request was cancelled');
        return protocol.request(sent, resultSchema, { ...options, relatedRequestId: id });
      },
    };
    this.call(request, extra)
      .then(
        (result): JSONRPCMessage => ({ jsonrpc: '2.0', id, result }),
        (error: Error & { code?: unknown; data?: unknown }): JSONRPCMessage => ({
          jsonrpc: '2.0',
          id,
          error: {
            code: Number.isSafeInteger(error.code) ? (error.code as number) : ErrorCode.InternalError,
            message: error.message ?? 'Internal error',
            ...(error.data !== undefined ? { data: error.data } : {}),
          },
        }),
      )
      .then((response) => (controller.signal.aborted ? undefined : transport.send(response)))
      .catch((error: unknown) => protocol.onerror?.(new Error(`Failed to send response: ${String(error)}`)))
      .finally(() => {
        // A later call may have reused the id.
        if (this.inFlight.get(id) === controller) this.inFlight.delete(id);
      });
  }

  /** Tool calls begun and not yet answered, by either path (the idle warm-up stands aside while there are any). */
  get callsUnderWay(): number {
    return this.inFlight.size + this.protocolCalls;
  }

  private async call(request: JSONRPCRequest, extra: ToolExtra): Promise<CallToolResult> {
    const params = (request.params ?? {}) as { name?: unknown; arguments?: unknown; task?: unknown };
    if (typeof params.name !== 'string') throw new McpError(ErrorCode.InvalidParams, 'tools/call needs the name of a tool in params.name.');
    // Before the tool is looked up: a task request is refused as a request, whatever it names.
    if (params.task !== undefined) throw new McpError(ErrorCode.InvalidParams, `${truncate(params.name, 60)} does not run as a task: call it without params.task.`);
    const handler = this.handlers.get(params.name);
    // A result the agent reads, as McpServer gave it, in our words.
    if (!handler) return fail(new AccessError('invalid_arguments', `There is no tool ${JSON.stringify(truncate(params.name, 60))} on this server.`, `Call one of ${[...this.handlers.keys()].join(', ')}.`));
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

/** A tools/call request with an id to answer (a message the Protocol would take as a request). */
function isToolCall(message: JSONRPCMessage): message is JSONRPCRequest {
  const { method, id } = message as { method?: unknown; id?: unknown };
  return method === 'tools/call' && (typeof id === 'string' || Number.isSafeInteger(id));
}

function cancelledCall(message: JSONRPCMessage): { requestId: RequestId; reason?: string } | undefined {
  if ((message as { method?: unknown }).method !== 'notifications/cancelled' || 'id' in message) return undefined;
  const params = (message as { params?: { requestId?: unknown; reason?: unknown } }).params;
  const requestId = params?.requestId;
  if (typeof requestId !== 'string' && typeof requestId !== 'number') return undefined;
  return { requestId, reason: typeof params?.reason === 'string' ? params.reason : undefined };
}
