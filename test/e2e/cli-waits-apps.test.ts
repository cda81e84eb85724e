import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { callbackAddress, eventually, finishSignIn, resultData, tempHome, textOf } from '../helpers/harness.js';
import { cliEnv, finishCli, runCliText, startCli } from '../helpers/cli-run.js';
import { e2eSuite } from '../helpers/suite.js';

/**
 * When `cf-access-mcp login`/`fetch` stop waiting, what they say about the
 * sign-in link must be true for an application under a path (`/admin`) too,
 * and when the login is another process's (an MCP server that keeps
 * listening), the link is not declared dead.
 */

const suite = e2eSuite({ pathApps: ['/admin'] });
const backgroundPids: number[] = [];
after(() => {
  for (const pid of backgroundPids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The scripted browser's profile beside its log (its cookies: the one-time start address sets one the callback needs). */
function envWithJar(home: string): NodeJS.ProcessEnv {
  const env = cliEnv(home, 'ignore');
  return { ...env, TEST_BROWSER_JAR: join(dirname(env.TEST_BROWSER_LOG!), 'cookies.json') };
}

describe('cf-access-mcp login, application under a path', () => {
  it('--detach hands the /admin login to a background process that finishes it', async () => {
    const e = await suite.emulator();
    const home = tempHome();
    const env = envWithJar(home);
    const run = await runCliText(['login', `${e.appUrl}/admin/x`, '--wait', '1', '--detach'], env);
    assert.equal(run.code, 3, run.stderr);
    const pid = Number(/pid (\d+)/.exec(run.stderr)?.[1]);
    assert.ok(pid > 0, run.stderr);
    backgroundPids.push(pid);
    assert.match(run.stderr, /keeps listening for the sign-in until/);
    assert.doesNotMatch(run.stderr, /add --detach/);
    assert.match(run.stderr, /sign in to \S+\/admin\b/, 'the application is named, not only its host');

    const opened = readFileSync(env.TEST_BROWSER_LOG!, 'utf8').split('\n').filter((l) => l.startsWith('open ')).map((l) => l.slice(5));
    assert.equal(opened.length, 1);
    const page = await finishSignIn(opened[0]!, env.TEST_BROWSER_JAR!);
    assert.doesNotMatch(page, /not valid|not load/i);
    await eventually(() => !alive(pid), 30_000, 'the background process to exit');
    assert.ok(suite.readStore(home).sessions[`${e.appUrl}/admin`], 'the /admin session was stored');
  });
});

describe('cf-access-mcp login --paste, application under a path', () => {
  it('completes the /admin login from the address pasted on stdin', async () => {
    const e = await suite.emulator();
    const home = tempHome();
    const child = startCli(['login', `${e.appUrl}/admin/x`, '--wait', '60'], cliEnv(home, 'none'));
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const authorizationUrl = await eventually(() => (/paste it here/.test(stderr) ? /^\s+(http\S+authorization\S+)$/m.exec(stderr)?.[1] : undefined), 15_000, 'the login URL');
    const address = await callbackAddress(authorizationUrl!);
    const run = await finishCli(child, `${address}\n`);
    assert.equal(run.code, 0, stderr);
    assert.match(run.stdout.toString('utf8'), /Login completed/);
    assert.doesNotMatch(stderr, /No login to \S+ is waiting/);
    assert.ok(suite.readStore(home).sessions[`${e.appUrl}/admin`], 'the /admin session was stored');
  });
});

describe('cf-access-mcp login joining a login an MCP server runs', () => {
  it('when it stops waiting, says the server still listens: the link is not declared dead', async () => {
    const e = await suite.emulator();
    const home = tempHome();
    const server = await suite.server({ home, browser: 'ignore' });
    const pending = await server.call('access_fetch', { url: `${e.appUrl}/admin/x`, wait_seconds: 0 });
    const loginUrl = resultData(pending).login_url as string;
    assert.ok(loginUrl, textOf(pending));

    const run = await runCliText(['login', `${e.appUrl}/admin/x`, '--wait', '1'], envWithJar(home));
    assert.equal(run.code, 3, run.stderr);
    assert.ok(run.stderr.includes(loginUrl), 'the server\'s link is shown');
    assert.doesNotMatch(run.stderr, /does not load|this one has stopped/);
    assert.match(run.stderr, new RegExp(`process \\(pid ${server.pid}\\)[^.]*keeps listening`));

    // And it is true: signing in at that link completes the server's login.
    const page = await finishSignIn(loginUrl, join(dirname(server.browserLog), 'cookies.json'));
    assert.doesNotMatch(page, /not valid|not load/i);
    const fetched = await server.call('access_fetch', { url: `${e.appUrl}/admin/x`, wait_seconds: 30 });
    assert.notEqual(fetched.isError, true, textOf(fetched));
    assert.equal(server.browserArgv().length, 1);
  });
});
