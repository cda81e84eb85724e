/**
 * The documentation rules one by one (markup shaped like the generators'
 * output; test/unit/doc-corpus.test.ts checks the same on real pages), and
 * how the main content is chosen.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { htmlToReadable } from '../../src/http/html.js';

const PROSE = 'Words that make this a page worth reading for an extractor. '.repeat(12);
const page = (body: string, title = 'Doc') => `<!doctype html><html><head><title>${title}</title></head><body>${body}</body></html>`;
const markdownOf = async (main: string) => (await htmlToReadable(page(`<nav><a href="/">Home</a> <a href="/x">Index</a></nav><main><p>${PROSE}</p>${main}</main>`), 'markdown', new URL('https://docs.example/lib/page.html'))).text;

describe('code blocks', () => {
  it('a <pre> without <code> is fenced, unescaped, with the language of its Sphinx wrapper', async () => {
    const md = await markdownOf('<div class="highlight-pycon notranslate"><div class="highlight"><pre><span class="gp">&gt;&gt;&gt; </span>x = int(<span class="s2">"4"</span>) * 2_000\n<span class="go">8000</span>\n</pre></div></div>');
    assert.match(md, /```pycon\n>>> x = int\("4"\) \* 2_000\n8000\n```/);
    assert.doesNotMatch(md, /\\>>>|\\\*|\\_/);
  });

  it('takes the language from language-*, lang-*, a bare rustdoc class, and names none for Sphinx "default"', async () => {
    const md = await markdownOf(
      '<pre><code class="language-js">const a = 1;</code></pre><pre class="prettyprint source lang-ts"><code>let b: number;</code></pre>' +
        '<div class="example-wrap"><pre class="rust rust-example-rendered"><code>let v = vec![1];</code></pre></div>' +
        '<div class="highlight-default notranslate"><div class="highlight"><pre>plain</pre></div></div>',
    );
    assert.match(md, /```js\nconst a = 1;\n```/);
    assert.match(md, /```ts\nlet b: number;\n```/);
    assert.match(md, /```rust\nlet v = vec!\[1\];\n```/);
    assert.match(md, /```\nplain\n```/);
  });

  it('code holding backticks gets a longer fence; ESM and CommonJS variants in one <pre> (Node 20+ docs) become two blocks', async () => {
    const md = await markdownOf('<pre>echo ```x```</pre><pre class="with-33-chars"><input class="js-flavor-selector" type="checkbox" aria-label="Show modern ES modules syntax"><code class="language-js mjs">import a from "a";</code><code class="language-js cjs">const a = require("a");</code></pre>');
    assert.match(md, /````\necho ```x```\n````/);
    assert.match(md, /```js\nimport a from "a";\n```\n\n```js\nconst a = require\("a"\);\n```/);
  });
  it('a <br> inside <pre> (older highlighters write lines that way) is a line break of the code, in Markdown and text', async () => {
    const md = await markdownOf('<pre class="language-c">int a;<br>int b;<br/>return a + b;</pre><table><tr><th>k</th><th>code</th></tr><tr><td>x</td><td><pre>one<br>two</pre></td></tr></table>');
    assert.match(md, /```c\nint a;\nint b;\nreturn a \+ b;\n```/);
    assert.match(md, /\| x \| `one`<br>`two` \|/);
    const text = (await htmlToReadable(page(`<main><p>${PROSE}</p><pre>int a;<br>int b;</pre></main>`), 'text')).text;
    assert.match(text, /int a;\nint b;/);
  });
});

describe('code with line numbers', () => {
  it('a highlighter\'s table of line numbers and code (Pygments, Rouge, Hugo\'s Chroma) is one fenced block of the code, without the numbers', async () => {
    const md = await markdownOf(
      '<div class="highlight-python notranslate"><table class="highlighttable"><tr><td class="linenos"><div class="linenodiv"><pre><span class="normal">1</span>\n<span class="normal">2</span></pre></div></td>' +
        '<td class="code"><div class="highlight"><pre><span></span>def f():\n    return 1\n</pre></div></td></tr></table></div>' +
        '<figure class="highlight"><pre><code class="language-ruby" data-lang="ruby"><table class="rouge-table"><tbody><tr><td class="gutter gl"><pre class="lineno">1\n2\n</pre></td><td class="code"><pre>puts 1\nputs 2\n</pre></td></tr></tbody></table></code></pre></figure>' +
        '<div class="highlight"><div class="chroma"><table class="lntable"><tr><td class="lntd"><pre tabindex="0" class="chroma"><code><span class="lnt">1\n</span><span class="lnt">2\n</span></code></pre></td>' +
        '<td class="lntd"><pre tabindex="0" class="chroma"><code class="language-go" data-lang="go"><span class="line"><span class="cl">x := 1\n</span></span><span class="line"><span class="cl">y := 2\n</span></span></code></pre></td></tr></table></div></div>',
    );
    assert.match(md, /```python\ndef f\(\):\n    return 1\n```/);
    assert.match(md, /```ruby\nputs 1\nputs 2\n```/);
    assert.match(md, /```go\nx := 1\ny := 2\n```/);
    assert.doesNotMatch(md, /\|/, 'no table');
  });

  it('line numbers written inside the code (Pygments and Chroma inline styles) are left out of it', async () => {
    const md = await markdownOf(
      '<div class="highlight-python notranslate"><div class="highlight"><pre><span></span><span class="linenos">1</span>def f():\n<span class="linenos">2</span>    return 1\n</pre></div></div>' +
        '<pre class="chroma"><code class="language-go"><span class="line"><span class="ln">1</span><span class="cl">x := 1\n</span></span><span class="line"><span class="ln">2</span><span class="cl">y := 2</span></span></code></pre>',
    );
    assert.match(md, /```python\ndef f\(\):\n    return 1\n```/);
    assert.match(md, /```go\nx := 1\ny := 2\n```/);
    const text = (await htmlToReadable(page(`<main><p>${PROSE}</p><pre><span class="linenos">1</span>def f():\n<span class="linenos">2</span>    return 1</pre></main>`), 'text')).text;
    assert.match(text, /^def f\(\):\n {4}return 1$/m, 'format text too');
  });
});

describe('API signatures and definition lists', () => {
  it('rustdoc: a method signature heading becomes a heading of code, its permalink dropped', async () => {
    const md = await markdownOf(
      '<a id="toggle-all-docs" href="javascript:void(0)" title="collapse all docs">[<span class="inner">&#x2212;</span>]</a>' +
        '<details open><summary><section id="method.with_capacity" class="method"><span class="rightside"><span class="since">1.0.0</span> · <a class="srclink" href="../src/x.rs">source</a></span>' +
        '<a href="#method.with_capacity" class="anchor"></a><h4 class="code-header">pub fn <a href="#method.with_capacity" class="fnname">with_capacity</a>(capacity: <a class="primitive" href="../primitive.usize.html">usize</a>) -&gt; <a class="struct" href="struct.HashMap.html">HashMap</a>&lt;K, V, RandomState&gt;</h4></section></summary><div class="docblock"><p>Creates an empty map.</p></div></details>',
    );
    assert.doesNotMatch(md, /javascript:/);
    assert.match(md, /^#### `pub fn with_capacity\(capacity: usize\) -> HashMap<K, V, RandomState>`$/m);
    assert.match(md, /Creates an empty map\./);
  });

  it('Sphinx: a function entry is a list item with its signature as code and its description indented under it', async () => {
    const md = await markdownOf(
      '<dl class="py function"><dt class="sig sig-object py" id="re.compile"><span class="sig-prename descclassname"><span class="pre">re.</span></span><span class="sig-name descname"><span class="pre">compile</span></span><span class="sig-paren">(</span><em class="sig-param"><span class="n"><span class="pre">pattern</span></span></em>, <em class="sig-param"><span class="n"><span class="pre">flags</span></span><span class="o"><span class="pre">=</span></span><span class="default_value"><span class="pre">0</span></span></em><span class="sig-paren">)</span><a class="headerlink" href="#re.compile" title="Permalink to this definition">¶</a></dt>' +
        '<dd><p>Compile a regular expression pattern.</p><dl class="field-list simple"><dt class="field-odd">Parameters<span class="colon">:</span></dt><dd class="field-odd"><p><strong>pattern</strong> – the expression</p></dd></dl></dd></dl>',
    );
    assert.match(md, /^- `re\.compile\(pattern, flags=0\)`\n\n {2}Compile a regular expression pattern\.\n\n {2}- \*\*Parameters:\*\*\n\n {4}\*\*pattern\*\* – the expression$/m);
    assert.doesNotMatch(md, /¶/);
  });

  it('Javadoc: a member signature is a line of code; its notes list terms in bold', async () => {
    const md = await markdownOf(
      '<section class="detail" id="between(T,T)"><h3>between</h3><div class="member-signature"><span class="modifiers">public static</span>&nbsp;<span class="type-parameters">&lt;T extends Comparable&lt;T&gt;&gt;</span>&nbsp;<span class="return-type">Range&lt;T&gt;</span>&nbsp;<span class="element-name">between</span><wbr><span class="parameters">(T&nbsp;fromInclusive, T&nbsp;toInclusive)</span></div>' +
        '<dl class="notes"><dt>Parameters:</dt><dd><code>fromInclusive</code> - the first value</dd><dt>Returns:</dt><dd>the range object</dd></dl></section>',
    );
    assert.match(md, /^`public static <T extends Comparable<T>> Range<T> between\(T fromInclusive, T toInclusive\)`$/m);
    assert.match(md, /^- \*\*Parameters:\*\*\n\n {2}`fromInclusive` - the first value\n\n- \*\*Returns:\*\*\n\n {2}the range object$/m);
  });

  it('a link inside inline code goes outside it, or is dropped when the code says more than the link', async () => {
    const md = await markdownOf('<p>Implements <code><a href="https://docs.example/api/java/io/Serializable.html">Serializable</a></code>; see <code><a href="#between(T,T)">between</a>(T&nbsp;from, T&nbsp;to)</code>.</p>');
    assert.match(md, /Implements \[`Serializable`\]\(https:\/\/docs\.example\/api\/java\/io\/Serializable\.html\); see `between\(T from, T to\)`\./);
  });
});

describe('tables', () => {
  const rowsOf = (md: string) => md.split('\n').filter((line) => line.startsWith('|'));

  it('a header row inside <tbody> (after a <colgroup>) becomes the header', async () => {
    const md = await markdownOf('<table><colgroup><col><col></colgroup><tbody><tr><th>Flag</th><th>Meaning</th></tr><tr><td>a</td><td>ASCII</td></tr></tbody></table>');
    assert.deepEqual(rowsOf(md).map((row) => row.replace(/ +/g, ' ')), ['| Flag | Meaning |', '| --- | --- |', '| a | ASCII |']);
  });

  it('a cell spanning columns keeps the columns aligned; a table without header cells gets an empty header', async () => {
    const spanned = await markdownOf('<table><thead><tr><th>A</th><th>B</th><th>C</th></tr></thead><tbody><tr><td colspan="2">wide</td><td>c</td></tr><tr><td>1</td><td>2</td><td>3</td></tr></tbody></table>');
    const rows = rowsOf(spanned);
    assert.equal(rows.length, 4);
    assert.ok(rows.every((row) => row.split(/(?<!\\)\|/).length === 5), rows.join('\n'));
    assert.match(rows[2]!, /^\| wide \| +\| c +\|$/);
    const bare = rowsOf(await markdownOf('<table><tr><td>x</td><td>y</td></tr><tr><td>z</td><td>w</td></tr></table>'));
    assert.equal(bare.length, 4);
    assert.match(bare[2]!, /^\| x +\| y +\|$/);
  });

  it('a cell spanning rows keeps the cells below it in their own columns', async () => {
    const md = await markdownOf(
      '<table><thead><tr><th>Version</th><th>Change</th><th>Date</th></tr></thead><tbody>' +
        '<tr><td rowspan="2">v2</td><td>added x</td><td>May</td></tr><tr><td>removed y</td><td>June</td></tr>' +
        '<tr><td>v1</td><td rowspan="3">first</td><td>Jan</td></tr><tr><td>v0</td><td>Dec</td></tr></tbody></table>',
    );
    assert.deepEqual(rowsOf(md).slice(2).map((row) => row.replace(/ +/g, ' ')), [
      '| v2 | added x | May |',
      '| | removed y | June |',
      '| v1 | first | Jan |',
      '| v0 | | Dec |',
    ]);
  });

  it('a hostile colspan fills a row up to 256 columns, not to its word', async () => {
    const md = await markdownOf(`<table>${'<tr><td colspan="100000">a</td><td colspan="100000">b</td></tr>'.repeat(3)}</table>`);
    const rows = rowsOf(md);
    assert.equal(rows.length, 5);
    assert.ok(rows.every((row) => row.split(/(?<!\\)\|/).length - 2 <= 257), `${rows[2]!.split('|').length - 2} cells`);
    assert.match(rows[2]!, /^\| a +\|/);
  });

  it('a table holding lists or code stays a GFM table (not raw HTML), its blocks joined with <br>', async () => {
    const md = await markdownOf('<table><thead><tr><th>Option</th><th>Values</th></tr></thead><tbody><tr><td><code>mode</code></td><td><ul><li>fast</li><li>safe</li></ul></td></tr><tr><td>example</td><td><pre>a = 1\nb = 2</pre></td></tr></tbody></table>');
    assert.doesNotMatch(md, /<table|<ul/);
    const rows = rowsOf(md);
    assert.match(rows[2]!, /^\| `mode` \| - +fast<br>- +safe \|$/);
    assert.match(rows[3]!, /^\| example \| `a = 1`<br>`b = 2` \|$/);
  });
});

describe('which content is converted', () => {
  it('one marked main is used as it is: its links made absolute, its controls and nested navigation dropped', async () => {
    const md = await markdownOf('<nav class="sub"><form><input name="q"></form>Search docs</nav><button>Copy</button><p>See <a href="../guide.html">the guide</a>.</p><h2 id="api">API<a class="headerlink" href="#api">¶</a></h2>');
    assert.match(md, /\[the guide\]\(https:\/\/docs\.example\/guide\.html\)/);
    assert.match(md, /^## API$/m);
    for (const chrome of ['Home', 'Index', 'Search docs', 'Copy']) assert.ok(!md.includes(chrome), chrome);
  });

  it('two marked mains, or a main holding little of the text, leave the choice to Readability', async () => {
    const article = `<article><h1>Story</h1><p>${PROSE}</p><p>${PROSE}</p></article>`;
    const shell = await htmlToReadable(page(`<main><p>Loading…</p></main>${article}<footer>Footer links</footer>`), 'markdown');
    assert.match(shell.text, /Words that make this a page/);
    assert.ok(!shell.text.includes('Footer links'));
    const twice = await htmlToReadable(page(`<main role="main"><p>${PROSE}</p></main><div role="main"><p>Other words entirely, enough of them to count. ${PROSE}</p></div>`), 'markdown');
    assert.match(twice.text, /Words that make this a page/);
  });

  it('a short page whose article Readability cuts to a line (a Texinfo or DocBook chapter index) keeps its list of sections', async () => {
    // Shaped like GNU Texinfo's chapter pages (libffi's Using-libffi.html): a navigation line, a heading, the section list.
    const html = page(
      '<div class="chapter" id="Using"><div class="header"><p>Next: <a href="Memory.html">Memory Usage</a>, Previous: <a href="Intro.html">What is it?</a>, Up: <a href="index.html">lib</a></p></div><hr>' +
        '<h2 class="chapter">2 Using the library</h2><ul class="section-toc"><li><a href="Basics.html">The Basics</a></li><li><a href="Example.html">Simple Example</a></li>' +
        '<li><a href="Types.html">Types</a></li><li><a href="Closures.html">The Closure API</a></li><li><a href="Threads.html">Thread Safety</a></li></ul></div>',
      'Using the library',
    );
    for (const format of ['markdown', 'text'] as const) {
      const { text } = await htmlToReadable(html, format, new URL('https://docs.example/lib/Using.html'));
      for (const section of ['2 Using the library', 'The Basics', 'Simple Example', 'Types', 'The Closure API', 'Thread Safety']) assert.ok(text.includes(section), `${format}: ${section} missing from:\n${text}`);
    }
    const { text } = await htmlToReadable(html, 'markdown', new URL('https://docs.example/lib/Using.html'));
    assert.match(text, /\[Simple Example\]\(https:\/\/docs\.example\/lib\/Example\.html\)/);
  });

  it('format text reads the same element', async () => {
    const { text } = await htmlToReadable(page(`<nav>Menu</nav><main><h1>Doc</h1><p>${PROSE}</p><pre>a  b</pre></main>`), 'text');
    assert.ok(!text.includes('Menu'));
    assert.match(text, /^a {2}b$/m);
  });
});
