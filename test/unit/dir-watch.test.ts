import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { DirectoryWatch } from '../../src/auth/dir-watch.js';
import { SessionStore, STORE_FILE } from '../../src/auth/store.js';
import { cleanupHomes, tempHome } from '../helpers/harness.js';
import { newStore } from '../helpers/unit.js';

after(cleanupHomes);

/** Lets the watch's events (delivered by the event loop's poll) arrive. */
async function eventsDelivered(): Promise<void> {
  await sleep(50);
}

describe('DirectoryWatch', () => {
  it('vouches for a directory until something in it changes', async () => {
    const dir = tempHome();
    const watch = new DirectoryWatch(dir);
    const mark = watch.mark();
    assert.ok(mark, 'a watch starts on a local directory');
    await eventsDelivered();
    assert.equal(watch.unchangedSince(mark), true);
    writeFileSync(join(dir, 'other-file'), 'x');
    await eventsDelivered();
    assert.equal(watch.unchangedSince(mark), false, 'any change in the directory counts');
    const again = watch.mark();
    assert.equal(watch.unchangedSince(again), true);
    watch.close();
    assert.equal(watch.unchangedSince(again), false, 'a closed watch vouches for nothing');
    assert.equal(watch.mark(), undefined);
  });

  it('stops vouching after its maximum age (a network filesystem may not report changes)', async () => {
    const watch = new DirectoryWatch(tempHome(), 20);
    const mark = watch.mark();
    assert.equal(watch.unchangedSince(mark), true);
    await sleep(40);
    assert.equal(watch.unchangedSince(mark), false);
    watch.close();
  });

  it('gives no mark for a directory it cannot watch', () => {
    const watch = new DirectoryWatch(join(tempHome(), 'missing'));
    assert.equal(watch.mark(), undefined);
    assert.equal(watch.unchangedSince(undefined), false);
  });
});

describe('SessionStore reads between writes', () => {
  const session = (token: string) => ({ origin: 'https://a.example.com', method: 'oauth' as const, access_token: token, obtained_at: Date.now() });

  it('sees another process writing once its event arrives, and its own write at once', async () => {
    const dir = tempHome();
    const one = newStore(dir).store;
    const two = newStore(dir).store;
    await one.putSession(session('oauth:first-token-value'));
    assert.equal(one.getSession('https://a.example.com')?.access_token, 'oauth:first-token-value', 'own write, same turn');
    await two.putSession(session('oauth:second-token-value'));
    await eventsDelivered();
    assert.equal(one.getSession('https://a.example.com')?.access_token, 'oauth:second-token-value');
    await two.deleteSession('https://a.example.com');
    await eventsDelivered();
    assert.equal(one.getSession('https://a.example.com'), undefined);
  });

  it('checks the file again after revalidate(), whatever the watch says (a lock was just taken)', async () => {
    const dir = tempHome();
    const store = new SessionStore(dir);
    await store.putSession(session('oauth:first-token-value'));
    await eventsDelivered();
    assert.equal(store.getSession('https://a.example.com')?.access_token, 'oauth:first-token-value');
    // Written behind the watch's back and read before its event can arrive: only revalidate() sees it.
    const data = JSON.parse(JSON.stringify({ version: 1, sessions: { 'https://a.example.com': session('oauth:planted-behind-token') }, registrations: {} }));
    writeFileSync(join(dir, STORE_FILE), JSON.stringify(data), { mode: 0o600 });
    assert.equal(store.getSession('https://a.example.com')?.access_token, 'oauth:first-token-value', 'the event has not arrived yet');
    store.revalidate();
    assert.equal(store.getSession('https://a.example.com')?.access_token, 'oauth:planted-behind-token');
    store.close();
  });
});
