/**
 * JSON and JSONC config files (VS Code, OpenCode, Gemini and Claude accept
 * comments or trailing commas in some of them), edited with Microsoft's
 * jsonc-parser: only the bytes of our entry change, so other entries,
 * comments and formatting stay as they were.
 */
import { applyEdits, modify, parse, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { ConfigFileError, valueAt, type MergedConfig } from './edit-result.js';

function indentOf(text: string): { insertSpaces: boolean; tabSize: number } {
  const line = /^([ \t]+)\S/m.exec(text)?.[1];
  if (line?.startsWith('\t')) return { insertSpaces: false, tabSize: 1 };
  return { insertSpaces: true, tabSize: line ? line.length : 2 };
}

export function parseJsonConfig(text: string, file: string): unknown {
  if (text.trim() === '') return {};
  const errors: ParseError[] = [];
  const value = parse(text, errors, { allowTrailingComma: true, disallowComments: false });
  if (errors.length > 0) {
    const first = errors[0]!;
    const line = text.slice(0, first.offset).split('\n').length;
    throw new ConfigFileError(`${file} is not valid JSON (${printParseErrorCode(first.error)} on line ${line}); it was left unchanged.`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigFileError(`${file} does not hold a JSON object; it was left unchanged.`);
  return value;
}

export function mergeJsonEntry(text: string, file: string, container: string[], name: string, entry: unknown): MergedConfig {
  const root = parseJsonConfig(text, file);
  const existing = valueAt(root, [...container, name]);
  const source = text.trim() === '' ? '{}\n' : text;
  const edits = modify(source, [...container, name], entry, { formattingOptions: { ...indentOf(text), eol: text.includes('\r\n') ? '\r\n' : '\n' } });
  return { existing, text: applyEdits(source, edits) };
}
