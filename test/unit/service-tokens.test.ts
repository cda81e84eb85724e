import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadServiceTokens, serviceTokenFor, serviceTokenHeaders, serviceTokenSecrets } from '../../src/auth/service-tokens.js';

const dir = mkdtempSync(join(tmpdir(), 'cfam-st-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const SECRET = 'cfast_unit-test-secret-value-0001';
const SECRET2 = 'cfast_unit-test-secret-value-0002';

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** No message may ever carry a secret. */
function assertNoSecret(messages: string[]): void {
  for (const m of messages) {
    assert.ok(!m.includes(SECRET) && !m.includes(SECRET2), `secret in message: ${m.slice(0, 40)}`);
  }
}

describe('service tokens from CF_ACCESS_CLIENT_ID / _SECRET / _HOSTS', () => {
  it('applies the pair to every listed host and nothing else', () => {
    const config = loadServiceTokens({
      CF_ACCESS_CLIENT_ID: 'abc.access',
      CF_ACCESS_CLIENT_SECRET: SECRET,
      CF_ACCESS_SERVICE_TOKEN_HOSTS: 'app.example.com, *.internal.example.com',
    });
    assert.deepEqual(config.problems, []);
    assert.deepEqual(config.unused, []);
    assert.equal(config.tokens.length, 2);
    assert.ok(serviceTokenFor(config, new URL('https://app.example.com/x')));
    assert.ok(serviceTokenFor(config, new URL('https://wiki.internal.example.com/')));
    assert.equal(serviceTokenFor(config, new URL('https://internal.example.com/')), undefined);
    assert.equal(serviceTokenFor(config, new URL('https://evil-app.example.com/')), undefined);
    assert.equal(serviceTokenFor(config, new URL('https://app.example.com.evil.net/')), undefined);
  });

  it('leaves a pair without a host list unused, and says why', () => {
    const config = loadServiceTokens({ CF_ACCESS_CLIENT_ID: 'abc.access', CF_ACCESS_CLIENT_SECRET: SECRET });
    assert.equal(config.tokens.length, 0);
    assert.equal(config.unused.length, 1);
    assert.match(config.unused[0]!, /CF_ACCESS_SERVICE_TOKEN_HOSTS/);
    assert.match(config.unused[0]!, /not sent anywhere/);
    assertNoSecret(config.unused);
  });

  it('reports half a pair as a problem', () => {
    const config = loadServiceTokens({ CF_ACCESS_CLIENT_SECRET: SECRET, CF_ACCESS_SERVICE_TOKEN_HOSTS: 'a.example.com' });
    assert.equal(config.tokens.length, 0);
    assert.match(config.problems[0]!, /CF_ACCESS_CLIENT_ID is missing/);
    assertNoSecret(config.problems);
  });

  it('reports bad host entries but keeps the good ones', () => {
    const config = loadServiceTokens({ CF_ACCESS_CLIENT_ID: 'abc.access', CF_ACCESS_CLIENT_SECRET: SECRET, CF_ACCESS_SERVICE_TOKEN_HOSTS: 'a.example.com,*.com' });
    assert.equal(config.tokens.length, 1);
    assert.equal(config.problems.length, 1);
    assert.match(config.problems[0]!, /\*\.com/);
  });

  it('is empty with nothing set', () => {
    const config = loadServiceTokens({});
    assert.deepEqual(config, { tokens: [], unused: [], problems: [] });
  });
});

describe('service tokens from a CF_ACCESS_SERVICE_TOKENS file', () => {
  it('reads literal pairs and pairs named by variables', () => {
    const path = file(
      'tokens.json',
      JSON.stringify({
        'a.example.com': { client_id: 'a.access', client_secret: SECRET },
        '*.b.example.com': { client_id_env: 'B_ID', client_secret_env: 'B_SECRET' },
      }),
    );
    const config = loadServiceTokens({ CF_ACCESS_SERVICE_TOKENS: path, B_ID: 'b.access', B_SECRET: SECRET2 });
    assert.deepEqual(config.problems, []);
    assert.equal(serviceTokenFor(config, new URL('https://a.example.com/'))?.clientId, 'a.access');
    assert.equal(serviceTokenFor(config, new URL('https://x.b.example.com/'))?.clientSecret, SECRET2);
    assert.equal(serviceTokenFor(config, new URL('https://b.example.com/')), undefined);
    assert.deepEqual(serviceTokenSecrets(config).sort(), [SECRET, SECRET2].sort());
  });

  it('prefers the most specific pattern', () => {
    const path = file(
      'specific.json',
      JSON.stringify({
        '*.example.com': { client_id: 'wide.access', client_secret: SECRET },
        'app.example.com': { client_id: 'narrow.access', client_secret: SECRET2 },
      }),
    );
    const config = loadServiceTokens({ CF_ACCESS_SERVICE_TOKENS: path });
    assert.equal(serviceTokenFor(config, new URL('https://app.example.com/'))?.clientId, 'narrow.access');
    assert.equal(serviceTokenFor(config, new URL('https://other.example.com/'))?.clientId, 'wide.access');
  });

  it('reports a missing variable, a malformed entry and a bad pattern, without secrets', () => {
    const path = file(
      'partial.json',
      JSON.stringify({
        'ok.example.com': { client_id: 'ok.access', client_secret: SECRET },
        'env.example.com': { client_id_env: 'NOPE_ID', client_secret_env: 'NOPE_SECRET' },
        'bad.example.com': { client_id: 'x.access', clientSecret: SECRET2 },
        'evil*.example.com': { client_id: 'y.access', client_secret: SECRET2 },
      }),
    );
    const config = loadServiceTokens({ CF_ACCESS_SERVICE_TOKENS: path });
    assert.equal(config.tokens.length, 1);
    assert.equal(config.problems.length, 3);
    assert.ok(config.problems.some((p) => /NOPE_ID and NOPE_SECRET/.test(p)));
    assert.ok(config.problems.some((p) => /bad\.example\.com/.test(p)));
    assert.ok(config.problems.some((p) => /evil\*\.example\.com/.test(p)));
    assertNoSecret(config.problems);
  });

  it('says plainly when the file is missing or not JSON, never quoting its content', () => {
    const missing = loadServiceTokens({ CF_ACCESS_SERVICE_TOKENS: join(dir, 'nope.json') });
    assert.match(missing.problems[0]!, /no such file/);
    const broken = loadServiceTokens({ CF_ACCESS_SERVICE_TOKENS: file('broken.json', `{"a.example.com": {"client_secret": "${SECRET}"`) });
    assert.match(broken.problems[0]!, /not valid JSON/);
    assertNoSecret(broken.problems);
    const array = loadServiceTokens({ CF_ACCESS_SERVICE_TOKENS: file('array.json', `["${SECRET}"]`) });
    assert.match(array.problems[0]!, /must be a JSON object/);
    assertNoSecret(array.problems);
  });
});

describe('service token headers', () => {
  const config = loadServiceTokens({ CF_ACCESS_CLIENT_ID: 'abc.access', CF_ACCESS_CLIENT_SECRET: SECRET, CF_ACCESS_SERVICE_TOKEN_HOSTS: 'a.example.com' });
  const token = config.tokens[0]!;

  it('sends the documented pair by default', () => {
    assert.deepEqual(serviceTokenHeaders(token), { 'cf-access-client-id': 'abc.access', 'cf-access-client-secret': SECRET });
  });

  it('sends one header with lowercase JSON keys in single-header mode', () => {
    const single = loadServiceTokens({
      CF_ACCESS_CLIENT_ID: 'abc.access',
      CF_ACCESS_CLIENT_SECRET: SECRET,
      CF_ACCESS_SERVICE_TOKEN_HOSTS: 'a.example.com',
      CF_ACCESS_SERVICE_TOKEN_HEADER: 'Authorization',
    });
    assert.equal(single.header, 'authorization');
    const headers = serviceTokenHeaders(single.tokens[0]!, single.header);
    assert.deepEqual(Object.keys(headers), ['authorization']);
    assert.deepEqual(JSON.parse(headers.authorization!), { 'cf-access-client-id': 'abc.access', 'cf-access-client-secret': SECRET });
  });

  it('refuses an unusable header name', () => {
    const bad = loadServiceTokens({ CF_ACCESS_SERVICE_TOKEN_HEADER: 'bad header' });
    assert.equal(bad.header, undefined);
    assert.match(bad.problems[0]!, /not a usable header name/);
  });
});
