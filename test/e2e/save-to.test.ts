import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ListRootsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Emulator } from '../../src/emulator/index.js';
import { cleanupHomes, SERVER_ENTRY, tempHome, TestServer, textOf, type ServerOptions, resultData, startEmulator } from '../helpers/harness.js';
import { assertNoSecretsLeaked, recordOutput } from '../helpers/leaks.js';

/**
 * Issue 11, weaknesses 4 and 9: a prompt-injected save_to must not write where
 * the user did not mean (dot-files, outside the project, through a symlink,
 * over an existing file or a device), a trickling body must not hold a call
 * open forever, and an endless body must not fill the disk. The built server
 * over stdio, against the emulator and a hostile origin on loopback.
 */

let emulator: Emulator;
let hostile: Server;
let hostileUrl: string;
const servers: TestServer[] = [];

async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const server = await TestServer.start({ browser: 'none', ...options });
  servers.push(server);
  return server;
}

function assertRefused(result: CallToolResult, pattern: RegExp, what: string): string {
  assert.equal(result.isError, true, `${what}: expected an error, got ${textOf(result)}`);
  const text = textOf(result);
  assert.match(text, pattern, what);
  assert.match(text, /\nNext step: \S/, `${what}: names a next step`);
  return text;
}

function assertOk(result: CallToolResult): Record<string, unknown> {
  assert.notEqual(result.isError, true, `unexpected error: ${textOf(result)}`);
  return resultData(result);
}

/** A page the agent is told to save, from the plain (unprotected) emulator origin. */
const page = () => `${emulator.plainUrl}/`;

before(async () => {
  emulator = await startEmulator();
  // A hostile origin: /trickle sends a byte every 100 ms forever; /endless sends 64 KB chunks forever.
  hostile = createServer((req, res) => {
    const timers: NodeJS.Timeout[] = [];
    res.on('close', () => timers.forEach(clearInterval));
    if (req.url === '/trickle') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      timers.push(setInterval(() => res.write('x'), 100));
      return;
    }
    if (req.url === '/endless') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 1);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
      };
      res.on('drain', pump);
      pump();
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
  hostileUrl = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
});

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  hostile.closeAllConnections();
  await new Promise((resolve) => hostile.close(resolve));
  assertNoSecretsLeaked(emulator.secrets());
  await emulator.close();
  cleanupHomes();
});

describe('save_to from an agent writes only where the user meant', () => {
  let server: TestServer;
  let project: string;

  before(async () => {
    project = tempHome('cfam-project-');
    // HOME is the project too, so "~/.bashrc" is inside the allowed directory and refused for being hidden.
    server = await startServer({ cwd: project, env: { HOME: project } });
  });

  it('refuses dot-files and dot-directories, and leaves them unchanged', async () => {
    writeFileSync(join(project, '.bashrc'), 'original bashrc\n');
    writeFileSync(join(project, '.mcp.json'), '{"original":true}\n');
    mkdirSync(join(project, '.ssh'));
    for (const target of ['~/.bashrc', '.mcp.json', '.ssh/authorized_keys', '.git/config', join(project, 'docs', '.hidden', 'page.html'), '~/.config/autostart/x.desktop']) {
      for (const overwrite of [false, true]) {
        const text = assertRefused(await server.call('access_fetch', { url: page(), save_to: target, overwrite }), /hidden file or directory/, `${target} overwrite=${overwrite}`);
        assert.match(text, /Next step: Choose a path with no part starting with "\."/);
      }
    }
    assert.equal(readFileSync(join(project, '.bashrc'), 'utf8'), 'original bashrc\n');
    assert.equal(readFileSync(join(project, '.mcp.json'), 'utf8'), '{"original":true}\n');
    assert.deepEqual(readdirSync(join(project, '.ssh')), []);
    for (const made of ['.git', 'docs', '.config']) assert.equal(existsSync(join(project, made)), false, `${made} was not created`);
  });

  it('refuses paths outside the working directory: ../, absolute, /dev/null', async () => {
    const outside = tempHome('cfam-outside-');
    writeFileSync(join(outside, 'keep.txt'), 'keep');
    // A private null device before the real one: a regression then fails here without breaking this machine's /dev/null.
    const device = join(tempHome('cfam-dev-'), 'null');
    const haveDevice = spawnSync('mknod', [device, 'c', '1', '3']).status === 0;
    const escape = `cfam-outside-${process.pid}-${Date.now()}.html`;
    const cases = [join('..', escape), join(outside, 'new.html'), join(outside, 'keep.txt'), '/etc/cf-access-mcp-test', ...(haveDevice ? [device] : []), '/dev/null'];
    for (const target of cases) {
      const text = assertRefused(await server.call('access_fetch', { url: page(), save_to: target, overwrite: true }), /outside the directories this server may write to/, target);
      assert.ok(text.includes(`Next step: Choose a path under ${realProject()}`), text);
    }
    assert.deepEqual(readdirSync(outside).sort(), ['keep.txt']);
    assert.equal(readFileSync(join(outside, 'keep.txt'), 'utf8'), 'keep');
    assert.equal(existsSync(join(project, '..', escape)), false);
    if (haveDevice) assert.ok(statSync(device).isCharacterDevice());
    assert.ok(statSync('/dev/null').isCharacterDevice());
  });

  it('refuses a symlink inside the working directory that leads outside', async () => {
    const outside = tempHome('cfam-outside-');
    writeFileSync(join(outside, 'victim.txt'), 'victim');
    symlinkSync(outside, join(project, 'link-dir'));
    symlinkSync(join(outside, 'victim.txt'), join(project, 'notes.txt'));
    symlinkSync(join(outside, 'not-yet.txt'), join(project, 'dangling.txt'));
    for (const target of ['link-dir/new.html', 'link-dir/victim.txt', 'notes.txt']) {
      assertRefused(await server.call('access_fetch', { url: page(), save_to: target, overwrite: true }), /outside the directories .*it leads, through a symbolic link, to/, target);
    }
    assertRefused(await server.call('access_fetch', { url: page(), save_to: 'dangling.txt', overwrite: true }), /outside the directories|not a regular file/, 'dangling.txt');
    assert.deepEqual(readdirSync(outside).sort(), ['victim.txt']);
    assert.equal(readFileSync(join(outside, 'victim.txt'), 'utf8'), 'victim');
  });

  it('a directory swapped for a symlink while the response is on its way: nothing lands outside', async () => {
    const outside = tempHome('cfam-outside-');
    mkdirSync(join(project, 'sub'));
    // Usually the swap comes after the path check and before the body: the late check refuses. Under load it may
    // come first: then the path check refuses. Either way nothing may land outside.
    const late = createServer((_req, res) => void setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('report\n'), 3000));
    await new Promise<void>((r) => late.listen(0, '127.0.0.1', r));
    try {
      const slow = server.call('access_fetch', { url: `http://127.0.0.1:${(late.address() as AddressInfo).port}/report`, save_to: 'sub/report.txt' });
      await new Promise((r) => setTimeout(r, 1200));
      renameSync(join(project, 'sub'), join(project, 'sub-moved'));
      symlinkSync(outside, join(project, 'sub'));
      assertRefused(await slow, /changed while downloading|outside the directories/, 'sub/report.txt');
      assert.deepEqual(readdirSync(outside), [], 'nothing was written through the swapped directory');
    } finally {
      late.closeAllConnections();
      await new Promise((r) => late.close(r));
    }
  });

  it('refuses what is not a regular file (a named pipe, a directory), even with overwrite', async () => {
    const fifo = join(project, 'pipe');
    const made = spawnSync('mkfifo', [fifo]);
    if (made.status === 0) {
      assertRefused(await server.call('access_fetch', { url: page(), save_to: 'pipe', overwrite: true }), /is a named pipe, not a regular file/, 'fifo');
      assert.ok(statSync(fifo).isFIFO(), 'the pipe is still a pipe');
    }
    if (spawnSync('mknod', [join(project, 'null'), 'c', '1', '3']).status === 0) {
      assertRefused(await server.call('access_fetch', { url: page(), save_to: 'null', overwrite: true }), /is a device, not a regular file/, 'device');
      assert.ok(statSync(join(project, 'null')).isCharacterDevice(), 'the device is still a device');
    }
    mkdirSync(join(project, 'a-dir'));
    assertRefused(await server.call('access_fetch', { url: page(), save_to: 'a-dir', overwrite: true }), /names a directory/, 'directory');
  });

  it('refuses an existing file unless overwrite: true; creates files 0600 and directories 0700', async () => {
    writeFileSync(join(project, 'report.html'), 'earlier version');
    const text = assertRefused(await server.call('access_fetch', { url: page(), save_to: 'report.html' }), /already exists; it was left unchanged/, 'existing file');
    assert.match(text, /Next step: Pass overwrite: true/);
    assert.equal(readFileSync(join(project, 'report.html'), 'utf8'), 'earlier version');

    const replaced = assertOk(await server.call('access_fetch', { url: page(), save_to: 'report.html', overwrite: true }));
    assert.equal(replaced.saved_to, join(realProject(), 'report.html'));
    assert.match(readFileSync(join(project, 'report.html'), 'utf8'), /<html/i);
    assert.equal(statSync(join(project, 'report.html')).mode & 0o777, 0o600);

    const fresh = assertOk(await server.call('access_fetch', { url: page(), save_to: 'downloads/new/page.html' }));
    assert.equal(fresh.saved_to, join(realProject(), 'downloads', 'new', 'page.html'));
    assert.equal(statSync(join(project, 'downloads', 'new', 'page.html')).mode & 0o777, 0o600);
    assert.equal(statSync(join(project, 'downloads')).mode & 0o777, 0o700);
    assert.deepEqual(readdirSync(join(project, 'downloads', 'new')), ['page.html'], 'no temporary file left');
  });

  function realProject(): string {
    return spawnSync('realpath', [project], { encoding: 'utf8' }).stdout.trim() || project;
  }
});

describe('save_to with a client that declares roots', () => {
  it('writes inside a root, refuses outside it (the working directory included), and follows roots/list_changed', async () => {
    const first = tempHome('cfam-root-a-');
    const second = tempHome('cfam-root-b-');
    let roots = [first];
    const client = new Client({ name: 'cf-access-mcp-tests-roots', version: '1.0.0' }, { capabilities: { roots: { listChanged: true } } });
    let listed = 0;
    client.setRequestHandler(ListRootsRequestSchema, async () => {
      listed++;
      return { roots: roots.map((dir) => ({ uri: pathToFileURL(dir).href, name: 'project' })) };
    });
    const server = await startServer({ client });

    const inside = assertOk(await server.call('access_fetch', { url: page(), save_to: join(first, 'page.html') }));
    assert.match(readFileSync(join(first, 'page.html'), 'utf8'), /<html/i);
    assert.equal(statSync(join(first, 'page.html')).mode & 0o777, 0o600);
    assert.ok(String(inside.saved_to).endsWith('page.html'));
    // A relative path starts from the root when the working directory is not inside one.
    assertOk(await server.call('access_fetch', { url: page(), save_to: 'relative.html' }));
    assert.ok(existsSync(join(first, 'relative.html')));

    assertRefused(await server.call('access_fetch', { url: page(), save_to: join(server.cwd, 'page.html') }), /outside the directories this server may write to/, 'the working directory is not a root');
    assertRefused(await server.call('access_fetch', { url: page(), save_to: join(second, 'page.html') }), /outside the directories/, 'another directory');
    assert.deepEqual(readdirSync(second), []);
    assert.equal(existsSync(join(server.cwd, 'page.html')), false);
    assert.equal(listed, 1, 'roots are asked for once and cached');

    roots = [second];
    await server.client.sendRootsListChanged();
    assertOk(await server.call('access_fetch', { url: page(), save_to: join(second, 'page.html') }));
    assertRefused(await server.call('access_fetch', { url: page(), save_to: join(first, 'again.html') }), /outside the directories/, 'the old root after list_changed');
    assert.equal(listed, 2, 'asked again after list_changed');
  });
});

describe('a hostile body cannot hold a call open or fill the disk', () => {
  it('a body trickling one byte every 100 ms ends with the total deadline error (CF_ACCESS_MCP_DEADLINE_MS), and the server stays up', async () => {
    const server = await startServer({ env: { CF_ACCESS_MCP_DEADLINE_MS: '1500' } });
    const started = Date.now();
    const text = assertRefused(await server.call('access_fetch', { url: `${hostileUrl}/trickle` }, { timeoutMs: 60_000 }), /did not finish within 1\.5 s \(the total deadline, CF_ACCESS_MCP_DEADLINE_MS\)/, 'trickle');
    assert.match(text, /raise CF_ACCESS_MCP_DEADLINE_MS/);
    // Generous: the point is that it ends at all (the per-chunk timeout alone never ends it).
    assert.ok(Date.now() - started < 30_000, `ended after ${Date.now() - started} ms`);

    assertRefused(await server.call('access_fetch', { url: `${hostileUrl}/trickle`, save_to: 'trickle.txt' }, { timeoutMs: 60_000 }), /total deadline/, 'trickle to a file');
    assert.deepEqual(readdirSync(server.cwd), [], 'no partial file');
    assertOk(await server.call('access_fetch', { url: page() }));
  });

  it('an endless body saved with save_to stops at CF_ACCESS_MCP_MAX_SAVE_BYTES and leaves no partial file', async () => {
    const server = await startServer({ env: { CF_ACCESS_MCP_MAX_SAVE_BYTES: '300000' } });
    const text = assertRefused(
      await server.call('access_fetch', { url: `${hostileUrl}/endless`, save_to: 'big/endless.bin' }, { timeoutMs: 60_000 }),
      /larger than the save_to limit of 300000 bytes; the download was stopped and the partial file .*endless\.bin removed/,
      'endless',
    );
    assert.match(text, /raise CF_ACCESS_MCP_MAX_SAVE_BYTES/);
    assert.deepEqual(readdirSync(join(server.cwd, 'big')), [], 'no partial file');
    // Over an existing file (overwrite: true) the earlier version survives.
    writeFileSync(join(server.cwd, 'kept.bin'), 'earlier');
    assertRefused(await server.call('access_fetch', { url: `${hostileUrl}/endless`, save_to: 'kept.bin', overwrite: true }, { timeoutMs: 60_000 }), /save_to limit/, 'endless over a file');
    assert.equal(readFileSync(join(server.cwd, 'kept.bin'), 'utf8'), 'earlier');
    assert.deepEqual(readdirSync(server.cwd).sort(), ['big', 'kept.bin']);
  });

  it('warns about an invalid limit and uses the default', async () => {
    const server = await startServer({ env: { CF_ACCESS_MCP_DEADLINE_MS: '-5', CF_ACCESS_MCP_MAX_SAVE_BYTES: '1e3' } });
    assertOk(await server.call('access_fetch', { url: page(), save_to: 'ok.html' }));
    const logged = server.stderr.join('') + server.logMessages.join('\n');
    assert.match(logged, /CF_ACCESS_MCP_DEADLINE_MS="-5" is not a whole number of milliseconds at least 1; using 120000 instead/);
    assert.match(logged, /CF_ACCESS_MCP_MAX_SAVE_BYTES="1e3" is not a whole number of bytes at least 1; using 1073741824 instead/);
  });
});

describe('CLI fetch -o keeps curl\'s behaviour (the user typed the path)', () => {
  function cli(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const env = { ...process.env, CF_ACCESS_MCP_HOME: tempHome(), CF_ACCESS_MCP_CALLBACK_PORT: '0', CF_ACCESS_MCP_BROWSER: 'none' };
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [SERVER_ENTRY, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
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
    });
  }

  /** A --json error document, as the lines a person reads on stderr without --json. */
  function jsonError(stdout: string): string {
    const document = JSON.parse(stdout) as { error: string; message: string; next_step: string };
    return `error: ${document.message}\nnext step: ${document.next_step}`;
  }

  it('writes outside the working directory, to a dot-file and over an existing file', async () => {
    const cwd = tempHome('cfam-cli-cwd-');
    const elsewhere = tempHome('cfam-cli-elsewhere-');
    writeFileSync(join(elsewhere, '.page.html'), 'earlier');
    const run = await cli(['fetch', page(), '-o', join(elsewhere, '.page.html')], cwd);
    assert.equal(run.code, 0, run.stderr);
    assert.match(readFileSync(join(elsewhere, '.page.html'), 'utf8'), /<html/i);
  });

  it('-o to a path that cannot be written (/proc/version): the error names that path and what to do, never our temporary file', async () => {
    const cwd = tempHome('cfam-cli-cwd-');
    for (const format of [[], ['--format', 'text'], ['--json']]) {
      const run = await cli(['fetch', page(), '-o', '/proc/version', ...format], cwd);
      assert.equal(run.code, 1, run.stderr);
      // With --json the same error is the document on stdout.
      const said = format[0] === '--json' ? jsonError(run.stdout) : run.stderr;
      assert.match(said, /error: Could not save to \/proc\/version: failed to .*\nnext step: Choose a writable file path for -o <file>/, `${format.join(' ')}: ${said}`);
      assert.doesNotMatch(run.stderr + run.stdout, /\.part|\.version\./, `${format.join(' ')}: no temporary file named`);
    }
  });

  it('-o into a directory that does not exist fails and creates nothing, as curl; --create-dirs creates it', async () => {
    const cwd = tempHome('cfam-cli-cwd-');
    for (const format of [[], ['--format', 'text']]) {
      const run = await cli(['fetch', page(), '-o', 'missing/dir/page.html', ...format], cwd);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /error: Could not save to missing\/dir\/page\.html: its directory .*\/missing\/dir does not exist\.\nnext step: Add --create-dirs/, run.stderr);
      assert.equal(existsSync(join(cwd, 'missing')), false, `${format.join(' ')}: no directory created`);
      const created = await cli(['fetch', page(), '-o', 'missing/dir/page.html', '--create-dirs', ...format], cwd);
      assert.equal(created.code, 0, created.stderr);
      assert.match(readFileSync(join(cwd, 'missing', 'dir', 'page.html'), 'utf8'), /Plain origin/);
      rmSync(join(cwd, 'missing'), { recursive: true });
      // As curl, the directories come with the file: a refused status (-f) writes nothing and makes none.
      const refused = await cli(['fetch', `${emulator.plainUrl}/no-such-page`, '-f', '-o', 'missing/dir/page.html', '--create-dirs', ...format], cwd);
      assert.equal(refused.code, 1, refused.stderr);
      assert.equal(existsSync(join(cwd, 'missing')), false, `${format.join(' ')}: no directory made for a body not written`);
    }
    // The command to create it can be pasted into a shell as it is: a name with a space, a quote or a $ stays one word.
    const odd = await cli(['fetch', page(), '-o', "it's $HOME/page.html"], cwd);
    assert.equal(odd.code, 1, odd.stderr);
    const command = /\(mkdir -p (.*)\)\.\n/.exec(odd.stderr)?.[1];
    assert.ok(command, odd.stderr);
    const made = spawnSync('sh', ['-c', `mkdir -p ${command}`], { cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent' } });
    assert.equal(made.status, 0, made.stderr.toString());
    assert.ok(existsSync(join(cwd, "it's $HOME")), `made as named: ${command}`);
    // A directory that is a symbolic link to nothing is named as such: --create-dirs could not help.
    symlinkSync(join(cwd, 'nowhere'), join(cwd, 'linkdir'));
    const dangling = await cli(['fetch', page(), '-o', 'linkdir/page.html'], cwd);
    assert.equal(dangling.code, 1, dangling.stderr);
    assert.match(dangling.stderr, /its directory .*linkdir is a symbolic link to something that does not exist/);
  });

  it('-o to a character device writes to the device and leaves it a device (/dev/null, run as root)', async (t) => {
    const cwd = tempHome('cfam-cli-cwd-');
    // First a private null device, so a regression cannot break this machine's /dev/null.
    const own = join(tempHome('cfam-cli-dev-'), 'null');
    if (spawnSync('mknod', [own, 'c', '1', '3']).status === 0) {
      const run = await cli(['fetch', page(), '-o', own], cwd);
      assert.equal(run.code, 0, run.stderr);
      assert.ok(statSync(own).isCharacterDevice(), 'the private device is still a character device');
    } else if (process.getuid?.() !== 0) {
      t.skip('needs root to create a device node');
      return;
    }
    const run = await cli(['fetch', page(), '-o', '/dev/null'], cwd);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(statSync('/dev/null').isCharacterDevice(), '/dev/null is still a character device');
  });
});
