/**
 * JSON and JSONC config files (VS Code, OpenCode, Gemini and Claude accept
 * comments or trailing commas in some of them), parsed with Microsoft's
 * jsonc-parser. Only the bytes of our entry change: an existing entry's
 * value is replaced where it stands, a new one is inserted after the last
 * member of its object (jsonc-parser's own `modify` re-formats the line it
 * inserts next to, which re-flowed a neighbour written on one line). The
 * result is parsed again and refused unless it holds our entry and
 * everything else unchanged.
 */
import { findNodeAtLocation, parse, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';
import { ConfigFileError, sameEntry, valueAt, withoutEntry, type MergedConfig } from './edit-result.js';

const PARSE_OPTIONS = { allowTrailingComma: true, disallowComments: false };

function indentUnit(text: string): string {
  const line = /^([ \t]+)\S/m.exec(text)?.[1];
  if (line?.startsWith('\t')) return '\t';
  return ' '.repeat(line ? line.length : 2);
}

export function parseJsonConfig(text: string, file: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  const errors: ParseError[] = [];
  const value: unknown = parse(text, errors, PARSE_OPTIONS);
  if (errors.length > 0) {
    const first = errors[0]!;
    const line = text.slice(0, first.offset).split('\n').length;
    throw new ConfigFileError(`${file} is not valid JSON (${printParseErrorCode(first.error)} on line ${line}); it was left unchanged.`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigFileError(`${file} does not hold a JSON object; it was left unchanged.`);
  return value as Record<string, unknown>;
}

/** The whitespace a line starts with, for the line holding `offset`. */
function indentAt(text: string, offset: number): string {
  const start = text.lastIndexOf('\n', offset - 1) + 1;
  return /^[ \t]*/.exec(text.slice(start))![0];
}

/** `value` as JSON whose lines after the first start with `indent` (it is written at a position on such a line). */
function jsonAt(value: unknown, unit: string, indent: string, eol: string): string {
  return JSON.stringify(value, null, unit).split('\n').join(`${eol}${indent}`);
}

/** Offset after whitespace and comments from `offset`. */
function skipTrivia(text: string, offset: number): number {
  let at = offset;
  for (;;) {
    while (at < text.length && /\s/.test(text[at]!)) at++;
    if (text.startsWith('//', at)) {
      const end = text.indexOf('\n', at);
      at = end < 0 ? text.length : end;
    } else if (text.startsWith('/*', at)) {
      const end = text.indexOf('*/', at + 2);
      at = end < 0 ? text.length : end + 2;
    } else return at;
  }
}

/** Inserts `"key": value` as the last member of the object `holder`, leaving every other byte in place. */
function insertMember(text: string, holder: Node, key: string, value: unknown, unit: string, eol: string): string {
  const members = holder.children ?? [];
  const last = members.at(-1);
  if (!last) {
    const indent = indentAt(text, holder.offset);
    const member = `${JSON.stringify(key)}: ${jsonAt(value, unit, indent + unit, eol)}`;
    const open = holder.offset + 1;
    const close = holder.offset + holder.length - 1;
    // `{}` or `{ }`: written out; an object holding only comments keeps them, ours goes first.
    if (text.slice(open, close).trim() === '') return `${text.slice(0, open)}${eol}${indent}${unit}${member}${eol}${indent}${text.slice(close)}`;
    return `${text.slice(0, open)}${eol}${indent}${unit}${member},${text.slice(open)}`;
  }
  const lastEnd = last.offset + last.length;
  const onOneLine = !text.slice(holder.offset, last.offset).includes('\n');
  if (onOneLine) {
    const member = `${JSON.stringify(key)}: ${JSON.stringify(value)}`;
    return `${text.slice(0, lastEnd)}, ${member}${text.slice(lastEnd)}`;
  }
  const indent = indentAt(text, last.offset);
  const member = `${JSON.stringify(key)}: ${jsonAt(value, unit, indent, eol)}`;
  const next = skipTrivia(text, lastEnd);
  // A trailing comma after the last member stays, and ours gets one too.
  const trailingComma = text[next] === ',';
  const after = trailingComma ? next + 1 : lastEnd;
  // A comment on the rest of that line stays with the member it describes.
  const lineEnd = text.indexOf('\n', after);
  const restOfLine = text.slice(after, lineEnd < 0 ? text.length : lineEnd).replace(/\r$/, '');
  const at = /^\s*(\/\/.*|\/\*.*\*\/\s*)?$/.test(restOfLine) ? after + restOfLine.length : after;
  return `${text.slice(0, lastEnd)}${trailingComma ? '' : ','}${text.slice(lastEnd, at)}${eol}${indent}${member}${trailingComma ? ',' : ''}${text.slice(at)}`;
}

function nest(path: string[], value: unknown): unknown {
  return path.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value);
}

export function mergeJsonEntry(withBom: string, file: string, container: string[], name: string, entry: unknown): MergedConfig {
  // A byte order mark (Windows editors write one; VS Code and Node's readers skip it) stays, and is not JSON.
  const bom = withBom.startsWith('\uFEFF') ? '\uFEFF' : '';
  const text = withBom.slice(bom.length);
  const path = [...container, name];
  const root = parseJsonConfig(text, file);
  const existing = valueAt(root, path);
  if (existing !== undefined && sameEntry(existing, entry)) return { existing, text: withBom };

  const source = text.trim() === '' ? '{}\n' : text;
  const tree = parseTree(source, [], PARSE_OPTIONS)!;
  const unit = indentUnit(text);
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  let merged: string;
  const current = findNodeAtLocation(tree, path);
  if (current) {
    merged = `${source.slice(0, current.offset)}${jsonAt(entry, unit, indentAt(source, current.offset), eol)}${source.slice(current.offset + current.length)}`;
  } else {
    let depth = path.length - 1;
    while (depth > 0 && !findNodeAtLocation(tree, path.slice(0, depth))) depth--;
    const holder = depth === 0 ? tree : findNodeAtLocation(tree, path.slice(0, depth))!;
    if (holder.type !== 'object') {
      throw new ConfigFileError(`${file} has "${path.slice(0, depth).join('.')}" as ${holder.type === 'null' ? 'null' : `a ${holder.type}`}, not an object of servers; it was left unchanged. Fix that key (an object: {}) and run the command again.`);
    }
    merged = insertMember(source, holder, path[depth]!, nest(path.slice(depth + 1), entry), unit, eol);
  }

  const after = parseJsonConfig(merged, file);
  if (!sameEntry(valueAt(after, path), entry) || !sameEntry(withoutEntry(after, path), withoutEntry(root, path))) {
    throw new ConfigFileError(`${file} could not be edited without changing more than the "${name}" entry; it was left unchanged. Add the entry by hand (see mcp.json.example).`);
  }
  return { existing, text: bom + merged };
}
