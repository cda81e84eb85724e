/**
 * Plain text from a DOM subtree, laid out roughly as a browser would show it:
 * blocks on their own lines, paragraphs separated by a blank line, whitespace
 * collapsed except inside <pre>. (linkedom has no layout-aware innerText.)
 */

const PARAGRAPH_BLOCKS = new Set([
  'P', 'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'PRE', 'BLOCKQUOTE', 'TABLE', 'UL', 'OL', 'DL', 'FIGURE', 'HR', 'ADDRESS', 'DETAILS',
]);
const LINE_BLOCKS = new Set([
  'DIV', 'SECTION', 'ARTICLE', 'MAIN', 'HEADER', 'FOOTER', 'NAV', 'ASIDE', 'LI', 'TR', 'DT', 'DD', 'FIGCAPTION', 'CAPTION', 'SUMMARY', 'FORM', 'FIELDSET',
]);
const SKIPPED = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'HEAD']);

const BREAK = '\u0000';
const PARAGRAPH = '\u0001';
/** Starts a line that layout keeps verbatim (preformatted text). */
const VERBATIM = '\u0002';

export function domToText(root: Node): string {
  const parts: string[] = [];
  walk(root, parts);
  return layout(parts.join(''));
}

function walk(node: Node, out: string[]): void {
  if (node.nodeType === 3) {
    out.push((node.nodeValue ?? '').replace(/\s+/g, ' '));
    return;
  }
  if (node.nodeType !== 1 && node.nodeType !== 9 && node.nodeType !== 11) return;
  const tag = (node as Element).tagName?.toUpperCase() ?? '';
  if (SKIPPED.has(tag)) return;
  if (tag === 'BR') {
    out.push(BREAK);
    return;
  }
  const boundary = PARAGRAPH_BLOCKS.has(tag) ? PARAGRAPH : LINE_BLOCKS.has(tag) ? BREAK : '';
  out.push(boundary);
  if (tag === 'PRE') {
    const code = (node.textContent ?? '').replace(/\n$/, '');
    out.push(VERBATIM + code.split('\n').join(BREAK + VERBATIM), boundary);
    return;
  }
  if (tag === 'LI') out.push('- ');
  let cells = 0;
  for (const child of Array.from(node.childNodes)) {
    const isCell = tag === 'TR' && /^T[DH]$/i.test((child as Element).tagName ?? '');
    if (isCell && cells++ > 0) out.push('\t');
    walk(child, out);
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
