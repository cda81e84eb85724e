import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPORT_SENTENCE, type Emulator } from '../../src/emulator/index.js';
import { cleanupHomes, ROOT, startEmulator, tempHome, TestServer, textOf } from '../helpers/harness.js';
import { assertNoSecretsLeaked } from '../helpers/leaks.js';

/**
 * Issue 6, "Done when": a real browser. The server opens Debian's Chromium
 * (through playwright-core, test/fixtures/chromium-browser.mjs) at the
 * emulator's interactive consent page; it presses Approve and lands on our
 * callback page. CI installs the `chromium` package when it is missing.
 */

const CHROMIUM = '/usr/bin/chromium';
const BROWSER = join(ROOT, 'test', 'fixtures', 'chromium-browser.mjs');
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium) to run the real-browser test`;

let emulator: Emulator;
let server: TestServer | undefined;

before(async () => {
  emulator = await startEmulator({ approval: 'interactive' });
});

after(async () => {
  await server?.close();
  assertNoSecretsLeaked(emulator.secrets());
  await emulator.close();
  cleanupHomes();
});

async function until(done: () => boolean, limitMs: number): Promise<void> {
  for (const end = Date.now() + limitMs; !done() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 100));
}

describe('real browser (Chromium)', { skip }, () => {
  it('signs in through the interactive page, shows our success page, and the fetch returns the content', async () => {
    const pageText = join(tempHome('cfam-chromium-out-'), 'callback-page.txt');
    server = await TestServer.start({
      env: { CF_ACCESS_MCP_BROWSER: `${process.execPath} ${BROWSER}`, CHROMIUM_PAGE_TEXT_FILE: pageText },
    });
    const result = await server.call('access_fetch', { url: `${emulator.appUrl}/`, wait_seconds: 90 });
    // The browser writes the callback page's text once the page has rendered, which may be after the exchange finished.
    await until(() => existsSync(pageText) || existsSync(`${pageText}.err`), 60_000);
    const problem = existsSync(`${pageText}.err`) ? readFileSync(`${pageText}.err`, 'utf8') : '';
    assert.notEqual(result.isError, true, `${textOf(result)}\n${problem}`);
    assert.ok(textOf(result).includes(REPORT_SENTENCE), textOf(result).slice(0, 500));

    assert.ok(existsSync(pageText), `the browser wrote no callback page text. ${problem}`);
    const text = readFileSync(pageText, 'utf8');
    assert.match(text, /You are signed in/);
    assert.match(text, /close this tab/i);
    assert.ok(text.includes(new URL(emulator.appUrl).host), 'the page names the site');
    assert.equal(emulator.requests({ endpoint: 'authorize_decision' }).length, 1, 'Approve was pressed once');
  });
});
