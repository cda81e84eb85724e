import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PIXEL_PNG, blobBytes } from '../../src/emulator/binary.js';
import { REPORT_SENTENCE, type Emulator } from '../../src/emulator/index.js';
import { cliEnv, finishCli, runCli, startCli } from '../helpers/cli-run.js';
import { cleanupHomes, eventually, SERVER_ENTRY, startEmulator, tempHome } from '../helpers/harness.js';
import { assertNoSecretsLeaked } from '../helpers/leaks.js';

/**
 * Issue 15 item 2: `fetch` behaves like curl for people and scripts. Into a
 * pipe the body goes byte for byte (any type, any size); Ctrl-C exits 3 and
 * leaves no lock behind; --json everywhere.
 */

let emulator: Emulator;
let home: string;
let env: NodeJS.ProcessEnv;

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function heldLocks(store: string): string[] {
  const dir = join(store, 'locks');
  return existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.lock')) : [];
}

/** `fetch <args> | <reader>` in bash with pipefail: its exit code and stderr, which never shows a crash. */
async function fetchInto(reader: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  const shell = spawn('bash', ['-c', `set -o pipefail; "$@" | ${reader}`, 'piped-fetch', process.execPath, SERVER_ENTRY, 'fetch', ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  shell.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const [code] = (await once(shell, 'close')) as [number | null];
  assert.doesNotMatch(stderr, /Unhandled|EPIPE|\n\s+at /, `${args.join(' ')}: ${stderr}`);
  return { code, stderr };
}

before(async () => {
  emulator = await startEmulator({ approval: 'auto' });
  home = tempHome();
  env = cliEnv(home, 'approve');
  const login = await runCli(['login', `${emulator.appUrl}/`], env);
  assert.equal(login.code, 0, login.stderr);
});

after(async () => {
  assertNoSecretsLeaked(emulator.secrets());
  await emulator.close();
  cleanupHomes();
});

describe('fetch into a pipe writes the bytes as served, like curl', () => {
  it('an image: exactly the PNG bytes, status line on stderr only', async () => {
    const run = await runCli(['fetch', `${emulator.appUrl}/images/pixel.png`], env);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.stdout.equals(PIXEL_PNG), `got ${run.stdout.length} bytes, want the ${PIXEL_PNG.length}-byte PNG`);
    assert.match(run.stderr, /HTTP 200 · image\/png · managed OAuth session/);
  });

  it('a binary, and a text body larger than the 5 MiB conversion cap, streamed whole without a newline added', async () => {
    const blob = await runCli(['fetch', `${emulator.appUrl}/files/blob.bin`], env);
    assert.equal(blob.code, 0, blob.stderr);
    assert.equal(sha256(blob.stdout), sha256(blobBytes()));

    const size = 6 * 1024 * 1024 + 3;
    const big = await runCli(['fetch', `${emulator.appUrl}/big?size=${size}`], env);
    assert.equal(big.code, 0, big.stderr);
    assert.equal(big.stdout.length, size, 'every byte, not cut at CF_ACCESS_MCP_MAX_BODY_BYTES');
  });

  it('a reader that starts late still gets every byte: the process exits only once its pipe has taken them', async () => {
    // More than the pipe holds, and less than a write queues before it reports back-pressure: at the end of the download the
    // tail is still queued in the CLI's own process, which then has to wait for the reader rather than exit.
    const size = 64 * 1024 + 8 * 1024 + 5;
    const out = join(tempHome('cfam-curl-late-'), 'body');
    const shell = spawn('bash', ['-c', 'set -o pipefail; "$@" | { sleep 2; cat > "$OUT"; }', 'late-reader', process.execPath, SERVER_ENTRY, 'fetch', `${emulator.appUrl}/big?size=${size}`], {
      env: { ...env, OUT: out },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    shell.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const [code] = (await once(shell, 'close')) as [number | null];
    assert.equal(code, 0, stderr);
    assert.equal(statSync(out).size, size, 'no byte lost at exit');
  });

  it('a reader that stops early (| head) ends the output without a crash or stack trace, and a body cut short exits 1 as curl fails', async () => {
    const url = `${emulator.appUrl}/big?size=${300 * 1024}`;
    for (const args of [['--format', 'text'], ['--json'], []]) {
      const { code, stderr } = await fetchInto('head -n 3 > /dev/null', [url, ...args]);
      // 300 KiB never fit in the pipe: head leaves with most of it unwritten, streamed or converted.
      assert.equal(code, 1, `${args.join(' ')}: ${stderr}`);
      assert.match(stderr, /The output was closed .*before the whole body was written/, args.join(' '));
    }
  });

  it('a reader that leaves after the download ended but before taking the tail still queued here: exit 1, not a silent 0', async () => {
    // As in the late-reader case above, the tail is queued in the CLI when the download ends; then head takes a few bytes and leaves.
    const size = 64 * 1024 + 8 * 1024 + 5;
    const run = (url: string, args: string[]) => fetchInto('{ sleep 2; head -c 10 > /dev/null; }', [url, ...args]);
    for (const args of [['--format', 'raw'], ['--format', 'text'], ['--json']]) {
      const cut = await run(`${emulator.appUrl}/big?size=${size}`, args);
      assert.equal(cut.code, 1, `${args.join(' ')}: ${cut.stderr}`);
      assert.match(cut.stderr, /The output was closed before the whole body was written/, args.join(' '));
    }
    // A body the pipe took whole before the reader left was written: exit 0, as with curl.
    const whole = await run(`${emulator.appUrl}/big?size=100`, ['--format', 'raw']);
    assert.equal(whole.code, 0, whole.stderr);
    assert.doesNotMatch(whole.stderr, /output was closed/);
  });

  it('stdout a socket (an agent spawning the CLI with stdio "pipe"): a reader that took every byte, or none was meant for it, is no failure', async () => {
    // Node's stdio 'pipe' is a socket pair: once its reader closes, even an empty write fails there, where a pipe takes it.
    const run = async (args: string[], take: number | 'none') => {
      const child = spawn(process.execPath, [SERVER_ENTRY, 'fetch', ...args], { env, cwd: tempHome('cfam-cli-cwd-'), stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      let got = 0;
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      if (take === 'none') child.stdout.destroy();
      else child.stdout.on('data', (chunk: Buffer) => ((got += chunk.length) >= take ? child.stdout.destroy() : undefined));
      const [code] = (await once(child, 'close')) as [number | null];
      return { code, stderr, got };
    };
    const file = await run([`${emulator.appUrl}/big?size=330`, '-o', 'saved.bin'], 'none');
    assert.equal(file.code, 0, `-o: nothing goes to stdout: ${file.stderr}`);
    const empty = await run([`${emulator.appUrl}/big?size=0`], 'none');
    assert.equal(empty.code, 0, `an empty body: ${empty.stderr}`);
    const whole = await run([`${emulator.appUrl}/big?size=330`], 330);
    assert.equal(whole.got, 330);
    assert.equal(whole.code, 0, `every byte taken, then closed: ${whole.stderr}`);
    const cut = await run([`${emulator.appUrl}/big?size=${300 * 1024}`, '--format', 'text'], 10);
    assert.equal(cut.code, 1, cut.stderr);
    assert.match(cut.stderr, /The output was closed .*before the whole body was written/);
  });

  it('a body the origin compressed anyway is decoded, then scrubbed: a credential it echoes never reaches the output', async () => {
    for (const args of [[], ['--format', 'text'], ['--json']]) {
      const run = await runCli(['fetch', `${emulator.appUrl}/gzip-echo`, ...args], env);
      assert.equal(run.code, 0, run.stderr);
      const out = run.stdout.toString('utf8');
      const body = args[0] === '--json' ? ((JSON.parse(out) as { text: string }).text) : out;
      const echoed = JSON.parse(body) as { headers: Record<string, string> };
      assert.ok(echoed.headers.authorization, `the echo of the request's headers, decoded: ${body.slice(0, 200)}`);
      for (const secret of emulator.secrets()) assert.ok(!out.includes(secret), `${args.join(' ')}: a credential in the output`);
    }
  });

  it('-o - is stdout; -o /dev/null works; -o <file> saves the bytes', async () => {
    const dash = await runCli(['fetch', `${emulator.appUrl}/images/pixel.png`, '-o', '-'], env);
    assert.equal(dash.code, 0, dash.stderr);
    assert.ok(dash.stdout.equals(PIXEL_PNG));

    const devnull = await runCli(['fetch', `${emulator.appUrl}/files/blob.bin`, '-o', '/dev/null'], env);
    assert.equal(devnull.code, 0, devnull.stderr);
    assert.equal(devnull.stdout.length, 0);
    assert.ok(statSync('/dev/null').isCharacterDevice(), '/dev/null is still a device');

    const file = join(tempHome('cfam-curl-out-'), 'x.png');
    const saved = await runCli(['fetch', `${emulator.appUrl}/images/pixel.png`, '-o', file], env);
    assert.equal(saved.code, 0, saved.stderr);
    assert.ok(readFileSync(file).equals(PIXEL_PNG));
  });

  it('-o into the session store is refused, converted or not', async () => {
    for (const format of [[], ['--format', 'markdown']]) {
      const run = await runCli(['fetch', `${emulator.appUrl}/`, '-o', join(home, 'store.json'), ...format], env);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /session store directory/);
    }
    const status = await runCli(['status', '--json'], env);
    assert.equal((JSON.parse(status.stdout.toString('utf8')) as { sessions: unknown[] }).sessions.length, 1, 'the store is intact');
  });

  it('converts only when asked: --format markdown gives readable text', async () => {
    const raw = await runCli(['fetch', `${emulator.appUrl}/`], env);
    assert.match(raw.stdout.toString('utf8'), /^<!doctype html>/i, 'HTML as served into a pipe');
    const markdown = await runCli(['fetch', `${emulator.appUrl}/`, '--format', 'markdown'], env);
    assert.equal(markdown.code, 0, markdown.stderr);
    const text = markdown.stdout.toString('utf8');
    assert.ok(text.includes(REPORT_SENTENCE));
    assert.doesNotMatch(text, /<html/i);
  });

  it('-o <file> with an HTTP error status: the response goes to the file as curl writes it; with -f no file at all, and --json -f has no body', async () => {
    const dir = tempHome('cfam-curl-status-');
    const plain = join(dir, 'plain.html');
    const run = await runCli(['fetch', `${emulator.appUrl}/no-such-page`, '-o', plain], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(readFileSync(plain, 'utf8'), /Nothing lives at \/no-such-page/);
    assert.doesNotMatch(run.stderr, /Nothing was saved/, 'no sentence contradicting the file it wrote');
    const failing = join(dir, 'failing.html');
    const failed = await runCli(['fetch', '-f', `${emulator.appUrl}/no-such-page`, '-o', failing], env);
    assert.equal(failed.code, 1, failed.stderr);
    assert.equal(existsSync(failing), false, 'no file written for a failure');
    assert.doesNotMatch(failed.stderr, /Saved|Nothing was saved/);
    const json = JSON.parse((await runCli(['fetch', '-f', '--json', `${emulator.appUrl}/no-such-page`], env)).stdout.toString('utf8')) as Record<string, unknown>;
    assert.equal(json.status, 404);
    assert.equal('text' in json, false, 'no body in --json -f');
  });

  it('-f: an HTTP error status writes no body and exits 1', async () => {
    const run = await runCli(['fetch', `${emulator.appUrl}/no-such-page`, '-f'], env);
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stdout.length, 0);
    assert.match(run.stderr, /HTTP 404/);
  });
});

describe('--json gives every command a machine-readable result', () => {
  it('fetch, login, status and logout', async () => {
    const fetched = JSON.parse((await runCli(['fetch', `${emulator.appUrl}/api/data.json`, '--json'], env)).stdout.toString('utf8')) as Record<string, unknown>;
    assert.equal(fetched.status, 200);
    assert.equal(fetched.auth, 'oauth');
    assert.ok(JSON.parse(fetched.text as string), 'the body is in "text"');

    const image = JSON.parse((await runCli(['fetch', `${emulator.appUrl}/images/pixel.png`, '--json'], env)).stdout.toString('utf8')) as { image: { data: string } };
    assert.ok(Buffer.from(image.image.data, 'base64').equals(PIXEL_PNG));

    const login = JSON.parse((await runCli(['login', `${emulator.appUrl}/`, '--json'], env)).stdout.toString('utf8')) as Record<string, unknown>;
    assert.equal(login.status, 'authenticated');
    const status = JSON.parse((await runCli(['status', '--json'], env)).stdout.toString('utf8')) as { sessions: unknown[] };
    assert.equal(status.sessions.length, 1);
    const other = cliEnv(tempHome(), 'approve');
    await runCli(['login', `${emulator.app2Url}/`], other);
    const logout = JSON.parse((await runCli(['logout', '--all', '--json'], other)).stdout.toString('utf8')) as { logged_out: unknown[] };
    assert.equal(logout.logged_out.length, 1);
  });
});

describe('settings', () => {
  it('an invalid environment value is warned about at start, with the value used instead', async () => {
    const run = await runCli(['status'], cliEnv(tempHome(), 'none', { CF_ACCESS_MCP_LOGIN_TIMEOUT: 'abc', CF_ACCESS_MCP_CALLBACK_PORT: '99999' }));
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /warning: CF_ACCESS_MCP_LOGIN_TIMEOUT="abc" .*; using 300 instead\./);
    assert.match(run.stderr, /warning: CF_ACCESS_MCP_CALLBACK_PORT="99999" .*; using 8400 instead\./);
  });
});

describe('Ctrl-C', () => {
  for (const command of ['login', 'fetch', 'proxy'] as const) {
    it(`during a pending ${command}: exit 3, and the login lock is released`, async () => {
      const store = tempHome();
      const child = startCli([command, `${emulator.app2Url}/`], cliEnv(store, 'ignore'));
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      const done = finishCli(child);
      await eventually(() => /Waiting for/.test(stderr) && heldLocks(store).length > 0, 15_000, 'the login to be pending');
      child.kill('SIGINT');
      const run = await done;
      assert.equal(run.signal, null, 'not killed by the signal');
      assert.equal(run.code, 3, run.stderr);
      assert.match(run.stderr, /interrupted/i);
      assert.deepEqual(heldLocks(store), [], 'no lock directory left behind');
      if (command === 'proxy') assert.equal(run.stdout.length, 0, 'no address printed for a proxy that is gone');
    });
  }
});
