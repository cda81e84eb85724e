import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { faultedHeaders, faultedJson, HUGE_BODY_BYTES, hugeBodyChunk, hugeHeaderValue } from './faults.js';
import type { Runtime } from './runtime.js';
import type { Fault, LogEntry } from './types.js';

export interface RequestContext {
  rt: Runtime;
  req: IncomingMessage;
  res: ServerResponse;
  /** The request URL resolved against the origin that received it. */
  url: URL;
  entry: LogEntry;
  /** Aborted when the client goes away or the emulator closes. */
  signal: AbortSignal;
  /** The fault picked for this request's endpoint, if any. */
  fault?: Fault;
}

const STREAM_CHUNK = 64 * 1024;

export function writeHead(ctx: RequestContext, status: number, headers: OutgoingHttpHeaders): void {
  ctx.entry.status = status;
  const all: OutgoingHttpHeaders = ctx.fault ? faultedHeaders(ctx.fault, headers) : { ...headers };
  if (ctx.fault?.kind === 'huge_header') all['x-emulator-padding'] = hugeHeaderValue();
  const skew = ctx.rt.options.clockSkewSeconds;
  if (skew) all.date = new Date(Date.now() + skew * 1000).toUTCString();
  ctx.res.writeHead(status, all);
}

export function send(
  ctx: RequestContext,
  status: number,
  headers: OutgoingHttpHeaders,
  body: string | Buffer = '',
): void {
  if (ctx.res.headersSent || ctx.res.destroyed) return;
  if (ctx.fault?.kind === 'huge_body') {
    void streamChunks(ctx, status, headers, HUGE_BODY_BYTES, hugeBodyChunk);
    return;
  }
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const bodyless = status === 204 || status === 304 || status < 200;
  writeHead(ctx, status, bodyless ? headers : { ...headers, 'content-length': buf.length });
  if (bodyless) {
    ctx.entry.bytesSent = 0;
    ctx.res.end();
    return;
  }
  ctx.entry.bytesSent = ctx.req.method === 'HEAD' ? 0 : buf.length;
  ctx.res.end(buf);
}

export function sendJson(
  ctx: RequestContext,
  status: number,
  body: Record<string, unknown> | unknown[],
  headers: OutgoingHttpHeaders = {},
): void {
  const shaped = ctx.fault && !Array.isArray(body) ? faultedJson(ctx.fault, body) : body;
  send(ctx, status, { 'content-type': 'application/json', ...headers }, JSON.stringify(shaped));
}

export function sendHtml(ctx: RequestContext, status: number, html: string, headers: OutgoingHttpHeaders = {}): void {
  send(ctx, status, { 'content-type': 'text/html; charset=utf-8', ...headers }, html);
}

export function sendText(ctx: RequestContext, status: number, text: string, headers: OutgoingHttpHeaders = {}): void {
  send(ctx, status, { 'content-type': 'text/plain; charset=utf-8', ...headers }, text);
}

export function redirect(ctx: RequestContext, location: string, headers: OutgoingHttpHeaders = {}, status = 302): void {
  send(ctx, status, { location, ...headers });
}

/**
 * Streams `total` bytes made by `chunkAt`, one chunk at a time, waiting for 'drain' so a slow
 * or vanished client never makes us buffer the whole body. bytesSent counts what was handed
 * to the socket.
 */
export function streamChunks(
  ctx: RequestContext,
  status: number,
  headers: OutgoingHttpHeaders,
  total: number,
  chunkAt: (offset: number, size: number, total: number) => Buffer,
): Promise<void> {
  const { res } = ctx;
  writeHead(ctx, status, headers);
  ctx.entry.bytesSent = 0;
  if (ctx.req.method === 'HEAD') {
    res.end();
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    let offset = 0;
    const pump = (): void => {
      while (offset < total) {
        if (res.destroyed || ctx.signal.aborted) return resolve();
        const size = Math.min(STREAM_CHUNK, total - offset);
        const chunk = chunkAt(offset, size, total);
        offset += size;
        ctx.entry.bytesSent = offset;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
      resolve();
    };
    res.once('close', () => {
      res.off('drain', pump);
      resolve();
    });
    pump();
  });
}

export async function readBody(req: IncomingMessage, limit = 10 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new URLSearchParams((await readBody(req)).toString('utf8'));
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    cookies.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return cookies;
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** A minimal, valid HTML document; every page the emulator serves goes through it. */
export function htmlPage(title: string, body: string): string {
  return `<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title></head>\n<body>\n${body}\n</body>\n</html>\n`;
}
