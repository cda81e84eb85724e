import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  body: unknown;
}

export type Handler = (request: RecordedRequest, res: ServerResponse) => void;

/** A scripted model endpoint on 127.0.0.1 (not an LLM): records every request and answers through `handler`. */
export class ScriptedEndpoint {
  readonly requests: RecordedRequest[] = [];
  private constructor(private readonly server: Server, readonly url: string) {}

  static async start(handler: Handler): Promise<ScriptedEndpoint> {
    let endpoint: ScriptedEndpoint | undefined;
    const server = createServer((req, res) => {
      void readJson(req).then((body) => {
        const request: RecordedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', body };
        endpoint?.requests.push(request);
        try {
          handler(request, res);
        } catch (error) {
          res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(error) }));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    endpoint = new ScriptedEndpoint(server, `http://127.0.0.1:${port}`);
    return endpoint;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return { unparsed: text };
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** Server-sent events; `event` lines only when a name is given (Anthropic names them, OpenAI and Gemini do not). */
export function sendEvents(res: ServerResponse, events: Array<{ event?: string; data: unknown }>, done?: string): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const { event, data } of events) res.write(`${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`);
  if (done) res.write(`data: ${done}\n\n`);
  res.end();
}
