import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { SessionStore, STORE_FILE, type StoredSession } from '../../src/auth/store.js';
import { cleanupHomes, ROOT, tempHome } from '../helpers/harness.js';
import { newStore, runScript } from '../helpers/unit.js';

after(cleanupHomes);

function session(origin: string, token = 'oauth:test-token'): StoredSession {
  return { origin, method: 'oauth', access_token: token, obtained_at: Date.now() };
}

const mode = (path: string) => statSync(path).mode & 0o777;

describe('SessionStore files', () => {
  it('creates the store file 0600 inside a 0700 directory', async () => {
    const dir = join(tempHome(), 'nested', 'home');
    const { store } = newStore(dir);
    await store.putSession(session('https://a.example.com'));
    assert.equal(store.persistent, true);
    assert.equal(mode(dir), 0o700);
    assert.equal(mode(join(dir, STORE_FILE)), 0o600);
    assert.equal(JSON.parse(readFileSync(join(dir, STORE_FILE), 'utf8')).sessions['https://a.example.com'].method, 'oauth');
  });

  it('tightens an existing, too open directory to 0700', async () => {
    const dir = join(tempHome(), 'open');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const { store } = newStore(dir);
    await store.putSession(session('https://a.example.com'));
    assert.equal(mode(dir), 0o700);
    assert.equal(mode(join(dir, STORE_FILE)), 0o600);
  });

  it('keeps what another instance wrote (every read goes to disk)', async () => {
    const dir = tempHome();
    const one = newStore(dir).store;
    const two = newStore(dir).store;
    await one.putSession(session('https://a.example.com'));
    assert.equal(two.getSession('https://a.example.com')?.access_token, 'oauth:test-token');
    await two.deleteSession('https://a.example.com');
    assert.equal(one.getSession('https://a.example.com'), undefined);
  });
});

describe('SessionStore with a corrupt file', () => {
  function assertMovedAside(dir: string, warnings: string[]): void {
    const aside = readdirSync(dir).filter((f) => f.startsWith(`${STORE_FILE}.corrupt-`));
    assert.equal(aside.length, 1, `one file moved aside, found ${readdirSync(dir).join(', ')}`);
    assert.ok(warnings.some((w) => w.includes('corrupt') && w.includes(aside[0]!)), `warning names the moved file: ${warnings.join(' | ')}`);
  }

  it('moves an unparseable file aside at start and starts fresh', async () => {
    const dir = tempHome();
    writeFileSync(join(dir, STORE_FILE), '{ this is not json', { mode: 0o600 });
    const { store, warnings } = newStore(dir);
    assert.deepEqual(store.listSessions(), []);
    assertMovedAside(dir, warnings);
    assert.deepEqual(store.warnings, warnings);
    await store.putSession(session('https://a.example.com'));
    assert.equal(newStore(dir).store.getSession('https://a.example.com')?.method, 'oauth');
    assert.equal(mode(join(dir, STORE_FILE)), 0o600);
  });

  it('moves aside a file that becomes corrupt while running', async () => {
    const dir = tempHome();
    const { store, warnings } = newStore(dir);
    await store.putSession(session('https://a.example.com'));
    writeFileSync(join(dir, STORE_FILE), 'garbage\u0000');
    assert.deepEqual(store.listSessions(), []);
    assertMovedAside(dir, warnings);
    await store.putSession(session('https://b.example.com'));
    assert.deepEqual(store.listSessions().map((s) => s.origin), ['https://b.example.com']);
  });

  it('moves aside valid JSON of the wrong shape', async () => {
    const dir = tempHome();
    writeFileSync(join(dir, STORE_FILE), JSON.stringify({ version: 7, sessions: 'nope' }), { mode: 0o600 });
    const { store, warnings } = newStore(dir);
    assert.deepEqual(store.listSessions(), []);
    assertMovedAside(dir, warnings);
    await store.putSession(session('https://a.example.com'));
    assert.equal(store.listSessions().length, 1);
  });
});

describe('SessionStore.update concurrency', () => {
  it('loses no write among many concurrent updates in one process', async () => {
    const dir = tempHome();
    const { store } = newStore(dir);
    const other = newStore(dir).store; // a second instance: serialised only by the file lock
    const writes = Array.from({ length: 60 }, (_, i) =>
      (i % 2 ? store : other).putSession(session(`https://h${i}.example.com`, `oauth:t${i}`)),
    );
    await Promise.all(writes);
    const origins = newStore(dir).store.listSessions().map((s) => s.origin);
    assert.equal(origins.length, 60);
    for (let i = 0; i < 60; i++) assert.ok(origins.includes(`https://h${i}.example.com`), `h${i} lost`);
  });

  it('keeps working after an update whose mutation throws', async () => {
    const { store } = newStore(tempHome());
    await assert.rejects(
      store.update(() => {
        throw new Error('boom');
      }),
      /boom/,
    );
    await store.putSession(session('https://a.example.com'));
    assert.equal(store.listSessions().length, 1);
  });

  it('loses no write among several processes updating one store', async () => {
    const dir = tempHome();
    const storeModule = pathToFileURL(join(ROOT, 'src', 'auth', 'store.ts')).href;
    const script = `
      const { SessionStore } = await import(${JSON.stringify(storeModule)});
      const store = new SessionStore(process.env.DIR);
      const tag = process.env.TAG;
      await Promise.all(Array.from({ length: 15 }, (_, i) =>
        store.update((data) => {
          data.sessions['https://' + tag + '-' + i + '.example.com'] =
            { origin: 'https://' + tag + '-' + i + '.example.com', method: 'oauth', access_token: 'x', obtained_at: 1 };
        })));
    `;
    const run = (tag: string) => runScript(script, { DIR: dir, TAG: tag }, `child ${tag}`);

    await Promise.all(['p1', 'p2', 'p3'].map(run));
    const sessions = newStore(dir).store.listSessions();
    assert.equal(sessions.length, 45);
    assert.ok(!existsSync(`${join(dir, STORE_FILE)}.lock`), 'lock released');
  });
});
