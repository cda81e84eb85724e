import { setTimeout as sleep } from 'node:timers/promises';
import { isFaultEndpoint } from './faults.js';
import { send, sendJson, type RequestContext } from './http-util.js';

const DEFAULT_DELAY_MS = 30_000;

/**
 * Names the request's endpoint in the log and applies an active fault for it.
 * Returns true when the fault already answered (or dropped) the request.
 */
export async function enterEndpoint(ctx: RequestContext, endpoint: string): Promise<boolean> {
  ctx.entry.endpoint = endpoint;
  if (!isFaultEndpoint(endpoint)) return false;
  const fault = ctx.rt.faults.take(endpoint);
  if (!fault) return false;
  ctx.fault = fault;
  switch (fault.kind) {
    case '5xx':
      sendJson(ctx, 503, { error: 'temporarily_unavailable', error_description: 'Injected fault' });
      return true;
    case 'drop':
      ctx.req.socket.destroy();
      return true;
    case 'malformed_json':
      send(ctx, 200, { 'content-type': 'application/json' }, '{"resource": "http://');
      return true;
    case 'delay':
      try {
        await sleep(fault.delayMs ?? DEFAULT_DELAY_MS, undefined, { signal: ctx.signal });
      } catch {
        ctx.req.socket.destroy();
        return true;
      }
      return false;
    default:
      return false;
  }
}
