import { sendJson, type RequestContext } from './http-util.js';

/** POST/PUT /upload: reads the body as it streams in and answers how many bytes came (nothing is kept). */
export async function uploadSink(ctx: RequestContext): Promise<void> {
  let bytes = 0;
  for await (const chunk of ctx.req) bytes += (chunk as Buffer).length;
  sendJson(ctx, 200, { bytes });
}
