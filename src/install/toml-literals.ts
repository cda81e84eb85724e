/**
 * The values and comments of a TOML text with their spans and key paths.
 * smol-toml gives values without positions, so this is a small scanner of
 * its own: tables, dotted keys, inline tables, arrays, the four string forms
 * and comments. It reads only text smol-toml has parsed already; anything it
 * does not expect throws (mask.ts then masks every line).
 */
import type { ConfigLiterals, KeyPath, Literal, Span } from './literals.js';

const BARE_KEY = /[A-Za-z0-9_-]+/y;
/** A number, boolean or date: up to the next separator. */
const BARE_VALUE = /[^\s,\]}#]+/y;

export class TomlScanError extends Error {
  override readonly name = 'TomlScanError';
}

export function tomlLiterals(text: string): ConfigLiterals {
  const scanner = new TomlScanner(text);
  scanner.document();
  return { literals: scanner.literals, comments: scanner.comments };
}

class TomlScanner {
  readonly literals: Literal[] = [];
  readonly comments: Span[] = [];
  private at = 0;
  /** How many [[tables]] of each name so far: the index of the next one. */
  private readonly arrayTables = new Map<string, number>();

  constructor(private readonly text: string) {}

  document(): void {
    let table: KeyPath = [];
    for (;;) {
      this.blank(true);
      if (this.at >= this.text.length) return;
      if (this.text[this.at] === '[') table = this.header();
      else this.keyValue(table, undefined);
      this.blank(false);
      if (this.at < this.text.length && this.text[this.at] !== '\n' && !this.text.startsWith('\r\n', this.at)) this.fail('the end of the line');
    }
  }

  private fail(expected: string): never {
    throw new TomlScanError(`expected ${expected} at offset ${this.at}`);
  }

  /** Spaces and comments; newlines too when `lines`. */
  private blank(lines: boolean): void {
    for (;;) {
      const c = this.text[this.at];
      if (c === ' ' || c === '\t' || (lines && (c === '\n' || c === '\r'))) this.at++;
      else if (c === '#') {
        const end = this.text.indexOf('\n', this.at);
        const stop = end < 0 ? this.text.length : this.text[end - 1] === '\r' ? end - 1 : end;
        this.comments.push({ start: this.at, end: stop });
        this.at = stop;
      } else return;
    }
  }

  private expect(token: string): void {
    if (!this.text.startsWith(token, this.at)) this.fail(`"${token}"`);
    this.at += token.length;
  }

  private header(): KeyPath {
    const array = this.text.startsWith('[[', this.at);
    this.at += array ? 2 : 1;
    const path = this.tablePath(this.key());
    this.expect(array ? ']]' : ']');
    if (!array) return path;
    const name = JSON.stringify(path);
    const index = this.arrayTables.get(name) ?? 0;
    this.arrayTables.set(name, index + 1);
    return [...path, index];
  }

  /** A header's keys as a path: a key naming an array of tables ([[x]]) means its last table so far. */
  private tablePath(keys: string[]): KeyPath {
    const path: Array<string | number> = [];
    keys.forEach((key, i) => {
      path.push(key);
      const count = this.arrayTables.get(JSON.stringify(path));
      if (count !== undefined && i < keys.length - 1) path.push(count - 1);
    });
    return path;
  }

  private key(): string[] {
    const parts: string[] = [];
    for (;;) {
      this.blank(false);
      parts.push(this.keyPart());
      this.blank(false);
      if (this.text[this.at] !== '.') return parts;
      this.at++;
    }
  }

  private keyPart(): string {
    const c = this.text[this.at];
    if (c === '"' || c === "'") return this.string();
    BARE_KEY.lastIndex = this.at;
    const bare = BARE_KEY.exec(this.text);
    if (!bare) this.fail('a key');
    this.at += bare[0].length;
    return bare[0];
  }

  private keyValue(table: KeyPath, array: { previous?: string } | undefined): void {
    const keys = this.key();
    this.expect('=');
    this.value([...table, ...keys], array);
  }

  private value(path: KeyPath, array: { previous?: string } | undefined): void {
    this.blank(false);
    const start = this.at;
    const c = this.text[this.at];
    if (c === '[' || c === '{') {
      if (array) array.previous = undefined;
      if (c === '[') this.array(path);
      else this.inlineTable(path);
      return;
    }
    let value: unknown;
    if (c === '"' || c === "'") value = this.string();
    else {
      BARE_VALUE.lastIndex = this.at;
      const bare = BARE_VALUE.exec(this.text);
      if (!bare) this.fail('a value');
      this.at += bare[0].length;
      value = bareValue(bare[0]);
    }
    this.literals.push({ start, end: this.at, value, path, previous: array?.previous });
    if (array) array.previous = typeof value === 'string' ? value : undefined;
  }

  private array(path: KeyPath): void {
    this.at++;
    const inner: { previous?: string } = {};
    for (let index = 0; ; index++) {
      this.blank(true);
      if (this.text[this.at] === ']') break;
      this.value([...path, index], inner);
      this.blank(true);
      if (this.text[this.at] === ',') this.at++;
      else if (this.text[this.at] !== ']') this.fail('"," or "]"');
    }
    this.at++;
  }

  private inlineTable(path: KeyPath): void {
    this.at++;
    for (;;) {
      this.blank(false);
      if (this.text[this.at] === '}') break;
      this.keyValue(path, undefined);
      this.blank(false);
      if (this.text[this.at] === ',') this.at++;
      else if (this.text[this.at] !== '}') this.fail('"," or "}"');
    }
    this.at++;
  }

  /** One of the four string forms, decoded (closely enough to judge it; it is shown re-encoded). */
  private string(): string {
    const quote = this.text[this.at]!;
    const multi = this.text.startsWith(quote.repeat(3), this.at);
    const open = this.at + (multi ? 3 : 1);
    let end = open;
    if (quote === "'") {
      end = this.text.indexOf(multi ? "'''" : "'", open);
    } else {
      while (end < this.text.length && !this.text.startsWith(multi ? '"""' : '"', end)) end += this.text[end] === '\\' ? 2 : 1;
    }
    if (end < 0 || end >= this.text.length) this.fail('the end of a string');
    // Up to two quotes right before the closing three belong to the string.
    if (multi) for (let extra = 0; extra < 2 && this.text[end + 3] === quote; extra++) end++;
    this.at = end + (multi ? 3 : 1);
    const written = this.text.slice(open, end);
    // A newline right after the opening quotes is not part of the value.
    const raw = multi ? written.replace(/^\r?\n/, '') : written;
    return quote === "'" ? raw : unescape(raw);
  }
}

function bareValue(raw: string): unknown {
  if (raw === 'true' || raw === 'false') return raw === 'true';
  const number = Number(raw.replace(/_/g, ''));
  return Number.isFinite(number) ? number : raw;
}

const ESCAPES: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\' };

function unescape(raw: string): string {
  return raw.replace(/\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|([btnfr"\\])|[ \t]*\r?\n\s*)/g, (_all, u?: string, big?: string, simple?: string) => {
    if (u ?? big) return String.fromCodePoint(parseInt((u ?? big)!, 16));
    return simple ? ESCAPES[simple]! : '';
  });
}
