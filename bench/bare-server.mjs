#!/usr/bin/env node
// The start-up baseline: a bare MCP SDK server on stdio with four no-op tools
// shaped like ours (zod input schemas), and nothing else.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const server = new McpServer({ name: 'bare-baseline', version: '1.0.0' });
const noop = async () => ({ content: [{ type: 'text', text: 'ok' }] });
server.registerTool('noop_fetch', { description: 'no-op', inputSchema: { url: z.string(), max_length: z.number().optional() } }, noop);
server.registerTool('noop_login', { description: 'no-op', inputSchema: { url: z.string(), force: z.boolean().optional() } }, noop);
server.registerTool('noop_status', { description: 'no-op', inputSchema: { url: z.string().optional() } }, noop);
server.registerTool('noop_logout', { description: 'no-op', inputSchema: { url: z.string().optional(), all: z.boolean().optional() } }, noop);

process.stdin.on('end', () => process.exit(0));
await server.connect(new StdioServerTransport());
