/**
 * Turns a response body into something an agent can read. Text is converted
 * (and scrubbed of secrets) in a worker thread that starts with the first page
 * needing it (see convert-pool.ts), so neither start-up nor the event loop
 * pays for the HTML converter (./html.js: htmlparser2 and our Markdown walk,
 * Readability on linkedom for pages that mark no main element).
 */
import { currentSecrets } from '../core/redact.js';
import { convertInWorker, noteConversionRequested } from './convert-pool.js';
import { convertHtmlWithoutDom, convertText, type Format, type TextResult } from './text-convert.js';
import { arg } from '../core/next-step.js';

export { decodeText, metaCharset, type Format } from './text-convert.js';

export interface Converted {
  kind: 'text' | 'image' | 'binary';
  text: string;
  title?: string;
  image?: { data: string; mimeType: string };
  /** How the body was shown when not as asked (conversion skipped or failed). */
  notes?: string[];
}

export interface ConvertOptions {
  /** False when reading stopped at the byte cap. */
  bodyComplete: boolean;
  maxImageBytes: number;
  /** The body's full size when known (Content-Length), for descriptions. */
  totalBytes?: number;
  /** The charset parameter of Content-Type, if any. */
  charset?: string;
  /** The page's URL: relative links in HTML are made absolute against it. */
  url?: URL;
  /** Secrets to scrub besides those this process remembers. */
  secrets?: Iterable<string | undefined>;
  /** Milliseconds the worker may spend on this body (default: CF_ACCESS_MCP_CONVERT_BUDGET_MS). */
  budgetMs?: number;
  /** The idle warm-up's own page (not counted as a caller's conversion). */
  warmUp?: boolean;
}

/** Non-HTML text up to this size is decoded and scrubbed right here: less than a millisecond or two. */
const INLINE_BYTES = 128 * 1024;
/**
 * HTML up to this size that marks its main element is converted right here
 * too, cheaper than the worker's round trip: our walk is linear in the page
 * (a 14 KB API page about 1.5 ms; the slowest markup we know at 24 KB — a
 * one-row table of 2,400 cells, 2,000 links, 12,000 underscores — about
 * 12 ms, so at this size under 10 ms). Larger pages, and pages that need
 * Readability (a DOM library), go to the worker.
 */
const INLINE_HTML_BYTES = 16 * 1024;

export type BodyKind = 'text' | 'image' | 'binary';

const IMAGE_SIGNATURES: Record<string, (b: Buffer) => boolean> = {
  'image/png': (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  'image/jpeg': (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  'image/gif': (b) => b.subarray(0, 4).toString('latin1') === 'GIF8',
  'image/webp': (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP',
};

export function isImageType(contentType: string): boolean {
  return contentType in IMAGE_SIGNATURES;
}

export function isTextual(contentType: string): boolean {
  return (
    contentType.startsWith('text/') ||
    /[/+](json|xml|javascript|ecmascript|x-www-form-urlencoded|yaml|x-yaml|toml|csv|graphql|markdown)$/.test(contentType) ||
    contentType === 'application/x-ndjson' ||
    contentType === 'application/jsonl'
  );
}

export function isHtml(contentType: string): boolean {
  return contentType === 'text/html' || contentType === 'application/xhtml+xml';
}

/** What a body is, from its declared type; without one, from its first bytes. */
export function bodyKindOf(contentType: string, head?: Buffer): BodyKind {
  if (isImageType(contentType)) return 'image';
  if (isTextual(contentType)) return 'text';
  if (contentType !== '') return 'binary';
  return head ? sniff(head) : 'text';
}

function sniff(head: Buffer): BodyKind {
  for (const signature of Object.values(IMAGE_SIGNATURES)) if (signature(head)) return 'image';
  return head.subarray(0, 1024).includes(0) ? 'binary' : 'text';
}

function sniffImageType(buffer: Buffer): string | undefined {
  return Object.entries(IMAGE_SIGNATURES).find(([, signature]) => signature(buffer))?.[0];
}

export function describeBinary(contentType: string, size: string): string {
  return `Binary content (${contentType || 'unknown type'}, ${size}); not shown. Use ${arg('save', true)} to write it to a file.`;
}

function describeSize(buffer: Buffer, options: ConvertOptions): string {
  if (options.totalBytes !== undefined) return `${options.totalBytes} bytes`;
  return options.bodyComplete ? `${buffer.length} bytes` : `more than ${buffer.length} bytes`;
}

export async function convertBody(buffer: Buffer, contentType: string, format: Format, options: ConvertOptions): Promise<Converted> {
  const kind = bodyKindOf(contentType, buffer);
  if (kind === 'image') {
    const actual = sniffImageType(buffer);
    const declared = contentType || actual || 'image';
    if (options.bodyComplete && buffer.length <= options.maxImageBytes && actual) {
      return { kind: 'image', text: `Image (${actual}, ${buffer.length} bytes), returned as image content.`, image: { data: buffer.toString('base64'), mimeType: actual } };
    }
    if (!actual && buffer.length > 0) {
      return { kind: 'binary', text: `Content declared as ${declared} (${describeSize(buffer, options)}) is not a valid ${declared} image; not shown. Use ${arg('save', true)} to write it to a file.` };
    }
    return {
      kind: 'binary',
      text: `Image (${declared}, ${describeSize(buffer, options)}) is larger than the inline limit of ${options.maxImageBytes} bytes; not returned inline. Use ${arg('save', true)} to write it to a file.`,
    };
  }
  if (kind === 'binary') return { kind: 'binary', text: describeBinary(contentType, describeSize(buffer, options)) };

  const html = isHtml(contentType) || (contentType === '' && /^\s*<(!doctype html|html)[\s>]/i.test(buffer.subarray(0, 512).toString('latin1')));
  const job = {
    bytes: buffer,
    contentType,
    format,
    html,
    bodyComplete: options.bodyComplete,
    charset: options.charset,
    url: options.url?.href,
    secrets: currentSecrets(options.secrets),
  };
  let result: TextResult | undefined;
  if (buffer.length <= INLINE_BYTES && (!html || format === 'raw')) result = await convertText(job);
  else if (html && buffer.length <= INLINE_HTML_BYTES) {
    result = await convertHtmlWithoutDom(job);
    if (result && !options.warmUp) noteConversionRequested();
  }
  result ??= await convertInWorker(job, options.budgetMs, { warmUp: options.warmUp });
  return { kind: 'text', text: result.text, ...(result.title !== undefined ? { title: result.title } : {}), ...(result.notes.length ? { notes: result.notes } : {}) };
}
