import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { after, describe, it } from 'node:test';
import { parseCallbackBind } from '../../src/auth/callback-host.js';
import { CallbackListener } from '../../src/auth/callback-server.js';
import { AccessError } from '../../src/core/errors.js';
import { rawGet } from '../helpers/unit.js';
import { loadConfig } from '../../src/service/config.js';
import { describePending } from '../../src/service/pending.js';

/** Issue 13 item 4: CF_ACCESS_MCP_CALLBACK_BIND for forwarded ports, with the Host check and state kept. */

const get = (address: string, port: number, path: string, host: string) => rawGet(address, port, path, host);

/** An IPv4 address of this machine that is not loopback (what a forwarded port arrives on in a container), if any. */
function externalAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((entry) => entry && entry.family === 'IPv4' && !entry.internal)?.address;
}

const listeners: CallbackListener[] = [];
after(() => {
  for (const listener of listeners) listener.shutdown(new AccessError('login_timeout', 'test over', 'none'));
});

describe('CF_ACCESS_MCP_CALLBACK_BIND', () => {
  it('accepts IP addresses and reports anything else', () => {
    assert.deepEqual(parseCallbackBind(undefined), {});
    assert.deepEqual(parseCallbackBind(' 0.0.0.0 '), { address: '0.0.0.0' });
    assert.deepEqual(parseCallbackBind('[::]'), { address: '::' });
    assert.match(parseCallbackBind('everywhere').problem ?? '', /not an IP address/);
    assert.equal(loadConfig({ CF_ACCESS_MCP_CALLBACK_BIND: '0.0.0.0' }).callbackBind, '0.0.0.0');
    const bad = loadConfig({ CF_ACCESS_MCP_CALLBACK_BIND: 'example.com' });
    assert.equal(bad.callbackBind, undefined);
    assert.ok(bad.warnings?.some((w) => w.includes('CF_ACCESS_MCP_CALLBACK_BIND')));
  });

  it('a listener bound to 0.0.0.0 answers a forwarded callback, still checking Host and state', async () => {
    const listener = new CallbackListener({ preferredPort: 0, bind: '0.0.0.0' });
    listeners.push(listener);
    const redirectUri = await listener.start();
    const port = Number(new URL(redirectUri).port);
    const waiting = listener.expect('the-state', 'app.example', 30_000);
    const address = externalAddress() ?? '127.0.0.1';

    const wrongHost = await get(address, port, '/callback?code=c&state=the-state', `evil.example:${port}`);
    assert.equal(wrongHost.status, 400, 'a request not addressed to localhost is refused');
    const wrongState = await get(address, port, '/callback?code=c&state=other', `localhost:${port}`);
    assert.equal(wrongState.status, 400, 'an unknown state completes nothing');
    const good = await get(address, port, '/callback?code=the-code&state=the-state', `localhost:${port}`);
    assert.equal(good.status, 200, good.body);
    assert.deepEqual(await waiting, { code: 'the-code', error: undefined, error_description: undefined });
  });

  it('the pending text names the port to forward as well as the paste-back', () => {
    const pending = describePending(
      { origin: 'https://app.example', method: 'oauth', authorizationUrl: 'https://team.example/authorize', expiresAt: Date.now() + 60_000, browser: { opened: false, reason: 'no browser here' } },
      { callbackUri: 'http://localhost:8400/callback' },
    );
    assert.match(pending.next_step, /callback_url/);
    assert.match(pending.next_step, /ssh -L 8400:localhost:8400/);
    assert.match(pending.next_step, /VS Code/);
  });
});
