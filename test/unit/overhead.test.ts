import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { Agent, EnvHttpProxyAgent, request } from 'undici';
import { AccessError } from '../../src/core/errors.js';
import { createDispatcher, DEFAULT_TIMEOUTS, readCapped, type BodyStream } from '../../src/http/client.js';

/** Issue 16, the server's own overhead: what the warm path was cut down to still behaves as before. */

const servers: Server[] = [];
const dirs: string[] = [];
after(() => {
  for (const s of servers) {
    s.closeAllConnections?.();
    s.close();
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function listen(answer: string): Promise<string> {
  const server = createServer((req, res) => res.end(`${answer} ${req.url}`));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('the dispatcher', () => {
  it('is a plain Agent without proxy settings, and goes direct', async () => {
    const target = await listen('direct');
    const dispatcher = createDispatcher(DEFAULT_TIMEOUTS, {});
    try {
      assert.ok(dispatcher instanceof Agent && !(dispatcher instanceof EnvHttpProxyAgent));
      const response = await request(`${target}/x`, { dispatcher });
      assert.equal(await response.body.text(), 'direct /x');
    } finally {
      await dispatcher.close();
    }
  });

  it('honours HTTP_PROXY (and an empty http_proxy is no proxy, as undici reads them)', async () => {
    const target = await listen('direct');
    // A tunnelling proxy that records what it was asked to connect to.
    const tunnels: string[] = [];
    const proxyServer = createServer((_req, res) => res.writeHead(405).end());
    proxyServer.on('connect', (req, socket: Socket, head: Buffer) => {
      tunnels.push(req.url ?? '');
      const [host, port] = (req.url ?? '').split(':');
      const upstream = connect(Number(port), host!, () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(socket).pipe(upstream);
      });
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    });
    servers.push(proxyServer);
    await new Promise<void>((resolve) => proxyServer.listen(0, '127.0.0.1', resolve));
    const proxy = `http://127.0.0.1:${(proxyServer.address() as AddressInfo).port}`;
    const dispatcher = createDispatcher(DEFAULT_TIMEOUTS, { HTTP_PROXY: proxy });
    try {
      assert.ok(dispatcher instanceof EnvHttpProxyAgent);
      const response = await request(`${target}/x`, { dispatcher, signal: AbortSignal.timeout(10_000) });
      assert.equal(await response.body.text(), 'direct /x');
      assert.deepEqual(tunnels, [new URL(target).host], 'the request went through the proxy');
    } finally {
      await dispatcher.destroy();
    }
    const none = createDispatcher(DEFAULT_TIMEOUTS, { http_proxy: '', HTTP_PROXY: proxy, https_proxy: '' });
    assert.ok(!(none instanceof EnvHttpProxyAgent));
    await none.close();
  });
});

const url = new URL('https://app.example.com/');
const body = (chunks: Array<Buffer | Error>): BodyStream =>
  Readable.from(
    (async function* () {
      for (const chunk of chunks) {
        if (chunk instanceof Error) throw chunk;
        yield chunk;
      }
    })(),
    { objectMode: false },
  ) as unknown as BodyStream;

describe('readCapped', () => {
  it('joins a whole body, and stops at the cap with exactly the cap kept', async () => {
    const whole = await readCapped(body([Buffer.from('abc'), Buffer.from('def')]), 100, url);
    assert.deepEqual([whole.buffer.toString(), whole.truncated], ['abcdef', false]);
    const one = await readCapped(body([Buffer.from('abc')]), 3, url);
    assert.deepEqual([one.buffer.toString(), one.truncated], ['abc', false]);
    const stream = body([Buffer.from('abc'), Buffer.from('def'), Buffer.from('ghi')]);
    const capped = await readCapped(stream, 4, url);
    assert.deepEqual([capped.buffer.toString(), capped.truncated], ['abcd', true]);
    assert.ok(stream.destroyed, 'the rest is not read');
    const empty = await readCapped(body([]), 10, url);
    assert.deepEqual([empty.buffer.length, empty.truncated], [0, false]);
  });

  it('a body that fails, or was already closed, is a network_error naming the host', async () => {
    await assert.rejects(readCapped(body([Buffer.from('abc'), new Error('socket hang up')]), 100, url), (error: unknown) => {
      assert.ok(error instanceof AccessError && error.code === 'network_error');
      assert.match(error.message, /app\.example\.com/);
      return true;
    });
    const closed = body([Buffer.from('abc')]);
    closed.destroy();
    await assert.rejects(readCapped(closed, 100, url), (error: unknown) => error instanceof AccessError && error.code === 'network_error');
  });
});

describe('the store loads its writer on the first write only', () => {
  it('reading a store file loads neither conf nor proper-lockfile; the first write loads both', () => {
    const home = mkdtempSync(join(tmpdir(), 'cfam-overhead-'));
    dirs.push(home);
    const dir = join(home, 'store');
    // A fresh process: which CommonJS packages (conf's ajv and semver, proper-lockfile) it loaded shows in require.cache.
    const script = `
      import { createRequire } from 'node:module';
      import { SessionStore } from ${JSON.stringify(join(process.cwd(), 'src', 'auth', 'store.ts'))};
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((p) => /node_modules\\/(proper-lockfile|semver|atomically)\\//.test(p)).length;
      const store = new SessionStore(${JSON.stringify(dir)});
      const first = store.read();
      const afterRead = loaded();
      await store.putSession({ origin: 'https://app.example.com', method: 'oauth', access_token: 'oauth:overhead-test-token-0123456789', obtained_at: 1 });
      const again = new SessionStore(${JSON.stringify(dir)}).getSession('https://app.example.com');
      process.stdout.write(JSON.stringify({ empty: Object.keys(first.sessions).length, afterRead, afterWrite: loaded(), readBack: again?.method }));
    `;
    const out = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' })) as Record<string, unknown>;
    assert.deepEqual(out.empty, 0);
    assert.equal(out.afterRead, 0, 'nothing of the writer loaded by a read');
    assert.ok((out.afterWrite as number) > 0, 'the first write loaded it');
    assert.equal(out.readBack, 'oauth', 'what conf wrote reads back with JSON.parse');
  });

  it('a store file written by hand (as conf writes it) is read, and a corrupt one is moved aside', () => {
    const home = mkdtempSync(join(tmpdir(), 'cfam-overhead-'));
    dirs.push(home);
    const script = (dir: string) => `
      import { SessionStore } from ${JSON.stringify(join(process.cwd(), 'src', 'auth', 'store.ts'))};
      const store = new SessionStore(${JSON.stringify(dir)});
      process.stdout.write(JSON.stringify({ keys: Object.keys(store.read().sessions), warnings: store.warnings }));
    `;
    const good = join(home, 'good');
    const bad = join(home, 'bad');
    for (const d of [good, bad]) execFileSync('mkdir', ['-m', '700', d]);
    writeFileSync(join(good, 'store.json'), JSON.stringify({ version: 1, sessions: { 'https://a.example.com': { origin: 'https://a.example.com', method: 'oauth', access_token: 'oauth:hand-written-token-0123456789', obtained_at: 1 } }, registrations: {} }, undefined, '\t'), { mode: 0o600 });
    writeFileSync(join(bad, 'store.json'), '{"version": 1, "sessions": {', { mode: 0o600 });
    const run = (dir: string) => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(dir)], { encoding: 'utf8' })) as { keys: string[]; warnings: string[] };
    assert.deepEqual(run(good).keys, ['https://a.example.com']);
    const corrupt = run(bad);
    assert.deepEqual(corrupt.keys, []);
    assert.match(corrupt.warnings.join(' '), /corrupt \(it could not be parsed\); it was moved to/);
  });
});
