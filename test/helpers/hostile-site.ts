import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback origin that plays both a protected app and its own managed-OAuth
 * authorization server, for tests that need a site answering the way an
 * attacker (or an odd server) would: per-path overrides replace any endpoint.
 */
export type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void | Promise<void>;

/** A hostile origin that plays both the protected app and its authorization server. */
export class Hostile {
  readonly secrets: string[] = [];
  readonly requests: Array<{ method: string; path: string; headers: IncomingMessage['headers'] }> = [];
  /** Per-path overrides; the defaults below make a working managed-OAuth login. */
  routes = new Map<string, Handler>();
  tokenLifetime = 900;
  issued = new Set<string>();
  /** The access tokens it issues (a test may want every character a converter escapes). */
  newAccessToken = (): string => `oauth:access-${randomish()}`;
  private server!: Server;
  origin = '';

  static async start(): Promise<Hostile> {
    const hostile = new Hostile();
    hostile.server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (c: string) => (body += c));
      req.on('end', () => void hostile.handle(req, res, body));
    });
    await new Promise<void>((resolve) => hostile.server.listen(0, '127.0.0.1', resolve));
    hostile.origin = `http://127.0.0.1:${(hostile.server.address() as AddressInfo).port}`;
    return hostile;
  }

  get url(): string {
    return `${this.origin}/`;
  }

  reset(): void {
    this.routes.clear();
    this.requests.length = 0;
    this.tokenLifetime = 900;
  }

  private async handle(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    const url = new URL(req.url ?? '/', this.origin);
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, headers: req.headers });
    const override = this.routes.get(url.pathname);
    if (override) return override(req, res, body);
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    switch (url.pathname) {
      case '/.well-known/cloudflare-access-protected-resource/':
        return json(200, { resource: this.origin, authorization_servers: [this.origin], authentication_methods: ['oauth'] });
      case '/.well-known/oauth-authorization-server':
        return json(200, {
          issuer: this.origin,
          authorization_endpoint: `${this.origin}/authorize`,
          token_endpoint: `${this.origin}/token`,
          registration_endpoint: `${this.origin}/register`,
          revocation_endpoint: `${this.origin}/revoke`,
          code_challenge_methods_supported: ['S256'],
          token_endpoint_auth_methods_supported: ['none'],
        });
      case '/register':
        return json(201, { client_id: 'hostile-client' });
      case '/authorize': {
        const code = `code-${randomish()}`;
        this.secrets.push(code);
        const back = new URL(url.searchParams.get('redirect_uri')!);
        back.searchParams.set('code', code);
        back.searchParams.set('state', url.searchParams.get('state')!);
        res.writeHead(302, { location: back.href });
        return void res.end();
      }
      case '/token': {
        const form = new URLSearchParams(body);
        for (const name of ['code', 'code_verifier', 'refresh_token']) if (form.get(name)) this.secrets.push(form.get(name)!);
        const access = this.newAccessToken();
        const refresh = `oauth:refresh-${randomish()}`;
        this.secrets.push(access, refresh);
        this.issued.add(access);
        return json(200, { access_token: access, token_type: 'bearer', expires_in: this.tokenLifetime, refresh_token: refresh });
      }
      case '/revoke':
        return json(200, {});
      default: {
        const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        if (bearer && this.issued.has(bearer)) {
          res.writeHead(200, { 'content-type': 'text/plain' });
          return void res.end('hello from the hostile app');
        }
        res.writeHead(401, {
          'www-authenticate': `Bearer realm="OAuth", resource_metadata="${this.origin}/.well-known/cloudflare-access-protected-resource/"`,
          'content-type': 'application/json',
        });
        return void res.end('{"error":"invalid_token"}');
      }
    }
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export function randomish(): string {
  return Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
}

