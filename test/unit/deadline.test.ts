import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { AccessError } from '../../src/core/errors.js';
import { createDispatcher, readCapped, send, startDeadline } from '../../src/http/client.js';
import { requestJson } from '../../src/http/json.js';

/** A loopback server whose body trickles a byte every 20 ms, for ever (until the client goes). */
let server: Server;
let base: URL;
const open = new Set<ServerResponse>();

before(async () => {
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    open.add(res);
    const timer = setInterval(() => res.write('x'), 20);
    res.on('close', () => {
      clearInterval(timer);
      open.delete(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = new URL(`http://127.0.0.1:${(server.address() as { port: number }).port}/`);
});

after(async () => {
  for (const res of open) res.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('startDeadline', () => {
  it('ends a body that keeps trickling with the total deadline error', async () => {
    const dispatcher = createDispatcher({ connectMs: 5_000, headersMs: 5_000, bodyMs: 5_000 });
    const deadline = startDeadline(300, base);
    try {
      const response = await send(dispatcher, base, { signal: deadline.signal });
      await assert.rejects(readCapped(response.body, 1_000_000, base), (error: unknown) => {
        assert.ok(error instanceof AccessError);
        assert.equal(error.code, 'network_error');
        assert.match(error.message, /did not finish within 0\.3 s \(the total deadline, CF_ACCESS_MCP_DEADLINE_MS\)/);
        return true;
      });
    } finally {
      deadline.dispose();
      await dispatcher.close();
    }
  });

  it('passes on the caller\'s cancellation with its reason, before and during the request', async () => {
    const dispatcher = createDispatcher({ connectMs: 5_000, headersMs: 5_000, bodyMs: 5_000 });
    try {
      const outer = new AbortController();
      const deadline = startDeadline(60_000, base, outer.signal);
      const response = await send(dispatcher, base, { signal: deadline.signal });
      const reading = readCapped(response.body, 1_000_000, base);
      outer.abort(new Error('cancelled by the client'));
      await assert.rejects(reading, /cancelled by the client/);
      deadline.dispose();

      const already = new AbortController();
      already.abort(new Error('cancelled earlier'));
      const late = startDeadline(60_000, base, already.signal);
      assert.equal(late.signal?.aborted, true);
      await assert.rejects(send(dispatcher, base, { signal: late.signal }), /cancelled earlier/);
      late.dispose();
    } finally {
      await dispatcher.close();
    }
  });

  it('does nothing once disposed, and without a limit hands on the caller\'s signal', async () => {
    const outer = new AbortController();
    const deadline = startDeadline(20, base, outer.signal);
    deadline.dispose();
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(deadline.signal?.aborted, false, 'the timer was stopped');
    outer.abort(new Error('later'));
    assert.equal(deadline.signal?.aborted, false, 'the caller\'s signal is no longer listened to');
    assert.equal(startDeadline(0, base, outer.signal).signal, outer.signal);
  });
});

describe('requestJson: the total deadline comes with each call, not from the pool', () => {
  it('two callers sharing one pool each get their own deadline; 0 leaves the call to the caller\'s signal', async () => {
    const dispatcher = createDispatcher({ connectMs: 5_000, headersMs: 5_000, bodyMs: 5_000 });
    try {
      for (const deadlineMs of [300, 700]) {
        await assert.rejects(requestJson({ dispatcher, deadlineMs }, base), (error: unknown) => {
          assert.ok(error instanceof AccessError);
          assert.match(error.message, new RegExp(`did not finish within ${deadlineMs / 1000} s \\(the total deadline, CF_ACCESS_MCP_DEADLINE_MS\\)`));
          return true;
        });
      }
      const caller = new AbortController();
      const unbounded = requestJson({ dispatcher, deadlineMs: 0 }, base, { signal: caller.signal });
      setTimeout(() => caller.abort(new Error('the caller gave up')), 900).unref();
      await assert.rejects(unbounded, /the caller gave up/);
    } finally {
      await dispatcher.close();
    }
  });
});
