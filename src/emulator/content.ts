import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { serveBridgeRoutes } from './bridge-routes.js';
import { bigTextChunk, blobBytes, PIXEL_PNG } from './binary.js';
import {
  readBody,
  redirect,
  send,
  sendHtml,
  sendJson,
  sendText,
  streamChunks,
  type RequestContext,
} from './http-util.js';
import { docPage } from './doc-page.js';
import { DATA_JSON, homePage, longPage, notFoundPage, NOTES_TXT, page10k, tablesPage } from './pages.js';
import type { ProtectedApp, Runtime } from './runtime.js';

const DEFAULT_BIG_BYTES = 200 * 1024 * 1024;

function intParam(url: URL, name: string, fallback: number): number {
  const raw = url.searchParams.get(name);
  const value = raw === null ? NaN : Number.parseInt(raw, 10);
  return Number.isFinite(value) && value >= 0 ? value : fallback;
}

/** GET/POST/… /echo on any origin: the request as the origin saw it. */
export async function echo(ctx: RequestContext): Promise<void> {
  const body = await readBody(ctx.req);
  sendJson(ctx, 200, {
    method: ctx.entry.method,
    path: ctx.entry.path,
    headers: ctx.entry.headers,
    body: body.toString('utf8'),
  });
}

function redirectRoute(ctx: RequestContext, rest: string): boolean {
  const { url, rt } = ctx;
  switch (rest) {
    case 'same':
      redirect(ctx, '/');
      return true;
    case 'chain': {
      const n = intParam(url, 'n', 3);
      redirect(ctx, n <= 1 ? '/' : `/redirect/chain?n=${n - 1}`);
      return true;
    }
    case 'loop':
      redirect(ctx, '/redirect/loop');
      return true;
    case 'plain':
      redirect(ctx, `${rt.plainUrl}/echo`);
      return true;
    case 'app2':
      redirect(ctx, `${rt.apps.app2.url}/echo`);
      return true;
    default:
      return false;
  }
}

/** Keys of /drop-once already dropped, per emulator. */
const dropped = new WeakMap<Runtime, Set<string>>();

/**
 * /drop-once?key=K: the first request with a key has its connection closed
 * without a byte of answer (what a kept-alive connection the server closes
 * just as it is reused looks like); later ones are answered.
 */
function dropOnce(ctx: RequestContext): void {
  const key = `${ctx.req.method} ${ctx.url.searchParams.get('key') ?? ''}`;
  const seen = dropped.get(ctx.rt) ?? new Set<string>();
  dropped.set(ctx.rt, seen);
  if (!seen.has(key)) {
    seen.add(key);
    ctx.req.socket.destroy();
    return;
  }
  sendText(ctx, 200, 'Answered on the second try.\n');
}

/** What a protected app serves once the request is authenticated. */
export async function serveContent(ctx: RequestContext, _app: ProtectedApp): Promise<void> {
  const { url } = ctx;
  const path = url.pathname;
  if (await serveBridgeRoutes(ctx)) return;
  switch (path) {
    case '/':
      return sendHtml(ctx, 200, homePage());
    case '/long':
      return sendHtml(ctx, 200, longPage());
    case '/tables':
      return sendHtml(ctx, 200, tablesPage());
    case '/page-10k':
      return sendHtml(ctx, 200, page10k());
    case '/doc':
      return sendHtml(ctx, 200, docPage(intParam(url, 'kb', 14)));
    case '/api/data.json':
      return send(ctx, 200, { 'content-type': 'application/json' }, JSON.stringify(DATA_JSON));
    case '/files/notes.txt':
      return sendText(ctx, 200, NOTES_TXT);
    case '/images/pixel.png':
      return send(ctx, 200, { 'content-type': 'image/png' }, PIXEL_PNG);
    case '/files/blob.bin':
      return send(ctx, 200, { 'content-type': 'application/octet-stream' }, blobBytes());
    case '/big': {
      const size = intParam(url, 'size', DEFAULT_BIG_BYTES);
      const headers = { 'content-type': 'text/plain; charset=utf-8', 'content-length': size };
      await streamChunks(ctx, 200, headers, size, bigTextChunk);
      return;
    }
    case '/echo':
      return echo(ctx);
    case '/drop-once':
      return dropOnce(ctx);
    case '/gzip-echo':
      // Compressed whatever the client accepts (as some servers of pre-compressed files do): the request's headers, gzipped.
      return send(ctx, 200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }, gzipSync(JSON.stringify({ headers: ctx.entry.headers })));
    case '/slow': {
      const ms = intParam(url, 'ms', 1000);
      try {
        await sleep(ms, undefined, { signal: ctx.signal });
      } catch {
        ctx.res.destroy();
        return;
      }
      return sendText(ctx, 200, `Answered after ${ms} ms.\n`);
    }
  }
  if (path.startsWith('/redirect/') && redirectRoute(ctx, path.slice('/redirect/'.length))) return;
  const status = /^\/status\/(\d{3})$/.exec(path);
  if (status) {
    const code = Number(status[1]);
    if (code >= 200 && code <= 599) return sendText(ctx, code, `The origin answered with status ${code}.\n`);
  }
  sendHtml(ctx, 404, notFoundPage(path));
}
