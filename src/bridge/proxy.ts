import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { request, upgrade, type Dispatcher } from 'undici';
import { AccessError } from '../core/errors.js';
import { parseTargetUrl } from '../core/url-policy.js';
import { discard } from '../http/client.js';
import type { AccessService } from '../service/access-service.js';
import { credentialHeadersFor, credentialSecretsFor } from '../service/credentials.js';
import { accessChallengeOf } from './access-challenge.js';
import { foreignHost, headerConflict, notOriginForm, refusalFor, refuseSocket, replayImpossible, sendRefusal, type Refusal } from './refusals.js';
import { forwardRequestHeaders, rewriteResponseHeaders } from './rewrite.js';
import { SecretScrubber } from '../core/secret-scrubber.js';

export interface ProxyOptions {
  /** Local port; a free one when omitted. */
  port?: number;
  /** Seconds a request waits for a browser login before it gets a 503 with the sign-in URL. */
  loginWaitSeconds: number;
}

type Outgoing = Record<string, string | string[]>;

/** Thrown inside a forward to answer the local client with a refusal. */
class Refused extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.message);
  }
}

/**
 * A reverse proxy on 127.0.0.1 for one Access application: every request to
 * http://127.0.0.1:<port>/<path> goes to <origin>/<path> with our credential
 * for that origin. Bodies stream both ways; redirects and cookies are rewritten
 * to stay on the proxy; WebSocket upgrades pass through. It forwards only to
 * its one origin and answers only to its own Host.
 */
export class AccessProxy {
  readonly origin: string;
  readonly startedAt = Date.now();
  lastUsedAt = Date.now();
  requests = 0;
  private readonly server: Server;
  private readonly sockets = new Set<Duplex>();
  private ownHosts = new Set<string>();
  private port = 0;

  private constructor(
    private readonly svc: AccessService,
    readonly target: URL,
    private readonly options: ProxyOptions,
  ) {
    this.origin = target.origin;
    this.server = createServer((req, res) => void this.handle(req, res));
    // A large upload may take longer than Node's default whole-request timeout.
    this.server.requestTimeout = 0;
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => void this.handleUpgrade(req, socket, head));
    this.server.on('connect', (_req: IncomingMessage, socket: Socket) => refuseSocket(socket, notOriginForm(this.origin)));
  }

  static async start(svc: AccessService, url: string, options: ProxyOptions): Promise<AccessProxy> {
    const target = parseTargetUrl(url);
    const proxy = new AccessProxy(svc, target, options);
    await proxy.listen(options.port ?? 0);
    return proxy;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'EADDRINUSE' || error.code === 'EACCES'
            ? new AccessError('invalid_arguments', `Port ${port} on 127.0.0.1 cannot be used (${error.code}).`, 'Choose another port, or omit it to get a free one.')
            : error,
        ),
      );
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.ownHosts = new Set([`127.0.0.1:${this.port}`, `localhost:${this.port}`]);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** The request's own origin path on the application, or a refusal (foreign Host, absolute-form target). */
  private upstreamUrl(req: IncomingMessage): URL {
    const host = req.headers.host?.toLowerCase();
    if (!host || !this.ownHosts.has(host)) throw new Refused(foreignHost(req.headers.host, `127.0.0.1:${this.port}`));
    const path = req.url ?? '/';
    if (!path.startsWith('/')) throw new Refused(notOriginForm(this.origin));
    // Concatenated, never resolved: "//other.host/x" stays a path on our origin.
    return new URL(this.origin + path);
  }

  /** Our credential for the URL, refused when the client set a header it would replace (never dropped silently). */
  private async credentials(req: IncomingMessage, url: URL, refused?: Record<string, string>): Promise<Record<string, string>> {
    let headers: Record<string, string>;
    try {
      headers = refused
        ? await credentialHeadersFor(this.svc, url, { waitSeconds: this.options.loginWaitSeconds, refused })
        : await this.svc.credentialsFor(url);
    } catch (error) {
      throw new Refused(refusalFor(error));
    }
    // Header names as Node gives the client's (lower case), so a conflict is seen and never sent twice.
    const lowered = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
    for (const name of Object.keys(lowered)) {
      if (req.headers[name] !== undefined) throw new Refused(headerConflict(name, this.origin));
    }
    return lowered;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requests++;
    this.lastUsedAt = Date.now();
    const aborter = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) aborter.abort();
    });
    try {
      const url = this.upstreamUrl(req);
      const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
      const forwarded = forwardRequestHeaders(req.headers);
      let credentials = await this.credentials(req, url);
      let response = await this.send(req, url, { ...forwarded, ...credentials }, hasBody, aborter.signal);
      const challenge = await accessChallengeOf(response.statusCode, response.headers, url);
      if (challenge && challenge !== 'own_oauth') {
        // Access wants a (new) credential: the same single-flight refresh or login the tools use.
        discard(response.body);
        credentials = await this.credentials(req, url, credentials);
        if (hasBody) throw new Refused(replayImpossible(this.origin));
        response = await this.send(req, url, { ...forwarded, ...credentials }, false, aborter.signal);
      }
      await this.respond(res, url, response, credentials);
    } catch (error) {
      if (aborter.signal.aborted) return;
      sendRefusal(req, res, error instanceof Refused ? error.refusal : refusalFor(error));
    }
  }

  private send(req: IncomingMessage, url: URL, headers: Outgoing, withBody: boolean, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    return request(url, {
      dispatcher: this.svc.dispatcher,
      method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
      headers,
      body: withBody ? req : undefined,
      signal,
      // A stream (server-sent events, a long download) may be quiet for a while.
      bodyTimeout: 0,
    });
  }

  private async respond(res: ServerResponse, url: URL, response: Dispatcher.ResponseData, sent: Record<string, string>): Promise<void> {
    // What we hold for the origin now, and what this request carried (a refresh may have happened in between).
    const carried = [sent.authorization?.replace(/^Bearer\s+/i, ''), sent['cf-access-token']].filter((v): v is string => v !== undefined);
    const secrets = [...new Set([...credentialSecretsFor(this.svc, url), ...carried])].filter((s) => s.length >= 8).sort((a, b) => b.length - a.length);
    res.writeHead(response.statusCode, rewriteResponseHeaders(response.headers, url, this.baseUrl, secrets));
    await pipeline(response.body, new SecretScrubber(secrets), res);
  }

  private async handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    this.requests++;
    this.lastUsedAt = Date.now();
    socket.on('error', () => socket.destroy());
    try {
      const url = this.upstreamUrl(req);
      const forwarded = forwardRequestHeaders(req.headers, true);
      const protocol = String(req.headers.upgrade ?? 'websocket');
      const open = (credentials: Record<string, string>) =>
        upgrade(url, { dispatcher: this.svc.dispatcher, method: req.method ?? 'GET', headers: { ...forwarded, ...credentials }, protocol });
      let credentials = await this.credentials(req, url);
      let upgraded: Dispatcher.UpgradeData;
      try {
        upgraded = await open(credentials);
      } catch (error) {
        // undici reports any non-101 answer alike: renew the credential only if Access is what refused it.
        if (!(await this.accessRefuses(url, credentials))) throw error;
        credentials = await this.credentials(req, url, credentials);
        upgraded = await open(credentials);
      }
      this.splice(socket, head, upgraded, url);
    } catch (error) {
      refuseSocket(socket, error instanceof Refused ? error.refusal : refusalFor(error));
    }
  }

  /** Does Access ask for a new credential at this URL (a plain GET with the same credential)? */
  private async accessRefuses(url: URL, credentials: Record<string, string>): Promise<boolean> {
    const response = await request(url, { dispatcher: this.svc.dispatcher, headers: { ...credentials, accept: '*/*' } });
    discard(response.body);
    const challenge = await accessChallengeOf(response.statusCode, response.headers, url);
    return challenge !== undefined && challenge !== 'own_oauth';
  }

  private splice(socket: Socket, head: Buffer, upgraded: Dispatcher.UpgradeData, url: URL): void {
    const upstream = upgraded.socket;
    this.sockets.add(socket).add(upstream);
    const headers = rewriteResponseHeaders(upgraded.headers, url, this.baseUrl, credentialSecretsFor(this.svc, url));
    const lines = ['HTTP/1.1 101 Switching Protocols', 'connection: Upgrade', `upgrade: ${String(upgraded.headers.upgrade ?? 'websocket')}`];
    for (const [name, value] of Object.entries(headers)) for (const v of [value].flat()) lines.push(`${name}: ${v}`);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length) upstream.write(head);
    const end = () => {
      socket.destroy();
      upstream.destroy();
      this.sockets.delete(socket);
      this.sockets.delete(upstream);
    };
    upstream.on('error', end).on('close', end);
    socket.on('close', end);
    socket.pipe(upstream);
    upstream.pipe(socket);
  }
}
