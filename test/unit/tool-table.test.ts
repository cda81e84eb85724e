import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ListRootsResultSchema, type CallToolResult, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ToolTable } from '../../src/mcp/tool-table.js';

/**
 * A server with three tools on the table, and an SDK client connected to it in
 * memory. `direct`: calls are taken off the transport (takeCallsFrom), and the
 * Protocol has no tools/call handler at all (it would answer "method not found").
 */
async function connected({ direct = false } = {}) {
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
  if (!direct) tools.answerCalls();
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(a);
  if (direct) {
    server.server.removeRequestHandler('tools/call');
    tools.takeCallsFrom(a);
  }
  const client = new Client({ name: 'c', version: '1' });
  await client.connect(b);
  return { client, seen, tools, close: () => client.close() };
}

const textOf = (result: unknown) => ((result as CallToolResult).content[0] as { text: string }).text;

for (const direct of [false, true]) {
const how = direct ? ' (taken off the transport)' : ' (through the Protocol)';

test(`the table answers tools/call with the registered handler, arguments as sent; McpServer still lists the tools${how}`, async () => {
  const { client, seen, close } = await connected({ direct });
  assert.deepEqual((await client.listTools()).tools.map((t) => t.name), ['echo', 'throws', 'nothing']);
  const result = await client.callTool({ name: 'echo', arguments: { a: 1, nested: { b: [2] } } });
  assert.equal(textOf(result), '{"a":1,"nested":{"b":[2]}}');
  await client.callTool({ name: 'echo' });
  assert.deepEqual(seen, [{ a: 1, nested: { b: [2] } }, {}]);
  await close();
});

test(`a handler that throws, or returns nothing, gives an error result rather than a hung or empty answer${how}`, async () => {
  const { client, close } = await connected({ direct });
  const thrown = await client.callTool({ name: 'throws', arguments: {} });
  assert.equal(thrown.isError, true);
  assert.match(textOf(thrown), /went wrong/);
  const nothing = await client.callTool({ name: 'nothing', arguments: {} });
  assert.equal(nothing.isError, true);
  assert.match(textOf(nothing), /nothing produced no result/);
  await close();
});

test(`callsUnderWay counts a call from its arrival to its answer, whether it succeeds or throws${how}`, async () => {
  const { client, tools, close } = await connected({ direct });
  let release: () => void = () => {};
  let entered: () => void = () => {};
  const inside = new Promise<void>((resolve) => (entered = resolve));
  tools.register('waits', { title: 'W', description: 'd', inputSchema: z.looseObject({}), annotations: {} }, async () => {
    entered();
    await new Promise<void>((resolve) => (release = resolve));
    return { content: [{ type: 'text', text: 'done' }] };
  });
  assert.equal(tools.callsUnderWay, 0);
  const call = client.callTool({ name: 'waits', arguments: {} });
  await inside;
  assert.equal(tools.callsUnderWay, 1, 'the call is under way while its handler waits');
  release();
  assert.equal(textOf(await call), 'done');
  // The count drops once the answer has been handed to the transport, a turn after the client has it.
  await new Promise(setImmediate);
  assert.equal(tools.callsUnderWay, 0, 'and no longer once answered');
  await client.callTool({ name: 'throws', arguments: {} });
  await client.callTool({ name: 'nope', arguments: {} });
  await new Promise(setImmediate);
  assert.equal(tools.callsUnderWay, 0, 'a handler that threw and an unknown tool leave nothing counted');
  await close();
});

test(`other methods without a handler are still "method not found"${how}`, async () => {
  const { client, close } = await connected({ direct });
  await assert.rejects(client.listResources(), (error: Error & { code?: number }) => error.code === -32601);
  await close();
});
}


/** A server whose table takes calls off the transport, and the raw other end of it: what is sent, what comes back. */
async function rawPair(register: (tools: ToolTable) => void) {
  const server = new McpServer({ name: 't', version: '1' });
  const tools = new ToolTable(server);
  register(tools);
  tools.answerCalls();
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(a);
  tools.takeCallsFrom(a);
  const received: JSONRPCMessage[] = [];
  const waiters: (() => void)[] = [];
  b.onmessage = (message) => {
    received.push(message);
    // A request from the server (roots/list) is answered as a client would.
    if ('method' in message && 'id' in message && message.method === 'roots/list') void b.send({ jsonrpc: '2.0', id: message.id, result: { roots: [{ uri: 'file:///tmp/r', name: 'r' }] } });
    waiters.splice(0).forEach((wake) => wake());
  };
  await b.start();
  const answerTo = async (id: number | string) => {
    for (;;) {
      const found = received.find((m) => 'id' in m && m.id === id && !('method' in m));
      if (found) return found as { result?: CallToolResult; error?: { code: number; message: string } };
      await new Promise<void>((wake) => waiters.push(wake));
    }
  };
  return { send: (message: JSONRPCMessage) => b.send(message), received, answerTo, close: () => b.close() };
}

const config = { title: 'T', description: 'd', inputSchema: z.looseObject({}), annotations: {} };

test('taken off the transport: the handler gets progress and requests related to its call, and the call id', async () => {
  let sawId: unknown;
  const { send, received, answerTo, close } = await rawPair((tools) =>
    tools.register('steps', config, async (_args, extra) => {
      sawId = extra.requestId;
      await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: extra._meta!.progressToken!, progress: 1, total: 2 } });
      const roots = await extra.sendRequest({ method: 'roots/list' }, ListRootsResultSchema);
      return { content: [{ type: 'text', text: roots.roots[0]!.uri }] };
    }),
  );
  await send({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'steps', arguments: {}, _meta: { progressToken: 'p1' } } });
  const answer = await answerTo(7);
  assert.equal((answer.result!.content[0] as { text: string }).text, 'file:///tmp/r');
  assert.equal(sawId, 7);
  const progress = received.find((m) => 'method' in m && m.method === 'notifications/progress') as unknown as { params: { progressToken: string; progress: number } };
  assert.deepEqual([progress.params.progressToken, progress.params.progress], ['p1', 1]);
  await close();
});

test('taken off the transport: a cancelled call has its signal aborted with the reason, and gets no answer; the next call does', async () => {
  let reason: unknown;
  const { send, received, answerTo, close } = await rawPair((tools) => {
    tools.register('waits', config, (_args, extra) => new Promise((resolve) => {
      extra.signal.addEventListener('abort', () => {
        reason = extra.signal.reason;
        resolve({ content: [{ type: 'text', text: 'stopped' }] });
      });
    }));
    tools.register('quick', config, async () => ({ content: [{ type: 'text', text: 'quick' }] }));
  });
  await send({ jsonrpc: '2.0', id: 'a', method: 'tools/call', params: { name: 'waits', arguments: {} } });
  await send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'a', reason: 'user pressed stop' } });
  await send({ jsonrpc: '2.0', id: 'b', method: 'tools/call', params: { name: 'quick', arguments: {} } });
  assert.equal(((await answerTo('b')).result!.content[0] as { text: string }).text, 'quick');
  assert.equal(reason, 'user pressed stop');
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(received.some((m) => 'id' in m && m.id === 'a'), false, 'a cancelled call is not answered');
  await close();
});

test('taken off the transport: the connection closing aborts calls still running', async () => {
  let aborted = false;
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const { send, close } = await rawPair((tools) =>
    tools.register('waits', config, (_args, extra) => new Promise((resolve) => {
      started();
      extra.signal.addEventListener('abort', () => {
        aborted = true;
        resolve({ content: [{ type: 'text', text: 'stopped' }] });
      });
    })),
  );
  await send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'waits', arguments: {} } });
  await running;
  await close();
  assert.equal(aborted, true);
});

test('taken off the transport: a call without a tool name, or asking for a task, is a JSON-RPC invalid-params error', async () => {
  const { send, answerTo, close } = await rawPair((tools) => tools.register('quick', config, async () => ({ content: [{ type: 'text', text: 'quick' }] })));
  await send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { arguments: {} } });
  const noName = await answerTo(1);
  assert.equal(noName.error?.code, -32602);
  assert.match(noName.error!.message, /name of a tool/);
  await send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'quick', arguments: {}, task: { ttl: 1000 } } });
  assert.equal((await answerTo(2)).error?.code, -32602);
  await send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'quick' } });
  assert.equal(((await answerTo(3)).result!.content[0] as { text: string }).text, 'quick');
  await close();
});
