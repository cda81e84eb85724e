/**
 * Codex's config.toml. No maintained TOML library for Node keeps comments
 * when it writes a document back, so this is a minimal text edit: the tables
 * of our entry (`[mcp_servers.<name>]` and its sub-tables) are replaced by
 * ones smol-toml writes, every other line stays byte for byte. smol-toml
 * parses the file before and after, and the edit is refused unless the
 * result holds our entry and everything else unchanged.
 */
import { parse, stringify, TomlError } from 'smol-toml';
import { ConfigFileError, sameEntry, valueAt, withoutEntry, type MergedConfig } from './edit-result.js';

const HEADER = /^\s*\[\[?([^\]]*)\]\]?\s*(?:#.*)?$/;

function parseToml(text: string, file: string): Record<string, unknown> {
  try {
    // Plain objects (smol-toml makes null-prototype ones), so they compare equal to our entry.
    return JSON.parse(JSON.stringify(parse(text))) as Record<string, unknown>;
  } catch (error) {
    const line = error instanceof TomlError ? ` on line ${error.line}` : '';
    throw new ConfigFileError(`${file} is not valid TOML${line}; it was left unchanged.`);
  }
}

/** The key path a table header names, read by the TOML parser itself (quoted keys and all). */
function headerPath(inner: string): string[] {
  const path: string[] = [];
  try {
    let node: unknown = parse(`[${inner}]\n`);
    while (node && typeof node === 'object' && !Array.isArray(node) && Object.keys(node).length === 1) {
      const key = Object.keys(node)[0]!;
      path.push(key);
      node = (node as Record<string, unknown>)[key];
    }
  } catch {
    return [];
  }
  return path;
}

export function mergeTomlEntry(text: string, file: string, container: string[], name: string, entry: Record<string, unknown>): MergedConfig {
  const path = [...container, name];
  const before = parseToml(text, file);
  const existing = valueAt(before, path);
  if (existing !== undefined && sameEntry(existing, entry)) return { existing, text };

  const lines = text.split(/\r?\n/);
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const kept: string[] = [];
  let insertAt = -1;
  let inOurs = false;
  let removed: string[] = [];
  for (const line of lines) {
    const header = HEADER.exec(line);
    if (header) {
      const named = headerPath(header[1]!);
      const ours = named.length >= path.length && path.every((key, i) => named[i] === key);
      // Comments right above the next table belong to it, not to the table we remove.
      if (inOurs && !ours) kept.push(...leadingComments(removed));
      inOurs = ours;
      removed = [];
      if (inOurs && insertAt < 0) insertAt = kept.length;
    }
    if (inOurs) removed.push(line);
    else kept.push(line);
  }
  const block = stringify(nest(path, entry)).trimEnd().split('\n');
  if (insertAt < 0) {
    while (kept.length > 0 && kept[kept.length - 1] === '') kept.pop();
    if (kept.length > 0) kept.push('');
    kept.push(...block, '');
  } else {
    kept.splice(insertAt, 0, ...block, '');
  }
  const merged = kept.join(eol);

  const cannotEdit = new ConfigFileError(
    `${file} defines [${path.join('.')}] in a form this command does not edit (inline or dotted keys, or a header line inside a multi-line string); it was left unchanged. Edit the entry by hand (see mcp.json.example).`,
  );
  let after: Record<string, unknown>;
  try {
    after = parseToml(merged, file);
  } catch {
    // The user's file parsed; our line edit is what broke it: say so, not that their file is invalid.
    throw cannotEdit;
  }
  if (!sameEntry(valueAt(after, path), entry) || !sameEntry(withoutEntry(after, path), withoutEntry(before, path))) throw cannotEdit;
  return { existing, text: merged };
}

/** The comment lines (with blank lines between them) at the end of `lines`. */
function leadingComments(lines: string[]): string[] {
  let start = lines.length;
  while (start > 0 && /^\s*(#.*)?$/.test(lines[start - 1]!)) start--;
  const tail = lines.slice(start);
  while (tail.length > 0 && tail[0]!.trim() === '') tail.shift();
  return tail;
}

function nest(path: string[], value: Record<string, unknown>): Record<string, unknown> {
  return path.reduceRight<Record<string, unknown>>((inner, key) => ({ [key]: inner }), value);
}
