import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PIXEL_PNG } from '../../src/emulator/binary.js';
import { homePage, longPage, tablesPage } from '../../src/emulator/pages.js';
import { bodyKindOf, convertBody, decodeText, type ConvertOptions } from '../../src/http/convert.js';
import { forAgents } from '../../src/mcp/next-step-words.js';
import { forTerminal } from '../../src/cli/next-step-words.js';

const ROOT = join(import.meta.dirname, '..', '..');
const PAGE_URL = new URL('https://intranet.example.com/reports/weekly');
const OPTIONS: ConvertOptions = { bodyComplete: true, maxImageBytes: 1024 * 1024, url: PAGE_URL };

const html = (body: string, title = 'A Page'): Buffer =>
  Buffer.from(`<!doctype html><html><head><title>${title}</title></head><body>${body}</body></html>`);

const CHROME = ['Emulated Intranet', 'Privacy', 'Contact', 'Quarterly archive', 'Regional figures', 'analyticsQueue', '.sidebar'];

describe('convertBody: HTML', () => {
  it('turns an article page into Markdown without navigation, sidebar, footer or scripts', async () => {
    const result = await convertBody(Buffer.from(homePage()), 'text/html', 'markdown', OPTIONS);
    assert.equal(result.kind, 'text');
    assert.equal(result.title, 'Emulated Access Report');
    assert.match(result.text, /^# Emulated Access Report\n\nThe protected resource was reached through Cloudflare Access\./);
    assert.match(result.text, /^- +The credential was issued for this application and no other\.$/m);
    for (const chrome of CHROME) assert.ok(!result.text.includes(chrome), `chrome "${chrome}" leaked into the Markdown`);
  });

  it('shows the title once, whether or not the content keeps its own <h1>', async () => {
    for (const page of [homePage(), longPage(), tablesPage()]) {
      const { text, title } = await convertBody(Buffer.from(page), 'text/html', 'markdown', OPTIONS);
      const headings = text.split('\n').filter((line) => line.replace(/^#+\s*/, '') === title);
      assert.equal(headings.length, 1, `"${title}" appears as ${headings.length} headings`);
    }
    const kept = await convertBody(
      html(`<main><h1>Release notes</h1><p>${'The release went out on time and nobody noticed. '.repeat(20)}</p></main>`, 'Release notes'),
      'text/html',
      'markdown',
      OPTIONS,
    );
    assert.equal(kept.text.match(/^# Release notes$/gm)?.length, 1);
  });

  it('keeps a table as a GFM table and code as a fenced block', async () => {
    const { text } = await convertBody(Buffer.from(tablesPage()), 'text/html', 'markdown', OPTIONS);
    const rows = text.split('\n').filter((line) => line.startsWith('|'));
    assert.equal(rows.length, 6, 'header, separator and four rows');
    assert.match(rows[0]!, /^\| Region \| Requests \| Median latency \(ms\) \|$/);
    assert.match(rows[1]!, /^\| -+ \| -+ \| -+ \|$/);
    assert.match(rows[2]!, /^\| Europe \| 12840 \| 31 *\|$/);
    assert.match(text, /```\nSELECT region, count\(\*\) AS requests, median\(latency_ms\)\nFROM access_requests\n/);
  });

  it('makes relative links and images absolute against the page URL (or its <base>)', async () => {
    const article = `<article><h1>Links</h1><p>${'Some words to make this look like an article. '.repeat(15)}<a href="../docs/setup">setup guide</a> and <img src="/img/chart.png" alt="chart"></p></article>`;
    const { text } = await convertBody(html(article), 'text/html', 'markdown', OPTIONS);
    assert.match(text, /\[setup guide\]\(https:\/\/intranet\.example\.com\/docs\/setup\)/);
    assert.match(text, /!\[chart\]\(https:\/\/intranet\.example\.com\/img\/chart\.png\)/);
    const based = Buffer.from(`<html><head><base href="https://cdn.example.com/assets/"><title>B</title></head><body>${article}</body></html>`);
    const withBase = await convertBody(based, 'text/html', 'markdown', OPTIONS);
    assert.match(withBase.text, /\(https:\/\/cdn\.example\.com\/docs\/setup\)/);
    const fallback = await convertBody(html('<p>Short: <a href="/help">help</a></p>'), 'text/html', 'markdown', OPTIONS);
    assert.match(fallback.text, /\[help\]\(https:\/\/intranet\.example\.com\/help\)/);
  });

  it('format text gives plain text: blocks on lines, tab-separated cells, code kept verbatim, no Markdown', async () => {
    const { text, title } = await convertBody(Buffer.from(tablesPage()), 'text/html', 'text', OPTIONS);
    assert.equal(title, 'Regional Access Figures');
    assert.ok(text.startsWith('Regional Access Figures\n\nRequests that passed the Access gateway last week, by region.'));
    assert.match(text, /^Region\tRequests\tMedian latency \(ms\)$/m);
    assert.match(text, /^Europe\t12840\t31$/m);
    assert.match(text, /^FROM access_requests\nWHERE decision = 'allow'$/m);
    assert.ok(!/[#|`*]/.test(text.replace(/count\(\*\)/, '')), 'no Markdown syntax');
    for (const chrome of CHROME) assert.ok(!text.includes(chrome), `chrome "${chrome}" leaked into the text`);

    const pre = await convertBody(html(`<article><p>${'Intro words for the extractor. '.repeat(20)}</p><pre>def f():\n\n    return 1\n</pre></article>`), 'text/html', 'text', OPTIONS);
    assert.match(pre.text, /def f\(\):\n\n {4}return 1/);
  });

  it('format raw returns the page exactly as served', async () => {
    const page = tablesPage();
    const { text } = await convertBody(Buffer.from(page), 'text/html', 'raw', OPTIONS);
    assert.equal(text, page);
  });

  it('falls back to the page body, minus chrome, when there is no article', async () => {
    const { text } = await convertBody(html('<nav><a href="/">Home</a></nav><p>Tiny.</p><footer>Footer text</footer>', 'Tiny'), 'text/html', 'markdown', OPTIONS);
    assert.match(text, /Tiny\./);
    assert.ok(!text.includes('Footer text'));
  });

  it('copes with fragments and with text that is served as HTML but is not', async () => {
    const fragment = await convertBody(Buffer.from('<p>Fragment with a <a href="/x">link</a></p>'), 'text/html', 'markdown', OPTIONS);
    assert.equal(fragment.text, 'Fragment with a [link](https://intranet.example.com/x)');
    for (const format of ['markdown', 'text'] as const) {
      assert.equal((await convertBody(Buffer.from('OK'), 'text/html', format, OPTIONS)).text, 'OK');
      const cut = await convertBody(Buffer.from(`{"padding":"${'x'.repeat(5000)}`), 'text/html', format, { ...OPTIONS, bodyComplete: false });
      assert.ok(cut.text.startsWith('{"padding":"xxx'));
    }
  });

  it('treats an untyped body that starts like HTML as HTML', async () => {
    const { text } = await convertBody(Buffer.from(homePage()), '', 'markdown', OPTIONS);
    assert.match(text, /^# Emulated Access Report/);
  });
});

describe('convertBody: JSON and text', () => {
  it('pretty-prints JSON (also +json types) unless raw', async () => {
    const body = Buffer.from('{"a":1,"b":[true,null,"x"]}');
    const pretty = '{\n  "a": 1,\n  "b": [\n    true,\n    null,\n    "x"\n  ]\n}';
    assert.equal((await convertBody(body, 'application/json', 'markdown', OPTIONS)).text, pretty);
    assert.equal((await convertBody(body, 'application/problem+json', 'text', OPTIONS)).text, pretty);
    assert.equal((await convertBody(body, 'application/json', 'raw', OPTIONS)).text, body.toString());
  });

  it('leaves invalid or cut JSON as it is', async () => {
    assert.equal((await convertBody(Buffer.from('{"a":'), 'application/json', 'markdown', OPTIONS)).text, '{"a":');
    const cut = await convertBody(Buffer.from('{"a": 1}'), 'application/json', 'markdown', { ...OPTIONS, bodyComplete: false });
    assert.equal(cut.text, '{"a": 1}');
  });

  it('returns other text as it is, in its declared charset', async () => {
    assert.equal((await convertBody(Buffer.from('a,b\n1,2\n'), 'text/csv', 'markdown', OPTIONS)).text, 'a,b\n1,2\n');
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]);
    assert.equal((await convertBody(latin1, 'text/plain', 'markdown', { ...OPTIONS, charset: 'iso-8859-1' })).text, 'café');
    assert.equal((await convertBody(Buffer.from('plain'), 'text/plain', 'markdown', { ...OPTIONS, charset: 'no-such-charset' })).text, 'plain');
  });

  it('windows-1252 (also when declared as iso-8859-1, latin1 or ascii, as browsers read them) keeps its smart quotes, dashes and euro sign', async () => {
    // Node's TextDecoder since 20.18.3 decodes 0x80-0x9F of windows-1252 as C1 controls (nodejs/node#60888).
    const bytes = Buffer.from([0x93, 0x61, 0x94, 0x20, 0x97, 0x20, 0x80, 0x35, 0x20, 0x85, 0x20, 0x92, 0x20, 0x99, 0x20, 0x8d, 0x20, 0xe9]);
    for (const charset of ['windows-1252', 'ISO-8859-1', 'latin1', 'us-ascii', 'cp1252']) {
      assert.equal(decodeText(bytes, charset, true), '\u201ca\u201d \u2014 \u20ac5 \u2026 \u2019 \u2122 \u008d \u00e9', charset);
    }
    const page = Buffer.concat([Buffer.from('<html><head><meta charset="windows-1252"></head><body><main><p>'), Buffer.from([0x93, 0x71, 0x94, 0x20, 0x97, 0x20, 0x80]), Buffer.from('</p></main></body></html>')]);
    assert.equal((await convertBody(page, 'text/html', 'markdown', OPTIONS)).text, '\u201cq\u201d \u2014 \u20ac');
  });

  it('a byte order mark decides the encoding over the declared charset, as in a browser', () => {
    const text = 'Caf\u00e9 \u2014 \u{1f600}';
    assert.equal(decodeText(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]), 'iso-8859-1', true), text);
    assert.equal(decodeText(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]), undefined, true), text);
    assert.equal(decodeText(Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(text, 'utf16le').swap16()]), 'utf-8', true), text);
  });

  it('drops a character cut in half by the byte cap', () => {
    const bytes = Buffer.from('aé😀');
    assert.equal(decodeText(bytes.subarray(0, bytes.length - 2), undefined, false), 'aé');
    assert.equal(decodeText(bytes, undefined, true), 'aé😀');
  });
});

describe('convertBody: images and binaries', () => {
  it('returns a PNG as image content with valid base64 and a describing line', async () => {
    const result = await convertBody(PIXEL_PNG, 'image/png', 'markdown', OPTIONS);
    assert.equal(result.kind, 'image');
    assert.equal(result.image?.mimeType, 'image/png');
    assert.match(result.image!.data, /^[A-Za-z0-9+/]+=*$/);
    assert.deepEqual(Buffer.from(result.image!.data, 'base64'), PIXEL_PNG);
    assert.match(result.text, new RegExp(`image/png, ${PIXEL_PNG.length} bytes`));
  });

  it('describes an image over the inline limit, or one whose bytes are not what it claims', async () => {
    const big = await convertBody(PIXEL_PNG, 'image/png', 'markdown', { ...OPTIONS, maxImageBytes: 10, bodyComplete: false, totalBytes: 5000 });
    assert.equal(big.kind, 'binary');
    assert.equal(big.image, undefined);
    assert.match(forAgents(big.text), /5000 bytes.*larger than the inline limit of 10 bytes.*save_to/);
    const fake = await convertBody(Buffer.from('not really a png'), 'image/png', 'markdown', OPTIONS);
    assert.equal(fake.kind, 'binary');
    assert.match(fake.text, /not a valid image\/png/);
  });

  it('describes other binaries by type and size', async () => {
    const result = await convertBody(Buffer.alloc(0), 'application/octet-stream', 'markdown', { ...OPTIONS, bodyComplete: false, totalBytes: 102400 });
    assert.equal(result.kind, 'binary');
    assert.match(forAgents(result.text), /^Binary content \(application\/octet-stream, 102400 bytes\); not shown\. Use save_to to write it to a file\.$/);
    assert.match(forTerminal(result.text), /not shown\. Use -o <file> to write it to a file\.$/);
    assert.doesNotMatch(result.text, /save_to/, 'no tool argument below the MCP layer');
  });

  it('sniffs untyped bodies', () => {
    assert.equal(bodyKindOf('', PIXEL_PNG), 'image');
    assert.equal(bodyKindOf('', Buffer.from([1, 2, 0, 3])), 'binary');
    assert.equal(bodyKindOf('', Buffer.from('hello')), 'text');
    assert.equal(bodyKindOf('application/zip'), 'binary');
    assert.equal(bodyKindOf('image/svg+xml'), 'text');
  });
});

describe('lazy loading', () => {
  it('imports the HTML libraries only dynamically, so start-up does not load them', () => {
    // The converter's own modules import each other and htmlparser2 statically; nothing else does, and none imports linkedom or Readability statically.
    const converter = /^(?:html|html-tree|html-text|markdown[\w-]*)\.ts$/;
    const dom = /^import\s[^;]*from\s+['"](linkedom|@mozilla\/readability)['"]/m;
    const heavy = /^import\s(?!type\s)[^;]*from\s+['"](htmlparser2|\.\/(?:html|html-tree|html-text|markdown[\w-]*)\.js)['"]/m;
    const dir = join(ROOT, 'src', 'http');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      const source = readFileSync(join(dir, file), 'utf8');
      assert.ok(!dom.test(source), `${file} imports linkedom or Readability statically`);
      if (!converter.test(file)) assert.ok(!heavy.test(source), `${file} imports the converter statically`);
    }
    // The converter runs in a worker started with the first page (convert-pool.ts), which imports it on first use.
    assert.match(readFileSync(join(dir, 'text-convert.ts'), 'utf8'), /import\('\.\/html\.js'\)/);
    assert.match(readFileSync(join(dir, 'convert-pool.ts'), 'utf8'), /function startWorker\(\)[^]*?new Worker\(/);
  });
});

describe('convertBody: where a page is converted', () => {
  it('a small page that marks its main element is converted on this thread; one without goes to the worker (Readability)', async () => {
    const script = `
      const { convertBody } = await import(${JSON.stringify(new URL('../../src/http/convert.ts', import.meta.url).href)});
      const { converterWorkerRunning, conversionsRequested } = await import(${JSON.stringify(new URL('../../src/http/convert-pool.ts', import.meta.url).href)});
      const options = { bodyComplete: true, maxImageBytes: 0, url: new URL('https://docs.example/a/') };
      const marked = await convertBody(Buffer.from('<!doctype html><title>T</title><nav>Menu</nav><main><h2>Part</h2><p>Body text with <a href="b">a link</a>.</p></main>'), 'text/html', 'markdown', options);
      const afterMarked = { running: converterWorkerRunning(), requested: conversionsRequested() };
      const article = '<p>' + 'A sentence of the article that Readability keeps. '.repeat(12) + '</p>';
      const unmarked = await convertBody(Buffer.from('<!doctype html><title>U</title><body><div class="sidebar"><a href="/">Home</a></div><article>' + article.repeat(4) + '</article></body>'), 'text/html', 'markdown', options);
      process.stdout.write(JSON.stringify({ marked: marked.text, afterMarked, unmarked: unmarked.text.slice(0, 200), afterUnmarked: { running: converterWorkerRunning(), requested: conversionsRequested() } }));
      process.exit(0);`;
    const out = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' })) as {
      marked: string;
      afterMarked: { running: boolean; requested: number };
      unmarked: string;
      afterUnmarked: { running: boolean; requested: number };
    };
    assert.match(out.marked, /## Part/);
    assert.match(out.marked, /\[a link\]\(https:\/\/docs\.example\/a\/b\)/);
    assert.doesNotMatch(out.marked, /Menu/);
    assert.deepEqual(out.afterMarked, { running: false, requested: 1 });
    assert.match(out.unmarked, /A sentence of the article/);
    assert.deepEqual(out.afterUnmarked, { running: true, requested: 2 });
  });
});

it('UTF-8 decodes exactly as TextDecoder does: BOM dropped, invalid and cut sequences replaced alike', () => {
  const cases = [
    Buffer.from('\ufeffhello é ✓ 😀'),
    Buffer.from([0x61, 0xff, 0x62, 0xe2, 0x82, 0x63, 0xf0, 0x9f, 0x98]),
    Buffer.from([0xed, 0xa0, 0x80, 0x41, 0xc0, 0xaf]),
    Buffer.from([0xef, 0xbb]),
    Buffer.alloc(0),
  ];
  for (const bytes of cases) {
    for (const charset of [undefined, 'UTF-8', ' utf8 ']) {
      assert.equal(decodeText(bytes, charset, true), new TextDecoder('utf-8').decode(bytes), `${bytes.toString('hex')} as ${charset}`);
    }
  }
  // A body cut at the cap drops the partial character at its end.
  assert.equal(decodeText(Buffer.from([0x61, 0xe2, 0x82]), 'utf-8', false), 'a');
});
