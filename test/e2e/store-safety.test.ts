import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Emulator } from '../../src/emulator/index.js';
import { tempHome, TestServer, textOf, resultData } from '../helpers/harness.js';
import { assertContent, e2eSuite } from '../helpers/suite.js';

/**
 * Issue 11, weakness 5, end to end: a store another user controls cannot
 * make the agent relay their sign-in link or use their sessions; a symlinked
 * store file is never followed; a planted lock does not block a login.
 */

const PHISHING = 'https://phish.example.net/cdn-cgi/access/login?steal=1';
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

const suite = e2eSuite();

async function start(home: string): Promise<{ e: Emulator; server: TestServer }> {
  return { e: await suite.emulator(), server: await suite.server({ home }) };
}

const warningsOf = (result: CallToolResult) => (resultData(result) as { warnings: string[] }).warnings;

/** A login lock as the server names it, with an mtime an hour ahead: on the landed main it never went stale. */
function plantFutureLoginLock(home: string, origin: string): void {
  const name = createHash('sha256').update(origin).digest('hex').slice(0, 32);
  const lock = join(home, 'locks', `${name}.login.lock`);
  mkdirSync(lock, { recursive: true });
  const future = new Date(Date.now() + 3600_000);
  utimesSync(lock, future, future);
}

/** What another user leaves in a store directory they control: a session, and a live-looking login pointing at their page. */
function plantStore(home: string, appOrigin: string): void {
  const now = Date.now();
  const data = {
    version: 1,
    sessions: { 'https://planted.example.com': { origin: 'https://planted.example.com', method: 'oauth', access_token: 'oauth:planted-token', obtained_at: now } },
    registrations: {},
    logins: {
      [appOrigin]: { origin: appOrigin, state: 'pending', authorization_url: PHISHING, started_at: now, expires_at: now + 600_000, updated_at: now, pid: 1, hostname: hostname() },
    },
  };
  writeFileSync(join(home, 'store.json'), JSON.stringify(data));
  plantFutureLoginLock(home, appOrigin);
}

describe('a store directory owned by another user', { skip: !isRoot && 'needs root to chown a directory to another user' }, () => {
  it('is not used: no planted sign-in link or session reaches the agent, and the fetch logs in on its own', async () => {
    const home = join(tempHome(), 'theirs');
    mkdirSync(home, { mode: 0o755 });
    const e = await suite.emulator();
    const appOrigin = new URL(e.appUrl).origin;
    plantStore(home, appOrigin);
    chownSync(join(home, 'store.json'), NOBODY, NOBODY);
    chownSync(home, NOBODY, NOBODY);
    const server = await suite.server({ home });

    const status = await server.call('access_status', {});
    assert.ok(warningsOf(status).some((w) => w.includes(home) && /belongs to another user/.test(w) && /CF_ACCESS_MCP_HOME=/.test(w)), textOf(status));
    assert.ok(!textOf(status).includes('planted.example.com'), `no planted session: ${textOf(status)}`);
    const forApp = await server.call('access_status', { url: `${e.appUrl}/` });
    assert.ok(!JSON.stringify(forApp).includes('phish.example.net'), `no planted link: ${textOf(forApp)}`);

    const fetched = await server.call('access_fetch', { url: `${e.appUrl}/`, wait_seconds: 30 });
    assert.ok(!JSON.stringify(fetched).includes('phish.example.net'), `no planted link: ${textOf(fetched)}`);
    assertContent(fetched);
    assert.equal(server.browserOpens().length, 1, 'our own login, in the browser');
    assert.ok(!server.browserOpens()[0]!.includes('phish.example.net'));
    assert.equal(statSync(home).uid, NOBODY, 'their directory is left as it was');
    assert.ok(readFileSync(join(home, 'store.json'), 'utf8').includes('planted-token'), 'and nothing of ours written into it');
  });
});

describe('links and planted locks in our own store', () => {
  it('does not follow a symlinked store.json: the file it points to is unchanged, the fetch works, a warning says why', async () => {
    const home = tempHome();
    const outside = join(tempHome(), 'victim.txt');
    writeFileSync(outside, 'precious\n');
    chmodSync(outside, 0o644);
    symlinkSync(outside, join(home, 'store.json'));
    const { e, server } = await start(home);

    const fetched = await server.call('access_fetch', { url: `${e.appUrl}/`, wait_seconds: 30 });
    assertContent(fetched);
    assert.match(warningsOf(fetched).join('\n'), /store\.json is a symbolic link.*memory only/);
    assert.equal(readFileSync(outside, 'utf8'), 'precious\n');
    assert.equal(statSync(outside).mode & 0o777, 0o644);
  });

  it('does not use a home directory that is a symbolic link', async () => {
    const target = join(tempHome(), 'real');
    mkdirSync(target, { mode: 0o700 });
    const home = join(tempHome(), 'link');
    symlinkSync(target, home);
    const { e, server } = await start(home);
    const fetched = await server.call('access_fetch', { url: `${e.appUrl}/`, wait_seconds: 30 });
    assertContent(fetched);
    assert.ok(warningsOf(fetched).some((w) => w.includes(home) && /is a symbolic link/.test(w)), textOf(fetched));
  });

  it('takes over a login lock planted with a future mtime, and the login proceeds', async () => {
    const home = tempHome();
    const e = await suite.emulator();
    plantFutureLoginLock(home, new URL(e.appUrl).origin);
    const server = await suite.server({ home });
    const fetched = await server.call('access_fetch', { url: `${e.appUrl}/`, wait_seconds: 30 });
    assertContent(fetched);
    assert.equal(server.browserOpens().length, 1);
  });
});
