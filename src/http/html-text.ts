/**
 * Plain text from a parsed subtree (html-tree.ts), laid out roughly as a
 * browser would show it: blocks on their own lines, paragraphs separated by a
 * blank line, whitespace collapsed except inside <pre>.
 */
import { isText, preText, type HtmlElement, type HtmlNode } from './html-tree.js';

const PARAGRAPH_BLOCKS = new Set(['p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'pre', 'blockquote', 'table', 'ul', 'ol', 'dl', 'figure', 'hr', 'address', 'details']);
const LINE_BLOCKS = new Set([
  'div', 'section', 'article', 'main', 'header', 'footer', 'nav', 'aside', 'li', 'tr', 'dt', 'dd', 'figcaption', 'caption', 'summary', 'form', 'fieldset',
]);

const BREAK = '\u0000';
const PARAGRAPH = '\u0001';
/** Starts a line that layout keeps verbatim (preformatted text). */
const VERBATIM = '\u0002';

/** `skip` leaves out an element with everything in it (scripts, chrome). */
export function domToText(root: HtmlElement, skip: (element: HtmlElement) => boolean): string {
  const parts: string[] = [];
  walk(root, parts, skip);
  return layout(parts.join(''));
}

function walk(node: HtmlNode, out: string[], skip: (element: HtmlElement) => boolean): void {
  if (isText(node)) {
    out.push(node.text.replace(/\s+/g, ' '));
    return;
  }
  if (skip(node)) return;
  const tag = node.name;
  if (tag === 'br') {
    out.push(BREAK);
    return;
  }
  const boundary = PARAGRAPH_BLOCKS.has(tag) ? PARAGRAPH : LINE_BLOCKS.has(tag) ? BREAK : '';
  out.push(boundary);
  if (tag === 'pre') {
    const code = preText(node, skip).replace(/^\r?\n/, '').replace(/\n$/, '');
    out.push(VERBATIM + code.split('\n').join(BREAK + VERBATIM), boundary);
    return;
  }
  if (tag === 'li') out.push('- ');
  let cells = 0;
  for (const child of node.children) {
    const isCell = tag === 'tr' && (child.name === 'td' || child.name === 'th');
    if (isCell && cells++ > 0) out.push('\t');
    walk(child, out, skip);
  }
  out.push(boundary);
}

/** Turns the boundary markers into newlines: one for a line break, a blank line between paragraphs. */
function layout(marked: string): string {
  const lines: string[] = [];
  let pendingBlank = false;
  for (const block of marked.split(PARAGRAPH)) {
    for (const raw of block.split(BREAK)) {
      const verbatim = raw.startsWith(VERBATIM);
      // Runs of spaces are collapsed first (as a browser shows them): on a long run, ` *\t *` and ` +$` backtrack quadratically.
      const line = verbatim ? raw.slice(1) : raw.replace(/ {2,}/g, ' ').replace(/ ?\t ?/g, '\t').replace(/^ | $/g, '');
      if (line === '' && !verbatim) continue;
      if (pendingBlank && lines.length > 0) lines.push('');
      pendingBlank = false;
      lines.push(line);
    }
    pendingBlank = true;
  }
  return lines.join('\n');
}
