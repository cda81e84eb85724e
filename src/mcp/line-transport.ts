import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/** A line longer than this is dropped, and the next one read. */
const MAX_LINE_BYTES = 10 * 1024 * 1024;
const NEWLINE = 0x0a;

/** A line the transport dropped. Its message says why, never what the line held (it may carry a credential). */
export class DroppedLine extends Error {}

/**
 * MCP over stdio: one JSON-RPC message per line, as the SDK's
 * StdioServerTransport reads and writes it, without its schema parse of
 * every message. The SDK's Protocol classifies each message again with its own
 * schema checks the moment it arrives, so the transport's parse (a copy of the
 * whole message, about a tenth of a warm fetch's time beyond a bare tool's;
 * README "per call") checked nothing the Protocol does not. Here a line only
 * has to be a JSON object of JSON-RPC 2.0; anything else goes to onerror as a
 * DroppedLine and the next line is read.
 */
export class LineTransport implements Transport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;

  /** The start of a line still waiting for its newline: one buffer grown by doubling, so a line trickling in byte by byte costs neither a buffer per byte nor a copy of the whole per byte. */
  private partial: Buffer = Buffer.alloc(0);
  private partialBytes = 0;
  /** Set while the rest of a line that was too long is skipped. */
  private skipping = false;
  private started = false;

  constructor(
    private readonly input: NodeJS.ReadableStream = process.stdin,
    private readonly output: NodeJS.WritableStream = process.stdout,
    private readonly maxLineBytes = MAX_LINE_BYTES,
  ) {}

  async start(): Promise<void> {
    if (this.started) throw new Error('LineTransport already started.');
    this.started = true;
    this.input.on('data', this.onData);
    this.input.on('end', this.onEnd);
    this.input.on('error', this.onInputError);
  }

  /** Resolves once the line is handed to the output, or the output is gone (nothing more can be done for it then). */
  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve) => {
      if (this.output.write(`${JSON.stringify(message)}\n`)) return resolve();
      const settle = () => {
        this.output.off('drain', settle);
        this.output.off('close', settle);
        this.output.off('error', settle);
        resolve();
      };
      this.output.on('drain', settle);
      this.output.on('close', settle);
      this.output.on('error', settle);
    });
  }

  async close(): Promise<void> {
    this.input.off('data', this.onData);
    this.input.off('end', this.onEnd);
    this.input.off('error', this.onInputError);
    if (this.input.listenerCount('data') === 0) this.input.pause();
    this.clearPartial();
    this.onclose?.();
  }

  private readonly onInputError = (error: Error) => this.report(error);

  private readonly onData = (chunk: Buffer | string) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (let end = bytes.indexOf(NEWLINE); end !== -1; end = bytes.indexOf(NEWLINE, start)) {
      const tail = bytes.subarray(start, end);
      start = end + 1;
      if (this.skipping) {
        this.skipping = false;
        continue;
      }
      const line = this.partialBytes ? Buffer.concat([this.partial.subarray(0, this.partialBytes), tail]) : tail;
      this.clearPartial();
      if (line.length > this.maxLineBytes) this.tooLong();
      else this.deliver(line);
    }
    if (start < bytes.length && !this.skipping) this.keep(bytes.subarray(start));
  };

  /** A last line without its newline still counts once the input ends. */
  private readonly onEnd = () => {
    if (this.skipping || !this.partialBytes) return;
    const line = Buffer.from(this.partial.subarray(0, this.partialBytes));
    this.clearPartial();
    this.deliver(line);
  };

  private keep(rest: Buffer): void {
    const needed = this.partialBytes + rest.length;
    if (needed > this.maxLineBytes) {
      this.clearPartial();
      this.skipping = true;
      this.tooLong();
      return;
    }
    if (needed > this.partial.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.maxLineBytes, Math.max(needed, this.partial.length * 2, 4096)));
      this.partial.copy(grown, 0, 0, this.partialBytes);
      this.partial = grown;
    }
    // A copy: `rest` shares the stream's chunk, which must not be held on to.
    rest.copy(this.partial, this.partialBytes);
    this.partialBytes = needed;
  }

  private clearPartial(): void {
    this.partialBytes = 0;
    // A long line's buffer is not kept for the life of the process.
    if (this.partial.length > 64 * 1024) this.partial = Buffer.alloc(0);
  }

  private tooLong(): void {
    this.report(new DroppedLine(`A message longer than ${this.maxLineBytes} bytes was dropped.`));
  }

  private deliver(line: Buffer): void {
    let text = line.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (text.trim() === '') return;
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      // Not JSON.parse's own message: it quotes the line.
      this.report(new DroppedLine('A line that is not JSON was dropped.'));
      return;
    }
    if (!isJsonRpc(message)) {
      this.report(new DroppedLine('A line that is not a JSON-RPC 2.0 message was dropped.'));
      return;
    }
    const problem = requestProblem(message);
    if (problem) {
      // The Protocol would drop it without a word, and the client would wait for its answer until it gives up.
      void this.send({ jsonrpc: '2.0', id: (message as { id: string | number }).id, error: { code: INVALID_REQUEST, message: `Invalid Request: ${problem}` } });
      this.report(new DroppedLine(`A request that is not valid JSON-RPC was answered with an error: ${problem}`));
      return;
    }
    try {
      this.onmessage?.(message);
    } catch (error) {
      // As the SDK's transport: a message that cannot be handled is reported, and the next line is read.
      this.report(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** onerror, which must not end the process from inside a stdin event either. */
  private report(error: Error): void {
    try {
      this.onerror?.(error);
    } catch {
      // Nothing more to tell anyone.
    }
  }
}

const INVALID_REQUEST = -32600;
const REQUEST_MEMBERS = new Set(['jsonrpc', 'id', 'method', 'params']);
const isObject = (value: unknown) => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * What makes a request (a method and an id to answer) one the SDK's Protocol will not take: members JSON-RPC does not
 * have, params or _meta that are not objects. Checked without a schema; a subtler fault is left to the Protocol.
 */
function requestProblem(message: JSONRPCMessage): string | undefined {
  const { id, method, params } = message as { id?: unknown; method?: unknown; params?: unknown };
  if (typeof method !== 'string' || !(typeof id === 'string' || Number.isInteger(id))) return undefined;
  for (const key in message) if (!REQUEST_MEMBERS.has(key)) return 'a request has only jsonrpc, id, method and params.';
  if (params === undefined) return undefined;
  if (!isObject(params)) return 'params must be an object.';
  const meta = (params as { _meta?: unknown })._meta;
  if (meta === undefined) return undefined;
  if (!isObject(meta)) return 'params._meta must be an object.';
  // The progress notifications would repeat it; the SDK's Protocol would have dropped the request.
  const token = (meta as { progressToken?: unknown }).progressToken;
  return token === undefined || typeof token === 'string' || Number.isSafeInteger(token) ? undefined : 'params._meta.progressToken must be a string or a whole number.';
}

function isJsonRpc(value: unknown): value is JSONRPCMessage {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && (value as { jsonrpc?: unknown }).jsonrpc === '2.0';
}
