#!/usr/bin/env node
// The per-call baselines: a bare MCP SDK server on stdio whose one tool does the
// same undici GET as access_fetch (keep-alive pool, the Bearer token from
// BENCH_BEARER) and returns the body as text (a), or, with markdown: true, the
// same conversion as cf-access-mcp run inline, on this thread: its own converter
// from dist/http/html.js (htmlparser2 and our Markdown walk; Readability on linkedom
// for pages without one marked main) (b). Nothing else: no auth flow, no redaction, no worker.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { Agent, request } from 'undici';
import { z } from 'zod';

const agent = new Agent({ keepAliveTimeout: 30_000 });
const headers = { authorization: `Bearer ${process.env.BENCH_BEARER ?? ''}`, accept: '*/*', 'user-agent': 'bare' };
let converter;

async function loadConverter() {
  const { htmlToReadable } = await import('../dist/http/html.js');
  return async (html, url) => (await htmlToReadable(html, 'markdown', new URL(url))).text;
}

const server = new McpServer({ name: 'bare-fetch', version: '1.0.0' });
server.registerTool(
  'fetch',
  { description: 'GET a URL', inputSchema: { url: z.string(), markdown: z.boolean().optional(), max_length: z.number().optional() } },
  async ({ url, markdown, max_length }) => {
    const response = await request(url, { dispatcher: agent, headers });
    const body = await response.body.text();
    let text = body;
    if (markdown) text = await (converter ??= await loadConverter())(body, url);
    return { content: [{ type: 'text', text: `HTTP ${response.statusCode}\n${text.slice(0, max_length ?? 20_000)}` }] };
  },
);
server.registerTool('noop_status', { description: 'no-op', inputSchema: { url: z.string().optional() } }, async () => ({ content: [{ type: 'text', text: 'ok' }] }));

process.stdin.on('end', () => process.exit(0));
await server.connect(new StdioServerTransport());
