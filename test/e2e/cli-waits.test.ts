import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Emulator } from '../../src/emulator/index.js';
import { BROWSER_SCRIPT, cleanupHomes, eventually, finishSignIn, SERVER_ENTRY, startEmulator, tempHome, trustedTeamsEnv } from '../helpers/harness.js';

/**
 * Issue 13 item 5: when `login`/`fetch` stop waiting they say that nobody
 * listens any more (or hand the login to a real background process with
 * --detach, which finishes it). The built binary, run as a person would.
 */

const SENTENCE = 'The protected resource was reached through Cloudflare Access.';
const PROMISES_WAITING = /keeps waiting|the login waits until|still waiting|repeat the same call/i;
let emulator: Emulator;
const detachedPids: number[] = [];

before(async () => {
  emulator = await startEmulator({ approval: 'auto' });
});
after(async () => {
  for (const pid of detachedPids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
  await emulator.close();
  cleanupHomes();
});

function env(home: string, browserLog: string, action: 'approve' | 'ignore'): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^CF_ACCESS_/.test(name) && !/_proxy$/i.test(name)));
  return {
    ...inherited,
    CF_ACCESS_MCP_HOME: home,
    CF_ACCESS_MCP_CALLBACK_PORT: '0',
    CF_ACCESS_MCP_BROWSER: `${process.execPath} ${BROWSER_SCRIPT}`,
    TEST_BROWSER_ACTION: action,
    TEST_BROWSER_LOG: browserLog,
    TEST_BROWSER_JAR: join(dirname(browserLog), 'cookies.json'),
    ...trustedTeamsEnv(),
  };
}

function cli(args: string[], processEnv: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER_ENTRY, ...args], { env: processEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs the CLI until it waits for the sign-in, then presses Ctrl-C (`presses` times at once). */
function interrupted(args: string[], processEnv: NodeJS.ProcessEnv, presses = 1): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER_ENTRY, ...args], { env: processEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let pressed = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (pressed || !/Waiting for the login/.test(stderr)) return;
      pressed = true;
      for (let i = 0; i < presses; i++) child.kill('SIGINT');
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The CLI running in the background, its stderr collected as it comes. */
function background(args: string[], processEnv: NodeJS.ProcessEnv): { pid: number; stderr: () => string; done: Promise<number | null> } {
  const child = spawn(process.execPath, [SERVER_ENTRY, ...args], { env: processEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stdout.resume();
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { pid: child.pid!, stderr: () => stderr, done };
}

/** The resumable login recorded in the store (its start cookie is set once the browser loaded the start address). */
function pendingRecord(home: string): { pid: number; cookie?: unknown } | undefined {
  try {
    const data = JSON.parse(readFileSync(join(home, 'store.json'), 'utf8')) as { pending_logins?: Record<string, { pid: number; cookie?: unknown }> };
    return Object.values(data.pending_logins ?? {})[0];
  } catch {
    return undefined;
  }
}

function opened(browserLog: string): string[] {
  return existsSync(browserLog) ? readFileSync(browserLog, 'utf8').split('\n').filter((l) => l.startsWith('open ')).map((l) => l.slice(5)) : [];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('CLI waits', () => {
  it('login --wait 2 never claims that anyone keeps waiting after it exits', async () => {
    const home = tempHome();
    const log = join(tempHome('cfam-b-'), 'browser.log');
    const run = await cli(['login', `${emulator.appUrl}/`, '--wait', '2'], env(home, log, 'ignore'));
    assert.equal(run.code, 3, run.stderr);
    const after = run.stderr.slice(run.stderr.indexOf('not completed'));
    assert.doesNotMatch(after, PROMISES_WAITING);
    assert.match(after, /works only while a cf-access-mcp process is listening/);
    assert.match(after, /without --wait/);

    const json = await cli(['login', `${emulator.appUrl}/`, '--wait', '1', '--json'], env(tempHome(), log, 'ignore'));
    assert.equal(json.code, 3);
    const result = JSON.parse(json.stdout) as { message: string; next_step: string; listening: boolean };
    assert.doesNotMatch(`${result.message} ${result.next_step}`, PROMISES_WAITING);
    assert.equal(result.listening, false);

    const fetched = await cli(['fetch', `${emulator.appUrl}/`, '--wait', '1'], env(tempHome(), log, 'ignore'));
    assert.equal(fetched.code, 3);
    assert.doesNotMatch(fetched.stderr.slice(fetched.stderr.indexOf('not completed')), PROMISES_WAITING);
  });

  it('after Ctrl-C, the next step names --wait only when the command was given one', async () => {
    const log = join(tempHome('cfam-b-'), 'browser.log');
    const plain = await interrupted(['login', `${emulator.appUrl}/`], env(tempHome(), log, 'ignore'));
    assert.equal(plain.code, 3, plain.stderr);
    const said = plain.stderr.slice(plain.stderr.indexOf('not completed'));
    assert.match(said, /not completed \(interrupted\)/);
    assert.match(said, /next step: run "cf-access-mcp login \S+" again and finish signing in while it waits/);
    assert.doesNotMatch(said, /--wait/);

    const waited = await interrupted(['login', `${emulator.appUrl}/`, '--wait', '60'], env(tempHome(), log, 'ignore'));
    assert.equal(waited.code, 3, waited.stderr);
    assert.match(waited.stderr.slice(waited.stderr.indexOf('not completed')), /again without --wait/);
  });

  it('Ctrl-C twice stops at once, and still says so: with --json as the one document on stdout, exit 3', async () => {
    const log = join(tempHome('cfam-b-'), 'browser.log');
    for (let round = 0; round < 3; round++) {
      const json = await interrupted(['login', `${emulator.appUrl}/`, '--json'], env(tempHome(), log, 'ignore'), 2);
      assert.equal(json.code, 3, json.stderr);
      // However the two presses fell (the first one's report out or not): one document, an interruption.
      const document = JSON.parse(json.stdout) as { error?: string; status?: string; message: string; next_step: string };
      assert.match(document.message, /interrupted/i, json.stdout);
      assert.ok(document.error === 'interrupted' || document.status === 'pending', json.stdout);
      const text = await interrupted(['login', `${emulator.appUrl}/`], env(tempHome(), log, 'ignore'), 2);
      assert.equal(text.code, 3, text.stderr);
      assert.match(text.stderr, /interrupted/i);
    }
  });

  it('login joining a login --wait of another terminal promises no listening past that one\'s wait, and carries on when it exits', async () => {
    const url = `${emulator.appUrl}/`;
    // Stops waiting before the other: never "keeps listening until <expiry>" about a command that exits after its --wait.
    const home = tempHome();
    const first = background(['login', url, '--wait', '6'], env(home, join(tempHome('cfam-b-'), 'browser.log'), 'ignore'));
    await eventually(() => /Waiting for the login/.test(first.stderr()), 15_000, 'the first login to wait');
    const joined = await cli(['login', url, '--wait', '1'], env(home, join(tempHome('cfam-b-'), 'browser.log'), 'ignore'));
    assert.equal(joined.code, 3, joined.stderr);
    const said = joined.stderr.slice(joined.stderr.indexOf('not completed'));
    assert.match(said, new RegExp(`another cf-access-mcp process \\(pid ${first.pid}\\)`));
    assert.doesNotMatch(said, /which keeps listening for the sign-in until/);
    assert.match(said, /a login or fetch in another terminal only while it waits/);
    await first.done;

    // Waits longer than the other: when that one exits, this one says its link is dead and signs in itself.
    const home2 = tempHome();
    const other = background(['login', url, '--wait', '3'], env(home2, join(tempHome('cfam-b-'), 'browser.log'), 'ignore'));
    await eventually(() => /Waiting for the login/.test(other.stderr()), 15_000, 'the other login to wait');
    const log = join(tempHome('cfam-b-'), 'browser.log');
    // A browser slower than the one-second check, as a person is.
    const waiting = background(['login', url, '--wait', '40'], { ...env(home2, log, 'approve'), TEST_BROWSER_DELAY_MS: '2500' });
    assert.equal(await other.done, 3);
    assert.equal(await waiting.done, 0, waiting.stderr());
    const told = waiting.stderr();
    assert.match(told, /Another cf-access-mcp process is already signing in/);
    assert.match(told, /process that was signing in to \S+ stopped listening, so its link no longer works; this command started a new sign-in\.\nA browser window was opened/);
    assert.equal(opened(log).length, 1, 'its own sign-in, in one browser');
  });

  it('login taking over a sign-in whose process is gone says that no browser was opened and which browser completes it, and names --force, which starts afresh', async () => {
    const home = tempHome();
    const url = `${emulator.appUrl}/`;
    const first = background(['login', url, '--wait', '60'], env(home, join(tempHome('cfam-b-'), 'browser.log'), 'ignore'));
    // Its browser loaded the one-time start address: the callback now requires that browser's cookie.
    await eventually(() => pendingRecord(home)?.cookie, 15_000, 'the start cookie to be recorded');
    process.kill(first.pid, 'SIGKILL');
    await first.done;

    const logB = join(tempHome('cfam-b-'), 'browser.log');
    const second = background(['login', url], env(home, logB, 'approve'));
    await eventually(() => /Waiting for the login/.test(second.stderr()), 15_000, 'the second login to wait');
    const said = second.stderr();
    assert.doesNotMatch(said, /A browser window was opened/);
    assert.match(said, new RegExp(`No browser was opened: this command took over the sign-in to \\S+ that cf-access-mcp process ${first.pid} began`));
    assert.match(said, new RegExp(`completes only in the browser process ${first.pid} opened`));
    assert.ok(said.includes(`run \`cf-access-mcp login ${emulator.appUrl} --force\` to start a fresh sign-in`), said);
    assert.deepEqual(opened(logB), [], 'no browser');
    process.kill(second.pid, 'SIGKILL');
    await second.done;

    // Orphaned again (its taker is gone too): --force starts a fresh sign-in rather than joining the old one.
    const logC = join(tempHome('cfam-b-'), 'browser.log');
    const fresh = await cli(['login', url, '--force', '--wait', '30'], env(home, logC, 'approve'));
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.match(fresh.stdout, /Login completed/);
    assert.equal(opened(logC).length, 1, 'the fresh sign-in opened its browser');
  });

  it('login --detach leaves a background process that finishes the sign-in; a later fetch uses the stored session', async () => {
    const home = tempHome();
    const log = join(tempHome('cfam-b-'), 'browser.log');
    emulator.clearLog();
    const run = await cli(['login', `${emulator.appUrl}/`, '--wait', '1', '--detach'], env(home, log, 'ignore'));
    assert.equal(run.code, 3, run.stderr);
    const pid = Number(/pid (\d+)/.exec(run.stderr)?.[1]);
    assert.ok(pid > 0, run.stderr);
    detachedPids.push(pid);
    assert.match(run.stderr, /keeps listening for the sign-in until/);
    const authorizationUrl = opened(log)[0];
    assert.ok(authorizationUrl, 'the browser was opened once');

    // The user finishes signing in in the browser the login opened (it holds the start address's cookie); the background process answers.
    const page = await finishSignIn(authorizationUrl, join(dirname(log), 'cookies.json'));
    assert.doesNotMatch(page, /not valid|not load/i);
    await eventually(() => !alive(pid), 30_000, 'the background process to exit');

    const fetched = await cli(['fetch', `${emulator.appUrl}/`, '--wait', '0'], env(home, log, 'ignore'));
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.ok(fetched.stdout.includes(SENTENCE));
    assert.equal(opened(log).length, 1, 'one browser in total');
    assert.equal(emulator.requests({ endpoint: 'token' }).length, 1, 'one code exchange, by the background process');
  });
});
