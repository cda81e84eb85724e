export interface Page {
  text: string;
  start_index: number;
  total_length: number;
  truncated: boolean;
  next_start_index?: number;
}

/** A window of `max_length` characters from `start_index`, with a note saying where to continue. */
export function paginate(full: string, startIndex: number, maxLength: number): Page {
  const total = full.length;
  if (startIndex >= total && total > 0) {
    return {
      text: `[No more content: start_index ${startIndex} is past the end (total length ${total}).]`,
      start_index: startIndex,
      total_length: total,
      truncated: false,
    };
  }
  const end = Math.min(total, startIndex + maxLength);
  const slice = full.slice(startIndex, end);
  if (end < total) {
    return {
      text: `${slice}\n\n[Content truncated: characters ${startIndex}–${end} of ${total}. Call access_fetch again with start_index=${end} to continue.]`,
      start_index: startIndex,
      total_length: total,
      truncated: true,
      next_start_index: end,
    };
  }
  return { text: slice, start_index: startIndex, total_length: total, truncated: false };
}
