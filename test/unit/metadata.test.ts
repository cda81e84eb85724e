import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { detectAccess } from '../../src/auth/detect.js';
import {
  assertSupportsPublicClient,
  authorizationServerOf,
  fetchResourceMetadata,
  fetchServerMetadata,
  offersOAuth,
} from '../../src/auth/discovery.js';
import { AccessError, type AccessErrorCode } from '../../src/core/errors.js';
import { createDispatcher, discard, send } from '../../src/http/client.js';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';

const RM_PATH = '/.well-known/cloudflare-access-protected-resource';
const AS_PATH = '/.well-known/oauth-authorization-server';

const dispatcher = createDispatcher();
const http = { dispatcher, deadlineMs: 30_000 };
after(() => dispatcher.close());

/** Steps 1–3 as the login runs them: probe, resource metadata, authorization server, server metadata, checks. */
async function discover(target: URL) {
  const response = await send(dispatcher, target, { headers: { accept: 'application/json' } });
  discard(response.body);
  const challenge = await detectAccess(response, target);
  assert.ok(challenge?.resourceMetadataUrl, `no Access challenge from ${target.href} (HTTP ${response.status})`);
  const resource = await fetchResourceMetadata(http, challenge.resourceMetadataUrl, target);
  const authorizationServer = authorizationServerOf(resource, target);
  const server = await fetchServerMetadata(http, authorizationServer);
  assertSupportsPublicClient(server, authorizationServer.host);
  return { resource, authorizationServer, server };
}

async function refused(promise: Promise<unknown>, code: AccessErrorCode, message: RegExp): Promise<AccessError> {
  const error = await promise.then(
    () => assert.fail('discovery should have been refused'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof AccessError, `expected an AccessError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  assert.match(error.message, message);
  assert.ok(error.nextStep.trim().length > 0, 'a next step is given');
  assert.match(error.describe(), /Next step: /);
  return error;
}

/**
 * A tiny Access look-alike on loopback: one origin that is both the protected
 * app and its authorization server, serving whatever documents a test sets.
 */
class CraftedSite {
  server!: Server;
  origin = '';
  resourceDoc: (origin: string) => unknown = (origin) => ({ resource: origin, authorization_servers: [origin] });
  serverDoc: (origin: string) => unknown = (origin) => goodServerDoc(origin);
  rawServerBody: string | undefined;
  serverStatus = 200;
  challengeMetadataUrl: (origin: string) => string = (origin) => `${origin}${RM_PATH}/`;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', this.origin).pathname;
      const json = (status: number, body: unknown, raw?: string) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(raw ?? JSON.stringify(body));
      };
      if (path.startsWith(RM_PATH)) return json(200, this.resourceDoc(this.origin));
      if (path === AS_PATH) return json(this.serverStatus, this.serverDoc(this.origin), this.rawServerBody);
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="OAuth", error="invalid_token", resource_metadata="${this.challengeMetadataUrl(this.origin)}"`,
      });
      res.end();
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get target(): URL {
    return new URL(`${this.origin}/docs`);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function goodServerDoc(origin: string): Record<string, unknown> {
  return {
    issuer: new URL(origin).host,
    authorization_endpoint: `${origin}/cdn-cgi/access/oauth/authorization`,
    token_endpoint: `${origin}/cdn-cgi/access/oauth/token`,
    registration_endpoint: `${origin}/cdn-cgi/access/oauth/registration`,
    revocation_endpoint: `${origin}/cdn-cgi/access/oauth/revoke`,
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_methods_supported: ['none'],
    code_challenge_methods_supported: ['S256'],
  };
}

function withServerDoc(site: CraftedSite, change: (doc: Record<string, unknown>, origin: string) => void): void {
  site.serverDoc = (origin) => {
    const doc = goodServerDoc(origin);
    change(doc, origin);
    return doc;
  };
}

describe('metadata validation against crafted documents', () => {
  let site: CraftedSite;
  before(async () => {
    site = new CraftedSite();
    await site.start();
  });
  after(() => site.close());

  const reset = () => {
    const fresh = new CraftedSite();
    site.resourceDoc = fresh.resourceDoc;
    site.serverDoc = fresh.serverDoc;
    site.rawServerBody = undefined;
    site.serverStatus = 200;
    site.challengeMetadataUrl = fresh.challengeMetadataUrl;
  };

  it('accepts well-formed documents with a scheme-less issuer', async () => {
    reset();
    const found = await discover(site.target);
    assert.equal(found.resource.resource, site.origin);
    assert.equal(found.authorizationServer.origin, site.origin);
    assert.equal(found.server.issuer, new URL(site.origin).host);
  });

  it('accepts an https:// style issuer', async () => {
    reset();
    withServerDoc(site, (doc) => {
      doc.issuer = `https://${new URL(site.origin).host}`;
    });
    assert.equal((await discover(site.target)).server.issuer, `https://${new URL(site.origin).host}`);
    withServerDoc(site, (doc, origin) => {
      doc.issuer = `${origin}/`;
    });
    await discover(site.target);
  });

  it('refuses a server without a registration endpoint', async () => {
    reset();
    withServerDoc(site, (doc) => delete doc.registration_endpoint);
    await refused(discover(site.target), 'unsupported_server', /no dynamic client registration/);
  });

  it('refuses a server without PKCE S256', async () => {
    reset();
    withServerDoc(site, (doc) => {
      doc.code_challenge_methods_supported = ['plain'];
    });
    await refused(discover(site.target), 'unsupported_server', /S256/);
    withServerDoc(site, (doc) => delete doc.code_challenge_methods_supported);
    await refused(discover(site.target), 'unsupported_server', /S256/);
  });

  it('refuses a server that does not allow public clients (no "none")', async () => {
    reset();
    withServerDoc(site, (doc) => {
      doc.token_endpoint_auth_methods_supported = ['client_secret_basic', 'client_secret_post'];
    });
    await refused(discover(site.target), 'unsupported_server', /public clients/);
    withServerDoc(site, (doc) => delete doc.token_endpoint_auth_methods_supported);
    await refused(discover(site.target), 'unsupported_server', /public clients/);
  });

  it('refuses a server without the authorization_code grant or response_type=code', async () => {
    reset();
    withServerDoc(site, (doc) => {
      doc.grant_types_supported = ['client_credentials'];
    });
    await refused(discover(site.target), 'unsupported_server', /authorization_code/);
    withServerDoc(site, (doc) => {
      doc.response_types_supported = ['token'];
    });
    await refused(discover(site.target), 'unsupported_server', /response_type=code/);
  });

  it('refuses resource metadata that describes another resource', async () => {
    reset();
    site.resourceDoc = (origin) => ({ resource: 'https://evil.example.com', authorization_servers: [origin] });
    await refused(discover(site.target), 'invalid_metadata', /claims to describe https:\/\/evil\.example\.com/);
    site.resourceDoc = (origin) => ({ resource: origin.replace('127.0.0.1', 'localhost'), authorization_servers: [origin] });
    await refused(discover(site.target), 'invalid_metadata', /claims to describe/);
    site.resourceDoc = (origin) => ({ resource: 'not a url', authorization_servers: [origin] });
    await refused(discover(site.target), 'invalid_metadata', /invalid "resource"/);
  });

  it('refuses a challenge that points its metadata at another origin', async () => {
    reset();
    site.challengeMetadataUrl = () => `https://evil.example.com${RM_PATH}/`;
    await refused(discover(site.target), 'invalid_metadata', /another origin/);
  });

  it('refuses an authorization server on plain http that is not loopback', async () => {
    reset();
    site.resourceDoc = (origin) => ({ resource: origin, authorization_servers: ['http://auth.example.com'] });
    await refused(discover(site.target), 'unsupported_server', /not served over https/);
    site.resourceDoc = (origin) => ({ resource: origin });
    await refused(discover(site.target), 'invalid_metadata', /no authorization server/);
  });

  it('refuses endpoints on another host than the authorization server', async () => {
    reset();
    for (const key of ['authorization_endpoint', 'token_endpoint', 'registration_endpoint', 'revocation_endpoint']) {
      withServerDoc(site, (doc) => {
        doc[key] = `https://other.example.net/${key}`;
      });
      await refused(discover(site.target), 'invalid_metadata', new RegExp(`${key} .* another host \\(other\\.example\\.net\\)`));
    }
  });

  it('refuses a server metadata document naming another issuer', async () => {
    reset();
    withServerDoc(site, (doc) => {
      doc.issuer = 'evil.example.com';
    });
    await refused(discover(site.target), 'invalid_metadata', /different issuer/);
  });

  it('refuses malformed or failing metadata responses clearly', async () => {
    reset();
    site.rawServerBody = '{"issuer": "x", ';
    await refused(discover(site.target), 'invalid_metadata', /not valid JSON/);
    site.rawServerBody = undefined;
    withServerDoc(site, (doc) => delete doc.token_endpoint);
    await refused(discover(site.target), 'invalid_metadata', /malformed \(token_endpoint/);
    reset();
    site.serverStatus = 500;
    await refused(discover(site.target), 'discovery_failed', /HTTP 500/);
    reset();
    site.resourceDoc = () => ['not', 'an', 'object'];
    await refused(discover(site.target), 'invalid_metadata', /Resource metadata .* malformed/);
  });
});

describe('metadata validation against the emulator', () => {
  let emulator: Emulator;
  before(async () => {
    emulator = await startEmulator();
  });
  after(() => emulator.close());
  const target = () => new URL(`${emulator.appUrl}/docs`);

  it('accepts the emulator with a scheme-less issuer and lists oauth', async () => {
    emulator.options.issuerStyle = 'bare';
    const found = await discover(target());
    assert.equal(found.server.issuer, new URL(emulator.teamUrl).host);
    assert.equal(found.authorizationServer.origin, emulator.teamUrl);
    assert.equal(offersOAuth(found.resource), true);
  });

  it('accepts the emulator with a scheme-ful issuer', async (t) => {
    emulator.options.issuerStyle = 'https';
    t.after(() => {
      emulator.options.issuerStyle = 'bare';
    });
    assert.equal((await discover(target())).server.issuer, emulator.teamUrl);
  });

  it('refuses each metadata fault with a clear error', async (t) => {
    t.after(() => emulator.setFault(null));
    const cases = [
      { endpoint: 'resource_metadata', kind: 'metadata_other_origin', code: 'invalid_metadata', message: /claims to describe/ },
      { endpoint: 'resource_metadata', kind: 'http_authorization_server', code: 'unsupported_server', message: /not served over https/ },
      { endpoint: 'resource_metadata', kind: 'missing_fields', code: 'invalid_metadata', message: /malformed/ },
      { endpoint: 'server_metadata', kind: 'authorization_server_other_host', code: 'invalid_metadata', message: /another host/ },
      { endpoint: 'server_metadata', kind: 'missing_fields', code: 'invalid_metadata', message: /malformed/ },
      { endpoint: 'server_metadata', kind: 'malformed_json', code: 'invalid_metadata', message: /not valid JSON/ },
      { endpoint: 'server_metadata', kind: '5xx', code: 'discovery_failed', message: /HTTP 503/ },
    ] as const;
    for (const c of cases) {
      emulator.setFault({ endpoint: c.endpoint, kind: c.kind, times: 1 });
      await refused(discover(target()), c.code, c.message);
    }
  });

  it('refuses a classic-only team (no registration endpoint, no oauth method)', async (t) => {
    emulator.options.mode = 'classic';
    t.after(() => {
      emulator.options.mode = 'managed';
    });
    // Classic apps redirect every client to the login page, with the Cloudflare-Access challenge.
    const found = await (async () => {
      const response = await send(dispatcher, target(), { headers: { accept: 'application/json' } });
      discard(response.body);
      return detectAccess(response, target());
    })();
    assert.equal(found?.style, 'redirect');
    const resource = await fetchResourceMetadata(http, found!.resourceMetadataUrl!, target());
    assert.equal(offersOAuth(resource), false);
    const server = await fetchServerMetadata(http, authorizationServerOf(resource, target()));
    const error = (() => {
      try {
        assertSupportsPublicClient(server, new URL(emulator.teamUrl).host);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(error instanceof AccessError);
    assert.equal(error.code, 'unsupported_server');
    assert.ok(error.nextStep.length > 0);
  });
});
