/**
 * Markdown on real documentation pages (test/corpus, see SOURCES.md there):
 * nearly every sentence of the main content kept, code fenced and unescaped,
 * tables as GFM tables, API signatures as code. The reference is an
 * independent extraction (test/helpers/doc_text.py, Python's html.parser).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { htmlToReadable } from '../../src/http/html.js';
import { codeSpan } from '../../src/http/markdown-docs.js';
import { fencedLines, referenceText, retention, rowKey, tableRows, type Reference } from '../helpers/doc-retention.js';

const CORPUS = join(import.meta.dirname, '..', 'corpus');

/** Each page with the element its generator marks as the main content, and the languages its code blocks must carry. */
const PAGES: { file: string; main: string; languages: string[] }[] = [
  { file: 'python-re.html', main: 'div[role=main]', languages: ['python3', 'pycon'] },
  { file: 'python-json.html', main: 'div[role=main]', languages: ['python3', 'shell-session'] },
  { file: 'python-string.html', main: 'div[role=main]', languages: ['python3'] },
  { file: 'sphinx-rst-basics.html', main: 'div[role=main]', languages: ['rst'] },
  { file: 'rust-hashmap.html', main: 'section#main-content', languages: ['rust'] },
  { file: 'rust-file.html', main: 'section#main-content', languages: ['rust'] },
  { file: 'node-http.html', main: 'div#apicontent', languages: ['js', 'mjs', 'cjs'] },
  { file: 'node-path.html', main: 'div#apicontent', languages: ['js'] },
  { file: 'javadoc-range.html', main: 'main[role=main]', languages: [] },
  { file: 'javadoc-validate.html', main: 'main[role=main]', languages: [] },
];

const references = new Map<string, Reference>();
const referenceOf = (page: (typeof PAGES)[number]) => {
  if (!references.has(page.file)) references.set(page.file, referenceText(join(CORPUS, page.file), page.main));
  return references.get(page.file)!;
};

const sample = (items: string[]) => items.slice(0, 8).map((item) => `  ${item.slice(0, 160)}`).join('\n');

describe('Markdown on real documentation (test/corpus)', () => {
  for (const page of PAGES) {
    describe(page.file, () => {
      let converted: Promise<{ markdown: string; reference: Reference }> | undefined;
      const load = () =>
        (converted ??= (async () => {
          const path = join(CORPUS, page.file);
          const { text } = await htmlToReadable(readFileSync(path, 'utf8'), 'markdown', new URL(`https://docs.example/${page.file}`));
          return { markdown: text, reference: referenceOf(page) };
        })());

      it('keeps at least 99 % of the main content\'s sentences', async () => {
        const { markdown, reference } = await load();
        const kept = retention(reference, markdown);
        assert.ok(kept.total > 100, `only ${kept.total} sentences in the reference: wrong main element?`);
        assert.ok(kept.ratio >= 0.99, `${kept.kept}/${kept.total} kept; missing:\n${sample(kept.missing)}`);
      });

      it('fences every code block, verbatim (no Markdown escapes), with its language', async () => {
        const { markdown, reference } = await load();
        const fenced = new Set(fencedLines(markdown).map((line) => line.trim()));
        const codeLines = reference.pre.flatMap((pre) => pre.split('\n')).map((line) => line.trim()).filter(Boolean);
        const outside = codeLines.filter((line) => !fenced.has(line));
        assert.ok(outside.length <= codeLines.length * 0.01, `${outside.length}/${codeLines.length} code lines not verbatim in a fenced block:\n${sample(outside)}`);
        assert.doesNotMatch(markdown, /^\s*\\>>>/m, 'a doctest prompt was escaped');
        const languages = new Set([...markdown.matchAll(/^\s*```([\w+#.-]+)$/gm)].map((match) => match[1]!));
        for (const language of page.languages) assert.ok(languages.has(language), `no \`\`\`${language} block (found: ${[...languages].join(', ')})`);
      });

      it('keeps every table as a GFM table, row by row', async () => {
        const { markdown, reference } = await load();
        const rows = tableRows(markdown);
        const expected = reference.tables.filter((table) => table.length > 1).flatMap((table) => table.map(rowKey));
        const lost = expected.filter((row) => !rows.has(row));
        assert.deepEqual(lost, [], `table rows not found as GFM rows:\n${sample(lost)}`);
      });

      it('shows every API signature as code on its own line', async () => {
        const { markdown, reference } = await load();
        const lines = new Set(markdown.split('\n').map((line) => line.trim().replace(/^(?:- |#{1,6} )/, '')));
        const lost = reference.signatures.filter((signature) => !lines.has(codeSpan(signature)));
        assert.deepEqual(lost, [], `signatures not shown as code:\n${sample(lost)}`);
      });
    });
  }

  it('the corpus covers tables, signatures and definition lists', async () => {
    const all = PAGES.map(referenceOf);
    assert.ok(all.reduce((sum, ref) => sum + ref.tables.length, 0) >= 30, 'tables');
    assert.ok(all.reduce((sum, ref) => sum + ref.signatures.length, 0) >= 200, 'signatures');
    const rust = referenceOf(PAGES.find((page) => page.file === 'rust-hashmap.html')!);
    assert.ok(rust.signatures.some((signature) => signature.startsWith('pub fn with_capacity(capacity: usize)')));
    assert.ok(all.every((ref) => ref.pre.length > 0), 'every page has code');
  });
});
