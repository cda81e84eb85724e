/**
 * HTML → Markdown: one walk over the parsed tree (src/http/html-tree.ts),
 * writing GFM as it goes — headings, paragraphs, emphasis, links and images
 * made absolute, lists (nested, ordered from their start), block quotes —
 * with the documentation rules of markdown-docs.ts (code blocks, signatures,
 * definition lists) and markdown-tables.ts (GFM tables). Each element is
 * visited once; the walk recurses at most as deep as the parser allows
 * (html.ts refuses deeper pages), and indentation stops growing past
 * MAX_INDENTS levels, so the output stays linear in the page.
 */
import { hasClass, isText, type HtmlElement, type HtmlNode } from './html-tree.js';
import { renderDefinition, renderInlineCode, renderPre, renderSignature, renderTerm, isSignature, PERMALINK_CLASSES } from './markdown-docs.js';
import { renderTable } from './markdown-tables.js';
import { MarkdownWriter, type Block } from './markdown-writer.js';

export interface RenderContext {
  /** Links and image sources are resolved against this URL (left as written without it). */
  readonly base?: string;
  /** Elements left out with everything inside them. */
  readonly skip: (element: HtmlElement) => boolean;
  /** Inside a GFM table cell: blocks become parts of one line. */
  readonly inTable: boolean;
  /** Levels of list, quote and definition indentation around this point. */
  readonly indents: number;
}

/** Nesting past this many lists or quotes is written at this depth (deeper indentation says nothing more, and costs a copy of every line per level). */
export const MAX_INDENTS = 16;

/** Never content, wherever they are. */
export const NEVER_CONTENT = new Set(['script', 'style', 'noscript', 'template', 'head', 'title', 'svg', 'select', 'iframe', 'object', 'embed', 'canvas']);

const BLOCK_CONTAINERS = new Set([
  'address', 'article', 'aside', 'body', 'caption', 'center', 'details', 'dialog', 'dir', 'div', 'dl', 'fieldset', 'figcaption', 'figure',
  'footer', 'form', 'frameset', 'header', 'hgroup', 'html', 'legend', 'main', 'menu', 'nav', 'noframes', 'output', 'p', 'search', 'section',
  'summary', 'tbody', 'td', 'tfoot', 'th', 'thead', 'tr',
]);

type Render = (element: HtmlElement, writer: MarkdownWriter, context: RenderContext) => void;

const inlineMarkup =
  (delimiter: string): Render =>
  (element, writer, context) => {
    const mark = writer.openInline(delimiter);
    renderChildren(element, writer, context);
    writer.closeInline(mark, delimiter);
  };

const heading: Render = (element, writer, context) => {
  const text = inlineOf(element, context);
  if (text !== '') writer.block(`${'#'.repeat(Number(element.name[1]))} ${text}`);
};

// A Map, not an object: an element named `constructor` or `__proto__` must find no handler.
const HANDLERS = new Map<string, Render>(Object.entries({
  h1: heading, h2: heading, h3: heading, h4: heading, h5: heading, h6: heading,
  br: (_element, writer) => writer.lineBreak(),
  hr: (_element, writer) => writer.block('---'),
  em: inlineMarkup('_'), i: inlineMarkup('_'),
  strong: inlineMarkup('**'), b: inlineMarkup('**'),
  del: inlineMarkup('~~'), s: inlineMarkup('~~'), strike: inlineMarkup('~~'),
  code: renderInlineCode, kbd: renderInlineCode, samp: renderInlineCode,
  pre: renderPre,
  a: renderLink,
  img: renderImage,
  input: (element, writer) => {
    if (element.attrs.type?.toLowerCase() === 'checkbox') writer.markup(element.attrs.checked !== undefined ? '[x] ' : '[ ] ');
  },
  ul: renderList, ol: renderList,
  li: (element, writer, context) => writer.block(listItem(blocksOf(element, context), '- ', context), true),
  blockquote: renderQuote,
  dt: renderTerm,
  dd: renderDefinition,
  table: renderTable,
}));

export function renderNode(node: HtmlNode, writer: MarkdownWriter, context: RenderContext): void {
  if (isText(node)) {
    writer.text(node.text);
    return;
  }
  if (context.skip(node)) return;
  if (isSignature(node) && node.name !== 'dt') {
    renderSignature(node, writer, context);
    return;
  }
  const handler = HANDLERS.get(node.name);
  if (handler) {
    handler(node, writer, context);
  } else if (BLOCK_CONTAINERS.has(node.name)) {
    writer.endRun();
    renderChildren(node, writer, context);
    writer.endRun();
  } else {
    renderChildren(node, writer, context);
  }
}

export function renderChildren(element: HtmlElement, writer: MarkdownWriter, context: RenderContext): void {
  for (const child of element.children) renderNode(child, writer, context);
}

/** The element's content on one line (a heading, a term). */
export function inlineOf(element: HtmlElement, context: RenderContext): string {
  const writer = new MarkdownWriter({ escapeLineStart: false });
  renderChildren(element, writer, context);
  return writer.toInline();
}

/** The element's content as blocks, one level of indentation deeper. */
export function blocksOf(element: HtmlElement, context: RenderContext): Block[] {
  const writer = new MarkdownWriter();
  renderChildren(element, writer, { ...context, indents: context.indents + 1 });
  writer.endRun();
  return writer.blocks;
}

/** Every line but the first indented by `pad` (blank lines left empty); past MAX_INDENTS levels, not indented. */
export function indentRest(text: string, pad: string, context: RenderContext): string {
  if (context.indents >= MAX_INDENTS || !text.includes('\n')) return text;
  return text.replace(/\n(?=[^\n])/g, `\n${pad}`);
}

/** A target for a Markdown link: absolute when the page's URL is known, parentheses escaped. */
export function linkTarget(href: string, context: RenderContext): string {
  let target = href;
  if (context.base && !href.startsWith('#')) {
    try {
      target = new URL(href, context.base).href;
    } catch {
      // left as written
    }
  }
  return target.replace(/[()]/g, '\\$&').replace(/\s/g, (c) => encodeURIComponent(c));
}

function renderLink(link: HtmlElement, writer: MarkdownWriter, context: RenderContext): void {
  const href = link.attrs.href?.trim();
  // No target, or a script's (rustdoc's "collapse all" toggle): nothing an agent can follow, only the text.
  if (!href || /^javascript:/i.test(href)) {
    renderChildren(link, writer, context);
    return;
  }
  // Permalinks next to headings and signatures (Sphinx ¶, rustdoc §).
  if (href.startsWith('#') && hasClass(link, PERMALINK_CLASSES)) return;
  const target = linkTarget(href, context);
  const mark = writer.openInline('[');
  renderChildren(link, writer, context);
  // A link around blocks (a card: heading and summary) cannot be one Markdown link: its target follows them.
  if (!writer.closeInline(mark, `](${target})`) && mark.broken) writer.block(`[link](${target})`);
}

function renderImage(image: HtmlElement, writer: MarkdownWriter, context: RenderContext): void {
  const src = image.attrs.src?.trim();
  if (!src) return;
  const alt = (image.attrs.alt ?? '').replace(/\s+/g, ' ').trim().replace(/[\\[\]]/g, '\\$&');
  writer.markup(`![${alt}](${linkTarget(src, context)})`);
}

function renderList(list: HtmlElement, writer: MarkdownWriter, context: RenderContext): void {
  const ordered = list.name === 'ol';
  const start = Number.parseInt(list.attrs.start ?? '1', 10);
  let number = Number.isFinite(start) ? Math.min(Math.max(start, 0), 999_999_999) : 1;
  let items: Block[][] = [];
  const markers: string[] = [];
  const flush = () => {
    if (items.length) writer.block(items.map((blocks, i) => listItem(blocks, markers[i]!, context)).join('\n'), true);
    items = [];
    markers.length = 0;
  };
  for (const child of list.children) {
    if (isText(child)) {
      if (child.text.trim() !== '') writer.text(child.text);
      continue;
    }
    if (context.skip(child)) continue;
    const marker = ordered ? `${number}. ` : '- ';
    if (child.name === 'li') {
      items.push(blocksOf(child, context));
      markers.push(marker);
      number++;
    } else if ((child.name === 'ul' || child.name === 'ol') && items.length) {
      // A list directly inside a list (invalid, common): it belongs to the item before it.
      const nested = new MarkdownWriter();
      renderList(child, nested, { ...context, indents: context.indents + 1 });
      items[items.length - 1]!.push(...nested.blocks);
    } else {
      flush();
      renderNode(child, writer, context);
    }
  }
  flush();
}

/** One list item: its marker, its first block beside it, the rest indented under it (a nested list right under its text). */
export function listItem(blocks: Block[], marker: string, context: RenderContext): string {
  let text = '';
  for (let i = 0; i < blocks.length; i++) text = i === 0 ? blocks[i]!.text : `${text}${blocks[i]!.list ? '\n' : '\n\n'}${blocks[i]!.text}`;
  if (text === '') return marker.trimEnd();
  return marker + indentRest(text, ' '.repeat(marker.length), context);
}

function renderQuote(quote: HtmlElement, writer: MarkdownWriter, context: RenderContext): void {
  const inner = new MarkdownWriter();
  renderChildren(quote, inner, { ...context, indents: context.indents + 1 });
  const text = inner.toString();
  if (text === '') return;
  writer.block(context.indents >= MAX_INDENTS ? text : `> ${text.replace(/\n/g, '\n> ').replace(/^> $/gm, '>')}`);
}
