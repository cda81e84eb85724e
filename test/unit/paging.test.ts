import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_MAX_LENGTH, paginate } from '../../src/http/paging.js';
import { forAgents } from '../../src/mcp/next-step-words.js';
import { forTerminal } from '../../src/cli/next-step-words.js';

/** Follows next_start_index from 0 to the end, as an agent would. */
function readAll(full: string, maxLength: number): { joined: string; pages: number } {
  let joined = '';
  let start = 0;
  for (let pages = 1; ; pages++) {
    const page = paginate(full, start, maxLength);
    // (only a one-unit window may grow to two, to keep a surrogate pair whole)
    assert.ok(page.content.length <= Math.max(maxLength, 2), 'a page never exceeds max_length');
    assert.equal(page.start_index, start);
    assert.equal(page.total_length, full.length);
    joined += page.content;
    if (!page.truncated) {
      assert.equal(page.next_start_index, undefined);
      return { joined, pages };
    }
    assert.ok(page.next_start_index! > start, 'every page moves forward');
    assert.match(forAgents(page.text), new RegExp(`start_index: ${page.next_start_index}\\b`), 'the note names the next start_index');
    assert.ok(page.text.startsWith(page.content));
    start = page.next_start_index!;
  }
}

describe('paginate', () => {
  it('joins back to the full text with no gap or overlap, for any text and window', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), fc.integer({ min: 1, max: 50 }), (full, maxLength) => {
        const { joined } = readAll(full, maxLength);
        assert.equal(joined, full);
      }),
      { numRuns: 300 },
    );
  });

  it('never splits a surrogate pair across pages', () => {
    const full = '😀'.repeat(20);
    for (const maxLength of [1, 2, 3, 5, 7]) {
      let start = 0;
      for (;;) {
        const page = paginate(full, start, maxLength);
        assert.ok(!/^[\udc00-\udfff]|[\ud800-\udbff]$/.test(page.content), `window ${maxLength} at ${start} cut a pair`);
        if (!page.truncated) break;
        start = page.next_start_index!;
      }
    }
  });

  it('a start_index an agent computed in the middle of a surrogate pair starts at the whole character', () => {
    const full = 'a😀b😀c';
    const page = paginate(full, 2, 1);
    assert.equal(page.content, '😀', 'no lone low surrogate at the start');
    assert.equal(page.start_index, 1, 'the window says where it really starts');
    assert.equal(page.next_start_index, 3);
    assert.equal(paginate(full, 5, 10).content, '😀c');
    assert.equal(paginate('\udc00x', 0, 1).content, '\udc00', 'a lone surrogate in the text itself is kept as it is');
  });

  it('returns everything with no note when it fits', () => {
    const page = paginate('short text', 0, 100);
    assert.deepEqual(page, { text: 'short text', content: 'short text', start_index: 0, total_length: 10, truncated: false });
  });

  it('ends a cut page with a note giving the next start_index', () => {
    const page = paginate('abcdefghij', 2, 3);
    assert.equal(page.content, 'cde');
    assert.equal(page.truncated, true);
    assert.equal(page.next_start_index, 5);
    assert.match(forAgents(page.text), /^cde\n\n\[Content truncated: characters 2–5 of 10\. To continue, call access_fetch with start_index: 5 and the same other arguments\.\]$/);
    // The command line prints whole texts; its words for the step name no tool argument.
    assert.doesNotMatch(forTerminal(page.text), /start_index|access_fetch/);
  });

  it('says there is no more content past the end', () => {
    for (const start of [10, 11, 5000]) {
      const page = paginate('abcdefghij', start, 3);
      assert.equal(page.content, '');
      assert.equal(page.truncated, false);
      assert.equal(page.next_start_index, undefined);
      assert.match(page.text, /No more content/);
      assert.match(page.text, /total length 10/);
    }
  });

  it('says so when the body is empty, and past the end of an empty body', () => {
    assert.match(paginate('', 0, 10).text, /empty/);
    assert.match(paginate('', 3, 10).text, /No more content/);
  });

  it('defaults to 20,000 characters', () => {
    assert.equal(DEFAULT_MAX_LENGTH, 20_000);
    const page = paginate('x'.repeat(25_000), 0);
    assert.equal(page.content.length, 20_000);
    assert.equal(page.next_start_index, 20_000);
  });
});
