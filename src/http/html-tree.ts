/**
 * A page parsed into a small tree of plain objects with htmlparser2's
 * tokenizer (the parser linkedom itself is built on, without a DOM's cost:
 * a tenth of linkedom's time on a 14 KB page). While parsing it notes what
 * the converter asks of the whole page: how deep it nests, its title, its
 * <base>, and its marked main elements.
 */
import { Parser } from 'htmlparser2';
import { impliedEndFor } from './html-implied-ends.js';

export interface HtmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: HtmlNode[];
  readonly parent: HtmlElement | undefined;
}
/** Adjacent text is merged into one node; comments and doctypes are not kept. */
export interface HtmlText {
  readonly name: '#text';
  text: string;
}
export type HtmlNode = HtmlElement | HtmlText;

export interface ParsedPage {
  /** The document's root: it holds <html> (or, for a fragment, the fragment's nodes). */
  root: HtmlElement;
  /** <body>, or the root when the markup has none (a fragment, text served as HTML). */
  body: HtmlElement;
  title?: string;
  baseHref?: string;
  /** Every `<main>` and `[role=main]`, in document order. */
  mains: HtmlElement[];
  /** Sum and maximum of the elements' depths: what a tree walk's work grows with. */
  depthSum: number;
  maxDepth: number;
  /** Sum of the squares of the elements' depths: what Readability's work grows with on nested markup (see html.ts). */
  depthSquareSum: number;
}

export class NestedTooDeepError extends Error {
  override readonly name = 'NestedTooDeepError';
}

export const isText = (node: HtmlNode): node is HtmlText => node.name === '#text';

/** Parses `html`; throws NestedTooDeepError as soon as an element sits deeper than `maxDepth`. */
export function parseHtml(html: string, maxDepth: number): ParsedPage {
  const root: HtmlElement = { name: '#root', attrs: {}, children: [], parent: undefined };
  const page: ParsedPage = { root, body: root, mains: [], depthSum: 0, maxDepth: 0, depthSquareSum: 0 };
  let body: HtmlElement | undefined;
  let current = root;
  let depth = 0;
  let titleParts: string[] | undefined;
  let titleDone = false;
  // htmlparser2's own stack of open elements, mirrored: it keeps elements we
  // closed early by the spec's implied ends, and closes them again later.
  const opened: HtmlElement[] = [];
  const closedEarly = new Set<HtmlElement>();

  const close = (element: HtmlElement) => {
    if (element.name === 'title' && titleParts) {
      page.title = titleParts.join('').replace(/\s+/g, ' ').trim() || undefined;
      titleParts = undefined;
      titleDone = true;
    }
    current = element.parent ?? root;
    depth = Math.max(0, depth - 1);
  };

  const parser = new Parser(
    {
      onopentag(name, attrs) {
        const ends = impliedEndFor(name, current);
        if (ends) {
          for (let done = false; !done; ) {
            const element = current;
            done = element === ends;
            closedEarly.add(element);
            close(element);
          }
        }
        const element: HtmlElement = { name, attrs, children: [], parent: current };
        opened.push(element);
        current.children.push(element);
        current = element;
        if (++depth > maxDepth) throw new NestedTooDeepError(`elements nested more than ${maxDepth} deep`);
        page.depthSum += depth;
        page.depthSquareSum += depth * depth;
        if (depth > page.maxDepth) page.maxDepth = depth;
        if (name === 'main' || attrs.role === 'main') page.mains.push(element);
        else if (name === 'body') body ??= element;
        else if (name === 'title' && !titleDone) titleParts = [];
        else if (name === 'base' && page.baseHref === undefined && attrs.href !== undefined) page.baseHref = attrs.href;
      },
      onclosetag() {
        const element = opened.pop();
        if (element && !closedEarly.delete(element)) close(element);
      },
      ontext(text) {
        if (titleParts) titleParts.push(text);
        const last = current.children[current.children.length - 1];
        if (last && isText(last)) last.text += text;
        else current.children.push({ name: '#text', text });
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(html);
  parser.end();
  page.body = body ?? root;
  return page;
}

export const hasAttribute = (element: HtmlElement, name: string) => element.attrs[name] !== undefined;

export function classesOf(element: HtmlElement): string[] {
  const value = element.attrs.class;
  return value ? value.split(/\s+/).filter(Boolean) : [];
}

/** Whether the element's class list holds one of `names` (asked of every element: no allocation). */
export function hasClass(element: HtmlElement, names: readonly string[]): boolean {
  const value = element.attrs.class;
  if (!value) return false;
  for (const name of names) {
    for (let at = value.indexOf(name); at !== -1; at = value.indexOf(name, at + 1)) {
      const end = at + name.length;
      if ((at === 0 || isClassSeparator(value.charCodeAt(at - 1))) && (end === value.length || isClassSeparator(value.charCodeAt(end)))) return true;
    }
  }
  return false;
}

const isClassSeparator = (code: number) => code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d;

export const elementChildren = (element: HtmlElement): HtmlElement[] => element.children.filter((child): child is HtmlElement => !isText(child));

/**
 * The text under `element` in document order, skipping the elements `skip`
 * says no to; without recursion (the parser allows a thousand levels). With
 * `lineBreaks`, each <br> is a newline (see preText); otherwise nothing.
 */
export function textOf(element: HtmlElement, skip?: (element: HtmlElement) => boolean, lineBreaks = false): string {
  const only = element.children.length === 1 ? element.children[0]! : undefined;
  if (only && isText(only)) return only.text;
  const parts: string[] = [];
  const stack: HtmlNode[] = [element];
  while (stack.length) {
    const node = stack.pop()!;
    if (isText(node)) {
      parts.push(node.text);
      continue;
    }
    if (node !== element && skip?.(node)) continue;
    if (lineBreaks && node.name === 'br') parts.push('\n');
    for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]!);
  }
  return parts.join('');
}

/** Line numbers a highlighter writes inside the code (Pygments `linenos`, Rouge `lineno`, Chroma `ln`/`lnt`): never part of it. */
const LINE_NUMBER_CLASSES = ['linenos', 'lineno', 'ln', 'lnt'];

/**
 * Preformatted text as a browser shows it, each <br> a line break (some
 * highlighters write a <pre>'s lines that way), without the line numbers a
 * highlighter put inside it.
 */
export function preText(element: HtmlElement, skip?: (element: HtmlElement) => boolean): string {
  return textOf(element, (child) => skip?.(child) === true || hasClass(child, LINE_NUMBER_CLASSES), true);
}

/** About how much text a reader sees under `element`: its characters, each run of whitespace counted as one. */
export function visibleTextLength(element: HtmlElement, skip?: (element: HtmlElement) => boolean): number {
  let length = 0;
  let space = true;
  const stack: HtmlNode[] = [element];
  while (stack.length) {
    const node = stack.pop()!;
    if (isText(node)) {
      const text = node.text;
      for (let i = 0; i < text.length; i++) {
        const code = text.charCodeAt(i);
        const isSpace = code <= 0x20 || code === 0xa0;
        if (!isSpace || !space) length++;
        space = isSpace;
      }
      continue;
    }
    if (node !== element && skip?.(node)) continue;
    for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]!);
  }
  // Neither a comparison nor a subtraction only some pages reach: V8 had no feedback for them after the
  // warm-up's pages and deoptimised the whole walk on the first page that ended in a space.
  return length - (space && length ? 1 : 0);
}
