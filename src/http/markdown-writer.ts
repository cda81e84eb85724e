/**
 * Where Markdown is assembled: a list of blocks (separated by blank lines
 * when joined) and the current run of inline text. Text is collapsed as a
 * browser shows it (runs of whitespace are one space, none at the start or
 * end of a block) and escaped where Markdown would read it as syntax. Inline
 * markup (emphasis, links) is opened and closed around its content: empty,
 * it disappears; whitespace at its edges moves outside it; split by a block
 * (a <div> inside an <em>), it is dropped rather than left unbalanced.
 */

export interface Block {
  text: string;
  /** A list: under a list item it follows the item's text on the next line (a tight nested list). */
  list: boolean;
}

export interface Mark {
  index: number;
  content: number;
  broken: boolean;
}

const COLLAPSIBLE = /[ \t\n\r\f]+/g;
/** Whitespace other than single spaces. */
const COLLAPSIBLE_TEST = /[\t\n\r\f]| {2}/;
/** Backslash, emphasis, code, link brackets, and a `<` that would open an HTML tag or an autolink. */
const INLINE_SYNTAX = /[\\*_`[\]]|<(?=[A-Za-z/!?])/g;
const HAS_INLINE_SYNTAX = /[\\*_`[\]<]/;
const WORD_CHAR = /[\p{L}\p{N}]/u;
function isWordChar(char: string | undefined): boolean {
  if (char === undefined) return false;
  const code = char.charCodeAt(0);
  if (code < 0x80) return (code >= 0x30 && code <= 0x39) || ((code | 0x20) >= 0x61 && (code | 0x20) <= 0x7a);
  return WORD_CHAR.test(char);
}
/** What Markdown reads as a block marker at the start of a line: list items, headings, quotes, breaks, fences, setext lines. */
const LINE_START_SYNTAX = /^(?:[-+](?= |$)|-(?=[- ]*$)|#{1,6}(?= |$)|>|=+(?= *$)|~~~)|^(\d{1,9})([.)])(?= |$)/;

/** Inline text escaped: `_` between letters or digits stays as written (CommonMark reads no emphasis there). */
export function escapeInline(text: string): string {
  if (!HAS_INLINE_SYNTAX.test(text)) return text;
  return text.replace(INLINE_SYNTAX, (char, at: number) =>
    char === '_' && isWordChar(text[at - 1]) && isWordChar(text[at + 1]) ? char : `\\${char}`,
  );
}

function escapeLineStart(text: string): string {
  return text.replace(LINE_START_SYNTAX, (whole, digits: string | undefined, delimiter: string | undefined) =>
    digits !== undefined ? `${digits}\\${delimiter}` : `\\${whole}`,
  );
}

export class MarkdownWriter {
  readonly blocks: Block[] = [];
  private parts: string[] = [];
  /** Pieces of content written so far (never reset: marks compare against it). */
  private content = 0;
  private lineStart = true;
  /** The run is empty or ends with whitespace. */
  private space = true;
  /** Index of the first of the openers that end the run with nothing after them, or -1. */
  private openersFrom = -1;
  private readonly open: Mark[] = [];
  /** Marks before this index in `open` are broken already (a stack: a block breaks every mark open at the time). */
  private unbroken = 0;
  private readonly escapesLineStart: boolean;

  /** `escapeLineStart: false` where a line never starts with the text (a heading's, a table cell's). */
  constructor(options: { escapeLineStart?: boolean } = {}) {
    this.escapesLineStart = options.escapeLineStart ?? true;
  }

  /** Text as found in the page: whitespace collapsed, Markdown syntax escaped. */
  text(raw: string): void {
    let text = COLLAPSIBLE_TEST.test(raw) ? raw.replace(COLLAPSIBLE, ' ') : raw;
    if (text.charCodeAt(0) === 0x20) {
      if (!this.space && this.openersFrom !== -1) {
        // `a<em> b</em>` is `a _b_`: the space goes before the opener.
        this.parts[this.openersFrom] = ` ${this.parts[this.openersFrom]!}`;
        this.space = true;
      }
      if (this.space) text = text.slice(1);
    }
    if (text === '') return;
    text = escapeInline(text);
    if (this.lineStart && this.escapesLineStart) text = escapeLineStart(text);
    this.push(text);
  }

  /** Markup or code, written as given (a separating space before it is kept). */
  markup(markdown: string): void {
    if (markdown !== '') this.push(markdown);
  }

  private push(piece: string): void {
    this.parts.push(piece);
    this.content++;
    this.lineStart = false;
    this.openersFrom = -1;
    this.space = piece.charCodeAt(piece.length - 1) === 0x20;
  }

  /** A line break inside the run (<br>); none at its start. */
  lineBreak(): void {
    if (this.lineStart) return;
    this.trimRunEnd();
    this.parts.push('\n');
    this.lineStart = true;
    this.space = true;
    this.openersFrom = -1;
  }

  /** Opens inline markup (`**`, `[`) around what is written until `close`. */
  openInline(opener: string): Mark {
    const mark: Mark = { index: this.parts.length, content: this.content, broken: false };
    if (this.openersFrom === -1) this.openersFrom = this.parts.length;
    this.parts.push(opener);
    this.open.push(mark);
    return mark;
  }

  /** Closes markup opened by `openInline`; false (and nothing written) when it held nothing or a block split it. */
  closeInline(mark: Mark, closer: string): boolean {
    this.open.splice(this.open.lastIndexOf(mark), 1);
    this.unbroken = Math.min(this.unbroken, this.open.length);
    if (mark.broken) return false;
    if (this.content === mark.content) {
      this.parts[mark.index] = this.parts[mark.index]!.charCodeAt(0) === 0x20 ? ' ' : '';
      return false;
    }
    const last = this.parts.length - 1;
    if (this.space && this.parts[last]!.endsWith(' ')) {
      this.parts[last] = this.parts[last]!.slice(0, -1);
      this.push(`${closer} `);
    } else {
      this.push(closer);
    }
    return true;
  }

  /** Ends the current run: what it holds becomes a paragraph. */
  endRun(): void {
    for (let i = this.unbroken; i < this.open.length; i++) {
      const mark = this.open[i]!;
      mark.broken = true;
      this.parts[mark.index] = this.parts[mark.index]!.charCodeAt(0) === 0x20 ? ' ' : '';
    }
    this.unbroken = this.open.length;
    this.trimRunEnd();
    let text = this.parts.join('');
    let start = 0;
    while (start < text.length && (text.charCodeAt(start) === 0x20 || text.charCodeAt(start) === 0x0a)) start++;
    if (start > 0) text = text.slice(start);
    if (text !== '') this.blocks.push({ text, list: false });
    this.parts = [];
    this.lineStart = true;
    this.space = true;
    this.openersFrom = -1;
  }

  private trimRunEnd(): void {
    for (let i = this.parts.length - 1; i >= 0; i--) {
      const part = this.parts[i]!;
      let end = part.length;
      while (end > 0 && (part.charCodeAt(end - 1) === 0x20 || part.charCodeAt(end - 1) === 0x0a)) end--;
      if (end > 0) {
        if (end < part.length) this.parts[i] = part.slice(0, end);
        return;
      }
      this.parts[i] = '';
    }
  }

  /** A finished block (a heading, a fenced block, a list), after the current run. */
  block(text: string, list = false): void {
    this.endRun();
    // Every block has the same two fields: the code reading them stays monomorphic whatever mix a page has.
    if (text !== '') this.blocks.push({ text, list });
  }

  /** Everything written, as one string of blocks separated by blank lines. */
  toString(): string {
    this.endRun();
    return joinBlocks(this.blocks, '\n\n');
  }

  /** Everything written, on one line (a heading, a table cell's part). */
  toInline(): string {
    this.endRun();
    return joinBlocks(this.blocks, ' ').replace(/\n/g, ' ');
  }
}

export function joinBlocks(blocks: readonly Block[], separator: string): string {
  let text = '';
  for (let i = 0; i < blocks.length; i++) text = i === 0 ? blocks[i]!.text : `${text}${separator}${blocks[i]!.text}`;
  return text;
}
