import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describeError } from '../auth/errors.js';

/** A successful tool result: structured content plus a readable text rendering. */
export function ok(structured: Record<string, unknown>, text: string, extra: CallToolResult['content'] = []): CallToolResult {
  return { content: [{ type: 'text', text }, ...extra], structuredContent: structured };
}

/** A tool failure the agent can act on: what happened and the next step. */
export function fail(error: unknown): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: describeError(error) }] };
}
