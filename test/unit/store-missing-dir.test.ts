import assert from 'node:assert/strict';
import fs, { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { SessionStore, STORE_FILE } from '../../src/auth/store.js';
import { cleanupHomes, tempHome } from '../helpers/harness.js';

after(cleanupHomes);

/**
 * A store whose directory does not exist yet (service tokens only, or no
 * sign-in so far) costs no more per read than one whose directory does, and
 * still sees the directory once another process makes it.
 */

const KEY = 'https://a.example.com';
const session = (token: string) => ({ origin: KEY, method: 'oauth' as const, access_token: token, obtained_at: Date.now() });

/** A store path under a directory that does not exist either (a fresh CF_ACCESS_MCP_HOME). */
const missingHome = () => join(tempHome(), 'not-yet', 'cf-access-mcp');

/** How many times `fs.lstatSync` is asked about `path` while `run` runs. */
async function lstatsOf(path: string, run: () => Promise<void>): Promise<number> {
  const mutableFs = fs as { lstatSync: typeof fs.lstatSync };
  const original = fs.lstatSync;
  let count = 0;
  mutableFs.lstatSync = ((target: fs.PathLike, ...rest: unknown[]) => {
    if (String(target) === path) count++;
    return (original as (...args: unknown[]) => unknown)(target, ...rest);
  }) as typeof fs.lstatSync;
  syncBuiltinESMExports();
  try {
    await run();
  } finally {
    mutableFs.lstatSync = original;
    syncBuiltinESMExports();
  }
  return count;
}

/** Twenty reads, each in its own turn of the event loop (as calls come in). */
async function readsInTurns(store: SessionStore): Promise<void> {
  for (let i = 0; i < 20; i++) {
    assert.equal(store.getSession(KEY), undefined);
    await nextTurn();
  }
}

/** Resolves once `check` holds; the test runner's timeout is the bound. */
async function eventually(check: () => boolean): Promise<void> {
  while (!check()) await sleep(20);
}

describe('a store whose directory does not exist yet', () => {
  it('reads in turn after turn do not look for the directory each time (a watch on the nearest parent answers)', async () => {
    const dir = missingHome();
    const store = new SessionStore(dir);
    store.getSession(KEY);
    const looks = await lstatsOf(dir, () => readsInTurns(store));
    assert.ok(looks < 5, `twenty reads looked for the missing directory ${looks} times`);
    assert.equal(existsSync(dir), false, 'reading created nothing');
    store.close();
  });

  it('sees the directory (and what is in it) once another process makes it, parents included', async () => {
    const dir = missingHome();
    const reader = new SessionStore(dir);
    await readsInTurns(reader);
    const writer = new SessionStore(dir);
    await writer.putSession(session('oauth:written-elsewhere-token'));
    await eventually(() => reader.getSession(KEY)?.access_token === 'oauth:written-elsewhere-token');
    reader.close();
    writer.close();
  });

  it('a write looks for the directory at once, whatever the watch says (what another process stored just now is kept)', async () => {
    const dir = missingHome();
    const store = new SessionStore(dir);
    await readsInTurns(store);
    // Made behind the watch's back, and written to before its event can arrive: only a fresh look sees it.
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, STORE_FILE), JSON.stringify({ version: 1, sessions: { [KEY]: session('oauth:stored-just-now-token') }, registrations: {} }), { mode: 0o600 });
    const removed = await store.deleteSession(KEY);
    assert.equal(removed?.access_token, 'oauth:stored-just-now-token');
    assert.equal(store.getSession(KEY), undefined);
    store.close();
  });
});
