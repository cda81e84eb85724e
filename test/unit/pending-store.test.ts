import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PendingLoginStore } from '../../src/auth/pending-store.js';
import { SessionStore } from '../../src/auth/store.js';
import { redactSecrets } from '../../src/core/redact.js';

/** Issue 13 item 3: what a restarted process needs to finish a login, kept only in the 0600 store. */

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function freshStore(): SessionStore {
  const dir = mkdtempSync(join(tmpdir(), 'cfam-pending-'));
  dirs.push(dir);
  return new SessionStore(join(dir, 'home'));
}

const record = (origin: string, state: string) => ({
  origin,
  state,
  verifier: `verifier-${state}-0123456789abcdefghijklmnopqrstuvwxyz`,
  redirect_uri: 'http://localhost:8400/callback',
  client_id: 'client-1',
  grant_types: ['authorization_code', 'refresh_token'],
  resource: origin,
  authorization_server: 'https://team.cloudflareaccess.com/',
  authorization_url: `https://team.cloudflareaccess.com/cdn-cgi/access/oauth/authorization?state=${state}`,
  server: { issuer: 'team.cloudflareaccess.com', authorization_endpoint: 'https://team.cloudflareaccess.com/a', token_endpoint: 'https://team.cloudflareaccess.com/t' },
  resource_metadata: { resource: origin },
  started_at: Date.now(),
  expires_at: Date.now() + 60_000,
});

describe('PendingLoginStore', () => {
  it('keeps one login per origin with its owner, in the 0600 store file', async () => {
    const store = freshStore();
    const pending = new PendingLoginStore(store);
    await pending.put(record('https://a.example', 's1'));
    const got = pending.get('https://a.example');
    assert.equal(got?.pid, process.pid);
    assert.equal(got?.state, 's1');
    assert.equal(statSync(store.file).mode & 0o777, 0o600);
    assert.ok(readFileSync(store.file, 'utf8').includes('verifier-s1'));
    assert.ok(!redactSecrets(`log ${got!.verifier}`).includes(got!.verifier), 'the verifier is redacted wherever it would be printed');
  });

  it('deletes by state only the login it means, and claims only the record it read', async () => {
    const pending = new PendingLoginStore(freshStore());
    await pending.put(record('https://a.example', 's1'));
    const read = pending.get('https://a.example')!;
    await pending.put(record('https://a.example', 's2'));
    assert.equal(await pending.claim(read), false, 'a newer login replaced the one read');
    assert.equal(await pending.delete('https://a.example', 's1'), false);
    assert.equal(pending.get('https://a.example')?.state, 's2');
    assert.equal(await pending.claim(pending.get('https://a.example')!), true);
    assert.equal(await pending.delete('https://a.example'), true);
    assert.deepEqual(pending.list(), []);
  });

  it('ignores a record that does not parse', async () => {
    const store = freshStore();
    await store.update((data) => {
      data.pending_logins['https://b.example'] = { origin: 'https://b.example', state: 42 };
    });
    assert.deepEqual(new PendingLoginStore(store).list(), []);
  });
});
