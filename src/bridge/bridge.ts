import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { isJSONRPCRequest, isJSONRPCResultResponse, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { describeError } from '../core/errors.js';
import { redactSecrets } from '../core/redact.js';
import { createDispatcher } from '../http/client.js';
import type { AccessService } from '../service/access-service.js';
import { accessFetch } from './access-fetch.js';

export interface BridgeOptions {
  /** Where the bridge says what it is doing (stderr; stdout is the MCP protocol). */
  say: (line: string) => void;
  /** Seconds a sign-in may take (at start-up and if a renewal needs one). */
  loginWaitSeconds: number;
}

/** Statuses after which the SDK's guidance is to try the older HTTP+SSE transport. */
/** See toLocal. */
const RESPONSE_AFTER_NOTIFICATION_MS = 5;

const FALLBACK_STATUSES = new Set([400, 404, 405]);

/**
 * Forwards every JSON-RPC message between a local stdio transport and a remote
 * MCP server behind Access, unchanged, both ways: requests, responses,
 * notifications (progress, cancellation, logging, list changes) and the
 * remote's own requests (elicitation, sampling, roots). The remote's
 * capabilities and tools reach the client as the remote states them.
 */
export class McpBridge {
  private remote: Transport | undefined;
  private connecting: Promise<Transport> | undefined;
  private output: Promise<unknown> = Promise.resolve();
  private lastWasNotification = false;
  private readonly initializeIds = new Set<string | number>();
  private readonly fetch;

  constructor(
    private readonly svc: AccessService,
    private readonly target: URL,
    private readonly local: Transport,
    private readonly options: BridgeOptions,
  ) {
    const c = svc.config;
    const dispatcher = createDispatcher({ connectMs: c.connectTimeoutMs, headersMs: c.responseTimeoutMs, bodyMs: 0 });
    this.fetch = accessFetch(svc, target, {
      waitSeconds: options.loginWaitSeconds,
      dispatcher,
      hooks: { onLoginUrl: (login) => options.say(`Sign in to Cloudflare Access for ${login.origin}: ${login.authorizationUrl}`) },
      onRenew: (url) => options.say(`Access asked for a new credential for ${url.origin}; renewing it and repeating the request.`),
    });
  }

  async start(): Promise<void> {
    this.local.onmessage = (message) => void this.toRemote(message);
    this.local.onclose = () => void this.close();
    this.local.onerror = (error) => this.options.say(`stdio: ${error.message}`);
    await this.local.start();
  }

  async close(): Promise<void> {
    await this.remote?.close().catch(() => {});
    this.remote = undefined;
  }

  private async toRemote(message: JSONRPCMessage): Promise<void> {
    if (isJSONRPCRequest(message) && message.method === 'initialize') this.initializeIds.add(message.id);
    try {
      if (!this.remote && !this.connecting) {
        // The first message opens the remote (and is sent by connect); a failed start may be retried by the next one.
        this.connecting = this.connect(message);
        await this.connecting.catch((error: unknown) => {
          this.connecting = undefined;
          throw error;
        });
        return;
      }
      const remote = this.remote ?? (await this.connecting!);
      await remote.send(message);
    } catch (error) {
      this.reportFailure(message, error);
    }
  }

  /** Opens the remote with the first message: Streamable HTTP, else (400/404/405) the HTTP+SSE transport. */
  private async connect(first: JSONRPCMessage): Promise<Transport> {
    const streamable = this.wire(new StreamableHTTPClientTransport(this.target, { fetch: this.fetch }));
    await streamable.start();
    try {
      await streamable.send(first);
      this.remote = streamable;
    } catch (error) {
      if (!(error instanceof StreamableHTTPError) || !FALLBACK_STATUSES.has(error.code ?? 0)) throw error;
      await streamable.close().catch(() => {});
      this.options.say(`${this.target.href} does not speak Streamable HTTP (HTTP ${error.code}); trying the older HTTP+SSE transport.`);
      const sse = this.wire(new SSEClientTransport(this.target, { fetch: this.fetch }));
      await sse.start();
      await sse.send(first);
      this.remote = sse;
    }
    this.options.say(`Connected to ${this.target.href}.`);
    return this.remote;
  }

  private wire<T extends Transport>(transport: T): T {
    transport.onmessage = (message) => {
      if (isJSONRPCResultResponse(message) && this.initializeIds.delete(message.id)) {
        const version = (message.result as { protocolVersion?: unknown }).protocolVersion;
        if (typeof version === 'string') transport.setProtocolVersion?.(version);
      }
      this.toLocal(message);
    };
    transport.onerror = (error) => this.options.say(`remote: ${redactSecrets(error.message)}`);
    return transport;
  }

  /**
   * Writes to the client in order. A response right after notifications waits
   * a moment: the SDK's client handles notifications a microtask late but
   * responses at once, so a result read in the same chunk as the progress
   * before it would retire the progress handler first and the progress be lost.
   */
  private toLocal(message: JSONRPCMessage): void {
    const isResponse = 'id' in message && !('method' in message);
    const afterNotification = this.lastWasNotification;
    this.lastWasNotification = !('id' in message);
    this.output = this.output
      .then(() => (isResponse && afterNotification ? new Promise((resolve) => setTimeout(resolve, RESPONSE_AFTER_NOTIFICATION_MS)) : undefined))
      .then(() => this.local.send(message))
      .catch((error: Error) => this.options.say(`stdio: ${error.message}`));
  }

  /** A request that could not reach the remote gets a JSON-RPC error (the client is not left waiting); anything else is logged. */
  private reportFailure(message: JSONRPCMessage, error: unknown): void {
    const text = redactSecrets(describeError(error));
    this.options.say(`Could not forward ${'method' in message ? message.method : 'a response'} to ${this.target.href}: ${text}`);
    if (isJSONRPCRequest(message)) {
      this.toLocal({ jsonrpc: '2.0', id: message.id, error: { code: -32603, message: text } });
    }
  }
}
