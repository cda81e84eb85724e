import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { isJSONRPCResultResponse, type JSONRPCMessage, type JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

type Id = string | number;

/** The part of a tools/list result that says which tools may be called again (MCP tool annotations). */
const ToolList = z.object({
  tools: z.array(z.object({ name: z.string(), annotations: z.object({ readOnlyHint: z.boolean().optional(), idempotentHint: z.boolean().optional() }).loose().optional() }).loose()),
});

/**
 * The client's requests the remote has not answered yet, each with the
 * transport (session) that accepted it. Over HTTP+SSE an answer comes on the
 * session's event stream: when that stream ends, the requests its session
 * accepted will never be answered, and these say which to send again.
 */
export class UnansweredRequests {
  private readonly waiting = new Map<Id, { request: JSONRPCRequest; acceptedBy?: Transport; resent?: boolean }>();
  /** Tools the remote marks as safe to call again (readOnlyHint or idempotentHint), learnt from the tools/list answers passing through. */
  private readonly repeatableTools = new Set<string>();

  /** A request from the client, about to be sent. */
  add(request: JSONRPCRequest): void {
    this.waiting.set(request.id, { request });
  }

  /** `transport` accepted the request: its answer is to come from that session. */
  accepted(id: Id, transport: Transport): void {
    const entry = this.waiting.get(id);
    if (entry) entry.acceptedBy = transport;
  }

  /** The request was answered (by the remote, or by the bridge with an error) or cancelled by the client. */
  settle(id: Id): void {
    this.waiting.delete(id);
  }

  /** A message from the remote: an answer settles its request, and a tools/list answer says which tools may be repeated. False for a second answer to a settled request (not to be passed on). */
  answered(message: JSONRPCMessage): boolean {
    if (!('id' in message) || 'method' in message || message.id === undefined) return true;
    const entry = this.waiting.get(message.id);
    // Already settled (answered with our error, answered before it was sent again, or cancelled): a second answer is not passed on.
    if (!entry) return false;
    this.waiting.delete(message.id);
    if (entry.request.method !== 'tools/list' || !isJSONRPCResultResponse(message)) return true;
    const list = ToolList.safeParse(message.result);
    if (!list.success) return true;
    for (const tool of list.data.tools) {
      if (tool.annotations?.readOnlyHint === true || tool.annotations?.idempotentHint === true) this.repeatableTools.add(tool.name);
      else this.repeatableTools.delete(tool.name);
    }
    return true;
  }

  /** The requests `lost` accepted that are still waiting for their answer. */
  acceptedBy(lost: Transport): JSONRPCRequest[] {
    return [...this.waiting.values()].filter((e) => e.acceptedBy === lost).map((e) => e.request);
  }

  /** Those of `ids` still waiting for the answer `transport` was to give (not yet sent again elsewhere). */
  waitingOn(ids: Id[], transport: Transport): JSONRPCRequest[] {
    return ids.flatMap((id) => {
      const entry = this.waiting.get(id);
      return entry && (entry.acceptedBy === transport || entry.acceptedBy === undefined) ? [entry.request] : [];
    });
  }

  /** The request goes again on `transport`: once only, so a remote that keeps losing its sessions cannot make the bridge repeat it forever. */
  resent(id: Id, transport: Transport): void {
    const entry = this.waiting.get(id);
    if (entry) Object.assign(entry, { acceptedBy: transport, resent: true });
  }

  /**
   * Why the request may not be sent again on a new session, and what the
   * user can do (undefined: it may be). A call of a tool that changes
   * something may have taken effect before the answer was lost: only one the
   * remote marks read-only or idempotent is repeated. Other requests (lists,
   * reads, completions, pings) change nothing.
   */
  notRepeatable(request: JSONRPCRequest): { why: string; next: string } | undefined {
    if (this.waiting.get(request.id)?.resent) {
      return { why: 'it had been sent again once already, and the new session was lost too', next: 'Check that the remote MCP server stays up (its event stream keeps ending), then repeat the request.' };
    }
    if (request.method === 'initialize') return { why: 'the client must initialize again', next: "Restart the MCP client's connection to this server." };
    if (request.method !== 'tools/call') return undefined;
    const name = (request.params as { name?: unknown } | undefined)?.name;
    if (typeof name === 'string' && this.repeatableTools.has(name)) return undefined;
    return {
      why: 'the remote does not mark the tool as safe to repeat (readOnlyHint or idempotentHint), so it may or may not have taken effect',
      next: 'Check whether it took effect, then call it again if it did not.',
    };
  }
}
