import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/** A line longer than this is dropped (the SDK's stdio transport has the same bound). */
const MAX_LINE_BYTES = 10 * 1024 * 1024;
const NEWLINE = 0x0a;

/**
 * MCP over stdio: one JSON-RPC message per line, as the SDK's
 * StdioServerTransport reads and writes it, without its schema parse of
 * every message. The SDK's Protocol classifies each message again with its own
 * schema checks the moment it arrives, so the transport's parse (a copy of the
 * whole message, about a tenth of a warm fetch's time beyond a bare tool's;
 * README "per call") checked nothing the Protocol does not. Here a line only
 * has to be a JSON object of JSON-RPC 2.0; anything else goes to onerror and the
 * next line is read, as with the SDK's transport.
 */
export class LineTransport implements Transport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;

  private pending: Buffer[] = [];
  private pendingBytes = 0;
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
    this.input.on('error', this.onInputError);
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve) => {
      if (this.output.write(`${JSON.stringify(message)}\n`)) resolve();
      else this.output.once('drain', resolve);
    });
  }

  async close(): Promise<void> {
    this.input.off('data', this.onData);
    this.input.off('error', this.onInputError);
    if (this.input.listenerCount('data') === 0) this.input.pause();
    this.pending = [];
    this.pendingBytes = 0;
    this.onclose?.();
  }

  private readonly onInputError = (error: Error) => this.onerror?.(error);

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
      const line = this.pending.length ? Buffer.concat([...this.pending, tail]) : tail;
      this.pending = [];
      this.pendingBytes = 0;
      if (line.length > this.maxLineBytes) this.tooLong();
      else this.deliver(line);
    }
    if (start >= bytes.length || this.skipping) return;
    const rest = bytes.subarray(start);
    this.pendingBytes += rest.length;
    if (this.pendingBytes > this.maxLineBytes) {
      this.pending = [];
      this.pendingBytes = 0;
      this.skipping = true;
      this.tooLong();
    } else {
      // A copy: `rest` shares the stream's chunk, which must not be held on to.
      this.pending.push(Buffer.from(rest));
    }
  };

  private tooLong(): void {
    this.onerror?.(new Error(`A message longer than ${this.maxLineBytes} bytes was dropped.`));
  }

  private deliver(line: Buffer): void {
    let text = line.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (text.trim() === '') return;
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch (error) {
      this.onerror?.(new Error(`A line that is not JSON was dropped: ${(error as Error).message}`));
      return;
    }
    if (!isJsonRpc(message)) {
      this.onerror?.(new Error('A line that is not a JSON-RPC 2.0 message was dropped.'));
      return;
    }
    this.onmessage?.(message);
  }
}

function isJsonRpc(value: unknown): value is JSONRPCMessage {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && (value as { jsonrpc?: unknown }).jsonrpc === '2.0';
}
