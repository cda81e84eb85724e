import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { htmlToReadable } from '../../src/http/html.js';
import { elementChildren, parseHtml, type HtmlElement } from '../../src/http/html-tree.js';

/**
 * The implied ends of the HTML parsing spec that htmlparser2 leaves out: an
 * `<li>` start tag closes an open `<p>` and the open `<li>` of its list,
 * `<dd>`/`<dt>` likewise, so sloppy lists stay flat however long they are.
 */

const page = (body: string) => `<html><body>${body}</body></html>`;
const names = (element: HtmlElement) => elementChildren(element).map((child) => child.name);

function only(element: HtmlElement, name: string): HtmlElement {
  const found = elementChildren(element).filter((child) => child.name === name);
  assert.equal(found.length, 1, `one <${name}> under <${element.name}>: ${names(element).join(',')}`);
  return found[0]!;
}

describe('implied ends of list items', () => {
  it('converts a 2,000-item list of <li><p> with no end tags fully, one item a line, nesting flat', async () => {
    const items = Array.from({ length: 2_000 }, (_, i) => `<li><p>item ${i} of the list`).join('');
    const html = page(`<main><ul>${items}</ul><p>after the list</p></main>`);
    const parsed = parseHtml(html, 1_000);
    assert.ok(parsed.maxDepth <= 6, `maxDepth ${parsed.maxDepth}`);
    const ul = only(only(parsed.body, 'main'), 'ul');
    assert.equal(elementChildren(ul).length, 2_000);
    assert.ok(elementChildren(ul).every((li) => li.name === 'li' && names(li).join() === 'p'));
    assert.deepEqual(names(only(parsed.body, 'main')), ['ul', 'p'], 'the list ends at </ul>');

    const { text } = await htmlToReadable(html, 'markdown', new URL('https://docs.example/'));
    const lines = text.split('\n').filter((line) => /^- item \d+ of the list$/.test(line));
    assert.equal(lines.length, 2_000, text.slice(0, 400));
    assert.deepEqual(lines.map((line) => Number(/\d+/.exec(line)![0])), Array.from({ length: 2_000 }, (_, i) => i));
    assert.match(text, /after the list/);
  });

  it('closes an open <li> across inline elements, <div> and <p>, and a <p> in button scope', () => {
    const body = parseHtml(page('<ul><li><div><p><span>a<li><em>b<li>c</ul><p><b>x<li>y'), 100).body;
    const ul = only(body, 'ul');
    assert.deepEqual(names(ul), ['li', 'li', 'li']);
    assert.deepEqual(elementChildren(ul).map((li) => li.children.length), [1, 1, 1]);
    assert.deepEqual(names(body), ['ul', 'p', 'li'], 'a stray <li> closes the <p> it started in');
  });

  it('keeps a well-formed nested list nested, and a sloppy one nested only where a <ul> opens', async () => {
    for (const html of [
      page('<ul><li><p>a</p><ul><li><p>b</p></li><li>c</li></ul></li><li>d</li></ul>'),
      page('<ul><li><p>a<ul><li><p>b<li>c</ul><li>d</ul>'),
    ]) {
      const outer = only(parseHtml(html, 100).body, 'ul');
      assert.deepEqual(names(outer), ['li', 'li'], html);
      const first = elementChildren(outer)[0]!;
      assert.deepEqual(names(first), ['p', 'ul'], `the inner list stays in the first item: ${html}`);
      assert.deepEqual(names(only(first, 'ul')), ['li', 'li']);
      const { text } = await htmlToReadable(html, 'markdown', new URL('https://docs.example/'));
      assert.match(text, /^- a\n\s*\n?\s*- b\n\s*- c\n\s*\n?- d$/m, text);
    }
  });

  it('closes <dd>/<dt> at the next term or definition, and stops at a nested <dl>', () => {
    const terms = Array.from({ length: 1_500 }, (_, i) => `<dt><p>term ${i}<dd><p>definition ${i}`).join('');
    const parsed = parseHtml(page(`<dl>${terms}</dl>`), 1_000);
    assert.ok(parsed.maxDepth <= 5, `maxDepth ${parsed.maxDepth}`);
    assert.equal(elementChildren(only(parsed.body, 'dl')).length, 3_000);

    const nested = only(parseHtml(page('<dl><dt>a<dd><dl><dt>b<dd>c</dl><dt>d</dl>'), 100).body, 'dl');
    assert.deepEqual(names(nested), ['dt', 'dd', 'dt']);
    assert.deepEqual(names(only(elementChildren(nested)[1]!, 'dl')), ['dt', 'dd']);
  });
});
