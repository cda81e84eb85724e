import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callbackAddress, resultData, tempHome, textOf, type TestServer } from '../helpers/harness.js';
import { e2eSuite } from '../helpers/suite.js';

/**
 * Which application a URL belongs to, when the application under the path
 * (`/admin`) has no session of its own but the host-wide one (`/`) has: the
 * server knows `/admin` is separate (a refused sign-in, a pending login, its
 * discovery), so access_login, access_status and access_logout of an `/admin`
 * URL must speak of `/admin`, never report, delete or revoke the `/` session.
 */

const suite = e2eSuite({ pathApps: ['/admin'], approval: 'interactive' });

const sessionKeys = (home: string) => Object.keys(suite.readStore(home).sessions).sort();

/** A fresh store signed in to the emulator's `/` application (one browser login). */
async function homeSignedInAtRoot(appUrl: string): Promise<string> {
  const home = tempHome();
  const approving = await suite.server({ home });
  assert.ok(!(await approving.call('access_fetch', { url: `${appUrl}/` })).isError);
  await approving.close();
  return home;
}

/** A store holding the `/` session, and a sign-in to `/admin` the user refused in the browser (held back). */
async function rootSessionAndRefusedAdmin(): Promise<{ appUrl: string; home: string; host: string }> {
  const e = await suite.emulator();
  const home = await homeSignedInAtRoot(e.appUrl);
  const denying = await suite.server({ home, browser: 'deny' });
  const denied = await denying.call('access_fetch', { url: `${e.appUrl}/admin/x`, wait_seconds: 30 });
  assert.equal(denied.isError, true, textOf(denied));
  assert.match(textOf(denied), /The login to \S+\/admin was denied in the browser/, 'the refused application is named, not only its host');
  await denying.close();
  assert.deepEqual(sessionKeys(home), [e.appUrl]);
  return { appUrl: e.appUrl, home, host: new URL(e.appUrl).host };
}

const browsers = (server: TestServer) => server.browserArgv().length;

describe('an application under a path without a session of its own', () => {
  it('access_login (not forced) says /admin is held back, not "already logged in" with the / session', async () => {
    const { appUrl, home } = await rootSessionAndRefusedAdmin();
    const server = await suite.server({ home });
    const login = await server.call('access_login', { url: `${appUrl}/admin/x`, wait_seconds: 1 });
    assert.equal(login.isError, true, textOf(login));
    assert.match(textOf(login), /No new browser login was started for \S+\/admin/);
    assert.equal(browsers(server), 0);
    assert.deepEqual(sessionKeys(home), [appUrl]);
  });

  it('access_status of an /admin URL reports /admin (no session, held back), not the / session', async () => {
    const { appUrl, home, host } = await rootSessionAndRefusedAdmin();
    const server = await suite.server({ home });
    const status = await server.call('access_status', { url: `${appUrl}/admin/x` });
    const [info] = resultData(status).sessions as Array<{ application: string; state: string; refused?: string }>;
    assert.equal(info!.application, `${host}/admin`, textOf(status));
    assert.equal(info!.state, 'none');
    assert.ok(info!.refused, 'the refusal holding back /admin is shown');
  });

  it('access_logout of an /admin URL leaves the / session stored and unrevoked', async () => {
    const { appUrl, home, host } = await rootSessionAndRefusedAdmin();
    const server = await suite.server({ home });
    const out = await server.call('access_logout', { url: `${appUrl}/admin/x` });
    assert.notEqual(out.isError, true, textOf(out));
    const [entry] = resultData(out).logged_out as Array<{ application: string; revoked: boolean }>;
    assert.equal(entry!.application, `${host}/admin`, textOf(out));
    assert.equal(entry!.revoked, false);
    assert.deepEqual(sessionKeys(home), [appUrl], 'the / session is kept');
    const root = await server.call('access_fetch', { url: `${appUrl}/` });
    assert.ok(!root.isError, textOf(root));
    assert.equal(browsers(server), 0, 'the / session still works: no new sign-in');
  });

  it('a forced login to /admin (the next step the refusal names) keeps the / session', async () => {
    const { appUrl, home } = await rootSessionAndRefusedAdmin();
    const server = await suite.server({ home });
    const forced = await server.call('access_login', { url: `${appUrl}/admin/x`, force: true, wait_seconds: 30 });
    assert.equal(resultData(forced).status, 'authenticated', textOf(forced));
    assert.deepEqual(sessionKeys(home), [appUrl, `${appUrl}/admin`]);
    assert.ok(!(await server.call('access_fetch', { url: `${appUrl}/` })).isError);
    assert.equal(browsers(server), 1, 'one sign-in, to /admin only');
  });
});

describe('a pasted callback address for an application under a path', () => {
  it('after the /admin login was cancelled: neither "not needed" because of the / session, nor "still pending"', async () => {
    const e = await suite.emulator({ approval: 'auto' });
    const home = await homeSignedInAtRoot(e.appUrl);
    const server = await suite.server({ home, browser: 'none' });
    const pending = await server.call('access_fetch', { url: `${e.appUrl}/admin/x`, wait_seconds: 0 });
    const loginUrl = resultData(pending).login_url as string;
    assert.ok(loginUrl, textOf(pending));
    const pasted = await callbackAddress(loginUrl);
    // The login is given up (a logout cancels it); the user then pastes the address from the old sign-in.
    await server.call('access_logout', { url: `${e.appUrl}/admin/x` });
    const late = await server.call('access_login', { url: `${e.appUrl}/admin/x`, callback_url: pasted });
    const text = textOf(late);
    assert.equal(late.isError, true, text);
    // Whether the cancelled login has wound down yet or not, the user is told to start a new one.
    assert.match(text, /No login to \S+ is waiting for its callback|was cancelled \(logged out\)/);
    assert.doesNotMatch(text, /still pending|not needed/);
    assert.match(text, /Next step: .*call access_login with url: \S+\/admin\/x/);
    assert.deepEqual(sessionKeys(home), [e.appUrl]);
  });
});
