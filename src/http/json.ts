import type { Dispatcher } from 'undici';
import type { z } from 'zod';
import { AccessError } from '../core/errors.js';
import { summarizeIssues } from '../auth/schemas.js';
import { headerValue, readCapped, send, startDeadline, type HeaderMap, type RequestSignal } from './client.js';

const MAX_JSON_BYTES = 1024 * 1024;

/** What JSON calls (metadata, registration, token, keys) go through: a pool, and the total deadline of each call. */
export interface JsonClient {
  dispatcher: Dispatcher;
  /** Milliseconds one call may take in all (CF_ACCESS_MCP_DEADLINE_MS); 0: no total deadline. */
  deadlineMs: number;
}

export interface JsonResponse {
  status: number;
  headers: HeaderMap;
  /** Parsed JSON, or undefined when the body was not JSON. */
  json: unknown;
}

export interface JsonRequest {
  method?: 'GET' | 'POST';
  form?: Record<string, string | undefined>;
  json?: unknown;
  signal?: AbortSignal;
}

/**
 * A small JSON API call (metadata, registration, token). Bodies are capped at
 * 1 MB, and the whole call at the client's total deadline: the per-chunk
 * timeouts alone never end a body trickling in a byte at a time, and these
 * calls run on the way to a login, where nothing else bounds them.
 */
export async function requestJson(client: JsonClient, url: URL, init: JsonRequest = {}): Promise<JsonResponse> {
  const deadline = startDeadline(client.deadlineMs, url, init.signal);
  try {
    return await exchangeJson(client.dispatcher, url, init, deadline.signal);
  } finally {
    deadline.dispose();
  }
}

async function exchangeJson(dispatcher: Dispatcher, url: URL, init: JsonRequest, signal: RequestSignal | undefined): Promise<JsonResponse> {
  const headers: Record<string, string> = { accept: 'application/json' };
  let body: string | undefined;
  if (init.form) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(init.form)) if (v !== undefined) params.set(k, v);
    body = params.toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else if (init.json !== undefined) {
    body = JSON.stringify(init.json);
    headers['content-type'] = 'application/json';
  }
  const response = await send(dispatcher, url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, signal });
  const { buffer, truncated } = await readCapped(response.body, MAX_JSON_BYTES, url);
  let json: unknown;
  if (!truncated && buffer.length > 0) {
    try {
      json = JSON.parse(buffer.toString('utf8'));
    } catch {
      json = undefined;
    }
  }
  return { status: response.status, headers: response.headers, json };
}

/** Validates a JSON document with zod, turning failure into a clear AccessError. */
export function parseWith<T extends z.ZodType>(schema: T, value: unknown, what: string, url: URL, nextStep: string): z.infer<T> {
  if (value === undefined) {
    throw new AccessError('invalid_metadata', `${what} from ${url.host} is not valid JSON.`, nextStep);
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new AccessError('invalid_metadata', `${what} from ${url.host} is malformed (${summarizeIssues(result.error)}).`, nextStep);
  }
  return result.data;
}

export function contentTypeOf(headers: HeaderMap): string {
  return (headerValue(headers, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}
