import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { AccessError } from '../../src/auth/errors.js';
import type { BodyStream } from '../../src/http/client.js';
import { resolveSavePath, saveBodyToFile } from '../../src/http/save-to-file.js';

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
        assert.match(error.nextStep, /report\.csv"/);
        return true;
      });
    }
    await assert.rejects(resolveSavePath('  ', URL_), /save_to is empty/);
  });
});

describe('saveBodyToFile', () => {
  it('streams every chunk to the file, creating parent directories, and leaves no temporary file', async () => {
    const dir = scratch();
    const chunks = [Buffer.from('a,b\n'), Buffer.alloc(70_000, 7), Buffer.from('end')];
    const path = join(dir, 'x', 'y', 'report.csv');
    const saved = await saveBodyToFile(bodyOf(chunks), path, URL_);
    assert.deepEqual(saved, { path, bytes: 70_007 });
    assert.ok(readFileSync(path).equals(Buffer.concat(chunks)));
    assert.deepEqual(readdirSync(join(dir, 'x', 'y')), ['report.csv']);
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
