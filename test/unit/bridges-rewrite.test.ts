import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { rewriteLocation, rewriteResponseHeaders, rewriteSetCookie, forwardRequestHeaders } from '../../src/bridge/rewrite.js';
import { SecretScrubber } from '../../src/core/secret-scrubber.js';

async function scrub(chunks: Buffer[], secrets: string[]): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks).pipe(new SecretScrubber(secrets))) out.push(c as Buffer);
  return Buffer.concat(out);
}

describe('proxy body scrubbing (issue 14)', () => {
  it('masks a secret however the chunks split it, keeping the length', async () => {
    const secret = 'oauth:SECRET-token-0123456789abcdef';
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), fc.string({ maxLength: 200 }), fc.array(fc.nat(300), { maxLength: 6 }), async (before, after, cuts) => {
        const text = Buffer.from(`${before}${secret}${after}${secret}`);
        const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let last = 0;
        for (const p of [...points, text.length]) {
          if (p > last) chunks.push(Buffer.from(text.subarray(last, p)));
          last = p;
        }
        const result = await scrub(chunks, [secret]);
        assert.equal(result.length, text.length);
        assert.ok(!result.includes(secret));
        assert.ok(result.toString().startsWith(before));
      }),
      { numRuns: 200 },
    );
  });

  it('passes bytes through untouched when no secret occurs', async () => {
    const data = Buffer.from('plain body '.repeat(10_000));
    assert.deepEqual(await scrub([data.subarray(0, 7), data.subarray(7)], ['oauth:not-there-0123456789']), data);
  });
});

describe('proxy header rewriting (issue 14)', () => {
  const origin = new URL('https://app.example.com/a/b');
  const base = 'http://127.0.0.1:9000';

  it('keeps same-origin redirects on the proxy and leaves others alone', () => {
    assert.equal(rewriteLocation('https://app.example.com/login?x=1#f', origin, base), `${base}/login?x=1#f`);
    assert.equal(rewriteLocation('/relative', origin, base), '/relative');
    assert.equal(rewriteLocation('//app.example.com/p', origin, base), `${base}/p`);
    assert.equal(rewriteLocation('https://other.example.com/', origin, base), 'https://other.example.com/');
  });

  it('makes cookies stick to the proxy and drops Access session cookies and ones with our secret', () => {
    assert.equal(rewriteSetCookie('a=1; Domain=.example.com; Path=/; Secure; HttpOnly; SameSite=None', []), 'a=1; Path=/; HttpOnly');
    assert.equal(rewriteSetCookie('CF_Authorization=eyJ...; Path=/', []), undefined);
    assert.equal(rewriteSetCookie('echo=oauth:SECRET123456; Path=/', ['oauth:SECRET123456']), undefined);
  });

  it('masks our secret in any response header and drops hop-by-hop headers', () => {
    const headers = rewriteResponseHeaders({ 'x-echo': 'Bearer oauth:SECRET123456', connection: 'keep-alive, x-hop', 'x-hop': '1', location: 'https://app.example.com/next' }, origin, base, ['oauth:SECRET123456']);
    assert.equal(headers['x-echo'], 'Bearer [redacted]');
    assert.equal(headers['x-hop'], undefined);
    assert.equal(headers.connection, undefined);
    assert.equal(headers.location, `${base}/next`);
  });

  it('forwards the client headers minus hop-by-hop ones, asking for identity encoding', () => {
    const out = forwardRequestHeaders({ host: '127.0.0.1:9000', expect: '100-continue', 'accept-encoding': 'gzip', authorization: 'Basic abc', 'sec-websocket-key': 'k' });
    assert.deepEqual(out, { 'accept-encoding': 'identity', authorization: 'Basic abc' });
  });
});

describe('mcp.json.example bridge entries (issue 14)', () => {
  it('each client has a bridge entry that starts "npx -y cf-access-mcp bridge <https url>"', async () => {
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const example = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'mcp.json.example'), 'utf8')) as Record<string, unknown>;
    const bridge = example._bridge as Record<string, { config: Record<string, Record<string, Record<string, unknown>>> }>;
    const clients = Object.keys(example).filter((k) => !k.startsWith('_'));
    assert.deepEqual(Object.keys(bridge).filter((k) => !k.startsWith('_')).sort(), clients.sort());
    for (const client of clients) {
      const servers = Object.values(Object.values(bridge[client]!.config).find((v) => typeof v === 'object')!);
      assert.equal(servers.length, 1, client);
      const server = servers[0] as { command: string | string[]; args?: string[] };
      const argv = Array.isArray(server.command) ? server.command : [server.command, ...(server.args ?? [])];
      assert.deepEqual(argv.slice(0, 4), ['npx', '-y', 'cf-access-mcp', 'bridge'], client);
      assert.match(argv[4]!, /^https:\/\//, client);
    }
  });
});
