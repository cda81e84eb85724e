import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AccessError } from '../../src/core/errors.js';
import { loadConfig } from '../../src/service/config.js';
import { AccessService } from '../../src/service/access-service.js';
import { ServiceTokenMethod } from '../../src/service/login-methods.js';
import { loadServiceTokens } from '../../src/auth/service-tokens.js';
import { CredentialMethodSchema } from '../../src/auth/methods.js';

/**
 * Service tokens are one of the login methods (issue 12): a configured
 * credential in the same registry as managed OAuth and cloudflared, whose
 * "login" is immediate and never pending, sent only to the hosts listed.
 */

const SECRET = 'cfast_unit-login-methods-secret-0001';
const homes: string[] = [];
after(() => {
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

function tokens() {
  return loadServiceTokens({ CF_ACCESS_CLIENT_ID: 'abc.access', CF_ACCESS_CLIENT_SECRET: SECRET, CF_ACCESS_SERVICE_TOKEN_HOSTS: 'app.example.com,*.internal.example.com' });
}

describe('ServiceTokenMethod', () => {
  const method = new ServiceTokenMethod(tokens());

  it('gives its headers only to the hosts the user listed', () => {
    assert.deepEqual(method.configuredHeaders(new URL('https://app.example.com/x')), { 'cf-access-client-id': 'abc.access', 'cf-access-client-secret': SECRET });
    assert.ok(method.configuredHeaders(new URL('https://wiki.internal.example.com/')));
    assert.equal(method.configuredHeaders(new URL('https://evil.example.com/')), undefined);
    assert.equal(method.configuredHeaders(new URL('https://app.example.com.evil.test/')), undefined);
  });

  it('has nothing to log in to: begin is immediate (refused for a listed host, missing otherwise), nothing is ever pending', async () => {
    assert.equal(method.logsIn, false);
    await assert.rejects(method.begin(new URL('https://app.example.com/'), { style: 'redirect' }, { mayStart: () => assert.fail('no login starts'), status: 302 }), (error: AccessError) => {
      assert.equal(error.code, 'service_token_refused');
      assert.match(error.message, /redirected to the Access login page/);
      assert.ok(!error.message.includes(SECRET) && !error.nextStep.includes(SECRET));
      return true;
    });
    await assert.rejects(method.begin(new URL('https://other.example.com/'), { style: 'bearer' }, { mayStart: () => {} }), (error: AccessError) => error.code === 'service_token_missing');
    assert.equal(method.pendingFor(), undefined);
    assert.deepEqual(method.pendingKeys(), []);
    assert.equal(await method.cancel(), false);
  });

  it('names the single header when one is configured, and every secret to scrub', () => {
    const single = new ServiceTokenMethod({ ...tokens(), header: 'x-access-token' });
    assert.deepEqual(single.headerNames, ['x-access-token']);
    assert.deepEqual(Object.keys(single.configuredHeaders(new URL('https://app.example.com/'))!), ['x-access-token']);
    assert.deepEqual(method.secretsFor(), [SECRET]);
  });
});

describe('the registry holds every method', () => {
  function service(env: Record<string, string> = {}): AccessService {
    const home = mkdtempSync(join(tmpdir(), 'cfam-methods-'));
    homes.push(home);
    return new AccessService(loadConfig({ CF_ACCESS_MCP_HOME: home, ...env }), () => {});
  }

  it('one implementation per credential method, service tokens included', async () => {
    const svc = service();
    try {
      assert.deepEqual(svc.methods.all().map((m) => m.name).sort(), [...CredentialMethodSchema.options].sort());
    } finally {
      await svc.close();
    }
  });

  it('credentials for a listed host come from the configured method, for any other host from nowhere', async () => {
    const svc = service({ CF_ACCESS_CLIENT_ID: 'abc.access', CF_ACCESS_CLIENT_SECRET: SECRET, CF_ACCESS_SERVICE_TOKEN_HOSTS: 'app.example.com' });
    try {
      const listed = new URL('https://app.example.com/');
      assert.equal(svc.methods.configuredFor(listed)?.name, 'service_token');
      assert.deepEqual(Object.keys(await svc.credentialsFor(listed)), ['cf-access-client-id', 'cf-access-client-secret']);
      // Refused in this call at that origin: not sent again, and no session either.
      assert.deepEqual(await svc.credentialsFor(listed, new Set([listed.origin])), {});
      assert.deepEqual(await svc.credentialsFor(new URL('https://other.example.com/')), {});
      assert.equal(svc.methodOfHeaders(listed, ['cf-access-client-id', 'cf-access-client-secret']), 'service_token');
      assert.equal(svc.methodOfHeaders(new URL('https://other.example.com/'), ['authorization']), 'oauth');
      assert.equal(svc.methodOfHeaders(new URL('https://other.example.com/'), ['cf-access-token']), 'cloudflared');
      assert.equal(svc.methodOfHeaders(listed, []), 'none');
    } finally {
      await svc.close();
    }
  });
});
