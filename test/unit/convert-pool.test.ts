import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { convertBody, type ConvertOptions } from '../../src/http/convert.js';
import { converterWorkerCount } from '../../src/http/convert-pool.js';
import { SLOW_PAGE_LAST_ENTRY, slowPage, smallUnmarkedPage } from '../helpers/slow-pages.js';

/**
 * Issue 16: a slow page (one that keeps Readability busy for most of the
 * budget) holds up only itself. A page queued behind it gets a second worker,
 * which is ended again once idle; each job keeps its own budget.
 */

const OPTIONS: ConvertOptions = { bodyComplete: true, maxImageBytes: 0, url: new URL('https://docs.example/guide/') };

/** Resolves once `check` holds; polls without any bound of its own (the test runner's timeout is the bound). */
async function eventually(check: () => boolean): Promise<void> {
  while (!check()) await sleep(100);
}

describe('the conversion pool: a slow page does not hold up the others', () => {
  it('a page queued behind a slow one is converted (in a second worker) while the slow one still converts', async () => {
    const finished: string[] = [];
    const slow = convertBody(slowPage(), 'text/html', 'markdown', { ...OPTIONS, budgetMs: 300_000 }).then((result) => {
      finished.push('slow');
      return result;
    });
    const small = await convertBody(smallUnmarkedPage('Queued'), 'text/html', 'markdown', OPTIONS);
    finished.push('small');
    assert.match(small.text, /^# Queued\n[^]*A sentence of the page called Queued/);
    assert.equal(small.notes, undefined);
    assert.deepEqual(finished, ['small'], 'the small page waited for the slow one');
    assert.equal(converterWorkerCount(), 2);

    const done = await slow;
    assert.deepEqual(finished, ['small', 'slow']);
    assert.ok(done.text.includes(`[${SLOW_PAGE_LAST_ENTRY}](https://docs.example/files/${SLOW_PAGE_LAST_ENTRY})`), done.text.slice(-300));
    assert.equal(done.notes, undefined);
    // Idle again: the second worker is ended, one stays warm.
    await eventually(() => converterWorkerCount() === 1);
    const next = await convertBody(smallUnmarkedPage('After'), 'text/html', 'text', OPTIONS);
    assert.match(next.text, /A sentence of the page called After/);
    assert.equal(converterWorkerCount(), 1);
  });

  it('at its budget the slow page is shown as served with a note, the page queued meanwhile keeps its own budget and converts, and the pool goes on', async () => {
    const slow = convertBody(slowPage(), 'text/html', 'markdown', { ...OPTIONS, budgetMs: 1_500 });
    const small = convertBody(smallUnmarkedPage('Meanwhile'), 'text/html', 'markdown', { ...OPTIONS, budgetMs: 60_000 });
    const [late, meanwhile] = await Promise.all([slow, small]);
    assert.match(late.notes?.join(' ') ?? '', /not converted to markdown: converting it took longer than the 1500 ms budget \(CF_ACCESS_MCP_CONVERT_BUDGET_MS\)\. It is shown as served \(HTML\)/);
    assert.ok(late.text.startsWith('<html><body><div><a href="/files/entry-0.html">'), late.text.slice(0, 100));
    assert.match(meanwhile.text, /^# Meanwhile\n/);
    assert.equal(meanwhile.notes, undefined);
    // The slow page's worker was ended; the next pages convert all the same.
    const after = await Promise.all(['One', 'Two', 'Three'].map((name) => convertBody(smallUnmarkedPage(name), 'text/html', 'markdown', OPTIONS)));
    after.forEach((result, i) => assert.match(result.text, new RegExp(`^# ${['One', 'Two', 'Three'][i]}\\n`)));
    await eventually(() => converterWorkerCount() === 1);
  });
});
