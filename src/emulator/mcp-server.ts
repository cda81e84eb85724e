import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { z } from 'zod';
import { memoryEventStore } from './event-store.js';
import { sendJson, type RequestContext } from './http-util.js';
import type { Runtime } from './runtime.js';
import type { McpRestartOptions } from './types.js';

/** A small MCP server: echo, a tool that reports progress, one that asks the user (elicitation), one that lists the client's roots. */
function remoteMcpServer(rt: Runtime): McpServer {
  const server = new McpServer({ name: 'emulator-remote-mcp', version: '1.0.0' }, { capabilities: { logging: {} }, instructions: 'The emulator\'s remote MCP server.' });
  // echo, count and roots only read: a client may call them again (readOnlyHint); sleep and ask say nothing, so a bridge must not repeat them.
  server.registerTool('echo', { description: 'Echoes the text back.', inputSchema: { text: z.string() }, annotations: { readOnlyHint: true } }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
  server.registerTool(
    'count',
    { description: 'Counts to `steps`, one step every 50 ms, sending a progress notification for each step.', inputSchema: { steps: z.number().int().min(1).max(100) }, annotations: { readOnlyHint: true } },
    async ({ steps }, extra) => {
      const token = extra._meta?.progressToken;
      for (let i = 1; i <= steps; i++) {
        // Work between the notes, as a real long call has: a result sent in the same breath as its last
        // progress may reach an SDK client in one read, and the SDK settles the call before the progress.
        await new Promise((resolve) => setTimeout(resolve, 50));
        if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: steps, message: `step ${i}` } });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      return { content: [{ type: 'text', text: `counted to ${steps}` }] };
    },
  );
  server.registerTool('ask', { description: 'Asks the user a question (form elicitation) and returns the answer.', inputSchema: { question: z.string() } }, async ({ question }) => {
    const answer = await server.server.elicitInput({
      mode: 'form',
      message: question,
      requestedSchema: { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] },
    });
    const text = answer.action === 'accept' ? `answer: ${String(answer.content?.answer)}` : `the user chose ${answer.action}`;
    return { content: [{ type: 'text', text }] };
  });
  server.registerTool('sleep', { description: 'Waits until cancelled (or `ms` pass); a cancellation is logged as endpoint "mcp_cancelled".', inputSchema: { ms: z.number().int().min(0).max(600_000) } }, async ({ ms }, extra) => {
    const cancelled = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      extra.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve(true);
      }, { once: true });
    });
    if (cancelled) rt.log.push({ time: Date.now(), origin: 'app', endpoint: 'mcp_cancelled', method: 'MCP', path: '/mcp', status: 0, headers: {} });
    return { content: [{ type: 'text', text: cancelled ? 'cancelled' : `slept ${ms} ms` }] };
  });
  // Not marked read-only: a bridge that took the ended stream for a lost answer would run it twice or report it lost.
  server.registerTool(
    'resume',
    {
      description:
        'Ends its own answer stream once (on /mcp-resumable only: the client resumes it with Last-Event-ID), then answers; with end_session, ends every session instead (a restart: the stream cannot be resumed). Each run is logged as endpoint "mcp_resume".',
      inputSchema: { end_session: z.boolean().optional() },
    },
    async ({ end_session }, extra) => {
      rt.log.push({ time: Date.now(), origin: 'app', endpoint: 'mcp_resume', method: 'MCP', path: '/mcp-resumable', status: 0, headers: {} });
      if (!extra.closeSSEStream) return { content: [{ type: 'text', text: 'this stream is not resumable' }], isError: true };
      extra.closeSSEStream();
      if (end_session) {
        await endMcpSessions(rt);
        return { content: [{ type: 'text', text: 'never delivered: the session ended' }] };
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      return { content: [{ type: 'text', text: 'answered on the resumed stream' }] };
    },
  );
  server.registerTool('roots', { description: 'Lists the client\'s roots.', inputSchema: {}, annotations: { readOnlyHint: true } }, async () => {
    const { roots } = await server.server.listRoots();
    return { content: [{ type: 'text', text: roots.map((r) => r.uri).join('\n') || '(no roots)' }] };
  });
  return server;
}

const sessions = new WeakMap<Runtime, Map<string, Transport>>();
/** Sessions of /mcp-resumable: a session lives on the endpoint that made it, as on two separate servers. */
const resumableSessions = new WeakSet<Transport>();

function sessionsOf(rt: Runtime): Map<string, Transport> {
  let map = sessions.get(rt);
  if (!map) sessions.set(rt, (map = new Map()));
  return map;
}

/** New sessions still to refuse with 503, per emulator (a restart not finished yet). */
const refusals = new WeakMap<Runtime, number>();

/**
 * Closes every session, as a restart does: Streamable HTTP ones (their ids
 * get 404 after it) and HTTP+SSE ones (their event streams end, their message
 * URLs get 404). `refuseInitializes`: that many new sessions after it get 503
 * (an initialize POST, or the GET of an event stream), as a server still
 * starting up answers. `keepStreams`: the sessions are forgotten but their
 * event streams stay open, as when another instance behind a load balancer,
 * which never saw the session, answers its messages.
 */
export async function endMcpSessions(rt: Runtime, options: McpRestartOptions = {}): Promise<void> {
  refusals.set(rt, options.refuseInitializes ?? 0);
  const map = sessionsOf(rt);
  for (const [id, transport] of [...map]) {
    map.delete(id);
    if (!options.keepStreams) await transport.close();
  }
}

/** Whether a new session is refused (503) because the "restart" is not finished; counts the refusal. */
function stillStarting(ctx: RequestContext): boolean {
  const refuse = refusals.get(ctx.rt) ?? 0;
  if (refuse <= 0) return false;
  refusals.set(ctx.rt, refuse - 1);
  sendJson(ctx, 503, { error: 'starting_up' });
  return true;
}

/**
 * /mcp (Streamable HTTP) on a protected app, once authenticated. On
 * /mcp-resumable the session keeps its events (every event has an id) and may
 * end an answer stream early, for the client to resume it with Last-Event-ID.
 */
export async function serveMcp(ctx: RequestContext, { resumable = false } = {}): Promise<void> {
  const map = sessionsOf(ctx.rt);
  const id = ctx.req.headers['mcp-session-id'];
  const existing = typeof id === 'string' ? map.get(id) : undefined;
  if (existing instanceof StreamableHTTPServerTransport && resumableSessions.has(existing) === resumable) return existing.handleRequest(ctx.req, ctx.res);
  if (ctx.req.method !== 'POST' || id !== undefined) return sendJson(ctx, 404, { jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
  if (stillStarting(ctx)) return;
  const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    onsessioninitialized: (sessionId) => void map.set(sessionId, transport),
    ...(resumable ? { eventStore: memoryEventStore(), retryInterval: 50 } : {}),
  });
  if (resumable) resumableSessions.add(transport);
  transport.onclose = () => {
    if (transport.sessionId) map.delete(transport.sessionId);
  };
  await remoteMcpServer(ctx.rt).connect(transport);
  await transport.handleRequest(ctx.req, ctx.res);
}

/** /sse (GET, the event stream) and /sse/messages (POST) on a protected app: the older HTTP+SSE transport. */
export async function serveMcpSse(ctx: RequestContext): Promise<void> {
  const map = sessionsOf(ctx.rt);
  if (ctx.req.method === 'GET' && ctx.url.pathname === '/sse') {
    if (stillStarting(ctx)) return;
    const transport = new SSEServerTransport('/sse/messages', ctx.res);
    map.set(transport.sessionId, transport);
    transport.onclose = () => void map.delete(transport.sessionId);
    await remoteMcpServer(ctx.rt).connect(transport);
    return;
  }
  const transport = map.get(ctx.url.searchParams.get('sessionId') ?? '');
  if (ctx.req.method === 'POST' && transport instanceof SSEServerTransport) return transport.handlePostMessage(ctx.req, ctx.res);
  sendJson(ctx, 404, { error: 'unknown_session' });
}
