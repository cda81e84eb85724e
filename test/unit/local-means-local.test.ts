import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { AccessError } from '../../src/core/errors.js';
import { isLocalHost, isLoopbackHost } from '../../src/core/url-policy.js';
import { createDispatcher } from '../../src/http/client.js';
import { refusedRedirect, sendFollowingRedirects } from '../../src/http/redirects.js';

/**
 * Issue 11, weakness 10: every spelling of an address that reaches a
 * listener on this machine counts as local for the remote→local redirect
 * rule, IPv4-mapped IPv6 and 0.0.0.0/8 among them.
 */

const LOCAL_URLS = [
  'https://[::ffff:127.0.0.1]:8443/',
  'https://[::ffff:7f00:1]:8443/',
  'https://[0:0:0:0:0:ffff:7f00:1]/',
  'https://[::ffff:0:0]:8400/',
  'https://[::ffff:0.1.2.3]/',
  'https://0.0.0.0/',
  'https://0/',
  'https://0.1.2.3/',
  'https://[::]/',
  'https://[::1]/',
  'https://[0:0:0:0:0:0:0:1]/',
  'https://127.0.0.1/',
  'https://127.4.5.6/',
  'https://2130706433/',
  'https://0x7f.1/',
  'https://localhost/',
  'https://LOCALHOST./',
  'https://app.localhost/',
  'https://[::7f00:1]/',
];

const REMOTE_URLS = ['https://example.com/', 'https://10.0.0.1/', 'https://128.0.0.1/', 'https://1.0.0.0/', 'https://[::ffff:a00:1]/', 'https://[fd00::1]/', 'https://[2001:db8::1]/', 'https://localhost.example.com/', 'https://127.0.0.1.nip.io/'];

describe('isLocalHost', () => {
  for (const url of LOCAL_URLS) {
    it(`is local: ${url} (host ${new URL(url).hostname})`, () => {
      assert.equal(isLocalHost(new URL(url).hostname), true);
    });
  }

  it('takes host names as written too (brackets, dotted IPv4-mapped, trailing dot)', () => {
    for (const host of ['[::ffff:127.0.0.1]', '::ffff:127.0.0.1', '::ffff:0:0', '0.0.0.0', '0.255.255.255', '127.0.0.1.', 'a.b.localhost']) assert.equal(isLocalHost(host), true, host);
  });

  for (const url of REMOTE_URLS) {
    it(`is not local: ${url}`, () => {
      assert.equal(isLocalHost(new URL(url).hostname), false);
    });
  }

  it('leaves plain-http loopback as it was (0.0.0.0 and :: are local, but not for http)', () => {
    assert.equal(isLoopbackHost('0.0.0.0'), false);
    assert.equal(isLoopbackHost('::'), false);
  });
});

describe('the remote→local redirect rule', () => {
  const remote = new URL('https://app.example.com/start');

  for (const url of LOCAL_URLS) {
    it(`refuses a remote site's redirect to ${url}`, () => {
      const error = refusedRedirect(remote, new URL(url));
      assert.ok(error instanceof AccessError);
      assert.match(error.message, /an address on this machine/);
      assert.match(error.nextStep, /directly/);
    });
  }

  it('still follows local to local', () => {
    assert.equal(refusedRedirect(new URL('http://127.0.0.1:1/'), new URL('https://[::ffff:0:0]:2/')), undefined);
    assert.equal(refusedRedirect(new URL('https://localhost/'), new URL('https://0.1.2.3/')), undefined);
  });
});

/** An address of this machine that the rule does not class as local (the container's own interface), or undefined. */
function outwardAddress(): string | undefined {
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) if (entry.family === 'IPv4' && !entry.internal && !isLocalHost(entry.address)) return entry.address;
  }
  return undefined;
}

describe('a real redirect from a remote-looking server to this machine', () => {
  const outward = outwardAddress();
  let source: HttpServer;
  let sourceOrigin = '';
  let local: NetServer;
  let localPort = 0;
  let connections = 0;

  before(async () => {
    if (!outward) return;
    // Stands for the login callback or any other service listening on 127.0.0.1.
    local = createNetServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve));
    localPort = (local.address() as AddressInfo).port;
    source = createHttpServer((req, res) => {
      const to = new URL(req.url ?? '/', 'http://x').searchParams.get('to')!;
      res.writeHead(302, { location: to }).end();
    });
    await new Promise<void>((resolve) => source.listen(0, outward, resolve));
    sourceOrigin = `http://${outward}:${(source.address() as AddressInfo).port}`;
  });

  after(() => {
    local?.close();
    source?.close();
  });

  async function follow(to: string): Promise<unknown> {
    const dispatcher = createDispatcher();
    try {
      await sendFollowingRedirects(dispatcher, { url: new URL(`${sourceOrigin}/?to=${encodeURIComponent(to)}`), method: 'GET', headers: {} }, async () => ({}));
      return undefined;
    } catch (error) {
      return error;
    } finally {
      await dispatcher.close();
    }
  }

  for (const form of ['https://[::ffff:0:0]:PORT/', 'https://[::ffff:127.0.0.1]:PORT/', 'http://[::ffff:127.0.0.1]:PORT/', 'https://0.0.0.0:PORT/']) {
    it(`is refused before any connection: ${form}`, { skip: !outward && 'no non-loopback interface to stand for a remote site' }, async () => {
      const before = connections;
      const error = await follow(form.replace('PORT', String(localPort)));
      assert.ok(error instanceof AccessError, `refused, got ${String(error)}`);
      assert.match(error.message, /(an address on this machine|not https)/);
      assert.equal(connections, before, 'the local listener was never reached');
    });
  }
});
