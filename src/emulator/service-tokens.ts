import type { IncomingMessage } from 'node:http';
import { header } from './http-util.js';
import type { Runtime } from './runtime.js';

export type ServiceTokenCheck = 'none' | 'valid' | 'unknown_id' | 'wrong_secret';

interface Attempt {
  id: string | undefined;
  secret: string | undefined;
}

function singleHeaderAttempt(raw: string): Attempt | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined; // e.g. "Bearer …" in a shared Authorization header: not a service token
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const fields = parsed as Record<string, unknown>;
  // Access only reads the lowercase keys.
  const id = fields['cf-access-client-id'];
  const secret = fields['cf-access-client-secret'];
  return { id: typeof id === 'string' ? id : undefined, secret: typeof secret === 'string' ? secret : undefined };
}

/** Looks for service token credentials in the CF-Access-Client-* headers and the optional single header. */
export function checkServiceToken(rt: Runtime, req: IncomingMessage): ServiceTokenCheck {
  const attempts: Attempt[] = [];
  const id = header(req, 'cf-access-client-id');
  const secret = header(req, 'cf-access-client-secret');
  if (id !== undefined || secret !== undefined) attempts.push({ id, secret });
  const single = rt.options.serviceTokenHeader;
  if (single) {
    const raw = header(req, single);
    const attempt = raw === undefined ? undefined : singleHeaderAttempt(raw);
    if (attempt) attempts.push(attempt);
  }
  if (attempts.length === 0) return 'none';
  const results = attempts.map((attempt): ServiceTokenCheck => {
    const token = rt.options.serviceTokens.find((t) => t.clientId === attempt.id);
    if (!token) return 'unknown_id';
    return token.clientSecret === attempt.secret ? 'valid' : 'wrong_secret';
  });
  return results.includes('valid') ? 'valid' : (results[0] ?? 'none');
}
