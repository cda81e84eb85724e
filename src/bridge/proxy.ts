import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pipeline, type Duplex } from 'node:stream';
import { request, upgrade, type Dispatcher } from 'undici';
import type { AppKey } from '../auth/app-key.js';
import { AccessError } from '../core/errors.js';
import { keepFreedMemoryForReuse } from '../core/malloc-reuse.js';
import { isLoopbackHost, parseTargetUrl } from '../core/url-policy.js';
import { connectionDropped, discard, type HeaderMap } from '../http/client.js';
import type { AccessService } from '../service/access-service.js';
import { credentialHeadersFor } from '../service/credentials.js';
import { accessChallengeOf } from './access-challenge.js';
import { CookieNames } from './cookie-names.js';
import { CredentialLeases, type Lease } from './credential-lease.js';
import { crossSite, foreignHost, headerConflict, notOriginForm, refusalFor, refuseSocket, replayImpossible, sendRefusal, type Refusal } from './refusals.js';
import { Relay, type Challenged, type RelayOutcome } from './relay.js';
import { forwardRequestHeaders, rewriteResponseHeaders, type OwnOrigin } from './rewrite.js';
import { WebSocketScrubber } from './ws-scrub.js';

export interface ProxyOptions {
  /** Local port; a free one when omitted. */
  port?: number;
  /** Seconds a request waits for a browser login before it gets a 503 with the sign-in URL. */
  loginWaitSeconds: number;
  /** Stop after this many seconds without a request or open connection; undefined: live as long as the process. */
  idleSeconds?: number;
  /** Told when the proxy stopped because it was idle. */
  onIdle?: (proxy: AccessProxy) => void;
}

/**
 * Buffers of the client's sockets. Above the 64 KB an origin read delivers: at
 * 64 KB (or Node's default 16 KB) every chunk of a download filled the buffer
 * while corked, so the origin was paused and resumed once per chunk.
 */
const CLIENT_BUFFER = 256 * 1024;

type Outgoing = Record<string, string | string[]>;

/** One request from the local client: the relay of its current attempt, and whether the client went away. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  relay?: Relay;
  gone: boolean;
}

const CLIENT_GONE = new Error('the local client closed the connection');

/** Thrown inside a forward to answer the local client with a refusal. */
class Refused extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.message);
  }
}

/**
 * Sent by a browser for a page of another site: a WebSocket (which the
 * same-origin policy does not guard), a form post or fetch (which carry an
 * `Origin`), or a subresource such as <img> or <script> (`Sec-Fetch-Site`
 * cross-site). The Host check does not catch these: the page addresses
 * 127.0.0.1 itself. Pages on loopback (the proxy's own, a local dev server)
 * count as local programs; a top-level navigation (a link the user clicks) is
 * let through, as its answer goes to the user's tab, not to the page (a frame
 * inside the other site's page is not).
 */
function fromOtherSite(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin !== undefined) {
    try {
      const url = new URL(origin);
      return !((url.protocol === 'http:' || url.protocol === 'https:') && isLoopbackHost(url.hostname));
    } catch {
      // "null" (a sandboxed frame, a file: page, a redirect across sites) or garbage.
      return true;
    }
  }
  // Only a top-level navigation: a frame on the other site's page (clickjacking) is refused too.
  return req.headers['sec-fetch-site'] === 'cross-site' && (req.headers['sec-fetch-mode'] !== 'navigate' || req.headers['sec-fetch-dest'] !== 'document');
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
  /** Requests in flight (WebSockets count while open). */
  private active = 0;
  private readonly server: Server;
  private readonly sockets = new Set<Duplex>();
  private readonly leases: CredentialLeases;
  /** The names this proxy gives prefixed cookies, for its lifetime. */
  private readonly cookies = new CookieNames();
  private idleTimer?: NodeJS.Timeout;
  private ownHosts = new Set<string>();
  private ownOrigin: OwnOrigin = { proxy: [], origin: '' };
  private port = 0;

  private constructor(
    private readonly svc: AccessService,
    readonly target: URL,
    private readonly options: ProxyOptions,
  ) {
    this.origin = target.origin;
    this.leases = new CredentialLeases(svc, this.origin);
    this.server = createServer({ noDelay: true, keepAlive: true, highWaterMark: CLIENT_BUFFER }, (req, res) => this.handle(req, res));
    // A large upload may take longer than Node's default whole-request timeout; a client's idle keep-alive connection is kept as undici keeps ours.
    this.server.requestTimeout = 0;
    this.server.keepAliveTimeout = 30_000;
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => void this.handleUpgrade(req, socket, head));
    this.server.on('connect', (_req: IncomingMessage, socket: Socket) => refuseSocket(socket, notOriginForm(this.origin)));
  }

  static async start(svc: AccessService, url: string, options: ProxyOptions): Promise<AccessProxy> {
    const target = parseTargetUrl(url);
    // Bodies stream through in 64 KB buffers: without this every batch V8 frees went back to the kernel and was faulted in again.
    keepFreedMemoryForReuse();
    const proxy = new AccessProxy(svc, target, options);
    await proxy.listen(options.port ?? 0);
    proxy.watchIdle();
    return proxy;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The Access application the proxy was started for: the most specific one known here (signed in, pending or discovered), else its origin. */
  get appKey(): AppKey {
    return this.svc.applicationFor(this.target);
  }

  get idleSeconds(): number | undefined {
    return this.options.idleSeconds;
  }

  /** When it stops if nothing uses it (undefined: it lives as long as the process). */
  get stopsAt(): Date | undefined {
    return this.options.idleSeconds === undefined ? undefined : new Date(this.lastUsedAt + this.options.idleSeconds * 1000);
  }

  /** Credentials held in memory are looked up again (after a logout or a new login). */
  forgetCredentials(): void {
    this.leases.drop();
  }

  /** A new idle timeout for the running proxy (undefined: it lives as long as the process), counted from now. */
  setIdleSeconds(seconds: number | undefined): void {
    clearInterval(this.idleTimer);
    this.options.idleSeconds = seconds;
    this.lastUsedAt = Date.now();
    this.watchIdle();
  }

  private watchIdle(): void {
    const idle = this.options.idleSeconds;
    if (idle === undefined) return;
    // A check a few times per idle period rather than a timer reset on every request.
    const every = Math.max(100, Math.min(idle * 250, 10_000));
    this.idleTimer = setInterval(() => {
      if (this.active > 0 || Date.now() - this.lastUsedAt < idle * 1000) return;
      clearInterval(this.idleTimer);
      void this.close().then(() => this.options.onIdle?.(this));
    }, every);
    this.idleTimer.unref();
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
    this.ownOrigin = { proxy: [...this.ownHosts].map((host) => `http://${host}`), origin: this.origin };
  }

  async close(): Promise<void> {
    clearInterval(this.idleTimer);
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
    if (fromOtherSite(req)) throw new Refused(crossSite(req.headers.origin));
    const path = req.url ?? '/';
    if (!path.startsWith('/')) throw new Refused(notOriginForm(this.origin));
    // Concatenated, never resolved: "//other.host/x" stays a path on our origin.
    return new URL(this.origin + path);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    this.active++;
    this.lastUsedAt = Date.now();
    const exchange: Exchange = { req, res, gone: false };
    res.once('close', () => {
      this.active--;
      this.lastUsedAt = Date.now();
      if (res.writableFinished) return;
      exchange.gone = true;
      exchange.relay?.cancel(CLIENT_GONE);
    });
    this.forward(exchange).catch((error: unknown) => {
      if (exchange.gone) return;
      sendRefusal(req, res, error instanceof Refused ? error.refusal : refusalFor(error));
    });
  }

  private async forward(exchange: Exchange): Promise<void> {
    const { req } = exchange;
    const url = this.upstreamUrl(req);
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    const headers = forwardRequestHeaders(req.headers, false, this.ownOrigin, this.cookies);
    // The held credential without a turn of the event loop (every request but the first after a refresh).
    const held = this.leases.cached(url);
    let lease = held ? this.checked(req, held) : await this.lease(req, url);
    // Only a redirect, 401 or 403 can be Access asking for a credential: the relay asks before the client sees a byte.
    if ((await this.relay(exchange, url, headers, lease, hasBody, true)) === 'done') return;
    // Access wants a (new) credential: the same single-flight refresh or login the tools use.
    lease = await this.renewed(req, url, headers, lease);
    if (hasBody) throw new Refused(replayImpossible(this.origin));
    // Refused at the same moment as other requests, this one took their renewal: for a path of another application
    // (an /admin not met yet) that is refused too, and then this request signs in there. A refusal by the renewed
    // credential's own application is passed on as before: renewing it again would only repeat the same sign-in.
    const renewedKey = lease.key;
    const byAnother: Challenged = (status, answer) => this.isChallengeOfAnother(status, answer, url, renewedKey);
    if ((await this.relay(exchange, url, headers, lease, false, byAnother)) === 'done') return;
    lease = await this.renewed(req, url, headers, lease);
    await this.relay(exchange, url, headers, lease, false, false);
  }

  /** The credential that replaces `refused` (whose headers leave `headers`). */
  private renewed(req: IncomingMessage, url: URL, headers: Outgoing, refused: Lease): Promise<Lease> {
    this.leases.drop(refused.key);
    for (const name in refused.lowered) delete headers[name];
    return this.lease(req, url, refused);
  }

  /** Our credential for the URL (renewed when `refused` is the one Access just refused); refused when the client set a header it would replace (never dropped silently). */
  private async lease(req: IncomingMessage, url: URL, refused?: Lease): Promise<Lease> {
    let lease: Lease;
    try {
      lease = refused
        ? this.leases.hold(url, await credentialHeadersFor(this.svc, url, { waitSeconds: this.options.loginWaitSeconds, refused: refused.headers }))
        : await this.leases.leaseFor(url);
    } catch (error) {
      throw new Refused(refusalFor(error));
    }
    return this.checked(req, lease);
  }

  private checked(req: IncomingMessage, lease: Lease): Lease {
    for (const name in lease.lowered) {
      if (req.headers[name] !== undefined) throw new Refused(headerConflict(name, this.origin));
    }
    return lease;
  }

  /**
   * Sends the request with the lease's credential and relays the response to the client ('renew': Access refused the
   * credential, nothing was sent). `check`: whether to look for Access's refusal, or which refusals count (a predicate).
   */
  private relay(exchange: Exchange, url: URL, headers: Outgoing, lease: Lease, withBody: boolean, check: boolean | Challenged, retried = false): Promise<RelayOutcome> {
    if (exchange.gone) return Promise.resolve('done');
    const { req, res } = exchange;
    for (const name in lease.lowered) headers[name] = lease.lowered[name]!;
    const relay = new Relay({
      res,
      head: req.method === 'HEAD',
      needles: lease.needles,
      rewrite: (answer) => rewriteResponseHeaders(answer, url, this.baseUrl, lease.secrets, this.cookies),
      challenged: check === true ? (status, answer) => this.isChallenge(status, answer, url) : check || undefined,
    });
    exchange.relay = relay;
    this.svc.dispatcher.dispatch(
      {
        origin: this.origin,
        path: url.pathname + url.search,
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers,
        body: withBody ? req : null,
        // A stream (server-sent events, a long download) may be quiet for a while.
        bodyTimeout: 0,
      },
      relay,
    );
    // A kept-alive connection the origin closed as it was reused: a GET or HEAD goes once more, as with the tools.
    const idempotent = !withBody && (req.method === 'GET' || req.method === 'HEAD');
    if (retried || !idempotent) return relay.done;
    return relay.done.catch((error: unknown) => {
      if (relay.answered || exchange.gone || !connectionDropped(error)) throw error;
      return this.relay(exchange, url, headers, lease, withBody, check, true);
    });
  }

  private async isChallenge(status: number, headers: HeaderMap, url: URL): Promise<boolean> {
    const challenge = await accessChallengeOf(status, headers, url);
    return challenge !== undefined && challenge !== 'own_oauth';
  }

  /** Access's refusal naming an application other than `key` (a challenge without metadata names none). */
  private async isChallengeOfAnother(status: number, headers: HeaderMap, url: URL, key: AppKey): Promise<boolean> {
    const challenge = await accessChallengeOf(status, headers, url);
    if (challenge === undefined || challenge === 'own_oauth' || !challenge.resourceMetadataUrl) return false;
    return (await this.svc.appOfChallenge(url, challenge).catch(() => key)) !== key;
  }

  private async handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    this.requests++;
    this.lastUsedAt = Date.now();
    socket.on('error', () => socket.destroy());
    try {
      const url = this.upstreamUrl(req);
      // No extension is offered: a compressed frame could not be checked for our secrets.
      const forwarded = forwardRequestHeaders(req.headers, true, this.ownOrigin, this.cookies);
      delete forwarded['sec-websocket-extensions'];
      const protocol = String(req.headers.upgrade ?? 'websocket');
      const open = (lease: Lease) => upgrade(url, { dispatcher: this.svc.dispatcher, method: req.method ?? 'GET', headers: { ...forwarded, ...lease.lowered }, protocol });
      let lease = await this.lease(req, url);
      let upgraded: Dispatcher.UpgradeData;
      try {
        upgraded = await open(lease);
      } catch (error) {
        // undici reports any non-101 answer alike: renew the credential only if Access is what refused it.
        if (!(await this.accessRefuses(url, lease.lowered))) throw error;
        this.leases.drop(lease.key);
        lease = await this.lease(req, url, lease);
        upgraded = await open(lease);
      }
      if (upgraded.headers['sec-websocket-extensions'] !== undefined) {
        upgraded.socket.destroy();
        throw new AccessError('unsupported_server', `${this.origin} answered the WebSocket with an extension nobody asked for; its frames could not be checked for the credential.`, 'Ask the application not to force WebSocket extensions (permessage-deflate).');
      }
      this.splice(socket, head, upgraded, url, lease);
    } catch (error) {
      refuseSocket(socket, error instanceof Refused ? error.refusal : refusalFor(error));
    }
  }

  /** Does Access ask for a new credential at this URL (a plain GET with the same credential)? */
  private async accessRefuses(url: URL, credentials: Record<string, string>): Promise<boolean> {
    const response = await request(url, { dispatcher: this.svc.dispatcher, headers: { ...credentials, accept: '*/*' } });
    discard(response.body);
    return this.isChallenge(response.statusCode, response.headers, url);
  }

  private splice(socket: Socket, head: Buffer, upgraded: Dispatcher.UpgradeData, url: URL, lease: Lease): void {
    const upstream = upgraded.socket;
    this.sockets.add(socket).add(upstream);
    this.active++;
    const headers = rewriteResponseHeaders(upgraded.headers, url, this.baseUrl, lease.secrets, this.cookies);
    const lines = ['HTTP/1.1 101 Switching Protocols', 'connection: Upgrade', `upgrade: ${String(upgraded.headers.upgrade ?? 'websocket')}`];
    for (const [name, value] of Object.entries(headers)) for (const v of [value].flat()) lines.push(`${name}: ${v}`);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length) upstream.write(head);
    let ended = false;
    const end = () => {
      socket.destroy();
      upstream.destroy();
      if (ended) return;
      ended = true;
      this.active--;
      this.lastUsedAt = Date.now();
      this.sockets.delete(socket);
      this.sockets.delete(upstream);
    };
    upstream.on('error', end).on('close', end);
    socket.on('close', end);
    socket.pipe(upstream);
    // What the origin sends goes through the frame scrubber: a message echoing our credential reaches the client masked.
    if (lease.needles.empty) upstream.pipe(socket);
    else pipeline(upstream, new WebSocketScrubber(lease.needles), socket, (error) => error && end());
  }
}
