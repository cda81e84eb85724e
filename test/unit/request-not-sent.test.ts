import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { AccessError } from '../../src/core/errors.js';
import { createDispatcher, send } from '../../src/http/client.js';

/**
 * A request undici refuses to send because of the caller's own headers is the
 * caller's to fix, not a network problem: "Could not reach …" with advice
 * about VPNs and proxies sent an agent the wrong way.
 */

let server: Server;
let base: URL;
const dispatcher = createDispatcher();

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
});

after(async () => {
  await dispatcher.close();
  server.close();
});

async function refusal(headers: Record<string, string>): Promise<AccessError> {
  try {
    await send(dispatcher, base, { method: 'POST', headers, body: 'hello' });
  } catch (error) {
    assert.ok(error instanceof AccessError);
    return error;
  }
  assert.fail('the request was sent');
}

for (const [what, headers] of [
  ['a content-length that does not match the body', { 'content-length': '2' }],
  ['an expect header', { expect: '100-continue' }],
] as const) {
  test(`${what}: the request was not sent, check its headers (not "could not reach")`, async () => {
    const error = await refusal(headers);
    assert.equal(error.code, 'invalid_url', error.message);
    assert.match(error.message, /was not sent/);
    assert.doesNotMatch(`${error.message} ${error.nextStep}`, /Could not reach|VPN|HTTPS_PROXY/);
    assert.match(error.nextStep, /headers/);
  });
}
