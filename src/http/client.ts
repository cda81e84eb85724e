import { EventEmitter } from 'node:events';
import { Agent, EnvHttpProxyAgent, errors as undiciErrors, Pool, request, type Dispatcher } from 'undici';
import { AccessError } from '../core/errors.js';
import { cleanErrorText, connectionProblem } from './network-errors.js';

export type HeaderMap = Record<string, string | string[] | undefined>;
export type BodyStream = Dispatcher.ResponseData['body'];

export interface HttpTimeouts {
  connectMs: number;
  headersMs: number;
  bodyMs: number;
}

export const DEFAULT_TIMEOUTS: HttpTimeouts = { connectMs: 10_000, headersMs: 30_000, bodyMs: 30_000 };

/**
 * One shared keep-alive pool for the whole process. EnvHttpProxyAgent honours
 * HTTPS_PROXY / HTTP_PROXY / NO_PROXY exactly as undici reads them: a loopback
 * target is proxied too unless NO_PROXY lists it. Targets go through the proxy
 * in a CONNECT tunnel (so the timeouts below apply to them as well).
 * NODE_EXTRA_CA_CERTS is honoured by Node itself.
 */
export function createDispatcher(timeouts: HttpTimeouts = DEFAULT_TIMEOUTS, env: NodeJS.ProcessEnv = process.env): Dispatcher {
  const options = {
    connect: { timeout: timeouts.connectMs },
    headersTimeout: timeouts.headersMs,
    bodyTimeout: timeouts.bodyMs,
    keepAliveTimeout: 30_000,
    maxHeaderSize: 64 * 1024,
  };
  // EnvHttpProxyAgent reads the proxies once, when created (as here), and sends everything
  // through a plain Agent when there are none; that Agent directly saves it parsing
  // each request's origin and NO_PROXY again.
  const httpProxy = (env.http_proxy ?? env.HTTP_PROXY) || undefined;
  const httpsProxy = (env.https_proxy ?? env.HTTPS_PROXY) || undefined;
  return httpProxy || httpsProxy ? new EnvHttpProxyAgent({ ...options, httpProxy, httpsProxy, clientFactory: proxyClient }) : new Agent(options);
}

/** The proxy closed the connection while the CONNECT tunnel was being set up. */
class ProxyTunnelDropped extends Error {
  readonly code = 'UND_ERR_PRX_CONN';
  constructor(cause: unknown) {
    super('the proxy closed the connection while the tunnel (CONNECT) was being set up', { cause });
  }
}

/**
 * The connection to the proxy. undici 7 (the last line for Node 20) treats a
 * proxy that drops a CONNECT as a dropped connection and dials it again at
 * once, for ever, deaf to the request's abort signal (nodejs/undici#3897,
 * fixed in 8.x only): the same failure under another code ends the request.
 */
function proxyClient(origin: URL | string, options: object): Dispatcher {
  const pool = new Pool(origin, options);
  const connect = pool.connect.bind(pool) as (params: Dispatcher.ConnectOptions) => Promise<Dispatcher.ConnectData>;
  (pool as { connect: unknown }).connect = async (params: Dispatcher.ConnectOptions) => {
    try {
      return await connect(params);
    } catch (error) {
      throw (error as { code?: unknown } | null)?.code === 'UND_ERR_SOCKET' ? new ProxyTunnelDropped(error) : error;
    }
  };
  return pool;
}

/**
 * A request's abort signal in the form undici also takes (an EventEmitter
 * with `aborted` and `reason`): every fetch makes one for its deadline, and an
 * AbortController with its EventTarget costs several times as much.
 */
export class RequestAbort extends EventEmitter {
  aborted = false;
  reason: unknown;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }
}

export type RequestSignal = AbortSignal | RequestAbort;

export interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  signal?: RequestSignal;
}

export interface RawResponse {
  url: URL;
  status: number;
  headers: HeaderMap;
  body: BodyStream;
}

/** One HTTP exchange, no redirects followed. Network failures become AccessError('network_error'). */
export async function send(dispatcher: Dispatcher, url: URL, options: SendOptions = {}): Promise<RawResponse> {
  const method = (options.method ?? 'GET') as Dispatcher.HttpMethod;
  const exchange = () => request(url, { dispatcher, method, headers: options.headers, body: options.body, signal: options.signal });
  try {
    let response: Dispatcher.ResponseData;
    try {
      response = await exchange();
    } catch (error) {
      if (!retryable(method, options, error)) throw error;
      response = await exchange();
    }
    return { url, status: response.statusCode, headers: response.headers, body: response.body };
  } catch (error) {
    throw networkError(error, url);
  }
}

/**
 * A kept-alive connection the server closed just as we reused it fails before
 * any response arrives ("other side closed"). A GET or HEAD without a body is
 * safe to send once more, on a fresh connection, as browsers do.
 */
function retryable(method: string, options: SendOptions, error: unknown): boolean {
  return (method === 'GET' || method === 'HEAD') && options.body === undefined && !options.signal?.aborted && connectionDropped(error);
}

/** The connection closed under a request before any answer: worth sending a GET or HEAD once more. */
export function connectionDropped(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE';
}

export interface Deadline {
  /** Aborts when the deadline passes (reason: a network_error naming CF_ACCESS_MCP_DEADLINE_MS) or when `outer` aborts. */
  signal?: RequestSignal;
  /** Stops the timer; call once the request and its body are done with. */
  dispose(): void;
}

const NO_DEADLINE = () => {};

/**
 * A total time limit for one request: connect, headers, every redirect and
 * the whole body. The per-step timeouts of the dispatcher alone never end a
 * body that keeps trickling in a byte at a time. `ms` of 0 means no deadline.
 */
export function startDeadline(ms: number, url: URL, outer?: AbortSignal): Deadline {
  if (!(ms > 0)) return { signal: outer, dispose: NO_DEADLINE };
  const signal = new RequestAbort();
  const onOuterAbort = () => signal.abort(outer!.reason);
  if (outer?.aborted) onOuterAbort();
  else outer?.addEventListener('abort', onOuterAbort, { once: true });
  const timer = setTimeout(() => signal.abort(deadlineError(ms, url)), ms);
  timer.unref();
  return {
    signal,
    dispose: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
    },
  };
}

function deadlineError(ms: number, url: URL): AccessError {
  const seconds = Math.round(ms / 100) / 10;
  return new AccessError(
    'network_error',
    `The request to ${url.host} did not finish within ${seconds} s (the total deadline, CF_ACCESS_MCP_DEADLINE_MS); it was stopped.`,
    `Try again later; if ${url.host} is just slow or the download is large, raise CF_ACCESS_MCP_DEADLINE_MS in the server's environment.`,
  );
}

export function networkError(error: unknown, url: URL): AccessError {
  if (error instanceof AccessError) return error;
  const where = url.host;
  const next = `Check that ${where} is reachable from this machine (VPN, proxy settings HTTPS_PROXY/NO_PROXY, NODE_EXTRA_CA_CERTS for a corporate CA), then try again.`;
  const slow = `Try again later; if ${where} is just slow, raise CF_ACCESS_MCP_TIMEOUT_MS in the server's environment.`;
  if (error instanceof undiciErrors.ConnectTimeoutError) {
    return new AccessError('network_error', `Connecting to ${where} timed out.`, `${next} To wait longer, raise CF_ACCESS_MCP_CONNECT_TIMEOUT_MS.`, { cause: error });
  }
  if (error instanceof undiciErrors.HeadersTimeoutError) {
    return new AccessError('network_error', `Timed out: ${where} did not answer in time (no response headers).`, slow, { cause: error });
  }
  if (error instanceof undiciErrors.BodyTimeoutError) {
    return new AccessError('network_error', `Timed out: ${where} stopped sending the response body.`, slow, { cause: error });
  }
  if (error instanceof undiciErrors.HeadersOverflowError) {
    return new AccessError('network_error', `${where} sent response headers larger than 64 KB; refusing them.`, 'This server is misbehaving; contact its owner.', { cause: error });
  }
  const message = error instanceof Error ? error.message : '';
  if (/proxy/i.test(message)) {
    return new AccessError(
      'network_error',
      `The proxy refused the request to ${where}: ${message}.`,
      'Check HTTPS_PROXY / HTTP_PROXY (and any credentials in the proxy URL), or list this host in NO_PROXY to go direct.',
      { cause: error },
    );
  }
  // After the proxy check: undici reports a proxy's 407 as an InvalidArgumentError too.
  // Refused before anything was sent (CONNECT, an expect header…): the caller's request, not the network.
  if (error instanceof undiciErrors.InvalidArgumentError || error instanceof undiciErrors.NotSupportedError) {
    return new AccessError('invalid_url', `The request to ${where} was not sent: ${error.message}.`, 'Check the method, headers and body of the request, then try again.', { cause: error });
  }
  // A content-length the body does not match: caught before sending for a body in hand, but a streamed body (the
  // proxy relaying an upload cut short) may have gone out in part, so the origin may have seen some of it.
  if (error instanceof undiciErrors.RequestContentLengthMismatchError) {
    return new AccessError(
      'invalid_url',
      `The request to ${where} was not sent completely: ${error.message}.`,
      "Check the request's headers (its content-length must match the body, or be left out) and whether the origin acted on a partial request, before sending it again.",
      { cause: error },
    );
  }
  if (error instanceof Error && error.name === 'AbortError') {
    return new AccessError('network_error', `The request to ${where} was cancelled.`, 'Call the tool again if you still need the result.', { cause: error });
  }
  const problem = connectionProblem(error, url);
  if (problem) return new AccessError('network_error', `Could not reach ${where}: ${problem.reason}.`, problem.nextStep, { cause: error });
  return new AccessError('network_error', `Could not reach ${where}: ${cleanErrorText((error as Error)?.message ?? String(error))}.`, next, { cause: error });
}

export interface CappedBody {
  buffer: Buffer;
  /** True when the body had more bytes than `maxBytes` and reading stopped. */
  truncated: boolean;
}

/**
 * Reads at most `maxBytes` of a body, then stops reading and closes the stream.
 * Plain 'data' events rather than an async iterator: no promise per chunk.
 */
export function readCapped(body: BodyStream, maxBytes: number, url: URL): Promise<CappedBody> {
  return new Promise((resolve, reject) => {
    if (body.destroyed) {
      reject(networkError(body.errored ?? new Error('the response body was closed before its end'), url));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const done = (truncated: boolean) => {
      if (settled) return;
      settled = true;
      body.off('data', onData);
      if (truncated) {
        body.on('error', () => {});
        body.destroy();
      }
      resolve({ buffer: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), truncated });
    };
    const onData = (chunk: Buffer) => {
      if (size + chunk.length > maxBytes) {
        chunks.push(chunk.subarray(0, maxBytes - size));
        size = maxBytes;
        done(true);
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
    };
    body.on('data', onData);
    body.once('end', () => done(false));
    body.once('error', (error) => {
      if (settled) return;
      settled = true;
      reject(networkError(error, url));
    });
    // A body destroyed without an error (aborted by our deadline) ends neither way: its signal's reason says why.
    body.once('close', () => {
      if (settled) return;
      settled = true;
      reject(networkError(body.errored ?? new Error('the response body was closed before its end'), url));
    });
  });
}

/**
 * Counts a body's bytes without keeping them, stopping once `maxBytes` is
 * passed (for binaries we only describe).
 */
export async function measureCapped(body: BodyStream, maxBytes: number, url: URL): Promise<{ bytes: number; truncated: boolean }> {
  let bytes = 0;
  try {
    for await (const chunk of body) {
      bytes += (chunk as Buffer).length;
      if (bytes > maxBytes) {
        body.destroy();
        return { bytes: maxBytes, truncated: true };
      }
    }
  } catch (error) {
    throw networkError(error, url);
  }
  return { bytes, truncated: false };
}

/** Discards a body we do not need, without reading a huge one to the end. */
export function discard(body: BodyStream): void {
  body.on('error', () => {});
  body.destroy();
}

export function headerValue(headers: HeaderMap, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}
