import { STATUS_CODES } from 'node:http';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { isLoginPending } from '../../service/pending.js';
import type { FetchResult } from '../../service/results.js';
import { toolInput } from '../arguments.js';
import { loginHooks } from '../progress.js';
import type { ServiceProvider } from '../server.js';
import type { ToolTable } from '../tool-table.js';
import { SaveRoots } from '../save-roots.js';
import { forAgents } from '../next-step-words.js';
import { shownUrl } from '../../core/url-policy.js';
import { contentResult, fail, messageText, pageResult } from '../tool-result.js';

const input = toolInput(
  'access_fetch',
  {
    url: z.string().describe('Absolute https:// URL to fetch (http:// only for localhost).'),
    method: z.string().optional().describe('HTTP method, default GET.'),
    headers: z.record(z.string(), z.string()).optional().describe('Extra request headers.'),
    body: z.union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())]).optional().describe('Request body: a string, or JSON (sent as application/json).'),
    format: z
      .enum(['markdown', 'text', 'raw'])
      .optional()
      .describe('How to return HTML: markdown (default: the main content, without navigation), text (plain text of the main content), or raw (as served). JSON is pretty-printed unless raw.'),
    max_length: z.number().int().positive().max(1_000_000).optional().describe('Maximum characters to return (default 20000).'),
    start_index: z.number().int().min(0).optional().describe('Character offset to start from, for continuing a truncated result.'),
    wait_seconds: z.number().int().min(0).max(3600).optional().describe('How long to wait for a browser login if one is needed (default 45).'),
    save_to: z
      .string()
      .optional()
      .describe(
        'A file path: stream the whole body to this file instead of returning it; the result gives path, size and type. ' +
          'Only under the client\'s roots (else the server\'s working directory, which relative paths resolve against); no hidden files or directories (names starting with "."); missing parent directories are created.',
      ),
    overwrite: z.boolean().optional().describe('With save_to: replace the file if it already exists (default false: an existing file is refused).'),
  },
  { url: 'https://app.example.com/page' },
);

const AUTH_LABEL: Record<FetchResult['auth'], string> = {
  oauth: 'managed OAuth session',
  cloudflared: 'cloudflared token',
  service_token: 'service token',
  none: 'no credentials',
};

export function registerAccessFetch(tools: ToolTable, getService: ServiceProvider): void {
  const server = tools.server;
  const saveRoots = new SaveRoots(server);
  tools.register(
    'access_fetch',
    {
      title: 'Fetch a URL behind Cloudflare Access',
      description:
        'Fetches a web page or API behind Cloudflare Access and returns it as Markdown (HTML), pretty JSON, text, or an image. ' +
        'If the site needs a login, a browser login is started and awaited (wait_seconds); if the user has not finished, the result says "Login pending" with the sign-in URL to show the user — once they are done, repeat the same call. ' +
        'Long content is paged: use start_index from the note at the end. Files and binaries: pass save_to to stream the body to disk. ' +
        'An HTTP error status from the site is returned as data, not as a failure. POST, PUT, PATCH and DELETE change data on the site: confirm with the user first. ' +
        'Credentials are never shown and never follow a redirect to another origin.',
      // No outputSchema: the page is the value, and clients that see structuredContent hide the content from the model.
      inputSchema: input.advertised,
      // Not read-only and possibly destructive: with method POST/PUT/DELETE it changes whatever the URL points at.
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    },
    async (raw, extra): Promise<CallToolResult> => {
      let warnings: string[] = [];
      try {
        const parsed = input.parse(raw);
        const args = parsed.args;
        warnings = parsed.warnings;
        const service = await getService();
        // Where save_to may write is decided here, never by the agent's arguments.
        const roots = args.save_to !== undefined ? await saveRoots.current() : undefined;
        const result = await service.fetch({ ...args, saveRoots: roots, typedByUser: false }, loginHooks(extra, server));
        return fetchToolResult(result, warnings, args.format === 'raw');
      } catch (error) {
        // A pending login is an expected step, not a failure: the same result access_login gives.
        if (isLoginPending(error)) return contentResult(messageText(error.pending, warnings), [], error.pending);
        return fail(error);
      }
    },
  );
}

function fetchToolResult(result: FetchResult, warnings: string[], raw: boolean): CallToolResult {
  // Only our sentences are rendered for the agent: the page, its title and headers are the origin's and pass as served.
  const rendered = { ...result, warnings: [...warnings, ...result.warnings].map(forAgents) };
  const { text: _text, note: _note, image, ...data } = rendered;
  const head = describeResponse(rendered, raw).join('\n');
  return pageResult(head, pageText(result), image ? [{ type: 'image', data: image.data, mimeType: image.mimeType }] : [], data);
}

/**
 * The idle warm-up (see service/warm-up.ts) hands over its page's result: a
 * call's path through this tool runs once on it (the arguments, the rendering,
 * the serialisation), so the first call does not spend its time compiling them.
 */
export async function warmAccessFetch(result: FetchResult): Promise<void> {
  input.parse({ url: result.url });
  JSON.stringify(fetchToolResult(result, [], false));
}

/** The text under the head: the origin's page as served, then our paging note; a description of a file, image or binary is all ours. */
function pageText(result: FetchResult): string {
  if (result.image || result.binary || result.saved_to !== undefined) return forAgents(result.text);
  if (result.note === undefined) return result.text;
  return `${result.text.slice(0, result.text.length - result.note.length)}${forAgents(result.note)}`;
}

/** Headers worth their tokens: those the agent can act on. With format raw, all that were kept. */
function usefulHeaders(result: FetchResult, raw: boolean): [string, string][] {
  return Object.entries(result.headers).filter(([name]) => {
    if (name === 'content-type') return false;
    if (raw) return true;
    if (name === 'location' || name === 'retry-after' || name === 'content-disposition') return true;
    if (name === 'www-authenticate') return result.status >= 400;
    return false;
  });
}

/** The lines above the content: status, type, auth and final URL on one line, then what the agent may need to act on. */
function describeResponse(result: FetchResult, raw: boolean): string[] {
  const status = `HTTP ${result.status}${STATUS_CODES[result.status] ? ` ${STATUS_CODES[result.status]}` : ''}`;
  const lines = [`${status} · ${result.content_type || 'unknown type'} · ${AUTH_LABEL[result.auth]} · ${shownUrl(result.final_url)}`];
  if (result.final_url !== result.url) lines.push(`Redirected from ${shownUrl(result.url)}`);
  if (result.title && !result.text.trimStart().startsWith(`# ${result.title}`)) lines.push(`Title: ${result.title}`);
  if (result.saved_to) lines.push(`Saved ${result.bytes ?? 0} bytes to ${result.saved_to}`);
  const headers = usefulHeaders(result, raw);
  if (headers.length > 0) lines.push(`Headers: ${headers.map(([name, value]) => `${name}: ${value}`).join(' | ')}`);
  for (const warning of result.warnings) lines.push(`Warning: ${warning}`);
  return lines;
}
