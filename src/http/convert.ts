/**
 * Turns a response body into something an agent can read. The HTML converter
 * (Readability on linkedom, then turndown with GFM tables) is imported only when
 * a page needs it, so start-up stays fast.
 */
export type Format = 'markdown' | 'text' | 'raw';

export interface Converted {
  kind: 'text' | 'image' | 'binary';
  text: string;
  title?: string;
  image?: { data: string; mimeType: string };
}

const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

export function isTextual(contentType: string): boolean {
  return (
    contentType === '' ||
    contentType.startsWith('text/') ||
    /[/+](json|xml|javascript|ecmascript|x-www-form-urlencoded|yaml|toml|csv)$/.test(contentType) ||
    contentType === 'application/x-ndjson'
  );
}

export function isHtml(contentType: string): boolean {
  return contentType === 'text/html' || contentType === 'application/xhtml+xml';
}

export async function convertBody(
  buffer: Buffer,
  contentType: string,
  format: Format,
  options: { bodyComplete: boolean; maxImageBytes: number; totalBytes?: number },
): Promise<Converted> {
  if (IMAGE_TYPES.has(contentType)) {
    if (options.bodyComplete && buffer.length <= options.maxImageBytes) {
      return {
        kind: 'image',
        text: `Image (${contentType}, ${buffer.length} bytes).`,
        image: { data: buffer.toString('base64'), mimeType: contentType },
      };
    }
    return { kind: 'binary', text: `Image (${contentType}) larger than ${options.maxImageBytes} bytes; not returned inline. Use save_to to write it to a file.` };
  }
  if (!isTextual(contentType)) {
    const size = options.totalBytes !== undefined ? `${options.totalBytes} bytes` : options.bodyComplete ? `${buffer.length} bytes` : `more than ${buffer.length} bytes`;
    return { kind: 'binary', text: `Binary content (${contentType || 'unknown type'}, ${size}); not shown. Use save_to to write it to a file.` };
  }
  const text = buffer.toString('utf8');
  if (format === 'raw') return { kind: 'text', text };
  if (isHtml(contentType)) return htmlToReadable(text, format);
  if (/[/+]json$/.test(contentType) && options.bodyComplete) {
    try {
      return { kind: 'text', text: JSON.stringify(JSON.parse(text), null, 2) };
    } catch {
      return { kind: 'text', text };
    }
  }
  return { kind: 'text', text };
}

async function htmlToReadable(html: string, format: 'markdown' | 'text'): Promise<Converted> {
  const [{ parseHTML }, { Readability }] = await Promise.all([import('linkedom'), import('@mozilla/readability')]);
  const { document } = parseHTML(html);
  const title = document.querySelector('title')?.textContent?.trim() || undefined;
  let article: { title?: string | null; content?: string | null; textContent?: string | null } | null = null;
  try {
    article = new Readability(document as unknown as Document).parse();
  } catch {
    article = null;
  }
  if (format === 'text') {
    const text = article?.textContent ?? parseHTML(html).document.body?.textContent ?? '';
    return { kind: 'text', text: text.replace(/\n{3,}/g, '\n\n').trim(), title: article?.title ?? title };
  }
  const markdown = await toMarkdown(article?.content ?? html);
  const heading = article?.title && !markdown.includes(article.title) ? `# ${article.title}\n\n` : '';
  return { kind: 'text', text: heading + markdown, title: article?.title ?? title };
}

async function toMarkdown(html: string): Promise<string> {
  const [{ default: TurndownService }, { gfm }] = await Promise.all([import('turndown'), import('@joplin/turndown-plugin-gfm')]);
  const service = new TurndownService({ headingStyle: 'atx', codeBlockStyle: 'fenced', bulletListMarker: '-' });
  service.use(gfm);
  service.remove(['script', 'style', 'noscript']);
  return service.turndown(html).trim();
}
