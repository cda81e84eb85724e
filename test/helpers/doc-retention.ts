/**
 * Sentence retention of a page's Markdown against an independent reading of
 * the same page: test/helpers/doc_text.py extracts the main content's text
 * with Python's html.parser (no code shared with htmlparser2, linkedom,
 * Readability or our Markdown writer), and each of its sentences, and each line of its preformatted
 * blocks, must appear in the Markdown once both are reduced to words.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const EXTRACTOR = fileURLToPath(new URL('./doc_text.py', import.meta.url));

export interface Reference {
  /** Text of each block outside <pre>. */
  blocks: string[];
  pre: string[];
  /** Each table (not nested in another) as rows of cell texts. */
  tables: string[][][];
  /** API signatures (rustdoc, Sphinx, Javadoc), without permalinks. */
  signatures: string[];
}

export function referenceText(file: string, mainSelector: string): Reference {
  return JSON.parse(execFileSync('python3', [EXTRACTOR, file, mainSelector], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })) as Reference;
}

/** Words only: letters and digits, lower case, single spaces (markup, escapes and punctuation gone). */
export function words(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
}

/** Markdown without link syntax, targets and image sources (they put URLs between words the page shows side by side). */
export function markdownWords(markdown: string): string {
  const withoutTargets = markdown.replace(/!?\[((?:[^[\]]|\\[[\]])*)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+"(?:[^"\\]|\\.)*")?\)/g, '$1');
  // Code spans may sit inside a word (`Read`er, `socket`s): their backticks join, as do backslash escapes.
  return words(withoutTargets.replace(/\\([\\`*_{}[\]()#+\-.!<>|~=])/g, '$1').replace(/`/g, ''));
}

export function sentencesOf(reference: Reference): string[] {
  const units = [
    ...reference.blocks.flatMap((block) => block.split(/(?<=[.!?;:])\s+/)),
    ...reference.pre.flatMap((pre) => pre.split('\n')),
  ];
  return [...new Set(units.map(words).filter((unit) => unit !== ''))];
}

export interface Retention {
  total: number;
  kept: number;
  ratio: number;
  missing: string[];
}

export function retention(reference: Reference, markdown: string): Retention {
  const haystack = ` ${markdownWords(markdown)} `;
  const sentences = sentencesOf(reference);
  const missing = sentences.filter((sentence) => !haystack.includes(` ${sentence} `));
  const kept = sentences.length - missing.length;
  return { total: sentences.length, kept, ratio: sentences.length ? kept / sentences.length : 1, missing };
}

/** The contents of every fenced code block, line by line (also inside block quotes and list items). */
export function fencedLines(markdown: string): string[] {
  const lines: string[] = [];
  let open: { fence: string; quotes: RegExp } | undefined;
  for (const line of markdown.split('\n')) {
    if (open === undefined) {
      const start = /^\s*((?:>\s?)*)\s*(`{3,}|~{3,})/.exec(line);
      if (start) open = { fence: start[2]!, quotes: new RegExp(`^\\s*(?:>\\s?){0,${start[1]!.split('>').length - 1}}`) };
      continue;
    }
    const inner = line.replace(open.quotes, '');
    if (/^\s*(`{3,}|~{3,})\s*$/.test(inner) && inner.trim()[0] === open.fence[0] && inner.trim().length >= open.fence.length) open = undefined;
    else lines.push(inner);
  }
  return lines;
}

/** Every GFM table row of the Markdown, each as its cells reduced to words. */
export function tableRows(markdown: string): Set<string> {
  const rows = new Set<string>();
  for (const line of markdown.split('\n').map((l) => l.replace(/^\s*(?:>\s?)*/, '').trim())) {
    if (!line.startsWith('|') || !line.endsWith('|') || /^\|[\s:|-]+\|$/.test(line)) continue;
    const cells = line.slice(1, -1).split(/(?<!\\)\|/).map((cell) => markdownWords(cell.replace(/<br>/g, ' ')));
    rows.add(cells.join(' | '));
  }
  return rows;
}

export const rowKey = (cells: string[]) => cells.map(words).join(' | ');
