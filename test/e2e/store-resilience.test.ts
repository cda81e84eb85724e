import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Emulator } from '../../src/emulator/index.js';
import { tempHome, TestServer, textOf, resultData } from '../helpers/harness.js';
import { assertContent, e2eSuite } from '../helpers/suite.js';

/**
 * Issue 3, "Done when" (store): a corrupt store is moved aside and reported;
 * an unwritable store directory still works in memory and is reported.
 */

const suite = e2eSuite();

async function start(home: string): Promise<{ e: Emulator; server: TestServer }> {
  return { e: await suite.emulator(), server: await suite.server({ home }) };
}

function warningsOf(result: CallToolResult): string[] {
  return (resultData(result) as { warnings: string[] }).warnings;
}

describe('a store that survives', () => {
  it('moves a corrupt store file aside, keeps it, reports it, and goes on with a fresh store', async () => {
    const home = tempHome();
    const garbage = '{"version":1,"sessions":{"https://x.example.com":{"access_token":';
    writeFileSync(join(home, 'store.json'), garbage, { mode: 0o600 });
    const { e, server } = await start(home);

    const status = await server.call('access_status', {});
    const warnings = warningsOf(status);
    assert.equal(warnings.length, 1, textOf(status));
    const aside = readdirSync(home).filter((f) => f.startsWith('store.json.corrupt-'));
    assert.equal(aside.length, 1, 'the corrupt file is kept');
    assert.equal(readFileSync(join(home, aside[0]!), 'utf8'), garbage, 'unchanged');
    assert.ok(warnings[0]!.includes(aside[0]!), `the warning names the kept file: ${warnings[0]}`);
    assert.match(textOf(status), /Warning: .*corrupt/);

    const first = await server.call('access_fetch', { url: `${e.appUrl}/`, wait_seconds: 30 });
    assertContent(first);
    assert.match(textOf(first), /Warning: .*corrupt/, 'shown on the first result too');
    const second = await server.call('access_fetch', { url: `${e.appUrl}/`, wait_seconds: 30 });
    assertContent(second);
    assert.doesNotMatch(textOf(second), /corrupt/, 'once');
    const stored = JSON.parse(readFileSync(join(home, 'store.json'), 'utf8')) as { sessions: Record<string, unknown> };
    assert.deepEqual(Object.keys(stored.sessions), [e.appUrl], 'a fresh store with the new session');
  });

  it('keeps sessions in memory when the store directory cannot be created, and says so', async () => {
    const file = join(tempHome(), 'a-regular-file');
    writeFileSync(file, 'not a directory');
    const home = join(file, 'cf-access-mcp'); // mkdir fails with ENOTDIR, even for root
    const { e, server } = await start(home);

    const first = await server.call('access_fetch', { url: `${e.appUrl}/`, wait_seconds: 30 });
    assertContent(first);
    assert.match(textOf(first), /Warning: .*kept in memory/, 'reported on the first result');
    assert.equal(warningsOf(first).length, 1);

    const second = await server.call('access_fetch', { url: `${e.appUrl}/`, wait_seconds: 30 });
    assertContent(second);
    assert.equal(server.browserOpens().length, 1, 'the session lives on in memory: no second login');

    const status = await server.call('access_status', {});
    assert.match(warningsOf(status).join('\n'), /not writable .*kept in memory/);
    assert.equal((status.structuredContent as { sessions: Array<{ state: string }> }).sessions[0]?.state, 'authenticated');
    assert.ok(!existsSync(home));
  });
});
