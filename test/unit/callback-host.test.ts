import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callbackHostOrder, parseCallbackHost } from '../../src/auth/callback-host.js';
import { loadConfig } from '../../src/service/config.js';
import { describePending } from '../../src/service/pending.js';
import { refreshNote } from '../../src/service/refresh-note.js';

describe('callback host forms (issue 13 item 1)', () => {
  it('CF_ACCESS_MCP_CALLBACK_HOST takes localhost or 127.0.0.1; anything else is reported and ignored', () => {
    assert.deepEqual(parseCallbackHost(undefined), {});
    assert.deepEqual(parseCallbackHost(' 127.0.0.1 '), { host: '127.0.0.1' });
    assert.deepEqual(parseCallbackHost('LOCALHOST'), { host: 'localhost' });
    const bad = parseCallbackHost('0.0.0.0');
    assert.equal(bad.host, undefined);
    assert.match(bad.problem!, /CF_ACCESS_MCP_CALLBACK_HOST/);
    const config = loadConfig({ CF_ACCESS_MCP_CALLBACK_HOST: '[::1]' });
    assert.equal(config.callbackHost, undefined);
    assert.ok(config.warnings!.some((w) => w.includes('CF_ACCESS_MCP_CALLBACK_HOST')));
  });

  it('tries a forced form alone, else the remembered one first, else localhost first', () => {
    assert.deepEqual(callbackHostOrder('127.0.0.1', 'localhost'), ['127.0.0.1']);
    assert.deepEqual(callbackHostOrder(undefined, '127.0.0.1'), ['127.0.0.1', 'localhost']);
    assert.deepEqual(callbackHostOrder(undefined, undefined), ['localhost', '127.0.0.1']);
    assert.deepEqual(callbackHostOrder(undefined, 'evil.example'), ['localhost', '127.0.0.1'], 'a tampered store value is not used');
  });
});

describe('refresh notes (issue 13 item 2)', () => {
  const base = { origin: 'https://app.example.com', method: 'oauth' as const, access_token: 'x', obtained_at: 0 };

  it('no refresh token issued: names the grant session duration and how often the user signs in', () => {
    assert.equal(
      refreshNote({ ...base, expires_at: 15 * 60_000, refresh_token_issued: false }),
      'this application issues no refresh token — its grant session duration is 0; you will sign in again every 15 minutes',
    );
    assert.match(refreshNote({ ...base, expires_at: 2_000, refresh_token_issued: false })!, /every minute$/);
  });

  it('refresh grant refused at registration: refresh may not work; nothing to say otherwise', () => {
    assert.match(refreshNote({ ...base, refresh_token: 'r', refresh_grant_registered: false })!, /refresh may not work/);
    assert.equal(refreshNote({ ...base, refresh_token: 'r' }), undefined);
    assert.equal(refreshNote({ ...base, method: 'cloudflared', refresh_token_issued: false }), undefined);
  });

  it('the pending message carries the note as one more sentence', () => {
    const pending = describePending({
      origin: base.origin,
      method: 'oauth',
      authorizationUrl: 'https://team.cloudflareaccess.com/authorize',
      expiresAt: Date.now() + 60_000,
      browser: { opened: true },
      refreshNote: 'this application issues no refresh token',
    });
    assert.match(pending.message, /expired and was not renewed: this application issues no refresh token\./);
  });
});
