import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, describe, it } from 'node:test';
import { CallbackListener, type CallbackParams } from '../../src/auth/callback-server.js';
import { AccessError } from '../../src/core/errors.js';
import { rawGet } from '../helpers/unit.js';

const get = rawGet;

const heading = (html: string) => /<h1[^>]*>([^<]*)<\/h1>/.exec(html)?.[1] ?? '';

/** Tracks whether a waiter settled, without awaiting it. */
function track(promise: Promise<CallbackParams>): { settled: () => boolean; promise: Promise<CallbackParams> } {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  return { settled: () => settled, promise };
}

function portOf(redirectUri: string): number {
  const url = new URL(redirectUri);
  assert.equal(url.hostname, 'localhost');
  assert.equal(url.pathname, '/callback');
  return Number(url.port);
}

async function ipv6Available(): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => server.close(() => resolve(true)));
  });
}

function holdPort(port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const listeners: CallbackListener[] = [];
function newListener(preferredPort = 0, log?: (level: string, message: string) => void): CallbackListener {
  const listener = new CallbackListener({ preferredPort, log });
  listeners.push(listener);
  return listener;
}
after(() => {
  for (const l of listeners) l.shutdown(new Error('test over'));
});

describe('CallbackListener', () => {
  it('answers a valid callback once, with a success page, and resolves the login', async () => {
    const listener = newListener();
    const port = portOf(await listener.start());
    const keepOpen = track(listener.expect('other-state', 'x.example.com', 30_000));
    const login = listener.expect('good-state', 'app.example.com', 30_000);
    const first = await get('127.0.0.1', port, '/callback?code=the-code&state=good-state');
    assert.equal(first.status, 200);
    assert.match(heading(first.body), /signed in/i);
    assert.ok(first.body.includes('app.example.com'));
    assert.ok(!first.body.includes('the-code'), 'the code is not echoed to the page');
    assert.deepEqual(await login, { code: 'the-code', error: undefined, error_description: undefined });

    // One-shot: replaying the same state is refused.
    const replay = await get('127.0.0.1', port, '/callback?code=another-code&state=good-state');
    assert.equal(replay.status, 400);
    assert.match(replay.body, /does not belong to a login in progress/);
    assert.equal(keepOpen.settled(), false, 'other logins are untouched');
  });

  it('refuses an unknown or missing state and completes nothing', async () => {
    const listener = newListener();
    const port = portOf(await listener.start());
    const login = track(listener.expect('expected-state', 'app.example.com', 30_000));
    for (const path of ['/callback?code=c1&state=wrong-state', '/callback?code=c2', '/callback?code=c3&state=']) {
      const reply = await get('127.0.0.1', port, path);
      assert.equal(reply.status, 400, path);
      assert.match(heading(reply.body), /not valid/i);
    }
    assert.equal(login.settled(), false);
    // The right state still completes afterwards.
    assert.equal((await get('127.0.0.1', port, '/callback?code=c4&state=expected-state')).status, 200);
    assert.equal((await login.promise).code, 'c4');
  });

  it('refuses a request whose Host header is not loopback (DNS rebinding)', async () => {
    const listener = newListener();
    const port = portOf(await listener.start());
    const login = track(listener.expect('s1', 'app.example.com', 30_000));
    for (const host of [`evil.example.com:${port}`, 'localhost', `localhost:${port + 1}`, `127.0.0.1.nip.io:${port}`]) {
      const reply = await get('127.0.0.1', port, '/callback?code=c&state=s1', host);
      assert.equal(reply.status, 400, `Host ${host}`);
      assert.match(heading(reply.body), /unexpected host/i);
    }
    assert.equal((await get('127.0.0.1', port, '/callback?code=c&state=s1', null)).status, 400, 'no Host header');
    assert.equal(login.settled(), false, 'a refused Host consumes no state');
    assert.equal((await get('127.0.0.1', port, '/callback?code=c&state=s1', `LOCALHOST:${port}`)).status, 200);
    assert.equal((await login.promise).code, 'c');
  });

  it('answers 404 to other paths without touching logins', async () => {
    const listener = newListener();
    const port = portOf(await listener.start());
    const login = track(listener.expect('s2', 'app.example.com', 30_000));
    assert.equal((await get('127.0.0.1', port, '/?state=s2&code=c')).status, 404);
    assert.equal((await get('127.0.0.1', port, '/callback/extra?state=s2&code=c')).status, 404);
    assert.equal(login.settled(), false);
  });

  it('reports an authorization error (Deny) to the login and shows a clear page', async () => {
    const listener = newListener();
    const port = portOf(await listener.start());
    const login = listener.expect('s3', 'app.example.com', 30_000);
    const reply = await get('127.0.0.1', port, '/callback?error=access_denied&error_description=The+user+denied&state=s3');
    assert.equal(reply.status, 200);
    assert.match(heading(reply.body), /denied/i);
    assert.equal((await login).error, 'access_denied');
  });

  it('listens on 127.0.0.1 and on ::1 when the machine has IPv6 loopback', async (t) => {
    const listener = newListener();
    const port = portOf(await listener.start());
    const v4 = track(listener.expect('v4-state', 'app.example.com', 30_000));
    assert.equal((await get('127.0.0.1', port, '/callback?code=a&state=v4-state', `127.0.0.1:${port}`)).status, 200);
    assert.equal((await v4.promise).code, 'a');
    if (!(await ipv6Available())) {
      t.skip('no IPv6 loopback on this machine');
      return;
    }
    const v6 = listener.expect('v6-state', 'app.example.com', 30_000);
    assert.equal((await get('::1', port, '/callback?code=b&state=v6-state', `[::1]:${port}`)).status, 200);
    assert.equal((await v6).code, 'b');
  });

  it('uses another port when the preferred one is busy, and says so', async () => {
    const held = await holdPort();
    const busy = (held.address() as { port: number }).port;
    const messages: string[] = [];
    try {
      const listener = newListener(busy, (_level, message) => messages.push(message));
      const port = portOf(await listener.start());
      assert.notEqual(port, busy);
      assert.ok(messages.some((m) => m.includes(String(busy)) && /busy/.test(m)), messages.join(' | '));
      const login = listener.expect('s4', 'app.example.com', 30_000);
      assert.equal((await get('127.0.0.1', port, '/callback?code=c&state=s4')).status, 200);
      assert.equal((await login).code, 'c');
    } finally {
      held.close();
    }
  });

  it('delivers a pasted-back callback URL with the same state checks', async () => {
    const listener = newListener();
    const redirectUri = await listener.start();
    const login = listener.expect('s5', 'app.example.com', 30_000);
    assert.equal(listener.deliver('not a url').ok, false);
    assert.equal(listener.deliver(`${redirectUri.replace('/callback', '/elsewhere')}?code=c&state=s5`).ok, false);
    assert.equal(listener.deliver(`${redirectUri}?code=c&state=wrong`).ok, false);
    assert.equal(listener.deliver(`${redirectUri}?code=pasted&state=s5`).ok, true);
    assert.equal((await login).code, 'pasted');
    assert.equal(listener.deliver(`${redirectUri}?code=again&state=s5`).ok, false, 'one-shot');
  });

  it('times a login out with a clear error and closes when nobody waits', async () => {
    const listener = newListener();
    const port = portOf(await listener.start());
    const error = await listener.expect('s6', 'app.example.com', 50).then(
      () => assert.fail('should time out'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof AccessError);
    assert.equal(error.code, 'login_timeout');
    assert.ok(error.nextStep.length > 0);
    assert.equal(listener.redirectUri, undefined, 'stopped listening');
    await assert.rejects(get('127.0.0.1', port, '/callback?code=c&state=s6'), /ECONNREFUSED/);
  });

  it('stays open while held (a login registering its redirect URI with this port), and closes once released and idle', async () => {
    const listener = newListener();
    const redirectUri = await listener.start();
    const release = listener.hold();
    const ended = listener.expect('s8', 'app.example.com', 30_000);
    listener.cancel('s8', new Error('the previous attempt ended'));
    await assert.rejects(ended, /previous attempt ended/);
    assert.equal(listener.redirectUri, redirectUri, 'nobody waits, but the listener is held');
    const next = listener.expect('s9', 'app.example.com', 30_000);
    release();
    assert.equal(listener.redirectUri, redirectUri, 'released with a login waiting: still listening');
    listener.cancel('s9', new Error('done'));
    await assert.rejects(next, /done/);
    assert.equal(listener.redirectUri, undefined, 'closed once nobody waits or holds it');
  });

  it('cancel rejects the waiting login with the given reason', async () => {
    const listener = newListener();
    await listener.start();
    const login = listener.expect('s7', 'app.example.com', 30_000);
    listener.cancel('s7', new Error('cancelled by test'));
    await assert.rejects(login, /cancelled by test/);
  });
});

describe('callback pages are neutral (issue 15 item 3)', () => {
  it('no page names an MCP tool, a tool argument or an agent; they point back to the application that started the sign-in', async () => {
    const listener = newListener();
    const port = portOf(await listener.start());
    const ok = listener.expect('ok-state', 'app.example.com', 30_000);
    const denied = listener.expect('denied-state', 'app.example.com', 30_000).catch(() => undefined);
    const pages = [
      await get('127.0.0.1', port, '/callback?code=c&state=ok-state'),
      await get('127.0.0.1', port, '/callback?error=access_denied&state=denied-state'),
      await get('127.0.0.1', port, '/callback?code=c&state=unknown-state'),
      await get('127.0.0.1', port, '/callback?code=c&state=ok-state', `evil.example.com:${port}`),
      await get('127.0.0.1', port, '/elsewhere'),
      await get('127.0.0.1', port, '/start/not-a-start-link'),
    ];
    await ok;
    await denied;
    for (const page of pages) {
      assert.doesNotMatch(page.body, /access_(login|fetch|status|logout)|callback_url|force: true|\bagent\b/i, heading(page.body));
    }
    assert.match(pages[0]!.body, /return to the application that started the sign-in/);
    assert.match(pages[1]!.body, /Return to the application that started the sign-in/);
  });
});
