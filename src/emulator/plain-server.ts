import { echo } from './content.js';
import { enterEndpoint } from './endpoint.js';
import { sendHtml, type RequestContext } from './http-util.js';
import { notFoundPage, plainHomePage } from './pages.js';

/** The unprotected origin: lets tests prove no credential follows a cross-origin redirect. */
export async function handlePlain(ctx: RequestContext): Promise<void> {
  await enterEndpoint(ctx, 'plain');
  const path = ctx.url.pathname;
  if (path === '/echo') return echo(ctx);
  if (path === '/') return sendHtml(ctx, 200, plainHomePage());
  sendHtml(ctx, 404, notFoundPage(path));
}
