import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { AccessError } from '../../src/core/errors.js';
import { Client, type Dispatcher } from 'undici';
import { createDispatcher, readCapped, send } from '../../src/http/client.js';

/**
 * A real loopback HTTP/1.1 server that answers the first request of each connection
 * (keep-alive) and drops the connection, without a byte, at the second: what a
 * kept-alive connection closed by the server just as it is reused looks like.
 */
let server: Server;
let base: URL;
let connections = 0;
let requests = 0;

before(async () => {
  server = createServer((socket: Socket) => {
    connections++;
    let seen = 0;
    let head = '';
    socket.on('data', (chunk) => {
      head += chunk.toString('latin1');
      while (head.includes('\r\n\r\n')) {
        const end = head.indexOf('\r\n\r\n') + 4;
        const length = Number(/content-length:\s*(\d+)/i.exec(head.slice(0, end))?.[1] ?? 0);
        if (head.length < end + length) return;
        head = head.slice(end + length);
        requests++;
        if (++seen > 1) {
          socket.destroy();
          return;
        }
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok');
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  base = new URL(`http://127.0.0.1:${address.port}/`);
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function get(dispatcher: Dispatcher, method = 'GET', body?: string) {
  const response = await send(dispatcher, base, { method, body });
  return (await readCapped(response.body, 1024, base)).buffer.toString();
}

test('a GET on a kept-alive connection the server drops is sent once more on a fresh one', async () => {
  // One connection at a time, so the second request always reuses the first one's.
  const dispatcher = new Client(base.origin);
  const before = { connections, requests };
  try {
    assert.equal(await get(dispatcher), 'ok');
    assert.equal(await get(dispatcher), 'ok');
    assert.equal(connections - before.connections, 2, 'the retry opened a second connection');
    assert.equal(requests - before.requests, 3, 'first GET, the dropped one, its retry');
  } finally {
    await dispatcher.close();
  }
});

test('a POST on such a connection is not sent twice: a clear network error', async () => {
  // One connection at a time, so the second request always reuses the first one's.
  const dispatcher = new Client(base.origin);
  const before = { requests };
  try {
    assert.equal(await get(dispatcher, 'POST', 'a=1'), 'ok');
    await assert.rejects(get(dispatcher, 'POST', 'a=2'), (error: unknown) => error instanceof AccessError && error.code === 'network_error');
    assert.equal(requests - before.requests, 2);
  } finally {
    await dispatcher.close();
  }
});

test('a proxy that drops the CONNECT ends the request with a clear error (undici alone dials it again for ever)', { timeout: 60_000 }, async () => {
  let dials = 0;
  const proxy = createServer((socket) => {
    dials++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const address = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  const dispatcher = createDispatcher(undefined, { HTTPS_PROXY: address, HTTP_PROXY: address });
  try {
    for (const target of ['https://app.example.invalid/', 'http://app.example.invalid/']) {
      const before = dials;
      await assert.rejects(send(dispatcher, new URL(target)), (error: unknown) => {
        assert.ok(error instanceof AccessError && error.code === 'network_error');
        assert.match(error.message, /proxy closed the connection while the tunnel \(CONNECT\) was being set up/);
        assert.match(error.nextStep, /HTTPS_PROXY/);
        return true;
      });
      assert.ok(dials - before <= 2, `${target}: the proxy was dialled ${dials - before} times`);
    }
  } finally {
    await dispatcher.close().catch(() => {});
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
  }
});
