import type { IncomingMessage, RequestListener, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sendJson, type RequestContext } from './http-util.js';
import type { Runtime } from './runtime.js';
import type { LogEntry, OriginName } from './types.js';

export type OriginHandler = (ctx: RequestContext) => void | Promise<void>;

function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** The request target as a URL on `base`; never lets "//host/…" turn into another host. */
function requestUrl(base: string, target: string): URL {
  if (target.startsWith('/')) return new URL(base + target);
  try {
    const absolute = new URL(target);
    return new URL(base + absolute.pathname + absolute.search);
  } catch {
    return new URL(base + '/');
  }
}

/**
 * The request listener for one emulated origin. Each request is logged on arrival (so the log keeps
 * arrival order); status and bytesSent are filled in as the response goes out, and the trace
 * callback sees the finished entry.
 */
export function originListener(
  rt: Runtime,
  origin: OriginName,
  baseUrl: string,
  handle: OriginHandler,
): RequestListener {
  return (req, res) => {
    const entry: LogEntry = {
      time: Date.now(),
      origin,
      endpoint: 'unknown',
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      status: 0,
      headers: flattenHeaders(req),
    };
    rt.log.push(entry);

    const aborter = new AbortController();
    const onClosing = (): void => aborter.abort();
    rt.closing.addEventListener('abort', onClosing, { once: true });
    res.once('close', () => {
      rt.closing.removeEventListener('abort', onClosing);
      if (!res.writableFinished) aborter.abort();
      if (entry.status === 0 && res.headersSent) entry.status = res.statusCode;
      try {
        rt.options.trace?.(entry);
      } catch {
        // A failing trace callback must not break the emulator.
      }
    });

    const ctx: RequestContext = {
      rt,
      req,
      res,
      url: requestUrl(baseUrl, req.url ?? '/'),
      entry,
      signal: aborter.signal,
    };
    Promise.resolve()
      .then(() => handle(ctx))
      .catch((err: unknown) => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        const message = err instanceof Error ? err.message : String(err);
        sendJson(ctx, 500, { error: 'server_error', error_description: message });
      });
  };
}

export function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
