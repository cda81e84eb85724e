/**
 * What documentation pages need beyond plain Markdown: preformatted text as
 * fenced code with its language (also a Sphinx <pre> without <code>), inline
 * code with its link outside it, API signatures (rustdoc, Sphinx, Javadoc) as
 * code on their own line, and definition lists as lists: each term an item
 * (a signature as code, else bold), its definitions indented under it.
 */
import { classesOf, elementChildren, hasClass, isText, preText, textOf, type HtmlElement } from './html-tree.js';
import { blocksOf, indentRest, inlineOf, linkTarget, type RenderContext } from './markdown.js';
import type { MarkdownWriter } from './markdown-writer.js';

const SIGNATURE_CLASSES = ['sig', 'code-header', 'member-signature'];
/** Permalink anchors next to headings and signatures (Sphinx ¶, rustdoc §, Node #). */
export const PERMALINK_CLASSES = ['headerlink', 'anchor', 'mark'];
/** Classes that name no language: Sphinx's configured default, plain text. */
const NO_LANGUAGE = new Set(['default', 'none', 'text', 'plain', 'plaintext', 'nohighlight']);
/** Language names a <pre> may carry as a bare class (rustdoc writes `class="rust"`). */
const BARE_LANGUAGES = new Set([
  'rust', 'python', 'js', 'javascript', 'ts', 'typescript', 'java', 'c', 'cpp', 'go', 'sh', 'bash', 'shell', 'console', 'json', 'html', 'css', 'sql', 'yaml', 'toml', 'xml',
]);
const LANGUAGE_CLASS = /^(?:language|lang|highlight(?:-source|-text)?)-([\w+#.-]+)$/;

export function isSignature(element: HtmlElement): boolean {
  return hasClass(element, SIGNATURE_CLASSES);
}

function languageFromClasses(classes: string[]): string | undefined {
  for (const name of classes) {
    const match = LANGUAGE_CLASS.exec(name);
    if (match) return NO_LANGUAGE.has(match[1]!.toLowerCase()) ? '' : match[1];
  }
  return classes.find((name) => BARE_LANGUAGES.has(name));
}

/** The language of a code block: from the <code>, the <pre>, or the wrappers around it (Sphinx's `highlight-python3`). */
export function languageOf(pre: HtmlElement, code?: HtmlElement): string {
  for (const element of [code, pre, pre.parent, pre.parent?.parent]) {
    const language = element ? languageFromClasses(classesOf(element)) : undefined;
    if (language !== undefined) return language;
  }
  return '';
}

function longestRun(text: string, char: number): number {
  let longest = 0;
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    run = text.charCodeAt(i) === char ? run + 1 : 0;
    if (run > longest) longest = run;
  }
  return longest;
}

/** Inline code that may itself hold backticks. */
export function codeSpan(text: string): string {
  if (!text) return '';
  const ticks = '`'.repeat(longestRun(text, 0x60) + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${ticks}${pad}${text}${pad}${ticks}`;
}

/** Preformatted text as the browser shows it: without the newline right after <pre> (HTML drops it) or the trailing ones. */
function codeText(text: string): string {
  let start = 0;
  if (text.startsWith('\r\n')) start = 2;
  else if (text.startsWith('\n')) start = 1;
  let end = text.length;
  while (end > start && (text.charCodeAt(end - 1) === 0x0a || text.charCodeAt(end - 1) === 0x0d)) end--;
  return text.slice(start, end);
}

function fenced(code: string, language: string): string {
  const fence = '`'.repeat(Math.max(3, longestRun(code, 0x60) + 1));
  return `${fence}${language}\n${code}\n${fence}`;
}

/** Tables highlighters lay code out in, line numbers in the first cell and the code in the last (Pygments, Rouge, Chroma). */
const LINE_NUMBER_TABLES = ['highlighttable', 'rouge-table', 'lntable'];

export function isLineNumberTable(table: HtmlElement): boolean {
  return hasClass(table, LINE_NUMBER_TABLES);
}

/** The code of a line-number table (its last <pre>), fenced; the language from the table's wrappers when the code names none. */
export function renderLineNumberTable(table: HtmlElement, writer: MarkdownWriter, context: RenderContext, language = ''): void {
  const pres: HtmlElement[] = [];
  const stack = [table];
  while (stack.length) {
    const element = stack.pop()!;
    if (element.name === 'pre') pres.push(element);
    else for (const child of elementChildren(element)) stack.push(child);
  }
  // Popped last child first: the code cell's <pre> was found first.
  const code = pres[0];
  if (code) renderPre(code, writer, context, language || languageOf(table));
}

function lineNumberTableIn(pre: HtmlElement): HtmlElement | undefined {
  const stack = elementChildren(pre);
  while (stack.length) {
    const element = stack.pop()!;
    if (element.name === 'table' && isLineNumberTable(element)) return element;
    stack.push(...elementChildren(element));
  }
  return undefined;
}

export function renderPre(pre: HtmlElement, writer: MarkdownWriter, context: RenderContext, fallbackLanguage = ''): void {
  const codes = elementChildren(pre).filter((child) => child.name === 'code');
  // Rouge puts its line-number table inside <pre><code class="language-…">: the code is the table's.
  const table = lineNumberTableIn(pre);
  if (table) return renderLineNumberTable(table, writer, context, languageOf(pre, codes[0]) || fallbackLanguage);
  // Node's docs put the ESM and CommonJS variants side by side in one <pre> (and nothing else): one block each.
  const onlyCodes = codes.length > 1 && pre.children.every((child) => (!isText(child) && child.name === 'code') || (isText(child) ? child.text : textOf(child, context.skip)).trim() === '');
  const blocks = onlyCodes
    ? codes.map((code) => ({ text: codeText(preText(code, context.skip)), language: languageOf(pre, code) || fallbackLanguage }))
    : [{ text: codeText(preText(pre, context.skip)), language: languageOf(pre, codes[0]) || fallbackLanguage }];
  for (const block of blocks) {
    if (block.text.trim() === '') continue;
    // In a table cell each line is code of its own, the lines joined by <br>.
    writer.block(context.inTable ? block.text.split('\n').map((line) => codeSpan(line.trimEnd())).filter(Boolean).join('\n') : fenced(block.text, block.language));
  }
}

/** Javadoc and Sphinx link names inside <code>: `[name](url)` inside backticks shows neither, so the link goes outside. */
function linkedCode(code: HtmlElement, text: string, context: RenderContext): string | undefined {
  if (code.children.length === 1 && isText(code.children[0]!)) return undefined;
  const links: HtmlElement[] = [];
  const stack = elementChildren(code);
  while (stack.length && links.length < 2) {
    const element = stack.pop()!;
    if (element.name === 'a' && element.attrs.href) links.push(element);
    else stack.push(...elementChildren(element));
  }
  if (links.length !== 1) return undefined;
  const href = links[0]!.attrs.href!.trim();
  if (/\s/.test(href) || /^javascript:/i.test(href) || textOf(links[0]!).replace(/\s+/g, ' ').trim() !== text) return undefined;
  return `[${codeSpan(text)}](${linkTarget(href, context)})`;
}

export function renderInlineCode(code: HtmlElement, writer: MarkdownWriter, context: RenderContext): void {
  const raw = textOf(code, context.skip).replace(/\s+/g, ' ');
  const text = raw.trim();
  if (raw.startsWith(' ')) writer.text(' ');
  if (text !== '') writer.markup(linkedCode(code, text, context) ?? codeSpan(text));
  if (text !== '' && raw.endsWith(' ')) writer.text(' ');
}

/** Text of a signature without its permalink anchors and rustdoc's "since · source" column, on one line. */
function signatureText(element: HtmlElement, context: RenderContext): string {
  const skip = (child: HtmlElement) => context.skip(child) || (child.name === 'a' && hasClass(child, PERMALINK_CLASSES)) || hasClass(child, ['rightside']);
  return textOf(element, skip).replace(/\s+/g, ' ').trim();
}

export function renderSignature(element: HtmlElement, writer: MarkdownWriter, context: RenderContext): void {
  const code = codeSpan(signatureText(element, context));
  const level = /^h([1-6])$/.exec(element.name)?.[1];
  if (code) writer.block(level ? `${'#'.repeat(Number(level))} ${code}` : code);
}

export function renderTerm(term: HtmlElement, writer: MarkdownWriter, context: RenderContext): void {
  if (isSignature(term)) {
    const code = codeSpan(signatureText(term, context));
    if (code) writer.block(`- ${code}`);
    return;
  }
  const text = inlineOf(term, context);
  if (text) writer.block(`- ${/^\*\*.*\*\*$/.test(text) ? text : `**${text}**`}`);
}

export function renderDefinition(definition: HtmlElement, writer: MarkdownWriter, context: RenderContext): void {
  const blocks = blocksOf(definition, context);
  if (!blocks.length) return;
  let text = '';
  for (let i = 0; i < blocks.length; i++) text = i === 0 ? blocks[i]!.text : `${text}\n\n${blocks[i]!.text}`;
  writer.block(`  ${indentRest(text, '  ', context)}`);
}
