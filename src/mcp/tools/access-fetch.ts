import { STATUS_CODES } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ServiceProvider } from '../server.js';
import { z } from 'zod';
import type { FetchResult } from '../../service/results.js';
import { loginHooks } from '../progress.js';
import { fail, ok } from '../tool-result.js';
import { SaveRoots } from '../save-roots.js';

const inputSchema = {
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
};

const outputSchema = {
  url: z.string(),
  final_url: z.string(),
  status: z.number(),
  content_type: z.string(),
  auth: z.enum(['oauth', 'cloudflared', 'service_token', 'none']),
  title: z.string().optional(),
  total_length: z.number(),
  start_index: z.number(),
  truncated: z.boolean(),
  next_start_index: z.number().optional(),
  headers: z.record(z.string(), z.string()),
  saved_to: z.string().optional(),
  bytes: z.number().optional(),
  warnings: z.array(z.string()),
};

const AUTH_LABEL: Record<FetchResult['auth'], string> = {
  oauth: 'managed OAuth session',
  cloudflared: 'cloudflared token',
  service_token: 'service token',
  none: 'no credentials',
};

export function registerAccessFetch(server: McpServer, getService: ServiceProvider): void {
  const saveRoots = new SaveRoots(server);
  server.registerTool(
    'access_fetch',
    {
      title: 'Fetch a URL behind Cloudflare Access',
      description:
        'Fetches a web page or API behind Cloudflare Access and returns it as Markdown (HTML), pretty JSON, text, or an image. ' +
        'If the site needs a login, a browser login is started and awaited (wait_seconds); if the user has not finished, the result says the login is pending with the URL to open — then call again. ' +
        'Long content is paged: use start_index from the note at the end. Files and binaries: pass save_to to stream the body to disk. ' +
        'An HTTP error status from the site is returned as data, not as a failure. POST, PUT, PATCH and DELETE change data on the site: confirm with the user first. ' +
        'Credentials are never shown and never follow a redirect to another origin.',
      inputSchema,
      outputSchema,
      // Not read-only and possibly destructive: with method POST/PUT/DELETE it changes whatever the URL points at.
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    },
    async (args, extra) => {
      try {
        const service = await getService();
        // Where save_to may write is decided here, never by the agent's arguments.
        const roots = args.save_to !== undefined ? await saveRoots.current() : undefined;
        const result = await service.fetch({ ...args, saveRoots: roots, typedByUser: false }, loginHooks(extra, server));
        const { text, image, ...structured } = result;
        const rendered = [...describeResponse(result), '', text].join('\n');
        return ok(structured, rendered, image ? [{ type: 'image', data: image.data, mimeType: image.mimeType }] : []);
      } catch (error) {
        return fail(error);
      }
    },
  );
}

/** The lines above the content: status, type, auth, final URL, selected headers, warnings. */
function describeResponse(result: FetchResult): string[] {
  const status = `HTTP ${result.status}${STATUS_CODES[result.status] ? ` ${STATUS_CODES[result.status]}` : ''}`;
  const lines = [`${status} · ${result.content_type || 'unknown type'} · ${AUTH_LABEL[result.auth]} · ${result.final_url}`];
  if (result.final_url !== result.url) lines.push(`Redirected from ${result.url}`);
  const headers = Object.entries(result.headers).filter(([name]) => name !== 'content-type');
  if (headers.length > 0) lines.push(`Headers: ${headers.map(([name, value]) => `${name}: ${value}`).join(' | ')}`);
  for (const warning of result.warnings) lines.push(`Warning: ${warning}`);
  return lines;
}
