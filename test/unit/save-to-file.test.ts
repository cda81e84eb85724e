import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { AccessError } from '../../src/core/errors.js';
import type { BodyStream } from '../../src/http/client.js';
import { confineSavePath, relativeBase } from '../../src/http/save-path.js';
import { resolveSavePath, saveBodyToFile } from '../../src/http/save-to-file.js';
import { loadConfig } from '../../src/service/config.js';
import { forAgents } from '../../src/mcp/next-step-words.js';

const URL_ = new URL('https://files.example.com/exports/report.csv');
const dirs: string[] = [];
const scratch = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'cfam-save-unit-'));
  dirs.push(dir);
  return dir;
};
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function bodyOf(chunks: Buffer[], failAfter?: number): BodyStream {
  let sent = 0;
  return new Readable({
    read() {
      if (failAfter !== undefined && sent === failAfter) {
        this.destroy(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }));
        return;
      }
      this.push(sent < chunks.length ? chunks[sent++] : null);
    },
  }) as unknown as BodyStream;
}

describe('resolveSavePath', () => {
  it('resolves relative paths against the working directory and ~/ against home', async () => {
    assert.equal(await resolveSavePath('out/report.csv', URL_), resolve('out/report.csv'));
    assert.equal(await resolveSavePath('~/report.csv', URL_), join(homedir(), 'report.csv'));
  });

  it('refuses a directory, suggesting a file name from the URL', async () => {
    const dir = scratch();
    for (const input of [dir, `${dir}/`, 'some/new/dir/']) {
      await assert.rejects(resolveSavePath(input, URL_), (error: AccessError) => {
        assert.equal(error.code, 'save_failed');
        assert.match(error.message, /names a directory/);
        assert.match(forAgents(error.nextStep), /report\.csv"/);
        return true;
      });
    }
    await assert.rejects(resolveSavePath('  ', URL_), (error: AccessError) => /^save_to is empty/.test(forAgents(error.message)));
  });
});

describe('saveBodyToFile', () => {
  it('streams every chunk to the file and leaves no temporary file', async () => {
    const dir = scratch();
    mkdirSync(join(dir, 'x', 'y'), { recursive: true });
    const chunks = [Buffer.from('a,b\n'), Buffer.alloc(70_000, 7), Buffer.from('end')];
    const path = join(dir, 'x', 'y', 'report.csv');
    const saved = await saveBodyToFile(bodyOf(chunks), path, URL_);
    assert.deepEqual(saved, { path, bytes: 70_007 });
    assert.ok(readFileSync(path).equals(Buffer.concat(chunks)));
    assert.deepEqual(readdirSync(join(dir, 'x', 'y')), ['report.csv']);
  });

  it('creates no directory for a path the user typed (the CLI does, for --create-dirs), and names that path', async () => {
    const dir = scratch();
    await assert.rejects(saveBodyToFile(bodyOf([Buffer.from('x')]), join(dir, 'x', 'report.csv'), URL_), (error: AccessError) => {
      assert.equal(error.code, 'save_failed');
      assert.match(error.message, /Could not save to .*\/x\/report\.csv: failed to create a file in its directory .*\/x \(no such file or directory\)/);
      assert.doesNotMatch(error.message, /\.part/);
      return true;
    });
    assert.deepEqual(readdirSync(dir), []);
  });

  it('keeps the earlier file and removes the partial one when the body fails midway', async () => {
    const dir = scratch();
    const path = join(dir, 'report.csv');
    writeFileSync(path, 'previous version');
    await assert.rejects(saveBodyToFile(bodyOf([Buffer.from('partial'), Buffer.from('more')], 1), path, URL_), (error: AccessError) => {
      assert.equal(error.code, 'network_error');
      assert.match(error.message, /files\.example\.com/);
      return true;
    });
    assert.equal(readFileSync(path, 'utf8'), 'previous version');
    assert.deepEqual(readdirSync(dir), ['report.csv']);
  });

  it('explains a path it cannot write', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'a-file'), '');
    await assert.rejects(saveBodyToFile(bodyOf([Buffer.from('x')]), join(dir, 'a-file', 'report.csv'), URL_), (error: AccessError) => {
      assert.equal(error.code, 'save_failed');
      assert.match(error.message, /Could not save to .*report\.csv: .*a part of the path is a file, not a directory/);
      assert.match(error.nextStep, /writable file path/);
      return true;
    });
  });
});

describe('confineSavePath (an agent\'s save_to)', () => {
  const refused = (pattern: RegExp, next: RegExp) => (error: AccessError) => {
    assert.equal(error.code, 'save_failed');
    assert.match(forAgents(error.message), pattern);
    assert.match(forAgents(error.nextStep), next);
    return true;
  };

  it('allows a new or (with overwrite) an existing regular file under a root, as its real path', async () => {
    const root = realpathSync(scratch());
    assert.equal(await confineSavePath(join(root, 'a', 'b.csv'), URL_, { roots: [root], overwrite: false }), join(root, 'a', 'b.csv'));
    writeFileSync(join(root, 'b.csv'), 'x');
    assert.equal(await confineSavePath(join(root, 'b.csv'), URL_, { roots: [root], overwrite: true }), join(root, 'b.csv'));
    await assert.rejects(confineSavePath(join(root, 'b.csv'), URL_, { roots: [root], overwrite: false }), refused(/already exists/, /overwrite: true/));
  });

  it('refuses outside every root, through a symlink too, naming a root in the next step', async () => {
    const [root, other] = [realpathSync(scratch()), realpathSync(scratch())];
    symlinkSync(other, join(root, 'out'));
    for (const path of [join(other, 'x.csv'), join(root, '..', 'x.csv'), join(root, 'out', 'x.csv')]) {
      await assert.rejects(confineSavePath(resolve(path), URL_, { roots: [root], overwrite: true }), refused(/outside the directories this server may write to/, new RegExp(`under ${root}.*report\\.csv`)));
    }
    await assert.rejects(confineSavePath(join(root, 'out', 'x.csv'), URL_, { roots: [root], overwrite: true }), /through a symbolic link/);
  });

  it('refuses any hidden part below the root, but not a hidden root itself', async () => {
    const root = join(scratch(), '.project');
    mkdirSync(root);
    assert.ok(await confineSavePath(join(root, 'ok.csv'), URL_, { roots: [root], overwrite: false }));
    for (const rel of ['.bashrc', '.ssh/authorized_keys', 'sub/.git/config', 'a/..b/c']) {
      await assert.rejects(confineSavePath(join(root, rel), URL_, { roots: [root], overwrite: true }), refused(/hidden file or directory/, /no part starting with "\."/));
    }
    // A harmless name that links to a hidden file is refused too.
    writeFileSync(join(root, '.env'), 'SECRET=1');
    symlinkSync(join(root, '.env'), join(root, 'env.txt'));
    await assert.rejects(confineSavePath(join(root, 'env.txt'), URL_, { roots: [root], overwrite: true }), /"\.env", a hidden file/);
  });

  it('refuses a dangling symlink and a directory', async () => {
    const root = realpathSync(scratch());
    symlinkSync(join(root, 'nowhere'), join(root, 'dangling'));
    await assert.rejects(confineSavePath(join(root, 'dangling'), URL_, { roots: [root], overwrite: true }), /symbolic link that leads nowhere, not a regular file/);
    mkdirSync(join(root, 'dir'));
    await assert.rejects(confineSavePath(join(root, 'dir'), URL_, { roots: [root], overwrite: true }), /is a directory, not a regular file/);
  });

  it('starts relative paths in the working directory when it is inside a root, else in the first root', () => {
    assert.equal(relativeBase(['/srv/a', '/srv/b'], '/srv/b/sub'), '/srv/b/sub');
    assert.equal(relativeBase(['/srv/a', '/srv/b'], '/home/me'), '/srv/a');
  });
});

describe('saveBodyToFile for an agent (confined)', () => {
  const confined = (maxBytes = 1_000_000, overwrite = false) => ({ confined: { overwrite, maxBytes } });

  it('creates the file 0600 and new directories 0700', async () => {
    const dir = scratch();
    const path = join(dir, 'new', 'report.csv');
    assert.deepEqual(await saveBodyToFile(bodyOf([Buffer.from('a,b\n')]), path, URL_, confined()), { path, bytes: 4 });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'new')).mode & 0o777, 0o700);
  });

  it('stops at the byte cap, removes the partial file and names the variable to raise', async () => {
    const dir = scratch();
    const chunks = Array.from({ length: 10 }, () => Buffer.alloc(1000, 1));
    await assert.rejects(saveBodyToFile(bodyOf(chunks), join(dir, 'big.bin'), URL_, confined(4500)), (error: AccessError) => {
      assert.equal(error.code, 'save_failed');
      assert.match(forAgents(error.message), /larger than the save_to limit of 4500 bytes; .*partial file .*big\.bin removed/);
      assert.match(error.nextStep, /CF_ACCESS_MCP_MAX_SAVE_BYTES/);
      return true;
    });
    assert.deepEqual(readdirSync(dir), []);
    // Over an existing file, the earlier version stays.
    writeFileSync(join(dir, 'big.bin'), 'earlier');
    await assert.rejects(saveBodyToFile(bodyOf(chunks), join(dir, 'big.bin'), URL_, confined(4500, true)), /limit of 4500 bytes/);
    assert.deepEqual(readdirSync(dir), ['big.bin']);
    assert.equal(readFileSync(join(dir, 'big.bin'), 'utf8'), 'earlier');
  });

  it('never replaces a file that appeared after the check, unless overwrite was given', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'late.csv'), 'someone else');
    await assert.rejects(saveBodyToFile(bodyOf([Buffer.from('x')]), join(dir, 'late.csv'), URL_, confined()), /appeared or changed while downloading/);
    assert.equal(readFileSync(join(dir, 'late.csv'), 'utf8'), 'someone else');
  });
});

describe('CF_ACCESS_MCP_MAX_SAVE_BYTES and CF_ACCESS_MCP_DEADLINE_MS', () => {
  it('default to 1 GiB and 120 s; take positive whole numbers', () => {
    const defaults = loadConfig({});
    assert.equal(defaults.maxSaveBytes, 1024 ** 3);
    assert.equal(defaults.deadlineMs, 120_000);
    assert.deepEqual(defaults.warnings, []);
    const set = loadConfig({ CF_ACCESS_MCP_MAX_SAVE_BYTES: ' 5000 ', CF_ACCESS_MCP_DEADLINE_MS: '1500' });
    assert.equal(set.maxSaveBytes, 5000);
    assert.equal(set.deadlineMs, 1500);
  });

  it('warn about anything else and use the default', () => {
    for (const value of ['0', '-1', '1.5', '1e9', 'abc', '99999999999999999999']) {
      const config = loadConfig({ CF_ACCESS_MCP_MAX_SAVE_BYTES: value, CF_ACCESS_MCP_DEADLINE_MS: value });
      assert.equal(config.maxSaveBytes, 1024 ** 3, value);
      assert.equal(config.deadlineMs, 120_000, value);
      assert.equal(config.warnings?.length, 2, value);
      assert.match(config.warnings![0]!, /CF_ACCESS_MCP_MAX_SAVE_BYTES=".*" is not a whole number of bytes at least 1; using 1073741824 instead/);
    }
  });
});
