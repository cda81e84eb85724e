import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { isAccessError } from '../core/errors.js';
import { redactSecrets } from '../core/redact.js';
import { isLoginPending } from '../service/pending.js';

export interface Refusal {
  status: number;
  error: string;
  message: string;
  next_step: string;
  login_url?: string;
  expires_at?: string;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function wantsHtml(req: IncomingMessage): boolean {
  return /\btext\/html\b/i.test(req.headers.accept ?? '');
}

/** Why the proxy could not forward: JSON for programs, a small page for a browser. Never a token (every text is redacted). */
export function sendRefusal(req: IncomingMessage, res: ServerResponse, refusal: Refusal): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const safe = Object.fromEntries(Object.entries(refusal).map(([k, v]) => [k, typeof v === 'string' ? redactSecrets(v) : v])) as unknown as Refusal;
  const headers: Record<string, string> = { 'cache-control': 'no-store', 'x-cf-access-mcp': safe.error };
  if (safe.status === 503) headers['retry-after'] = safe.error === 'login_pending' ? '5' : '0';
  if (wantsHtml(req)) {
    const link = safe.login_url ? `<p><a href="${escapeHtml(safe.login_url)}">Sign in to Cloudflare Access</a></p>` : '';
    const body = `<!doctype html><meta charset="utf-8"><title>cf-access-mcp proxy</title><h1>${escapeHtml(safe.message)}</h1>${link}<p>${escapeHtml(safe.next_step)}</p>\n`;
    res.writeHead(safe.status, { ...headers, 'content-type': 'text/html; charset=utf-8' }).end(body);
    return;
  }
  const { status: _status, ...body } = safe;
  res.writeHead(safe.status, { ...headers, 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
}

/** The same refusal on a raw socket (a WebSocket upgrade that cannot go through). */
export function refuseSocket(socket: Socket, refusal: Refusal): void {
  socket.on('error', () => socket.destroy());
  const body = `${JSON.stringify({ error: refusal.error, message: redactSecrets(refusal.message), next_step: redactSecrets(refusal.next_step), login_url: refusal.login_url })}\n`;
  socket.end(`HTTP/1.1 ${refusal.status} Refused\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

/** A login that is not done in time, or any other failure of getting a credential, as the refusal the waiting client gets. */
export function refusalFor(error: unknown): Refusal {
  if (isLoginPending(error)) {
    const p = error.pending;
    return { status: 503, error: 'login_pending', message: p.message, next_step: `${p.next_step} Then repeat the request.`, login_url: p.login_url, expires_at: p.expires_at };
  }
  if (isAccessError(error)) return { status: 502, error: error.code, message: error.message, next_step: error.nextStep };
  return { status: 502, error: 'proxy_error', message: `The proxy could not reach the origin: ${(error as Error)?.message ?? String(error)}`, next_step: 'Check that the application is up, then repeat the request.' };
}

export function foreignHost(host: string | undefined, own: string): Refusal {
  return {
    status: 421,
    error: 'foreign_host',
    message: `This proxy answers only for ${own}, not for the Host "${(host ?? '').slice(0, 100)}" (a page on another name must not reach it: DNS rebinding).`,
    next_step: `Send the request to http://${own}/.`,
  };
}

export function crossSite(origin: string | undefined): Refusal {
  const from = origin === undefined ? 'a page of another site' : `a page of ${origin.slice(0, 100)}`;
  return {
    status: 403,
    error: 'cross_site_request',
    message: `This proxy refuses requests made by web pages of other sites (this one came from ${from}): a page open in a browser must not reach the Access application with your credential.`,
    next_step: 'Use the proxy from local programs (curl, git, scripts, test runners), or from pages served through the proxy itself or from another local address (127.0.0.1, localhost).',
  };
}

export function notOriginForm(origin: string): Refusal {
  return {
    status: 400,
    error: 'not_an_open_proxy',
    message: `This proxy forwards only to ${origin}; a request for another address (absolute-form or CONNECT) is refused.`,
    next_step: 'Request a path on the proxy itself (http://127.0.0.1:<port>/path), not a full URL.',
  };
}

export function headerConflict(name: string, origin: string): Refusal {
  return {
    status: 409,
    error: 'credential_header_conflict',
    message: `The request carries its own ${name} header, but the Access credential for ${origin} travels in that header: it would have to be replaced, and the proxy never drops a header of yours silently.`,
    next_step:
      name === 'authorization'
        ? 'Remove the Authorization header, or use a credential that travels in its own headers: a service token (CF_ACCESS_CLIENT_ID/SECRET with CF_ACCESS_SERVICE_TOKEN_HOSTS) or a cloudflared session (access_login with method "cloudflared").'
        : `Remove the ${name} header: the proxy adds the Access credential itself.`,
  };
}

export function replayImpossible(origin: string): Refusal {
  return {
    status: 503,
    error: 'credential_renewed',
    message: `Access refused the credential for ${origin} while the request body was being sent; the credential has been renewed, but a streamed body cannot be sent twice.`,
    next_step: 'Repeat the request.',
  };
}
