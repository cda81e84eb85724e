import type { OutgoingHttpHeaders } from 'node:http';
import type { Fault, FaultEndpoint } from './types.js';

const FAULT_ENDPOINTS: ReadonlySet<string> = new Set<FaultEndpoint>([
  'resource_metadata',
  'server_metadata',
  'registration',
  'authorize',
  'token',
  'revoke',
  'probe',
  'resource',
]);

export function isFaultEndpoint(endpoint: string): endpoint is FaultEndpoint {
  return FAULT_ENDPOINTS.has(endpoint);
}

/** Holds the one active fault and counts down its `times`. */
export class FaultSwitch {
  private current: Fault | null = null;

  set(fault: Fault | null): void {
    this.current = fault && (fault.times === undefined || fault.times > 0) ? { ...fault } : null;
  }

  get(): Fault | null {
    return this.current ? { ...this.current } : null;
  }

  take(endpoint: string): Fault | undefined {
    const fault = this.current;
    if (!fault || fault.endpoint !== endpoint) return undefined;
    if (fault.times !== undefined) {
      fault.times -= 1;
      if (fault.times <= 0) this.current = null;
    }
    return { ...fault };
  }
}

export const HUGE_HEADER_BYTES = 64 * 1024;
export const HUGE_BODY_BYTES = 50 * 1024 * 1024;
const HUGE_BODY_PREFIX = Buffer.from('{"padding":"');
const HUGE_BODY_SUFFIX = Buffer.from('"}');

export function hugeHeaderValue(): string {
  return 'x'.repeat(HUGE_HEADER_BYTES);
}

/** One slice of a JSON-looking body `{"padding":"xxxx…"}` that is `total` bytes long. */
export function hugeBodyChunk(offset: number, size: number, total: number): Buffer {
  const chunk = Buffer.alloc(size, 'x');
  if (offset < HUGE_BODY_PREFIX.length) HUGE_BODY_PREFIX.copy(chunk, 0, offset);
  const suffixStart = total - HUGE_BODY_SUFFIX.length;
  if (offset + size > suffixStart) {
    const from = Math.max(suffixStart, offset);
    HUGE_BODY_SUFFIX.copy(chunk, from - offset, from - suffixStart);
  }
  return chunk;
}

const OTHER_HOST = 'https://other.example.net';

/** Reshapes a JSON response body the way the active fault asks; other faults leave it alone. */
export function faultedJson(fault: Fault, body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  switch (fault.kind) {
    case 'missing_fields':
      for (const field of MISSING_FIELDS[fault.endpoint] ?? []) delete out[field];
      break;
    case 'metadata_other_origin':
      if ('resource' in out) out.resource = 'https://evil.example.com';
      break;
    case 'http_authorization_server':
      if ('authorization_servers' in out) out.authorization_servers = ['http://auth.evil.example.com'];
      break;
    case 'authorization_server_other_host':
      for (const [key, value] of Object.entries(out)) {
        if (key.endsWith('_endpoint') && typeof value === 'string') {
          const url = new URL(value);
          out[key] = OTHER_HOST + url.pathname + url.search;
        }
      }
      break;
    case 'no_access_token':
      delete out.access_token;
      break;
    case 'registration_off':
      delete out.registration_endpoint;
      break;
    default:
      break;
  }
  return out;
}

/** The probe's required field lives in a header: missing_fields drops resource_metadata from its challenge. */
export function faultedHeaders(fault: Fault, headers: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ...headers };
  const challenge = out['www-authenticate'];
  if (fault.kind === 'missing_fields' && fault.endpoint === 'probe' && typeof challenge === 'string') {
    out['www-authenticate'] = challenge.replace(/,?\s*resource_metadata="[^"]*"/i, '');
  }
  return out;
}

const MISSING_FIELDS: Partial<Record<FaultEndpoint, string[]>> = {
  resource_metadata: ['authorization_servers', 'resource'],
  server_metadata: ['authorization_endpoint', 'token_endpoint'],
  registration: ['client_id'],
  token: ['access_token'],
  probe: ['resource_metadata'],
};
