import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CookieNames } from '../../src/bridge/cookie-names.js';
import { forwardRequestHeaders, restoreCookieNames, rewriteLocation, rewriteResponseHeaders, rewriteSetCookie } from '../../src/bridge/rewrite.js';
import { SecretNeedles, SecretScrubber } from '../../src/core/secret-scrubber.js';
import { WebSocketScrubber } from '../../src/bridge/ws-scrub.js';

async function scrub(chunks: Buffer[], secrets: string[]): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks).pipe(new SecretScrubber(secrets))) out.push(c as Buffer);
  return Buffer.concat(out);
}

/** `data` cut into chunks at the given offsets (taken modulo its length, repeats and empty chunks dropped). */
function cutAt(data: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let last = 0;
  for (const point of [...points, data.length]) {
    if (point > last) chunks.push(Buffer.from(data.subarray(last, point)));
    last = point;
  }
  return chunks;
}

describe('proxy body scrubbing (issue 14)', () => {
  it('masks a secret however the chunks split it, keeping the length', async () => {
    const secret = 'oauth:SECRET-token-0123456789abcdef';
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), fc.string({ maxLength: 200 }), fc.array(fc.nat(300), { maxLength: 6 }), async (before, after, cuts) => {
        const text = Buffer.from(`${before}${secret}${after}${secret}`);
        const result = await scrub(cutAt(text, cuts), [secret]);
        assert.equal(result.length, text.length);
        assert.ok(!result.includes(secret));
        assert.ok(result.toString().startsWith(before));
      }),
      { numRuns: 200 },
    );
  });

  it('masks the JSON-escaped (\\/) and percent-encoded forms of a secret too', async () => {
    const secret = 'abc/def+ghi=jkl/0123';
    const body = Buffer.from(JSON.stringify({ php: secret.replaceAll('/', '\\/'), query: encodeURIComponent(secret), plain: secret }));
    const result = await scrub([body], [secret]);
    assert.equal(result.length, body.length);
    for (const form of [secret, secret.replaceAll('/', '\\/'), encodeURIComponent(secret)]) assert.ok(!result.includes(form), form);
  });

  it('never lets a secret through, however secrets overlap each other and the chunks cut them', async () => {
    // A two-letter alphabet: secrets that share prefixes and overlap themselves, and filler full of their beginnings.
    const text = (min: number, max: number) => fc.string({ unit: fc.constantFrom('a', 'b'), minLength: min, maxLength: max });
    await fc.assert(
      fc.asyncProperty(fc.array(text(8, 14), { minLength: 1, maxLength: 3 }), fc.array(text(0, 40), { maxLength: 8 }), fc.array(fc.nat(400), { maxLength: 12 }), async (secrets, fillers, cuts) => {
        const input = Buffer.from(fillers.map((f, i) => f + secrets[i % secrets.length]).join('') + fillers.join('|'));
        const result = await scrub(cutAt(input, cuts), secrets);
        assert.equal(result.length, input.length);
        for (const secret of secrets) assert.ok(!result.includes(secret), `${secret} in ${result.toString()}`);
      }),
      { numRuns: 500 },
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

  it('makes cookies stick to the proxy and drops Access session cookies, ones with our secret and ones named like the proxy\'s own', () => {
    const names = new CookieNames();
    assert.equal(rewriteSetCookie('a=1; Domain=.example.com; Path=/; Secure; HttpOnly; SameSite=None', [], names), 'a=1; Path=/; HttpOnly');
    assert.equal(rewriteSetCookie('CF_Authorization=eyJ...; Path=/', [], names), undefined);
    assert.equal(rewriteSetCookie('CF_AppSession=0f1e2d; Path=/; HttpOnly', [], names), undefined);
    assert.equal(rewriteSetCookie('echo=oauth:SECRET123456; Path=/', ['oauth:SECRET123456'], names), undefined);
    // An origin could otherwise plant a name another proxy on 127.0.0.1 takes for its own.
    assert.equal(rewriteSetCookie('cfam-0123456789abcdef-__Host-sid=evil; Path=/', [], names), undefined);
  });

  it('renames __Host-/__Secure- cookies with a tag of its own (no Secure over http) and restores only those on the way back', () => {
    const names = new CookieNames();
    const tagged = (name: string) => names.forClient(name);
    assert.match(tagged('__Host-sid'), /^cfam-[0-9a-f]{16}-__Host-sid$/);
    assert.equal(tagged('__Host-sid'), tagged('__Host-sid'), 'fixed for the proxy\'s lifetime');
    assert.notEqual(tagged('__Host-sid').slice(0, 21), tagged('__Host-other').slice(0, 21), 'a tag per name: reading one in document.cookie gives no other');
    assert.equal(rewriteSetCookie('__Host-sid=abc; Path=/; Secure; HttpOnly; SameSite=Lax', [], names), `${tagged('__Host-sid')}=abc; Path=/; HttpOnly; SameSite=Lax`);
    assert.equal(rewriteSetCookie('__Secure-theme=dark; Domain=app.example.com; Path=/; Secure', [], names), `${tagged('__Secure-theme')}=dark; Path=/`);
    // Matched without case, as browsers match them; a name that merely contains one is left alone.
    assert.equal(rewriteSetCookie('__host-x=1; Secure', [], names), `${tagged('__host-x')}=1`);
    assert.equal(rewriteSetCookie('__Host-Http-y=2; Path=/; Secure; HttpOnly', [], names), `${tagged('__Host-Http-y')}=2; Path=/; HttpOnly`);
    assert.equal(rewriteSetCookie('__cf_bm=z; Secure', [], names), '__cf_bm=z');
    assert.equal(rewriteSetCookie('my__Host-a=1; Secure', [], names), 'my__Host-a=1');
    // A deletion (Max-Age=0, a past Expires) reaches the renamed cookie too.
    assert.equal(rewriteSetCookie('__Host-sid=; Path=/; Max-Age=0; Secure', [], names), `${tagged('__Host-sid')}=; Path=/; Max-Age=0`);
    assert.equal(rewriteSetCookie('__Secure-theme=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure', [], names), `${tagged('__Secure-theme')}=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT`);

    assert.equal(restoreCookieNames(`a=1; ${tagged('__Host-sid')}=abc; ${tagged('__secure-t')}=d`, names), 'a=1; __Host-sid=abc; __secure-t=d');
    assert.equal(restoreCookieNames('x=cfam-__Host-v', names), 'x=cfam-__Host-v', 'names only, never values');
    assert.equal(forwardRequestHeaders({ cookie: `${tagged('__Host-sid')}=abc; pref=dark` }, false, undefined, names).cookie, '__Host-sid=abc; pref=dark');
    assert.equal(forwardRequestHeaders({ cookie: `${tagged('__Host-s')}=1` }, true, { proxy: ['http://127.0.0.1:9000'], origin: 'https://app.example.com' }, names).cookie, '__Host-s=1');
  });

  it('never sends the origin a prefixed cookie that is not its own: another proxy\'s, the untagged form, a forged tag, the real name (cookies on 127.0.0.1 ignore the port)', () => {
    const names = new CookieNames();
    const other = new CookieNames();
    const own = names.forClient('__Host-sid');
    const theirs = other.forClient('__Host-sid');
    assert.notEqual(own, theirs);
    const header = `pref=dark; ${theirs}=their-session; cfam-__Host-sid=planted; ${own}=mine; cfam-0123456789abcdef-__Host-sid=guessed; ${names.forClient('__Secure-a').replace('__Secure-a', '__Secure-b')}=moved; cfam-other=1; cfam-${own.slice(5, 21)}=bare; __Host-sid=set-by-a-page; __secure-x=1`;
    assert.equal(restoreCookieNames(header, names), 'pref=dark; __Host-sid=mine');
    assert.equal(forwardRequestHeaders({ cookie: header }, false, undefined, names).cookie, 'pref=dark; __Host-sid=mine');
    assert.equal(forwardRequestHeaders({ cookie: header }, false, undefined, other).cookie, 'pref=dark; __Host-sid=their-session');
    // Nothing left: no Cookie header at all; without a renamer every cfam- cookie stays behind.
    assert.equal('cookie' in forwardRequestHeaders({ cookie: `${theirs}=x; cfam-__Host-y=1` }, false, undefined, names), false);
    assert.equal(forwardRequestHeaders({ cookie: `a=1; ${own}=mine; __Host-b=2` }).cookie, 'a=1');
    assert.equal(forwardRequestHeaders({ cookie: 'a=1;b=cfam-x;  c' }, false, undefined, names).cookie, 'a=1;b=cfam-x;  c', 'no such name: passed unparsed');
  });

  it('leaves out a cookie that hides a prefixed or proxy name from a lenient origin parser (SimpleCookie, old Rack, old PHP); ordinary cookies pass untouched', () => {
    const names = new CookieNames();
    const own = names.forClient('__Host-sid');
    const hidden = [
      'a=b __Host-sid=evil', // SimpleCookie (Bottle) splits on whitespace
      'a=b\t__secure-t=evil',
      'a=b, __Host-sid=evil', // SimpleCookie; old Rack split on ','
      'a=b,__Host-sid=evil',
      'a=b __Http-x=evil',
      'a=b cfam-0123456789abcdef-__Host-sid=evil',
      '%5F%5FHost-sid=evil', // old Rack URL-decoded names
      '_%5fHost-sid=evil',
      '%63fam-x=evil',
      '..Host-sid=evil', // old PHP mapped '.' and ' ' to '_' (CVE-2022-31629)
      '. Secure-x=evil',
      '_[Host-sid=evil', // and an unmatched '['
      'a=b+__Host-sid=evil', // '+' is a space to a form decoder
      'a=b%20__Host-sid%3Devil',
      'a __Host-sid=evil',
      `${own}=mine __Host-other=evil`, // this proxy's own name, a value set by a page that read it
    ];
    for (const cookie of hidden) {
      assert.equal(forwardRequestHeaders({ cookie: `pref=dark; ${cookie}; z=1` }, false, undefined, names).cookie, 'pref=dark; z=1', cookie);
      assert.equal('cookie' in forwardRequestHeaders({ cookie }, false, undefined, names), false, cookie);
    }
    // Spaces, commas, escapes and these words elsewhere: the header reaches the origin byte for byte.
    const ordinary = 'a=hello world, again;b=1,2,3;  c=%7B%22k%22%3A1%7D; d=50%; e=__Host-x; f=x cfamily-1; g=my__Host-a; __cf_bm=1; .AspNetCore.Session=2; my.host-name=3; h=https://x.example/host-a';
    assert.equal(forwardRequestHeaders({ cookie: ordinary }, false, undefined, names).cookie, ordinary);
    assert.equal(forwardRequestHeaders({ cookie: `${ordinary}; ${own}=mine` }, false, undefined, names).cookie, `${ordinary.split(/;\s*/).join('; ')}; __Host-sid=mine`);
  });

  it("leaves out the client's own Access cookies (a loopback page can plant one): only the proxy's credential reaches the origin", () => {
    const names = new CookieNames();
    for (const planted of ['CF_Authorization=eyJ.planted', 'cf_authorization=x', 'CF%5FAuthorization=x', 'CF.Authorization=x', 'a=b CF_Authorization=x', 'a=b, cf_authorization', 'CF_AppSession=n', 'cf%5Fappsession=n', 'a=b CF_AppSession=n']) {
      assert.equal(forwardRequestHeaders({ cookie: `pref=dark; ${planted}` }, false, undefined, names).cookie, 'pref=dark', planted);
      assert.equal('cookie' in forwardRequestHeaders({ cookie: planted }), false, planted);
    }
    assert.equal(forwardRequestHeaders({ cookie: 'CF_Authorization_hint=1; x=CF_Authorization' }).cookie, 'CF_Authorization_hint=1; x=CF_Authorization');
    assert.equal(forwardRequestHeaders({ cookie: 'CF_AppSessionish=1; x=CF_AppSession' }).cookie, 'CF_AppSessionish=1; x=CF_AppSession');
  });

  it('masks our secret in any response header and drops hop-by-hop headers', () => {
    const headers = rewriteResponseHeaders({ 'x-echo': 'Bearer oauth:SECRET123456', connection: 'keep-alive, x-hop', 'x-hop': '1', location: 'https://app.example.com/next' }, origin, base, ['oauth:SECRET123456'], new CookieNames());
    assert.equal(headers['x-echo'], 'Bearer [redacted]');
    assert.equal(headers['x-hop'], undefined);
    assert.equal(headers.connection, undefined);
    assert.equal(headers.location, `${base}/next`);
  });

  it('keeps Link targets on the origin on the proxy (pagination a test runner follows), others unchanged', () => {
    const url = new URL('https://app.example.com/api/items?page=1');
    const out = rewriteResponseHeaders(
      { link: '<https://app.example.com/api/items?page=2>; rel="next", </api/items?page=9>; rel="last", <https://cdn.example.net/x.css>; rel="preload"' },
      url,
      'http://127.0.0.1:9000',
      [],
      new CookieNames(),
    );
    assert.equal(out.link, '<http://127.0.0.1:9000/api/items?page=2>; rel="next", </api/items?page=9>; rel="last", <https://cdn.example.net/x.css>; rel="preload"');
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

/** Server frames (unmasked): each [opcode, payload, fin]. */
function frames(list: Array<[number, Buffer, boolean]>): Buffer {
  return Buffer.concat(
    list.map(([opcode, payload, fin]) => {
      const n = payload.length;
      const head = n < 126 ? Buffer.from([0, n]) : n < 65536 ? Buffer.from([0, 126, n >> 8, n & 255]) : Buffer.alloc(10);
      if (n >= 65536) {
        head[1] = 127;
        head.writeBigUInt64BE(BigInt(n), 2);
      }
      head[0] = (fin ? 0x80 : 0) | opcode;
      return Buffer.concat([head, payload]);
    }),
  );
}

function parseFrames(data: Buffer): Array<[number, Buffer, boolean]> {
  const out: Array<[number, Buffer, boolean]> = [];
  for (let at = 0; at < data.length; ) {
    let n = data[at + 1]! & 0x7f;
    let size = 2;
    if (n === 126) [n, size] = [data.readUInt16BE(at + 2), 4];
    else if (n === 127) [n, size] = [Number(data.readBigUInt64BE(at + 2)), 10];
    out.push([data[at]! & 0x0f, data.subarray(at + size, at + size + n), (data[at]! & 0x80) !== 0]);
    at += size + n;
  }
  return out;
}

/** Messages (data frames joined) and control frames, in order: [opcode, payload as latin1]. */
function messagesOf(list: Array<[number, Buffer, boolean]>): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  let message: [number, string] | undefined;
  for (const [op, payload, fin] of list) {
    if (op >= 8) out.push([op, payload.toString('latin1')]);
    else {
      message = op === 0 && message ? [message[0], message[1] + payload.toString('latin1')] : [op, payload.toString('latin1')];
      if (fin) {
        out.push(message);
        message = undefined;
      }
    }
  }
  return out;
}

async function scrubFrames(stream: Buffer, cuts: number[], secrets: string[]): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of Readable.from(cutAt(stream, cuts)).pipe(new WebSocketScrubber(new SecretNeedles(secrets)))) out.push(c as Buffer);
  return Buffer.concat(out);
}

describe('proxy WebSocket scrubbing (issue 14)', () => {
  const secret = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.signature-part-0123456789';

  it('masks a secret in a message however frames and reads cut it; frame headers and lengths unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 120 }), fc.array(fc.nat(400), { minLength: 1, maxLength: 5 }), fc.array(fc.nat(600), { maxLength: 6 }), async (text, fragmentCuts, readCuts) => {
        const message = Buffer.from(`${text}{"authorization":"Bearer ${secret}"}${text}`);
        const points = [...new Set(fragmentCuts.map((c) => c % message.length))].filter((p) => p > 0).sort((a, b) => a - b);
        const pieces: Buffer[] = [];
        let last = 0;
        for (const p of [...points, message.length]) {
          pieces.push(message.subarray(last, p));
          last = p;
        }
        // A ping between fragments, as a server may send one.
        const list: Array<[number, Buffer, boolean]> = pieces.map((piece, i) => [i === 0 ? 1 : 0, piece, i === pieces.length - 1]);
        if (list.length > 1) list.splice(1, 0, [0x9, Buffer.from('ping'), true]);
        list.push([0x2, Buffer.from(secret), true]);
        const input = frames(list);
        const output = await scrubFrames(input, readCuts, [secret]);
        assert.ok(!output.includes(secret));
        // The same messages and control frames in the same order (fragment boundaries may move); the secret masked, same length.
        const mask = ('[redacted]' + '*'.repeat(secret.length)).slice(0, secret.length);
        const masked = (b: Buffer) => b.toString('latin1').replaceAll(secret, mask);
        assert.deepEqual(messagesOf(parseFrames(output)), messagesOf(list).map(([op, text]) => [op, text.replaceAll(secret, mask)]));
        assert.equal(masked(Buffer.from(secret)), mask);
      }),
      { numRuns: 300 },
    );
  });

  it('streams a large frame through without holding it', async () => {
    const payload = Buffer.alloc(200_000, 0x61);
    secret.split('').forEach((c, i) => (payload[150_000 + i] = c.charCodeAt(0)));
    const output = await scrubFrames(frames([[2, payload, true]]), [1000, 70_000, 150_010], [secret]);
    const [[op, text]] = messagesOf(parseFrames(output)) as [[number, string]];
    assert.equal(op, 2);
    assert.equal(text.length, payload.length);
    assert.ok(!text.includes(secret));
    assert.ok(!output.includes(secret));
  });

  it('refuses a masked or compressed frame from the server instead of passing it unseen', async () => {
    const compressed = frames([[1, Buffer.from('x'), true]]);
    compressed[0]! |= 0x40;
    await assert.rejects(scrubFrames(compressed, [], [secret]), /cannot check/);
    const masked = Buffer.from([0x81, 0x81, 1, 2, 3, 4, 0x79]);
    await assert.rejects(scrubFrames(masked, [], [secret]), /cannot check/);
  });
});
