import { isDeepStrictEqual } from 'node:util';

/** What merging our entry into a config file's text gives. */
export interface MergedConfig {
  /** The entry of that name already in the file, if any. */
  existing?: unknown;
  /** The whole new text (equal to the old one when the entry is already there). */
  text: string;
}

export class ConfigFileError extends Error {
  override readonly name = 'ConfigFileError';
}

export function sameEntry(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(a, b);
}

/** Follows `path` through nested objects; undefined when a step is missing or not an object. */
export function valueAt(root: unknown, path: string[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}
