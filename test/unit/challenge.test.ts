import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseChallenges, resourceMetadataFrom } from '../../src/auth/challenge.js';
import { detectAccess, mayBeChallenge, type ResponseHead } from '../../src/auth/detect.js';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';

const RM = 'https://app.example.com/.well-known/cloudflare-access-protected-resource/docs';

describe('parseChallenges (RFC 9110 WWW-Authenticate)', () => {
  it('parses the managed-OAuth Bearer challenge with every parameter', async () => {
    const header = `Bearer realm="OAuth", error="invalid_token", error_description="Missing or invalid access token", resource_metadata="${RM}"`;
    const challenges = await parseChallenges(header);
    assert.equal(challenges.length, 1);
    assert.equal(challenges[0]!.scheme, 'bearer');
    assert.deepEqual(challenges[0]!.parameters, {
      realm: 'OAuth',
      error: 'invalid_token',
      error_description: 'Missing or invalid access token',
      resource_metadata: RM,
    });
    assert.equal(resourceMetadataFrom(challenges), RM);
  });

  it('parses the Cloudflare-Access scheme and lower-cases scheme and parameter names', async () => {
    const challenges = await parseChallenges(`Cloudflare-Access Resource_Metadata="${RM}"`);
    assert.deepEqual(challenges, [{ scheme: 'cloudflare-access', parameters: { resource_metadata: RM } }]);
    assert.equal(resourceMetadataFrom(challenges), RM);
  });

  it('keeps commas inside quoted strings', async () => {
    const [c] = await parseChallenges(`Bearer error_description="one, two, three", resource_metadata="${RM}?a=1,2"`);
    assert.equal(c!.parameters.error_description, 'one, two, three');
    assert.equal(c!.parameters.resource_metadata, `${RM}?a=1,2`);
  });

  it('unescapes quoted-pair escapes inside quoted strings', async () => {
    const [c] = await parseChallenges('Bearer error_description="say \\"hi\\", then \\\\ go", realm="x"');
    assert.equal(c!.parameters.error_description, 'say "hi", then \\ go');
    assert.equal(c!.parameters.realm, 'x');
  });

  it('splits several challenges in one header value', async () => {
    const challenges = await parseChallenges(
      `Basic realm="legacy, site", Bearer resource_metadata="${RM}", Cloudflare-Access resource_metadata="https://other.example.com/m"`,
    );
    assert.deepEqual(
      challenges.map((c) => c.scheme),
      ['basic', 'bearer', 'cloudflare-access'],
    );
    assert.equal(challenges[0]!.parameters.realm, 'legacy, site');
    // The first Bearer/Cloudflare-Access challenge that names metadata wins; Basic is ignored.
    assert.equal(resourceMetadataFrom(challenges), RM);
  });

  it('collects challenges from several header lines', async () => {
    const challenges = await parseChallenges(['Basic realm="x"', `Cloudflare-Access resource_metadata="${RM}"`]);
    assert.deepEqual(
      challenges.map((c) => c.scheme),
      ['basic', 'cloudflare-access'],
    );
    assert.equal(resourceMetadataFrom(challenges), RM);
  });

  it('returns [] for absent, empty or malformed headers', async () => {
    for (const garbage of [
      undefined,
      null,
      '',
      [],
      '"""',
      ',,,',
      '=foo',
      '@@@ ###',
      '<html><body>nope</body></html>',
      '{"error":"invalid_token"}',
      'Bearer realm="unterminated',
      'Bearer a=b=c',
      '\u0000\u0001',
      `Bearer resource_metadata="${'x'.repeat(20_000)}"`,
    ]) {
      assert.deepEqual(await parseChallenges(garbage), [], `expected [] for ${JSON.stringify(garbage)?.slice(0, 40)}`);
    }
  });

  it('finds no resource metadata in challenges that do not carry it', async () => {
    for (const header of ['garbage', 'Basic realm="x"', 'Bearer realm="OAuth"', `Negotiate resource_metadata="${RM}"`]) {
      assert.equal(resourceMetadataFrom(await parseChallenges(header)), undefined, header);
    }
  });
});

describe('detectAccess on crafted responses', () => {
  const target = new URL('https://app.example.com/docs');

  it('recognises a 401 Bearer challenge with resource metadata', async () => {
    const head: ResponseHead = {
      status: 401,
      headers: { 'www-authenticate': `Bearer realm="OAuth", error="invalid_token", resource_metadata="${RM}"` },
    };
    assert.deepEqual(await detectAccess(head, target), { style: 'bearer', resourceMetadataUrl: RM });
  });

  it('recognises a 302 to /cdn-cgi/access/login with a Cloudflare-Access challenge', async () => {
    const head: ResponseHead = {
      status: 302,
      headers: {
        location: 'https://team.cloudflareaccess.com/cdn-cgi/access/login/app.example.com?kid=aud123&redirect_url=%2Fdocs',
        'www-authenticate': `Cloudflare-Access resource_metadata="${RM}"`,
      },
    };
    const found = await detectAccess(head, target);
    assert.equal(found?.style, 'redirect');
    assert.equal(found?.resourceMetadataUrl, RM);
    assert.equal(found?.teamDomain, 'team.cloudflareaccess.com');
    assert.equal(found?.aud, 'aud123');
    assert.match(found?.loginUrl ?? '', /^https:\/\/team\.cloudflareaccess\.com\/cdn-cgi\/access\/login\//);
  });

  it('recognises a 403 carrying cf-access-aud (service auth only)', async () => {
    const head: ResponseHead = { status: 403, headers: { 'cf-access-aud': 'aud456', 'cf-access-domain': 'team.cloudflareaccess.com' } };
    const found = await detectAccess(head, target);
    assert.equal(found?.style, 'forbidden');
    assert.equal(found?.aud, 'aud456');
    assert.equal(found?.teamDomain, 'team.cloudflareaccess.com');
  });

  it('returns undefined for responses that are not Access', async () => {
    const heads: ResponseHead[] = [
      { status: 404, headers: { 'content-type': 'text/html' } },
      { status: 200, headers: {} },
      { status: 401, headers: { 'www-authenticate': 'Basic realm="x"' } },
      { status: 403, headers: {} },
      { status: 302, headers: { location: 'https://app.example.com/other' } },
      { status: 302, headers: { location: 'https://evil.example.com/cdn-cgi/access/login/app.example.com' } },
    ];
    for (const head of heads) assert.equal(await detectAccess(head, target), undefined, JSON.stringify(head));
  });
});

describe('detectAccess on the emulator', () => {
  let emulator: Emulator;
  before(async () => {
    emulator = await startEmulator();
  });
  after(() => emulator.close());

  async function headOf(url: string, headers: Record<string, string> = {}): Promise<ResponseHead> {
    const response = await fetch(url, { redirect: 'manual', headers });
    await response.arrayBuffer();
    const record: ResponseHead['headers'] = {};
    response.headers.forEach((value, name) => {
      record[name] = value;
    });
    return { status: response.status, headers: record };
  }

  it('sees the 401 Bearer challenge a non-browser client gets', async () => {
    const url = `${emulator.appUrl}/docs/page`;
    const found = await detectAccess(await headOf(url, { accept: 'application/json' }), new URL(url));
    assert.equal(found?.style, 'bearer');
    assert.equal(found?.resourceMetadataUrl, `${emulator.appUrl}/.well-known/cloudflare-access-protected-resource/docs/page`);
  });

  it('sees the login redirect a browser gets', async () => {
    const url = `${emulator.appUrl}/`;
    const found = await detectAccess(await headOf(url, { accept: 'text/html' }), new URL(url));
    assert.equal(found?.style, 'redirect');
    assert.equal(found?.aud, emulator.aud.app);
    assert.equal(found?.teamDomain, new URL(emulator.teamUrl).host);
    assert.ok(found?.resourceMetadataUrl?.startsWith(`${emulator.appUrl}/.well-known/`));
  });

  it('sees the 403 of a service-auth-only app', async (t) => {
    emulator.options.mode = 'service-auth-only';
    t.after(() => {
      emulator.options.mode = 'managed';
    });
    const url = `${emulator.appUrl}/`;
    const found = await detectAccess(await headOf(url, { accept: 'application/json' }), new URL(url));
    assert.equal(found?.style, 'forbidden');
    assert.equal(found?.aud, emulator.aud.app);
  });

  it('ignores an unprotected origin answering 404', async () => {
    const url = `${emulator.plainUrl}/no-such-page`;
    const head = await headOf(url);
    assert.equal(head.status, 404);
    assert.equal(await detectAccess(head, new URL(url)), undefined);
  });
});

describe('statuses Access never challenges with', () => {
  it('an answer other than a redirect, 401 or 403 is never a challenge, whatever headers it imitates', async () => {
    const target = new URL('https://app.example.com/page');
    const imitated = { 'www-authenticate': 'Bearer resource_metadata="https://app.example.com/.well-known/oauth-protected-resource"', 'cf-access-aud': 'a'.repeat(64), 'cf-access-domain': 'team.cloudflareaccess.com', location: 'https://team.cloudflareaccess.com/cdn-cgi/access/login/app.example.com' };
    for (const status of [200, 204, 404, 429, 500, 503]) {
      assert.equal(mayBeChallenge(status), false, String(status));
      assert.equal(await detectAccess({ status, headers: imitated }, target), undefined, String(status));
    }
    for (const status of [301, 302, 303, 307, 308, 401, 403]) {
      assert.equal(mayBeChallenge(status), true, String(status));
      assert.notEqual(await detectAccess({ status, headers: imitated }, target), undefined, String(status));
    }
  });
});
