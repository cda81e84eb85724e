import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { REDACTED, redactWith } from '../../src/core/redact.js';
import { convertBody, type ConvertOptions, type Format } from '../../src/http/convert.js';
import { trimLineEnds } from '../../src/http/html.js';
import { NestedTooDeepError, parseHtml } from '../../src/http/html-tree.js';
import { escapedForms } from '../helpers/escapes.js';

/** Issue 11, items 2 and 3: echoed secrets in every rendering, and pages that would stall the event loop. */

const OPTIONS: ConvertOptions = { bodyComplete: true, maxImageBytes: 1024, url: new URL('https://whoami.example.com/debug') };
const FORMATS: Format[] = ['markdown', 'text', 'raw'];
const MIB = 1024 * 1024;

/** A token with the characters converters escape: `_ * [ ] \` and backquote, between alphanumeric runs. */
const secretArbitrary = fc
  .tuple(
    fc.stringMatching(/^[A-Za-z0-9]{10,16}$/),
    fc.array(fc.tuple(fc.constantFrom('_', '*', '[', ']', '\\', '`', '-', '.'), fc.stringMatching(/^[A-Za-z0-9]{0,5}$/)), { minLength: 1, maxLength: 8 }),
  )
  .map(([head, rest]) => head + rest.map(([p, run]) => p + run).join(''))
  .filter((s) => /[_*[\]\\`]/.test(s));

/** Only short alphanumeric runs: found escaped by decoding the whole text, not by its anchor. */
const shortRunSecret = fc
  .array(fc.tuple(fc.stringMatching(/^[A-Za-z0-9]{1,4}$/), fc.constantFrom('_', '*', '[', ']', '\\', '`')), { minLength: 4, maxLength: 8 })
  .map((parts) => parts.map(([run, p]) => run + p).join(''));

const htmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

/** A debug page that shows the request headers it received, in every place a page can put them. */
function whoamiPage(secret: string): string {
  const e = htmlEscape(secret);
  const json = htmlEscape(JSON.stringify({ headers: { authorization: `Bearer ${secret}`, 'cf-access-token': secret } }, null, 2));
  const entities = secret.replace(/[^A-Za-z0-9]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html><head><title>Request headers</title></head><body><main><h1>Request headers</h1>
<p>${'This page lists the headers your request carried, for debugging. '.repeat(5)}</p>
<table><tr><th>Header</th><th>Value</th></tr><tr><td>authorization</td><td>Bearer ${e}</td></tr><tr><td>cf-access-token</td><td>${e}</td></tr></table>
<p>Your token is ${e} and, spelled out, ${entities}.</p>
<pre>${json}</pre>
<p><a href="https://whoami.example.com/again?token=${encodeURIComponent(secret)}" title="${e}">again</a> <img src="/x.png" alt="${e}"></p>
<div data-token="${e}">JSON: ${htmlEscape(JSON.stringify(secret))} and ${secret.replace(/[^A-Za-z0-9]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}</div>
</main></body></html>`;
}

function assertScrubbed(text: string, secret: string, where: string): void {
  for (const form of escapedForms(secret)) {
    assert.ok(!text.includes(form), `${where}: the secret appears as ${JSON.stringify(form)} in:\n${text.slice(0, 2000)}`);
  }
}

describe('an echoed secret never survives conversion, in any form', () => {
  it('redactWith finds a secret as written, Markdown-escaped, as entities, percent-encoded and JSON-escaped', () => {
    const secret = 'tok_en*wi[th]`x\\y-0123456789';
    for (const form of escapedForms(secret)) {
      assert.equal(redactWith(`before ${form} after`, [secret]), `before ${REDACTED} after`, form);
    }
    // Named entities, and layers stacked: JSON shown in Markdown, entities percent-encoded.
    assert.equal(redactWith('tok&lowbar;en&ast;wi&lsqb;th&rsqb;&grave;x&bsol;y-0123456789', [secret]), REDACTED);
    assert.equal(redactWith('tok\\\\u005fen\\*wi\\[th\\]\\`x\\\\\\\\y-0123456789', [secret]), REDACTED);
    assert.equal(redactWith('tok%26%2395%3Ben*wi[th]`x\\y-0123456789', [secret]), REDACTED);
    // Text that only looks escaped is left alone.
    assert.equal(redactWith('a \\_ b &amp; c 100% d &#95; tok_en', [secret]), 'a \\_ b &amp; c 100% d &#95; tok_en');
  });

  it('property: a secret echoed in <td>, <p>, <pre>, attributes and JSON is in no output (markdown, text, raw)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(secretArbitrary, shortRunSecret), async (secret) => {
        const page = Buffer.from(whoamiPage(secret));
        for (const format of FORMATS) {
          const { text, title } = await convertBody(page, 'text/html', format, { ...OPTIONS, secrets: [secret] });
          assertScrubbed(text, secret, format);
          assertScrubbed(title ?? '', secret, `${format} title`);
          assert.ok(text.includes(REDACTED), `${format}: nothing was redacted`);
        }
        const json = Buffer.from(JSON.stringify({ headers: { authorization: `Bearer ${secret}` }, nested: [{ token: secret }] }));
        for (const format of FORMATS) {
          assertScrubbed((await convertBody(json, 'application/json', format, { ...OPTIONS, secrets: [secret] })).text, secret, `JSON ${format}`);
        }
      }),
      { numRuns: 15 },
    );
  });
});

describe('hostile markup takes linear time (it once took minutes on the event loop)', () => {
  // At the 5 MiB body cap a quadratic scan takes hours; a linear one, milliseconds. The bound is for a loaded machine.
  const LINEAR_BOUND_MS = 10_000;
  const timed = (run: () => unknown) => {
    const start = performance.now();
    run();
    return performance.now() - start;
  };

  it('parsing (and its nesting check) on 5 MiB of unterminated <!-- or <a without >', () => {
    for (const unit of ['<!--', '<a ', '<script>', '<div']) {
      const page = unit.repeat(Math.floor((5 * MIB) / unit.length));
      const ms = timed(() => parseHtml(page, 1_000));
      assert.ok(ms < LINEAR_BOUND_MS, `${unit}: ${Math.round(ms)} ms`);
    }
    // Still right on ordinary markup.
    assert.throws(() => parseHtml(`${'<div>'.repeat(1_001)}x`, 1_000), NestedTooDeepError);
    assert.ok(parseHtml(`<!-- ${'<div>'.repeat(2_000)} --><p>${'<br/>'.repeat(2_000)}`, 1_000).maxDepth <= 2);
  });

  it('trimming line ends of 5 MiB of spaces with no newline after them', () => {
    const text = `start\n${' '.repeat(5 * MIB)}x\n${' \t'.repeat(1000)}\nend  `;
    let out = '';
    const ms = timed(() => (out = trimLineEnds(text)));
    assert.ok(ms < LINEAR_BOUND_MS, `${Math.round(ms)} ms`);
    assert.ok(out.endsWith('x\n\nend'));
  });
});

describe('conversion runs off the main thread, within a time budget', () => {
  /** The longest the event loop went without running a 10 ms interval while `work` ran. */
  async function longestStall(work: () => Promise<unknown>): Promise<number> {
    let last = performance.now();
    let longest = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 10);
    try {
      await work();
    } finally {
      clearInterval(timer);
    }
    return longest;
  }

  it('hostile pages at the 5 MiB cap come back (converted, or as served with a note) while the event loop keeps running', async () => {
    const pages = {
      comments: '<html><body>' + '<!--'.repeat((5 * MIB) / 4),
      anchors: '<html><body><p>' + '<a '.repeat(Math.floor((5 * MIB) / 3)),
      spaces: `<html><body><article><h1>Spaces</h1><pre>${' '.repeat(5 * MIB - 100)}x</pre></article></body></html>`,
    };
    for (const [name, page] of Object.entries(pages)) {
      const body = Buffer.from(page);
      let result: Awaited<ReturnType<typeof convertBody>> | undefined;
      const stall = await longestStall(async () => (result = await convertBody(body, 'text/html', 'markdown', { ...OPTIONS, budgetMs: 5_000 })));
      assert.equal(result?.kind, 'text', name);
      if (result?.notes?.length) assert.match(result.notes.join(' '), /not converted to markdown.*(budget|converter).*as served/s, name);
      // The issue's bound for other calls is 1 s; the main thread only copies the bytes and reads the answer.
      assert.ok(stall < 1_000, `${name}: the event loop stalled ${Math.round(stall)} ms`);
    }
  });

  it('past the budget the worker is ended and the page is shown as served, scrubbed, with a note; the next page converts', async () => {
    const secret = 'budget_secret*[0123456789]';
    const page = Buffer.from(whoamiPage(secret) + `<p>${'filler words '.repeat(50_000)}</p>`);
    const late = await convertBody(page, 'text/html', 'markdown', { ...OPTIONS, secrets: [secret], budgetMs: 1 });
    assert.match(late.notes?.join(' ') ?? '', /not converted to markdown: converting it took longer than the 1 ms budget \(CF_ACCESS_MCP_CONVERT_BUDGET_MS\)/);
    assert.match(late.text, /^<!doctype html>/);
    assertScrubbed(late.text, secret, 'as served');
    const next = await convertBody(Buffer.from('<p>Fine <a href="/x">link</a></p>'), 'text/html', 'markdown', OPTIONS);
    assert.equal(next.text, 'Fine [link](https://whoami.example.com/x)');
    assert.equal(next.notes, undefined);
  });
});
