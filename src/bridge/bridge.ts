import { SSEClientTransport, SseError } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { isInitializedNotification, isJSONRPCRequest, isJSONRPCResultResponse, type JSONRPCMessage, type JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import { AccessError, describeError, isAccessError } from '../core/errors.js';
import { redactSecrets } from '../core/redact.js';
import { truncate } from '../core/url-policy.js';
import { createDispatcher } from '../http/client.js';
import type { AccessService } from '../service/access-service.js';
import { accessFetch } from './access-fetch.js';
import { watchAnswerStream } from './answer-stream.js';
import { UnansweredRequests } from './unanswered.js';

export interface BridgeOptions {
  /** Where the bridge says what it is doing (stderr; stdout is the MCP protocol). */
  say: (line: string) => void;
  /** Seconds a sign-in may take (at start-up and if a renewal needs one). */
  loginWaitSeconds: number;
}

/** See toLocal. */
const RESPONSE_AFTER_NOTIFICATION_MS = 5;

/** Statuses after which the SDK's guidance is to try the older HTTP+SSE transport. */
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
  /** HTTP+SSE sessions whose event stream ended: no answer comes from them any more; a message for one opens a new session first. */
  private readonly ended = new WeakSet<Transport>();
  private readonly unanswered = new UnansweredRequests();
  /** Requests whose answer stream the SDK can resume (an event of it carried an id): its end is not a lost answer, unless the SDK gives up resuming. */
  private readonly resumable = new Set<string | number>();
  /** What our fetch threw for the GET of an event stream: the SDK passes on only its text, flattened with its causes. */
  private readonly streamFailures = new WeakMap<Transport, unknown>();
  private sessions = 0;
  private closing = false;
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
    this.closing = true;
    await this.remote?.close().catch(() => {});
    this.remote = undefined;
  }

  private async toRemote(message: JSONRPCMessage): Promise<void> {
    if (isJSONRPCRequest(message) && message.method === 'initialize') {
      this.initializeIds.add(message.id);
      this.initialize = message;
    }
    if (isInitializedNotification(message)) this.initialized = true;
    if (isJSONRPCRequest(message)) this.unanswered.add(message);
    else if ('method' in message && message.method === 'notifications/cancelled') {
      const { requestId } = message.params as { requestId: string | number };
      this.unanswered.settle(requestId);
      this.resumable.delete(requestId);
    }
    try {
      if (!this.remote && !this.connecting) {
        // The first message opens the remote (and is sent by connect); a failed start may be retried by the next one.
        this.connecting = this.connect(message);
        const remote = await this.connecting.catch((error: unknown) => {
          this.connecting = undefined;
          throw error;
        });
        if (isJSONRPCRequest(message)) this.unanswered.accepted(message.id, remote);
        return;
      }
      let remote = this.remote ?? (await this.connecting!);
      if (this.ended.has(remote)) remote = await this.newSession(remote, `The event stream of this session with ${this.target.href} ended; opening a new session for the next request.`);
      try {
        await remote.send(message, this.sendOptions(message));
      } catch (error) {
        if (this.sessionLost(remote, message, error)) {
          remote = await this.newSession(remote, `${this.target.href} no longer knows this session (HTTP 404: the server restarted or ended it); opening a new session and sending the request again.`);
          await remote.send(message, this.sendOptions(message));
        } else if (!(this.ended.has(remote) && isJSONRPCRequest(message))) throw error;
        // Else the stream ended while the request was sent (closing the session cut its POST): whether the remote took it is unknown, as below.
      }
      if (isJSONRPCRequest(message)) {
        this.unanswered.accepted(message.id, remote);
        // Its answer was to come on a stream that ended meanwhile.
        if (this.ended.has(remote)) await this.recover(remote, `The event stream from ${this.target.href} ended while a request was sent; opening a new session.`);
      }
    } catch (error) {
      this.reportFailure(message, error);
    }
  }

  /** Opens the remote with the first message: Streamable HTTP, else (400/404/405) the HTTP+SSE transport. */
  private async connect(first: JSONRPCMessage): Promise<Transport> {
    const streamable = this.wire(this.streamableTransport());
    await streamable.start();
    try {
      await streamable.send(first, this.sendOptions(first));
      this.remote = streamable;
    } catch (error) {
      if (!(error instanceof StreamableHTTPError) || !FALLBACK_STATUSES.has(error.code ?? 0)) throw this.noMcpServer(error, 'Streamable HTTP');
      await streamable.close().catch(() => {});
      this.options.say(`${this.target.href} does not speak Streamable HTTP (HTTP ${error.code}); trying the older HTTP+SSE transport.`);
      const sse = this.wire(this.sseTransport());
      try {
        await sse.start();
        await sse.send(first);
      } catch (sseError) {
        await sse.close().catch(() => {});
        throw this.noMcpServer(sseError, `Streamable HTTP got HTTP ${error.code}, the older HTTP+SSE transport`);
      }
      this.remote = sse;
    }
    this.options.say(`Connected to ${this.target.href}.`);
    return this.remote;
  }

  /**
   * What the first message met, when it shows that no MCP server answers at
   * the URL (an error status, a page or JSON that is not JSON-RPC): said as
   * such, without the page or the SDK's schema dump. Anything else (Access,
   * the network) is passed on as it is.
   */
  private noMcpServer(error: unknown, tried: string): unknown {
    const status = error instanceof StreamableHTTPError ? error.code : (error as { code?: unknown } | null)?.code;
    const type = error instanceof StreamableHTTPError ? /Unexpected content type: ([^;\s]*)/.exec(error.message)?.[1] : undefined;
    const why =
      (error as Error | null)?.name === 'ZodError' || error instanceof SyntaxError
        ? 'the answer to initialize is not JSON-RPC'
        : type !== undefined
          ? `the answer to initialize is ${truncate(type, 60)}, not JSON-RPC`
          : typeof status === 'number' && status >= 400
            ? `HTTP ${status}`
            : undefined;
    if (!why) return error;
    return new AccessError(
      'unsupported_server',
      `No MCP server answers at ${this.target.href} (${tried}: ${why}).`,
      "Check the URL: it must be the MCP endpoint of the server (often ending in /mcp, or /sse for older servers), as its documentation gives it.",
      { cause: error },
    );
  }

  /**
   * HTTP 404 to a request carrying our session id: the remote ended the
   * session (a restart, a deploy). The MCP spec has the HTTP client start a
   * new one; the bridge is that client, so it does, rather than fail every
   * request until the user restarts it.
   */
  private sessionLost(remote: Transport, message: JSONRPCMessage, error: unknown): boolean {
    const gone =
      remote instanceof StreamableHTTPClientTransport
        ? error instanceof StreamableHTTPError && error.code === 404 && remote.sessionId !== undefined
        : // The SDK's HTTP+SSE client has no typed error for a refused POST to the session's message URL.
          remote instanceof SSEClientTransport && error instanceof Error && error.message.startsWith('Error POSTing to endpoint (HTTP 404)');
    return gone && this.initialize !== undefined && !(isJSONRPCRequest(message) && message.method === 'initialize');
  }

  /**
   * The event stream of an HTTP+SSE session ended (a restart, a dropped
   * connection): the answers to the requests this session accepted would
   * have come on it. With requests waiting, a new session is opened at once
   * and those safe to repeat are sent again on it (the others are answered
   * with an error); with none, the next message opens it.
   */
  private async streamEnded(lost: SSEClientTransport): Promise<void> {
    // Its event source would connect again by itself, into a new session nobody initialised: stopped here.
    void lost.close();
    if (!this.initialize) {
      // Not initialised yet: the next message opens the remote afresh.
      this.remote = this.connecting = undefined;
      return;
    }
    this.ended.add(lost);
    const ended = `The event stream from ${this.target.href} ended (the server restarted, or the connection dropped)`;
    if (this.unanswered.acceptedBy(lost).length === 0) return this.options.say(`${ended}; the next request opens a new session.`);
    await this.recover(lost, `${ended}; opening a new session and sending unanswered requests again.`);
  }

  /** A new session for the requests `lost` accepted and will not answer: each sent again on it if safe to repeat, else answered with an error. */
  private async recover(lost: Transport, why: string): Promise<void> {
    let fresh: Transport;
    try {
      fresh = await this.newSession(lost, why);
    } catch (error) {
      for (const request of this.unanswered.acceptedBy(lost)) this.reportFailure(request, error);
      return;
    }
    // Looked up only now (and handled without a pause, so each once): a request accepted while the new session opened is among them, one the client cancelled is not.
    for (const request of this.unanswered.acceptedBy(lost)) {
      const refused = this.unanswered.notRepeatable(request);
      if (refused) {
        this.reportFailure(request, this.notRepeated(request, refused));
        continue;
      }
      this.unanswered.resent(request.id, fresh);
      fresh.send(request, this.sendOptions(request)).catch((error: unknown) => this.reportFailure(request, error));
    }
  }

  /** `lost`: what happened to the answer (the session ended, by default; or its answer stream ended). */
  private notRepeated(request: JSONRPCRequest, refused: { why: string; next: string }, lost?: string): AccessError {
    const tool = (request.params as { name?: unknown } | undefined)?.name;
    const what = request.method === 'tools/call' && typeof tool === 'string' ? `the call of the tool "${truncate(tool, 80)}"` : request.method;
    const happened = lost
      ? `The answer to ${what} sent to ${this.target.href} was lost: ${lost} before it came. The bridge did not send it again`
      : `The session with ${this.target.href} ended while ${what} was waiting for its answer. The bridge opened a new session but did not send it again`;
    return new AccessError('network_error', `${happened}: ${refused.why}.`, refused.next);
  }

  /** A new remote session (one for all requests that found the old one gone); `why` is said on stderr. */
  private newSession(lost: Transport, why: string): Promise<Transport> {
    if (this.remote !== lost && this.remote) return Promise.resolve(this.remote);
    this.renewing ??= this.reinitialize(lost, why).finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  /** Initializes a new session (same transport as the lost one) with the client's own initialize request (answered to the bridge, not the client). */
  private async reinitialize(lost: Transport, why: string): Promise<Transport> {
    this.options.say(why);
    const fresh = this.wire(lost instanceof SSEClientTransport ? this.sseTransport() : this.streamableTransport());
    const id = `cf-access-mcp-bridge-session-${++this.sessions}`;
    const answered = new Promise<JSONRPCMessage>((resolve) => this.ownRequests.set(id, resolve));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AccessError('network_error', `${this.target.href} did not answer the initialize request of a new session.`, 'Check that the remote MCP server is up, then repeat the request.')), this.svc.config.responseTimeoutMs);
    });
    try {
      await fresh.start();
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
      const failure = error instanceof SseError && error.code === undefined ? this.streamFailures.get(fresh) : undefined;
      if (isAccessError(failure)) throw new AccessError(failure.code, `${this.target.href} ended this session and could not open a new one: ${failure.message}`, failure.nextStep, { cause: failure });
      const refusal = newSessionRefusal(error);
      if (refusal === undefined) throw error;
      throw new AccessError(
        'unsupported_server',
        `${this.target.href} ended this session and could not open a new one (${refusal}).`,
        'Repeat the request: the bridge tries to open a new session again (a restarting server may need a moment).',
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
      this.ownRequests.delete(id);
    }
    // Only now: if the new session could not be had, the next request meets the 404 (or the ended stream) again and tries again.
    await lost.close().catch(() => {});
    this.remote = fresh;
    return fresh;
  }

  /** For a request: the SDK says when its answer stream became resumable (an event carried an id), the condition under which the SDK resumes it itself. */
  private sendOptions(message: JSONRPCMessage): TransportSendOptions | undefined {
    if (!isJSONRPCRequest(message)) return undefined;
    const id = message.id;
    return { onresumptiontoken: () => void this.resumable.add(id) };
  }

  /**
   * The SDK gave up resuming an answer stream (its reconnections failed):
   * the requests of this session that were waiting on a resumable stream get
   * what a cut stream gets, rather than waiting for the client's timeout.
   */
  private resumingFailed(transport: Transport): void {
    const waiting = [...this.resumable].filter((id) => this.unanswered.waitingOn([id], transport).length > 0);
    if (waiting.length > 0) void this.answerStreamCut(transport, waiting, { evenResumable: true });
  }

  /** A Streamable HTTP client whose POSTs' answer streams are watched (see watchAnswerStream). */
  private streamableTransport(): StreamableHTTPClientTransport {
    const transport: StreamableHTTPClientTransport = new StreamableHTTPClientTransport(this.target, {
      fetch: async (url, init) => watchAnswerStream(init, await this.fetch(url, init), (ids) => void this.answerStreamCut(transport, ids)),
    });
    return transport;
  }

  /**
   * The answer stream of a Streamable HTTP POST ended before the answers to
   * `ids` came (the remote restarted while answering, or the connection
   * dropped): none will come. Each request still waiting is sent again if safe
   * to repeat (a restarted remote meets it with a 404, and a new session is
   * opened), else answered with an error; the client is never left waiting.
   */
  private async answerStreamCut(cut: Transport, ids: Array<string | number>, { evenResumable = false } = {}): Promise<void> {
    // The POST that opened the stream is accepted (toRemote records it) once send() returns: after that, not before.
    // By then the SDK has also handled every event of the stream (its parsing runs on promises alone): what it delivered is settled.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.closing) return;
    const lost = this.unanswered.waitingOn(ids, cut).filter((request) => evenResumable || !this.resumable.has(request.id));
    if (lost.length === 0) return;
    for (const request of lost) this.resumable.delete(request.id);
    this.options.say(`The answer stream from ${this.target.href} ended before the answer came (the server restarted, or the connection dropped); what is safe to repeat is sent again, anything else is answered with an error.`);
    for (const request of lost) {
      const refused = this.unanswered.notRepeatable(request);
      if (refused) {
        this.reportFailure(request, this.notRepeated(request, refused, 'its answer stream ended'));
        continue;
      }
      this.unanswered.resent(request.id, cut);
      void this.sendAgain(request);
    }
  }

  /** Sends a request again on the session in use, or on a new one when the remote no longer knows it (HTTP 404). */
  private async sendAgain(request: JSONRPCRequest): Promise<void> {
    try {
      let remote = this.remote ?? (await this.connecting!);
      try {
        await remote.send(request, this.sendOptions(request));
      } catch (error) {
        if (!this.sessionLost(remote, request, error)) throw error;
        remote = await this.newSession(remote, `${this.target.href} no longer knows this session (HTTP 404: the server restarted or ended it); opening a new session and sending the request again.`);
        await remote.send(request, this.sendOptions(request));
      }
      this.unanswered.accepted(request.id, remote);
    } catch (error) {
      this.reportFailure(request, error);
    }
  }

  private sseTransport(): SSEClientTransport {
    const transport: SSEClientTransport = new SSEClientTransport(this.target, {
      fetch: this.fetch,
      eventSourceInit: {
        fetch: (url, init) =>
          this.fetch(url, init).catch((error: unknown) => {
            this.streamFailures.set(transport, error);
            throw error;
          }),
      },
    });
    return transport;
  }

  private wire<T extends Transport>(transport: T): T {
    transport.onmessage = (message) => {
      const own = 'id' in message && !('method' in message) && message.id !== undefined ? this.ownRequests.get(message.id) : undefined;
      if (own) return own(message);
      if ('id' in message && !('method' in message) && message.id !== undefined) this.resumable.delete(message.id);
      if (!this.unanswered.answered(message)) return;
      if (isJSONRPCResultResponse(message) && this.initializeIds.delete(message.id)) {
        const version = (message.result as { protocolVersion?: unknown }).protocolVersion;
        if (typeof version === 'string') transport.setProtocolVersion?.(version);
      }
      this.toLocal(message);
    };
    // One line, not a page or a schema dump: the client's result says what it means.
    transport.onerror = (error) => {
      // The event stream of the session in use ended: the bridge says what it does about it.
      if (error instanceof SseError && transport instanceof SSEClientTransport && transport === this.remote && !this.ended.has(transport)) return void this.streamEnded(transport);
      // The SDK's words when it stops resuming a stream (StreamableHTTPClientTransport._scheduleReconnection).
      if (transport instanceof StreamableHTTPClientTransport && /^Maximum reconnection attempts/.test(error.message)) this.resumingFailed(transport);
      this.options.say(`remote: ${truncate(redactSecrets(error.message).replace(/\s+/g, ' '), 300)}`);
    };
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
      this.unanswered.settle(message.id);
      this.resumable.delete(message.id);
      this.toLocal({ jsonrpc: '2.0', id: message.id, error: { code: -32603, message: text } });
    }
  }
}

/** Why a new session could not be opened, when the remote answered with an error status (else undefined: the error says it). */
function newSessionRefusal(error: unknown): string | undefined {
  const detail = (text: string) => truncate(text.replace(/\s+/g, ' '), 200);
  if (error instanceof StreamableHTTPError) return `HTTP ${error.code} to initialize: ${detail(error.message.replace(/^Streamable HTTP error: /, ''))}`;
  if (error instanceof SseError) return error.code ? `HTTP ${error.code} to a new event stream` : `a new event stream failed: ${detail(error.message.replace(/^SSE error: /, ''))}`;
  const post = error instanceof Error ? /^Error POSTing to endpoint \(HTTP (\d+)\): ([^]*)/.exec(error.message) : null;
  return post ? `HTTP ${post[1]} to initialize: ${detail(post[2]!)}` : undefined;
}
