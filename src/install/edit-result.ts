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

/** A copy of `root` without the value at `path`; a container that only held it (or that an edit created) compares as absent. */
export function withoutEntry(root: Record<string, unknown>, path: string[]): unknown {
  const copy = structuredClone(root) as Record<string, unknown>;
  const parent = valueAt(copy, path.slice(0, -1)) as Record<string, unknown> | undefined;
  if (parent && typeof parent === 'object') delete parent[path[path.length - 1]!];
  // A container that only held our entry (or that we created) compares as absent.
  for (let depth = path.length - 1; depth > 0; depth--) {
    const node = valueAt(copy, path.slice(0, depth));
    const holder = valueAt(copy, path.slice(0, depth - 1)) as Record<string, unknown>;
    if (node && typeof node === 'object' && Object.keys(node).length === 0) delete holder[path[depth - 1]!];
  }
  return copy;
}
