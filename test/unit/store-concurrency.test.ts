import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { SessionStore, STORE_FILE } from '../../src/auth/store.js';
import { OriginLocks, ownerIsGone } from '../../src/auth/login-lock.js';
import { cleanupHomes, ROOT, tempHome } from '../helpers/harness.js';
import { runScript } from '../helpers/unit.js';

after(cleanupHomes);

const PROCESSES = 4;
const HOSTS = 25;

/** One child node process writing `HOSTS` sessions at once through its own SessionStore. */
function writer(dir: string, tag: string): Promise<void> {
  const storeModule = pathToFileURL(join(ROOT, 'src', 'auth', 'store.ts')).href;
  const script = `
    const { SessionStore } = await import(${JSON.stringify(storeModule)});
    const store = new SessionStore(process.env.DIR);
    await Promise.all(Array.from({ length: ${HOSTS} }, (_, i) => {
      const origin = 'https://' + process.env.TAG + '-' + i + '.example.com';
      return store.putSession({ origin, method: 'oauth', access_token: 'oauth:' + process.env.TAG + i, expires_at: Date.now() + 60000, obtained_at: Date.now() });
    }));
    if (!store.persistent) throw new Error('fell back to memory');
  `;
  return runScript(script, { DIR: dir, TAG: tag }, `writer ${tag}`);
}

describe('SessionStore across processes', () => {
  it(`${PROCESSES} processes × ${HOSTS} hosts writing at once leave all ${PROCESSES * HOSTS} sessions`, async () => {
    const dir = tempHome();
    const tags = Array.from({ length: PROCESSES }, (_, i) => `p${i}`);
    await Promise.all(tags.map((tag) => writer(dir, tag)));
    const store = new SessionStore(dir);
    const origins = new Set(store.listSessions().map((s) => s.origin));
    assert.equal(origins.size, PROCESSES * HOSTS);
    for (const tag of tags) for (let i = 0; i < HOSTS; i++) assert.ok(origins.has(`https://${tag}-${i}.example.com`), `${tag}-${i} lost`);
    assert.deepEqual(store.warnings, []);
    assert.ok(!existsSync(`${join(dir, STORE_FILE)}.lock`), 'the store lock was released');
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('corrupt')), []);
  });
});

describe('OriginLocks', () => {
  it('gives a lock to one holder at a time, per origin and purpose', async () => {
    const store = new SessionStore(tempHome());
    const one = new OriginLocks(store);
    const two = new OriginLocks(store);
    const held = await one.tryAcquire('https://a.example.com', 'login');
    assert.notEqual(held, 'busy');
    assert.equal(await two.tryAcquire('https://a.example.com', 'login'), 'busy');
    const refresh = await two.tryAcquire('https://a.example.com', 'refresh');
    assert.notEqual(refresh, 'busy', 'a refresh does not wait for a pending login');
    const other = await two.tryAcquire('https://b.example.com', 'login');
    assert.notEqual(other, 'busy');
    assert.equal(await two.acquire('https://a.example.com', 'login', 100), undefined, 'waiting gives up after the limit');
    await (held as { release(): Promise<void> }).release();
    await (held as { release(): Promise<void> }).release(); // idempotent
    const after = await two.acquire('https://a.example.com', 'login', 1_000);
    assert.ok(after);
    for (const lock of [after, refresh, other]) await (lock as { release(): Promise<void> }).release();
  });

  it('does not lock a memory-only store (nothing is shared with other processes)', async () => {
    const file = join(tempHome(), 'a-file');
    writeFileSync(file, '');
    const store = new SessionStore(join(file, 'home')); // below a regular file: ENOTDIR, even for root
    assert.equal(store.persistent, false);
    const locks = new OriginLocks(store);
    const first = await locks.tryAcquire('https://a.example.com', 'login');
    const second = await locks.tryAcquire('https://a.example.com', 'login');
    assert.notEqual(first, 'busy');
    assert.notEqual(second, 'busy');
  });

  it('tells a dead owner from a live one', () => {
    assert.equal(ownerIsGone({ pid: 999_999_999, hostname: 'another-machine' }), false, 'on another machine: cannot tell, so alive');
    assert.equal(ownerIsGone({ pid: process.ppid, hostname: hostname() }), false);
    assert.equal(ownerIsGone({ pid: process.pid, hostname: hostname() }), false);
    assert.equal(ownerIsGone({ pid: 999_999_999, hostname: hostname() }), true);
  });
});
