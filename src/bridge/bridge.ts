import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { isInitializedNotification, isJSONRPCRequest, isJSONRPCResultResponse, type JSONRPCMessage, type JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import { AccessError, describeError, isAccessError } from '../core/errors.js';
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
  /** The client's initialize request, and whether it said initialized: sent again for a new session when the remote lost ours. */
  private initialize?: JSONRPCRequest;
  private initialized = false;
  /** Answers to requests the bridge sent itself (a repeated initialize), not to be passed to the client. */
  private readonly ownRequests = new Map<string | number, (answer: JSONRPCMessage) => void>();
  private renewing?: Promise<Transport>;
  private sessions = 0;
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
    if (isJSONRPCRequest(message) && message.method === 'initialize') {
      this.initializeIds.add(message.id);
      this.initialize = message;
    }
    if (isInitializedNotification(message)) this.initialized = true;
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
      try {
        await remote.send(message);
      } catch (error) {
        if (!this.sessionLost(remote, message, error)) throw error;
        await (await this.newSession(remote)).send(message);
      }
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

  /**
   * HTTP 404 to a request carrying our session id: the remote ended the
   * session (a restart, a deploy). The MCP spec has the HTTP client start a
   * new one; the bridge is that client, so it does, rather than fail every
   * request until the user restarts it.
   */
  private sessionLost(remote: Transport, message: JSONRPCMessage, error: unknown): boolean {
    return (
      error instanceof StreamableHTTPError &&
      error.code === 404 &&
      remote instanceof StreamableHTTPClientTransport &&
      remote.sessionId !== undefined &&
      this.initialize !== undefined &&
      !(isJSONRPCRequest(message) && message.method === 'initialize')
    );
  }

  /** A new remote session (one for all requests that found the old one gone). */
  private newSession(lost: Transport): Promise<Transport> {
    if (this.remote !== lost && this.remote) return Promise.resolve(this.remote);
    this.renewing ??= this.reinitialize(lost).finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  /** Initializes a new session with the client's own initialize request (answered to the bridge, not the client). */
  private async reinitialize(lost: Transport): Promise<Transport> {
    this.options.say(`${this.target.href} no longer knows this session (HTTP 404: the server restarted or ended it); opening a new session and sending the request again.`);
    await lost.close().catch(() => {});
    const fresh = this.wire(new StreamableHTTPClientTransport(this.target, { fetch: this.fetch }));
    await fresh.start();
    const id = `cf-access-mcp-bridge-session-${++this.sessions}`;
    const answered = new Promise<JSONRPCMessage>((resolve) => this.ownRequests.set(id, resolve));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AccessError('network_error', `${this.target.href} did not answer the initialize request of a new session.`, 'Check that the remote MCP server is up, then repeat the request.')), this.svc.config.responseTimeoutMs);
    });
    try {
      await fresh.send({ ...this.initialize!, id });
      const answer = await Promise.race([answered, timeout]);
      if (!isJSONRPCResultResponse(answer)) {
        const why = 'error' in answer ? (answer.error as { message?: string }).message : 'no result';
        throw new AccessError('unsupported_server', `${this.target.href} refused to open a new session: ${why}.`, 'Restart the MCP client (or its connection to this server) to start over.');
      }
      const version = (answer.result as { protocolVersion?: unknown }).protocolVersion;
      if (typeof version === 'string') fresh.setProtocolVersion?.(version);
      if (this.initialized) await fresh.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    } catch (error) {
      await fresh.close().catch(() => {});
      throw error;
    } finally {
      clearTimeout(timer);
      this.ownRequests.delete(id);
    }
    this.remote = fresh;
    return fresh;
  }

  private wire<T extends Transport>(transport: T): T {
    transport.onmessage = (message) => {
      const own = 'id' in message && !('method' in message) && message.id !== undefined ? this.ownRequests.get(message.id) : undefined;
      if (own) return own(message);
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
    // A remote that cannot be reached may come back: the bridge stays up and tries again with the next request.
    const text = redactSecrets(
      isAccessError(error) && error.code === 'network_error'
        ? `${error.message} The bridge keeps running and tries ${this.target.href} again with the next request.\nNext step: ${error.nextStep}`
        : describeError(error),
    );
    this.options.say(`Could not forward ${'method' in message ? message.method : 'a response'} to ${this.target.href}: ${text}`);
    if (isJSONRPCRequest(message)) {
      this.toLocal({ jsonrpc: '2.0', id: message.id, error: { code: -32603, message: text } });
    }
  }
}
