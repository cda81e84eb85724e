/**
 * The Markdown walk (src/http/markdown*.ts) on general markup: whitespace,
 * escaping, inline markup, links, lists, quotes, and how far indentation goes.
 * Documentation rules and tables: markdown-docs.test.ts; real pages: doc-corpus.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { htmlToReadable } from '../../src/http/html.js';
import { escapeInline } from '../../src/http/markdown-writer.js';

/** The Markdown of `content` as a page's one marked main element. */
const md = async (content: string) =>
  (await htmlToReadable(`<!doctype html><html><head></head><body><nav>Menu</nav><main>${content}</main></body></html>`, 'markdown', new URL('https://docs.example/guide/page.html'))).text;

describe('Markdown walk: text and inline markup', () => {
  it('collapses whitespace as a browser shows it, keeping no-break spaces', async () => {
    assert.equal(await md('<p>  one \n\t two  </p><p>three&nbsp;&nbsp;four</p>'), 'one two\n\nthree\u00a0\u00a0four');
  });

  it('moves whitespace outside emphasis, drops empty markup, nests markup', async () => {
    assert.equal(await md('<p>a<em> b </em>c</p>'), 'a _b_ c');
    assert.equal(await md('<p>a<strong> </strong>b<em></em></p>'), 'a b');
    assert.equal(await md('<p><strong>bold <em>both</em></strong> <del>gone</del></p>'), '**bold _both_** ~~gone~~');
  });

  it('escapes what Markdown would read as syntax, and only that', async () => {
    assert.equal(await md('<p>2 * 3 = [x] `y` \\ a_b _c_ &lt;div&gt; a < b</p>'), '2 \\* 3 = \\[x\\] \\`y\\` \\\\ a_b \\_c\\_ \\<div> a < b');
    assert.equal(await md('<p>1. not a list</p><p># not a heading</p><p>- not an item</p><p>&gt; not a quote</p><p>x - y # z</p>'), '1\\. not a list\n\n\\# not a heading\n\n\\- not an item\n\n\\> not a quote\n\nx - y # z');
    assert.equal(escapeInline('snake_case __init__ _x'), 'snake_case \\_\\_init\\_\\_ \\_x');
  });

  it('elements named like object properties are only unknown elements', async () => {
    assert.equal(await md('<p><constructor>a</constructor> <valueOf>b</valueOf> <hasOwnProperty>c</hasOwnProperty></p>'), 'a b c');
  });

  it('a line break splits the line, never starts one', async () => {
    assert.equal(await md('<p><br>a<br>b<br></p>'), 'a\nb');
    assert.equal(await md('<p>a<br>- b</p>'), 'a\n\\- b');
  });

  it('code spans take as many backticks as they need and keep their text unescaped', async () => {
    assert.equal(await md('<p>Run <code>a`b*c_d</code> or <code> x </code>.</p>'), 'Run ``a`b*c_d`` or `x` .');
  });
});

describe('Markdown walk: links and images', () => {
  it('makes targets absolute, keeps fragments, escapes parentheses, drops empty and script links', async () => {
    assert.equal(
      await md('<p><a href="../a (1).html">one</a> <a href="#top">two</a> <a href="javascript:void(0)">three</a> <a href="/x"></a><a href="/y"> four </a></p>'),
      '[one](https://docs.example/a%20\\(1\\).html) [two](#top) three [four](https://docs.example/y)',
    );
  });

  it('images keep their alt text, escaped, with an absolute source', async () => {
    assert.equal(await md('<p>See <img src="img/p.png" alt="a [b]"><img alt="no source"></p>'), 'See ![a \\[b\\]](https://docs.example/guide/img/p.png)');
  });

  it('a link around blocks (a card) keeps its blocks, its target after them', async () => {
    assert.equal(await md('<a href="/post"><h3>Title</h3><p>Summary</p></a><p>After</p>'), '### Title\n\nSummary\n\n[link](https://docs.example/post)\n\nAfter');
  });
});

describe('Markdown walk: lists and quotes', () => {
  it('nested lists sit under their item; ordered lists count from their start', async () => {
    assert.equal(await md('<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>'), '- a\n  - b\n- c');
    assert.equal(await md('<ol start="9"><li>nine<ol><li>inner</li></ol></li><li>ten</li></ol>'), '9. nine\n   1. inner\n10. ten');
    assert.equal(await md('<ul><li>a</li><ul><li>stray nested</li></ul></ul>'), '- a\n  - stray nested');
  });

  it('paragraphs and code in an item are indented under it; task boxes are kept', async () => {
    assert.equal(await md('<ul><li><p>first</p><p>second</p><pre>code</pre></li><li><input type="checkbox" checked> done</li></ul>'), '- first\n\n  second\n\n  ```\n  code\n  ```\n- [x] done');
  });

  it('block quotes prefix every line, nested ones twice', async () => {
    assert.equal(await md('<blockquote><p>a</p><blockquote><p>b</p></blockquote></blockquote>'), '> a\n>\n> > b');
  });

  it('indentation stops growing past 16 levels, so deep nesting cannot multiply the output', async () => {
    const depth = 200;
    const text = await md(`${'<ul><li>x'.repeat(depth)}${'</li></ul>'.repeat(depth)}`);
    assert.equal(text.split('\n').length, depth);
    const widest = Math.max(...text.split('\n').map((line) => line.length - line.trimStart().length));
    assert.ok(widest <= 2 * 16, `indented ${widest}`);
    const quotes = await md(`${'<blockquote>'.repeat(depth)}deep${'</blockquote>'.repeat(depth)}`);
    assert.ok(quotes.length < 100, quotes.slice(0, 200));
  });
});
