import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AccessError } from '../../src/core/errors.js';
import { createDispatcher, send } from '../../src/http/client.js';
import { connectionProblem } from '../../src/http/network-errors.js';
import { loadConfig } from '../../src/service/config.js';
import { ROOT } from '../helpers/harness.js';

/** Issue 15 item 6: each network failure and each bad setting gets its own sentence and next step. */

const servers: Server[] = [];
const dispatcher = createDispatcher();
after(async () => {
  for (const server of servers) server.close();
  await dispatcher.close();
});

function listen(server: Server): Promise<number> {
  servers.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

async function failure(url: string): Promise<AccessError> {
  try {
    await send(dispatcher, new URL(url));
  } catch (error) {
    assert.ok(error instanceof AccessError, String(error));
    return error;
  }
  assert.fail(`${url} did not fail`);
}

const OPENSSL_TEXT = /SSL routines|ssl3_|error:0A|openssl|\.c:\d+/i;

describe('network failures in words a person can act on', () => {
  it('DNS: names the host and says to check it, not proxy or CA advice', async () => {
    const error = await failure('https://no-such-host.invalid/');
    assert.match(error.message, /no-such-host\.invalid could not be resolved \(DNS/);
    assert.match(error.nextStep, /Check the host name/);
    assert.doesNotMatch(error.nextStep, /NODE_EXTRA_CA_CERTS|proxy/i);
  });

  it('refused connection: names the port', async () => {
    const closed = createHttpServer();
    const port = await listen(closed);
    closed.close();
    const error = await failure(`http://127.0.0.1:${port}/`);
    assert.match(error.message, new RegExp(`connection to port ${port} was refused`));
    assert.match(error.nextStep, /Check the port/);
  });

  it('TLS spoken to a plain HTTP port: no OpenSSL text, says to use http:// or fix the port', async () => {
    const port = await listen(createHttpServer((_req, res) => res.end('plain')));
    const error = await failure(`https://127.0.0.1:${port}/`);
    assert.match(error.message, new RegExp(`port ${port} did not answer with TLS`));
    assert.match(error.nextStep, /Use http:\/\//);
    assert.doesNotMatch(`${error.message} ${error.nextStep}`, OPENSSL_TEXT);
    assert.doesNotMatch(error.message, /\n/);
  });

  it('a self-signed certificate: says which, and how to trust a corporate CA', async () => {
    const tls = createHttpsServer(
      { key: readFileSync(join(ROOT, 'test/fixtures/tls-self-signed.key')), cert: readFileSync(join(ROOT, 'test/fixtures/tls-self-signed.crt')) },
      (_req, res) => res.end('hi'),
    );
    const port = await listen(tls);
    const error = await failure(`https://127.0.0.1:${port}/`);
    assert.match(error.message, /not signed by a certificate authority this machine trusts \(it is self-signed\)/);
    assert.match(error.nextStep, /NODE_EXTRA_CA_CERTS/);
  });

  it('every certificate problem Node reports has its own sentence', () => {
    const url = new URL('https://app.example.com/');
    const kinds = new Map<string, string>([
      ['CERT_HAS_EXPIRED', 'certificate_expired'],
      ['CERT_NOT_YET_VALID', 'certificate_not_yet_valid'],
      ['ERR_TLS_CERT_ALTNAME_INVALID', 'certificate_host_mismatch'],
      ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'certificate_untrusted'],
      ['SELF_SIGNED_CERT_IN_CHAIN', 'certificate_untrusted'],
      ['CERT_REVOKED', 'certificate_revoked'],
      ['EAI_AGAIN', 'dns'],
      ['EHOSTUNREACH', 'unreachable'],
      ['ECONNRESET', 'reset'],
    ]);
    const sentences = new Set<string>();
    for (const [code, kind] of kinds) {
      const problem = connectionProblem(Object.assign(new Error('x'), { code }), url);
      assert.equal(problem?.kind, kind, code);
      sentences.add(problem!.reason);
    }
    assert.ok(sentences.size >= 8, 'distinct sentences');
    assert.equal(connectionProblem(new Error('something else'), url), undefined);
  });
});

describe('invalid environment values are warned about, with the value used instead', () => {
  it('names the variable, the bad value and the fallback', () => {
    const config = loadConfig({
      CF_ACCESS_MCP_LOGIN_TIMEOUT: 'abc',
      CF_ACCESS_MCP_CALLBACK_PORT: '99999',
      CF_ACCESS_MCP_REFRESH_SKEW: '-5',
      CF_ACCESS_MCP_MAX_BODY_BYTES: '12',
      CF_ACCESS_MCP_TIMEOUT_MS: '1.5',
      CF_ACCESS_MCP_CONVERT_BUDGET_MS: 'soon',
      CF_ACCESS_MCP_DENY_COOLDOWN: 'abc',
    });
    assert.equal(config.loginTimeoutMs, 300_000);
    assert.equal(config.callbackPort, 8400);
    const warnings = (config.warnings ?? []).join('\n');
    assert.match(warnings, /CF_ACCESS_MCP_LOGIN_TIMEOUT="abc" is not a whole number of seconds at least 1; using 300 instead\./);
    assert.match(warnings, /CF_ACCESS_MCP_DENY_COOLDOWN="abc" is not a whole number of seconds at least 1; using 600 instead\./);
    assert.match(warnings, /CF_ACCESS_MCP_CALLBACK_PORT="99999" is not a port number from 0 to 65535; using 8400 instead\./);
    for (const name of ['CF_ACCESS_MCP_REFRESH_SKEW', 'CF_ACCESS_MCP_MAX_BODY_BYTES', 'CF_ACCESS_MCP_TIMEOUT_MS', 'CF_ACCESS_MCP_CONVERT_BUDGET_MS']) assert.match(warnings, new RegExp(name));
  });

  it('valid values pass silently', () => {
    const config = loadConfig({ CF_ACCESS_MCP_LOGIN_TIMEOUT: '60', CF_ACCESS_MCP_CALLBACK_PORT: '0', CF_ACCESS_MCP_REFRESH_SKEW: '0' });
    assert.deepEqual(config.warnings, []);
    assert.equal(config.loginTimeoutMs, 60_000);
    assert.equal(config.callbackPort, 0);
  });
});
