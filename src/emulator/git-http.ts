import { spawn } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import { sendJson, writeHead, type RequestContext } from './http-util.js';

/** Splits a CGI response's header block from its body (the first blank line). */
function headerEnd(buf: Buffer): { end: number; skip: number } | undefined {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf !== -1 && (lf === -1 || crlf < lf)) return { end: crlf, skip: 4 };
  return lf === -1 ? undefined : { end: lf, skip: 2 };
}

/**
 * /git/<repo>/… on a protected app: real git smart HTTP (clone, fetch, push)
 * through `git http-backend` as a CGI, for the repositories under the
 * emulator's gitRoot. Bodies stream both ways.
 */
export async function serveGit(ctx: RequestContext, gitRoot: string): Promise<void> {
  const path = ctx.url.pathname.slice('/git'.length);
  if (path.split('/').includes('..')) return sendJson(ctx, 400, { error: 'bad_path' });
  const child = spawn('git', ['http-backend'], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      GIT_PROJECT_ROOT: gitRoot,
      GIT_HTTP_EXPORT_ALL: '1',
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: gitRoot,
      REMOTE_USER: 'emulator',
      REMOTE_ADDR: '127.0.0.1',
      REQUEST_METHOD: ctx.req.method ?? 'GET',
      PATH_INFO: path,
      QUERY_STRING: ctx.url.search.slice(1),
      CONTENT_TYPE: ctx.req.headers['content-type'] ?? '',
      ...(ctx.req.headers['content-length'] ? { CONTENT_LENGTH: ctx.req.headers['content-length'] } : {}),
      ...(ctx.req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: ctx.req.headers['content-encoding'] } : {}),
      GIT_PROTOCOL: String(ctx.req.headers['git-protocol'] ?? ''),
    },
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const input = pipeline(ctx.req, child.stdin).catch(() => {});
  const output = child.stdout;
  let head = Buffer.alloc(0);
  const split = await new Promise<{ end: number; skip: number } | undefined>((resolve) => {
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const found = headerEnd(head);
      if (!found) return;
      output.off('data', onData);
      output.pause();
      resolve(found);
    };
    output.on('data', onData);
    output.once('end', () => resolve(undefined));
  });
  if (!split) {
    await input;
    return sendJson(ctx, 502, { error: 'git_http_backend_failed' });
  }
  const headers: Record<string, string> = {};
  let status = 200;
  for (const line of head.subarray(0, split.end).toString('latin1').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'status') status = Number.parseInt(value, 10) || 200;
    else if (name) headers[name] = value;
  }
  writeHead(ctx, status, headers);
  ctx.res.write(head.subarray(split.end + split.skip));
  await pipeline(output, ctx.res);
  await input;
}
