import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPORT_SENTENCE, type Emulator } from '../../src/emulator/index.js';
import { cleanupHomes, eventually, resultData, ROOT, startEmulator, tempHome, TestServer, textOf } from '../helpers/harness.js';
import { assertNoSecretsLeaked } from '../helpers/leaks.js';

/**
 * Issue 13 item 6: cloudflared logins are serialised across server processes
 * sharing a store, like OAuth ones (one `cloudflared access login`, one
 * browser), and access_logout ends a cloudflared login pending here.
 */

const CLOUDFLARED = resolve(ROOT, 'test', 'fixtures', 'cloudflared.mjs');
let classic: Emulator;
const servers: TestServer[] = [];
const jwts: string[] = [];

before(async () => {
  classic = await startEmulator({ mode: 'classic' });
});
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await classic.close();
  assertNoSecretsLeaked(jwts);
  cleanupHomes();
});

function standIn(): { env: Record<string, string>; gate: string; logins: () => number; collect: () => void } {
  const base = tempHome('cfam-cloudflared-');
  const log = join(base, 'cloudflared.log');
  const dir = join(base, 'cache');
  const gate = join(base, 'gate');
  const lines = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);
  return {
    env: { CF_ACCESS_MCP_CLOUDFLARED: CLOUDFLARED, TEST_CLOUDFLARED_LOG: log, TEST_CLOUDFLARED_DIR: dir, TEST_CLOUDFLARED_GATE: gate },
    gate,
    logins: () => lines().filter((l) => /^login https?:/.test(l)).length,
    collect: () => {
      if (existsSync(dir)) for (const name of readdirSync(dir)) jwts.push(readFileSync(join(dir, name), 'utf8'));
    },
  };
}

async function server(home: string, env: Record<string, string>): Promise<TestServer> {
  const s = await TestServer.start({ home, env });
  servers.push(s);
  return s;
}

describe('cloudflared logins across processes', () => {
  it('two servers on one store run one cloudflared login; both get the content', async () => {
    const stand = standIn();
    const home = tempHome();
    const a = await server(home, stand.env);
    const b = await server(home, stand.env);
    const url = `${classic.appUrl}/`;
    const first = await a.call('access_fetch', { url, wait_seconds: 0 });
    assert.equal(resultData(first).status, 'pending', textOf(first));
    await eventually(() => stand.logins() === 1, 10_000, 'the first cloudflared login');
    const second = await b.call('access_fetch', { url, wait_seconds: 0 });
    assert.equal(resultData(second).status, 'pending', textOf(second));
    assert.equal(stand.logins(), 1, 'the second process waits for the first one instead of starting cloudflared');

    writeFileSync(stand.gate, '');
    for (const s of [a, b]) {
      const done = await s.call('access_fetch', { url, wait_seconds: 30 });
      assert.notEqual(done.isError, true, textOf(done));
      assert.ok(textOf(done).includes(REPORT_SENTENCE), textOf(done).slice(0, 300));
    }
    assert.equal(stand.logins(), 1, 'one cloudflared login in total');
    stand.collect();
  });

  it('access_logout stops a cloudflared login pending here', async () => {
    const stand = standIn();
    const s = await server(tempHome(), stand.env);
    const url = `${classic.appUrl}/`;
    const pending = await s.call('access_login', { url, method: 'cloudflared', wait_seconds: 0 });
    assert.equal(resultData(pending).status, 'pending', textOf(pending));
    const out = await s.call('access_logout', { url });
    assert.match(textOf(out), /cancelled/);
    const status = await s.call('access_status', { url });
    assert.doesNotMatch(textOf(status), /pending/);
    stand.collect();
  });
});
