import { arg, step } from '../core/next-step.js';

export interface Page {
  /** The window of content, followed by a note when there is more (or nothing) to read. */
  text: string;
  /** The window alone, without any note: pages joined in order give back the full text. */
  content: string;
  /** Our note that ends `text` (the whole of it when the window is empty), with its next-step markers; the window before it is the origin's. */
  note?: string;
  start_index: number;
  total_length: number;
  truncated: boolean;
  next_start_index?: number;
}

export const DEFAULT_MAX_LENGTH = 20_000;

/**
 * A window of `maxLength` characters (UTF-16 code units, like the reference
 * fetch server) from `startIndex`, with a note saying where to continue.
 * Windows never split a surrogate pair (a start inside one moves back to
 * its first half), and consecutive pages join back to
 * the full text with no gap and no overlap.
 */
export function paginate(full: string, startIndex: number, maxLength: number = DEFAULT_MAX_LENGTH): Page {
  const total = full.length;
  let start = Math.max(0, Math.floor(startIndex));
  // A start an agent computed inside a surrogate pair starts at the whole character (no lone half at the top).
  if (start > 0 && start < total && isLowSurrogate(full.charCodeAt(start)) && isHighSurrogate(full.charCodeAt(start - 1))) start--;
  const length = Math.max(1, Math.floor(maxLength));
  if (start > 0 && start >= total) {
    const note = `[No more content: ${arg('continue_at', start)} is at or past the end (total length ${total}).]`;
    return {
      text: note,
      note,
      content: '',
      start_index: start,
      total_length: total,
      truncated: false,
    };
  }
  if (total === 0) {
    const note = '[The response body is empty.]';
    return { text: note, note, content: '', start_index: 0, total_length: 0, truncated: false };
  }
  let end = Math.min(total, start + length);
  // A window of one unit that would split a pair takes the whole pair instead.
  if (end < total && isHighSurrogate(full.charCodeAt(end - 1))) end += end - start > 1 ? -1 : 1;
  const content = full.slice(start, end);
  if (end < total) {
    const note = `[Content truncated: characters ${start}–${end} of ${total}. To continue, ${step('fetch', { continue_at: end })} and the same other arguments.]`;
    return {
      text: `${content}\n\n${note}`,
      note,
      content,
      start_index: start,
      total_length: total,
      truncated: true,
      next_start_index: end,
    };
  }
  return { text: content, content, start_index: start, total_length: total, truncated: false };
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
