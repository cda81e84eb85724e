/** What a model received back from one tool call: the text it can read and the images it can see. */
export interface ModelView {
  texts: string[];
  images: Array<{ mimeType: string; data: string }>;
  /** The client flagged the result as an error (accepted either way; recorded for the notes). */
  isError?: boolean;
}

export function emptyView(): ModelView {
  return { texts: [], images: [] };
}

/** data:image/png;base64,AAAA -> { mimeType, data } */
export function fromDataUrl(url: string): { mimeType: string; data: string } | undefined {
  const match = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  return match ? { mimeType: match[1]!, data: match[2]! } : undefined;
}
