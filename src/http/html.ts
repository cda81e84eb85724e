/**
 * HTML → Markdown or plain text, in the conversion worker (this module is
 * imported on the first page that needs it, never at start-up). The page is
 * parsed once into a light tree (html-tree.ts); when it marks one main
 * element, that is the content, else Readability (on a linkedom DOM, loaded
 * only then) picks the article, else the body minus navigation is used. Our
 * own walk (markdown.ts) writes the Markdown, html-text.ts the plain text.
 */
import { domToText } from './html-text.js';
import { hasAttribute, NestedTooDeepError, parseHtml, visibleTextLength, type HtmlElement, type ParsedPage } from './html-tree.js';
import { NEVER_CONTENT, renderNode, type RenderContext } from './markdown.js';
import { MarkdownWriter } from './markdown-writer.js';

export interface ReadableHtml {
  text: string;
  title?: string;
}

/**
 * Readability's work on nested markup grows with the sum of the squares of the
 * elements' depths (its cleaning step reads the text of every block below each
 * block: on a chain, the cube of its depth). 8 KB of 700 nested <div>s sums to
 * 118 million and kept it busy for 6 s; the documentation pages of test/corpus
 * (up to 250 KB) stay under 1 million. Past READABILITY_NESTING_BUDGET the page
 * skips Readability (the body minus navigation is used): a chain of some 300
 * elements, under a second. So does a page whose sum of depths (its elements
 * times their mean depth; the corpus: under 80,000) is past
 * READABILITY_SIZE_BUDGET: a flat page of some 100,000 elements, where
 * Readability's time per element alone makes seconds. Past
 * CONVERSION_DEPTH_BUDGET (what our own walk grows with) the page is returned
 * as served. Past MAX_DEPTH the parser stops at once (linkedom took 11 s to
 * build 100,000 nested <div>s; Readability runs only on pages within it): that
 * also bounds the Markdown walk's recursion.
 */
const READABILITY_NESTING_BUDGET = 10_000_000;
const READABILITY_SIZE_BUDGET = 300_000;
const CONVERSION_DEPTH_BUDGET = 5_000_000;
const MAX_DEPTH = 1_000;

export class PageTooComplexError extends Error {
  override readonly name = 'PageTooComplexError';
}

type LinkedomDocument = ReturnType<(typeof import('linkedom'))['parseHTML']>['document'];

// A dynamic import costs about a millisecond even when cached by Node: load once, keep the promise.
let domLibraries: Promise<[typeof import('linkedom'), typeof import('@mozilla/readability')]> | undefined;
const loadDomLibraries = () => (domLibraries ??= Promise.all([import('linkedom'), import('@mozilla/readability')]));

/** Loads the DOM libraries now rather than on the first page without a marked main (a worker's start-up). */
export async function preloadDomLibraries(): Promise<void> {
  await loadDomLibraries();
}

/** What is converted: an element of the parsed page (or of Readability's article) and what to leave out of it. */
interface Content {
  root: HtmlElement;
  skip: (element: HtmlElement) => boolean;
}

const neverContent = (element: HtmlElement) => NEVER_CONTENT.has(element.name);
/** Chrome a page may still have inside its main element. */
const MAIN_CHROME = new Set(['nav', 'form', 'button']);
const mainChrome = (element: HtmlElement) => NEVER_CONTENT.has(element.name) || MAIN_CHROME.has(element.name) || hasAttribute(element, 'hidden');
/** Chrome removed when there is neither a marked main nor an article Readability finds: the whole body is used. */
const PAGE_CHROME = new Set(['nav', 'header', 'footer', 'aside', 'form']);
const pageChrome = (element: HtmlElement) => NEVER_CONTENT.has(element.name) || PAGE_CHROME.has(element.name);

export async function htmlToReadable(html: string, format: 'markdown' | 'text', pageUrl?: URL): Promise<ReadableHtml> {
  return (await convertPage(html, format, pageUrl, true))!;
}

/**
 * The same conversion when it needs no Readability (the page marks its main
 * element, or is too nested for Readability anyway), else undefined: what the
 * main thread may run itself on a small page, without a DOM library loaded.
 */
export async function htmlToReadableWithoutDom(html: string, format: 'markdown' | 'text', pageUrl?: URL): Promise<ReadableHtml | undefined> {
  return convertPage(html, format, pageUrl, false);
}

async function convertPage(html: string, format: 'markdown' | 'text', pageUrl: URL | undefined, readability: boolean): Promise<ReadableHtml | undefined> {
  const page = parse(html);
  if (page.depthSum > CONVERSION_DEPTH_BUDGET) throw new PageTooComplexError(`elements nested ${page.maxDepth} deep`);

  let title = page.title;
  let content: Content | undefined;
  const main = markedMain(page);
  if (main) content = { root: main, skip: mainChrome };
  else if (readabilityAffordable(page)) {
    if (!readability) return undefined;
    const article = await readabilityArticle(html, pageUrl).catch(() => undefined);
    const root = article ? parse(article.html).root : undefined;
    if (article && root && !cutShort(root, page)) {
      content = { root, skip: neverContent };
      title = article.title || title;
    }
  }
  content ??= { root: page.body, skip: pageChrome };

  if (format === 'text') return { text: withTitle(domToText(content.root, content.skip), title, (t) => t), title };
  const base = pageUrl ? baseOf(page, pageUrl) : undefined;
  const markdown = toMarkdown(content.root, { base, skip: content.skip, inTable: false, indents: 0 });
  return { text: withTitle(markdown, title, (t) => `# ${t}`), title };
}

const readabilityAffordable = (page: ParsedPage) => page.depthSquareSum <= READABILITY_NESTING_BUDGET && page.depthSum <= READABILITY_SIZE_BUDGET;

function parse(html: string): ParsedPage {
  try {
    // <html> and <body> above the page's own elements.
    return parseHtml(html, MAX_DEPTH + 2);
  } catch (error) {
    if (error instanceof NestedTooDeepError) throw new PageTooComplexError(error.message);
    throw error;
  }
}

/**
 * The page's own main element, when it marks exactly one (`<main>` or
 * `role="main"`) and it holds a fair share of the page's text: documentation
 * generators (Sphinx, rustdoc, Javadoc) mark it, and using it keeps what
 * Readability would drop (rustdoc's signatures) at a fraction of the cost.
 */
function markedMain(page: ParsedPage): HtmlElement | undefined {
  if (page.mains.length !== 1) return undefined;
  const main = page.mains[0]!;
  const mainText = visibleTextLength(main, mainChrome);
  const restText = visibleTextLength(page.body, (element) => element === main || neverContent(element));
  if (mainText === 0 || mainText < MAIN_SHARE_OF_TEXT * (mainText + restText)) return undefined;
  return main;
}

/**
 * Readability's article is short (under its own threshold for a successful
 * extraction) while the page holds much more outside its chrome: on a short
 * page, typically a chapter's index (Texinfo, DocBook), it kept a navigation
 * line and dropped the list of sections. Then the body minus chrome is used:
 * there is little clutter to remove on a page that short anyway.
 */
function cutShort(article: HtmlElement, page: ParsedPage): boolean {
  const kept = visibleTextLength(article, neverContent);
  return kept < SHORT_ARTICLE_CHARS && visibleTextLength(page.body, pageChrome) >= 2 * Math.max(kept, 1);
}

/** Readability's default charThreshold: an article shorter than this counts as not found. */
const SHORT_ARTICLE_CHARS = 500;

/** Below this share of the body's text a marked main is an app shell's, not the content. */
const MAIN_SHARE_OF_TEXT = 0.2;

/**
 * Readability's pick of the article (on a linkedom DOM: it needs a browser's
 * API), as HTML with links made absolute, or undefined when it finds none.
 */
async function readabilityArticle(html: string, pageUrl?: URL): Promise<{ html: string; title?: string } | undefined> {
  const [{ parseHTML }, { Readability }] = await loadDomLibraries();
  let { document } = parseHTML(html);
  // linkedom builds no <html>/<body> for markup-free text ("OK", a truncated JSON body sent as
  // text/html) or for a bare fragment ("<p>…</p>"): give such input a document to live in.
  if (document.documentElement?.tagName?.toUpperCase() !== 'HTML' || !document.body) ({ document } = parseHTML(`<!doctype html><html><body>${html}</body></html>`));
  if (pageUrl) setBaseUri(document, pageUrl);
  const article = new Readability(document as unknown as Document, { serializer: (element) => element, keepClasses: true }).parse();
  const element = article?.content as unknown as Element | undefined;
  if (!element || !hasContent(element)) return undefined;
  return { html: element.outerHTML, title: article?.title?.replace(/\s+/g, ' ').trim() || undefined };
}

const hasContent = (element: Element) => (element.textContent ?? '').trim() !== '' || element.querySelector('img, table, pre') !== null;

/**
 * Readability resolves links and image sources against document.baseURI, which
 * linkedom leaves unset; a <base href> in the page still wins, as in a browser.
 */
function setBaseUri(document: LinkedomDocument, pageUrl: URL): void {
  const declared = document.querySelector('base[href]')?.getAttribute('href') ?? undefined;
  for (const [name, value] of [['baseURI', resolvedBase(declared, pageUrl)], ['documentURI', pageUrl.href]] as const) {
    try {
      Object.defineProperty(document, name, { value, configurable: true });
    } catch {
      // an engine that refuses: links simply stay relative
    }
  }
}

const baseOf = (page: ParsedPage, pageUrl: URL) => resolvedBase(page.baseHref, pageUrl);

function resolvedBase(declared: string | undefined, pageUrl: URL): string {
  try {
    return new URL(declared ?? '', pageUrl).href;
  } catch {
    return pageUrl.href;
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

function toMarkdown(root: HtmlElement, context: RenderContext): string {
  const writer = new MarkdownWriter();
  renderNode(root, writer, context);
  return trimLineEnds(writer.toString()).replace(/\n{3,}/g, '\n\n').trim();
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
