import { serveGit } from './git-http.js';
import { sendJson, type RequestContext } from './http-util.js';
import { serveMcp, serveMcpSse } from './mcp-server.js';
import { uploadSink } from './upload-sink.js';

/** What the bridges (local proxy, MCP bridge) are tested against; true when the path was one of them. */
export async function serveBridgeRoutes(ctx: RequestContext): Promise<boolean> {
  const path = ctx.url.pathname;
  if (path === '/mcp') await serveMcp(ctx);
  else if (path === '/mcp-resumable') await serveMcp(ctx, { resumable: true });
  else if (path === '/sse' || path === '/sse/messages') await serveMcpSse(ctx);
  else if (path === '/upload' && (ctx.req.method === 'POST' || ctx.req.method === 'PUT')) await uploadSink(ctx);
  else if (path.startsWith('/git/') && ctx.rt.options.gitRoot) await serveGit(ctx, ctx.rt.options.gitRoot);
  else if (path === '/mcp-oauth') {
    // An MCP server behind Access that also wants its own OAuth: out of scope for the bridge, which must say so.
    const metadata = `${ctx.url.origin}/.well-known/oauth-protected-resource/mcp-oauth`;
    sendJson(ctx, 401, { error: 'invalid_token' }, { 'www-authenticate': `Bearer resource_metadata="${metadata}"` });
  } else if (path === '/cookie') {
    // A cookie scoped to the origin's domain, and a redirect by absolute URL: both must stay on a proxy.
    ctx.res.writeHead(302, { location: `${ctx.url.origin}/echo?from=cookie`, 'set-cookie': [`pref=dark; Domain=${ctx.url.hostname}; Path=/; Secure; SameSite=None`], 'content-length': 0 });
    ctx.res.end();
  } else if (path === '/cookie/prefixed') {
    // Cookies whose names bind them to Secure (RFC 6265bis §4.1.3), then a redirect to the echo of what comes back.
    ctx.res.writeHead(302, {
      location: `${ctx.url.origin}/echo?from=prefixed`,
      'set-cookie': ['__Host-session=s3ss10n; Path=/; Secure; HttpOnly; SameSite=Lax', `__Secure-theme=dark; Domain=${ctx.url.hostname}; Path=/; Secure`],
      'content-length': 0,
    });
    ctx.res.end();
  } else return false;
  return true;
}
