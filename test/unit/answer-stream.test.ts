import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { watchAnswerStream } from '../../src/bridge/answer-stream.js';

/** Issue 14: the bridge's watch of a Streamable HTTP answer stream, which tells the bridge when it ended (see bridges-mcp.test.ts for what the bridge makes of it). */

const bytes = (text: string) => new TextEncoder().encode(text);

const answer = 'data: {"jsonrpc":"2.0","id":1,"result":{"content":[]}}\n\n';

function sseResponse(chunks: string[], end: 'close' | 'error' = 'close'): Response {
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(bytes(chunks[i++]!));
      else if (end === 'close') controller.close();
      else controller.error(new Error('connection reset'));
    },
  });
  return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
}

const post = (body: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(body) });
const read = async (response: Response) => {
  try {
    return await response.text();
  } catch {
    return undefined;
  }
};

describe('watchAnswerStream (issue 14)', () => {
  it('passes the stream on unchanged and, once it has ended, names the requests of the POST', async () => {
    const ended: unknown[][] = [];
    const response = watchAnswerStream(post([{ jsonrpc: '2.0', id: 1, method: 'tools/call' }, { jsonrpc: '2.0', method: 'notifications/x' }, { jsonrpc: '2.0', id: 'b', method: 'ping' }]), sseResponse([answer.slice(0, 10), answer.slice(10)]), (ids) => ended.push(ids));
    assert.equal(await read(response), answer);
    assert.deepEqual(ended, [[1, 'b']]);
  });

  it('a broken stream counts as ended', async () => {
    const ended: unknown[][] = [];
    const response = watchAnswerStream(post({ jsonrpc: '2.0', id: 3, method: 'tools/call' }), sseResponse(['data: \n\n'], 'error'), (ids) => ended.push(ids));
    assert.equal(await read(response), undefined);
    assert.deepEqual(ended, [[3]]);
  });

  it('reports a resumable stream (its events carry ids) too: whether the SDK resumes it is the bridge\'s to tell; not one the client cancelled', async () => {
    const ended: unknown[][] = [];
    const resumable = watchAnswerStream(post({ jsonrpc: '2.0', id: 4, method: 'tools/call' }), sseResponse(['id: s#1\nretry: 50\ndata: \n\n']), (ids) => ended.push(ids));
    await read(resumable);
    const cancelled = watchAnswerStream(post({ jsonrpc: '2.0', id: 5, method: 'tools/call' }), sseResponse(['data: \n\n', 'data: \n\n']), (ids) => ended.push(ids));
    await cancelled.body!.cancel('closing');
    assert.deepEqual(ended, [[4]]);
  });

  it('leaves alone what is not the answer stream of a request: a GET, a JSON answer, an error status, a notification', () => {
    const stream = sseResponse([answer]);
    assert.equal(watchAnswerStream({ method: 'GET' }, stream, () => assert.fail()), stream);
    const json = new Response('{}', { headers: { 'content-type': 'application/json' } });
    assert.equal(watchAnswerStream(post({ jsonrpc: '2.0', id: 1, method: 'ping' }), json, () => assert.fail()), json);
    const notification = sseResponse([answer]);
    assert.equal(watchAnswerStream(post({ jsonrpc: '2.0', method: 'notifications/initialized' }), notification, () => assert.fail()), notification);
  });
});
