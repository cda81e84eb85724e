import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { LineTransport } from '../../src/mcp/line-transport.js';

/** A transport on real streams: what it delivered, the errors it reported, what it wrote. */
async function started(maxLineBytes?: number) {
  const input = new PassThrough();
  const output = new PassThrough();
  const transport = new LineTransport(input, output, maxLineBytes);
  const messages: JSONRPCMessage[] = [];
  const errors: string[] = [];
  transport.onmessage = (message) => messages.push(message);
  transport.onerror = (error) => errors.push(error.message);
  await transport.start();
  let written = '';
  output.setEncoding('utf8').on('data', (chunk: string) => (written += chunk));
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return { input, output, transport, messages, errors, written: () => written, settle };
}

const ping = (id: number) => ({ jsonrpc: '2.0', id, method: 'ping' });

test('messages split across chunks, several in one chunk, CRLF endings and blank lines all arrive whole and in order', async () => {
  const t = await started();
  const two = `${JSON.stringify(ping(1))}\r\n\n${JSON.stringify(ping(2))}\n`;
  const third = JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'x', arguments: { text: 'héllo ✓ 😀' } } });
  t.input.write(two);
  // The third message in three pieces, one cut inside a multi-byte character.
  const bytes = Buffer.from(`${third}\n`);
  const cut = bytes.indexOf(Buffer.from('😀')) + 2;
  t.input.write(bytes.subarray(0, 10));
  t.input.write(bytes.subarray(10, cut));
  await t.settle();
  assert.equal(t.messages.length, 2, 'nothing is delivered before its line ends');
  t.input.write(bytes.subarray(cut));
  await t.settle();
  assert.deepEqual(t.messages, [ping(1), ping(2), JSON.parse(third)]);
  assert.deepEqual(t.errors, []);
});

test('a line that is not JSON, or not JSON-RPC 2.0, is reported without its content and skipped; the next line is read', async () => {
  const t = await started();
  t.input.write('not json, Bearer SEKRET-1234\n');
  t.input.write('[1,2]\n{"jsonrpc":"1.0","id":1,"method":"ping"}\nnull\n');
  t.input.write(`${JSON.stringify(ping(9))}\n`);
  await t.settle();
  assert.deepEqual(t.messages, [ping(9)]);
  assert.equal(t.errors.length, 4);
  assert.match(t.errors[0]!, /not JSON/);
  assert.match(t.errors[1]!, /not a JSON-RPC 2\.0 message/);
  assert.doesNotMatch(t.errors.join('\n'), /SEKRET/);
});

test('a request the Protocol would drop without a word is answered with Invalid Request; a notification is passed on', async () => {
  const t = await started();
  const lines = [
    { jsonrpc: '2.0', id: 1, method: 'tools/call', params: null },
    { jsonrpc: '2.0', id: 'two', method: 'tools/call', params: { _meta: 'x' } },
    { jsonrpc: '2.0', id: 3, method: 'ping', extra: true },
    { jsonrpc: '2.0', method: 'notifications/x', params: null },
    { jsonrpc: '2.0', id: 5, method: 'ping', params: { _meta: { progressToken: 1 } } },
    { jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'x', _meta: { progressToken: null } } },
    { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'x', _meta: { progressToken: 1.5 } } },
    { jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'x', _meta: { progressToken: 'p' } } },
  ];
  t.input.write(lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
  await t.settle();
  assert.deepEqual(t.messages, [lines[3], lines[4], lines[7]]);
  const answers = t.written().trim().split('\n').map((line) => JSON.parse(line) as { id: unknown; error: { code: number; message: string } });
  assert.deepEqual(answers.map((a) => [a.id, a.error.code]), [[1, -32600], ['two', -32600], [3, -32600], [6, -32600], [7, -32600]]);
  assert.match(answers[0]!.error.message, /params must be an object/);
  assert.match(answers[1]!.error.message, /_meta must be an object/);
  assert.match(answers[3]!.error.message, /progressToken must be a string or a whole number/);
  assert.equal(t.errors.length, 5);
});

test('a line trickling in a byte at a time arrives whole, and one over the bound that way is dropped', async () => {
  const t = await started(2000);
  const line = `${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'é'.repeat(500) } })}\n`;
  for (const byte of Buffer.from(line)) t.input.write(Buffer.from([byte]));
  for (let i = 0; i < 2500; i++) t.input.write('x');
  t.input.write(`\n${JSON.stringify(ping(2))}\n`);
  await t.settle();
  assert.deepEqual(t.messages, [JSON.parse(line), ping(2)]);
  assert.equal(t.errors.length, 1);
  assert.match(t.errors[0]!, /longer than 2000 bytes/);
});

test('a last line without its newline is read when the input ends', async () => {
  const t = await started();
  t.input.end(JSON.stringify(ping(4)));
  await t.settle();
  assert.deepEqual(t.messages, [ping(4)]);
});

test('a message whose handler throws is reported, and the lines after it are still read', async () => {
  const t = await started();
  let first = true;
  t.transport.onmessage = (message) => {
    if (first) {
      first = false;
      throw new Error('handler failed');
    }
    t.messages.push(message);
  };
  t.input.write(`${JSON.stringify(ping(1))}\n${JSON.stringify(ping(2))}\n`);
  await t.settle();
  assert.deepEqual(t.messages, [ping(2)]);
  assert.deepEqual(t.errors, ['handler failed']);
});

test('a line longer than the bound is dropped without being kept, whether it comes in one chunk or many', async () => {
  const t = await started(1000);
  t.input.write(`{"jsonrpc":"2.0","id":1,"method":"${'a'.repeat(2000)}"}\n`);
  for (let i = 0; i < 5; i++) t.input.write('b'.repeat(600));
  t.input.write(`tail of the long line\n${JSON.stringify(ping(2))}\n`);
  await t.settle();
  assert.deepEqual(t.messages, [ping(2)]);
  assert.equal(t.errors.length, 2);
  for (const error of t.errors) assert.match(error, /longer than 1000 bytes was dropped/);
});

test('send writes one line per message; close stops reading and reports the close', async () => {
  const t = await started();
  await t.transport.send({ jsonrpc: '2.0', id: 1, result: { text: 'a\nb' } });
  await t.settle();
  assert.equal(t.written(), '{"jsonrpc":"2.0","id":1,"result":{"text":"a\\nb"}}\n');
  let closed = false;
  t.transport.onclose = () => (closed = true);
  await t.transport.close();
  assert.ok(closed);
  t.input.write(`${JSON.stringify(ping(5))}\n`);
  await t.settle();
  assert.deepEqual(t.messages, []);
});

test('send settles when the output fails instead of waiting for a drain that never comes', async () => {
  const input = new PassThrough();
  const output = new PassThrough({ highWaterMark: 16 });
  const transport = new LineTransport(input, output);
  await transport.start();
  const sending = transport.send({ jsonrpc: '2.0', id: 1, result: { text: 'x'.repeat(100) } });
  output.on('error', () => {});
  output.destroy(new Error('EPIPE'));
  await sending;
});

test('send waits for the output to drain when it is full', async () => {
  const input = new PassThrough();
  const output = new PassThrough({ highWaterMark: 16 });
  const transport = new LineTransport(input, output);
  await transport.start();
  let sent = false;
  const sending = transport.send({ jsonrpc: '2.0', id: 1, result: { text: 'x'.repeat(100) } }).then(() => (sent = true));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(sent, false, 'resolved before the reader took the line');
  output.resume();
  await sending;
  assert.ok(sent);
});
