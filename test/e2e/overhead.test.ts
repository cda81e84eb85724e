import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually, ROOT, TestServer, textOf } from '../helpers/harness.js';
import { e2eSuite } from '../helpers/suite.js';

/**
 * Issue 16, the server's own overhead per call: a warm access_fetch looks at
 * the store at most once (one lstat of store.json; none while the watch on
 * the store directory has seen no change), however the call uses it
 * (pending-login check, credential lookup, what the body is scrubbed of).
 */

const suite = e2eSuite();
const { secrets } = suite;

const COUNTER = pathToFileURL(join(ROOT, 'test', 'fixtures', 'count-store-stats.mjs')).href;
const storeLooks = (s: TestServer) => s.stderr.join('').split('\n').filter((line) => line === 'store-lstat').length;

/** Looks counted once the server's stderr has stopped growing (it is piped, so it arrives a little after the result). */
async function settledLooks(s: TestServer): Promise<number> {
  let last = -1;
  const settled = await eventually(async () => {
    const now = storeLooks(s);
    const stable = now === last;
    last = now;
    await sleep(150);
    return stable ? { now } : undefined;
  }, 10_000, 'stderr to settle');
  return settled!.now;
}

describe('store lookups per call', () => {
  it('a warm fetch (raw or Markdown) looks at the store at most once, and a page that echoes the token is still scrubbed', async () => {
    const e = await suite.emulator({ approval: 'auto' });
    const s = await suite.server({ env: { NODE_OPTIONS: `--import ${COUNTER}` } });
    const login = await s.call('access_fetch', { url: `${e.appUrl}/` });
    assert.ok(!login.isError, textOf(login));
    const stored = JSON.parse(readFileSync(join(s.home, 'store.json'), 'utf8')) as { sessions: Record<string, { access_token: string }> };
    const token = Object.values(stored.sessions)[0]!.access_token;
    secrets.add(token);
    // Past the idle warm-up (which reads the store once too).
    await s.call('access_fetch', { url: `${e.appUrl}/doc?kb=4`, format: 'raw' });
    for (const args of [{ format: 'raw' }, {}, { format: 'raw' }]) {
      const before = await settledLooks(s);
      const result = await s.call('access_fetch', { url: `${e.appUrl}/doc?kb=4`, ...args });
      assert.ok(!result.isError, textOf(result));
      const looks = (await settledLooks(s)) - before;
      assert.ok(looks <= 1, `store looked at ${looks} times for ${JSON.stringify(args)}`);
    }
    // Calls in a row while nothing changes in the store directory: the watch answers for it, not an lstat per call.
    const before = await settledLooks(s);
    for (let i = 0; i < 5; i++) assert.ok(!(await s.call('access_fetch', { url: `${e.appUrl}/doc?kb=4`, format: 'raw' })).isError);
    const looks = (await settledLooks(s)) - before;
    assert.ok(looks < 5, `five calls in a row looked at the store ${looks} times`);
    // The emulator's /echo returns the request as it saw it, credential included: the token sent is scrubbed from them.
    const echo = await s.call('access_fetch', { url: `${e.appUrl}/echo`, format: 'raw' });
    assert.match(textOf(echo), /\[redacted\]/, 'the echo carried the credential, scrubbed');
    assert.ok(!textOf(echo).includes(token.slice(token.lastIndexOf(':') + 1)), 'the sent token never comes back');
  });
});
