import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPORT_SENTENCE, type Emulator } from '../../src/emulator/index.js';
import { cleanupHomes, eventually, ROOT, SERVER_ENTRY, startEmulator, tempHome, callbackAddress } from '../helpers/harness.js';
import { cliEnv } from '../helpers/cli-run.js';
import { assertNoSecretsLeaked, recordOutput } from '../helpers/leaks.js';

/**
 * Issue 6, "Done when" (CLI side): the built binary, run as a person would,
 * with its own store (CF_ACCESS_MCP_HOME) and the scripted browser.
 */

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let emulator: Emulator;

function start(args: string[], env: NodeJS.ProcessEnv): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [SERVER_ENTRY, ...args], { env, stdio: 'pipe' });
}

function finish(child: ChildProcessWithoutNullStreams, input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => {
      recordOutput('cli stdout', stdout);
      recordOutput('cli stderr', stderr);
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

function cli(args: string[], env: NodeJS.ProcessEnv = cliEnv(tempHome(), 'none')): Promise<Run> {
  return finish(start(args, env), '');
}

before(async () => {
  emulator = await startEmulator({ approval: 'auto' });
});

after(async () => {
  assertNoSecretsLeaked(emulator.secrets());
  await emulator.close();
  cleanupHomes();
});

describe('cf-access-mcp CLI', () => {
  it('prints help and version', async () => {
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    for (const command of ['login <url>', 'status [url]', 'logout <url> | --all', 'fetch <url>', 'demo', 'emulator']) assert.ok(help.stdout.includes(command), command);
    assert.match(help.stdout, /Exit codes: 0 ok, 1 failure, 2 usage error/);
    const version = await cli(['--version']);
    assert.equal(version.code, 0);
    assert.equal(version.stdout.trim(), VERSION);
    const fetchHelp = await cli(['fetch', '--help']);
    assert.equal(fetchHelp.code, 0);
    assert.match(fetchHelp.stdout, /-H, --header 'Name: value'/);
  });

  it('exits 2 on usage errors, saying what is wrong', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['bogus'], /Unknown command "bogus"/],
      [['--bogus'], /Unknown option '--bogus'/],
      [['login'], /login needs the URL/],
      [['login', 'https://a.example', 'https://b.example'], /exactly one URL/],
      [['status', '--nope'], /Unknown option '--nope'/],
      [['logout'], /needs the URL of a site, or --all/],
      [['logout', 'https://a.example', '--all'], /either a URL or --all/],
      [['fetch'], /fetch needs a URL/],
      [['fetch', 'https://a.example', '-H', 'no-colon'], /-H needs "Name: value"/],
      [['fetch', 'https://a.example', '--format', 'pdf'], /--format must be one of/],
      [['login', 'https://a.example', '--wait', 'soon'], /--wait needs a whole number of seconds/],
      [['fetch', 'not a url'], /is not a valid absolute URL/],
      [['emulator', '--mode', 'weird'], /--mode must be one of/],
      // Neither asks for JSON: after "--" it is a URL, and proxy has no --json.
      [['fetch', 'https://a.example', '--', '--json'], /exactly one URL/],
      [['proxy', 'https://a.example', '--json'], /Unknown option '--json'/],
    ];
    for (const [args, message] of cases) {
      const run = await cli(args);
      assert.equal(run.code, 2, `${args.join(' ')} → ${run.code}: ${run.stderr}`);
      assert.match(run.stderr, message, args.join(' '));
      assert.equal(run.stdout, '', `${args.join(' ')} writes nothing to stdout`);
    }
  });

  it('with --json, every outcome is one JSON document on stdout, failures and usage errors too, with the same exit codes', async () => {
    const host = new URL(emulator.appUrl).host;
    const refusedToken = { CF_ACCESS_CLIENT_ID: 'not-known.access', CF_ACCESS_CLIENT_SECRET: 'refused-secret-0123456789abcdef', CF_ACCESS_SERVICE_TOKEN_HOSTS: host };
    const installHome = tempHome();
    mkdirSync(join(installHome, '.cursor'));
    writeFileSync(join(installHome, '.cursor', 'mcp.json'), '{ "mcpServers": ');
    const cases: Array<[string[], NodeJS.ProcessEnv, number, string]> = [
      [['fetch', '--json', 'http://127.0.0.1:1/'], cliEnv(tempHome(), 'none'), 1, 'network_error'],
      [['logout', '--json', 'notaurl'], cliEnv(tempHome(), 'none'), 2, 'invalid_url'],
      [['fetch', '--json'], cliEnv(tempHome(), 'none'), 2, 'usage_error'],
      [['status', '--json', '--nope'], cliEnv(tempHome(), 'none'), 2, 'usage_error'],
      [['doctor', '--json', 'notaurl'], cliEnv(tempHome(), 'none'), 2, 'usage_error'],
      [['login', '--json', `${emulator.appUrl}/`, '--method', 'service_token'], cliEnv(tempHome(), 'none', refusedToken), 3, 'service_token_refused'],
      [['install', 'cursor', '--json'], { ...process.env, HOME: installHome, XDG_CONFIG_HOME: join(installHome, '.config') }, 1, 'config_file_invalid'],
    ];
    for (const [args, env, code, error] of cases) {
      const run = await cli(args, env);
      assert.equal(run.code, code, `${args.join(' ')} → ${run.code}: ${run.stdout}${run.stderr}`);
      const document = JSON.parse(run.stdout) as { error: string; message: string; next_step: string };
      assert.equal(document.error, error, args.join(' '));
      assert.ok(document.message && document.next_step, run.stdout);
      assert.doesNotMatch(run.stderr, /^(error|cf-access-mcp):/m, 'the message is not repeated on stderr');
      assert.doesNotMatch(run.stdout, /refused-secret/);
    }

    const interactive = await startEmulator({ approval: 'interactive' });
    try {
      const denied = await cli(['login', '--json', `${interactive.appUrl}/`], cliEnv(tempHome(), 'approve', { TEST_BROWSER_ACTION: 'deny' }));
      assert.equal(denied.code, 3, denied.stdout + denied.stderr);
      assert.equal((JSON.parse(denied.stdout) as { error: string }).error, 'authorization_denied');
      assert.doesNotMatch(denied.stderr, /^error:/m);
      assertNoSecretsLeaked(interactive.secrets());
    } finally {
      await interactive.close();
    }

    const pending = await cli(['fetch', '--json', `${emulator.appUrl}/`, '--wait', '1'], cliEnv(tempHome(), 'ignore'));
    assert.equal(pending.code, 3, pending.stderr);
    const result = JSON.parse(pending.stdout) as { status: string; login_url: string; next_step: string; listening: boolean };
    assert.equal(result.status, 'pending', 'the pending login login --json prints');
    assert.equal(result.listening, false);
    assert.match(result.next_step, /run "cf-access-mcp fetch .*" again without --wait/);
  });

  it('output that cannot be written (> /dev/full) is said once on stderr and exits 1, never a stack trace or a silent 0', { skip: !existsSync('/dev/full') && 'no /dev/full here' }, async () => {
    const env = cliEnv(tempHome(), 'approve');
    const full = openSync('/dev/full', 'w');
    try {
      for (const args of [['status', '--json'], ['status'], ['fetch', `${emulator.plainUrl}/`, '--format', 'text'], ['fetch', `${emulator.plainUrl}/`, '--format', 'raw'], ['fetch', `${emulator.plainUrl}/`, '--json']]) {
        const child = spawn(process.execPath, [SERVER_ENTRY, ...args], { env, stdio: ['ignore', full, 'pipe'] });
        let stderr = '';
        child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
        const [code] = (await once(child, 'close')) as [number | null];
        assert.equal(code, 1, `${args.join(' ')}: ${stderr}`);
        // fetch says it in its own words (how far it got, the next step); other commands in one line at exit. Once either way.
        assert.match(stderr, args[0] === 'fetch' ? /error: Could not write the output( after \d+ bytes)? \(ENOSPC\)\.\nnext step: / : /^cf-access-mcp: could not write the output: ENOSPC\.\n$/, args.join(' '));
        assert.equal(stderr.split('ENOSPC').length, 2, `said once: ${args.join(' ')}: ${stderr}`);
        assert.doesNotMatch(stderr, /closed before the whole body/, args.join(' '));
        assert.doesNotMatch(stderr, /\n\s+at |Unhandled|Could not reach/, `${args.join(' ')}: ${stderr}`);
      }
    } finally {
      closeSync(full);
    }
  });

  it('logs in with the browser, shows status, fetches to a file, and logs out of everything', async () => {
    const home = tempHome();
    const browserLog = join(tempHome('cfam-cli-browser-'), 'browser.log');
    const env = cliEnv(home, 'approve', { TEST_BROWSER_LOG: browserLog });

    const login = await cli(['login', `${emulator.appUrl}/`], env);
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /Login completed\. Authenticated to .* via managed OAuth/);
    assert.ok(login.stderr.includes('A browser window was opened'), login.stderr);
    assert.equal(readFileSync(browserLog, 'utf8').split('\n').filter((l) => l.startsWith('open ')).length, 1);

    const status = await cli(['status'], env);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`${new URL(emulator.appUrl).host}\\s+authenticated\\s+oauth`));
    const json = JSON.parse((await cli(['status', `${emulator.appUrl}/`, '--json'], env)).stdout) as { sessions: Array<{ state: string }>; probe: { offer: string } };
    assert.equal(json.sessions[0]?.state, 'authenticated');
    assert.equal(json.probe.offer, 'managed_oauth');

    const file = join(tempHome('cfam-cli-out-'), 'page.html');
    const fetched = await cli(['fetch', `${emulator.appUrl}/`, '-o', file], env);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.match(fetched.stderr, /HTTP 200 · text\/html · managed OAuth session/);
    assert.equal(fetched.stdout, '');
    const saved = readFileSync(file, 'utf8');
    assert.match(saved, /^<!doctype html>/i, 'the body is saved as served');
    assert.ok(saved.includes(REPORT_SENTENCE));

    const api = await cli(['fetch', `${emulator.appUrl}/api/data.json`, '-H', 'X-Trace: cli-test'], env);
    assert.equal(api.code, 0, api.stderr);
    assert.ok(JSON.parse(api.stdout), 'JSON on stdout');
    const traced = emulator.requests({ endpoint: 'resource' }).at(-1);
    assert.equal(traced?.headers['x-trace'], 'cli-test');

    const revokedBefore = emulator.revocations.length;
    const logout = await cli(['logout', '--all'], env);
    assert.equal(logout.code, 0, logout.stderr);
    assert.match(logout.stdout, /Tokens revoked at the server and deleted locally/);
    assert.ok(emulator.revocations.length > revokedBefore, 'the tokens were revoked at the server');
    const empty = await cli(['status'], env);
    assert.match(empty.stdout, /No stored sessions\./);
  });

  it('--verbose tells the login in the order it happened: started, then logged in (a quick browser used to finish first)', async () => {
    const login = await cli(['login', `${emulator.appUrl}/`, '--verbose'], cliEnv(tempHome(), 'approve'));
    assert.equal(login.code, 0, login.stderr);
    const started = login.stderr.indexOf('info: Login to ');
    const loggedIn = login.stderr.indexOf('info: Logged in to ');
    assert.ok(started >= 0 && loggedIn >= 0, login.stderr);
    assert.ok(started < loggedIn, login.stderr);
  });

  it('fetch signs in on the way when there is no session yet', async () => {
    const env = cliEnv(tempHome(), 'approve');
    const run = await cli(['fetch', `${emulator.app2Url}/api/data.json`], env);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(JSON.parse(run.stdout));
    assert.match(run.stderr, /HTTP 200 · application\/json · managed OAuth session/);
  });

  it('a missing service token is configured where the command line reads it: the shell, for this host (not "the MCP server\'s environment")', async () => {
    const host = new URL(emulator.appUrl).host;
    const run = await cli(['login', `${emulator.appUrl}/`, '--method', 'service_token']);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, new RegExp(`CF_ACCESS_SERVICE_TOKEN_HOSTS=${host}`));
    assert.match(run.stderr, /or your shell for the command line/);
    assert.doesNotMatch(run.stderr, /MCP server's environment and restart it/);
  });

  it('a refused service token is a refusal (exit 3, as a denied login), not a failure', async () => {
    const host = new URL(emulator.appUrl).host;
    const token = { CF_ACCESS_CLIENT_ID: 'not-known.access', CF_ACCESS_CLIENT_SECRET: 'refused-secret-0123456789abcdef', CF_ACCESS_SERVICE_TOKEN_HOSTS: host };
    const run = await cli(['login', `${emulator.appUrl}/`, '--method', 'service_token'], cliEnv(tempHome(), 'none', token));
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stderr, /refused/i);
    assert.doesNotMatch(run.stderr + run.stdout, /refused-secret/);
  });

  it('a login held back by the deny cool-down is a refusal (exit 3) whose next step speaks to the person at the terminal', async () => {
    const interactive = await startEmulator({ approval: 'interactive' });
    try {
      const env = cliEnv(tempHome(), 'approve', { TEST_BROWSER_ACTION: 'deny' });
      const denied = await cli(['login', `${interactive.appUrl}/`, '--wait', '30'], env);
      assert.equal(denied.code, 3, denied.stderr);
      assert.match(denied.stderr, /denied in the browser/);

      const held = await cli(['login', `${interactive.appUrl}/`, '--wait', '30'], env);
      assert.equal(held.code, 3, held.stderr);
      assert.match(held.stderr, /No new browser login was started/);
      const next = /^next step: (.*)$/m.exec(held.stderr)?.[1] ?? '';
      assert.match(next, /If your account should have access .*ask its Access administrator/);
      assert.ok(next.includes(`run \`cf-access-mcp login ${interactive.appUrl}/ --force\``), next);
      assert.doesNotMatch(next, /the user/i);
      assert.equal(readFileSync(env.TEST_BROWSER_LOG!, 'utf8').split('\n').filter((l) => l.startsWith('open ')).length, 1, 'no second browser');
    } finally {
      await interactive.close();
    }
  });

  it('after a cloudflared failure, the next step names the cloudflared set in CF_ACCESS_MCP_CLOUDFLARED, not the one on PATH', async () => {
    const dir = join(tempHome(), 'my tools');
    mkdirSync(dir);
    const command = join(dir, 'cloudflared');
    symlinkSync(join(ROOT, 'test', 'fixtures', 'cloudflared.mjs'), command);
    const env = cliEnv(tempHome(), 'none', { CF_ACCESS_MCP_CLOUDFLARED: command, TEST_CLOUDFLARED_ACTION: 'fail', TEST_CLOUDFLARED_DIR: join(tempHome(), 'cache') });
    const failed = await cli(['login', `${emulator.appUrl}/`, '--method', 'cloudflared'], env);
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /cloudflared access login for .* failed/);
    assert.ok(failed.stderr.includes(`run \`'${command}' access login ${emulator.appUrl}/\``), failed.stderr);

    const missing = join(dir, 'cloudflred');
    const absent = await cli(['login', `${emulator.appUrl}/`, '--method', 'cloudflared'], cliEnv(tempHome(), 'none', { CF_ACCESS_MCP_CLOUDFLARED: missing }));
    assert.equal(absent.code, 1, absent.stderr);
    assert.ok(absent.stderr.includes(`next step: Point CF_ACCESS_MCP_CLOUDFLARED (now ${missing}) at the cloudflared program`), absent.stderr);
  });

  it('exits 3 when the login is not completed', async () => {
    const run = await cli(['login', `${emulator.appUrl}/`, '--wait', '1'], cliEnv(tempHome(), 'ignore'));
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stderr, /not completed/);
    assert.match(run.stderr, /next step: run "cf-access-mcp login/);
  });

  it('completes the login from an address pasted on stdin when no browser can open, refusing a wrong state', async () => {
    const child = start(['login', `${emulator.appUrl}/`, '--wait', '60'], cliEnv(tempHome(), 'none'));
    const done = finish(child);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const authorizationUrl = await eventually(() => (/paste it here/.test(stderr) ? /^\s+(http\S+authorization\S+)$/m.exec(stderr)?.[1] : undefined), 15_000, 'the login URL');
    assert.match(stderr, /No browser could be opened here \(CF_ACCESS_MCP_BROWSER is set to "none"\)/);
    const address = await callbackAddress(authorizationUrl!);

    const tampered = new URL(address);
    tampered.searchParams.set('state', 'someone-elses-state');
    child.stdin.write(`${tampered.href}\n`);
    await eventually(() => /state does not match/.test(stderr), 15_000, 'the wrong state to be refused');
    child.stdin.end(`${address}\n`);

    const run = await done;
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Login completed/);
  });

  it('runs the emulator until interrupted, printing its URLs', async () => {
    const child = start(['emulator', '--auto', '--quiet'], process.env);
    const done = finish(child);
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    await eventually(() => /Press Ctrl\+C to stop/.test(stdout), 15_000, 'the emulator banner');
    for (const label of ['protected app', 'second app', 'plain origin', 'team domain']) assert.match(stdout, new RegExp(`${label}\\s*: http://127\\.0\\.0\\.1:\\d+`));
    child.kill('SIGINT');
    const run = await done;
    assert.equal(run.code, 0, run.stderr);
  });

  it('the emulator banner\'s "Try it" login opens the sign-in page for a newcomer (whose store trusts no team yet)', async () => {
    const child = start(['emulator', '--auto', '--quiet'], process.env);
    const done = finish(child);
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    try {
      await eventually(() => /Press Ctrl\+C to stop/.test(stdout), 15_000, 'the emulator banner');
      const line = /^ {2}((?:\w+=\S+ )*)cf-access-mcp (login \S+)/m.exec(stdout);
      assert.ok(line, stdout);
      const assigned = Object.fromEntries(line[1]!.trim().split(/\s+/).filter(Boolean).map((pair) => pair.split('=') as [string, string]));
      const newcomer = { ...cliEnv(tempHome(), 'approve'), CF_ACCESS_MCP_TEAMS: '', ...assigned };
      const login = await cli([...line[2]!.split(' '), '--wait', '30'], newcomer);
      assert.equal(login.code, 0, login.stderr);
      assert.match(login.stdout, /Login completed/);
      assert.match(login.stderr, /A browser window was opened/);
    } finally {
      child.kill('SIGINT');
      await done;
    }
  });

  it('emulator --mode service-auth-only prints a service token it accepts, and its "Try it" fetch gets in', async () => {
    const child = start(['emulator', '--auto', '--quiet', '--mode', 'service-auth-only'], process.env);
    const done = finish(child);
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    try {
      await eventually(() => /Press Ctrl\+C to stop/.test(stdout), 15_000, 'the emulator banner');
      const line = /^ {2}((?:\w+=\S+ )+)cf-access-mcp (fetch \S+)/m.exec(stdout);
      assert.ok(line, stdout);
      const assigned = Object.fromEntries(line[1]!.trim().split(/\s+/).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
      const fetched = await cli(line[2]!.split(' '), { ...cliEnv(tempHome(), 'none'), ...assigned });
      assert.equal(fetched.code, 0, fetched.stderr);
      assert.match(fetched.stderr, /HTTP 200 .* service token/);
      assert.ok(!fetched.stderr.includes(assigned.CF_ACCESS_CLIENT_SECRET!) && !fetched.stdout.includes(assigned.CF_ACCESS_CLIENT_SECRET!));
    } finally {
      child.kill('SIGINT');
      await done;
    }
  });

  it('on a terminal, an image is described in the command line\'s words (not as "returned as image content")', async () => {
    const home = tempHome();
    assert.equal((await cli(['login', `${emulator.appUrl}/`], cliEnv(home, 'approve'))).code, 0);
    // script(1) gives the command a terminal for stdout, as a person running it has.
    const command = [process.execPath, SERVER_ENTRY, 'fetch', `${emulator.appUrl}/images/pixel.png`].map((word) => `'${word}'`).join(' ');
    const run = await finish(spawn('script', ['-qec', command, '/dev/null'], { env: cliEnv(home, 'none'), stdio: 'pipe' }), '');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const shown = run.stdout + run.stderr;
    assert.match(shown, /Image \(image\/png, \d+ bytes\): not shown on a terminal\. Use -o <file> to save it/);
    assert.doesNotMatch(shown, /returned as image content/);
  });

  it('keeps the demo working', async () => {
    const run = await cli(['demo'], { ...process.env });
    assert.equal(run.code, 0, run.stderr + run.stdout.slice(-2000));
    assert.ok(run.stdout.includes(REPORT_SENTENCE));
  });
});
