import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, test } from 'node:test';
import { cleanupHomes, SERVER_ENTRY, tempHome } from '../helpers/harness.js';

/**
 * tools/call and stdio as the server itself answers them (tool-table.ts,
 * line-transport.ts), met over a bare pipe the way a careless or hostile
 * client writes: odd calls get the error the protocol says, malformed lines
 * are skipped, and the server keeps answering.
 */

after(cleanupHomes);

type Answer = { id?: number; result?: { isError?: boolean; content?: Array<{ text?: string }>; tools?: unknown[] }; error?: { code: number; message: string } };

async function session(lines: string[], expectedIds: number[]): Promise<{ byId: Map<number, Answer>; stderr: string; code: number | null }> {
  const home = tempHome('cfam-tool-calls-');
  const child = spawn(process.execPath, [SERVER_ENTRY], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
  child.stdin.write(`${JSON.stringify(init)}\n${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
  for (const line of lines) child.stdin.write(line);
  const answered = () => new Set(stdout.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as Answer).id));
  const deadline = Date.now() + 60_000;
  try {
    while (!expectedIds.every((id) => answered().has(id))) {
      assert.ok(Date.now() < deadline, `unanswered: ${expectedIds.filter((id) => !answered().has(id))}; stderr:\n${stderr.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } catch (error) {
    // A server that never answers must not keep this test file alive.
    child.kill();
    throw error;
  }
  child.stdin.end();
  const code = await exited;
  const byId = new Map<number, Answer>();
  for (const line of stdout.split('\n').filter(Boolean)) {
    const message = JSON.parse(line) as Answer & { jsonrpc: string };
    assert.equal(message.jsonrpc, '2.0');
    if (message.id !== undefined) byId.set(message.id, message);
  }
  return { byId, stderr, code };
}

const call = (id: number, params: unknown) => `${JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params })}\n`;

test('odd tools/call requests get the protocol error or the tool error they should, and the server goes on answering', async () => {
  const { byId, code } = await session(
    [
      call(10, { name: 'no_such_tool', arguments: {} }),
      call(11, { arguments: {} }),
      call(12, { name: 'access_status', arguments: {}, task: { ttl: 1000 } }),
      call(13, { name: 'access_fetch', arguments: 'https://example.com/' }),
      call(14, { name: 'access_status' }),
      `${JSON.stringify({ jsonrpc: '2.0', id: 15, method: 'resources/list' })}\n`,
      call(16, { name: '__proto__', arguments: {} }),
      `${JSON.stringify({ jsonrpc: '2.0', id: 17, method: 'tools/list' })}\n`,
      call(18, { name: 'access_status', arguments: {}, task: 'yes' }),
      call(19, { name: 'access_fetch', arguments: null }),
    ],
    [10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
  );
  assert.equal(code, 0);
  const unknown = byId.get(10)!.result!;
  assert.equal(unknown.isError, true);
  assert.match(unknown.content![0]!.text!, /There is no tool "no_such_tool" on this server\.\nNext step: Call one of access_fetch, access_login, access_status, access_logout, access_proxy\./);
  assert.equal(byId.get(16)!.result!.isError, true, 'a name that is an Object property is no tool either');
  assert.equal(byId.get(11)!.error!.code, -32602);
  assert.match(byId.get(11)!.error!.message, /params\.name/);
  // A task request is refused as a request (invalid params) before the tool is looked up, well formed or not.
  assert.equal(byId.get(12)!.error!.code, -32602, 'a task request is refused');
  assert.equal(byId.get(18)!.error!.code, -32602);
  assert.match(byId.get(18)!.error!.message, /does not run as a task/);
  // Arguments that are not an object are refused in words (before, the SDK's -32602); null reads as none.
  assert.equal(byId.get(13)!.result!.isError, true);
  assert.match(byId.get(13)!.result!.content![0]!.text!, /access_fetch was called with a string as its arguments; they must be an object of named values\./);
  assert.equal(byId.get(19)!.result!.isError, true);
  assert.match(byId.get(19)!.result!.content![0]!.text!, /url is required/);
  assert.notEqual(byId.get(14)!.result!.isError, true, 'arguments may be left out');
  assert.equal(byId.get(15)!.error!.code, -32601);
  assert.equal(byId.get(17)!.result!.tools!.length, 5);
});

test('malformed lines on stdin are skipped and said on stderr without their content; the calls around them are answered', async () => {
  // A request the Protocol would drop (an extra member) quoting a credential, and an answer to nothing we asked
  // carrying one: the SDK's error texts would quote both.
  const invalid = `${JSON.stringify({ jsonrpc: '2.0', id: 30, method: 'tools/call', params: { name: 'access_fetch', arguments: { url: 'https://x.example/', headers: { authorization: 'Bearer SEKRET-1234' } } }, extra: 1 })}\n`;
  const stray = `${JSON.stringify({ jsonrpc: '2.0', id: 999, result: { answer: 'SEKRET-1234' } })}\n`;
  const { byId, stderr, code } = await session(
    ['this is not json SEKRET-1234\n', '[1,2,3]\n', '\r\n', invalid, stray, call(31, { name: 'access_status', arguments: {} }).replace('"params":{', '"params":null,"x":{'), call(20, { name: 'access_status', arguments: {} }), '{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"access_status"', '}}\r\n'],
    [20, 21, 30, 31],
  );
  // A request with an id that the Protocol would drop gets JSON-RPC's Invalid Request, not silence.
  assert.equal(byId.get(30)!.error!.code, -32600);
  assert.match(byId.get(30)!.error!.message, /only jsonrpc, id, method and params/);
  assert.equal(byId.get(31)!.error!.code, -32600);
  assert.equal(code, 0);
  assert.notEqual(byId.get(20)!.result!.isError, true);
  assert.notEqual(byId.get(21)!.result!.isError, true, 'a message written in two parts, ending in CRLF');
  assert.equal(byId.size, 5, 'initialize, the two calls and the two invalid requests; nothing for the other lines');
  assert.match(stderr, /warning: MCP: A line that is not JSON was dropped/);
  assert.match(stderr, /warning: MCP: A line that is not a JSON-RPC 2\.0 message was dropped/);
  assert.match(stderr, /warning: MCP: Received a response for an unknown message ID \(details not shown/);
  assert.match(stderr, /warning: MCP: A request that is not valid JSON-RPC was answered with an error/);
  assert.doesNotMatch(stderr, /SEKRET/);
  assert.doesNotMatch(stderr, /at .*\(.*:\d+:\d+\)/, 'no stack trace');
});
