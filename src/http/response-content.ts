/**
 * Reads a final response into what access_fetch returns: only as many bytes
 * as the conversion needs (a byte cap for text, the inline limit for images,
 * nothing for a binary whose size is declared), or the whole body streamed to
 * a file for save_to.
 */
import { pipeline } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { AccessError } from '../core/errors.js';
import { discard, headerValue, measureCapped, readCapped, type BodyStream, type RawResponse } from './client.js';
import { bodyKindOf, convertBody, describeBinary, type Format } from './convert.js';
import { contentTypeOf } from './json.js';
import { saveBodyToFile, streamBodyTo, type BodySink, type SavedFile, type SaveOptions } from './save-to-file.js';
import { arg } from '../core/next-step.js';

export interface ContentOptions {
  format: Format;
  maxBodyBytes: number;
  maxImageBytes: number;
  /** An already resolved save_to path (see resolveSavePath). */
  saveTo?: string;
  /** How save_to writes (confined for an agent, as typed for the CLI). */
  save?: SaveOptions;
  /** The credentials this request carried: scrubbed in every spelling, whatever else is remembered. */
  secrets?: string[];
  /** The CLI writing to a pipe: every byte of the body, whatever its type or size, streamed as served. */
  sink?: BodySink;
  /** The idle warm-up's own page (see convert.ts). */
  warmUp?: boolean;
}

export interface ResponseContent {
  kind: 'text' | 'image' | 'binary' | 'saved' | 'streamed';
  contentType: string;
  text: string;
  title?: string;
  image?: { data: string; mimeType: string };
  saved?: SavedFile;
  /** Bytes written to the sink. */
  streamedBytes?: number;
  /** Things the agent should know about how the body was read. */
  notes: string[];
}

export async function readResponseContent(served: RawResponse, url: URL, options: ContentOptions): Promise<ResponseContent> {
  const response = decoded(served, url);
  const contentType = contentTypeOf(response.headers);
  const declaredBytes = contentLengthOf(response);
  const notes: string[] = [];

  if (options.sink) {
    if (options.sink.skipStatusAtLeast !== undefined && response.status >= options.sink.skipStatusAtLeast) {
      discard(response.body);
      return { kind: 'streamed', contentType, text: '', streamedBytes: 0, notes };
    }
    const bytes = await streamBodyTo(response.body, options.sink.out, url, options.secrets);
    return { kind: 'streamed', contentType, text: '', streamedBytes: bytes, notes };
  }

  if (options.saveTo) {
    if (response.status >= 200 && response.status < 300) {
      const saved = await saveBodyToFile(response.body, options.saveTo, url, { ...options.save, secrets: options.secrets });
      const text = `Saved ${saved.bytes} bytes (${contentType || 'unknown type'}) to ${saved.path}.`;
      return { kind: 'saved', contentType, text, saved, notes };
    }
    // An agent is told; the command line writes the response to the file itself, as curl -o does (unless -f).
    if (options.save?.confined) notes.push(`Nothing was saved to ${options.saveTo}: the origin answered HTTP ${response.status}, so its response is shown instead.`);
  }

  const kind = bodyKindOf(contentType);
  if (kind === 'binary') {
    let size: string;
    if (declaredBytes !== undefined) {
      discard(response.body);
      size = `${declaredBytes} bytes`;
    } else {
      const measured = await measureCapped(response.body, options.maxBodyBytes, url);
      size = measured.truncated ? `more than ${measured.bytes} bytes` : `${measured.bytes} bytes`;
    }
    return { kind: 'binary', contentType, text: describeBinary(contentType, size), notes };
  }

  const cap = kind === 'image' ? options.maxImageBytes : options.maxBodyBytes;
  const { buffer, truncated } = await readCapped(response.body, cap, url);
  const converted = await convertBody(buffer, contentType, options.format, {
    bodyComplete: !truncated,
    maxImageBytes: options.maxImageBytes,
    totalBytes: declaredBytes,
    charset: charsetOf(response),
    url,
    secrets: options.secrets,
    warmUp: options.warmUp,
  });
  notes.push(...(converted.notes ?? []));
  if (truncated && converted.kind === 'text') {
    notes.push(
      `The body is larger than ${cap} bytes; reading stopped there, so the text below covers only its first ${cap} bytes. ` +
        `Use ${arg('save', true)} to get the whole body, or raise CF_ACCESS_MCP_MAX_BODY_BYTES.`,
    );
  }
  const { notes: _shown, ...content } = converted;
  return { ...content, contentType, notes };
}

function contentLengthOf(response: RawResponse): number | undefined {
  const raw = headerValue(response.headers, 'content-length');
  const value = raw === undefined ? NaN : Number(raw);
  return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

function charsetOf(response: RawResponse): string | undefined {
  const header = headerValue(response.headers, 'content-type') ?? '';
  return /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(header)?.[1];
}

/**
 * The body as the origin meant it. We ask for no compression, but some origins
 * send pre-compressed files as they are: such a body is decoded here, so that
 * what is scrubbed of our credentials, converted, saved or written is the body
 * itself (a credential the origin echoes would hide in the compressed bytes).
 * An encoding we cannot decode is refused rather than passed on unchecked.
 */
function decoded(response: RawResponse, url: URL): RawResponse {
  const encoding = headerValue(response.headers, 'content-encoding')?.trim().toLowerCase();
  if (!encoding || encoding === 'identity') return response;
  const decoder = encoding === 'gzip' || encoding === 'x-gzip' ? createGunzip() : encoding === 'deflate' ? createInflate() : encoding === 'br' ? createBrotliDecompress() : undefined;
  if (!decoder) {
    discard(response.body);
    throw new AccessError(
      'network_error',
      `${url.host} answered with a body encoded as "${encoding.slice(0, 40)}", which cannot be decoded here; it was not passed on, since it could not be checked for the credential.`,
      'Ask for another representation of the resource (a different URL or Accept header), or fetch it without Access credentials if it is public.',
    );
  }
  // A decoding error reaches the reader through the decoder; the reader stopping early stops the download too.
  pipeline(response.body, decoder, () => {});
  const headers = { ...response.headers };
  delete headers['content-encoding'];
  delete headers['content-length'];
  return { ...response, headers, body: decoder as unknown as BodyStream };
}
