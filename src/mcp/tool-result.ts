import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describeError } from '../auth/errors.js';
import { redactDeep, redactSecrets } from '../auth/redact.js';

/** A successful tool result: structured content plus a readable text rendering. */
export function ok(structured: Record<string, unknown>, text: string, extra: CallToolResult['content'] = []): CallToolResult {
  // Last line of defence: nothing the process knows to be a secret leaves in a result.
  return { content: [{ type: 'text', text: redactSecrets(text) }, ...extra], structuredContent: redactDeep(structured) };
}

/** A tool failure the agent can act on: what happened and the next step. */
export function fail(error: unknown): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: redactSecrets(describeError(error)) }] };
}
