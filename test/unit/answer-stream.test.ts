import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventIdScanner, watchAnswerStream } from '../../src/bridge/answer-stream.js';

/** Issue 14: the bridge's watch of a Streamable HTTP answer stream (ended before its answer, or resumable). */

const bytes = (text: string) => new TextEncoder().encode(text);

function carriesId(...chunks: Array<string | Uint8Array>): boolean {
  const scanner = new EventIdScanner();
  for (const chunk of chunks) scanner.feed(typeof chunk === 'string' ? bytes(chunk) : chunk);
  return scanner.found;
}

const answer = 'data: {"jsonrpc":"2.0","id":1,"result":{"content":[]}}\n\n';

describe('event ids in an answer stream (issue 14)', () => {
  it('finds an id field at the start of any line, in any chunking, after LF, CR or CRLF', () => {
    assert.equal(carriesId('id: 7\ndata: \n\n'), true);
    assert.equal(carriesId('event: message\ndata: {}\nid:abc\n\n'), true);
    assert.equal(carriesId('data: {}\r\nid: 1\r\n\r\n'), true);
    assert.equal(carriesId('data: {}\rid: 1\r\r'), true);
    const stream = 'event: message\ndata: {"x":1}\nid: s#2\n\n';
    for (let cut = 1; cut < stream.length; cut++) assert.equal(carriesId(stream.slice(0, cut), stream.slice(cut)), true, `cut at ${cut}`);
    assert.equal(carriesId(...[...stream].map((c) => c)), true, 'one byte per chunk');
    assert.equal(carriesId(new Uint8Array([0xef, 0xbb, 0xbf]), 'id: 1\n'), true, 'a byte order mark as a chunk of its own');
    assert.equal(carriesId(new Uint8Array([0xef, 0xbb, 0xbf, ...bytes('id: 1\n')])), true, 'a byte order mark before the first field');
  });

  it('ignores "id:" that does not start a line, and an id without a value', () => {
    assert.equal(carriesId(answer), false);
    assert.equal(carriesId('data: {"id:":"id: 1"}\n\n'), false);
    assert.equal(carriesId(': id: comment\n\n'), false);
    assert.equal(carriesId(' id: 1\n'), false);
    assert.equal(carriesId('ids: 1\n'), false);
    assert.equal(carriesId('id\n', 'id:\n', 'id: \n', 'id:\r\n'), false);
  });
});

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

  it('leaves a resumable stream (its events carry ids) to the client, and one the client cancelled', async () => {
    const ended: unknown[][] = [];
    const resumable = watchAnswerStream(post({ jsonrpc: '2.0', id: 4, method: 'tools/call' }), sseResponse(['id: s#1\nretry: 50\ndata: \n\n']), (ids) => ended.push(ids));
    await read(resumable);
    const cancelled = watchAnswerStream(post({ jsonrpc: '2.0', id: 5, method: 'tools/call' }), sseResponse(['data: \n\n', 'data: \n\n']), (ids) => ended.push(ids));
    await cancelled.body!.cancel('closing');
    assert.deepEqual(ended, []);
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
