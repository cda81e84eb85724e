/**
 * A text body made readable: decoded, scrubbed of every secret we hold (as
 * served, before any converter can escape it), converted (HTML → Markdown or
 * text, JSON pretty-printed) and scrubbed again. Runs in the conversion worker
 * (see convert-pool.ts); small non-HTML bodies run here on the main thread.
 */
import { REDACTED, redactWith } from '../core/redact.js';

export type Format = 'markdown' | 'text' | 'raw';

export interface TextJob {
  bytes: Uint8Array;
  contentType: string;
  format: Format;
  /** The body is HTML (declared, or untyped and looking like it). */
  html: boolean;
  /** False when reading stopped at the byte cap. */
  bodyComplete: boolean;
  charset?: string;
  /** The page's URL, for making links absolute. */
  url?: string;
  /** Every secret to scrub, longest first (currentSecrets() of the main thread). */
  secrets: readonly string[];
}

export interface TextResult {
  text: string;
  title?: string;
  notes: string[];
}

/**
 * Decodes text in its declared charset (UTF-8 when none or unknown; a byte
 * order mark decides over both). A body cut
 * at the byte cap may end inside a character: that partial character is dropped.
 */
export function decodeText(buffer: Uint8Array, declared: string | undefined, complete: boolean): string {
  // A byte order mark decides over any declared charset, as in a browser (WHATWG Encoding, "decode").
  const charset = byteOrderMark(buffer) ?? declared;
  // The common case without a TextDecoder (several times its cost per call): the same text, BOM dropped as it drops it.
  if (complete && (charset === undefined || UTF8.test(charset))) {
    const bytes = Buffer.from(buffer.buffer, buffer.byteOffset, buffer.length);
    const bom = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
    return bytes.toString('utf8', bom);
  }
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset?.trim() || 'utf-8');
  } catch {
    decoder = new TextDecoder('utf-8');
  }
  const text = decoder.decode(buffer, { stream: !complete });
  return decoder.encoding === 'windows-1252' ? windows1252(text) : text;
}

function byteOrderMark(buffer: Uint8Array): string | undefined {
  if (buffer[0] === 0xef && buffer[1] === 0xbb && buffer[2] === 0xbf) return 'utf-8';
  if (buffer[0] === 0xff && buffer[1] === 0xfe) return 'utf-16le';
  if (buffer[0] === 0xfe && buffer[1] === 0xff) return 'utf-16be';
  return undefined;
}

/**
 * Bytes 0x80-0x9F of windows-1252 (the encoding browsers use for iso-8859-1,
 * latin1 and ascii too) as the Encoding Standard maps them: Node's TextDecoder
 * since 20.18.3 gives C1 controls instead (nodejs/node#60888), which lost
 * every smart quote, dash and euro sign of a legacy page.
 */
const WINDOWS_1252_C1 = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
].map((code) => String.fromCharCode(code));

function windows1252(text: string): string {
  return /[\u0080-\u009f]/.test(text) ? text.replace(/[\u0080-\u009f]/g, (c) => WINDOWS_1252_C1[c.charCodeAt(0) - 0x80]!) : text;
}

const UTF8 = /^\s*utf-?8\s*$/i;

/** The charset an HTML page declares in a <meta> near its start, when the header gives none. */
export function metaCharset(buffer: Uint8Array): string | undefined {
  const head = Buffer.from(buffer.buffer, buffer.byteOffset, Math.min(buffer.length, 2048)).toString('latin1');
  return /<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)/i.exec(head)?.[1];
}

/**
 * Secrets in the body are replaced before conversion by a word no converter
 * escapes (Markdown would show "[redacted]" as "\\[redacted\\]"), and the word
 * by [redacted] at the end.
 */
const MARK = 'cfaccessmcpredactedsecret';
function unmark(text: string): string {
  if (!text.includes(MARK)) return text;
  const parts = text.split(MARK);
  for (let i = 0; i < parts.length - 1; i++) parts[i] = withoutTokenPrefix(parts[i]!);
  return parts.join(REDACTED);
}

/** A prefixed token ("oauth:<random>") is remembered by its random part: its prefix goes with it. */
function withoutTokenPrefix(part: string): string {
  if (!part.endsWith(':')) return part;
  let start = part.length - 1;
  while (start > 0 && part.length - start <= 32 && /[A-Za-z0-9_-]/.test(part[start - 1]!)) start--;
  return start < part.length - 1 ? part.slice(0, start) : part;
}

function markedText(job: TextJob): string {
  const text = decodeText(job.bytes, job.charset ?? (job.html ? metaCharset(job.bytes) : undefined), job.bodyComplete);
  return redactWith(text, job.secrets, MARK);
}

/** The body as served, decoded and scrubbed: what is shown when conversion is skipped or fails. */
export function servedText(job: TextJob): string {
  return unmark(markedText(job));
}

/** Converted text, scrubbed again for every spelling the converter may have given a secret. */
const scrub = (text: string, job: TextJob) => unmark(redactWith(text, job.secrets, MARK));

/** The HTML converter (and its libraries) loads on the first page that needs it, once. */
let htmlConverter: Promise<typeof import('./html.js')> | undefined;
/** Set once loaded: a page converted on the main thread then takes no turn of the event loop to reach it. */
let loadedConverter: typeof import('./html.js') | undefined;
const loadHtmlConverter = () => (htmlConverter ??= import('./html.js').then((module) => (loadedConverter = module)));

/** Every library an HTML page may need, loaded now (a conversion worker's start-up, so no page's budget pays for it). */
export async function preloadHtmlConverter(): Promise<void> {
  await (await loadHtmlConverter()).preloadDomLibraries();
}

/** `onServed` gets the scrubbed body before conversion starts (the fallback if conversion runs out of time). */
export async function convertText(job: TextJob, onServed?: (served: string) => void): Promise<TextResult> {
  const marked = markedText(job);
  const served = unmark(marked);
  onServed?.(served);
  if (job.format === 'raw') return { text: served, notes: [] };
  if (job.html) return (await convertHtml(marked, served, job))!;
  if (/[/+]json$/.test(job.contentType) && job.bodyComplete) {
    try {
      return { text: scrub(JSON.stringify(JSON.parse(marked), null, 2), job), notes: [] };
    } catch {
      return { text: served, notes: [] };
    }
  }
  return { text: served, notes: [] };
}

/**
 * An HTML page converted right here when that needs no DOM library (see
 * htmlToReadableWithoutDom), else undefined: the caller sends it to the worker.
 */
export async function convertHtmlWithoutDom(job: TextJob): Promise<TextResult | undefined> {
  const marked = markedText(job);
  return convertHtml(marked, unmark(marked), job, false);
}

async function convertHtml(marked: string, served: string, job: TextJob, readability = true): Promise<TextResult | undefined> {
  const { htmlToReadable, htmlToReadableWithoutDom, PageTooComplexError } = loadedConverter ?? (await loadHtmlConverter());
  try {
    const format = job.format as 'markdown' | 'text';
    const url = job.url ? new URL(job.url) : undefined;
    const readable = readability ? await htmlToReadable(marked, format, url) : await htmlToReadableWithoutDom(marked, format, url);
    if (!readable) return undefined;
    const { text, title } = readable;
    return { text: scrub(text, job), title: title === undefined ? undefined : scrub(title, job), notes: [] };
  } catch (error) {
    // A page the converter cannot handle is still worth reading as served.
    if (!(error instanceof PageTooComplexError)) return { text: served, notes: [] };
    return { text: served, notes: [`The page was not converted to ${job.format} (${error.message}); it is shown as served (HTML).`] };
  }
}
