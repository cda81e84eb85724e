import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describeError } from '../core/errors.js';
import { currentSecrets, redactDeep, redactSecrets, redactWith } from '../core/redact.js';
import { forAgents, forAgentsDeep } from './next-step-words.js';

/*
 * What the model sees depends on the client: Claude Code, VS Code, Codex and
 * newer OpenCode hand it only JSON.stringify(structuredContent) when a result
 * has one; older OpenCode, Gemini CLI and the Inspector show only `content`.
 * So a result either has no structuredContent (the content is the value: a
 * page, an error) or its structuredContent holds every sentence the text says.
 */

/** Where a content result keeps its fields for programs (no client hands `_meta` to the model). */
export const RESULT_META_KEY = 'cf-access-mcp/result';

/**
 * A result whose value is its content (a page, an image): no structuredContent,
 * so every client shows the content. `data` (status, URLs, paging) goes to
 * `_meta` for programs that want the fields. Everything in `text` and `data`
 * is our own words: next-step markers in them are rendered.
 */
export function contentResult(text: string, extra: CallToolResult['content'] = [], data?: Record<string, unknown>): CallToolResult {
  // Last line of defence: nothing the process knows to be a secret leaves in a result.
  const result: CallToolResult = { content: [{ type: 'text', text: redactSecrets(forAgents(text)) }, ...extra] };
  if (data) result._meta = { [RESULT_META_KEY]: redactDeep(forAgentsDeep(data)) };
  return result;
}

/**
 * A fetched page: `head` is already in an agent's words (see forAgents),
 * `page` is the origin's text and `data` mixes both. Nothing here renders a
 * marker, so a page, title or header that spells one (`⟦step …⟧`) arrives as
 * served; the caller renders the sentences it wrote (warnings) before they get
 * here. Redaction still covers all of it, in one pass over the whole text.
 */
export function pageResult(head: string, page: string, extra: CallToolResult['content'], data: Record<string, unknown>): CallToolResult {
  const text = head ? `${head}\n\n${page}` : page;
  const secrets = currentSecrets();
  return { content: [{ type: 'text', text: redactWith(text, secrets) }, ...extra], _meta: { [RESULT_META_KEY]: redactDeep(data, secrets) } };
}

/** A structured result: `structured` must carry every sentence of `text` (see above). */
export function structuredResult(structured: Record<string, unknown>, text: string): CallToolResult {
  return { content: [{ type: 'text', text: redactSecrets(forAgents(text)) }], structuredContent: redactDeep(forAgentsDeep(structured)) };
}

/** A message and its next step as text; for a pending login the same from every tool. */
export function messageText(result: { message: string; next_step?: string }, warnings: string[] = []): string {
  const lines = [result.message];
  if (result.next_step) lines.push(`Next step: ${result.next_step}`);
  for (const warning of warnings) lines.push(`Warning: ${warning}`);
  return lines.join('\n');
}

/** A tool failure the agent can act on: what happened and the next step. Text only, so every client shows it. */
export function fail(error: unknown): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: redactSecrets(forAgents(describeError(error))) }] };
}
