/**
 * The values and comments of a config file's text, each with its span, so
 * that what install shows can mask them in place: the lines stay where they
 * are, only a masked value's bytes change (see mask.ts).
 */
import { visit } from 'jsonc-parser';
import { tomlLiterals } from './toml-literals.js';

export type KeyPath = ReadonlyArray<string | number>;

/** One value as written: a string, number, boolean or null (TOML dates come as their text). */
export interface Literal {
  start: number;
  end: number;
  value: unknown;
  /** Keys and array indexes from the document's root to this value. */
  path: KeyPath;
  /** The string before it in the same array (a flag such as `--token` before its value). */
  previous?: string;
}

export interface Span {
  start: number;
  end: number;
}

export interface ConfigLiterals {
  literals: Literal[];
  comments: Span[];
}

export function configLiterals(text: string, format: 'json' | 'toml'): ConfigLiterals {
  return format === 'json' ? jsonLiterals(text) : tomlLiterals(text);
}

/** The open arrays and objects while visiting: an array remembers its last string element. */
type Open = { previous?: string } | 'object';

function jsonLiterals(text: string): ConfigLiterals {
  const literals: Literal[] = [];
  const comments: Span[] = [];
  const open: Open[] = [];
  const enter = (kind: Open) => {
    const parent = open.at(-1);
    if (parent && parent !== 'object') parent.previous = undefined;
    open.push(kind);
  };
  visit(
    text,
    {
      onObjectBegin: () => enter('object'),
      onArrayBegin: () => enter({}),
      onObjectEnd: () => void open.pop(),
      onArrayEnd: () => void open.pop(),
      onLiteralValue: (value: unknown, offset, length, _line, _character, path) => {
        const parent = open.at(-1);
        const array = parent && parent !== 'object' ? parent : undefined;
        literals.push({ start: offset, end: offset + length, value, path: path(), previous: array?.previous });
        if (array) array.previous = typeof value === 'string' ? value : undefined;
      },
      onComment: (offset, length) => void comments.push({ start: offset, end: offset + length }),
    },
    { allowTrailingComma: true, disallowComments: false },
  );
  return { literals, comments };
}
