import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Emulator, LogEntry } from '../../src/emulator/index.js';
import { cleanupHomes, startEmulator, TestServer, textOf, resultData } from '../helpers/harness.js';
import { assertNoSecretsLeaked, seenCredentials } from '../helpers/leaks.js';

/**
 * Issue 5: HTTPS_PROXY / HTTP_PROXY / NO_PROXY. A small forward proxy on
 * loopback (absolute-form requests for http:// targets, CONNECT tunnels for
 * anything) records what passes through it. undici proxies loopback targets
 * too unless NO_PROXY lists them, so the emulator on 127.0.0.1 can stand in
 * for a remote site.
 */

interface ProxyRecord {
  kind: 'absolute' | 'connect';
  /** host:port the client asked for. */
  target: string;
  /** Request lines seen inside the tunnel or sent in absolute form, e.g. "GET /". */
  requests: string[];
}

interface ForwardProxy {
  url: string;
  records: ProxyRecord[];
  /** CONNECT to these host:port targets is answered 403. */
  deny: Set<string>;
  close(): Promise<void>;
}

async function startForwardProxy(): Promise<ForwardProxy> {
  const records: ProxyRecord[] = [];
  const deny = new Set<string>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    // Absolute-form: "GET http://host:port/path HTTP/1.1".
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('absolute-form request expected');
      return;
    }
    records.push({ kind: 'absolute', target: target.host, requests: [`${req.method} ${target.pathname}${target.search}`] });
    const upstream = httpRequest(target, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connect', (req, client: Socket, head: Buffer) => {
    const target = req.url ?? '';
    const record: ProxyRecord = { kind: 'connect', target, requests: [] };
    records.push(record);
    if (deny.has(target)) {
      client.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
    const upstream = connect(port, host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    // The tunnel carries plain HTTP here, so the proxy can note each request line it forwards.
    client.on('data', (chunk: Buffer) => {
      for (const match of chunk.toString('latin1').matchAll(/^([A-Z]+) (\S+) HTTP\/1\.1\r$/gm)) record.requests.push(`${match[1]} ${match[2]}`);
    });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    records,
    deny,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The proxy variables, upper and lower case (undici reads the lower-case ones first). */
function proxyEnv(proxyUrl: string, noProxy: string): Record<string, string> {
  return {
    HTTP_PROXY: proxyUrl,
    http_proxy: proxyUrl,
    HTTPS_PROXY: proxyUrl,
    https_proxy: proxyUrl,
    NO_PROXY: noProxy,
    no_proxy: noProxy,
  };
}

let emulator: Emulator;
let proxy: ForwardProxy;
const servers: TestServer[] = [];

function assertOk(result: CallToolResult): void {
  assert.notEqual(result.isError, true, `unexpected error result: ${textOf(result)}`);
}

/** Every credential the emulator saw, plus whatever else it reports as secret. */
const traced: LogEntry[] = [];
const issuedSecrets = () => seenCredentials(traced, emulator);

before(async () => {
  emulator = await startEmulator({ trace: (entry) => traced.push(entry) });
  proxy = await startForwardProxy();
});

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  const secrets = issuedSecrets();
  await proxy.close();
  await emulator.close();
  cleanupHomes();
  assertNoSecretsLeaked(secrets);
});

describe('proxies from the environment', () => {
  it('sends the login and the request through HTTP_PROXY / HTTPS_PROXY', async () => {
    const server = await TestServer.start({ env: proxyEnv(proxy.url, '') });
    servers.push(server);
    proxy.records.length = 0;
    const result = await server.call('access_fetch', { url: `${emulator.appUrl}/api/data.json`, wait_seconds: 30 });
    assertOk(result);
    assert.equal((resultData(result) as { status: number }).status, 200);

    const appHost = new URL(emulator.appUrl).host;
    const teamHost = new URL(emulator.teamUrl).host;
    const toApp = proxy.records.filter((r) => r.target === appHost);
    assert.ok(toApp.length > 0, `nothing went to ${appHost} through the proxy: ${JSON.stringify(proxy.records)}`);
    const seen = toApp.flatMap((r) => r.requests);
    assert.ok(seen.includes('GET /api/data.json'), `the request line was not seen by the proxy: ${JSON.stringify(seen)}`);
    assert.ok(
      proxy.records.some((r) => r.target === teamHost),
      'the token exchange with the Access team domain went through the proxy too',
    );
    assert.ok(emulator.requests({ origin: 'app', endpoint: 'resource' }).length > 0, 'the emulator served the resource');
  });

  it('goes direct for hosts listed in NO_PROXY', async () => {
    const server = await TestServer.start({ env: proxyEnv(proxy.url, '127.0.0.1') });
    servers.push(server);
    proxy.records.length = 0;
    emulator.clearLog();
    const result = await server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 30 });
    assertOk(result);
    assert.deepEqual(proxy.records, [], 'NO_PROXY=127.0.0.1 keeps every request off the proxy');
    assert.ok(emulator.requests({ origin: 'app', endpoint: 'resource' }).length > 0);
  });

  it('says clearly when the proxy refuses, and the server stays up', async () => {
    const server = await TestServer.start({ env: proxyEnv(proxy.url, '') });
    servers.push(server);
    const plainHost = new URL(emulator.plainUrl).host;
    proxy.deny.add(plainHost);
    try {
      const refused = await server.call('access_fetch', { url: `${emulator.plainUrl}/` });
      assert.equal(refused.isError, true);
      assert.match(textOf(refused), new RegExp(`The proxy refused the request to ${plainHost.replace(/\./g, '\\.')}: .*403`));
      assert.match(textOf(refused), /Next step: .*NO_PROXY/);
    } finally {
      proxy.deny.delete(plainHost);
    }
    const fine = await server.call('access_fetch', { url: `${emulator.plainUrl}/` });
    assertOk(fine);
    assert.match(textOf(fine), /This origin is not behind Access\./);
  });
});
