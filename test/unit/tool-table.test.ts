import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ToolTable } from '../../src/mcp/tool-table.js';

/** A server with three tools on the table, and an SDK client connected to it in memory. */
async function connected() {
  const server = new McpServer({ name: 't', version: '1' });
  const tools = new ToolTable(server);
  const seen: unknown[] = [];
  const config = { title: 'T', description: 'd', inputSchema: z.looseObject({}), annotations: {} };
  tools.register('echo', config, async (args) => {
    seen.push(args);
    return { content: [{ type: 'text', text: JSON.stringify(args) }] };
  });
  tools.register('throws', config, async () => {
    throw new Error('went wrong');
  });
  tools.register('nothing', config, async () => undefined as unknown as CallToolResult);
  tools.answerCalls();
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(a);
  const client = new Client({ name: 'c', version: '1' });
  await client.connect(b);
  return { client, seen, close: () => client.close() };
}

const textOf = (result: unknown) => ((result as CallToolResult).content[0] as { text: string }).text;

test('the table answers tools/call with the registered handler, arguments as sent; McpServer still lists the tools', async () => {
  const { client, seen, close } = await connected();
  assert.deepEqual((await client.listTools()).tools.map((t) => t.name), ['echo', 'throws', 'nothing']);
  const result = await client.callTool({ name: 'echo', arguments: { a: 1, nested: { b: [2] } } });
  assert.equal(textOf(result), '{"a":1,"nested":{"b":[2]}}');
  await client.callTool({ name: 'echo' });
  assert.deepEqual(seen, [{ a: 1, nested: { b: [2] } }, {}]);
  await close();
});

test('a handler that throws, or returns nothing, gives an error result rather than a hung or empty answer', async () => {
  const { client, close } = await connected();
  const thrown = await client.callTool({ name: 'throws', arguments: {} });
  assert.equal(thrown.isError, true);
  assert.match(textOf(thrown), /went wrong/);
  const nothing = await client.callTool({ name: 'nothing', arguments: {} });
  assert.equal(nothing.isError, true);
  assert.match(textOf(nothing), /nothing produced no result/);
  await close();
});

test('other methods without a handler are still "method not found"', async () => {
  const { client, close } = await connected();
  await assert.rejects(client.listResources(), (error: Error & { code?: number }) => error.code === -32601);
  await close();
});
