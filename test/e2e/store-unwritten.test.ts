import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cliEnv, runCliText } from '../helpers/cli-run.js';
import { tempHome } from '../helpers/harness.js';
import { assertContent, e2eSuite } from '../helpers/suite.js';

/**
 * Nothing is written that the user did not mean: commands and a server that
 * only look (status, doctor, logout with nothing stored) leave no store
 * directory behind, even for a mistyped CF_ACCESS_MCP_HOME; the directory is
 * created (0700, its file 0600) only when something is stored.
 */

const suite = e2eSuite();
const mode = (path: string) => statSync(path).mode & 0o777;

/** A store path under a fresh directory, not created: as a mistyped CF_ACCESS_MCP_HOME would be. */
function missingHome(): { root: string; home: string } {
  const root = join(tempHome(), 'typo');
  return { root, home: join(root, 'cf-access-mcp') };
}

describe('a store directory that does not exist', () => {
  it('is not created by status, logout with nothing stored, or doctor (which says it does not exist yet)', async () => {
    const e = await suite.emulator();
    const { root, home } = missingHome();
    const env = cliEnv(home, 'none');

    const status = await runCliText(['status'], env);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(existsSync(root), false, 'status created nothing');

    const logout = await runCliText(['logout', `${e.appUrl}/`], env);
    assert.equal(logout.code, 0, logout.stderr);
    assert.equal(existsSync(root), false, 'logout with nothing stored created nothing');

    const doctor = await runCliText(['doctor', `${e.appUrl}/`, '--json'], env);
    const findings = (JSON.parse(doctor.stdout) as { findings: Array<{ name: string; summary: string }> }).findings;
    const store = findings.find((f) => f.name === 'store_ok');
    assert.match(store?.summary ?? '', /does not exist yet/, doctor.stdout);
    assert.equal(existsSync(root), false, 'doctor created nothing');
  });

  it('is created 0700 with a 0600 file by the first login, not before', async () => {
    const e = await suite.emulator();
    const { root, home } = missingHome();
    const login = await runCliText(['login', `${e.appUrl}/`], cliEnv(home, 'approve'));
    assert.equal(login.code, 0, login.stderr);
    assert.equal(mode(home), 0o700);
    assert.equal(mode(root), 0o700, 'a missing parent is created private too');
    assert.equal(mode(join(home, 'store.json')), 0o600);
  });

  it('is not created by the MCP server until it stores something', async () => {
    const e = await suite.emulator();
    const { root, home } = missingHome();
    const server = await suite.server({ home });
    const status = await server.call('access_status', {});
    assert.equal(status.isError, undefined);
    assert.equal(existsSync(root), false, 'starting and access_status created nothing');

    assertContent(await server.call('access_fetch', { url: `${e.appUrl}/`, wait_seconds: 30 }));
    assert.equal(mode(home), 0o700);
    assert.equal(mode(join(home, 'store.json')), 0o600);
  });

  it('a server that started before it existed uses the session a CLI login stored in it later (another process made it)', async () => {
    const e = await suite.emulator();
    const { root, home } = missingHome();
    const server = await suite.server({ home, browser: 'none' });
    assert.equal((await server.call('access_status', {})).isError, undefined);
    assert.equal(existsSync(root), false);

    const login = await runCliText(['login', `${e.appUrl}/`], cliEnv(home, 'approve'));
    assert.equal(login.code, 0, login.stderr);
    suite.readStore(home);
    // No browser for the server: only the session the CLI stored gets it in.
    assertContent(await server.call('access_fetch', { url: `${e.appUrl}/` }));
  });
});
