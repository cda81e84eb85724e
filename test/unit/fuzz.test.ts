import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import fc from 'fast-check';
import { parseChallenges, resourceMetadataFrom } from '../../src/auth/challenge.js';
import { detectAccess } from '../../src/auth/detect.js';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { cleanupHomes, TestServer, textOf } from '../helpers/harness.js';
import { assertNoSecretsLeaked } from '../helpers/leaks.js';

/**
 * Issue 7, hostile input: property-based tests. The challenge parser and Access
 * detection take arbitrary headers without throwing; every tool of a real
 * server process takes arbitrary input (URLs of every scheme and shape, huge or
 * broken headers, wrong types, huge strings) and answers each call — with a
 * result, or an error that says what to do next — and keeps answering.
 */

const SCHEMES = ['Bearer', 'Cloudflare-Access', 'Basic', 'Digest', 'DPoP', 'Negotiate'];

/** A parameter value as a token or as a quoted string with escapes, commas and spaces. */
const paramValue = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}$/),
  fc.string({ maxLength: 40 }).map((s) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`),
  fc.string({ maxLength: 40 }),
);
const challenge = fc
  .tuple(
    fc.oneof(fc.constantFrom(...SCHEMES), fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,12}$/), fc.string({ maxLength: 12 })),
    fc.array(fc.tuple(fc.oneof(fc.constantFrom('realm', 'error', 'resource_metadata', 'scope'), fc.string({ maxLength: 12 })), paramValue), { maxLength: 5 }),
  )
  .map(([scheme, params]) => `${scheme} ${params.map(([k, v]) => `${k}=${v}`).join(', ')}`.trim());
const wwwAuthenticate = fc.oneof(
  fc.array(challenge, { maxLength: 4 }).map((list) => list.join(', ')),
  fc.string({ maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.integer({ min: 10_000, max: 40_000 }).map((n) => `Bearer realm="${'x'.repeat(n)}"`),
);

describe('challenge parser on hostile headers', () => {
  it('parseChallenges never throws and returns well-formed challenges', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(wwwAuthenticate, fc.array(wwwAuthenticate, { maxLength: 3 }), fc.constant(undefined), fc.constant(null)), async (header) => {
        const challenges = await parseChallenges(header);
        assert.ok(Array.isArray(challenges));
        for (const c of challenges) {
          assert.equal(typeof c.scheme, 'string');
          assert.equal(c.scheme, c.scheme.toLowerCase());
          assert.equal(typeof c.parameters, 'object');
        }
        const rm = resourceMetadataFrom(challenges);
        assert.ok(rm === undefined || typeof rm === 'string');
      }),
      { numRuns: 400 },
    );
  });

  it('finds resource_metadata in a Bearer challenge among others, whatever surrounds it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(challenge.filter((c) => !/^(bearer|cloudflare-access)\b/i.test(c)), { maxLength: 3 }), fc.webUrl({ withQueryParameters: true }), async (others, url) => {
        fc.pre(!/["\\]/.test(url));
        const challenges = await parseChallenges([...others, `Bearer error="invalid_token", resource_metadata="${url}"`].join(', '));
        // Anything unparseable around it may drop the header as a whole, never yield a wrong URL.
        const found = resourceMetadataFrom(challenges);
        assert.ok(found === undefined || found === url, `${found} != ${url}`);
        if (others.length === 0) assert.equal(found, url);
      }),
      { numRuns: 200 },
    );
  });

  it('detectAccess never throws, and a 2xx is never a challenge', async () => {
    const headerName = fc.constantFrom('www-authenticate', 'location', 'cf-access-aud', 'cf-access-domain', 'content-type', 'set-cookie');
    const headerValue = fc.oneof(wwwAuthenticate, fc.webUrl(), fc.string({ maxLength: 80 }), fc.array(fc.string({ maxLength: 40 }), { maxLength: 3 }));
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 100, max: 599 }),
        fc.dictionary(headerName, fc.oneof(headerValue, fc.constant(undefined))),
        fc.webUrl(),
        async (status, headers, url) => {
          const found = await detectAccess({ status, headers }, new URL(url));
          if (found === undefined) return;
          assert.ok(['bearer', 'redirect', 'forbidden'].includes(found.style));
          assert.ok(status < 200 || status >= 300, `a ${status} was taken for a challenge`);
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('every tool on hostile input, over a real server process', () => {
  let emulator: Emulator;
  let server: TestServer;

  before(async () => {
    emulator = await startEmulator();
    server = await TestServer.start({
      env: {
        CF_ACCESS_MCP_TIMEOUT_MS: '3000',
        CF_ACCESS_MCP_CONNECT_TIMEOUT_MS: '3000',
        // Random hosts must not reach the internet: everything not on loopback goes to a dead proxy.
        HTTPS_PROXY: 'http://127.0.0.1:9',
        HTTP_PROXY: 'http://127.0.0.1:9',
        NO_PROXY: '127.0.0.1,localhost,::1,[::1]',
        CF_ACCESS_MCP_CLOUDFLARED: '/nonexistent/cloudflared',
        CF_ACCESS_MCP_LOGIN_TIMEOUT: '5',
      },
    });
  });

  after(async () => {
    await server?.close();
    if (emulator) {
      assertNoSecretsLeaked(emulator.secrets());
      await emulator.close();
    }
    cleanupHomes();
  });

  /** Any URL: the emulator's origins with odd paths, every scheme, odd hosts, junk, huge strings. */
  const url = () => {
    const origin = fc.constantFrom(emulator.appUrl, emulator.app2Url, emulator.plainUrl, emulator.teamUrl);
    const interesting = fc.constantFrom('/', '/echo', '/long', '/tables', '/api/data.json', '/images/pixel.png', '/files/blob.bin', '/big?size=3000000', '/slow?ms=20', '/redirect/loop', '/redirect/chain?n=12', '/redirect/plain', '/status/500', '/status/204', '/cdn-cgi/access/login/x', '/.well-known/oauth-authorization-server', '/__emulator/info');
    return fc.oneof(
      { weight: 6, arbitrary: fc.tuple(origin, fc.oneof(interesting, fc.webPath()), fc.oneof(fc.constant(''), fc.webQueryParameters().map((q) => `?${q}`)), fc.oneof(fc.constant(''), fc.webFragments().map((f) => `#${f}`))).map((parts) => parts.join('')) },
      fc.tuple(fc.constantFrom('http', 'https', 'ftp', 'file', 'javascript', 'data', 'ws', 'wss', 'mailto', 'about', 'blob', 'gopher', 'HTTP', 'hTtPs'), fc.constantFrom(':', '://', ':///', ':\\\\'), fc.string({ maxLength: 60 })).map((parts) => parts.join('')),
      fc.tuple(fc.constantFrom('http://', 'https://'), fc.constantFrom('localhost', '127.0.0.1', '[::1]', '0.0.0.0', '127.1', '2130706433', 'user:pass@127.0.0.1', 'xn--nxasmq6b.example', 'example.invalid', '[::ffff:127.0.0.1]', '%31%32%37.0.0.1', ''), fc.constantFrom('', ':0', ':1', ':65535', ':99999', ':-1', ':abc'), fc.webPath()).map((parts) => parts.join('')),
      fc.string({ maxLength: 200 }),
      fc.string({ unit: 'binary', maxLength: 100 }),
      fc.integer({ min: 10_000, max: 200_000 }).map((n) => `https://${'a'.repeat(n)}.example/`),
    );
  };
  /** An optional field of the right type (hostile content, valid type). */
  const field = <T>(valid: fc.Arbitrary<T>) => fc.option(valid, { nil: undefined, freq: 3 });
  const headers = fc.dictionary(
    fc.oneof(fc.constantFrom('authorization', 'cookie', 'cf-access-token', 'cf-access-client-secret', 'host', 'content-length', 'x-ok'), fc.string({ maxLength: 20 })),
    fc.oneof(fc.string({ maxLength: 60 }), fc.integer({ min: 17_000, max: 80_000 }).map((n) => 'v'.repeat(n))),
    { maxKeys: 4 },
  );
  const waitSeconds = field(fc.integer({ min: 0, max: 1 }));

  /** Inputs of the right types, with hostile values: these reach the service. */
  const typed = (): Record<string, fc.Arbitrary<Record<string, unknown>>> => ({
    access_fetch: fc.record(
      {
        url: url(),
        method: field(fc.oneof(fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS', 'DELETE', 'PUT', 'CONNECT', 'TRACE', 'get'), fc.string({ maxLength: 12 }))),
        headers: field(headers),
        body: field(fc.oneof(fc.string({ maxLength: 100 }), fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue()), fc.array(fc.jsonValue(), { maxLength: 5 }))),
        format: field(fc.constantFrom('markdown', 'text', 'raw')),
        max_length: field(fc.oneof(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 1_000_000 }))),
        start_index: field(fc.oneof(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }))),
        wait_seconds: waitSeconds,
      },
      { requiredKeys: ['url'] },
    ),
    access_login: fc.record(
      {
        url: url(),
        force: field(fc.boolean()),
        method: field(fc.constantFrom('auto', 'oauth', 'cloudflared', 'service_token')),
        callback_url: field(fc.oneof(url(), fc.constant('http://localhost:1/callback?code=abc&state=def'))),
        wait_seconds: waitSeconds,
      },
      { requiredKeys: ['url'] },
    ),
    access_status: fc.record({ url: field(url()) }, { requiredKeys: [] }),
    access_logout: fc.record({ url: field(url()), all: field(fc.boolean()) }, { requiredKeys: [] }),
  });

  /** The same, with one field replaced by a value of any type (or an unknown field added). */
  const wrongTyped = (name: string) =>
    fc.tuple(typed()[name]!, fc.constantFrom('url', 'method', 'headers', 'body', 'format', 'max_length', 'start_index', 'wait_seconds', 'force', 'all', 'callback_url', 'unknown_field'), fc.anything()).map(
      ([args, key, value]) => ({ ...args, [key]: value }),
    );

  /** One call: a result (any), or an error result that says what happened and what to do next. */
  async function survives(name: string, args: Record<string, unknown>): Promise<CallToolResult> {
    const result = await server.call(name, args, { timeoutMs: 60_000 });
    assert.ok(Array.isArray(result.content), `${name}: no content`);
    if (result.isError) {
      const text = textOf(result);
      assert.match(text, /Next step: \S|Input validation error/, `${name}(${JSON.stringify(args).slice(0, 300)}) gave an unclear error: ${text.slice(0, 300)}`);
    }
    return result;
  }

  for (const [name, runs] of [['access_fetch', 300], ['access_login', 80], ['access_status', 60], ['access_logout', 40]] as const) {
    it(`${name}: never a crash, always a result or a clear error`, async () => {
      await fc.assert(fc.asyncProperty(typed()[name]!, async (args) => void (await survives(name, args))), { numRuns: runs });
      await fc.assert(fc.asyncProperty(wrongTyped(name), async (args) => void (await survives(name, args))), { numRuns: Math.ceil(runs / 4) });
      // Still the same process, still answering.
      assert.equal((await survives('access_status', {})).isError, undefined);
    });
  }

  it('arguments that are not an object at all, and unknown tools', async () => {
    for (const args of [[], 'x', 42, null] as unknown[]) {
      const outcome = await server.client.callTool({ name: 'access_fetch', arguments: args as Record<string, unknown> }).then(
        (r) => r as CallToolResult,
        (error: Error) => error,
      );
      if (outcome instanceof Error) assert.match(outcome.message, /-32602|Invalid|invalid/);
      else assert.equal(outcome.isError, true);
    }
    const unknown = await server.client.callTool({ name: 'no_such_tool', arguments: {} }).then(
      (r) => r as CallToolResult,
      (error: Error) => error,
    );
    if (unknown instanceof Error) assert.match(unknown.message, /no_such_tool|not found/i);
    else assert.equal(unknown.isError, true);
    assert.equal((await survives('access_status', {})).isError, undefined);
  });
});
