import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { OriginLocks } from '../../src/auth/login-lock.js';
import { SessionStore, STORE_FILE, type StoredSession } from '../../src/auth/store.js';
import { cleanupHomes, tempHome } from '../helpers/harness.js';
import { newStore } from '../helpers/unit.js';

/**
 * Issue 11, weakness 5: a store directory someone else can touch must not
 * feed us sign-in links or sessions, nothing in it is followed through a
 * link, and a planted lock cannot block us forever.
 */

after(cleanupHomes);

const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const PHISHING = 'https://phish.example.net/cdn-cgi/access/login?steal=1';
const mode = (path: string) => statSync(path).mode & 0o777;

function session(origin: string, token = 'oauth:test-token'): StoredSession {
  return { origin, method: 'oauth', access_token: token, obtained_at: Date.now() };
}

/** What another user leaves in a store directory they control: a session and a pending login with their link. */
function plantStore(dir: string): void {
  const now = Date.now();
  const data = {
    version: 1,
    sessions: { 'https://planted.example.com': session('https://planted.example.com', 'oauth:planted-token') },
    registrations: {},
    logins: {
      'https://app.example.com': { origin: 'https://app.example.com', state: 'pending', authorization_url: PHISHING, started_at: now, expires_at: now + 600_000, updated_at: now, pid: 1, hostname: hostname() },
    },
  };
  writeFileSync(join(dir, STORE_FILE), JSON.stringify(data), { mode: 0o666 });
}

function assertRefused(store: SessionStore, warnings: string[], dir: string, problem: RegExp): void {
  assert.equal(store.persistent, false, 'memory only');
  assert.equal(warnings.length, 1, warnings.join(' | '));
  assert.ok(warnings[0]!.includes(dir), `the warning names the path: ${warnings[0]}`);
  assert.match(warnings[0]!, problem);
  assert.match(warnings[0]!, /memory only/);
  assert.deepEqual(store.warnings, warnings);
}

describe('a store directory that is not ours alone', { skip: !isRoot && 'needs root to chown a directory to another user' }, () => {
  it('refuses a directory owned by another user, and never shows what was planted in it', async () => {
    const dir = join(tempHome(), 'theirs');
    mkdirSync(dir, { mode: 0o755 });
    plantStore(dir);
    chownSync(join(dir, STORE_FILE), NOBODY, NOBODY);
    chownSync(dir, NOBODY, NOBODY);
    const planted = readFileSync(join(dir, STORE_FILE), 'utf8');

    const { store, warnings } = newStore(dir);
    assertRefused(store, warnings, dir, /belongs to another user \(uid 65534/);
    assert.match(warnings[0]!, /CF_ACCESS_MCP_HOME=~\/\.config\/cf-access-mcp/, 'names the fix');
    assert.equal(store.getLogin('https://app.example.com'), undefined, 'the planted sign-in link is not read');
    assert.deepEqual(store.listSessions(), [], 'the planted session is not read');

    await store.putSession(session('https://a.example.com', 'oauth:ours'));
    assert.equal(store.getSession('https://a.example.com')?.access_token, 'oauth:ours', 'works in memory');
    assert.equal(readFileSync(join(dir, STORE_FILE), 'utf8'), planted, 'nothing of ours is written there');
    assert.equal(statSync(dir).uid, NOBODY);
    assert.equal(mode(dir), 0o755, 'not chmod-ed either');
  });

  it('refuses a group- and world-writable directory of another user', () => {
    const dir = join(tempHome(), 'shared');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    chownSync(dir, NOBODY, NOBODY);
    const { store, warnings } = newStore(dir);
    assertRefused(store, warnings, dir, /belongs to another user/);
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(mode(dir), 0o777);
  });

  it('refuses a store file planted by another user in our directory while it was open', () => {
    const dir = join(tempHome(), 'was-open');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    plantStore(dir);
    chownSync(join(dir, STORE_FILE), NOBODY, NOBODY);
    const { store, warnings } = newStore(dir);
    assertRefused(store, warnings, join(dir, STORE_FILE), /belongs to another user/);
    assert.match(warnings[0]!, /rm -r /, 'says how to fix it');
    assert.equal(store.getLogin('https://app.example.com'), undefined);
    assert.equal(mode(dir), 0o700, 'our directory is still tightened');
  });
});

describe('a store directory of ours that is too open', () => {
  it('is tightened to 0700 and used', async () => {
    const dir = join(tempHome(), 'open');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    const { store, warnings } = newStore(dir);
    await store.putSession(session('https://a.example.com'));
    assert.equal(store.persistent, true);
    assert.deepEqual(warnings, []);
    assert.equal(mode(dir), 0o700);
  });
});

describe('links in the store', () => {
  it('refuses a home directory that is a symbolic link, and writes nothing where it points', async () => {
    const target = join(tempHome(), 'real');
    mkdirSync(target, { mode: 0o700 });
    const link = join(tempHome(), 'home-link');
    symlinkSync(target, link);
    const { store, warnings } = newStore(link);
    assertRefused(store, warnings, link, /is a symbolic link/);
    await store.putSession(session('https://a.example.com'));
    assert.deepEqual(readdirSync(target), []);
  });

  it('never follows a symlinked store.json: the file it points to keeps its mode and content', async () => {
    const dir = tempHome();
    const outside = join(tempHome(), 'victim.txt');
    writeFileSync(outside, 'precious\n', { mode: 0o644 });
    chmodSync(outside, 0o644);
    symlinkSync(outside, join(dir, STORE_FILE));

    const { store, warnings } = newStore(dir);
    assertRefused(store, warnings, join(dir, STORE_FILE), /is a symbolic link/);
    await store.putSession(session('https://a.example.com'));
    assert.equal(readFileSync(outside, 'utf8'), 'precious\n');
    assert.equal(mode(outside), 0o644);
    assert.ok(lstatSync(join(dir, STORE_FILE)).isSymbolicLink(), 'the link is left for the user to look at');
  });

  it('stops using the file if it turns into a link while running', async () => {
    const dir = tempHome();
    const outside = join(tempHome(), 'victim.txt');
    writeFileSync(outside, 'precious\n', { mode: 0o644 });
    chmodSync(outside, 0o644);
    const { store, warnings } = newStore(dir);
    await store.putSession(session('https://a.example.com', 'oauth:first'));
    assert.equal(store.persistent, true);

    // Swapped between two writes: the next read or write must not go through it.
    const file = join(dir, STORE_FILE);
    writeFileSync(join(dir, 'moved.json'), readFileSync(file));
    symlinkSync(outside, `${file}.new`);
    const { renameSync } = await import('node:fs');
    renameSync(`${file}.new`, file);

    await store.putSession(session('https://b.example.com', 'oauth:second'));
    assert.equal(readFileSync(outside, 'utf8'), 'precious\n');
    assert.equal(mode(outside), 0o644);
    assert.equal(store.persistent, false);
    assert.match(warnings.join('\n'), /is a symbolic link/);
  });

  it('does not put locks where a symlinked locks directory points', async () => {
    const dir = tempHome();
    const outside = join(tempHome(), 'elsewhere');
    mkdirSync(outside);
    const warnings: string[] = [];
    const store = new SessionStore(dir);
    symlinkSync(outside, join(dir, 'locks'));
    const locks = new OriginLocks(store, (_level, message) => warnings.push(message));
    const lock = await locks.tryAcquire('https://a.example.com', 'login');
    assert.notEqual(lock, 'busy');
    assert.deepEqual(readdirSync(outside), []);
    assert.match(warnings.join('\n'), /locks is a symbolic link/);
  });
});

describe('planted locks', () => {
  const future = () => new Date(Date.now() + 3600_000);

  it('takes over a login lock whose mtime lies in the future', async () => {
    const dir = tempHome();
    const store = new SessionStore(dir);
    const name = createHash('sha256').update('https://a.example.com').digest('hex').slice(0, 32);
    const planted = join(dir, 'locks', `${name}.login.lock`);
    mkdirSync(planted, { recursive: true });
    utimesSync(planted, future(), future());
    const lock = await new OriginLocks(store).tryAcquire('https://a.example.com', 'login');
    assert.notEqual(lock, 'busy', 'a lock from the future is stale');
    await (lock as { release(): Promise<void> }).release();
  });

  it('takes over a store lock whose mtime lies in the future', async () => {
    const dir = tempHome();
    const { store } = newStore(dir);
    const planted = join(dir, `${STORE_FILE}.lock`);
    mkdirSync(planted);
    utimesSync(planted, future(), future());
    await store.putSession(session('https://a.example.com'));
    assert.equal(newStore(dir).store.getSession('https://a.example.com')?.access_token, 'oauth:test-token');
  });

  it('removes a link planted as a lock without touching what it points to', async () => {
    const dir = tempHome();
    const outside = join(tempHome(), 'elsewhere');
    mkdirSync(outside);
    writeFileSync(join(outside, 'keep'), 'x');
    const { store } = newStore(dir);
    symlinkSync(outside, join(dir, `${STORE_FILE}.lock`));
    await store.putSession(session('https://a.example.com'));
    assert.deepEqual(readdirSync(outside), ['keep']);
    assert.ok(existsSync(join(dir, STORE_FILE)));
  });
});
