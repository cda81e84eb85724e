import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Emulator, FaultEndpoint, FaultKind } from '../../src/emulator/index.js';
import { cleanupHomes, eventually, type ServerOptions, startEmulator, tempHome, TestServer, textOf, resultData, processGone } from '../helpers/harness.js';
import { assertNoSecretsLeaked } from '../helpers/leaks.js';

/**
 * Issue 7: every injected fault, and the failures a user can meet around a login, each
 * provoked through the built server. Each case checks three things: a clear error that
 * names the next step (or, where the server is meant to ride it out, a normal answer), the
 * server still answers the next call, and the store still holds what it held before.
 */

/** Short enough to keep the suite quick, long enough for a loaded machine's normal answers. */
const TIMEOUT_ENV = { CF_ACCESS_MCP_TIMEOUT_MS: '1000' };
const DELAY_MS = 3000;

let emulator: Emulator;
let home: string;
let server: TestServer;
/** The server must be replaced (a pending login or a cached discovery would skew the next case). */
let restartNeeded = false;
const servers: TestServer[] = [];

async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const started = await TestServer.start({ home, ...options, env: { ...TIMEOUT_ENV, ...options.env } });
  servers.push(started);
  return started;
}

const appUrl = () => `${emulator.appUrl}/`;
const app2Url = () => `${emulator.app2Url}/`;

type Sessions = Record<string, Record<string, unknown>>;

function storedSessions(dir = home): Sessions {
  return (JSON.parse(readFileSync(join(dir, 'store.json'), 'utf8')) as { sessions: Sessions }).sessions;
}

/** A pending login is a result the agent acts on, not an error. */
function assertPending(result: CallToolResult): void {
  const text = textOf(result);
  assert.notEqual(result.isError, true, `a pending login is not an error: ${text.slice(0, 300)}`);
  assert.match(text, /^Login pending: /);
  assert.match(text, /Next step: \S/, `no next step in: ${text}`);
}

function assertError(result: CallToolResult, message?: RegExp): void {
  const text = textOf(result);
  assert.equal(result.isError, true, `expected an error, got: ${text.slice(0, 300)}`);
  assert.match(text, /Next step: \S/, `no next step in: ${text}`);
  if (message) assert.match(text, message);
}

function assertOk(result: CallToolResult): void {
  assert.notEqual(result.isError, true, `unexpected error: ${textOf(result).slice(0, 500)}`);
}

/** The server answers its next call. */
async function assertStillAnswers(target = server): Promise<void> {
  assertOk(await target.call('access_status', {}));
}

/** A clean server: no session for the app, no discovery cached, no login pending. */
async function cleanServer(): Promise<TestServer> {
  // Also when no session is stored: a login that failed holds back the next browser, and logout starts over.
  assertOk(await server.call('access_logout', { url: appUrl() }));
  if (restartNeeded) {
    await server.close();
    server = await startServer();
    restartNeeded = false;
  }
  return server;
}

before(async () => {
  emulator = await startEmulator();
  home = tempHome();
  server = await startServer();
  // app2 is logged in first: every case checks that its session survives untouched.
  assertOk(await server.call('access_fetch', { url: app2Url() }));
  assert.ok(storedSessions()[emulator.app2Url]);
});

after(async () => {
  emulator.setFault(null);
  await Promise.all(servers.map((s) => s.close()));
  assertNoSecretsLeaked(emulator.secrets());
  await emulator.close();
  cleanupHomes();
});

type Expect =
  | { error: RegExp }
  /** The server is meant to ride this out: the fetch succeeds (the login happens). */
  | { ok: true }
  /** The origin's own answer is passed through with its status. */
  | { status: number };

interface FaultCase {
  endpoint: FaultEndpoint;
  kind: FaultKind;
  expect: Expect;
}

const TIMED_OUT = /Timed out: .* did not answer in time/;
const DROPPED = /connection was closed unexpectedly/;
const HUGE_HEADER = /headers larger than 64 KB/;
const NOT_JSON = /not valid JSON/;
const MALFORMED = /is malformed \(/;

const loginFaults: FaultCase[] = [];
for (const endpoint of ['resource_metadata', 'server_metadata', 'registration', 'token'] as const) {
  loginFaults.push(
    { endpoint, kind: '5xx', expect: { error: /503|temporarily_unavailable/ } },
    { endpoint, kind: 'delay', expect: { error: TIMED_OUT } },
    { endpoint, kind: 'drop', expect: { error: DROPPED } },
    { endpoint, kind: 'malformed_json', expect: { error: NOT_JSON } },
    { endpoint, kind: 'missing_fields', expect: { error: MALFORMED } },
    { endpoint, kind: 'huge_header', expect: { error: HUGE_HEADER } },
    // 50 MB of JSON-looking padding: read up to the 1 MB cap, then refused.
    { endpoint, kind: 'huge_body', expect: { error: NOT_JSON } },
  );
}
loginFaults.push(
  { endpoint: 'resource_metadata', kind: 'metadata_other_origin', expect: { error: /claims to describe https:\/\/evil\.example\.com/ } },
  { endpoint: 'resource_metadata', kind: 'http_authorization_server', expect: { error: /not served over https/ } },
  { endpoint: 'server_metadata', kind: 'authorization_server_other_host', expect: { error: /points at another host \(other\.example\.net\)/ } },
  { endpoint: 'token', kind: 'no_access_token', expect: { error: /access_token/ } },
  // The unauthenticated probe: a 503 without a challenge is the site's own answer.
  { endpoint: 'probe', kind: '5xx', expect: { status: 503 } },
  { endpoint: 'probe', kind: 'delay', expect: { error: TIMED_OUT } },
  { endpoint: 'probe', kind: 'drop', expect: { error: DROPPED } },
  { endpoint: 'probe', kind: 'huge_header', expect: { error: HUGE_HEADER } },
  // A 401 whose challenge lacks resource_metadata is no Access challenge: the site's 401 is passed through.
  { endpoint: 'probe', kind: 'missing_fields', expect: { status: 401 } },
  // A 401 challenge with a 50 MB body: the body is discarded unread and the login goes on.
  { endpoint: 'probe', kind: 'huge_body', expect: { ok: true } },
);

describe('faults on the login path (access_fetch of a protected page, no session yet)', () => {
  for (const c of loginFaults) {
    it(`${c.endpoint} ${c.kind}`, async () => {
      await cleanServer();
      const before = storedSessions();
      emulator.clearLog();
      emulator.setFault({ endpoint: c.endpoint, kind: c.kind, delayMs: DELAY_MS });
      let result: CallToolResult;
      try {
        result = await server.call('access_fetch', { url: appUrl(), wait_seconds: 20 });
      } finally {
        emulator.setFault(null);
      }
      assert.ok(emulator.requests({ endpoint: c.endpoint }).length >= 1, `the ${c.endpoint} fault was never reached`);
      if ('error' in c.expect) {
        assertError(result, c.expect.error);
        assert.deepEqual(storedSessions(), before, 'the store changed');
      } else if ('status' in c.expect) {
        assertOk(result);
        assert.equal((resultData(result) as { status: number }).status, c.expect.status);
        assert.match(textOf(result), new RegExp(`^HTTP ${c.expect.status}`));
        assert.deepEqual(storedSessions(), before, 'the store changed');
      } else {
        assertOk(result);
        assert.equal((resultData(result) as { auth: string }).auth, 'oauth');
        restartNeeded = true; // discovery is cached now
      }
      await assertStillAnswers();
      assert.deepEqual(storedSessions()[emulator.app2Url], before[emulator.app2Url], 'the other host’s session changed');
    });
  }
});

const resourceFaults: FaultCase[] = [
  { endpoint: 'resource', kind: '5xx', expect: { status: 503 } },
  { endpoint: 'resource', kind: 'delay', expect: { error: TIMED_OUT } },
  { endpoint: 'resource', kind: 'drop', expect: { error: DROPPED } },
  { endpoint: 'resource', kind: 'huge_header', expect: { error: HUGE_HEADER } },
  // A truncated JSON body is still the origin's answer: shown as text.
  { endpoint: 'resource', kind: 'malformed_json', expect: { status: 200 } },
  // 50 MB sent as text/html: read up to the body cap, converted, and flagged as cut short.
  { endpoint: 'resource', kind: 'huge_body', expect: { status: 200 } },
];

describe('faults after the login (session stored)', () => {
  /** Its own server, logged in once; a 1 MB body cap keeps the huge body quick. */
  let warm: TestServer;
  const loggedIn = async () => {
    if (!storedSessions()[emulator.appUrl]) assertOk(await warm.call('access_fetch', { url: appUrl() }));
  };

  before(async () => {
    warm = await startServer({ env: { CF_ACCESS_MCP_MAX_BODY_BYTES: String(1024 * 1024) } });
    // The login faults above leave a failed login on record (it holds back the next browser): start over.
    assertOk(await warm.call('access_logout', { url: appUrl() }));
  });

  after(async () => {
    assertOk(await warm.call('access_logout', { url: appUrl() }));
    await warm.close();
  });

  for (const c of resourceFaults) {
    it(`${c.endpoint} ${c.kind}`, async () => {
      await loggedIn();
      const before = storedSessions();
      emulator.clearLog();
      emulator.setFault({ endpoint: c.endpoint, kind: c.kind, delayMs: DELAY_MS });
      let result: CallToolResult;
      try {
        result = await warm.call('access_fetch', { url: appUrl() });
      } finally {
        emulator.setFault(null);
      }
      // A GET whose connection is dropped before any answer is sent once more (then reported), never a login.
      assert.equal(emulator.requests({ endpoint: 'resource' }).length, c.kind === 'drop' ? 2 : 1, 'no login');
      if ('error' in c.expect) assertError(result, c.expect.error);
      else if ('status' in c.expect) {
        assertOk(result);
        assert.equal((resultData(result) as { status: number }).status, c.expect.status);
      }
      if (c.kind === 'huge_body') assert.ok((resultData(result) as { warnings: string[] }).warnings.length > 0, 'no warning that the body was cut');
      await assertStillAnswers(warm);
      assert.deepEqual(storedSessions(), before, 'a failed request must not drop the session');
      // And the session still works.
      assertOk(await warm.call('access_fetch', { url: appUrl() }));
    });
  }

  for (const kind of ['5xx', 'delay', 'drop', 'huge_header'] as const) {
    it(`revoke ${kind}: access_logout deletes the session locally anyway, and says the revocation failed`, async () => {
      await loggedIn();
      const before = storedSessions();
      emulator.clearLog();
      emulator.setFault({ endpoint: 'revoke', kind, delayMs: DELAY_MS });
      let result: CallToolResult;
      try {
        result = await warm.call('access_logout', { url: appUrl() });
      } finally {
        emulator.setFault(null);
      }
      assert.ok(emulator.requests({ endpoint: 'revoke' }).length >= 1);
      assertOk(result);
      assert.match(textOf(result), /(did not confirm the revocation|Revocation failed).*deleted locally anyway/);
      assert.equal((result.structuredContent as { logged_out: Array<{ revoked: boolean }> }).logged_out[0]?.revoked, false);
      await assertStillAnswers(warm);
      const { [emulator.appUrl]: _gone, ...rest } = before;
      assert.deepEqual(storedSessions(), rest);
    });
  }
});

describe('the browser side of a login', () => {
  // Each case starts over: a login that failed holds back the next browser until a logout.
  beforeEach(async () => {
    assertOk(await server.call('access_logout', { url: appUrl() }));
  });

  it('authorize answering 5xx: the user is stuck on an error page; pending with the URL to open, then a timeout', async () => {
    const before = storedSessions();
    const stuck = await startServer({ env: { CF_ACCESS_MCP_LOGIN_TIMEOUT: '2' } });
    emulator.setFault({ endpoint: 'authorize', kind: '5xx' });
    try {
      const pending = await stuck.call('access_fetch', { url: appUrl(), wait_seconds: 0 });
      assertPending(pending);
      assert.match(textOf(pending), /Next step: .*open http/);
      await eventually(() => stuck.browserLines().some((l) => l.startsWith('stuck 503')), 10_000, 'the browser to hit the fault');
      assertError(await stuck.call('access_login', { url: appUrl(), wait_seconds: 10 }), /not completed within 2 s/);
      await assertStillAnswers(stuck);
      assert.deepEqual(storedSessions(), before);
    } finally {
      emulator.setFault(null);
      await stuck.close();
    }
  });

  it('callback error=access_denied (the user presses Deny): a clear error and the next step', async () => {
    await cleanServer();
    const before = storedSessions();
    emulator.options.approval = 'interactive';
    const denying = await startServer({ browser: 'deny' });
    try {
      const result = await denying.call('access_fetch', { url: appUrl(), wait_seconds: 20 });
      assertError(result, /denied in the browser/);
      assert.ok(denying.browserLines().some((l) => l.startsWith('callback 200')), denying.browserLines().join('\n'));
      await assertStillAnswers(denying);
      assert.deepEqual(storedSessions(), before);
      // No login loop: the next call names the denial instead of opening a second browser.
      const again = await denying.call('access_fetch', { url: appUrl(), wait_seconds: 5 });
      assertError(again, /No new browser login was started/);
      assert.equal(denying.browserOpens().length, 1, 'one browser for the denied login, none after it');
    } finally {
      emulator.options.approval = 'auto';
      // Logging out is starting over: the refusal no longer holds back the next cases' logins.
      await denying.call('access_logout', { url: appUrl() }).catch(() => {});
      await denying.close();
    }
  });

  it('the user never finishes: pending first, then a timeout that says to start again', async () => {
    await cleanServer();
    const before = storedSessions();
    const waiting = await startServer({ browser: 'ignore', env: { CF_ACCESS_MCP_LOGIN_TIMEOUT: '2' } });
    try {
      const pending = await waiting.call('access_fetch', { url: appUrl(), wait_seconds: 0 });
      assertPending(pending);
      const timedOut = await waiting.call('access_login', { url: appUrl(), wait_seconds: 10 });
      assertError(timedOut, /not completed within 2 s/);
      assert.match(textOf(timedOut), /Next step: To start a new login, call access_login/);
      await assertStillAnswers(waiting);
      assert.deepEqual(storedSessions(), before);
    } finally {
      await waiting.close();
    }
  });

  it('a callback with a forged state completes nothing; the login then times out cleanly', async () => {
    await cleanServer();
    const before = storedSessions();
    const forged = await startServer({ browser: 'wrong-state', env: { CF_ACCESS_MCP_LOGIN_TIMEOUT: '2' } });
    try {
      const result = await forged.call('access_fetch', { url: appUrl(), wait_seconds: 10 });
      assertError(result, /not completed within 2 s/);
      assert.ok(forged.browserLines().some((l) => l.startsWith('callback 400')), forged.browserLines().join('\n'));
      await assertStillAnswers(forged);
      assert.deepEqual(storedSessions(), before);
    } finally {
      await forged.close();
    }
  });

  it('the callback port is busy: the login moves to another loopback port and succeeds', async () => {
    await cleanServer();
    const before = storedSessions();
    const held = await holdPort();
    const port = (held.address() as { port: number }).port;
    const moved = await startServer({ env: { CF_ACCESS_MCP_CALLBACK_PORT: String(port) } });
    try {
      assertOk(await moved.call('access_fetch', { url: appUrl(), wait_seconds: 20 }));
      const redirectUri = new URL(moved.browserOpens()[0]!).searchParams.get('redirect_uri')!;
      assert.notEqual(new URL(redirectUri).port, String(port));
      assert.ok(moved.stderr.join('').includes(`Callback port ${port} is busy`));
      await assertStillAnswers(moved);
      assert.deepEqual(storedSessions()[emulator.app2Url], before[emulator.app2Url]);
      assertOk(await moved.call('access_logout', { url: appUrl() }));
    } finally {
      await moved.close();
      await new Promise((r) => held.close(r));
    }
  });
});

function holdPort(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const held = createServer();
    held.once('error', reject);
    held.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => resolve(held));
  });
}

describe('the store', () => {
  it('a corrupt store file is moved aside intact, the server says so and keeps working', async () => {
    const dir = tempHome();
    const garbage = '{"version":1,"sessions":{"http://x": tr';
    writeFileSync(join(dir, 'store.json'), garbage, { mode: 0o600 });
    const corrupt = await startServer({ home: dir });
    try {
      const status = await corrupt.call('access_status', {});
      assertOk(status);
      assert.match(textOf(status), /corrupt/);
      const aside = readdirSync(dir).filter((f) => f.startsWith('store.json.corrupt-'));
      assert.equal(aside.length, 1, readdirSync(dir).join(', '));
      assert.equal(readFileSync(join(dir, aside[0]!), 'utf8'), garbage, 'the corrupt file is kept as it was');
      assertOk(await corrupt.call('access_fetch', { url: app2Url() }));
      assert.ok(storedSessions(dir)[emulator.app2Url]);
    } finally {
      await corrupt.close();
    }
  });

  it('a store file corrupted while the server runs: the next call still answers and logs in again', async () => {
    const dir = tempHome();
    const running = await startServer({ home: dir });
    try {
      assertOk(await running.call('access_fetch', { url: app2Url() }));
      writeFileSync(join(dir, 'store.json'), 'not json at all');
      const result = await running.call('access_fetch', { url: app2Url() });
      assertOk(result);
      assert.ok(readdirSync(dir).some((f) => f.startsWith('store.json.corrupt-')));
      assert.ok(storedSessions(dir)[emulator.app2Url], 'the new login is stored in a fresh file');
      await assertStillAnswers(running);
    } finally {
      await running.close();
    }
  });

  it('an unwritable store directory degrades to memory with a warning, and logins still work', async () => {
    const file = join(tempHome(), 'a-file');
    writeFileSync(file, 'not a directory');
    const dir = join(file, 'store'); // cannot be created, whoever we run as
    const memory = await startServer({ home: dir });
    try {
      const status = await memory.call('access_status', {});
      assertOk(status);
      assert.match(textOf(status), /not writable.*memory only/s);
      const fetched = await memory.call('access_fetch', { url: app2Url() });
      assertOk(fetched);
      assert.match(textOf(fetched), /memory only/);
      assert.ok(!existsSync(dir));
      await assertStillAnswers(memory);
    } finally {
      await memory.close();
    }
    assert.equal(readFileSync(file, 'utf8'), 'not a directory');
  });
});

describe('a server killed mid-login', () => {
  it('while waiting for the browser: the store is untouched and a new server logs in', async () => {
    await cleanServer();
    const before = storedSessions();
    const doomed = await startServer({ browser: 'ignore' });
    assertPending(await doomed.call('access_fetch', { url: appUrl(), wait_seconds: 0 }));
    process.kill(doomed.pid!, 'SIGKILL');
    await eventually(() => {
      try {
        process.kill(doomed.pid!, 0);
        return false;
      } catch {
        return true;
      }
    }, 10_000, 'the server to die');
    assert.deepEqual(storedSessions(), before);
    const next = await startServer();
    try {
      await assertStillAnswers(next);
      assertOk(await next.call('access_fetch', { url: appUrl(), wait_seconds: 20 }));
      assert.deepEqual(storedSessions()[emulator.app2Url], before[emulator.app2Url]);
      assertOk(await next.call('access_logout', { url: appUrl() }));
    } finally {
      await next.close();
    }
  });

  it('closed by its client while waiting for the browser: no lock is left to hold up the next server', async () => {
    await cleanServer();
    const before = storedSessions();
    const closing = await startServer({ browser: 'ignore' });
    assertPending(await closing.call('access_fetch', { url: appUrl(), wait_seconds: 0 }));
    const pid = closing.pid!;
    await closing.close();
    await processGone(pid, 'the server to exit');
    const locks = [
      ...readdirSync(home).filter((f) => f.endsWith('.lock')),
      ...(existsSync(join(home, 'locks')) ? readdirSync(join(home, 'locks')).filter((f) => f.endsWith('.lock')) : []),
    ];
    assert.deepEqual(locks, [], 'a lock outlived its process');
    assert.deepEqual(storedSessions(), before);
    // Its pending login is left for the next server to finish (issue 13); this case is done with it.
    const stored = JSON.parse(readFileSync(join(home, 'store.json'), 'utf8')) as { pending_logins?: Record<string, unknown> };
    assert.ok(stored.pending_logins?.[emulator.appUrl], 'the pending login is kept for the next process');
    assertOk(await server.call('access_logout', { url: appUrl() }));
  });

  it('during the code exchange: the store is untouched and a new server logs in', async () => {
    await cleanServer();
    const before = storedSessions();
    const doomed = await startServer({ env: { CF_ACCESS_MCP_TIMEOUT_MS: '30000' } });
    emulator.clearLog();
    emulator.setFault({ endpoint: 'token', kind: 'delay', delayMs: 20_000, times: 1 });
    const call = doomed.call('access_fetch', { url: appUrl(), wait_seconds: 30 }).catch((error: unknown) => error);
    try {
      await eventually(() => emulator.requests({ endpoint: 'token' }).length > 0, 15_000, 'the code exchange to start');
      process.kill(doomed.pid!, 'SIGKILL');
      assert.ok((await call) instanceof Error, 'the call ends with the connection');
    } finally {
      emulator.setFault(null);
    }
    assert.deepEqual(storedSessions(), before);
    // A SIGKILL can land while the store lock is held (the pending login is written to the store);
    // such a lock is stale, and the next server must take it over and log in.
    const next = await startServer();
    try {
      await assertStillAnswers(next);
      assertOk(await next.call('access_fetch', { url: appUrl(), wait_seconds: 20 }));
      assertOk(await next.call('access_logout', { url: appUrl() }));
    } finally {
      await next.close();
    }
  });
});
