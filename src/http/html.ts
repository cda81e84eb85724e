/**
 * HTML → Markdown or plain text. Every library here is imported on first use
 * (never at start-up): Readability on a linkedom DOM picks the main content,
 * turndown with the GFM plugin writes Markdown.
 */
import { domToText } from './html-text.js';

export interface ReadableHtml {
  text: string;
  title?: string;
}

/** Chrome removed when Readability finds no article and we fall back to the whole body. */
const CHROME_SELECTOR = 'script, style, noscript, template, nav, header, footer, aside, form, iframe';

type LinkedomDocument = ReturnType<(typeof import('linkedom'))['parseHTML']>['document'];

/**
 * Readability's and turndown's work grows with the sum of every element's
 * depth, and both run on the event loop that also serves the other tool calls
 * and the login callback: 11 KB of nested <div>s kept Readability busy for 10 s,
 * 55 KB for 5 minutes. Past the first budget the page skips Readability (the
 * body minus navigation is used); past the second it is returned as served.
 * Real pages stay far below both (a long article: some tens of thousands).
 */
const READABILITY_DEPTH_BUDGET = 300_000;
const CONVERSION_DEPTH_BUDGET = 5_000_000;
const MAX_DEPTH = 1_000;

export class PageTooComplexError extends Error {
  override readonly name = 'PageTooComplexError';
}

/** Elements whose end tag is implied or absent: they never nest by themselves. */
const NOT_NESTING = new Set([
  'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr',
  'p', 'li', 'dt', 'dd', 'tr', 'td', 'th', 'option', 'optgroup', 'thead', 'tbody', 'tfoot', 'colgroup', 'rb', 'rt', 'rp', 'html', 'head', 'body',
]);
/** Elements whose content is text up to their end tag (tags inside do not count). */
const RAW_TEXT = new Set(['script', 'style', 'textarea', 'template']);
const TAG_NAME = /[a-zA-Z][\w:-]*/y;

/**
 * An upper bound of how deep the markup nests, from the tags alone, so that a
 * page nested far too deep is refused before the DOM parser (linkedom took
 * 11 s on 100,000 nested <div>s) rather than after. One pass: every search
 * moves forward, and one that finds no end (an unterminated `<!--`, `<a`
 * without `>`) ends the scan, since the rest is a comment or a broken tag to
 * the parser too. (A regex that rescanned the rest for each took 27 s on 600 KB of `<!--`.)
 */
export function nestsDeeperThan(html: string, limit: number): boolean {
  let lower: string | undefined;
  let depth = 0;
  for (let at = html.indexOf('<'); at !== -1; at = html.indexOf('<', at)) {
    if (html.startsWith('<!--', at)) {
      const end = html.indexOf('-->', at + 4);
      if (end === -1) return false;
      at = end + 3;
      continue;
    }
    const closing = html.charCodeAt(at + 1) === 0x2f; /* / */
    TAG_NAME.lastIndex = at + (closing ? 2 : 1);
    const name = TAG_NAME.exec(html)?.[0].toLowerCase();
    if (!name) {
      at++;
      continue;
    }
    const end = html.indexOf('>', TAG_NAME.lastIndex);
    if (end === -1) return false;
    at = end + 1;
    if (!closing && RAW_TEXT.has(name)) {
      lower ??= html.toLowerCase();
      const close = lower.indexOf(`</${name}`, at);
      if (close === -1) return false;
      at = close;
      continue;
    }
    if (html.charCodeAt(end - 1) === 0x2f /* self-closed */ || NOT_NESTING.has(name)) continue;
    if (closing) depth = Math.max(0, depth - 1);
    else if (++depth > limit) return true;
  }
  return false;
}

/** Sum and maximum of the elements' depths, walked without recursion (a hostile page may nest 100,000 deep). */
export function nestingOf(root: Element | null | undefined): { depthSum: number; maxDepth: number } {
  let depthSum = 0;
  let maxDepth = 0;
  let depth = 1;
  let node: Element | null = root?.firstElementChild ?? null;
  while (node) {
    depthSum += depth;
    if (depth > maxDepth) maxDepth = depth;
    if (node.firstElementChild) {
      node = node.firstElementChild;
      depth++;
      continue;
    }
    while (node && node !== root && !node.nextElementSibling) {
      node = node.parentElement;
      depth--;
    }
    node = node && node !== root ? node.nextElementSibling : null;
  }
  return { depthSum, maxDepth };
}
type Turndown = import('turndown');

// A dynamic import costs about a millisecond even when cached by Node: load once, keep the promise.
let domLibraries: Promise<[typeof import('linkedom'), typeof import('@mozilla/readability')]> | undefined;
let markdownWriter: Promise<Turndown> | undefined;

const loadDomLibraries = () => (domLibraries ??= Promise.all([import('linkedom'), import('@mozilla/readability')]));

/** One turndown instance for the process: it keeps no state between conversions. */
function loadMarkdownWriter(): Promise<Turndown> {
  markdownWriter ??= Promise.all([import('turndown'), import('@joplin/turndown-plugin-gfm'), import('./markdown-rules.js')]).then(
    ([{ default: TurndownService }, { gfm }, { addDocumentationRules }]) => {
      const service = new TurndownService({ headingStyle: 'atx', codeBlockStyle: 'fenced', bulletListMarker: '-', emDelimiter: '_' });
      service.use(gfm);
      service.remove(['script', 'style', 'noscript', 'template']);
      addDocumentationRules(service);
      return service;
    },
  );
  return markdownWriter;
}

/**
 * The GFM table rules read `table.rows` once per row for the table and once
 * per row per column for its alignment, and a DOM may compute `rows` afresh
 * on every read (domino did: a 100 x 50 table took 18 s; linkedom has no
 * `rows` at all): read them once, before the rules run.
 */
export function snapshotRows(table: HTMLElement): void {
  const rows = (table as HTMLTableElement).rows;
  if (!rows || Object.prototype.hasOwnProperty.call(table, 'rows')) return;
  try {
    Object.defineProperty(table, 'rows', { value: Array.from(rows), configurable: true });
  } catch {
    // a DOM that refuses: the table converts as before, only slower
  }
}

type LinkedomElement = NonNullable<LinkedomDocument['body']>;

export async function htmlToReadable(html: string, format: 'markdown' | 'text', pageUrl?: URL): Promise<ReadableHtml> {
  const [{ parseHTML }, { Readability }] = await loadDomLibraries();
  if (nestsDeeperThan(html, MAX_DEPTH)) throw new PageTooComplexError(`elements nested more than ${MAX_DEPTH} deep`);
  const parse = (): LinkedomDocument => {
    let { document } = parseHTML(html);
    // linkedom builds no <html>/<body> for markup-free text ("OK", a truncated JSON body sent as
    // text/html) or for a bare fragment ("<p>…</p>"): give such input a document to live in.
    if (document.documentElement?.tagName?.toUpperCase() !== 'HTML' || !document.body) ({ document } = parseHTML(`<!doctype html><html><body>${html}</body></html>`));
    return document;
  };
  const document = parse();
  const documentTitle = document.querySelector('title')?.textContent?.replace(/\s+/g, ' ').trim() || undefined;
  const nesting = nestingOf(document.documentElement as unknown as Element);
  if (nesting.maxDepth > MAX_DEPTH || nesting.depthSum > CONVERSION_DEPTH_BUDGET) {
    throw new PageTooComplexError(`elements nested ${nesting.maxDepth} deep`);
  }

  let title = documentTitle;
  let content = markedMainContent(document);
  if (content) absolutizeLinks(content, document, pageUrl);
  else if (nesting.depthSum <= READABILITY_DEPTH_BUDGET) {
    // Readability changes the DOM it reads; the untouched page is parsed again only if it finds no article.
    try {
      if (pageUrl) setBaseUri(document, pageUrl);
      const article = new Readability(document as unknown as Document, { serializer: (element) => element, keepClasses: true }).parse();
      const element = article?.content as unknown as LinkedomElement | undefined;
      if (element && hasContent(element)) {
        content = element;
        title = article?.title?.replace(/\s+/g, ' ').trim() || documentTitle;
      }
    } catch {
      content = undefined;
    }
    if (!content) content = fallbackContent(parse(), pageUrl);
  } else {
    content = fallbackContent(document, pageUrl);
  }

  if (format === 'text') return { text: withTitle(content ? domToText(content as unknown as Node) : '', title, (t) => t), title };
  const markdown = content ? await toMarkdown(content) : '';
  return { text: withTitle(markdown, title, (t) => `# ${t}`), title };
}

/** Chrome a page may still have inside its main element. */
const MAIN_CHROME_SELECTOR = 'script, style, noscript, template, nav, form, iframe, button, [hidden]';

/**
 * The page's own main element, when it marks exactly one (`<main>` or
 * `role="main"`) and it holds a fair share of the page's text: documentation
 * generators (Sphinx, rustdoc, Javadoc) mark it, and using it keeps what
 * Readability would drop (rustdoc's signatures) at a fraction of the cost.
 */
function markedMainContent(document: LinkedomDocument): LinkedomElement | undefined {
  const marked = document.querySelectorAll('main, [role="main"]');
  if (marked.length !== 1 || !document.body) return undefined;
  const main = marked[0] as LinkedomElement;
  for (const element of Array.from(main.querySelectorAll(MAIN_CHROME_SELECTOR))) element.remove();
  const mainText = textLength(main);
  if (mainText === 0 || mainText < MAIN_SHARE_OF_TEXT * textLength(document.body)) return undefined;
  return main;
}

/** Below this share of the body's text a marked main is an app shell's, not the content. */
const MAIN_SHARE_OF_TEXT = 0.2;

const textLength = (element: LinkedomElement) => (element.textContent ?? '').replace(/\s+/g, ' ').trim().length;

const hasContent = (element: LinkedomElement) => (element.textContent ?? '').trim() !== '' || element.querySelector('img, table, pre') !== null;

/**
 * Readability resolves links and image sources against document.baseURI, which
 * linkedom leaves unset; a <base href> in the page still wins, as in a browser.
 */
function setBaseUri(document: LinkedomDocument, pageUrl: URL): void {
  for (const [name, value] of [['baseURI', baseOf(document, pageUrl)], ['documentURI', pageUrl.href]] as const) {
    try {
      Object.defineProperty(document, name, { value, configurable: true });
    } catch {
      // an engine that refuses: links simply stay relative
    }
  }
}

function baseOf(document: LinkedomDocument, pageUrl: URL): string {
  const declared = document.querySelector('base[href]')?.getAttribute('href');
  try {
    return new URL(declared ?? '', pageUrl).href;
  } catch {
    return pageUrl.href;
  }
}

function fallbackContent(document: LinkedomDocument, pageUrl?: URL): LinkedomElement | undefined {
  const body = document.body;
  if (!body) return undefined;
  for (const element of Array.from(body.querySelectorAll(CHROME_SELECTOR))) element.remove();
  absolutizeLinks(body, document, pageUrl);
  return body;
}

/** Links and image sources made absolute against the page's base (what Readability does on its path). */
function absolutizeLinks(root: LinkedomElement, document: LinkedomDocument, pageUrl?: URL): void {
  if (!pageUrl) return;
  const base = baseOf(document, pageUrl);
  for (const [selector, attribute] of [['a[href]', 'href'], ['img[src]', 'src']] as const) {
    for (const element of Array.from(root.querySelectorAll(selector))) {
      const value = element.getAttribute(attribute)!;
      if (value.startsWith('#') || /^javascript:/i.test(value)) continue;
      try {
        element.setAttribute(attribute, new URL(value, base).href);
      } catch {
        // leave it as written
      }
    }
  }
}

/**
 * Puts the page title on top unless the content already opens with it
 * (Readability usually removes an <h1> that repeats the title; some pages keep it).
 */
function withTitle(content: string, title: string | undefined, asHeading: (title: string) => string): string {
  if (!title) return content;
  const firstLine = content.split('\n').find((line) => line.trim() !== '') ?? '';
  if (normalize(firstLine.replace(/^#{1,6}\s+/, '')) === normalize(title)) return content;
  return content ? `${asHeading(title)}\n\n${content}` : asHeading(title);
}

function normalize(text: string): string {
  return text.replace(/[\s*_`#]+/g, ' ').trim().toLowerCase();
}

async function toMarkdown(content: LinkedomElement): Promise<string> {
  const service = await loadMarkdownWriter();
  // turndown copies a node it is given before collapsing its whitespace; this DOM is ours alone
  // and read by no one after, so the copy (a third of the conversion's allocations) is skipped.
  Object.defineProperty(content, 'cloneNode', { value: () => content, configurable: true });
  return trimLineEnds(service.turndown(content as unknown as HTMLElement))
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/**
 * Each line without its trailing spaces and tabs. Not `/[ \t]+\n/g`: on a long
 * run of spaces that no newline ends, it retries from every space (200 KB of
 * spaces in a <pre>: 40 s).
 */
export function trimLineEnds(text: string): string {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    let end = line.length;
    while (end > 0 && (line.charCodeAt(end - 1) === 0x20 || line.charCodeAt(end - 1) === 0x09)) end--;
    if (end < line.length) lines[i] = line.slice(0, end);
  }
  return lines.join('\n');
}
