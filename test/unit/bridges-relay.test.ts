/**
 * The proxy's response relay (src/bridge/relay.ts) between a real origin and a
 * real local client on loopback: an HTTP server whose handler dispatches each
 * request to the origin through undici with a Relay, as AccessProxy does.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { Relay, SMALL_BODY, type RelayOutcome } from '../../src/bridge/relay.js';
import { CookieNames } from '../../src/bridge/cookie-names.js';
import { rewriteResponseHeaders } from '../../src/bridge/rewrite.js';
import { SecretNeedles } from '../../src/core/secret-scrubber.js';

const SECRET = 'oauth:relay-SECRET-0123456789abcdef';
const ESCAPED = encodeURIComponent(SECRET);

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A body of `size` bytes of filler with the secret (plain and percent-encoded) at the given offsets. */
function bodyWithSecrets(size: number, offsets: number[]): Buffer {
  const body = Buffer.alloc(size, 'x');
  offsets.forEach((at, i) => body.write(i % 2 ? ESCAPED : SECRET, at, 'latin1'));
  return body;
}

interface Harness {
  base: string;
  originBase: string;
  outcomes: RelayOutcome[];
  errors: Error[];
  /** Connections the origin accepted. */
  originConnections: () => number;
  /** Set per test: what the origin answers. */
  origin: (req: IncomingMessage, res: ServerResponse) => void;
  /** Set per test: the relay's challenge check (undefined: none). */
  challenged?: (status: number, headers: IncomingHttpHeaders) => Promise<boolean>;
  /** Told when the origin's response was closed before it finished (the relay stopped reading). */
  originAborted: Promise<void>;
  resetAborted(): void;
  close(): Promise<void>;
}

async function harness(): Promise<Harness> {
  const needles = new SecretNeedles([SECRET]);
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  let connections = 0;
  let markAborted!: () => void;
  const h: Harness = {
    base: '',
    originBase: '',
    outcomes: [],
    errors: [],
    originConnections: () => connections,
    origin: (_req, res) => res.end('unset'),
    originAborted: Promise.resolve(),
    resetAborted() {
      h.originAborted = new Promise((resolve) => (markAborted = resolve));
    },
    close: async () => {
      originServer.closeAllConnections();
      proxyServer.closeAllConnections();
      await Promise.all([new Promise((r) => originServer.close(r)), new Promise((r) => proxyServer.close(r)), agent.close()]);
    },
  };
  const originServer = createServer((req, res) => {
    res.once('close', () => {
      if (!res.writableFinished) markAborted?.();
    });
    h.origin(req, res);
  });
  originServer.on('connection', () => connections++);
  h.originBase = await listen(originServer);
  const proxyServer = createServer({ highWaterMark: 256 * 1024 }, (req, res) => {
    const url = new URL(h.originBase + req.url);
    const relay = new Relay({
      res,
      head: req.method === 'HEAD',
      needles,
      rewrite: (headers) => rewriteResponseHeaders(headers, url, h.base, [SECRET], new CookieNames()),
      challenged: h.challenged,
    });
    res.once('close', () => {
      if (!res.writableFinished) relay.cancel(new Error('client gone'));
    });
    agent.dispatch({ origin: h.originBase, path: req.url!, method: req.method as 'GET', headers: {}, body: null, bodyTimeout: 0 }, relay);
    relay.done.then(
      (outcome) => {
        h.outcomes.push(outcome);
        if (outcome === 'renew') res.writeHead(598, { 'content-type': 'text/plain' }).end('renew');
      },
      (error: Error) => {
        h.errors.push(error);
        if (res.headersSent) res.destroy();
        else res.writeHead(502).end('relay failed');
      },
    );
  });
  h.base = await listen(proxyServer);
  return h;
}

describe('proxy response relay (issue 14)', () => {
  let h: Harness;
  const client = new Agent({ keepAliveTimeout: 30_000 });
  before(async () => {
    h = await harness();
  });
  after(async () => {
    await client.close();
    await h.close();
  });

  it('masks the secret in a small body written whole, keeping its length', async () => {
    const body = bodyWithSecrets(10_000, [0, 5_000, 9_000]);
    h.challenged = undefined;
    h.origin = (_req, res) => res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }).end(body);
    const response = await request(`${h.base}/small`, { dispatcher: client });
    const got = Buffer.from(await response.body.arrayBuffer());
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-length'], String(body.length));
    assert.equal(got.length, body.length);
    assert.ok(!got.includes(SECRET) && !got.includes(ESCAPED));
    assert.equal(got.subarray(SECRET.length, 5_000).toString(), 'x'.repeat(5_000 - SECRET.length));
  });

  it('streams a large body masked everywhere, a secret split across any read included', async () => {
    const size = 4 * 1024 * 1024;
    const offsets: number[] = [];
    // Around every 64 KB boundary (where reads tend to split) and a few odd places.
    for (let at = 64 * 1024 - 20; at < size - 100; at += 64 * 1024 + 7) offsets.push(at);
    const body = bodyWithSecrets(size, offsets);
    h.origin = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      // Written in odd-sized pieces so that the chunks the proxy reads cut the secrets anywhere.
      let at = 0;
      const next = () => {
        while (at < body.length) {
          const piece = body.subarray(at, at + 9_999);
          at += piece.length;
          if (!res.write(piece)) return void res.once('drain', next);
        }
        res.end();
      };
      next();
    };
    const response = await request(`${h.base}/large`, { dispatcher: client });
    const got = Buffer.from(await response.body.arrayBuffer());
    assert.ok(body.length > SMALL_BODY);
    assert.equal(got.length, body.length);
    assert.ok(!got.includes(SECRET) && !got.includes(ESCAPED));
    assert.equal(got.toString('latin1').replace(/\[redacted\]\**/g, '').replace(/x/g, ''), '');
  });

  it('streams a chunked body of unknown length, masked', async () => {
    h.origin = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(`start ${SECRET.slice(0, 10)}`);
      res.write(`${SECRET.slice(10)} middle `);
      res.end(`${ESCAPED} end`);
    };
    const response = await request(`${h.base}/chunked`, { dispatcher: client });
    const text = await response.body.text();
    assert.equal(response.headers['transfer-encoding'], 'chunked');
    assert.ok(!text.includes(SECRET) && !text.includes(ESCAPED));
    assert.match(text, /^start \[redacted\]\** middle \[redacted\]\** end$/);
  });

  it('answers HEAD with the head alone', async () => {
    h.origin = (_req, res) => res.writeHead(200, { 'content-length': '123456', 'x-kind': 'head' }).end();
    const response = await request(`${h.base}/head`, { dispatcher: client, method: 'HEAD' });
    await response.body.dump();
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['x-kind'], 'head');
    assert.equal(response.headers['content-length'], '123456');
  });

  it('a redirect that is no challenge goes through with its Location kept on the proxy', async () => {
    h.challenged = async () => false;
    h.origin = (_req, res) => res.writeHead(302, { location: `${h.originBase}/next`, 'content-type': 'text/plain' }).end(`see ${SECRET}`);
    const response = await request(`${h.base}/moved`, { dispatcher: client });
    const text = await response.body.text();
    assert.equal(response.statusCode, 302);
    assert.equal(response.headers.location, `${h.base}/next`);
    assert.ok(!text.includes(SECRET));
  });

  it('a challenge is read and dropped before the client sees a byte, and the origin connection serves the next request', async () => {
    h.challenged = async (status) => status === 401;
    h.origin = (req, res) => {
      if (req.url === '/challenge') res.writeHead(401, { 'www-authenticate': 'Bearer', 'content-type': 'text/plain' }).end(`refused ${SECRET}`);
      else res.writeHead(200, { 'content-type': 'text/plain' }).end('fine');
    };
    const connectionsBefore = h.originConnections();
    const outcomesBefore = h.outcomes.length;
    const refused = await request(`${h.base}/challenge`, { dispatcher: client });
    // The harness answers a 'renew' outcome with 598: nothing of the origin's 401 reached the client.
    assert.equal(refused.statusCode, 598);
    assert.equal(await refused.body.text(), 'renew');
    assert.equal(h.outcomes[outcomesBefore], 'renew');
    const next = await request(`${h.base}/after`, { dispatcher: client });
    assert.equal(await next.body.text(), 'fine');
    assert.equal(h.originConnections(), connectionsBefore, 'the refused response was read, not the connection dropped');
  });

  it('a failing challenge check fails the relay instead of hanging', async () => {
    h.challenged = async () => {
      throw new Error('metadata check failed');
    };
    h.origin = (_req, res) => res.writeHead(403, { 'content-type': 'text/plain' }).end('blocked');
    const errorsBefore = h.errors.length;
    const response = await request(`${h.base}/check-fails`, { dispatcher: client });
    assert.equal(response.statusCode, 502);
    await response.body.dump();
    assert.equal(h.errors.length, errorsBefore + 1);
  });

  it('stops reading from the origin when the client goes away mid-stream', async () => {
    h.challenged = undefined;
    h.resetAborted();
    h.origin = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(1024 * 1024 * 1024) });
      const chunk = Buffer.alloc(64 * 1024, 'y');
      const next = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', next);
      };
      next();
    };
    const response = await request(`${h.base}/endless`, { dispatcher: new Agent() });
    let got = 0;
    for await (const chunk of response.body) {
      got += (chunk as Buffer).length;
      if (got > 1024 * 1024) break;
    }
    await h.originAborted;
  });

  it('destroys the client connection when the origin fails mid-stream', async () => {
    h.origin = (req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(SMALL_BODY * 4) });
      res.write(Buffer.alloc(SMALL_BODY, 'z'), () => (req.socket as Socket).destroy());
    };
    const errorsBefore = h.errors.length;
    const response = await request(`${h.base}/broken`, { dispatcher: new Agent() });
    await assert.rejects(response.body.arrayBuffer());
    assert.equal(h.errors.length, errorsBefore + 1);
  });
});
